/*
 * keylog.h: the SSHKEYLOGFILE writer of the command-line tool. With the
 * environment variable SSHKEYLOGFILE set to a path, every connection the
 * tool makes or accepts appends the secrets of each key exchange to that
 * file in the key log format of Wireshark's SSH dissector
 * (ssh.keylog_file), so that a capture of the session can be decrypted:
 *
 *   <our KEXINIT cookie, hex> <our ephemeral private key, hex>
 *   <our KEXINIT cookie, hex> SHARED_SECRET <K, hex>
 *
 * The first line is the form Wireshark 4.0 reads (curve25519 and the DH
 * groups), the second the one newer Wireshark also reads (any method,
 * mlkem768x25519-sha256 included, which has no first line). K is written
 * as it is hashed: the mpint's bytes (a leading 00 when the top bit is
 * set) or, for the hybrid, the string's bytes, without the length.
 *
 * Never on by default; the library itself writes no file (this uses the
 * sshbpp_conn_config.keylog callback).
 */
#ifndef SSHBPP_CLI_KEYLOG_H
#define SSHBPP_CLI_KEYLOG_H

#include "sshbpp/sshbpp_conn.h"

/* If SSHKEYLOGFILE is set and not empty, points cfg->keylog at the writer.
 * The file is opened on the first call of the process (O_APPEND|O_CREAT,
 * mode 0600); a file that exists with any group or other permission bit,
 * or that is not a regular file, is refused. The first call prints a
 * one-line warning on stderr that secrets are being written, or the reason
 * the file was refused (the connection then goes on without a key log).
 * Thread-safe; lines of concurrent connections never interleave.
 * Returns 0 (key log on, or SSHKEYLOGFILE unset) or -1 (refused). */
int cli_keylog_attach(sshbpp_conn_config *cfg);

#endif
