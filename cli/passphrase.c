/*
 * passphrase.c: see passphrase.h.
 */
#include "passphrase.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>

#include <openssl/crypto.h>

#include "common.h"

static void
chomp(char *buf)
{
    size_t n = strlen(buf);

    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = '\0';
}

int
cli_passphrase_from_file(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "r");

    if (f == NULL) {
        cli_error("cannot read passphrase file %s: %s", path, strerror(errno));
        return -1;
    }
    if (fgets(buf, (int)cap, f) == NULL)
        buf[0] = '\0';
    fclose(f);
    chomp(buf);
    return 0;
}

int
cli_passphrase_prompt(const char *prompt, char *buf, size_t cap)
{
    struct termios old, quiet;
    FILE *tty = fopen("/dev/tty", "r+");
    int ok = -1;

    if (tty == NULL)
        return -1;
    if (tcgetattr(fileno(tty), &old) != 0)
        goto out;
    quiet = old;
    quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
    fputs(prompt, tty);
    fflush(tty);
    if (tcsetattr(fileno(tty), TCSAFLUSH, &quiet) != 0)
        goto out;
    if (fgets(buf, (int)cap, tty) != NULL) {
        chomp(buf);
        ok = 0;
    }
    (void)tcsetattr(fileno(tty), TCSAFLUSH, &old);
    fputs("\n", tty);
out:
    fclose(tty);
    return ok;
}

void
cli_passphrase_wipe(char *buf, size_t cap)
{
    OPENSSL_cleanse(buf, cap);
}
