/*  test_fk_service - fk_service_parse / fk_service_load through the public
    header only. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "fk_err.h"
#include "fk_mem.h"
#include "fk_service.h"

TestSuite(fk_service);

/*  The example from architecture.md, "A service definition". */
static const char *const s_example = "id: rekuest-1\n"
                                     "service: live.arkitekt.rekuest\n"
                                     "aliases:\n"
                                     "  - host: 10.0.0.5\n"
                                     "    port: 8090\n"
                                     "    path: rekuest\n"
                                     "    ssl: false\n"
                                     "    challenge: ht\n"
                                     "tags: [cuda]\n"
                                     "meta: {gpu: \"A100\"}\n";

static const char *const s_example_canonical =
    "{\"id\":\"rekuest-1\",\"service\":\"live.arkitekt.rekuest\",\"aliases\":[{\"id\":"
    "\"rekuest-1-0\",\"host\":\"10.0.0.5\",\"port\":8090,\"path\":\"rekuest\",\"ssl\":false,"
    "\"challenge\":\"ht\",\"public\":false,\"kind\":\"absolute\"}],\"tags\":[\"cuda\"],"
    "\"meta\":{\"gpu\":\"A100\"},\"challenge_key\":null}";

/*  A valid definition header that tests append one alias body to. */
#define S_HEAD "id: svc\nservice: live.arkitekt.rekuest\n"

/*  Load text, expect success, return the compact canonical JSON. */
static char *
s_canonical(const char *text)
{
    json_t *canonical = NULL;
    char err[256] = "";
    int rc = fk_service_load(text, strlen(text), &canonical, err, sizeof err);
    cr_assert_eq(rc, 0, "load of [%s] failed: %s (%s)", text, fk_err_name(rc), err);
    cr_assert_not_null(canonical);
    char *dump = json_dumps(canonical, JSON_COMPACT);
    cr_assert_not_null(dump);
    json_decref(canonical);
    return dump;
}

static void
s_expect_error(const char *text, int code, const char *message)
{
    json_t *canonical = json_true(); /* a sentinel the call must clear */
    char err[512] = "";
    int rc = fk_service_load(text, strlen(text), &canonical, err, sizeof err);
    cr_assert_eq(rc, code, "for [%s]: got %s (%s)", text, fk_err_name(rc), err);
    cr_assert_null(canonical, "output must be NULL on failure");
    cr_expect_str_eq(err, message, "got [%s] for [%.40s]", err, text);
}

Test(fk_service, architecture_example_gives_the_canonical_json)
{
    char *dump = s_canonical(s_example);
    cr_expect_str_eq(dump, s_example_canonical);
    free(dump);
}

Test(fk_service, json_text_gives_the_same_canonical_form_as_yaml)
{
    const char *json =
        "{\"meta\": {\"gpu\": \"A100\"}, \"tags\": [\"cuda\"],"
        " \"aliases\": [{\"challenge\": \"ht\", \"ssl\": false, \"path\": \"rekuest\","
        " \"port\": 8090, \"host\": \"10.0.0.5\"}],"
        " \"service\": \"live.arkitekt.rekuest\", \"id\": \"rekuest-1\"}";
    char *dump = s_canonical(json);
    cr_expect_str_eq(dump, s_example_canonical);
    free(dump);
}

Test(fk_service, parse_accepts_an_already_parsed_value)
{
    json_t *def =
        json_pack("{s:s, s:s, s:[{s:s}]}", "id", "a1", "service", "x.y", "aliases", "host", "h");
    cr_assert_not_null(def);
    json_t *canonical = NULL;
    cr_assert_eq(fk_service_parse(def, &canonical, NULL, 0), 0);
    char *dump = json_dumps(canonical, JSON_COMPACT);
    cr_expect_str_eq(dump, "{\"id\":\"a1\",\"service\":\"x.y\",\"aliases\":[{\"id\":\"a1-0\","
                           "\"host\":\"h\",\"port\":null,\"path\":null,\"ssl\":false,"
                           "\"challenge\":\"ht\",\"public\":false,\"kind\":\"absolute\"}],"
                           "\"tags\":[],\"meta\":{},\"challenge_key\":null}");
    /*  The input is borrowed, never changed. */
    cr_expect_eq(json_object_size(def), 3);
    free(dump);
    json_decref(canonical);
    json_decref(def);
}

Test(fk_service, every_field_given_is_carried_over)
{
    char *dump = s_canonical(S_HEAD "aliases:\n"
                                    "  - {host: a.example, port: 443, path: /api/v1, ssl: true,"
                                    " challenge: probe, id: main, public: true, kind: mesh}\n"
                                    "  - {host: b.example, port: 0, kind: docker}\n"
                                    "tags: [gpu, cuda]\n"
                                    "challenge_key: {kind: ed25519, key: AAAA}\n");
    cr_expect_str_eq(dump,
                     "{\"id\":\"svc\",\"service\":\"live.arkitekt.rekuest\",\"aliases\":["
                     "{\"id\":\"main\",\"host\":\"a.example\",\"port\":443,\"path\":\"api/v1\","
                     "\"ssl\":true,\"challenge\":\"probe\",\"public\":true,\"kind\":\"mesh\"},"
                     "{\"id\":\"svc-1\",\"host\":\"b.example\",\"port\":0,\"path\":null,"
                     "\"ssl\":false,\"challenge\":\"ht\",\"public\":false,\"kind\":\"docker\"}],"
                     "\"tags\":[\"gpu\",\"cuda\"],\"meta\":{},"
                     "\"challenge_key\":{\"kind\":\"ed25519\",\"key\":\"AAAA\"}}");
    free(dump);
}

Test(fk_service, null_means_the_default_for_optional_fields)
{
    char *dump = s_canonical(S_HEAD "aliases:\n"
                                    "  - {host: h, port: null, path: ~, ssl: null, challenge: null,"
                                    " id: null, public: null, kind: null}\n"
                                    "tags: null\nmeta: null\nchallenge_key: null\n");
    cr_expect_str_eq(dump, "{\"id\":\"svc\",\"service\":\"live.arkitekt.rekuest\",\"aliases\":["
                           "{\"id\":\"svc-0\",\"host\":\"h\",\"port\":null,\"path\":null,"
                           "\"ssl\":false,\"challenge\":\"ht\",\"public\":false,"
                           "\"kind\":\"absolute\"}],\"tags\":[],\"meta\":{},"
                           "\"challenge_key\":null}");
    free(dump);
}

Test(fk_service, leading_slashes_are_stripped_from_the_path)
{
    char *dump = s_canonical(S_HEAD "aliases: [{host: h, path: //lok/x}, {host: h, path: /},"
                                    " {host: h, path: ''}]\n");
    cr_expect(strstr(dump, "\"path\":\"lok/x\"") != NULL, "%s", dump);
    /*  Nothing left after stripping, or empty from the start: null. */
    cr_expect(strstr(dump, "{\"id\":\"svc-1\",\"host\":\"h\",\"port\":null,\"path\":null") != NULL,
              "%s", dump);
    cr_expect(strstr(dump, "{\"id\":\"svc-2\",\"host\":\"h\",\"port\":null,\"path\":null") != NULL,
              "%s", dump);
    free(dump);
}

Test(fk_service, output_is_byte_identical_whatever_the_input_order)
{
    char *a = s_canonical("meta: {z: '1', a: '2', m: '3'}\ntags: [t]\n"
                          "aliases: [{kind: mesh, host: h, port: 1}]\n"
                          "service: a.b\nid: x\n");
    char *b = s_canonical("id: x\nservice: a.b\n"
                          "aliases:\n  - port: 1\n    host: h\n    kind: mesh\n"
                          "tags: [t]\nmeta:\n  m: '3'\n  a: '2'\n  z: '1'\n");
    cr_expect_str_eq(a, b);
    /*  meta keys come out sorted. */
    cr_expect(strstr(a, "\"meta\":{\"a\":\"2\",\"m\":\"3\",\"z\":\"1\"}") != NULL, "%s", a);
    free(a);
    free(b);
}

Test(fk_service, the_canonical_form_is_a_fixed_point)
{
    char *first = s_canonical(s_example);
    char *second = s_canonical(first);
    cr_expect_str_eq(first, second);
    free(first);
    free(second);
}

Test(fk_service, a_missing_required_field_is_named)
{
    s_expect_error("service: a.b\naliases: [{host: h}]\n", FK_EINVAL_INPUT, "id: required");
    s_expect_error("id: x\naliases: [{host: h}]\n", FK_EINVAL_INPUT, "service: required");
    s_expect_error("id: x\nservice: a.b\n", FK_EINVAL_INPUT, "aliases: required");
    s_expect_error(S_HEAD "aliases: [{port: 1}]\n", FK_EINVAL_INPUT, "aliases[0].host: required");
    s_expect_error(S_HEAD "aliases: [{host: h}]\nchallenge_key: {kind: ed25519}\n", FK_EINVAL_INPUT,
                   "challenge_key.key: required");
}

Test(fk_service, unknown_fields_are_errors_naming_the_key)
{
    s_expect_error(S_HEAD "alias: [{host: h}]\n", FK_EINVAL_INPUT,
                   "alias: unknown field (expected one of: id, service, aliases, tags, meta, "
                   "challenge_key, checks, deregister_critical_after)");
    s_expect_error(S_HEAD "aliases: [{host: h, prot: 80}]\n", FK_EINVAL_INPUT,
                   "aliases[0].prot: unknown field (expected one of: id, host, port, path, ssl, "
                   "challenge, public, kind)");
    s_expect_error(S_HEAD "aliases: [{host: h}]\nchallenge_key: {kind: a, key: b, alg: c}\n",
                   FK_EINVAL_INPUT,
                   "challenge_key.alg: unknown field (expected one of: kind, key)");
}

Test(fk_service, the_definition_must_be_an_object)
{
    s_expect_error("- id: x\n", FK_EINVAL_INPUT, "definition: must be an object, got an array");
    s_expect_error("", FK_EINVAL_INPUT, "definition: must be an object, got null");
    s_expect_error("just text", FK_EINVAL_INPUT, "definition: must be an object, got a string");
}

Test(fk_service, an_invalid_id_is_named)
{
    const char *reason = "id: must be 1 to 128 characters of [A-Za-z0-9._-] starting with a "
                         "letter or digit";
    s_expect_error("id: -x\nservice: a.b\naliases: [{host: h}]\n", FK_EINVAL_INPUT, reason);
    s_expect_error("id: 'a b'\nservice: a.b\naliases: [{host: h}]\n", FK_EINVAL_INPUT, reason);
    s_expect_error("id: ''\nservice: a.b\naliases: [{host: h}]\n", FK_EINVAL_INPUT, reason);
    char text[400];
    snprintf(text, sizeof text, "id: 'a%0128d'\nservice: a.b\naliases: [{host: h}]\n", 0);
    s_expect_error(text, FK_EINVAL_INPUT, reason);
    snprintf(text, sizeof text, "id: a%0127d\nservice: a.b\naliases: [{host: h}]\n", 0);
    json_t *ok = NULL;
    cr_expect_eq(fk_service_load(text, strlen(text), &ok, NULL, 0), 0, "128 characters are fine");
    json_decref(ok);
    s_expect_error("id: 12\nservice: a.b\naliases: [{host: h}]\n", FK_EINVAL_INPUT,
                   "id: must be a string, got an integer");
}

Test(fk_service, an_invalid_service_name_is_named)
{
    const char *reason = "service: must be a reverse-domain identifier such as "
                         "live.arkitekt.rekuest (1 to 255 characters of [A-Za-z0-9._-])";
    const char *names[] = {"rekuest",       "live..rekuest",    ".live.rekuest",
                           "live.rekuest.", "'live.ark itekt'", "live/arkitekt"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char text[200];
        snprintf(text, sizeof text, "id: x\nservice: %s\naliases: [{host: h}]\n", names[i]);
        s_expect_error(text, FK_EINVAL_INPUT, reason);
    }
}

Test(fk_service, an_invalid_alias_list_is_named)
{
    s_expect_error(S_HEAD "aliases: []\n", FK_EINVAL_INPUT,
                   "aliases: must be an array of 1 to 32 aliases, got 0");
    s_expect_error(S_HEAD "aliases: {host: h}\n", FK_EINVAL_INPUT,
                   "aliases: must be an array of 1 to 32 aliases, got an object");
    s_expect_error(S_HEAD "aliases: [h]\n", FK_EINVAL_INPUT,
                   "aliases[0]: must be an object, got a string");
    char text[2048];
    size_t n = (size_t)snprintf(text, sizeof text, S_HEAD "aliases:\n");
    for (int i = 0; i < 33; i++) {
        n += (size_t)snprintf(text + n, sizeof text - n, "  - host: h%d\n", i);
    }
    s_expect_error(text, FK_EINVAL_INPUT, "aliases: must be an array of 1 to 32 aliases, got 33");
}

Test(fk_service, an_invalid_host_is_named)
{
    s_expect_error(S_HEAD "aliases: [{host: ''}]\n", FK_EINVAL_INPUT,
                   "aliases[0].host: must not be empty");
    s_expect_error(S_HEAD "aliases: [{host: 'a b'}]\n", FK_EINVAL_INPUT,
                   "aliases[0].host: must not contain whitespace");
    s_expect_error(S_HEAD "aliases: [{host: h}, {host: 'h/x'}]\n", FK_EINVAL_INPUT,
                   "aliases[1].host: must not contain '/'");
    s_expect_error(S_HEAD "aliases: [{host: \"h\\r\\nX-Evil: 1\"}]\n", FK_EINVAL_INPUT,
                   "aliases[0].host: must not contain control characters");
    s_expect_error(S_HEAD "aliases: [{host: 10}]\n", FK_EINVAL_INPUT,
                   "aliases[0].host: must be a string, got an integer");
    char text[600];
    /*  254 characters; quoted, or YAML would read the digits as a number. */
    snprintf(text, sizeof text, S_HEAD "aliases: [{host: 'h%0253d'}]\n", 0);
    s_expect_error(text, FK_EINVAL_INPUT, "aliases[0].host: must be 1 to 253 characters long");
}

Test(fk_service, a_port_must_be_an_integer_in_range_and_strings_are_not_coerced)
{
    const char *reason = "aliases[0].port: must be an integer from 0 to 65535";
    s_expect_error(S_HEAD "aliases: [{host: h, port: \"8090\"}]\n", FK_EINVAL_INPUT,
                   "aliases[0].port: must be an integer from 0 to 65535, got a string");
    s_expect_error(S_HEAD "aliases: [{host: h, port: 65536}]\n", FK_EINVAL_INPUT, reason);
    s_expect_error(S_HEAD "aliases: [{host: h, port: -1}]\n", FK_EINVAL_INPUT, reason);
    s_expect_error(S_HEAD "aliases: [{host: h, port: 80.0}]\n", FK_EINVAL_INPUT,
                   "aliases[0].port: must be an integer from 0 to 65535, got a real number");
    char *dump = s_canonical(S_HEAD "aliases: [{host: h, port: 65535}]\n");
    cr_expect(strstr(dump, "\"port\":65535") != NULL, "%s", dump);
    free(dump);
}

Test(fk_service, yaml_11_booleans_are_strings_and_rejected_with_a_hint)
{
    s_expect_error(S_HEAD "aliases: [{host: h, ssl: yes}]\n", FK_EINVAL_INPUT,
                   "aliases[0].ssl: must be true or false, got the string \"yes\" (YAML 1.2 "
                   "reads yes/no/on/off as strings)");
    s_expect_error(S_HEAD "aliases: [{host: h, public: Off}]\n", FK_EINVAL_INPUT,
                   "aliases[0].public: must be true or false, got the string \"off\" (YAML 1.2 "
                   "reads yes/no/on/off as strings)");
    s_expect_error(S_HEAD "aliases: [{host: h, ssl: 1}]\n", FK_EINVAL_INPUT,
                   "aliases[0].ssl: must be true or false, got an integer");
    char *dump = s_canonical(S_HEAD "aliases: [{host: h, ssl: True}]\n");
    cr_expect(strstr(dump, "\"ssl\":true") != NULL, "%s", dump);
    free(dump);
}

Test(fk_service, invalid_path_challenge_and_kind_are_named)
{
    s_expect_error(S_HEAD "aliases: [{host: h, path: 'a b'}]\n", FK_EINVAL_INPUT,
                   "aliases[0].path: must not contain whitespace");
    s_expect_error(S_HEAD "aliases: [{host: h, path: 5}]\n", FK_EINVAL_INPUT,
                   "aliases[0].path: must be a string, got an integer");
    s_expect_error(S_HEAD "aliases: [{host: h, challenge: [x]}]\n", FK_EINVAL_INPUT,
                   "aliases[0].challenge: must be a string, got an array");
    s_expect_error(S_HEAD "aliases: [{host: h, kind: relative}]\n", FK_EINVAL_INPUT,
                   "aliases[0].kind: must be one of absolute, mesh, docker");
    s_expect_error(S_HEAD "aliases: [{host: h, kind: \"mesh\\0\"}]\n", FK_EINVAL_INPUT,
                   "aliases[0].kind: must be one of absolute, mesh, docker");
}

Test(fk_service, alias_ids_are_validated_and_unique)
{
    s_expect_error(S_HEAD "aliases: [{host: h, id: a}, {host: h, id: a}]\n", FK_EINVAL_INPUT,
                   "aliases[1].id: duplicate alias id \"a\"");
    /*  A default id may collide with an explicit one, and that is caught too. */
    s_expect_error(S_HEAD "aliases: [{host: h, id: svc-1}, {host: h}]\n", FK_EINVAL_INPUT,
                   "aliases[1].id: duplicate alias id \"svc-1\"");
    s_expect_error(S_HEAD "aliases: [{host: h, id: '/x'}]\n", FK_EINVAL_INPUT,
                   "aliases[0].id: must be 1 to 160 characters of [A-Za-z0-9._-] starting with "
                   "a letter or digit");
}

Test(fk_service, invalid_tags_are_named)
{
    s_expect_error(S_HEAD "aliases: [{host: h}]\ntags: [a, b, a]\n", FK_EINVAL_INPUT,
                   "tags[2]: duplicate tag \"a\"");
    s_expect_error(S_HEAD "aliases: [{host: h}]\ntags: [a, '']\n", FK_EINVAL_INPUT,
                   "tags[1]: must not be empty");
    s_expect_error(S_HEAD "aliases: [{host: h}]\ntags: [a, 3]\n", FK_EINVAL_INPUT,
                   "tags[1]: must be a string, got an integer");
    s_expect_error(S_HEAD "aliases: [{host: h}]\ntags: cuda\n", FK_EINVAL_INPUT,
                   "tags: must be an array of at most 64 strings, got a string");
    char text[2048];
    size_t n = (size_t)snprintf(text, sizeof text, S_HEAD "aliases: [{host: h}]\ntags: [");
    for (int i = 0; i < 65; i++) {
        n += (size_t)snprintf(text + n, sizeof text - n, "%st%d", i ? ", " : "", i);
    }
    snprintf(text + n, sizeof text - n, "]\n");
    s_expect_error(text, FK_EINVAL_INPUT, "tags: must be an array of at most 64 strings, got 65");
}

Test(fk_service, invalid_meta_is_named)
{
    s_expect_error(S_HEAD "aliases: [{host: h}]\nmeta: {cores: 8}\n", FK_EINVAL_INPUT,
                   "meta.cores: must be a string, got an integer (quote it in YAML)");
    s_expect_error(S_HEAD "aliases: [{host: h}]\nmeta: {gpu: [a]}\n", FK_EINVAL_INPUT,
                   "meta.gpu: must be a string, got an array");
    s_expect_error(S_HEAD "aliases: [{host: h}]\nmeta: [a]\n", FK_EINVAL_INPUT,
                   "meta: must be an object of at most 64 strings, got an array");
    s_expect_error(S_HEAD "aliases: [{host: h}]\nmeta: {'': x}\n", FK_EINVAL_INPUT,
                   "meta.: key must be 1 to 128 characters long");
    char *text = fk_malloc(4096);
    size_t n = (size_t)snprintf(text, 4096, S_HEAD "aliases: [{host: h}]\nmeta: {k: '");
    memset(text + n, 'v', 1025);
    snprintf(text + n + 1025, 4096 - n - 1025, "'}\n");
    s_expect_error(text, FK_EINVAL_INPUT, "meta.k: must be 0 to 1024 characters long");
    n = (size_t)snprintf(text, 4096, S_HEAD "aliases: [{host: h}]\nmeta: {");
    for (int i = 0; i < 65; i++) {
        n += (size_t)snprintf(text + n, 4096 - n, "%sk%d: v", i ? ", " : "", i);
    }
    snprintf(text + n, 4096 - n, "}\n");
    s_expect_error(text, FK_EINVAL_INPUT,
                   "meta: must be an object of at most 64 strings, got 65 entries");
    free(text);
}

Test(fk_service, lengths_count_characters_not_bytes)
{
    /*  1024 two-byte characters are 2048 bytes, and still allowed. */
    char *text = fk_malloc(4096);
    size_t n = (size_t)snprintf(text, 4096, S_HEAD "aliases: [{host: h}]\nmeta: {k: '");
    for (int i = 0; i < 1024; i++) {
        text[n++] = '\xc3';
        text[n++] = '\xa9';
    }
    snprintf(text + n, 4096 - n, "'}\n");
    json_t *canonical = NULL;
    char err[256] = "";
    cr_expect_eq(fk_service_load(text, strlen(text), &canonical, err, sizeof err), 0, "%s", err);
    json_decref(canonical);
    free(text);
}

Test(fk_service, an_invalid_challenge_key_is_named)
{
    s_expect_error(S_HEAD "aliases: [{host: h}]\nchallenge_key: ed25519\n", FK_EINVAL_INPUT,
                   "challenge_key: must be null or an object {kind, key}, got a string");
    s_expect_error(S_HEAD "aliases: [{host: h}]\nchallenge_key: {kind: '', key: k}\n",
                   FK_EINVAL_INPUT, "challenge_key.kind: must not be empty");
    s_expect_error(S_HEAD "aliases: [{host: h}]\nchallenge_key: {kind: a, key: 1}\n",
                   FK_EINVAL_INPUT, "challenge_key.key: must be a string, got an integer");
}

Test(fk_service, yaml_errors_pass_through_with_their_position)
{
    s_expect_error("id: x\nid: y\n", FK_EINVAL_INPUT,
                   "line 2, column 1: duplicate mapping key \"id\"");
    s_expect_error("id: x\n  service: y\n", FK_EINVAL_INPUT,
                   "line 2, column 10: mapping values are not allowed in this context");
    s_expect_error(s_example_canonical + 1, FK_EINVAL_INPUT,
                   "line 1, column 5: did not find expected <document start>");
    s_expect_error("id: x\n---\nid: y\n", FK_EINVAL_INPUT,
                   "line 2, column 1: more than one YAML document; expected exactly one");
}

Test(fk_service, an_alias_bomb_is_rejected_before_validation)
{
    const char *bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
                       "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                       "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
                       "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
                       "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
                       "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n";
    json_t *canonical = NULL;
    char err[256] = "";
    cr_expect_eq(fk_service_load(bomb, strlen(bomb), &canonical, err, sizeof err), FK_ETOOBIG);
    cr_expect_null(canonical);
    cr_expect(strstr(err, "more than 100000 nodes") != NULL, "err: %s", err);
}

Test(fk_service, text_over_64_kib_is_too_big)
{
    size_t len = FK_SERVICE_MAX_BYTES + 1;
    char *text = fk_malloc(len);
    memset(text, ' ', len);
    json_t *canonical = json_true();
    char err[256] = "";
    cr_expect_eq(fk_service_load(text, len, &canonical, err, sizeof err), FK_ETOOBIG);
    cr_expect_null(canonical);
    cr_expect_str_eq(err, "definition: 65537 bytes is more than the limit of 65536");
    /*  Exactly the limit is read (and here judged as an empty document). */
    cr_expect_eq(fk_service_load(text, len - 1, &canonical, err, sizeof err), FK_EINVAL_INPUT);
    cr_expect_str_eq(err, "definition: must be an object, got null");
    free(text);
}

Test(fk_service, control_characters_are_refused_everywhere)
{
    s_expect_error(S_HEAD "aliases: [{host: h}]\nmeta: {k: \"a\\x1bb\"}\n", FK_EINVAL_INPUT,
                   "meta.k: must not contain control characters");
    s_expect_error(S_HEAD "aliases: [{host: h}]\ntags: [\"a\\u0085\"]\n", FK_EINVAL_INPUT,
                   "tags[0]: must not contain control characters");
    /*  The key is shown with the control character masked. */
    s_expect_error(S_HEAD "aliases: [{host: h}]\nmeta: {\"a\\nb\": x}\n", FK_EINVAL_INPUT,
                   "meta.a?b: key must not contain control characters");
}

Test(fk_service, a_canonical_form_over_64_kib_is_too_big)
{
    /*  Under 2 KiB of YAML, but 64 aliases of a 1024-character value. */
    char *text = fk_malloc(4096);
    size_t n = (size_t)snprintf(text, 4096, S_HEAD "aliases: [{host: h}]\nmeta: {k0: &v '");
    memset(text + n, 'v', 1024);
    n += 1024;
    n += (size_t)snprintf(text + n, 4096 - n, "'");
    for (int i = 1; i < 64; i++) {
        n += (size_t)snprintf(text + n, 4096 - n, ", k%d: *v", i);
    }
    snprintf(text + n, 4096 - n, "}\n");
    json_t *canonical = json_true();
    char err[256] = "";
    cr_expect_eq(fk_service_load(text, strlen(text), &canonical, err, sizeof err), FK_ETOOBIG, "%s",
                 err);
    cr_expect_null(canonical);
    cr_expect(strncmp(err, "definition: canonical form is ", 30) == 0, "err: %s", err);
    free(text);
}

/*  ---------------------------------------------------------------------
    Health checks (fk_health.h): every field, durations, bad input.
    --------------------------------------------------------------------- */

#define S_ALIAS "aliases: [{host: h}]\n"

Test(fk_service, checks_of_every_kind_get_their_canonical_form)
{
    char *dump = s_canonical(S_HEAD S_ALIAS "checks:\n"
                                            "  - ttl: 30s\n"
                                            "  - http: http://127.0.0.1:8090/ht\n"
                                            "    interval: 10s\n"
                                            "    timeout: 2s\n"
                                            "  - tcp: 127.0.0.1:8090\n"
                                            "    interval: 1500ms\n"
                                            "    deregister_critical_after: 1m30s\n"
                                            "deregister_critical_after: 10m\n");
    cr_expect(strstr(dump, ",\"checks\":[{\"ttl\":\"30s\",\"deregister_critical_after\":null},"
                           "{\"http\":\"http://127.0.0.1:8090/ht\",\"interval\":\"10s\","
                           "\"timeout\":\"2s\",\"deregister_critical_after\":null},"
                           "{\"tcp\":\"127.0.0.1:8090\",\"interval\":\"1500ms\","
                           "\"timeout\":\"1500ms\",\"deregister_critical_after\":\"90s\"}],"
                           "\"deregister_critical_after\":\"10m\"}")
                  != NULL,
              "%s", dump);
    /*  The canonical form is a fixed point. */
    char *again = s_canonical(dump);
    cr_expect_str_eq(again, dump);
    free(again);
    free(dump);
}

Test(fk_service, http_and_tcp_checks_default_to_10s_and_2s)
{
    char *dump = s_canonical(S_HEAD S_ALIAS "checks: [{http: https://svc.example/health}]\n");
    cr_expect(strstr(dump, "\"interval\":\"10s\",\"timeout\":\"2s\"") != NULL, "%s", dump);
    free(dump);
}

Test(fk_service, no_checks_keeps_the_old_canonical_form)
{
    char *plain = s_canonical(S_HEAD S_ALIAS);
    char *empty = s_canonical(S_HEAD S_ALIAS "checks: []\n");
    char *null = s_canonical(S_HEAD S_ALIAS "checks: null\n");
    cr_expect_null(strstr(plain, "checks"));
    cr_expect_str_eq(empty, plain);
    cr_expect_str_eq(null, plain);
    free(plain);
    free(empty);
    free(null);
}

Test(fk_service, durations_are_consul_strings_in_their_largest_exact_unit)
{
    static const struct {
        const char *in;
        const char *out;
    } cases[] = {{"500ms", "500ms"}, {"2s", "2s"},    {"120s", "2m"},   {"1h", "1h"},
                 {"1.5s", "1500ms"}, {"0.5m", "30s"}, {"1h30m", "90m"}, {"90m", "90m"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[256];
        snprintf(text, sizeof text, S_HEAD S_ALIAS "checks: [{ttl: \"%s\"}]\n", cases[i].in);
        char *dump = s_canonical(text);
        char want[64];
        snprintf(want, sizeof want, "{\"ttl\":\"%s\"", cases[i].out);
        cr_expect(strstr(dump, want) != NULL, "%s -> %s", cases[i].in, dump);
        free(dump);
    }
}

Test(fk_service, bad_checks_are_named_with_a_reason)
{
    s_expect_error(S_HEAD S_ALIAS "checks: [{ttl: 30}]\n", FK_EINVAL_INPUT,
                   "checks[0].ttl: must be a duration such as \"500ms\", \"30s\" or \"10m\", got "
                   "an integer");
    s_expect_error(S_HEAD S_ALIAS "checks: [{ttl: 30x}]\n", FK_EINVAL_INPUT,
                   "checks[0].ttl: \"30x\" is not a duration (a number and a unit ms, s, m or h, "
                   "such as \"500ms\", \"30s\", \"10m\", \"1m30s\")");
    s_expect_error(S_HEAD S_ALIAS "checks: [{ttl: \"-5s\"}]\n", FK_EINVAL_INPUT,
                   "checks[0].ttl: \"-5s\" is not a duration (a number and a unit ms, s, m or h, "
                   "such as \"500ms\", \"30s\", \"10m\", \"1m30s\")");
    s_expect_error(S_HEAD S_ALIAS "checks: [{ttl: 50ms}]\n", FK_EINVAL_INPUT,
                   "checks[0].ttl: must be from 100ms to 168h");
    s_expect_error(S_HEAD S_ALIAS "checks: [{script: /bin/true}]\n", FK_EINVAL_INPUT,
                   "checks[0].script: unknown field (expected one of: http, tcp, ttl, interval, "
                   "timeout, deregister_critical_after)");
    s_expect_error(S_HEAD S_ALIAS "checks: [{interval: 10s}]\n", FK_EINVAL_INPUT,
                   "checks[0]: needs one of http, tcp or ttl (script checks do not exist: a "
                   "definition must not run code on the node)");
    s_expect_error(S_HEAD S_ALIAS "checks: [{ttl: 1s, tcp: \"h:1\"}]\n", FK_EINVAL_INPUT,
                   "checks[0]: has both tcp and ttl (one kind per check)");
    s_expect_error(S_HEAD S_ALIAS "checks: [{ttl: 1s, interval: 1s}]\n", FK_EINVAL_INPUT,
                   "checks[0].interval: only for http and tcp checks");
    s_expect_error(S_HEAD S_ALIAS "checks: [{http: \"file:///etc/passwd\"}]\n", FK_EINVAL_INPUT,
                   "checks[0].http: must be an http:// or https:// URL with a host");
    s_expect_error(S_HEAD S_ALIAS "checks: [{http: \"http:///x\"}]\n", FK_EINVAL_INPUT,
                   "checks[0].http: must be an http:// or https:// URL with a host");
    s_expect_error(S_HEAD S_ALIAS "checks: [{tcp: \"127.0.0.1\"}]\n", FK_EINVAL_INPUT,
                   "checks[0].tcp: must be host:port with a port from 1 to 65535");
    s_expect_error(S_HEAD S_ALIAS "checks: [{tcp: \"h:70000\"}]\n", FK_EINVAL_INPUT,
                   "checks[0].tcp: must be host:port with a port from 1 to 65535");
    s_expect_error(S_HEAD S_ALIAS "checks: [{tcp: \"h:1\", interval: 1s, timeout: 2s}]\n",
                   FK_EINVAL_INPUT, "checks[0].timeout: must not be longer than the interval");
    s_expect_error(S_HEAD S_ALIAS "checks: [{tcp: \"h:1\", interval: 50ms}]\n", FK_EINVAL_INPUT,
                   "checks[0].interval: must be from 100ms to 24h");
    s_expect_error(S_HEAD S_ALIAS "checks: [{ttl: 1s, deregister_critical_after: 1ms}]\n",
                   FK_EINVAL_INPUT, "checks[0].deregister_critical_after: must be from 100ms to 720h");
    s_expect_error(S_HEAD S_ALIAS "checks: {ttl: 1s}\n", FK_EINVAL_INPUT,
                   "checks: must be an array of at most 8 checks, got an object");
    s_expect_error(S_HEAD S_ALIAS "checks: [{ttl: 1s},{ttl: 1s},{ttl: 1s},{ttl: 1s},{ttl: 1s},"
                                  "{ttl: 1s},{ttl: 1s},{ttl: 1s},{ttl: 1s}]\n",
                   FK_EINVAL_INPUT, "checks: must be an array of at most 8 checks, got 9");
    s_expect_error(S_HEAD S_ALIAS "deregister_critical_after: 10m\n", FK_EINVAL_INPUT,
                   "deregister_critical_after: needs checks (it counts how long they are "
                   "critical)");
    s_expect_error(S_HEAD S_ALIAS "checks: [{ttl: 1s}]\nderegister_critical_after: soon\n",
                   FK_EINVAL_INPUT,
                   "deregister_critical_after: \"soon\" is not a duration (a number and a unit "
                   "ms, s, m or h, such as \"500ms\", \"30s\", \"10m\", \"1m30s\")");
}
