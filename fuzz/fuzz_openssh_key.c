/*
 * fuzz_openssh_key.c: libFuzzer target for the decoded openssh-key-v1
 * structure itself (no base64 in the way), private and public-only parses.
 */
#include <stddef.h>
#include <stdint.h>

#include "keys/keys_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sshbpp_key *k = NULL;
    sshbpp_key_diag d;

    if (sshbpp__openssh_key_parse(data, size, 1, &k, &d) == 0)
        sshbpp_key_free(k);
    if (sshbpp__openssh_key_parse(data, size, 0, &k, &d) == 0)
        sshbpp_key_free(k);
    return 0;
}
