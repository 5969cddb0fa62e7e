/*  fk_compose - composition of a manifest against the cluster registry.

    The reference servers take "the first" instance of a service in their
    database, an order no two fakts-node replicas share. Here the winner is the
    smallest (id, node) pair, so the answer is a function of the set of live
    instances only: two nodes with the same registry view grant the same
    instance, and the JSON they render is byte-identical.

    Every argument is checked before anything is built, so an error never
    leaves half a result behind and is reported for the first bad argument in
    a fixed order: manifest, instances, declined. */

#include "fk_compose.h"

#include <assert.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "fk_err.h"
#include "fk_health.h"
#include "fk_json.h"
#include "fk_mem.h"

/*  Write a message into err (when there is room) and return code. */
static int s_fail(int code, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
s_fail(int code, char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen > 0) {
        va_list args;
        va_start(args, fmt);
        vsnprintf(err, errlen, fmt, args);
        va_end(args);
    }
    return code;
}

/*  jansson reports allocation failure as NULL or -1; the house rule
    (fk_mem.h) is to abort instead of unwinding: fk_oom. */

/*  Set under a key given as a string value, so that an embedded NUL cannot
    shorten it. */
static void
s_set_key(json_t *object, const json_t *key, json_t *value)
{
    if (json_object_setn_new(object, json_string_value(key), json_string_length(key),
                             fk_json_must(value))
        != 0) {
        fk_oom("building JSON");
    }
}

/*  jansson's object iterator takes a non-const object although iterating
    does not modify it. */
static json_t *
s_unconst(const json_t *value)
{
    return (json_t *)(uintptr_t)value;
}

/*  Byte order of two string values, embedded NULs included. */
static int
s_bytecmp(const json_t *a, const json_t *b)
{
    size_t len_a = json_string_length(a);
    size_t len_b = json_string_length(b);
    int cmp = memcmp(json_string_value(a), json_string_value(b), len_a < len_b ? len_a : len_b);
    if (cmp != 0) {
        return cmp;
    }
    return (len_a > len_b) - (len_a < len_b);
}

/*  Whether a string value is an element of a JSON array. */
static bool
s_contains(const json_t *array, const json_t *value)
{
    for (size_t i = 0; i < json_array_size(array); i++) {
        if (json_equal(json_array_get(array, i), value)) {
            return true;
        }
    }
    return false;
}

static int
s_check_manifest(const json_t *manifest, char *err, size_t errlen)
{
    const json_t *reqs = json_object_get(manifest, "requirements");
    if (!json_is_array(reqs)) {
        return s_fail(FK_EINVAL_INPUT, err, errlen,
                      "manifest.requirements: must be an array (not a canonical manifest)");
    }
    for (size_t i = 0; i < json_array_size(reqs); i++) {
        const json_t *req = json_array_get(reqs, i);
        const json_t *match_tags = json_object_get(req, "match_tags");
        if (!json_is_string(json_object_get(req, "key"))
            || !json_is_string(json_object_get(req, "service"))
            || !json_is_boolean(json_object_get(req, "optional"))
            || (match_tags && !json_is_boolean(match_tags))) {
            return s_fail(FK_EINVAL_INPUT, err, errlen,
                          "manifest.requirements[%zu]: not a canonical requirement", i);
        }
    }
    return 0;
}

static int
s_check_instance(const json_t *inst, size_t index, char *err, size_t errlen)
{
    if (!json_is_object(inst)) {
        return s_fail(FK_EINVAL_INPUT, err, errlen, "instances[%zu]: must be an object", index);
    }
    static const char *const strings[] = {"id", "service", "node"};
    for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++) {
        if (!json_is_string(json_object_get(inst, strings[i]))) {
            return s_fail(FK_EINVAL_INPUT, err, errlen, "instances[%zu].%s: must be a string",
                          index, strings[i]);
        }
    }
    const json_t *aliases = json_object_get(inst, "aliases");
    if (!json_is_array(aliases)) {
        return s_fail(FK_EINVAL_INPUT, err, errlen, "instances[%zu].aliases: must be an array",
                      index);
    }
    for (size_t i = 0; i < json_array_size(aliases); i++) {
        if (!json_is_object(json_array_get(aliases, i))) {
            return s_fail(FK_EINVAL_INPUT, err, errlen,
                          "instances[%zu].aliases[%zu]: must be an object", index, i);
        }
    }
    const json_t *tags = json_object_get(inst, "tags");
    if (tags && !json_is_null(tags) && !json_is_array(tags)) {
        return s_fail(FK_EINVAL_INPUT, err, errlen, "instances[%zu].tags: must be an array", index);
    }
    const json_t *health = json_object_get(inst, "health");
    if (health && !json_is_object(health)) {
        return s_fail(FK_EINVAL_INPUT, err, errlen, "instances[%zu].health: must be an object",
                      index);
    }
    const json_t *key = json_object_get(inst, "challenge_key");
    if (key && !json_is_null(key) && !json_is_object(key)) {
        return s_fail(FK_EINVAL_INPUT, err, errlen,
                      "instances[%zu].challenge_key: must be an object or null", index);
    }
    return 0;
}

/*  The requirement with this key, or NULL. */
static const json_t *
s_find_requirement(const json_t *reqs, const json_t *key)
{
    for (size_t i = 0; i < json_array_size(reqs); i++) {
        const json_t *req = json_array_get(reqs, i);
        if (json_equal(json_object_get(req, "key"), key)) {
            return req;
        }
    }
    return NULL;
}

static int
s_check_declined(const json_t *declined, const json_t *reqs, char *err, size_t errlen)
{
    if (!declined || json_is_null(declined)) {
        return 0;
    }
    if (!json_is_array(declined)) {
        return s_fail(FK_EINVAL_INPUT, err, errlen, "declined: must be an array");
    }
    for (size_t i = 0; i < json_array_size(declined); i++) {
        const json_t *key = json_array_get(declined, i);
        if (!json_is_string(key)) {
            return s_fail(FK_EINVAL_INPUT, err, errlen, "declined[%zu]: must be a string", i);
        }
        const json_t *req = s_find_requirement(reqs, key);
        if (!req) {
            return s_fail(FK_EINVAL_INPUT, err, errlen, "unknown requirement '%s'",
                          json_string_value(key));
        }
        if (!json_is_true(json_object_get(req, "optional"))) {
            return s_fail(FK_EINVAL_INPUT, err, errlen, "cannot decline required requirement '%s'",
                          json_string_value(key));
        }
    }
    return 0;
}

static bool
s_matches(const json_t *req, const json_t *inst)
{
    const json_t *service = json_object_get(req, "service");
    if (json_equal(json_object_get(inst, "service"), service)) {
        return true;
    }
    return json_is_true(json_object_get(req, "match_tags"))
           && s_contains(json_object_get(inst, "tags"), service);
}

/*  Order of two instances: (id, node) in byte order. Two instances with the
    same pair are a registry inconsistency; their sorted-key dumps still give
    a total order, so the choice stays independent of list order. */
static int
s_instance_cmp(const json_t *a, const json_t *b)
{
    int cmp = s_bytecmp(json_object_get(a, "id"), json_object_get(b, "id"));
    if (cmp == 0) {
        cmp = s_bytecmp(json_object_get(a, "node"), json_object_get(b, "node"));
    }
    if (cmp != 0 || a == b) {
        return cmp;
    }
    size_t flags = JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY;
    char *dump_a = json_dumps(a, flags);
    char *dump_b = json_dumps(b, flags);
    if (!dump_a || !dump_b) {
        fk_oom("building JSON");
    }
    cmp = strcmp(dump_a, dump_b);
    free(dump_a);
    free(dump_b);
    return cmp;
}

/*  The matching instance to grant: never a critical one; a passing one
    before a warning one (a warning instance still answers, a 429 says it
    is busy); then the smallest (id, node). Health is part of the record,
    so every node with the same registry view still picks the same. */
static const json_t *
s_pick(const json_t *req, const json_t *instances)
{
    const json_t *best = NULL;
    fk_health_status_t best_health = FK_HEALTH_CRITICAL;
    for (size_t i = 0; i < json_array_size(instances); i++) {
        const json_t *inst = json_array_get(instances, i);
        fk_health_status_t health = fk_health_of(inst);
        if (health == FK_HEALTH_CRITICAL || !s_matches(req, inst)) {
            continue;
        }
        if (!best || health < best_health
            || (health == best_health && s_instance_cmp(inst, best) < 0)) {
            best = inst;
            best_health = health;
        }
    }
    return best;
}

/*  The configuration entry for a granted instance (fakts-protocol.md 4). */
static json_t *
s_render(const json_t *inst)
{
    const json_t *service = json_object_get(inst, "service");
    const json_t *id = json_object_get(inst, "id");
    const json_t *node = json_object_get(inst, "node");
    size_t id_len = json_string_length(id);
    size_t node_len = json_string_length(node);
    char *identifier = fk_malloc(id_len + node_len + 2);
    memcpy(identifier, json_string_value(id), id_len);
    identifier[id_len] = '@';
    memcpy(identifier + id_len + 1, json_string_value(node), node_len);
    identifier[id_len + 1 + node_len] = '\0';

    json_t *out = fk_json_must(json_object());
    fk_json_set(out, "service", json_deep_copy(service));
    /*  Both halves are jansson strings, hence valid UTF-8, and so is their
        concatenation around '@'. */
    fk_json_set(out, "identifier", json_stringn_nocheck(identifier, id_len + 1 + node_len));
    free(identifier);
    const json_t *aliases = json_object_get(inst, "aliases");
    json_t *copies = fk_json_must(json_array());
    for (size_t i = 0; i < json_array_size(aliases); i++) {
        fk_json_append(copies, json_deep_copy(json_array_get(aliases, i)));
    }
    fk_json_set(out, "aliases", copies);
    const json_t *key = json_object_get(inst, "challenge_key");
    if (json_is_object(key)) {
        fk_json_set(out, "challenge_key", json_deep_copy(key));
    }
    return out;
}

int
fk_compose(const json_t *manifest, const json_t *instances, const json_t *declined, unsigned flags,
           json_t **result_p, char *err, size_t errlen)
{
    assert(result_p);
    assert((flags & ~FK_COMPOSE_PREVIEW) == 0);
    *result_p = NULL;
    if (err && errlen > 0) {
        err[0] = '\0';
    }
    int rc = s_check_manifest(manifest, err, errlen);
    if (rc != 0) {
        return rc;
    }
    if (!json_is_array(instances)) {
        return s_fail(FK_EINVAL_INPUT, err, errlen, "instances: must be an array");
    }
    for (size_t i = 0; i < json_array_size(instances); i++) {
        rc = s_check_instance(json_array_get(instances, i), i, err, errlen);
        if (rc != 0) {
            return rc;
        }
    }
    const json_t *reqs = json_object_get(manifest, "requirements");
    rc = s_check_declined(declined, reqs, err, errlen);
    if (rc != 0) {
        return rc;
    }

    json_t *granted = fk_json_must(json_object());
    json_t *statuses = fk_json_must(json_object());
    for (size_t i = 0; i < json_array_size(reqs); i++) {
        const json_t *req = json_array_get(reqs, i);
        const json_t *key = json_object_get(req, "key");
        if (json_is_array(declined) && s_contains(declined, key)) {
            s_set_key(statuses, key, json_string("denied"));
            continue;
        }
        const json_t *inst = s_pick(req, instances);
        if (inst) {
            s_set_key(granted, key, s_render(inst));
            s_set_key(statuses, key, json_string("granted"));
        } else if (json_is_true(json_object_get(req, "optional")) || (flags & FK_COMPOSE_PREVIEW)) {
            s_set_key(statuses, key, json_string("unavailable"));
        } else {
            json_decref(granted);
            json_decref(statuses);
            return s_fail(FK_EUNAVAILABLE, err, errlen,
                          "requirement '%s' needs service '%s', which has no live instance "
                          "that is not critical",
                          json_string_value(key),
                          json_string_value(json_object_get(req, "service")));
        }
    }
    json_t *result = fk_json_must(json_object());
    fk_json_set(result, "instances", granted);
    fk_json_set(result, "statuses", statuses);
    *result_p = result;
    return 0;
}

json_t *
fk_compose_aud(const json_t *result)
{
    assert(result);
    json_t *aud = fk_json_must(json_array());
    fk_json_append(aud, json_string("lok"));
    const json_t *granted = json_object_get(result, "instances");
    const char *key;
    json_t *value;
    json_object_foreach(s_unconst(granted), key, value)
    {
        const json_t *identifier = json_object_get(value, "identifier");
        if (json_is_string(identifier) && !s_contains(aud, identifier)) {
            fk_json_append(aud, json_deep_copy(identifier));
        }
    }
    return aud;
}
