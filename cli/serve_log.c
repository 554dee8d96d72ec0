/*
 * serve_log.c: see serve_log.h.
 */
#include "serve_log.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int serve_log_json;

static void
text_value(FILE *f, const char *s, size_t n)
{
    size_t i;
    int quote = n == 0;

    for (i = 0; i < n && !quote; i++)
        quote = s[i] == ' ' || s[i] == '"' || s[i] == '=';
    if (quote)
        fputc('"', f);
    for (i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];

        if (ch < 0x20 || ch == 0x7f)
            fputc('?', f);
        else if (ch == '"' || ch == '\\')
            fprintf(f, "\\%c", ch);
        else
            fputc(ch, f);
    }
    if (quote)
        fputc('"', f);
}

void
slog_begin(struct slog *l, const char *event, unsigned long conn)
{
    struct timespec ts;
    struct tm tm;
    char when[80];

    memset(l, 0, sizeof(*l));
    l->f = open_memstream(&l->buf, &l->len);
    if (l->f == NULL)
        return;
    if (!serve_log_json) {
        fprintf(l->f, "sshbpp: conn %lu %s", conn, event);
        return;
    }
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    snprintf(when, sizeof(when), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             ts.tv_nsec / 1000000L);
    json_init(&l->j, l->f);
    json_begin_object(&l->j);
    json_key(&l->j, "time");
    json_string(&l->j, when);
    json_key(&l->j, "event");
    json_string(&l->j, event);
    json_key(&l->j, "conn");
    json_uint(&l->j, conn);
}

void
slog_strn(struct slog *l, const char *key, const char *v, size_t n)
{
    if (l->f == NULL)
        return;
    if (serve_log_json) {
        json_key(&l->j, key);
        if (v == NULL)
            json_null(&l->j);
        else
            json_string_n(&l->j, v, n);
        return;
    }
    fprintf(l->f, " %s=", key);
    if (v == NULL)
        fputs("-", l->f);
    else
        text_value(l->f, v, n);
}

void
slog_str(struct slog *l, const char *key, const char *v)
{
    slog_strn(l, key, v, v != NULL ? strlen(v) : 0);
}

void
slog_u64(struct slog *l, const char *key, uint64_t v)
{
    if (l->f == NULL)
        return;
    if (serve_log_json) {
        json_key(&l->j, key);
        json_uint(&l->j, v);
    } else {
        fprintf(l->f, " %s=%" PRIu64, key, v);
    }
}

void
slog_i64(struct slog *l, const char *key, int64_t v)
{
    if (l->f == NULL)
        return;
    if (serve_log_json) {
        /* json.c writes unsigned numbers only: the key, then the number
         * as its value (json_sep would only clear after_key). */
        json_key(&l->j, key);
        l->j.after_key = 0;
        fprintf(l->f, "%" PRId64, v);
    } else {
        fprintf(l->f, " %s=%" PRId64, key, v);
    }
}

void
slog_bool(struct slog *l, const char *key, int v)
{
    if (l->f == NULL)
        return;
    if (serve_log_json) {
        json_key(&l->j, key);
        json_bool(&l->j, v);
    } else {
        fprintf(l->f, " %s=%s", key, v ? "yes" : "no");
    }
}

void
slog_end(struct slog *l)
{
    if (l->f == NULL)
        return;
    if (serve_log_json)
        json_end_object(&l->j);
    fputc('\n', l->f);
    if (fclose(l->f) == 0 && l->buf != NULL) {
        /* one stdio call: stderr's lock keeps the line whole */
        fwrite(l->buf, 1, l->len, stderr);
        fflush(stderr);
    }
    free(l->buf);
    memset(l, 0, sizeof(*l));
}
