/*
 * passphrase.h: where the CLI gets a key passphrase from: a file named by
 * --passphrase-file (its first line), or a prompt on the terminal with echo
 * off. Never from argv, where other users could read it in ps.
 */
#ifndef SSHBPP_CLI_PASSPHRASE_H
#define SSHBPP_CLI_PASSPHRASE_H

#include <stddef.h>

/* The first line of path (without its newline) into buf. 0 or -1 (message
 * printed). */
int cli_passphrase_from_file(const char *path, char *buf, size_t cap);
/* Prompts on /dev/tty with echo off. 0, or -1 if there is no terminal. */
int cli_passphrase_prompt(const char *prompt, char *buf, size_t cap);
/* Wipes buf. */
void cli_passphrase_wipe(char *buf, size_t cap);

#endif
