/*  test_fk_manifest - manifest validation, canonical form and identity hash.

    The accepted shapes are the ones real clients send (fakts-protocol.md
    section 2): fakts-next 4.x's model_dump, the fakts 6.x manifest, the npm
    client's three keys, and the seed's bare-string requirements. */

#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "fk_crypto.h"
#include "fk_err.h"
#include "fk_manifest.h"

TestSuite(fk_manifest);

/*  fakts-next 4.x sends model_dump(): every key, nulls included. */
static const char *const s_fakts_next_v1 =
    "{\"identifier\":\"github.io.jhnnsrs.mikro-napari\",\"version\":\"0.1.0\","
    "\"scopes\":[\"openid\",\"read\"],\"logo\":null,"
    "\"requirements\":[{\"key\":\"rekuest\",\"service\":\"live.arkitekt.rekuest\","
    "\"optional\":false,\"description\":null},"
    "{\"key\":\"mikro\",\"service\":\"live.arkitekt.mikro\",\"optional\":true,"
    "\"description\":\"image storage\"}],"
    "\"node_id\":\"3f8b2c1e-node\",\"public_sources\":[],\"description\":null}";

/*  fakts 6.x: author and entrypoint are unknown to the server; device_id is
    the v2 spelling of node_id. */
static const char *const s_fakts_6 =
    "{\"identifier\":\"napari\",\"version\":\"6.0.1\",\"author\":\"unknown\","
    "\"description\":\"A viewer\",\"logo\":\"https://example.org/logo.png\","
    "\"scopes\":[\"openid\"],\"entrypoint\":\"app\","
    "\"requirements\":[{\"key\":\"rekuest\",\"service\":\"live.arkitekt.rekuest\","
    "\"optional\":false,\"description\":null}],"
    "\"device_id\":\"device-7\",\"headers\":{\"x\":\"y\"},"
    "\"public_sources\":[{\"kind\":\"github\",\"url\":\"https://github.com/a/b\"}]}";

/*  The npm client sends only these three. */
static const char *const s_npm = "{\"version\":\"0.0.1\",\"identifier\":\"orkestrator\","
                                 "\"logo\":\"https://example.org/o.png\"}";

static json_t *
s_load(const char *text)
{
    json_error_t error;
    json_t *value = json_loads(text, JSON_DECODE_ANY, &error);
    cr_assert_not_null(value, "fixture does not parse: %s: %s", error.text, text);
    return value;
}

static char *
s_dump(const json_t *value)
{
    char *text = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
    cr_assert_not_null(text);
    return text;
}

/*  Parse text, which must succeed, and return the canonical form. */
static json_t *
s_parse_ok(const char *text)
{
    json_t *manifest = s_load(text);
    json_t *canonical = NULL;
    char err[256] = "untouched";
    int rc = fk_manifest_parse(manifest, &canonical, err, sizeof err);
    cr_assert_eq(rc, 0, "parse failed (%s): %s", err, text);
    cr_assert_not_null(canonical);
    cr_assert_str_eq(err, "");
    json_decref(manifest);
    return canonical;
}

/*  Parse text, which must fail, and compare the message. */
static void
s_expect_error(const char *text, const char *expected)
{
    json_t *manifest = s_load(text);
    json_t *canonical = json_null(); /* non-NULL, so the reset is observable */
    char err[256] = "";
    int rc = fk_manifest_parse(manifest, &canonical, err, sizeof err);
    cr_expect_eq(rc, FK_EINVAL_INPUT, "accepted: %s", text);
    cr_expect_null(canonical, "output left set for: %s", text);
    cr_expect_str_eq(err, expected, "for input %s", text);
    json_decref(manifest);
}

static void
s_expect_canonical(const json_t *canonical, const char *expected)
{
    char *text = s_dump(canonical);
    cr_expect_str_eq(text, expected);
    free(text);
}

static void
s_hash_of(const char *text, char out[FK_SHA256_HEX_LEN + 1])
{
    json_t *canonical = s_parse_ok(text);
    fk_manifest_hash(canonical, out);
    json_decref(canonical);
}

Test(fk_manifest, accepts_fakts_next_v1_model_dump)
{
    json_t *canonical = s_parse_ok(s_fakts_next_v1);
    s_expect_canonical(
        canonical,
        "{\"identifier\":\"github.io.jhnnsrs.mikro-napari\",\"version\":\"0.1.0\","
        "\"title\":null,\"description\":null,\"logo\":null,\"license\":null,\"homepage\":null,"
        "\"repo_url\":null,\"node_id\":\"3f8b2c1e-node\",\"scopes\":[\"openid\",\"read\"],"
        "\"requirements\":[{\"key\":\"rekuest\",\"service\":\"live.arkitekt.rekuest\","
        "\"optional\":false,\"description\":null,\"match_tags\":false},"
        "{\"key\":\"mikro\",\"service\":\"live.arkitekt.mikro\",\"optional\":true,"
        "\"description\":\"image storage\",\"match_tags\":false}],\"public_sources\":[]}");
    json_decref(canonical);
}

Test(fk_manifest, accepts_fakts_6_manifest_and_maps_device_id_to_node_id)
{
    json_t *canonical = s_parse_ok(s_fakts_6);
    s_expect_canonical(
        canonical, "{\"identifier\":\"napari\",\"version\":\"6.0.1\",\"title\":null,"
                   "\"description\":\"A viewer\",\"logo\":\"https://example.org/logo.png\","
                   "\"license\":null,\"homepage\":null,\"repo_url\":null,\"node_id\":\"device-7\","
                   "\"scopes\":[\"openid\"],\"requirements\":[{\"key\":\"rekuest\","
                   "\"service\":\"live.arkitekt.rekuest\",\"optional\":false,\"description\":null,"
                   "\"match_tags\":false}],\"public_sources\":[{\"kind\":\"github\","
                   "\"url\":\"https://github.com/a/b\"}]}");
    cr_expect_null(json_object_get(canonical, "author"));
    cr_expect_null(json_object_get(canonical, "entrypoint"));
    cr_expect_null(json_object_get(canonical, "device_id"));
    json_decref(canonical);
}

Test(fk_manifest, accepts_npm_manifest_with_defaults)
{
    json_t *canonical = s_parse_ok(s_npm);
    s_expect_canonical(canonical,
                       "{\"identifier\":\"orkestrator\",\"version\":\"0.0.1\",\"title\":null,"
                       "\"description\":null,\"logo\":\"https://example.org/o.png\","
                       "\"license\":null,\"homepage\":null,\"repo_url\":null,\"node_id\":null,"
                       "\"scopes\":[],\"requirements\":[],\"public_sources\":null}");
    json_decref(canonical);
}

Test(fk_manifest, bare_string_requirement_becomes_tag_matching_requirement)
{
    json_t *canonical =
        s_parse_ok("{\"identifier\":\"seed\",\"version\":\"1\",\"requirements\":[\"cuda\"]}");
    char *text = s_dump(json_object_get(canonical, "requirements"));
    cr_expect_str_eq(text, "[{\"key\":\"cuda\",\"service\":\"cuda\",\"optional\":false,"
                           "\"description\":null,\"match_tags\":true}]");
    free(text);
    json_decref(canonical);
}

Test(fk_manifest, keeps_list_order_as_given)
{
    json_t *canonical = s_parse_ok("{\"identifier\":\"a\",\"version\":\"1\","
                                   "\"scopes\":[\"write\",\"openid\",\"read\"],"
                                   "\"requirements\":[\"z\",\"a\",\"m\"]}");
    char *scopes = s_dump(json_object_get(canonical, "scopes"));
    cr_expect_str_eq(scopes, "[\"write\",\"openid\",\"read\"]");
    free(scopes);
    const json_t *reqs = json_object_get(canonical, "requirements");
    cr_expect_str_eq(json_string_value(json_object_get(json_array_get(reqs, 0), "key")), "z");
    cr_expect_str_eq(json_string_value(json_object_get(json_array_get(reqs, 2), "key")), "m");
    json_decref(canonical);
}

Test(fk_manifest, canonical_form_parses_to_itself)
{
    static const char *const inputs[] = {
        s_fakts_next_v1,
        s_fakts_6,
        s_npm,
        "{\"identifier\":\"seed\",\"version\":\"1\",\"requirements\":[\"cuda\",{\"key\":\"r\","
        "\"service\":\"s\",\"optional\":true}]}",
    };
    for (size_t i = 0; i < sizeof inputs / sizeof inputs[0]; i++) {
        json_t *first = s_parse_ok(inputs[i]);
        char *first_text = s_dump(first);
        json_t *second = s_parse_ok(first_text);
        char *second_text = s_dump(second);
        cr_expect_str_eq(second_text, first_text);
        free(first_text);
        free(second_text);
        json_decref(first);
        json_decref(second);
    }
}

Test(fk_manifest, equal_node_id_and_device_id_are_accepted)
{
    json_t *canonical = s_parse_ok("{\"identifier\":\"a\",\"version\":\"1\",\"node_id\":\"n1\","
                                   "\"device_id\":\"n1\"}");
    cr_expect_str_eq(json_string_value(json_object_get(canonical, "node_id")), "n1");
    json_decref(canonical);
}

Test(fk_manifest, unicode_length_limits_count_characters)
{
    /*  255 two-byte characters: 510 bytes, but within the 255-character limit. */
    char text[1024];
    size_t at = (size_t)snprintf(text, sizeof text, "{\"version\":\"1\",\"identifier\":\"");
    for (int i = 0; i < 255; i++) {
        text[at++] = (char)0xC3;
        text[at++] = (char)0xA9;
    }
    snprintf(text + at, sizeof text - at, "\"}");
    json_t *canonical = s_parse_ok(text);
    cr_expect_eq(json_string_length(json_object_get(canonical, "identifier")), 510);
    json_decref(canonical);
    snprintf(text + at, sizeof text - at, "x\"}");
    s_expect_error(text, "identifier: at most 255 characters");
}

Test(fk_manifest, rejects_non_object)
{
    json_t *canonical = NULL;
    char err[128];
    cr_expect_eq(fk_manifest_parse(NULL, &canonical, err, sizeof err), FK_EINVAL_INPUT);
    cr_expect_str_eq(err, "manifest: must be a JSON object");
    s_expect_error("[]", "manifest: must be a JSON object");
    s_expect_error("\"app\"", "manifest: must be a JSON object");
    s_expect_error("null", "manifest: must be a JSON object");
}

Test(fk_manifest, names_each_invalid_field)
{
    static const char *const cases[][2] = {
        {"{\"version\":\"1\"}", "identifier: required"},
        {"{\"identifier\":null,\"version\":\"1\"}", "identifier: required"},
        {"{\"identifier\":7,\"version\":\"1\"}", "identifier: must be a string"},
        {"{\"identifier\":\"\",\"version\":\"1\"}", "identifier: must not be empty"},
        {"{\"identifier\":\"a/b\",\"version\":\"1\"}", "identifier: must not contain '/'"},
        {"{\"identifier\":\"a\"}", "version: required"},
        {"{\"identifier\":\"a\",\"version\":1.0}", "version: must be a string"},
        {"{\"identifier\":\"a\",\"version\":\"\"}", "version: must not be empty"},
        {"{\"identifier\":\"a\",\"version\":\"1\",\"title\":3}", "title: must be a string or null"},
        {"{\"identifier\":\"a\",\"version\":\"1\",\"description\":[]}",
         "description: must be a string or null"},
        {"{\"identifier\":\"a\",\"version\":\"1\",\"logo\":{}}", "logo: must be a string or null"},
        {"{\"identifier\":\"a\",\"version\":\"1\",\"license\":true}",
         "license: must be a string or null"},
        {"{\"identifier\":\"a\",\"version\":\"1\",\"homepage\":1}",
         "homepage: must be a string or null"},
        {"{\"identifier\":\"a\",\"version\":\"1\",\"repo_url\":false}",
         "repo_url: must be a string or null"},
        {"{\"identifier\":\"a\",\"version\":\"1\",\"node_id\":5}",
         "node_id: must be a string or null"},
        {"{\"identifier\":\"a\",\"version\":\"1\",\"device_id\":5}",
         "device_id: must be a string or null"},
        {"{\"identifier\":\"a\",\"version\":\"1\",\"node_id\":\"x\",\"device_id\":\"y\"}",
         "device_id: conflicts with node_id"},
        {"{\"identifier\":\"a\",\"version\":\"1\",\"scopes\":\"openid\"}",
         "scopes: must be an array"},
        {"{\"identifier\":\"a\",\"version\":\"1\",\"scopes\":[\"openid\",3]}",
         "scopes[1]: must be a string"},
        {"{\"identifier\":\"a\",\"version\":\"1\",\"scopes\":[\"\"]}",
         "scopes[0]: must not be empty"},
        {"{\"identifier\":\"a\",\"version\":\"1\",\"scopes\":[\"read\",\"write\",\"read\"]}",
         "scopes[2]: duplicate scope 'read'"},
        {"{\"identifier\":\"a\",\"version\":\"1\",\"requirements\":{}}",
         "requirements: must be an array"},
        {"{\"identifier\":\"a\",\"version\":\"1\",\"requirements\":[1]}",
         "requirements[0]: must be an object or a string"},
        {"{\"identifier\":\"a\",\"version\":\"1\",\"requirements\":[\"\"]}",
         "requirements[0]: must not be empty"},
        {"{\"identifier\":\"a\",\"version\":\"1\",\"requirements\":[\"x\",\"y\","
         "{\"service\":\"s\"}]}",
         "requirements[2].key: required"},
        {"{\"identifier\":\"a\",\"version\":\"1\",\"requirements\":[{\"key\":\"k\"}]}",
         "requirements[0].service: required"},
        {"{\"identifier\":\"a\",\"version\":\"1\",\"requirements\":[{\"key\":\"k\","
         "\"service\":7}]}",
         "requirements[0].service: must be a string"},
        {"{\"identifier\":\"a\",\"version\":\"1\",\"requirements\":[{\"key\":\"k\","
         "\"service\":\"s\",\"optional\":\"yes\"}]}",
         "requirements[0].optional: must be a boolean"},
        {"{\"identifier\":\"a\",\"version\":\"1\",\"requirements\":[{\"key\":\"k\","
         "\"service\":\"s\",\"description\":1}]}",
         "requirements[0].description: must be a string or null"},
        {"{\"identifier\":\"a\",\"version\":\"1\",\"requirements\":[\"a\",\"b\",\"c\","
         "{\"key\":\"rekuest\",\"service\":\"s\"},{\"key\":\"rekuest\",\"service\":\"t\"}]}",
         "requirements[4].key: duplicate key 'rekuest'"},
        {"{\"identifier\":\"a\",\"version\":\"1\",\"requirements\":[{\"key\":\"cuda\","
         "\"service\":\"s\"},\"cuda\"]}",
         "requirements[1]: duplicate key 'cuda'"},
        {"{\"identifier\":\"a\",\"version\":\"1\",\"public_sources\":{}}",
         "public_sources: must be an array"},
        {"{\"identifier\":\"a\",\"version\":\"1\",\"public_sources\":[\"x\"]}",
         "public_sources[0]: must be an object"},
        {"{\"identifier\":\"a\",\"version\":\"1\",\"public_sources\":[{\"url\":\"u\"}]}",
         "public_sources[0].kind: required"},
        {"{\"identifier\":\"a\",\"version\":\"1\",\"public_sources\":[{\"kind\":\"gitlab\","
         "\"url\":\"u\"}]}",
         "public_sources[0].kind: must be 'github' or 'website'"},
        {"{\"identifier\":\"a\",\"version\":\"1\",\"public_sources\":[{\"kind\":\"website\"}]}",
         "public_sources[0].url: required"},
        {"{\"identifier\":\"a\",\"version\":\"1\",\"public_sources\":[{\"kind\":\"website\","
         "\"url\":\"\"}]}",
         "public_sources[0].url: must not be empty"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        s_expect_error(cases[i][0], cases[i][1]);
    }
}

Test(fk_manifest, rejects_embedded_nul)
{
    json_error_t error;
    json_t *manifest =
        json_loads("{\"identifier\":\"a\\u0000b\",\"version\":\"1\"}", JSON_ALLOW_NUL, &error);
    cr_assert_not_null(manifest);
    json_t *canonical = NULL;
    char err[128];
    cr_expect_eq(fk_manifest_parse(manifest, &canonical, err, sizeof err), FK_EINVAL_INPUT);
    cr_expect_str_eq(err, "identifier: must not contain NUL");
    cr_expect_null(canonical);
    json_decref(manifest);
}

Test(fk_manifest, enforces_size_limits)
{
    char text[16384];
    /*  65 scopes: one over the limit. */
    size_t at = (size_t)snprintf(text, sizeof text,
                                 "{\"identifier\":\"a\",\"version\":\"1\","
                                 "\"scopes\":[");
    for (int i = 0; i < 65; i++) {
        at += (size_t)snprintf(text + at, sizeof text - at, "%s\"s%d\"", i ? "," : "", i);
    }
    snprintf(text + at, sizeof text - at, "]}");
    s_expect_error(text, "scopes: at most 64 entries");

    at = (size_t)snprintf(text, sizeof text,
                          "{\"identifier\":\"a\",\"version\":\"1\","
                          "\"requirements\":[");
    for (int i = 0; i < 65; i++) {
        at += (size_t)snprintf(text + at, sizeof text - at, "%s\"r%d\"", i ? "," : "", i);
    }
    snprintf(text + at, sizeof text - at, "]}");
    s_expect_error(text, "requirements: at most 64 entries");

    /*  A 129-character scope, and a 101-character version. */
    char long_scope[130];
    memset(long_scope, 's', 129);
    long_scope[129] = '\0';
    snprintf(text, sizeof text, "{\"identifier\":\"a\",\"version\":\"1\",\"scopes\":[\"%s\"]}",
             long_scope);
    s_expect_error(text, "scopes[0]: at most 128 characters");
    long_scope[101] = '\0';
    snprintf(text, sizeof text, "{\"identifier\":\"a\",\"version\":\"%s\"}", long_scope);
    s_expect_error(text, "version: at most 100 characters");
    long_scope[100] = '\0';
    snprintf(text, sizeof text, "{\"identifier\":\"a\",\"version\":\"%s\"}", long_scope);
    json_decref(s_parse_ok(text));
}

Test(fk_manifest, truncates_error_to_buffer_and_tolerates_no_buffer)
{
    json_t *manifest = s_load("{\"version\":\"1\"}");
    json_t *canonical = NULL;
    char err[6] = "xxxxx";
    cr_expect_eq(fk_manifest_parse(manifest, &canonical, err, sizeof err), FK_EINVAL_INPUT);
    cr_expect_str_eq(err, "ident");
    cr_expect_eq(fk_manifest_parse(manifest, &canonical, NULL, 0), FK_EINVAL_INPUT);
    cr_expect_null(canonical);
    json_decref(manifest);
}

Test(fk_manifest, hash_is_sha256_of_sorted_canonical_dump)
{
    char hash[FK_SHA256_HEX_LEN + 1];
    s_hash_of("{\"identifier\":\"a\",\"version\":\"1\",\"scopes\":[\"w\",\"r\"]}", hash);
    static const char expected_dump[] =
        "{\"description\":null,\"homepage\":null,\"identifier\":\"a\",\"license\":null,"
        "\"logo\":null,\"node_id\":null,\"public_sources\":null,\"repo_url\":null,"
        "\"requirements\":[],\"scopes\":[\"r\",\"w\"],\"title\":null,\"version\":\"1\"}";
    char expected[FK_SHA256_HEX_LEN + 1];
    fk_sha256_hex(expected_dump, strlen(expected_dump), expected);
    cr_expect_str_eq(hash, expected);
}

Test(fk_manifest, hash_is_stable_under_list_reordering)
{
    char a[FK_SHA256_HEX_LEN + 1];
    char b[FK_SHA256_HEX_LEN + 1];
    s_hash_of("{\"identifier\":\"a\",\"version\":\"1\",\"scopes\":[\"openid\",\"read\",\"write\"],"
              "\"requirements\":[{\"key\":\"rekuest\",\"service\":\"live.arkitekt.rekuest\"},"
              "\"cuda\",{\"key\":\"mikro\",\"service\":\"live.arkitekt.mikro\","
              "\"optional\":true}],"
              "\"public_sources\":[{\"kind\":\"website\",\"url\":\"https://a\"},"
              "{\"kind\":\"github\",\"url\":\"https://b\"},"
              "{\"kind\":\"github\",\"url\":\"https://a\"}]}",
              a);
    s_hash_of("{\"public_sources\":[{\"kind\":\"github\",\"url\":\"https://a\"},"
              "{\"url\":\"https://a\",\"kind\":\"website\"},"
              "{\"kind\":\"github\",\"url\":\"https://b\"}],"
              "\"requirements\":[{\"key\":\"mikro\",\"service\":\"live.arkitekt.mikro\","
              "\"optional\":true},\"cuda\","
              "{\"service\":\"live.arkitekt.rekuest\",\"key\":\"rekuest\"}],"
              "\"scopes\":[\"write\",\"openid\",\"read\"],\"version\":\"1\",\"identifier\":\"a\"}",
              b);
    cr_expect_str_eq(a, b);
    cr_expect_eq(strlen(a), FK_SHA256_HEX_LEN);
    cr_expect_eq(strspn(a, "0123456789abcdef"), FK_SHA256_HEX_LEN);
}

Test(fk_manifest, hash_ignores_unknown_keys_and_device_id_spelling)
{
    char a[FK_SHA256_HEX_LEN + 1];
    char b[FK_SHA256_HEX_LEN + 1];
    s_hash_of("{\"identifier\":\"a\",\"version\":\"1\",\"node_id\":\"n\"}", a);
    s_hash_of("{\"identifier\":\"a\",\"version\":\"1\",\"device_id\":\"n\","
              "\"author\":\"unknown\",\"entrypoint\":\"app\"}",
              b);
    cr_expect_str_eq(a, b);
}

Test(fk_manifest, hash_changes_with_any_field)
{
    static const char *const variants[] = {
        "{\"identifier\":\"a\",\"version\":\"1\",\"requirements\":[{\"key\":\"k\","
        "\"service\":\"s\"}]}",
        "{\"identifier\":\"a\",\"version\":\"2\",\"requirements\":[{\"key\":\"k\","
        "\"service\":\"s\"}]}",
        "{\"identifier\":\"b\",\"version\":\"1\",\"requirements\":[{\"key\":\"k\","
        "\"service\":\"s\"}]}",
        "{\"identifier\":\"a\",\"version\":\"1\",\"requirements\":[{\"key\":\"k\","
        "\"service\":\"s\",\"optional\":true}]}",
        "{\"identifier\":\"a\",\"version\":\"1\",\"requirements\":[{\"key\":\"k\","
        "\"service\":\"t\"}]}",
        "{\"identifier\":\"a\",\"version\":\"1\",\"requirements\":[{\"key\":\"k\","
        "\"service\":\"s\"}],\"scopes\":[\"openid\"]}",
        "{\"identifier\":\"a\",\"version\":\"1\",\"requirements\":[{\"key\":\"k\","
        "\"service\":\"s\"}],\"node_id\":\"n\"}",
        "{\"identifier\":\"a\",\"version\":\"1\",\"requirements\":[{\"key\":\"k\","
        "\"service\":\"s\"}],\"title\":\"T\"}",
        "{\"identifier\":\"a\",\"version\":\"1\",\"requirements\":[\"k\"]}",
    };
    enum { N = sizeof variants / sizeof variants[0] };
    char hashes[N][FK_SHA256_HEX_LEN + 1];
    for (size_t i = 0; i < N; i++) {
        s_hash_of(variants[i], hashes[i]);
        for (size_t j = 0; j < i; j++) {
            cr_expect_str_neq(hashes[i], hashes[j], "variants %zu and %zu collide", i, j);
        }
    }
}

Test(fk_manifest, hash_does_not_modify_canonical)
{
    json_t *canonical =
        s_parse_ok("{\"identifier\":\"a\",\"version\":\"1\",\"scopes\":[\"z\",\"a\"]}");
    char *before = s_dump(canonical);
    char hash[FK_SHA256_HEX_LEN + 1];
    fk_manifest_hash(canonical, hash);
    char *after = s_dump(canonical);
    cr_expect_str_eq(after, before);
    free(before);
    free(after);
    json_decref(canonical);
}
