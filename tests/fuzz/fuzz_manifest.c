/*  fuzz_manifest - libFuzzer target for fk_manifest and fk_compose.

    The input is JSON text taken as a manifest. Besides surviving it, the code
    must keep these promises, and the harness aborts when one is broken:
    - a failure returns FK_EINVAL_INPUT with a message and no output;
    - the canonical form is a fixed point: dumped, reloaded and parsed again
      it dumps to the same bytes and hashes to the same value;
    - reversing every list of the canonical form keeps the hash;
    - composing in preview mode never fails, gives every requirement a status,
      and does not depend on the order of the instance list;
    - composing without preview fails only with FK_EUNAVAILABLE, and only when
      preview reports a required requirement unavailable; otherwise both agree;
    - declining every optional requirement is accepted and denies them all. */

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "fk_compose.h"
#include "fk_err.h"
#include "fk_manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*  Inputs above this are skipped: real manifests are a few hundred bytes. */
#define S_MAX_INPUT (64 * 1024)

/*  A small registry: two copies of one service on two nodes, a tagged GPU
    instance, and services whose names the seeds use. */
static const char s_instances_text[] =
    "[{\"id\":\"rekuest-2\",\"service\":\"live.arkitekt.rekuest\",\"aliases\":["
    "{\"id\":\"a\",\"host\":\"10.0.0.5\",\"port\":8090,\"path\":\"rekuest\",\"ssl\":false,"
    "\"challenge\":\"ht\",\"public\":false,\"kind\":\"absolute\"}],\"tags\":[],\"meta\":{},"
    "\"challenge_key\":{\"kind\":\"ed25519\",\"key\":\"AAAA\"},\"node\":\"node-a\"},"
    "{\"id\":\"rekuest-1\",\"service\":\"live.arkitekt.rekuest\",\"aliases\":[],\"tags\":[],"
    "\"meta\":{},\"challenge_key\":null,\"node\":\"node-b\"},"
    "{\"id\":\"gpu\",\"service\":\"live.arkitekt.kabinet\",\"aliases\":[{\"id\":\"g\","
    "\"host\":\"g\"}],\"tags\":[\"cuda\",\"gpu\"],\"meta\":{\"gpu\":\"A100\"},"
    "\"challenge_key\":null,\"node\":\"node-c\"},"
    "{\"id\":\"m\",\"service\":\"live.arkitekt.mikro\",\"aliases\":[],\"node\":\"node-a\"},"
    "{\"id\":\"x\",\"service\":\"a\",\"aliases\":[],\"tags\":[\"b\"],\"node\":\"n\"}]";

static void
s_check(bool ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_manifest: broken promise: %s\n", what);
        abort();
    }
}

static char *
s_dump(const json_t *value)
{
    char *text = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
    s_check(text != NULL, "json_dumps failed");
    return text;
}

/*  A copy of the array with its elements in reverse order. */
static json_t *
s_reversed(const json_t *array)
{
    json_t *copy = json_array();
    for (size_t i = json_array_size(array); i > 0; i--) {
        json_array_append_new(copy, json_deep_copy(json_array_get(array, i - 1)));
    }
    return copy;
}

/*  Parse again the dumped canonical form, and a copy with every list
    reversed; both must agree with the first parse. */
static void
s_check_fixed_point(const json_t *canonical)
{
    char hash[FK_SHA256_HEX_LEN + 1];
    fk_manifest_hash(canonical, hash);
    s_check(strlen(hash) == FK_SHA256_HEX_LEN, "hash length");

    char *dump = s_dump(canonical);
    json_error_t error;
    json_t *reloaded = json_loads(dump, 0, &error);
    s_check(reloaded != NULL, "canonical dump does not reload");
    json_t *again = NULL;
    char err[256];
    s_check(fk_manifest_parse(reloaded, &again, err, sizeof err) == 0, "canonical not accepted");
    char *dump_again = s_dump(again);
    s_check(strcmp(dump, dump_again) == 0, "canonical form is not a fixed point");
    char hash_again[FK_SHA256_HEX_LEN + 1];
    fk_manifest_hash(again, hash_again);
    s_check(strcmp(hash, hash_again) == 0, "hash changed after a round trip");

    static const char *const lists[] = {"scopes", "requirements", "public_sources"};
    for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++) {
        const json_t *list = json_object_get(reloaded, lists[i]);
        if (json_is_array(list)) {
            json_object_set_new(reloaded, lists[i], s_reversed(list));
        }
    }
    json_t *reversed = NULL;
    s_check(fk_manifest_parse(reloaded, &reversed, err, sizeof err) == 0,
            "reversed canonical not accepted");
    char hash_reversed[FK_SHA256_HEX_LEN + 1];
    fk_manifest_hash(reversed, hash_reversed);
    s_check(strcmp(hash, hash_reversed) == 0, "hash depends on list order");

    json_decref(reversed);
    json_decref(again);
    json_decref(reloaded);
    free(dump_again);
    free(dump);
}

static void
s_check_compose(const json_t *canonical)
{
    json_error_t error;
    json_t *instances = json_loads(s_instances_text, 0, &error);
    s_check(instances != NULL, "fixed instance list does not parse");
    const json_t *reqs = json_object_get(canonical, "requirements");
    char err[256];

    json_t *preview = NULL;
    int rc = fk_compose(canonical, instances, NULL, FK_COMPOSE_PREVIEW, &preview, err, sizeof err);
    s_check(rc == 0, "preview failed");
    const json_t *statuses = json_object_get(preview, "statuses");
    const json_t *granted_all = json_object_get(preview, "instances");
    s_check(json_object_size(statuses) == json_array_size(reqs), "a requirement has no status");
    bool required_missing = false;
    for (size_t i = 0; i < json_array_size(reqs); i++) {
        const json_t *req = json_array_get(reqs, i);
        const json_t *key = json_object_get(req, "key");
        const char *status = json_string_value(json_object_get(statuses, json_string_value(key)));
        s_check(status != NULL, "status missing");
        bool granted = strcmp(status, "granted") == 0;
        s_check(granted || strcmp(status, "unavailable") == 0, "unexpected status");
        const json_t *entry = json_object_get(granted_all, json_string_value(key));
        s_check(granted == (entry != NULL), "instances disagree with statuses");
        if (!granted && !json_is_true(json_object_get(req, "optional"))) {
            required_missing = true;
        }
    }
    char *preview_text = s_dump(preview);

    json_t *reversed = s_reversed(instances);
    json_t *other = NULL;
    rc = fk_compose(canonical, reversed, NULL, FK_COMPOSE_PREVIEW, &other, err, sizeof err);
    s_check(rc == 0, "preview on reversed instances failed");
    char *other_text = s_dump(other);
    s_check(strcmp(preview_text, other_text) == 0, "result depends on instance order");
    free(other_text);
    json_decref(other);
    json_decref(reversed);

    json_t *strict = NULL;
    rc = fk_compose(canonical, instances, NULL, 0, &strict, err, sizeof err);
    s_check(rc == (required_missing ? FK_EUNAVAILABLE : 0), "strict compose disagrees");
    s_check((strict == NULL) == (rc != 0), "output on failure");
    if (strict) {
        char *strict_text = s_dump(strict);
        s_check(strcmp(strict_text, preview_text) == 0, "strict differs from preview");
        free(strict_text);
        json_t *aud = fk_compose_aud(strict);
        size_t granted_count = json_object_size(json_object_get(strict, "instances"));
        size_t aud_size = json_array_size(aud);
        s_check(aud_size >= 1 && aud_size <= 1 + granted_count, "aud size");
        s_check(granted_count == 0 || aud_size >= 2, "aud misses granted instances");
        s_check(strcmp(json_string_value(json_array_get(aud, 0)), "lok") == 0, "aud[0]");
        json_decref(aud);
        json_decref(strict);
    }

    json_t *declined = json_array();
    for (size_t i = 0; i < json_array_size(reqs); i++) {
        const json_t *req = json_array_get(reqs, i);
        if (json_is_true(json_object_get(req, "optional"))) {
            json_array_append_new(declined, json_deep_copy(json_object_get(req, "key")));
        }
    }
    json_t *denied = NULL;
    rc = fk_compose(canonical, instances, declined, FK_COMPOSE_PREVIEW, &denied, err, sizeof err);
    s_check(rc == 0, "declining optional requirements failed");
    for (size_t i = 0; i < json_array_size(declined); i++) {
        const char *key = json_string_value(json_array_get(declined, i));
        const char *status =
            json_string_value(json_object_get(json_object_get(denied, "statuses"), key));
        s_check(status && strcmp(status, "denied") == 0, "declined key not denied");
    }
    json_decref(denied);
    json_decref(declined);
    free(preview_text);
    json_decref(preview);
    json_decref(instances);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > S_MAX_INPUT) {
        return 0;
    }
    json_error_t error;
    json_t *manifest =
        json_loadb((const char *)data, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, &error);
    if (!manifest) {
        return 0;
    }
    json_t *canonical = NULL;
    char err[256] = "";
    int rc = fk_manifest_parse(manifest, &canonical, err, sizeof err);
    json_decref(manifest);
    if (rc != 0) {
        s_check(rc == FK_EINVAL_INPUT, "unexpected error code");
        s_check(canonical == NULL, "output on failure");
        s_check(err[0] != '\0', "failure without a message");
        return 0;
    }
    s_check(canonical != NULL && err[0] == '\0', "success without output");
    s_check_fixed_point(canonical);
    s_check_compose(canonical);
    json_decref(canonical);
    return 0;
}
