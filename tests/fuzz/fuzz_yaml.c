/*  fuzz_yaml - libFuzzer target for fk_yaml_parse.

    Checks, beyond "no crash, no leak, no sanitizer report":
      - a failure returns FK_EINVAL_INPUT or FK_ETOOBIG, leaves *out_p NULL
        and gives a message with a position ("line L, column C: ...");
      - a success stays within FK_YAML_MAX_NODES / FK_YAML_MAX_DEPTH /
        FK_YAML_MAX_TEXT, counted the way the header defines them;
      - the result survives JSON: its jansson dump parses back through
        fk_yaml_parse to an equal value that dumps to the same bytes.
    jansson refuses to hold infinity or NaN, and fk_yaml rejects them, so
    every success must dump; a dump failure is a finding too. */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "fk_err.h"
#include "fk_yaml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*  Count nodes (keys included), collection depth and scalar text bytes. */
static void
s_measure(json_t *value, size_t depth, size_t *nodes, size_t *max_depth, size_t *bytes)
{
    (*nodes)++;
    if (json_is_string(value)) {
        *bytes += json_string_length(value);
        return;
    }
    if (!json_is_array(value) && !json_is_object(value)) {
        return;
    }
    depth++;
    if (depth > *max_depth) {
        *max_depth = depth;
    }
    if (json_is_array(value)) {
        size_t index;
        json_t *item;
        json_array_foreach(value, index, item)
        {
            s_measure(item, depth, nodes, max_depth, bytes);
        }
        return;
    }
    const char *key;
    size_t key_len;
    json_t *member;
    json_object_keylen_foreach(value, key, key_len, member)
    {
        (*nodes)++;
        *bytes += key_len;
        s_measure(member, depth, nodes, max_depth, bytes);
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *value = NULL;
    char err[256] = "";
    int rc = fk_yaml_parse((const char *)data, size, &value, err, sizeof err);
    if (rc != 0) {
        if (value || (rc != FK_EINVAL_INPUT && rc != FK_ETOOBIG) || strncmp(err, "line ", 5) != 0) {
            abort();
        }
        return 0;
    }
    if (!value) {
        abort();
    }

    size_t nodes = 0;
    size_t depth = 0;
    size_t bytes = 0;
    s_measure(value, 0, &nodes, &depth, &bytes);
    if (nodes > FK_YAML_MAX_NODES || depth > FK_YAML_MAX_DEPTH || bytes > FK_YAML_MAX_TEXT) {
        abort();
    }

    char *dump = json_dumps(value, JSON_ENCODE_ANY | JSON_COMPACT);
    if (!dump) {
        abort();
    }
    json_t *again = NULL;
    rc = fk_yaml_parse(dump, strlen(dump), &again, err, sizeof err);
    if (rc != 0 || !json_equal(value, again)) {
        abort();
    }
    char *dump_again = json_dumps(again, JSON_ENCODE_ANY | JSON_COMPACT);
    if (!dump_again || strcmp(dump, dump_again) != 0) {
        abort();
    }
    free(dump_again);
    free(dump);
    json_decref(again);
    json_decref(value);
    return 0;
}
