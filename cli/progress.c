/*
 * progress.c: see progress.h.
 */
#include "progress.h"
#include "common.h"

#include <string.h>
#include <unistd.h>

void
cli_progress_init(struct cli_progress *p, const char *label, uint64_t total, int enable)
{
    memset(p, 0, sizeof(*p));
    if (enable < 0)
        enable = isatty(STDERR_FILENO);
    p->f = enable ? stderr : NULL;
    p->label = label != NULL ? label : "";
    p->total = total;
    p->t0 = cli_now();
    p->last = -1.0;
}

int
cli_progress_enabled(const struct cli_progress *p)
{
    return p->f != NULL;
}

int
cli_progress_due(const struct cli_progress *p)
{
    return p->f != NULL && (p->last < 0 || cli_now() - p->last >= CLI_PROGRESS_INTERVAL);
}

/* "512 B", "12.3 MiB", "1.50 GiB": binary units, three significant-ish
 * digits, into out (cap bytes). */
static void
fmt_bytes(char *out, size_t cap, double v)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    size_t u = 0;

    while (v >= 1024.0 && u + 1 < sizeof(units) / sizeof(units[0])) {
        v /= 1024.0;
        u++;
    }
    if (u == 0)
        snprintf(out, cap, "%.0f %s", v, units[u]);
    else
        snprintf(out, cap, "%.*f %s", v < 10.0 ? 2 : 1, v, units[u]);
}

static void
write_line(struct cli_progress *p, uint64_t done, unsigned rekeys, double now)
{
    char line[256], d[32], t[32], r[32];
    double el = now - p->t0;
    size_t n;
    int k;

    fmt_bytes(d, sizeof(d), (double)done);
    fmt_bytes(r, sizeof(r), el > 0 ? (double)done / el : 0.0);
    if (p->total > 0) {
        fmt_bytes(t, sizeof(t), (double)p->total);
        k = snprintf(line, sizeof(line), "%s %s / %s (%3.0f%%)  %s/s  rekeys %u  %.1f s",
                     p->label, d, t, 100.0 * (double)done / (double)p->total, r, rekeys, el);
    } else {
        k = snprintf(line, sizeof(line), "%s %s  %s/s  rekeys %u  %.1f s", p->label, d, r,
                     rekeys, el);
    }
    n = k < 0 ? 0 : (size_t)k >= sizeof(line) ? sizeof(line) - 1 : (size_t)k;
    /* Blank what is left of a longer previous line, then one write. */
    while (n < p->width && n + 1 < sizeof(line))
        line[n++] = ' ';
    line[n] = '\0';
    p->width = (size_t)(k < 0 ? 0 : k);
    fprintf(p->f, "\r%s", line);
    fflush(p->f);
    p->last = now;
}

void
cli_progress_update(struct cli_progress *p, uint64_t done, unsigned rekeys)
{
    double now;

    if (p->f == NULL)
        return;
    now = cli_now();
    if (p->last >= 0 && now - p->last < CLI_PROGRESS_INTERVAL)
        return;
    write_line(p, done, rekeys, now);
}

void
cli_progress_finish(struct cli_progress *p, uint64_t done, unsigned rekeys)
{
    if (p->f == NULL)
        return;
    write_line(p, done, rekeys, cli_now());
    fputc('\n', p->f);
    fflush(p->f);
    p->f = NULL;
}
