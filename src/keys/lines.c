/*
 * lines.c: reading key, known_hosts and authorized_keys files whole (with
 * a size cap), and iterating over their lines with a length bound, so that
 * a 1 MiB line is a precise error (SSHBPP_EKEYLINELONG and its number)
 * rather than an allocation or a crash. Also the shared diag helper.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "keys_int.h"

/* see keys_int.h */
int
sshbpp__diag(sshbpp_key_diag *diag, unsigned long line, int err, const char *fmt, ...)
{
    va_list ap;

    if (diag != NULL) {
        diag->line = line;
        va_start(ap, fmt);
        vsnprintf(diag->msg, sizeof(diag->msg), fmt, ap);
        va_end(ap);
    }
    return err;
}

/* see keys_int.h */
void
sshbpp__lines_init(sshbpp__lines *l, const char *p, size_t n)
{
    l->p = p;
    l->end = p + n;
    l->lineno = 0;
}

/* see keys_int.h */
int
sshbpp__lines_next(sshbpp__lines *l, const char **line, size_t *len, sshbpp_key_diag *diag)
{
    const char *nl;
    size_t n;

    if (l->p >= l->end)
        return 0;
    l->lineno++;
    nl = memchr(l->p, '\n', (size_t)(l->end - l->p));
    n = nl != NULL ? (size_t)(nl - l->p) : (size_t)(l->end - l->p);
    if (n > SSHBPP_KEYS_MAX_LINE)
        return sshbpp__diag(diag, l->lineno, SSHBPP_EKEYLINELONG,
                            "line %lu is %zu bytes long, more than the %d allowed", l->lineno, n,
                            SSHBPP_KEYS_MAX_LINE);
    *line = l->p;
    *len = n;
    if (n > 0 && l->p[n - 1] == '\r')
        (*len)--;
    l->p = nl != NULL ? nl + 1 : l->end;
    return 1;
}

/* see keys_int.h */
int
sshbpp__read_file(const char *path, size_t max, char **data, size_t *len, int *enoent)
{
    FILE *fp;
    char *buf = NULL, *nb;
    size_t n = 0, cap = 0, got;
    int r = SSHBPP_EIO;

    *data = NULL;
    *len = 0;
    if (enoent != NULL)
        *enoent = 0;
    if ((fp = fopen(path, "rb")) == NULL) {
        if (enoent != NULL && errno == ENOENT)
            *enoent = 1;
        return SSHBPP_EIO;
    }
    for (;;) {
        if (cap - n < 4096 + 1) {
            size_t ncap = cap == 0 ? 16384 : cap * 2;

            /* No size check here: n <= max (checked after every read)
             * already bounds the buffer to about 2 * max. A check of cap
             * against max refused files shorter than max whenever the
             * first read stopped at EOF within 4 KiB of the buffer's end
             * and the buffer was already above max. */
            /* Grow by copying so that no unwiped copy of a key is left
             * behind by realloc. */
            if ((nb = malloc(ncap)) == NULL) {
                r = SSHBPP_ENOMEM;
                goto out;
            }
            if (buf != NULL) {
                memcpy(nb, buf, n);
                OPENSSL_cleanse(buf, cap);
                free(buf);
            }
            buf = nb;
            cap = ncap;
        }
        got = fread(buf + n, 1, cap - n - 1, fp);
        n += got;
        if (n > max) {
            r = SSHBPP_EKEYFILE;
            goto out;
        }
        if (got == 0)
            break;
    }
    if (ferror(fp))
        goto out;
    buf[n] = '\0';
    *data = buf;
    *len = n;
    buf = NULL;
    r = 0;
out:
    if (buf != NULL) {
        OPENSSL_cleanse(buf, cap);
        free(buf);
    }
    fclose(fp);
    return r;
}

/* see keys_int.h */
void
sshbpp__free_file(char *data, size_t len)
{
    if (data == NULL)
        return;
    OPENSSL_cleanse(data, len);
    free(data);
}
