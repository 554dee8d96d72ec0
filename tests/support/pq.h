/*
 * pq.h: whether this run has ML-KEM-768, and whether it must.
 *
 * Debian 12's OpenSSL 3.0 has no ML-KEM, so there the ML-KEM tests can
 * only check its absence. The same host-built binaries also run against
 * OpenSSL 3.5 through the Debian 13 root's dynamic loader
 * (tests/interop/trixie/hostlib.sh, ctest interop.trixie.hostlib) with
 * SSHBPP_EXPECT_MLKEM=1 in the environment: then a libcrypto without
 * ML-KEM is a failure (a wrong library path, say), never a quiet pass of
 * the absent-ML-KEM branch.
 */
#ifndef SSHBPP_TEST_PQ_H
#define SSHBPP_TEST_PQ_H

/* 1 if libcrypto can fetch ML-KEM-768 (probed here with EVP, independently
 * of the library's own probe), 0 if not. With SSHBPP_EXPECT_MLKEM=1 set, an
 * absent ML-KEM fails the calling cmocka test instead of returning 0. */
int tu_mlkem_present(void);

/* 1 if SSHBPP_EXPECT_MLKEM=1 is set. */
int tu_mlkem_expected(void);

#endif
