/*
 * error.c: names and messages of the error table in sshbpp_error.h.
 */
#include "sshbpp/sshbpp_error.h"

/* see sshbpp_error.h */
const char *
sshbpp_strerror(int err)
{
    switch (err) {
    case SSHBPP_OK:
        return "success";
#define SSHBPP__X(n, v, s) \
    case SSHBPP_##n:       \
        return s;
        SSHBPP_ERRNO_MAP(SSHBPP__X)
#undef SSHBPP__X
    default:
        return "unknown error";
    }
}

/* see sshbpp_error.h */
const char *
sshbpp_err_name(int err)
{
    switch (err) {
    case SSHBPP_OK:
        return "SSHBPP_OK";
#define SSHBPP__X(n, v, s) \
    case SSHBPP_##n:       \
        return "SSHBPP_" #n;
        SSHBPP_ERRNO_MAP(SSHBPP__X)
#undef SSHBPP__X
    default:
        return "SSHBPP_UNKNOWN";
    }
}

/* see sshbpp_error.h */
int
sshbpp_is_fatal(int err)
{
    return err <= SSHBPP_FATAL_THRESHOLD && err != SSHBPP_OK;
}
