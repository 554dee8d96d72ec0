/*
 * json.c: see json.h.
 */
#include "json.h"

#include <inttypes.h>
#include <string.h>

void
json_init(struct json *j, FILE *f)
{
    memset(j, 0, sizeof(*j));
    j->f = f;
}

/* Writes the separator a value needs at the current level. */
static void
json_sep(struct json *j)
{
    if (j->after_key) {
        j->after_key = 0;
        return;
    }
    if (j->count[j->depth] > 0)
        fputc(',', j->f);
    j->count[j->depth]++;
}

static void
json_open(struct json *j, int c)
{
    json_sep(j);
    fputc(c, j->f);
    /* Deeper nesting than the tool ever writes is flattened into the last
     * level's comma state rather than overflowing the array. */
    if (j->depth + 1 < JSON_MAX_DEPTH)
        j->depth++;
    j->count[j->depth] = 0;
}

static void
json_close(struct json *j, int c)
{
    fputc(c, j->f);
    if (j->depth > 0)
        j->depth--;
}

void
json_begin_object(struct json *j)
{
    json_open(j, '{');
}

void
json_end_object(struct json *j)
{
    json_close(j, '}');
}

void
json_begin_array(struct json *j)
{
    json_open(j, '[');
}

void
json_end_array(struct json *j)
{
    json_close(j, ']');
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), or 0 if the
 * bytes there are not one: overlong forms, surrogates and code points above
 * U+10FFFF are rejected, as RFC 3629 requires. */
static size_t
utf8_seq(const unsigned char *s, size_t n)
{
    uint32_t cp;
    size_t len, i;

    if (s[0] < 0x80)
        return 1;
    if ((s[0] & 0xe0) == 0xc0) {
        len = 2;
        cp = s[0] & 0x1f;
    } else if ((s[0] & 0xf0) == 0xe0) {
        len = 3;
        cp = s[0] & 0x0f;
    } else if ((s[0] & 0xf8) == 0xf0) {
        len = 4;
        cp = s[0] & 0x07;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

void
json_string_n(struct json *j, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;

    json_sep(j);
    fputc('"', j->f);
    while (i < n) {
        unsigned char c = p[i];
        size_t len;

        switch (c) {
        case '"':
            fputs("\\\"", j->f);
            i++;
            continue;
        case '\\':
            fputs("\\\\", j->f);
            i++;
            continue;
        case '\n':
            fputs("\\n", j->f);
            i++;
            continue;
        case '\r':
            fputs("\\r", j->f);
            i++;
            continue;
        case '\t':
            fputs("\\t", j->f);
            i++;
            continue;
        default:
            break;
        }
        if (c < 0x20 || c == 0x7f) {
            fprintf(j->f, "\\u%04x", c);
            i++;
            continue;
        }
        len = utf8_seq(p + i, n - i);
        if (len == 0) {
            fputs("\\ufffd", j->f);
            i++;
            continue;
        }
        fwrite(p + i, 1, len, j->f);
        i += len;
    }
    fputc('"', j->f);
}

void
json_string(struct json *j, const char *s)
{
    if (s == NULL)
        json_null(j);
    else
        json_string_n(j, s, strlen(s));
}

void
json_key(struct json *j, const char *key)
{
    json_string(j, key);
    fputc(':', j->f);
    j->after_key = 1;
}

void
json_bool(struct json *j, int v)
{
    json_sep(j);
    fputs(v ? "true" : "false", j->f);
}

void
json_uint(struct json *j, uint64_t v)
{
    json_sep(j);
    fprintf(j->f, "%" PRIu64, v);
}

void
json_null(struct json *j)
{
    json_sep(j);
    fputs("null", j->f);
}

void
json_namelist(struct json *j, const char *list)
{
    const char *p, *comma;

    if (list == NULL) {
        json_null(j);
        return;
    }
    json_begin_array(j);
    for (p = list; *p != '\0'; p = comma + 1) {
        comma = strchr(p, ',');
        if (comma == NULL) {
            json_string(j, p);
            break;
        }
        json_string_n(j, p, (size_t)(comma - p));
    }
    json_end_array(j);
}

void
json_fixed(struct json *j, double v, int decimals)
{
    json_sep(j);
    /* JSON has no NaN or infinity; a negative or absurd figure is a bug,
     * written as 0 rather than breaking the consumer's parser. */
    if (!(v >= 0.0 && v < 1e15))
        v = 0.0;
    fprintf(j->f, "%.*f", decimals < 0 ? 0 : decimals > 9 ? 9 : decimals, v);
}
