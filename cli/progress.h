/*
 * progress.h: a one-line progress display on stderr for long transfers
 * (`probe --ignore-bytes`, later `exec`): bytes done (of the total when it
 * is known), the rate since the start and the rekeys so far, rewritten in
 * place with '\r' at most four times a second and ended with a newline.
 *
 * It is shown only when stderr is a terminal (isatty(2)), so logs, pipes
 * and the tests' captured output never see it. Not thread-safe: one thread
 * owns a struct cli_progress; other threads' stderr lines may land between
 * two updates (the next update rewrites the line after them).
 */
#ifndef SSHBPP_CLI_PROGRESS_H
#define SSHBPP_CLI_PROGRESS_H

#include <stdint.h>
#include <stdio.h>

/* The least time between two updates: at most four lines a second. */
#define CLI_PROGRESS_INTERVAL 0.25

struct cli_progress {
    FILE *f;        /* stderr, or NULL when disabled */
    const char *label;
    uint64_t total; /* 0: unknown */
    double t0;      /* cli_now() at init */
    double last;    /* time of the last line written, or < 0 before the first */
    size_t width;   /* length of the last line written, for blanking */
};

/* Starts a display of a transfer of total bytes (0 when unknown). label (a
 * static string, such as "ignore") starts the line. enable: 1 always, 0
 * never, -1 when stderr is a terminal. Writes nothing yet. */
void cli_progress_init(struct cli_progress *p, const char *label, uint64_t total, int enable);

/* 1 when the display is on. Callers may skip gathering figures otherwise. */
int cli_progress_enabled(const struct cli_progress *p);

/* 1 when an update now would be written (the first one, or
 * CLI_PROGRESS_INTERVAL since the last): lets a caller gather costly
 * figures (such as the rekey count) only then. */
int cli_progress_due(const struct cli_progress *p);

/* Rewrites the line with done bytes and rekeys, if due. */
void cli_progress_update(struct cli_progress *p, uint64_t done, unsigned rekeys);

/* Writes the final figures whatever the time and ends the line with a
 * newline (nothing if the display is off). The display is then off. */
void cli_progress_finish(struct cli_progress *p, uint64_t done, unsigned rekeys);

#endif
