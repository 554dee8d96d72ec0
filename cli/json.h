/*
 * json.h: a minimal streaming JSON writer for `sshbpp probe --json`.
 *
 * It writes one compact value to a FILE, tracking commas per nesting level.
 * Strings are escaped per RFC 8259 and always come out as valid UTF-8: the
 * server's banner and name-lists are peer-controlled bytes, so an invalid
 * sequence becomes U+FFFD rather than breaking the consumer's parser.
 */
#ifndef SSHBPP_CLI_JSON_H
#define SSHBPP_CLI_JSON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define JSON_MAX_DEPTH 16

struct json {
    FILE *f;
    int depth;
    int count[JSON_MAX_DEPTH]; /* values written so far at each level */
    int after_key;             /* a key was written; its value comes next */
};

void json_init(struct json *j, FILE *f);
void json_begin_object(struct json *j);
void json_end_object(struct json *j);
void json_begin_array(struct json *j);
void json_end_array(struct json *j);
/* Writes an object key; the next call writes its value. */
void json_key(struct json *j, const char *key);
/* A string value; NULL writes null. */
void json_string(struct json *j, const char *s);
void json_string_n(struct json *j, const char *s, size_t n);
void json_bool(struct json *j, int v);
void json_uint(struct json *j, uint64_t v);
void json_null(struct json *j);
/* An array of the items of a comma-separated SSH name-list ("" gives []);
 * NULL writes null. */
void json_namelist(struct json *j, const char *list);
/* A non-negative number with a fixed count of decimals (0-9), such as a
 * duration in milliseconds ("12.345"); NaN, infinities and negative
 * values are written as 0. */
void json_fixed(struct json *j, double v, int decimals);

#endif
