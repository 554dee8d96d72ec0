/*
 * pq.c: see pq.h.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "pq.h"

int
tu_mlkem_expected(void)
{
    const char *v = getenv("SSHBPP_EXPECT_MLKEM");

    return v != NULL && strcmp(v, "1") == 0;
}

int
tu_mlkem_present(void)
{
    EVP_KEM *kem = EVP_KEM_fetch(NULL, "ML-KEM-768", NULL);
    int have = kem != NULL;

    EVP_KEM_free(kem);
    if (!have)
        ERR_clear_error(); /* the failed fetch queues errors */
    if (!have && tu_mlkem_expected())
        fail_msg("SSHBPP_EXPECT_MLKEM=1 but libcrypto (%s) has no ML-KEM-768",
                 OpenSSL_version(OPENSSL_VERSION));
    return have;
}
