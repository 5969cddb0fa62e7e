/*  fk_json - jansson helpers for untrusted input and stable output. */

#include "fk_json.h"

#include "fk_err.h"
#include "fk_mem.h"

#include <stdio.h>
#include <stdlib.h>

int
fk_json_parse_object(const char *text, size_t len, json_t **out_p, char *err, size_t errlen)
{
    json_error_t error;
    json_t *value = json_loadb(text, len, JSON_REJECT_DUPLICATES, &error);
    *out_p = NULL;
    if (!value) {
        snprintf(err, errlen, "line %d, column %d: %s", error.line, error.column, error.text);
        return FK_EINVAL_INPUT;
    }
    if (!json_is_object(value)) {
        json_decref(value);
        snprintf(err, errlen, "must be a JSON object");
        return FK_EINVAL_INPUT;
    }
    *out_p = value;
    return 0;
}

char *
fk_json_dump(const json_t *value)
{
    char *text = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!text) {
        /*  jansson fails only on allocation or on a NaN/inf real, which
            this project never builds. */
        fprintf(stderr, "fakts-node: json_dumps failed\n");
        abort();
    }
    return text;
}

const char *
fk_json_str(const json_t *object, const char *key)
{
    return json_string_value(json_object_get(object, key));
}

long long
fk_json_int(const json_t *object, const char *key, long long fallback)
{
    json_t *value = json_object_get(object, key);
    return json_is_integer(value) ? json_integer_value(value) : fallback;
}

json_t *
fk_json_must(json_t *value)
{
    if (!value) {
        fk_oom("building JSON");
    }
    return value;
}

void
fk_json_set(json_t *object, const char *key, json_t *value)
{
    if (json_object_set_new(object, key, fk_json_must(value)) != 0) {
        fk_oom("building JSON");
    }
}

void
fk_json_append(json_t *array, json_t *value)
{
    if (json_array_append_new(array, fk_json_must(value)) != 0) {
        fk_oom("building JSON");
    }
}
