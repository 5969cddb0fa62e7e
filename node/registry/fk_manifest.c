/*  fk_manifest - manifest validation and canonical form.

    Validation walks the recognised fields in the canonical order and stops at
    the first problem, so the error names one field and the same bad manifest
    always yields the same message. Unknown keys are never looked at: the
    fakts 6.x client sends author and entrypoint, fakts-next sends its whole
    model, and the v2 server ignores extras too. */

#include "fk_manifest.h"

#include <assert.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "fk_err.h"
#include "fk_json.h"
#include "fk_mem.h"

/*  Optional string fields, in canonical order, between version and node_id. */
static const char *const s_optional_strings[] = {
    "title", "description", "logo", "license", "homepage", "repo_url",
};

/*  Record "<path>: <reason>" in err and return FK_EINVAL_INPUT. */
static int s_fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
s_fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen > 0) {
        va_list args;
        va_start(args, fmt);
        vsnprintf(err, errlen, fmt, args);
        va_end(args);
    }
    return FK_EINVAL_INPUT;
}

/*  jansson reports allocation failure as NULL or -1; the house rule
    (fk_mem.h) is to abort instead of unwinding: fk_oom. */

/*  A fresh copy of a string value. jansson keeps strings valid UTF-8, so the
    copy can skip the check; the length carries over exactly. */
static json_t *
s_copy_string(const json_t *value)
{
    return fk_json_must(json_stringn_nocheck(json_string_value(value), json_string_length(value)));
}

/*  Characters as Python's len() counts them (code points), which is what the
    pydantic length limits of the reference servers measure. */
static size_t
s_utf8_chars(const json_t *value)
{
    const unsigned char *text = (const unsigned char *)json_string_value(value);
    size_t bytes = json_string_length(value);
    size_t chars = 0;
    for (size_t i = 0; i < bytes; i++) {
        if ((text[i] & 0xC0) != 0x80) {
            chars++;
        }
    }
    return chars;
}

/*  Embedded NULs are legal in jansson strings (JSON_ALLOW_NUL) but would let
    two different keys print, compare and hash as one C string. */
static bool
s_has_nul(const json_t *value)
{
    return strlen(json_string_value(value)) != json_string_length(value);
}

/*  Check one string against [min, max] characters; path names it in err. */
static int
s_check_string(const json_t *value, const char *path, size_t min, size_t max, char *err,
               size_t errlen)
{
    if (!json_is_string(value)) {
        return s_fail(err, errlen, "%s: must be a string", path);
    }
    if (s_has_nul(value)) {
        return s_fail(err, errlen, "%s: must not contain NUL", path);
    }
    size_t chars = s_utf8_chars(value);
    if (chars < min) {
        return s_fail(err, errlen, "%s: must not be empty", path);
    }
    if (chars > max) {
        return s_fail(err, errlen, "%s: at most %zu characters", path, max);
    }
    return 0;
}

/*  A required string field: absent or null is "required". */
static int
s_required_string(const json_t *manifest, const char *name, size_t max, json_t *out, char *err,
                  size_t errlen)
{
    const json_t *value = json_object_get(manifest, name);
    if (!value || json_is_null(value)) {
        return s_fail(err, errlen, "%s: required", name);
    }
    int rc = s_check_string(value, name, 1, max, err, errlen);
    if (rc != 0) {
        return rc;
    }
    fk_json_set(out, name, s_copy_string(value));
    return 0;
}

/*  A string-or-null field; validates and stores nothing when out is NULL. */
static int
s_optional_string(const json_t *value, const char *path, json_t *out, const char *name, char *err,
                  size_t errlen)
{
    if (!value || json_is_null(value)) {
        if (out) {
            fk_json_set(out, name, json_null());
        }
        return 0;
    }
    if (!json_is_string(value)) {
        return s_fail(err, errlen, "%s: must be a string or null", path);
    }
    if (s_has_nul(value)) {
        return s_fail(err, errlen, "%s: must not contain NUL", path);
    }
    if (out) {
        fk_json_set(out, name, s_copy_string(value));
    }
    return 0;
}

/*  A bool-or-null field, defaulting to false. */
static int
s_optional_bool(const json_t *value, const char *path, bool *flag_p, char *err, size_t errlen)
{
    *flag_p = false;
    if (!value || json_is_null(value)) {
        return 0;
    }
    if (!json_is_boolean(value)) {
        return s_fail(err, errlen, "%s: must be a boolean", path);
    }
    *flag_p = json_is_true(value);
    return 0;
}

/*  node_id, with the v2 model's alias device_id. A client that sends both
    with different values has no single identity, so that is refused. */
static int
s_node_id(const json_t *manifest, json_t *out, char *err, size_t errlen)
{
    const json_t *node_id = json_object_get(manifest, "node_id");
    const json_t *device_id = json_object_get(manifest, "device_id");
    int rc = s_optional_string(node_id, "node_id", NULL, NULL, err, errlen);
    if (rc == 0) {
        rc = s_optional_string(device_id, "device_id", NULL, NULL, err, errlen);
    }
    if (rc != 0) {
        return rc;
    }
    if (json_is_string(node_id) && json_is_string(device_id) && !json_equal(node_id, device_id)) {
        return s_fail(err, errlen, "device_id: conflicts with node_id");
    }
    const json_t *chosen = json_is_string(node_id) ? node_id : device_id;
    fk_json_set(out, "node_id", json_is_string(chosen) ? s_copy_string(chosen) : json_null());
    return 0;
}

/*  A list field: absent or null gives NULL with rc 0, anything but an array
    of at most max entries is an error. */
static int
s_list(const json_t *manifest, const char *name, size_t max, const json_t **list_p, char *err,
       size_t errlen)
{
    const json_t *list = json_object_get(manifest, name);
    *list_p = NULL;
    if (!list || json_is_null(list)) {
        return 0;
    }
    if (!json_is_array(list)) {
        return s_fail(err, errlen, "%s: must be an array", name);
    }
    if (json_array_size(list) > max) {
        return s_fail(err, errlen, "%s: at most %zu entries", name, max);
    }
    *list_p = list;
    return 0;
}

static int
s_scopes(const json_t *manifest, json_t *out, char *err, size_t errlen)
{
    const json_t *list;
    int rc = s_list(manifest, "scopes", FK_MANIFEST_SCOPES_MAX, &list, err, errlen);
    if (rc != 0) {
        return rc;
    }
    json_t *scopes = fk_json_must(json_array());
    for (size_t i = 0; i < json_array_size(list); i++) {
        const json_t *scope = json_array_get(list, i);
        char path[32];
        snprintf(path, sizeof path, "scopes[%zu]", i);
        rc = s_check_string(scope, path, 1, FK_MANIFEST_SCOPE_MAX, err, errlen);
        if (rc != 0) {
            json_decref(scopes);
            return rc;
        }
        for (size_t j = 0; j < i; j++) {
            if (json_equal(scope, json_array_get(list, j))) {
                json_decref(scopes);
                return s_fail(err, errlen, "%s: duplicate scope '%s'", path,
                              json_string_value(scope));
            }
        }
        fk_json_append(scopes, s_copy_string(scope));
    }
    fk_json_set(out, "scopes", scopes);
    return 0;
}

/*  One requirement entry into its canonical object; *req_p is fresh. */
static int
s_requirement(const json_t *entry, size_t index, json_t **req_p, char *err, size_t errlen)
{
    char path[64];
    *req_p = NULL;
    snprintf(path, sizeof path, "requirements[%zu]", index);
    if (json_is_string(entry)) {
        /*  The seed's bare string: a service name that tags also satisfy. */
        int rc = s_check_string(entry, path, 1, FK_MANIFEST_KEY_MAX, err, errlen);
        if (rc != 0) {
            return rc;
        }
        json_t *req = fk_json_must(json_object());
        fk_json_set(req, "key", s_copy_string(entry));
        fk_json_set(req, "service", s_copy_string(entry));
        fk_json_set(req, "optional", json_false());
        fk_json_set(req, "description", json_null());
        fk_json_set(req, "match_tags", json_true());
        *req_p = req;
        return 0;
    }
    if (!json_is_object(entry)) {
        return s_fail(err, errlen, "%s: must be an object or a string", path);
    }
    static const char *const required[] = {"key", "service"};
    for (size_t i = 0; i < 2; i++) {
        char field[80];
        snprintf(field, sizeof field, "%s.%s", path, required[i]);
        const json_t *value = json_object_get(entry, required[i]);
        if (!value || json_is_null(value)) {
            return s_fail(err, errlen, "%s: required", field);
        }
        int rc = s_check_string(value, field, 1, FK_MANIFEST_KEY_MAX, err, errlen);
        if (rc != 0) {
            return rc;
        }
    }
    char field[80];
    bool optional;
    snprintf(field, sizeof field, "%s.optional", path);
    int rc = s_optional_bool(json_object_get(entry, "optional"), field, &optional, err, errlen);
    if (rc != 0) {
        return rc;
    }
    const json_t *description = json_object_get(entry, "description");
    snprintf(field, sizeof field, "%s.description", path);
    rc = s_optional_string(description, field, NULL, NULL, err, errlen);
    if (rc != 0) {
        return rc;
    }
    /*  match_tags is not sent by any client; it is read back so that the
        canonical form of a bare-string requirement parses to itself. */
    bool match_tags;
    snprintf(field, sizeof field, "%s.match_tags", path);
    rc = s_optional_bool(json_object_get(entry, "match_tags"), field, &match_tags, err, errlen);
    if (rc != 0) {
        return rc;
    }
    json_t *req = fk_json_must(json_object());
    fk_json_set(req, "key", s_copy_string(json_object_get(entry, "key")));
    fk_json_set(req, "service", s_copy_string(json_object_get(entry, "service")));
    fk_json_set(req, "optional", json_boolean(optional));
    fk_json_set(req, "description",
                json_is_string(description) ? s_copy_string(description) : json_null());
    fk_json_set(req, "match_tags", json_boolean(match_tags));
    *req_p = req;
    return 0;
}

static int
s_requirements(const json_t *manifest, json_t *out, char *err, size_t errlen)
{
    const json_t *list;
    int rc = s_list(manifest, "requirements", FK_MANIFEST_REQUIREMENTS_MAX, &list, err, errlen);
    if (rc != 0) {
        return rc;
    }
    json_t *reqs = fk_json_must(json_array());
    for (size_t i = 0; i < json_array_size(list); i++) {
        json_t *req;
        rc = s_requirement(json_array_get(list, i), i, &req, err, errlen);
        if (rc != 0) {
            json_decref(reqs);
            return rc;
        }
        const json_t *key = json_object_get(req, "key");
        for (size_t j = 0; j < json_array_size(reqs); j++) {
            if (json_equal(key, json_object_get(json_array_get(reqs, j), "key"))) {
                rc = s_fail(err, errlen, "requirements[%zu]%s: duplicate key '%s'", i,
                            json_is_string(json_array_get(list, i)) ? "" : ".key",
                            json_string_value(key));
                json_decref(req);
                json_decref(reqs);
                return rc;
            }
        }
        fk_json_append(reqs, req);
    }
    fk_json_set(out, "requirements", reqs);
    return 0;
}

static int
s_public_sources(const json_t *manifest, json_t *out, char *err, size_t errlen)
{
    const json_t *list;
    int rc = s_list(manifest, "public_sources", FK_MANIFEST_SOURCES_MAX, &list, err, errlen);
    if (rc != 0) {
        return rc;
    }
    if (!list) {
        fk_json_set(out, "public_sources", json_null());
        return 0;
    }
    json_t *sources = fk_json_must(json_array());
    for (size_t i = 0; i < json_array_size(list); i++) {
        const json_t *entry = json_array_get(list, i);
        if (!json_is_object(entry)) {
            json_decref(sources);
            return s_fail(err, errlen, "public_sources[%zu]: must be an object", i);
        }
        const json_t *kind = json_object_get(entry, "kind");
        const json_t *url = json_object_get(entry, "url");
        char path[64];
        if (!kind || json_is_null(kind)) {
            rc = s_fail(err, errlen, "public_sources[%zu].kind: required", i);
        } else if (!json_is_string(kind)
                   || (strcmp(json_string_value(kind), "github") != 0
                       && strcmp(json_string_value(kind), "website") != 0)
                   || s_has_nul(kind)) {
            rc = s_fail(err, errlen, "public_sources[%zu].kind: must be 'github' or 'website'", i);
        } else if (!url || json_is_null(url)) {
            rc = s_fail(err, errlen, "public_sources[%zu].url: required", i);
        } else {
            snprintf(path, sizeof path, "public_sources[%zu].url", i);
            rc = s_check_string(url, path, 1, SIZE_MAX, err, errlen);
        }
        if (rc != 0) {
            json_decref(sources);
            return rc;
        }
        json_t *source = fk_json_must(json_object());
        fk_json_set(source, "kind", s_copy_string(kind));
        fk_json_set(source, "url", s_copy_string(url));
        fk_json_append(sources, source);
    }
    fk_json_set(out, "public_sources", sources);
    return 0;
}

int
fk_manifest_parse(const json_t *manifest, json_t **canonical_p, char *err, size_t errlen)
{
    assert(canonical_p);
    *canonical_p = NULL;
    if (err && errlen > 0) {
        err[0] = '\0';
    }
    if (!json_is_object(manifest)) {
        return s_fail(err, errlen, "manifest: must be a JSON object");
    }
    json_t *out = fk_json_must(json_object());
    int rc =
        s_required_string(manifest, "identifier", FK_MANIFEST_IDENTIFIER_MAX, out, err, errlen);
    if (rc == 0 && strchr(json_string_value(json_object_get(out, "identifier")), '/')) {
        rc = s_fail(err, errlen, "identifier: must not contain '/'");
    }
    if (rc == 0) {
        rc = s_required_string(manifest, "version", FK_MANIFEST_VERSION_MAX, out, err, errlen);
    }
    size_t count = sizeof s_optional_strings / sizeof s_optional_strings[0];
    for (size_t i = 0; rc == 0 && i < count; i++) {
        const char *name = s_optional_strings[i];
        rc = s_optional_string(json_object_get(manifest, name), name, out, name, err, errlen);
    }
    if (rc == 0) {
        rc = s_node_id(manifest, out, err, errlen);
    }
    if (rc == 0) {
        rc = s_scopes(manifest, out, err, errlen);
    }
    if (rc == 0) {
        rc = s_requirements(manifest, out, err, errlen);
    }
    if (rc == 0) {
        rc = s_public_sources(manifest, out, err, errlen);
    }
    if (rc != 0) {
        json_decref(out);
        return rc;
    }
    *canonical_p = out;
    return 0;
}

/*  Byte order of two string values (embedded NULs included); a non-string
    sorts first so that a misused hash stays deterministic. */
static int
s_bytecmp(const json_t *a, const json_t *b)
{
    if (!json_is_string(a) || !json_is_string(b)) {
        return (int)json_is_string(a) - (int)json_is_string(b);
    }
    size_t len_a = json_string_length(a);
    size_t len_b = json_string_length(b);
    int cmp = memcmp(json_string_value(a), json_string_value(b), len_a < len_b ? len_a : len_b);
    if (cmp != 0) {
        return cmp;
    }
    return (len_a > len_b) - (len_a < len_b);
}

static int
s_cmp_scope(const void *a, const void *b)
{
    return s_bytecmp(*(const json_t *const *)a, *(const json_t *const *)b);
}

static int
s_cmp_requirement(const void *a, const void *b)
{
    const json_t *req_a = *(const json_t *const *)a;
    const json_t *req_b = *(const json_t *const *)b;
    return s_bytecmp(json_object_get(req_a, "key"), json_object_get(req_b, "key"));
}

static int
s_cmp_source(const void *a, const void *b)
{
    const json_t *src_a = *(const json_t *const *)a;
    const json_t *src_b = *(const json_t *const *)b;
    int cmp = s_bytecmp(json_object_get(src_a, "kind"), json_object_get(src_b, "kind"));
    if (cmp != 0) {
        return cmp;
    }
    return s_bytecmp(json_object_get(src_a, "url"), json_object_get(src_b, "url"));
}

/*  Replace object[name], when it is an array, by a sorted copy. */
static void
s_sort_list(json_t *object, const char *name, int (*cmp)(const void *, const void *))
{
    const json_t *list = json_object_get(object, name);
    size_t size = json_array_size(list);
    if (size < 2) {
        return;
    }
    json_t **items = fk_calloc(size, sizeof *items);
    for (size_t i = 0; i < size; i++) {
        items[i] = json_array_get(list, i);
    }
    qsort(items, size, sizeof *items, cmp);
    json_t *sorted = fk_json_must(json_array());
    for (size_t i = 0; i < size; i++) {
        if (json_array_append(sorted, items[i]) != 0) {
            fk_oom("building JSON");
        }
    }
    free(items);
    fk_json_set(object, name, sorted);
}

void
fk_manifest_hash(const json_t *canonical, char out[FK_SHA256_HEX_LEN + 1])
{
    assert(canonical && out);
    json_t *copy = fk_json_must(json_deep_copy(canonical));
    s_sort_list(copy, "scopes", s_cmp_scope);
    s_sort_list(copy, "requirements", s_cmp_requirement);
    s_sort_list(copy, "public_sources", s_cmp_source);
    char *text = json_dumps(copy, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    if (!text) {
        fk_oom("building JSON");
    }
    fk_sha256_hex(text, strlen(text), out);
    free(text);
    json_decref(copy);
}
