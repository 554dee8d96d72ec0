/*
 * fuzz_hostkey.c: host key blob (K_S) and signature blob parsing and
 * verification, as a client does with a server's KEX reply.
 *
 * Input: byte 0 picks the signature algorithm (sshbpp__hostkey_names),
 * then [u16 big-endian length][host key blob], the rest is the signature
 * blob. The signed data is a fixed 32-byte "exchange hash" (the seeds are
 * real signatures over it, so mutations reach the final check). Every
 * result but 0, SSHBPP_EHOSTKEY and SSHBPP_ESIGNATURE aborts.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "kex/kex_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The data every seed signature signs. */
const uint8_t sshbpp_fuzz_hostkey_data[32] = {
    0x48, 0x48, 0x48, 0x48, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
    13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t nalg = 0, blen;
    char fp[80];
    int r;

    while (sshbpp__hostkey_names[nalg] != NULL)
        nalg++;
    if (size < 3)
        return 0;
    blen = (size_t)data[1] << 8 | data[2];
    if (blen > size - 3)
        blen = size - 3;
    r = sshbpp__hostkey_verify(sshbpp__hostkey_names[data[0] % nalg], data + 3, blen,
                               sshbpp_fuzz_hostkey_data, sizeof(sshbpp_fuzz_hostkey_data),
                               data + 3 + blen, size - 3 - blen);
    if (r != 0 && r != SSHBPP_EHOSTKEY && r != SSHBPP_ESIGNATURE)
        abort();
    (void)sshbpp__hostkey_fingerprint(data + 3, blen, fp, sizeof(fp));
    return 0;
}
