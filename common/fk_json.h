/*  fk_json - the few jansson helpers every plane needs.

    Parsing here is for untrusted input (HTTP bodies, stored payloads): the
    size is bounded by the caller, errors come back as text a person can
    act on, and nothing asserts. */

#ifndef FK_JSON_H_INCLUDED
#define FK_JSON_H_INCLUDED

#include <jansson.h>
#include <stddef.h>

/*  Parse text as one JSON value that must be an object. Duplicate keys are
    refused. Returns 0 and sets *out_p (a new reference), or
    FK_EINVAL_INPUT with *out_p NULL and err holding "line L, column C:
    reason" or "must be a JSON object". */
int fk_json_parse_object(const char *text, size_t len, json_t **out_p, char *err, size_t errlen);

/*  Compact JSON text of value, keys in insertion order (so the caller
    decides the order and equal values built in equal order dump equal).
    Returns a fresh string (caller frees); aborts on OOM. */
char *fk_json_dump(const json_t *value);

/*  The string member key of object, or NULL when absent or not a string.
    Borrowed: valid while object is. */
const char *fk_json_str(const json_t *object, const char *key);

/*  The integer member key of object, or fallback when absent or not an
    integer. */
long long fk_json_int(const json_t *object, const char *key, long long fallback);

#endif
