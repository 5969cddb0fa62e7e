/*  fk_service - validate a service definition and give its canonical form.

    The canonical object is built afresh, key by key in the documented order,
    rather than by copying and patching the input: jansson keeps insertion
    order, so building in a fixed order is what makes json_dumps of two equal
    definitions byte-identical. Nothing from the input is ever copied without
    having been checked, so unknown or malformed data cannot leak through. */

#include "fk_service.h"

#include <assert.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "fk_err.h"
#include "fk_health.h"
#include "fk_json.h"
#include "fk_mem.h"
#include "fk_yaml.h"

/*  Limits the header documents; characters are Unicode code points. */
#define FK_SERVICE_ID_MAX 128       /* service id */
#define FK_SERVICE_ALIAS_ID_MAX 160 /* alias id: room for "<service id>-<index>" */
#define FK_SERVICE_NAME_MAX 255     /* service name */
#define FK_SERVICE_HOST_MAX 253     /* a DNS name's longest text form */
#define FK_SERVICE_TEXT_MAX 1024    /* path, challenge, meta value, key */
#define FK_SERVICE_LABEL_MAX 128    /* tag, meta key */
#define FK_SERVICE_KEY_KIND_MAX 64  /* challenge_key.kind */
#define FK_SERVICE_EXCERPT 64       /* bytes of a foreign key quoted in errors */
#define FK_SERVICE_PATH_MAX 160     /* room for "aliases[31]." + an excerpt */

/*  String checks beyond length, as flags for s_text(). */
#define FK_SERVICE_NO_SPACE 0x1 /* no ASCII whitespace */
#define FK_SERVICE_NO_SLASH 0x2 /* no '/' */

/*  Where an error message goes. */
struct fk_service_ctx {
    char *err;     /* caller's buffer, or NULL */
    size_t errlen; /* its size */
};

static int s_fail(struct fk_service_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
s_fail(struct fk_service_ctx *ctx, const char *fmt, ...)
{
    if (ctx->err && ctx->errlen > 0) {
        va_list args;
        va_start(args, fmt);
        vsnprintf(ctx->err, ctx->errlen, fmt, args);
        va_end(args);
    }
    return FK_EINVAL_INPUT;
}

/*  A fresh copy of a string already checked to be free of NUL and control
    characters. */
static json_t *
s_copy_string(const json_t *value)
{
    return json_stringn(json_string_value(value), json_string_length(value));
}

/*  What a value is, for "got ..." in messages. */
static const char *
s_type_name(const json_t *value)
{
    switch (json_typeof(value)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a real number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
    default:
        return "null";
    }
}

/*  Copy at most FK_SERVICE_EXCERPT bytes of a foreign key into out (which
    holds FK_SERVICE_EXCERPT + 4 bytes), cut at a character boundary, with
    control characters shown as '?': error messages end up in logs and HTTP
    replies, and must not carry the input's line breaks or escapes there. */
static void
s_excerpt(char *out, const char *text, size_t len)
{
    size_t n = len;
    if (n > FK_SERVICE_EXCERPT) {
        n = FK_SERVICE_EXCERPT;
        while (n > 0 && ((unsigned char)text[n] & 0xC0) == 0x80) {
            n--;
        }
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)text[i];
        out[i] = (c < 0x20 || c == 0x7F) ? '?' : (char)c;
    }
    if (n < len) {
        memcpy(out + n, "...", 4);
    } else {
        out[n] = '\0';
    }
}

/*  Code points in UTF-8 text (jansson strings are valid UTF-8). */
static size_t
s_chars(const char *s, size_t n)
{
    size_t count = 0;
    for (size_t i = 0; i < n; i++) {
        if (((unsigned char)s[i] & 0xC0) != 0x80) {
            count++;
        }
    }
    return count;
}

/*  True when UTF-8 text holds a C0 or C1 control character or DEL. C1
    (U+0080-U+009F) is encoded as 0xC2 0x80-0x9F. */
static int
s_has_control(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7F) {
            return 1;
        }
        if (c == 0xC2 && i + 1 < n && (unsigned char)s[i + 1] <= 0x9F) {
            return 1;
        }
    }
    return 0;
}

static int
s_is_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static int
s_is_ident_char(char c)
{
    return s_is_alnum(c) || c == '.' || c == '_' || c == '-';
}

/*  Check that value is a string meeting a length range and flags; on
    failure, format "<path>: <reason>". */
static int
s_text(struct fk_service_ctx *ctx, const json_t *value, const char *path, size_t min, size_t max,
       unsigned flags)
{
    if (!json_is_string(value)) {
        return s_fail(ctx, "%s: must be a string, got %s", path, s_type_name(value));
    }
    const char *s = json_string_value(value);
    size_t n = json_string_length(value);
    size_t chars = s_chars(s, n);
    if (chars < min || chars > max) {
        if (min > 0 && chars == 0) {
            return s_fail(ctx, "%s: must not be empty", path);
        }
        return s_fail(ctx, "%s: must be %zu to %zu characters long", path, min, max);
    }
    if (s_has_control(s, n)) {
        return s_fail(ctx, "%s: must not contain control characters", path);
    }
    for (size_t i = 0; i < n; i++) {
        if ((flags & FK_SERVICE_NO_SPACE) && s[i] == ' ') {
            return s_fail(ctx, "%s: must not contain whitespace", path);
        }
        if ((flags & FK_SERVICE_NO_SLASH) && s[i] == '/') {
            return s_fail(ctx, "%s: must not contain '/'", path);
        }
    }
    return 0;
}

/*  An identifier: 1..max of [A-Za-z0-9._-], starting with a letter or
    digit. Used for the service id and alias ids. */
static int
s_ident(struct fk_service_ctx *ctx, const json_t *value, const char *path, size_t max)
{
    if (!json_is_string(value)) {
        return s_fail(ctx, "%s: must be a string, got %s", path, s_type_name(value));
    }
    const char *s = json_string_value(value);
    size_t n = json_string_length(value);
    int ok = n >= 1 && n <= max && s_is_alnum(s[0]);
    for (size_t i = 0; ok && i < n; i++) {
        ok = s_is_ident_char(s[i]);
    }
    if (!ok) {
        return s_fail(ctx,
                      "%s: must be 1 to %zu characters of [A-Za-z0-9._-] starting with a letter "
                      "or digit",
                      path, max);
    }
    return 0;
}

/*  A reverse-domain service name: labels of [A-Za-z0-9_-] joined by '.',
    at least two of them, none empty. */
static int
s_service_name(struct fk_service_ctx *ctx, const json_t *value)
{
    if (!json_is_string(value)) {
        return s_fail(ctx, "service: must be a string, got %s", s_type_name(value));
    }
    const char *s = json_string_value(value);
    size_t n = json_string_length(value);
    int ok = n >= 1 && n <= FK_SERVICE_NAME_MAX && s[0] != '.' && s[n - 1] != '.';
    int dots = 0;
    for (size_t i = 0; ok && i < n; i++) {
        if (s[i] == '.') {
            dots++;
            ok = s[i + 1] != '.';
        } else {
            ok = s_is_ident_char(s[i]);
        }
    }
    if (!ok || dots == 0) {
        return s_fail(ctx,
                      "service: must be a reverse-domain identifier such as "
                      "live.arkitekt.rekuest (1 to %d characters of [A-Za-z0-9._-])",
                      FK_SERVICE_NAME_MAX);
    }
    return 0;
}

/*  A boolean with a default; null or absent gives the default. */
static int
s_bool(struct fk_service_ctx *ctx, const json_t *value, const char *path, int fallback, int *out)
{
    if (!value || json_is_null(value)) {
        *out = fallback;
        return 0;
    }
    if (json_is_boolean(value)) {
        *out = json_is_true(value);
        return 0;
    }
    if (json_is_string(value)) {
        /*  The YAML 1.1 habit: say why it is not a boolean here. */
        static const char *const yaml11[] = {"yes", "no", "on", "off", "y", "n"};
        const char *s = json_string_value(value);
        for (size_t i = 0; i < sizeof yaml11 / sizeof yaml11[0]; i++) {
            if (strcasecmp(s, yaml11[i]) == 0) {
                return s_fail(ctx,
                              "%s: must be true or false, got the string \"%s\" (YAML 1.2 "
                              "reads yes/no/on/off as strings)",
                              path, yaml11[i]);
            }
        }
    }
    return s_fail(ctx, "%s: must be true or false, got %s", path, s_type_name(value));
}

/*  Reject every key of object not listed in known (NULL-terminated). The
    key is compared with its full length so a key with an embedded NUL
    cannot pass for a known one. */
static int
s_known_keys(struct fk_service_ctx *ctx, const json_t *object, const char *prefix,
             const char *const *known, const char *expected)
{
    const char *key;
    size_t key_len;
    json_t *member;
    /*  jansson's iteration macros take a non-const object. */
    json_t *iterable = (json_t *)(uintptr_t)object;
    json_object_keylen_foreach(iterable, key, key_len, member)
    {
        int found = 0;
        for (size_t i = 0; known[i] && !found; i++) {
            found = strlen(known[i]) == key_len && memcmp(known[i], key, key_len) == 0;
        }
        if (!found) {
            char shown[FK_SERVICE_EXCERPT + 4];
            s_excerpt(shown, key, key_len);
            return s_fail(ctx, "%s%s: unknown field (expected one of: %s)", prefix, shown,
                          expected);
        }
    }
    return 0;
}

/*  Validate aliases[index] into a fresh canonical alias in *alias_p. ids
    holds the alias ids seen so far (as keys) and receives this one. */
static int
s_alias(struct fk_service_ctx *ctx, const json_t *in, size_t index, const char *service_id,
        json_t *ids, json_t **alias_p)
{
    static const char *const known[] = {"id",        "host",   "port", "path", "ssl",
                                        "challenge", "public", "kind", NULL};
    char prefix[FK_SERVICE_PATH_MAX];
    char path[FK_SERVICE_PATH_MAX];
    snprintf(prefix, sizeof prefix, "aliases[%zu]", index);
    if (!json_is_object(in)) {
        return s_fail(ctx, "%s: must be an object, got %s", prefix, s_type_name(in));
    }
    snprintf(prefix, sizeof prefix, "aliases[%zu].", index);
    int rc =
        s_known_keys(ctx, in, prefix, known, "id, host, port, path, ssl, challenge, public, kind");
    if (rc != 0) {
        return rc;
    }

    /*  id: given, or derived from the service id and the position. Either
        fits the buffer: a given id is checked first, and a derived one is at
        most 128 + 1 + 2 characters. */
    const json_t *v = json_object_get(in, "id");
    char id[FK_SERVICE_ALIAS_ID_MAX + 1];
    snprintf(path, sizeof path, "aliases[%zu].id", index);
    if (v && !json_is_null(v)) {
        rc = s_ident(ctx, v, path, FK_SERVICE_ALIAS_ID_MAX);
        if (rc != 0) {
            return rc;
        }
        snprintf(id, sizeof id, "%s", json_string_value(v));
    } else {
        snprintf(id, sizeof id, "%s-%zu", service_id, index);
    }
    if (json_object_get(ids, id)) {
        return s_fail(ctx, "%s: duplicate alias id \"%s\"", path, id);
    }
    fk_json_set(ids, id, json_true());

    /*  host: required. */
    v = json_object_get(in, "host");
    snprintf(path, sizeof path, "aliases[%zu].host", index);
    if (!v) {
        return s_fail(ctx, "%s: required", path);
    }
    rc = s_text(ctx, v, path, 1, FK_SERVICE_HOST_MAX, FK_SERVICE_NO_SPACE | FK_SERVICE_NO_SLASH);
    if (rc != 0) {
        return rc;
    }
    const json_t *host = v;

    /*  port: an integer in range, or null. A string is refused even when it
        holds digits: the type is part of the contract. */
    const json_t *port = json_object_get(in, "port");
    if (port && !json_is_null(port)) {
        if (!json_is_integer(port) || json_integer_value(port) < 0
            || json_integer_value(port) > 65535) {
            if (!json_is_integer(port)) {
                return s_fail(ctx, "aliases[%zu].port: must be an integer from 0 to 65535, got %s",
                              index, s_type_name(port));
            }
            return s_fail(ctx, "aliases[%zu].port: must be an integer from 0 to 65535", index);
        }
    } else {
        port = NULL;
    }

    /*  path: leading slashes stripped (the URL builder adds its own). */
    v = json_object_get(in, "path");
    const char *url_path = NULL;
    size_t url_path_len = 0;
    snprintf(path, sizeof path, "aliases[%zu].path", index);
    if (v && !json_is_null(v)) {
        rc = s_text(ctx, v, path, 0, FK_SERVICE_TEXT_MAX, FK_SERVICE_NO_SPACE);
        if (rc != 0) {
            return rc;
        }
        url_path = json_string_value(v);
        url_path_len = json_string_length(v);
        while (url_path_len > 0 && url_path[0] == '/') {
            url_path++;
            url_path_len--;
        }
    }

    int ssl = 0;
    snprintf(path, sizeof path, "aliases[%zu].ssl", index);
    rc = s_bool(ctx, json_object_get(in, "ssl"), path, 0, &ssl);
    if (rc != 0) {
        return rc;
    }

    v = json_object_get(in, "challenge");
    const char *challenge = "ht";
    snprintf(path, sizeof path, "aliases[%zu].challenge", index);
    if (v && !json_is_null(v)) {
        rc = s_text(ctx, v, path, 0, FK_SERVICE_TEXT_MAX, FK_SERVICE_NO_SPACE);
        if (rc != 0) {
            return rc;
        }
        challenge = json_string_value(v);
    }

    int public = 0;
    snprintf(path, sizeof path, "aliases[%zu].public", index);
    rc = s_bool(ctx, json_object_get(in, "public"), path, 0, &public);
    if (rc != 0) {
        return rc;
    }

    v = json_object_get(in, "kind");
    const char *kind = "absolute";
    if (v && !json_is_null(v)) {
        const char *s = json_is_string(v) ? json_string_value(v) : "";
        if (!json_is_string(v) || json_string_length(v) != strlen(s)
            || (strcmp(s, "absolute") != 0 && strcmp(s, "mesh") != 0 && strcmp(s, "docker") != 0)) {
            return s_fail(ctx, "aliases[%zu].kind: must be one of absolute, mesh, docker", index);
        }
        kind = s;
    }

    json_t *alias = fk_json_must(json_object());
    fk_json_set(alias, "id", json_string(id));
    fk_json_set(alias, "host", s_copy_string(host));
    fk_json_set(alias, "port", port ? json_integer(json_integer_value(port)) : json_null());
    fk_json_set(alias, "path",
                url_path_len > 0 ? json_stringn(url_path, url_path_len) : json_null());
    fk_json_set(alias, "ssl", json_boolean(ssl));
    fk_json_set(alias, "challenge", json_string(challenge));
    fk_json_set(alias, "public", json_boolean(public));
    fk_json_set(alias, "kind", json_string(kind));
    *alias_p = alias;
    return 0;
}

static int
s_aliases(struct fk_service_ctx *ctx, const json_t *in, const char *service_id, json_t *out)
{
    if (!in) {
        return s_fail(ctx, "aliases: required");
    }
    if (!json_is_array(in) || json_array_size(in) < 1
        || json_array_size(in) > FK_SERVICE_MAX_ALIASES) {
        if (!json_is_array(in)) {
            return s_fail(ctx, "aliases: must be an array of 1 to %d aliases, got %s",
                          FK_SERVICE_MAX_ALIASES, s_type_name(in));
        }
        return s_fail(ctx, "aliases: must be an array of 1 to %d aliases, got %zu",
                      FK_SERVICE_MAX_ALIASES, json_array_size(in));
    }
    json_t *ids = fk_json_must(json_object());
    json_t *list = fk_json_must(json_array());
    int rc = 0;
    for (size_t i = 0; i < json_array_size(in) && rc == 0; i++) {
        json_t *alias = NULL;
        rc = s_alias(ctx, json_array_get(in, i), i, service_id, ids, &alias);
        if (rc == 0) {
            fk_json_append(list, alias);
        }
    }
    json_decref(ids);
    if (rc != 0) {
        json_decref(list);
        return rc;
    }
    fk_json_set(out, "aliases", list);
    return 0;
}

static int
s_tags(struct fk_service_ctx *ctx, const json_t *in, json_t *out)
{
    json_t *list = fk_json_must(json_array());
    if (!in || json_is_null(in)) {
        fk_json_set(out, "tags", list);
        return 0;
    }
    if (!json_is_array(in) || json_array_size(in) > FK_SERVICE_MAX_TAGS) {
        json_decref(list);
        if (!json_is_array(in)) {
            return s_fail(ctx, "tags: must be an array of at most %d strings, got %s",
                          FK_SERVICE_MAX_TAGS, s_type_name(in));
        }
        return s_fail(ctx, "tags: must be an array of at most %d strings, got %zu",
                      FK_SERVICE_MAX_TAGS, json_array_size(in));
    }
    for (size_t i = 0; i < json_array_size(in); i++) {
        const json_t *tag = json_array_get(in, i);
        char path[FK_SERVICE_PATH_MAX];
        snprintf(path, sizeof path, "tags[%zu]", i);
        int rc = s_text(ctx, tag, path, 1, FK_SERVICE_LABEL_MAX, 0);
        if (rc == 0) {
            /*  At most 64 tags: a linear search is the simple choice. */
            for (size_t j = 0; j < i && rc == 0; j++) {
                const json_t *seen = json_array_get(in, j);
                if (json_string_length(seen) == json_string_length(tag)
                    && memcmp(json_string_value(seen), json_string_value(tag),
                              json_string_length(tag))
                           == 0) {
                    char shown[FK_SERVICE_EXCERPT + 4];
                    s_excerpt(shown, json_string_value(tag), json_string_length(tag));
                    rc = s_fail(ctx, "%s: duplicate tag \"%s\"", path, shown);
                }
            }
        }
        if (rc != 0) {
            json_decref(list);
            return rc;
        }
        fk_json_append(list, s_copy_string(tag));
    }
    fk_json_set(out, "tags", list);
    return 0;
}

static int
s_compare_keys(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int
s_meta(struct fk_service_ctx *ctx, const json_t *in, json_t *out)
{
    if (!in || json_is_null(in)) {
        fk_json_set(out, "meta", json_object());
        return 0;
    }
    if (!json_is_object(in) || json_object_size(in) > FK_SERVICE_MAX_META) {
        if (!json_is_object(in)) {
            return s_fail(ctx, "meta: must be an object of at most %d strings, got %s",
                          FK_SERVICE_MAX_META, s_type_name(in));
        }
        return s_fail(ctx, "meta: must be an object of at most %d strings, got %zu entries",
                      FK_SERVICE_MAX_META, json_object_size(in));
    }
    const char *keys[FK_SERVICE_MAX_META];
    size_t count = 0;
    const char *key;
    size_t key_len;
    json_t *value;
    json_t *iterable = (json_t *)(uintptr_t)in;
    json_object_keylen_foreach(iterable, key, key_len, value)
    {
        char shown[FK_SERVICE_EXCERPT + 4];
        char path[FK_SERVICE_PATH_MAX];
        s_excerpt(shown, key, key_len);
        snprintf(path, sizeof path, "meta.%s", shown);
        size_t chars = s_chars(key, key_len);
        if (chars < 1 || chars > FK_SERVICE_LABEL_MAX) {
            return s_fail(ctx, "%s: key must be 1 to %d characters long", path,
                          FK_SERVICE_LABEL_MAX);
        }
        if (s_has_control(key, key_len)) {
            return s_fail(ctx, "%s: key must not contain control characters", path);
        }
        if (json_is_integer(value) || json_is_real(value) || json_is_boolean(value)) {
            return s_fail(ctx, "%s: must be a string, got %s (quote it in YAML)", path,
                          s_type_name(value));
        }
        int rc = s_text(ctx, value, path, 0, FK_SERVICE_TEXT_MAX, 0);
        if (rc != 0) {
            return rc;
        }
        keys[count++] = key;
    }
    /*  Sorted, so equal objects dump identically whatever the input order.
        Keys hold no NUL (control characters are refused), so strcmp orders
        them completely. */
    qsort(keys, count, sizeof keys[0], s_compare_keys);
    json_t *meta = fk_json_must(json_object());
    for (size_t i = 0; i < count; i++) {
        fk_json_set(meta, keys[i], s_copy_string(json_object_get(in, keys[i])));
    }
    fk_json_set(out, "meta", meta);
    return 0;
}

static int
s_challenge_key(struct fk_service_ctx *ctx, const json_t *in, json_t *out)
{
    static const char *const known[] = {"kind", "key", NULL};
    if (!in || json_is_null(in)) {
        fk_json_set(out, "challenge_key", json_null());
        return 0;
    }
    if (!json_is_object(in)) {
        return s_fail(ctx, "challenge_key: must be null or an object {kind, key}, got %s",
                      s_type_name(in));
    }
    int rc = s_known_keys(ctx, in, "challenge_key.", known, "kind, key");
    if (rc != 0) {
        return rc;
    }
    const json_t *kind = json_object_get(in, "kind");
    const json_t *key = json_object_get(in, "key");
    if (!kind) {
        return s_fail(ctx, "challenge_key.kind: required");
    }
    rc = s_text(ctx, kind, "challenge_key.kind", 1, FK_SERVICE_KEY_KIND_MAX, 0);
    if (rc != 0) {
        return rc;
    }
    if (!key) {
        return s_fail(ctx, "challenge_key.key: required");
    }
    rc = s_text(ctx, key, "challenge_key.key", 1, FK_SERVICE_TEXT_MAX, 0);
    if (rc != 0) {
        return rc;
    }
    json_t *canonical = fk_json_must(json_object());
    fk_json_set(canonical, "kind", s_copy_string(kind));
    fk_json_set(canonical, "key", s_copy_string(key));
    fk_json_set(out, "challenge_key", canonical);
    return 0;
}

/*  Bounds of the durations a definition may give, in ms. The smallest
    interval is short enough for tests and batch jobs that start fast; the
    timeout never exceeds the interval, so one check never overlaps its
    next run. */
#define S_INTERVAL_MIN 100
#define S_INTERVAL_MAX ((int64_t)24 * 3600 * 1000)
#define S_TIMEOUT_MIN 10
#define S_TIMEOUT_MAX ((int64_t)5 * 60 * 1000)
#define S_TTL_MIN 100
#define S_TTL_MAX ((int64_t)7 * 24 * 3600 * 1000)
#define S_AFTER_MIN 100
#define S_AFTER_MAX ((int64_t)30 * 24 * 3600 * 1000)
#define S_INTERVAL_DEFAULT 10000
#define S_TIMEOUT_DEFAULT 2000

/*  A duration field between min and max ms, or its fallback when absent or
    null (fallback 0: stays null). Writes the canonical text to out. */
static int
s_duration(struct fk_service_ctx *ctx, const json_t *value, const char *path, int64_t min,
           int64_t max, int64_t fallback, int64_t *ms_p, json_t **out)
{
    int64_t ms = fallback;
    if (value && !json_is_null(value)) {
        if (!json_is_string(value)) {
            return s_fail(ctx, "%s: must be a duration such as \"500ms\", \"30s\" or \"10m\", got %s",
                          path, s_type_name(value));
        }
        if (fk_health_duration_parse(json_string_value(value), json_string_length(value), &ms)
            != 0) {
            char shown[FK_SERVICE_EXCERPT + 4];
            s_excerpt(shown, json_string_value(value), json_string_length(value));
            return s_fail(ctx,
                          "%s: \"%s\" is not a duration (a number and a unit ms, s, m or h, "
                          "such as \"500ms\", \"30s\", \"10m\", \"1m30s\")",
                          path, shown);
        }
    }
    if (ms == 0 && fallback == 0) {
        *ms_p = 0;
        *out = json_null();
        return 0;
    }
    if (ms < min || ms > max) {
        char low[24];
        char high[24];
        fk_health_duration_format(min, low, sizeof low);
        fk_health_duration_format(max, high, sizeof high);
        return s_fail(ctx, "%s: must be from %s to %s", path, low, high);
    }
    char text[24];
    fk_health_duration_format(ms, text, sizeof text);
    *ms_p = ms;
    *out = json_string(text);
    return 0;
}

/*  An http check's URL: http:// or https://, a host, no whitespace. Only
    these two schemes: the checker runs on the node, and file://, gopher://
    and the like would let a definition make the node read or send what it
    should not. */
static int
s_check_url(struct fk_service_ctx *ctx, const json_t *value, const char *path)
{
    int rc = s_text(ctx, value, path, 1, FK_SERVICE_TEXT_MAX, FK_SERVICE_NO_SPACE);
    if (rc != 0) {
        return rc;
    }
    const char *url = json_string_value(value);
    size_t skip = strncmp(url, "http://", 7) == 0 ? 7 : strncmp(url, "https://", 8) == 0 ? 8 : 0;
    if (skip == 0 || url[skip] == '\0' || url[skip] == '/') {
        return s_fail(ctx, "%s: must be an http:// or https:// URL with a host", path);
    }
    return 0;
}

/*  A tcp check's target "host:port" ("[v6]:port" for IPv6). */
static int
s_check_hostport(struct fk_service_ctx *ctx, const json_t *value, const char *path)
{
    int rc = s_text(ctx, value, path, 3, FK_SERVICE_HOST_MAX + 8,
                    FK_SERVICE_NO_SPACE | FK_SERVICE_NO_SLASH);
    if (rc != 0) {
        return rc;
    }
    const char *text = json_string_value(value);
    const char *colon = strrchr(text, ':');
    char *end = NULL;
    long port = colon ? strtol(colon + 1, &end, 10) : 0;
    if (!colon || colon == text || colon[1] < '0' || colon[1] > '9' || *end != '\0' || port < 1
        || port > 65535 || (text[0] == '[' && colon[-1] != ']')) {
        return s_fail(ctx, "%s: must be host:port with a port from 1 to 65535", path);
    }
    return 0;
}

static int
s_check(struct fk_service_ctx *ctx, const json_t *in, size_t index, json_t **check_p)
{
    static const char *const known[] = {"http",     "tcp",     "ttl", "interval",
                                        "timeout", "deregister_critical_after", NULL};
    char prefix[FK_SERVICE_PATH_MAX];
    char path[FK_SERVICE_PATH_MAX];
    snprintf(prefix, sizeof prefix, "checks[%zu]", index);
    if (!json_is_object(in)) {
        return s_fail(ctx, "%s: must be an object, got %s", prefix, s_type_name(in));
    }
    snprintf(prefix, sizeof prefix, "checks[%zu].", index);
    int rc = s_known_keys(ctx, in, prefix, known,
                          "http, tcp, ttl, interval, timeout, deregister_critical_after");
    if (rc != 0) {
        return rc;
    }
    static const char *const kinds[] = {"http", "tcp", "ttl"};
    const char *kind = NULL;
    for (size_t i = 0; i < 3; i++) {
        if (json_object_get(in, kinds[i])) {
            if (kind) {
                return s_fail(ctx, "checks[%zu]: has both %s and %s (one kind per check)", index,
                              kind, kinds[i]);
            }
            kind = kinds[i];
        }
    }
    if (!kind) {
        return s_fail(ctx,
                      "checks[%zu]: needs one of http, tcp or ttl (script checks do not exist: "
                      "a definition must not run code on the node)",
                      index);
    }
    snprintf(path, sizeof path, "checks[%zu].%s", index, kind);
    const json_t *target = json_object_get(in, kind);
    json_t *check = fk_json_must(json_object());
    int64_t ms = 0;
    json_t *text = NULL;
    if (strcmp(kind, "ttl") == 0) {
        if (json_object_get(in, "interval") || json_object_get(in, "timeout")) {
            json_decref(check);
            return s_fail(ctx, "checks[%zu].%s: only for http and tcp checks", index,
                          json_object_get(in, "interval") ? "interval" : "timeout");
        }
        if (!target || json_is_null(target)) {
            json_decref(check);
            return s_fail(ctx, "%s: must be a duration such as \"30s\", got null", path);
        }
        rc = s_duration(ctx, target, path, S_TTL_MIN, S_TTL_MAX, 0, &ms, &text);
        if (rc == 0) {
            fk_json_set(check, "ttl", text);
        }
    } else {
        rc = strcmp(kind, "http") == 0 ? s_check_url(ctx, target, path)
                                       : s_check_hostport(ctx, target, path);
        if (rc == 0) {
            fk_json_set(check, kind, s_copy_string(target));
            snprintf(path, sizeof path, "checks[%zu].interval", index);
            rc = s_duration(ctx, json_object_get(in, "interval"), path, S_INTERVAL_MIN,
                            S_INTERVAL_MAX, S_INTERVAL_DEFAULT, &ms, &text);
        }
        int64_t interval = ms;
        if (rc == 0) {
            fk_json_set(check, "interval", text);
            snprintf(path, sizeof path, "checks[%zu].timeout", index);
            rc = s_duration(ctx, json_object_get(in, "timeout"), path, S_TIMEOUT_MIN,
                            S_TIMEOUT_MAX, S_TIMEOUT_DEFAULT < interval ? S_TIMEOUT_DEFAULT
                                                                        : interval,
                            &ms, &text);
        }
        if (rc == 0) {
            fk_json_set(check, "timeout", text);
            if (ms > interval) {
                rc = s_fail(ctx, "%s: must not be longer than the interval", path);
            }
        }
    }
    if (rc == 0) {
        snprintf(path, sizeof path, "checks[%zu].deregister_critical_after", index);
        rc = s_duration(ctx, json_object_get(in, "deregister_critical_after"), path, S_AFTER_MIN,
                        S_AFTER_MAX, 0, &ms, &text);
    }
    if (rc != 0) {
        json_decref(check);
        return rc;
    }
    fk_json_set(check, "deregister_critical_after", text);
    *check_p = check;
    return 0;
}

/*  checks and deregister_critical_after: both written only when there is
    at least one check, so a definition without checks keeps the canonical
    form it had before checks existed (and its stored bytes). */
static int
s_checks(struct fk_service_ctx *ctx, const json_t *in, const json_t *after, json_t *out)
{
    bool none = !in || json_is_null(in) || (json_is_array(in) && json_array_size(in) == 0);
    if (none) {
        if (after && !json_is_null(after)) {
            return s_fail(ctx, "deregister_critical_after: needs checks (it counts how long they "
                               "are critical)");
        }
        return 0;
    }
    if (!json_is_array(in) || json_array_size(in) > FK_HEALTH_MAX_CHECKS) {
        if (!json_is_array(in)) {
            return s_fail(ctx, "checks: must be an array of at most %d checks, got %s",
                          FK_HEALTH_MAX_CHECKS, s_type_name(in));
        }
        return s_fail(ctx, "checks: must be an array of at most %d checks, got %zu",
                      FK_HEALTH_MAX_CHECKS, json_array_size(in));
    }
    json_t *list = fk_json_must(json_array());
    for (size_t i = 0; i < json_array_size(in); i++) {
        json_t *check = NULL;
        int rc = s_check(ctx, json_array_get(in, i), i, &check);
        if (rc != 0) {
            json_decref(list);
            return rc;
        }
        fk_json_append(list, check);
    }
    int64_t ms = 0;
    json_t *text = NULL;
    int rc = s_duration(ctx, after, "deregister_critical_after", S_AFTER_MIN, S_AFTER_MAX, 0, &ms,
                        &text);
    if (rc != 0) {
        json_decref(list);
        return rc;
    }
    fk_json_set(out, "checks", list);
    fk_json_set(out, "deregister_critical_after", text);
    return 0;
}

int
fk_service_parse(const json_t *def, json_t **canonical_p, char *err, size_t errlen)
{
    static const char *const known[] = {"id",   "service",       "aliases", "tags",
                                        "meta", "challenge_key", "checks",  "deregister_critical_after",
                                        NULL};
    assert(def);
    assert(canonical_p);
    *canonical_p = NULL;
    struct fk_service_ctx ctx = {err, errlen};

    if (!json_is_object(def)) {
        return s_fail(&ctx, "definition: must be an object, got %s", s_type_name(def));
    }
    int rc = s_known_keys(&ctx, def, "", known,
                          "id, service, aliases, tags, meta, challenge_key, checks, "
                          "deregister_critical_after");
    if (rc != 0) {
        return rc;
    }
    const json_t *id = json_object_get(def, "id");
    if (!id) {
        return s_fail(&ctx, "id: required");
    }
    rc = s_ident(&ctx, id, "id", FK_SERVICE_ID_MAX);
    if (rc != 0) {
        return rc;
    }
    const json_t *service = json_object_get(def, "service");
    if (!service) {
        return s_fail(&ctx, "service: required");
    }
    rc = s_service_name(&ctx, service);
    if (rc != 0) {
        return rc;
    }

    json_t *out = fk_json_must(json_object());
    fk_json_set(out, "id", s_copy_string(id));
    fk_json_set(out, "service", s_copy_string(service));
    rc = s_aliases(&ctx, json_object_get(def, "aliases"), json_string_value(id), out);
    if (rc == 0) {
        rc = s_tags(&ctx, json_object_get(def, "tags"), out);
    }
    if (rc == 0) {
        rc = s_meta(&ctx, json_object_get(def, "meta"), out);
    }
    if (rc == 0) {
        rc = s_challenge_key(&ctx, json_object_get(def, "challenge_key"), out);
    }
    if (rc == 0) {
        rc = s_checks(&ctx, json_object_get(def, "checks"),
                      json_object_get(def, "deregister_critical_after"), out);
    }
    if (rc == 0) {
        /*  Aliases, and escaping of '"' and '\\', can make the canonical
            text longer than the definition it came from. Bounding it here
            keeps every accepted definition loadable again, and bounds what
            the registry stores and gossips. */
        size_t size = json_dumpb(out, NULL, 0, 0);
        if (size > FK_SERVICE_MAX_BYTES) {
            if (err && errlen > 0) {
                snprintf(err, errlen,
                         "definition: canonical form is %zu bytes, more than the limit of %zu",
                         size, FK_SERVICE_MAX_BYTES);
            }
            rc = FK_ETOOBIG;
        }
    }
    if (rc != 0) {
        json_decref(out);
        return rc;
    }
    *canonical_p = out;
    return 0;
}

int
fk_service_load(const char *text, size_t len, json_t **canonical_p, char *err, size_t errlen)
{
    assert(canonical_p);
    *canonical_p = NULL;
    if (len > FK_SERVICE_MAX_BYTES) {
        if (err && errlen > 0) {
            snprintf(err, errlen, "definition: %zu bytes is more than the limit of %zu", len,
                     FK_SERVICE_MAX_BYTES);
        }
        return FK_ETOOBIG;
    }
    json_t *def = NULL;
    int rc = fk_yaml_parse(text, len, &def, err, errlen);
    if (rc != 0) {
        return rc;
    }
    rc = fk_service_parse(def, canonical_p, err, errlen);
    json_decref(def);
    return rc;
}
