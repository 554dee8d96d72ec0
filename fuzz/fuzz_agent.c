/*
 * fuzz_agent.c: libFuzzer target for ssh-agent answers (the body after the
 * length): identities lists and sign responses. Byte 0 picks which, and for
 * sign responses the algorithm expected.
 */
#include <stddef.h>
#include <stdint.h>

#include "keys/keys_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const algs[] = {"ssh-ed25519", "rsa-sha2-256", "rsa-sha2-512",
                                       "ecdsa-sha2-nistp256"};
    sshbpp_key **keys = NULL;
    uint8_t sig[8192];
    size_t n = 0, slen;

    if (size < 1)
        return 0;
    if (data[0] & 1) {
        if (sshbpp__agent_parse_identities(data + 1, size - 1, &keys, &n) == 0)
            sshbpp_agent_free_list(keys, n);
    } else {
        (void)sshbpp__agent_parse_sign(data + 1, size - 1, algs[(data[0] >> 1) % 4], sig,
                                       sizeof(sig), &slen);
    }
    return 0;
}
