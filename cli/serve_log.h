/*
 * serve_log.h: serve's event log, one line per event on stderr.
 *
 * With --log-format json every event is one JSON object on one line:
 * {"time":"2026-12-02T01:02:03.456Z","event":"...","conn":N,...}, keys in
 * the order written. The text format (the default) writes
 * "sshbpp: conn N EVENT key=value ..." for the events that have no older
 * free-text line of their own. Lines from different threads never
 * interleave: a line is built in memory and written with one call.
 * Strings are peer-controlled: JSON escapes them (and replaces invalid
 * UTF-8), the text form replaces control characters.
 */
#ifndef SSHBPP_CLI_SERVE_LOG_H
#define SSHBPP_CLI_SERVE_LOG_H

#include <stdint.h>
#include <stdio.h>

#include "json.h"

/* 1 after --log-format json; set once before any thread starts. */
extern int serve_log_json;

struct slog {
    char *buf;
    size_t len;
    FILE *f; /* NULL if out of memory: the event is dropped */
    struct json j;
};

/* Starts an event line; conn 0 is the server itself. */
void slog_begin(struct slog *l, const char *event, unsigned long conn);
void slog_str(struct slog *l, const char *key, const char *v);
void slog_strn(struct slog *l, const char *key, const char *v, size_t n);
void slog_u64(struct slog *l, const char *key, uint64_t v);
void slog_i64(struct slog *l, const char *key, int64_t v);
void slog_bool(struct slog *l, const char *key, int v);
/* Ends the line and writes it to stderr. */
void slog_end(struct slog *l);

#endif
