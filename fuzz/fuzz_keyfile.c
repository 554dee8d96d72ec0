/*
 * fuzz_keyfile.c: libFuzzer target for key files in every format
 * (sshbpp_key_load_mem: openssh-key-v1 armor, OpenSSH public lines, PEM /
 * PKCS#8 through OpenSSL), with and without a passphrase, and what is
 * printed of a key that loads. Byte 0 picks the passphrase mode.
 */
#include <stddef.h>
#include <stdint.h>

#include "sshbpp/sshbpp_keys.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Results are only kept alive, not judged: errors are expected. */
static volatile int sink;

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sshbpp_key *k = NULL;
    sshbpp_key_diag d;
    char line[20000];

    if (size < 1)
        return 0;
    if (sshbpp_key_load_mem(data + 1, size - 1, (data[0] & 1) ? "secret" : NULL, &k, &d) == 0) {
        sink += sshbpp_key_public_line(k, line, sizeof(line));
        sink += sshbpp_key_fingerprint_line(k, SSHBPP_FP_MD5, NULL, line, sizeof(line));
        sshbpp_key_free(k);
    }
    if (sshbpp_key_load_public_mem(data + 1, size - 1, &k, &d) == 0)
        sshbpp_key_free(k);
    return 0;
}
