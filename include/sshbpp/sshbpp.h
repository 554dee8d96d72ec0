/*
 * sshbpp.h: the umbrella header. It includes every public header and states
 * the conventions that all of them follow, once.
 *
 * Layers (each header uses only the ones above it in this list):
 *   sshbpp_error.h    the one error table
 *   sshbpp_engine.h   the packet engine, sans I/O (RFC 4253 section 6)
 *   sshbpp_kex.h      the key exchange state machine, sans I/O
 *   sshbpp_io.h       the blocking Packetizer (paramiko's shape): packets
 *                     only; the handshake runs on sshbpp_conn
 *   sshbpp_keys.h     key files, known_hosts, authorized_keys, ssh-agent
 *   sshbpp_conn.h     one whole connection (transport + userauth), sans I/O
 *   sshbpp_driver.h   the blocking run-until driver over a sshbpp_conn
 * A sans-I/O header never includes a blocking one: an event loop can use
 * sshbpp_engine.h, sshbpp_kex.h and sshbpp_conn.h without pulling in
 * sockets or threads.
 *
 * Names: public functions are sshbpp_<object>_<verb> (sshbpp_engine_rx_next,
 * sshbpp_packetizer_read_message, sshbpp_cipher_get_info); types are
 * sshbpp_<object>; enumerations are passed as their enum type.
 *
 * Return values: every fallible call returns 0 on success, or a count (of
 * bytes, of items) where its comment says so, and a negative SSHBPP_E* code
 * from sshbpp_error.h on failure. Codes above SSHBPP_FATAL_THRESHOLD are
 * soft (the call failed, the object is untouched and the call may be
 * retried: SSHBPP_EAGAIN "more input is needed / would block",
 * SSHBPP_ETIMEDOUT, ...); the others are fatal: the first one is recorded,
 * the object closes, and every later call returns that same code. Calls
 * marked SSHBPP_MUST_USE have results that must be checked.
 *
 * Time: milliseconds, as int64_t, everywhere. A timeout <= 0 means "no
 * limit" where the comment says so. Sans-I/O objects never read a clock.
 *
 * Memory: objects are created by sshbpp_<object>_new and freed by
 * sshbpp_<object>_free (NULL is a no-op); the caller owns what it creates.
 * Pointers returned by getters point into the object and stay valid for
 * the time the getter's comment gives (typically: until the next call that
 * receives on, or frees, that object). Key material is wiped on free.
 *
 * Threads: see each header; the engine allows one receiving and one sending
 * thread at a time, the Packetizer any number of senders and one reader.
 */
#ifndef SSHBPP_H
#define SSHBPP_H

#include "sshbpp_error.h"
#include "sshbpp_engine.h"
#include "sshbpp_kex.h"
#include "sshbpp_io.h"
#include "sshbpp_keys.h"
#include "sshbpp_conn.h"
#include "sshbpp_driver.h"
#include "sshbpp_channel.h"
#include "sshbpp_driver_channel.h"

#endif
