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

/*  Abort-on-OOM builders, the house rule of fk_mem.h applied to jansson,
    which reports a failed allocation as NULL (constructors) or -1 (set,
    append). fk_json_must returns value, aborting when it is NULL;
    fk_json_set and fk_json_append steal value like their _new jansson
    counterparts and abort instead of failing. Only for values whose input
    is known valid (jansson also returns NULL for invalid UTF-8). */
json_t *fk_json_must(json_t *value);
void fk_json_set(json_t *object, const char *key, json_t *value);
void fk_json_append(json_t *array, json_t *value);

#endif
