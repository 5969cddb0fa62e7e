/*  test_fk_compose - composition of manifests against live instances
    (fakts-protocol.md section 3): statuses, the instance chosen, and the
    determinism every node relies on to render the same configuration. */

#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "fk_compose.h"
#include "fk_err.h"
#include "fk_manifest.h"

TestSuite(fk_compose);

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

/*  A canonical manifest from raw manifest text. */
static json_t *
s_manifest(const char *text)
{
    json_t *raw = s_load(text);
    json_t *canonical = NULL;
    char err[256];
    cr_assert_eq(fk_manifest_parse(raw, &canonical, err, sizeof err), 0, "%s", err);
    json_decref(raw);
    return canonical;
}

/*  Compose, which must succeed, and return the result dumped. */
static char *
s_compose_ok(const json_t *manifest, const json_t *instances, const json_t *declined,
             unsigned flags)
{
    json_t *result = NULL;
    char err[256] = "untouched";
    int rc = fk_compose(manifest, instances, declined, flags, &result, err, sizeof err);
    cr_assert_eq(rc, 0, "compose failed: %s", err);
    cr_assert_not_null(result);
    cr_expect_str_eq(err, "");
    char *text = s_dump(result);
    json_decref(result);
    return text;
}

/*  Compose, which must fail with rc and message. */
static void
s_compose_fails(const json_t *manifest, const json_t *instances, const json_t *declined,
                unsigned flags, int expected_rc, const char *expected_err)
{
    json_t *result = json_null(); /* non-NULL, so the reset is observable */
    char err[256] = "";
    int rc = fk_compose(manifest, instances, declined, flags, &result, err, sizeof err);
    cr_expect_eq(rc, expected_rc, "rc %d, err '%s'", rc, err);
    cr_expect_null(result);
    cr_expect_str_eq(err, expected_err);
}

static const char *const s_rekuest_manifest =
    "{\"identifier\":\"app\",\"version\":\"1\",\"requirements\":["
    "{\"key\":\"rekuest\",\"service\":\"live.arkitekt.rekuest\",\"optional\":false},"
    "{\"key\":\"mikro\",\"service\":\"live.arkitekt.mikro\",\"optional\":true},"
    "{\"key\":\"kabinet\",\"service\":\"live.arkitekt.kabinet\",\"optional\":true}]}";

static const char *const s_registry =
    "[{\"id\":\"rekuest-1\",\"service\":\"live.arkitekt.rekuest\",\"aliases\":["
    "{\"id\":\"a1\",\"host\":\"10.0.0.5\",\"port\":8090,\"path\":\"rekuest\",\"ssl\":false,"
    "\"challenge\":\"ht\",\"public\":false,\"kind\":\"absolute\"},"
    "{\"id\":\"a2\",\"host\":\"100.64.0.9\",\"port\":null,\"path\":null,\"ssl\":true,"
    "\"challenge\":\"ht\",\"public\":true,\"kind\":\"mesh\"}],"
    "\"tags\":[\"cpu\"],\"meta\":{\"gpu\":\"none\"},"
    "\"challenge_key\":{\"kind\":\"ed25519\",\"key\":\"AAAA\"},\"node\":\"node-a\"},"
    "{\"id\":\"kabinet-1\",\"service\":\"live.arkitekt.kabinet\",\"aliases\":["
    "{\"id\":\"k1\",\"host\":\"10.0.0.6\",\"port\":80,\"path\":\"kabinet\",\"ssl\":false,"
    "\"challenge\":\"ht\",\"public\":false,\"kind\":null}],"
    "\"tags\":[],\"meta\":{},\"challenge_key\":null,\"node\":\"node-b\"}]";

Test(fk_compose, grants_required_and_reports_optional_unavailable)
{
    json_t *manifest = s_manifest(s_rekuest_manifest);
    json_t *instances = s_load(s_registry);
    char *text = s_compose_ok(manifest, instances, NULL, 0);
    cr_expect_str_eq(
        text,
        "{\"instances\":{"
        "\"rekuest\":{\"service\":\"live.arkitekt.rekuest\",\"identifier\":\"rekuest-1@node-a\","
        "\"aliases\":[{\"id\":\"a1\",\"host\":\"10.0.0.5\",\"port\":8090,\"path\":\"rekuest\","
        "\"ssl\":false,\"challenge\":\"ht\",\"public\":false,\"kind\":\"absolute\"},"
        "{\"id\":\"a2\",\"host\":\"100.64.0.9\",\"port\":null,\"path\":null,\"ssl\":true,"
        "\"challenge\":\"ht\",\"public\":true,\"kind\":\"mesh\"}],"
        "\"challenge_key\":{\"kind\":\"ed25519\",\"key\":\"AAAA\"}},"
        "\"kabinet\":{\"service\":\"live.arkitekt.kabinet\",\"identifier\":\"kabinet-1@node-b\","
        "\"aliases\":[{\"id\":\"k1\",\"host\":\"10.0.0.6\",\"port\":80,\"path\":\"kabinet\","
        "\"ssl\":false,\"challenge\":\"ht\",\"public\":false,\"kind\":null}]}},"
        "\"statuses\":{\"rekuest\":\"granted\",\"mikro\":\"unavailable\","
        "\"kabinet\":\"granted\"}}");
    free(text);
    json_decref(instances);
    json_decref(manifest);
}

Test(fk_compose, declined_optional_requirement_is_denied_and_not_granted)
{
    json_t *manifest = s_manifest(s_rekuest_manifest);
    json_t *instances = s_load(s_registry);
    json_t *declined = s_load("[\"kabinet\",\"mikro\"]");
    json_t *result = NULL;
    cr_assert_eq(fk_compose(manifest, instances, declined, 0, &result, NULL, 0), 0);
    const json_t *statuses = json_object_get(result, "statuses");
    cr_expect_str_eq(json_string_value(json_object_get(statuses, "kabinet")), "denied");
    cr_expect_str_eq(json_string_value(json_object_get(statuses, "mikro")), "denied");
    cr_expect_str_eq(json_string_value(json_object_get(statuses, "rekuest")), "granted");
    const json_t *granted = json_object_get(result, "instances");
    cr_expect_eq(json_object_size(granted), 1);
    cr_expect_null(json_object_get(granted, "kabinet"));
    json_decref(result);
    json_decref(declined);
    json_decref(instances);
    json_decref(manifest);
}

Test(fk_compose, required_requirement_without_instance_fails_naming_service)
{
    json_t *manifest = s_manifest(s_rekuest_manifest);
    json_t *instances = s_load("[]");
    s_compose_fails(manifest, instances, NULL, 0, FK_EUNAVAILABLE,
                    "requirement 'rekuest' needs service 'live.arkitekt.rekuest', "
                    "which has no live instance that is not critical");
    json_decref(instances);
    json_decref(manifest);
}

Test(fk_compose, preview_reports_missing_required_as_unavailable)
{
    json_t *manifest = s_manifest(s_rekuest_manifest);
    json_t *instances = s_load("[]");
    char *text = s_compose_ok(manifest, instances, NULL, FK_COMPOSE_PREVIEW);
    cr_expect_str_eq(text, "{\"instances\":{},\"statuses\":{\"rekuest\":\"unavailable\","
                           "\"mikro\":\"unavailable\",\"kabinet\":\"unavailable\"}}");
    free(text);
    json_decref(instances);
    json_decref(manifest);
}

Test(fk_compose, refuses_to_decline_required_or_unknown_requirement)
{
    json_t *manifest = s_manifest(s_rekuest_manifest);
    json_t *instances = s_load(s_registry);
    json_t *declined = s_load("[\"mikro\",\"rekuest\"]");
    s_compose_fails(manifest, instances, declined, 0, FK_EINVAL_INPUT,
                    "cannot decline required requirement 'rekuest'");
    /*  Preview does not relax it: the approval page must not offer it. */
    s_compose_fails(manifest, instances, declined, FK_COMPOSE_PREVIEW, FK_EINVAL_INPUT,
                    "cannot decline required requirement 'rekuest'");
    json_decref(declined);
    declined = s_load("[\"fluss\"]");
    s_compose_fails(manifest, instances, declined, 0, FK_EINVAL_INPUT,
                    "unknown requirement 'fluss'");
    json_decref(declined);
    declined = s_load("[3]");
    s_compose_fails(manifest, instances, declined, 0, FK_EINVAL_INPUT,
                    "declined[0]: must be a string");
    json_decref(declined);
    json_decref(instances);
    json_decref(manifest);
}

Test(fk_compose, bare_string_requirement_matches_tagged_instance)
{
    json_t *manifest = s_manifest("{\"identifier\":\"seed\",\"version\":\"1\","
                                  "\"requirements\":[\"cuda\"]}");
    json_t *instances =
        s_load("[{\"id\":\"gpu-1\",\"service\":\"live.arkitekt.rekuest\",\"aliases\":[],"
               "\"tags\":[\"a100\",\"cuda\"],\"meta\":{},\"challenge_key\":null,"
               "\"node\":\"node-c\"},"
               "{\"id\":\"cpu-1\",\"service\":\"live.arkitekt.rekuest\",\"aliases\":[],"
               "\"tags\":[\"cpu\"],\"meta\":{},\"challenge_key\":null,\"node\":\"node-a\"}]");
    char *text = s_compose_ok(manifest, instances, NULL, 0);
    cr_expect_str_eq(text, "{\"instances\":{\"cuda\":{\"service\":\"live.arkitekt.rekuest\","
                           "\"identifier\":\"gpu-1@node-c\",\"aliases\":[]}},"
                           "\"statuses\":{\"cuda\":\"granted\"}}");
    free(text);
    json_decref(instances);
    json_decref(manifest);
}

Test(fk_compose, object_requirement_ignores_tags)
{
    json_t *manifest = s_manifest("{\"identifier\":\"a\",\"version\":\"1\",\"requirements\":["
                                  "{\"key\":\"cuda\",\"service\":\"cuda\",\"optional\":true}]}");
    json_t *instances =
        s_load("[{\"id\":\"gpu-1\",\"service\":\"live.arkitekt.rekuest\",\"aliases\":[],"
               "\"tags\":[\"cuda\"],\"meta\":{},\"challenge_key\":null,\"node\":\"node-c\"}]");
    char *text = s_compose_ok(manifest, instances, NULL, 0);
    cr_expect_str_eq(text, "{\"instances\":{},\"statuses\":{\"cuda\":\"unavailable\"}}");
    free(text);
    json_decref(instances);
    json_decref(manifest);
}

/*  Six instances, listed in every order: the rendered
    configuration must not change by a single byte. */
Test(fk_compose, result_is_independent_of_instance_order)
{
    static const char *const items[] = {
        "{\"id\":\"r-2\",\"service\":\"s\",\"aliases\":[{\"id\":\"x\",\"host\":\"h2\"}],"
        "\"tags\":[\"t\"],\"meta\":{},\"challenge_key\":null,\"node\":\"node-a\"}",
        "{\"id\":\"r-1\",\"service\":\"s\",\"aliases\":[{\"id\":\"x\",\"host\":\"h1b\"}],"
        "\"tags\":[],\"meta\":{},\"challenge_key\":null,\"node\":\"node-b\"}",
        "{\"id\":\"r-1\",\"service\":\"s\",\"aliases\":[{\"id\":\"x\",\"host\":\"h1a\"}],"
        "\"tags\":[],\"meta\":{},\"challenge_key\":null,\"node\":\"node-a\"}",
        "{\"id\":\"q-9\",\"service\":\"other\",\"aliases\":[],"
        "\"tags\":[\"t\"],\"meta\":{},\"challenge_key\":null,\"node\":\"node-z\"}",
        "{\"id\":\"r-3\",\"service\":\"s\",\"aliases\":[],"
        "\"tags\":[],\"meta\":{},\"challenge_key\":{\"kind\":\"ed25519\",\"key\":\"K\"},"
        "\"node\":\"node-0\"}",
        /*  The same (id, node) twice is a registry inconsistency; the pick must
            still not depend on which copy comes first. */
        "{\"id\":\"r-1\",\"service\":\"s\",\"aliases\":[{\"id\":\"x\",\"host\":\"h1z\"}],"
        "\"tags\":[],\"meta\":{},\"challenge_key\":null,\"node\":\"node-a\"}",
    };
    enum { N = sizeof items / sizeof items[0] };
    json_t *manifest = s_manifest("{\"identifier\":\"a\",\"version\":\"1\",\"requirements\":["
                                  "{\"key\":\"k\",\"service\":\"s\"},\"t\","
                                  "{\"key\":\"o\",\"service\":\"none\",\"optional\":true}]}");
    char *first = NULL;
    int perm[N] = {0, 1, 2, 3, 4, 5};
    int runs = 0;
    /*  Heap's algorithm over all 720 permutations. */
    int c[N] = {0};
    for (int i = 0;;) {
        json_t *instances = json_array();
        for (int j = 0; j < N; j++) {
            json_array_append_new(instances, s_load(items[perm[j]]));
        }
        char *text = s_compose_ok(manifest, instances, NULL, 0);
        json_decref(instances);
        runs++;
        if (!first) {
            first = text;
        } else {
            cr_expect_str_eq(text, first, "permutation %d differs", runs);
            free(text);
        }
        while (i < N && c[i] >= i) {
            c[i] = 0;
            i++;
        }
        if (i >= N) {
            break;
        }
        int k = (i % 2 == 0) ? 0 : c[i];
        int tmp = perm[k];
        perm[k] = perm[i];
        perm[i] = tmp;
        c[i]++;
        i = 0;
    }
    cr_expect_eq(runs, 720);
    /*  k: the smallest (id, node) is (r-1, node-a), of which the copy with the
        smaller sorted dump (host h1a) wins. t: no service t, but q-9 and r-2
        are tagged t, and "q-9" < "r-2". */
    cr_expect_str_eq(first,
                     "{\"instances\":{\"k\":{\"service\":\"s\",\"identifier\":\"r-1@node-a\","
                     "\"aliases\":[{\"id\":\"x\",\"host\":\"h1a\"}]},"
                     "\"t\":{\"service\":\"other\",\"identifier\":\"q-9@node-z\",\"aliases\":[]}},"
                     "\"statuses\":{\"k\":\"granted\",\"t\":\"granted\",\"o\":\"unavailable\"}}");
    free(first);
    json_decref(manifest);
}

Test(fk_compose, picks_smallest_id_then_node_in_byte_order)
{
    json_t *manifest = s_manifest("{\"identifier\":\"a\",\"version\":\"1\",\"requirements\":["
                                  "{\"key\":\"k\",\"service\":\"s\"}]}");
    /*  "B" (0x42) sorts before "a" (0x61) in byte order; "x" before "xa". */
    json_t *instances =
        s_load("[{\"id\":\"a\",\"service\":\"s\",\"aliases\":[],\"node\":\"n\"},"
               "{\"id\":\"B\",\"service\":\"s\",\"aliases\":[],\"node\":\"zz\"},"
               "{\"id\":\"B\",\"service\":\"s\",\"aliases\":[],\"node\":\"xa\"},"
               "{\"id\":\"B\",\"service\":\"s\",\"aliases\":[],\"node\":\"x\"},"
               "{\"id\":\"A\",\"service\":\"other\",\"aliases\":[],\"node\":\"a\"}]");
    json_t *result = NULL;
    cr_assert_eq(fk_compose(manifest, instances, NULL, 0, &result, NULL, 0), 0);
    const json_t *granted = json_object_get(json_object_get(result, "instances"), "k");
    cr_expect_str_eq(json_string_value(json_object_get(granted, "identifier")), "B@x");
    json_decref(result);
    json_decref(instances);
    json_decref(manifest);
}

Test(fk_compose, statuses_follow_requirement_order)
{
    json_t *manifest = s_manifest("{\"identifier\":\"a\",\"version\":\"1\",\"requirements\":["
                                  "{\"key\":\"z\",\"service\":\"s\",\"optional\":true},"
                                  "{\"key\":\"a\",\"service\":\"s\",\"optional\":true},"
                                  "{\"key\":\"m\",\"service\":\"t\",\"optional\":true}]}");
    json_t *instances = s_load("[{\"id\":\"1\",\"service\":\"s\",\"aliases\":[],\"node\":\"n\"}]");
    json_t *declined = s_load("[\"a\"]");
    char *text = s_compose_ok(manifest, instances, declined, 0);
    cr_expect_str_eq(text, "{\"instances\":{\"z\":{\"service\":\"s\",\"identifier\":\"1@n\","
                           "\"aliases\":[]}},\"statuses\":{\"z\":\"granted\",\"a\":\"denied\","
                           "\"m\":\"unavailable\"}}");
    free(text);
    json_decref(declined);
    json_decref(instances);
    json_decref(manifest);
}

Test(fk_compose, empty_requirements_compose_to_empty_objects)
{
    json_t *manifest = s_manifest("{\"identifier\":\"a\",\"version\":\"1\"}");
    json_t *instances = s_load(s_registry);
    char *text = s_compose_ok(manifest, instances, json_null(), 0);
    cr_expect_str_eq(text, "{\"instances\":{},\"statuses\":{}}");
    free(text);
    json_decref(instances);
    json_decref(manifest);
}

Test(fk_compose, names_malformed_arguments)
{
    json_t *manifest = s_manifest(s_rekuest_manifest);
    static const char *const cases[][2] = {
        {"{}", "instances: must be an array"},
        {"[1]", "instances[0]: must be an object"},
        {"[{\"service\":\"s\",\"aliases\":[],\"node\":\"n\"}]",
         "instances[0].id: must be a string"},
        {"[{\"id\":\"i\",\"service\":\"s\",\"aliases\":[]}]",
         "instances[0].node: must be a string"},
        {"[{\"id\":\"i\",\"service\":\"s\",\"node\":\"n\"}]",
         "instances[0].aliases: must be an array"},
        {"[{\"id\":\"i\",\"service\":\"s\",\"node\":\"n\",\"aliases\":[\"h\"]}]",
         "instances[0].aliases[0]: must be an object"},
        {"[{\"id\":\"i\",\"service\":\"s\",\"node\":\"n\",\"aliases\":[],\"tags\":\"t\"}]",
         "instances[0].tags: must be an array"},
        {"[{\"id\":\"i\",\"service\":\"s\",\"node\":\"n\",\"aliases\":[],"
         "\"challenge_key\":\"k\"}]",
         "instances[0].challenge_key: must be an object or null"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *instances = s_load(cases[i][0]);
        s_compose_fails(manifest, instances, NULL, FK_COMPOSE_PREVIEW, FK_EINVAL_INPUT,
                        cases[i][1]);
        json_decref(instances);
    }
    json_t *instances = s_load("[]");
    json_t *not_canonical = s_load("{\"requirements\":[{\"key\":\"k\"}]}");
    s_compose_fails(not_canonical, instances, NULL, 0, FK_EINVAL_INPUT,
                    "manifest.requirements[0]: not a canonical requirement");
    s_compose_fails(NULL, instances, NULL, 0, FK_EINVAL_INPUT,
                    "manifest.requirements: must be an array (not a canonical manifest)");
    json_t *declined = s_load("{}");
    s_compose_fails(manifest, instances, declined, 0, FK_EINVAL_INPUT,
                    "declined: must be an array");
    json_decref(declined);
    json_decref(not_canonical);
    json_decref(instances);
    json_decref(manifest);
}

Test(fk_compose, does_not_modify_or_share_inputs)
{
    json_t *manifest = s_manifest(s_rekuest_manifest);
    json_t *instances = s_load(s_registry);
    char *before = s_dump(instances);
    json_t *result = NULL;
    cr_assert_eq(fk_compose(manifest, instances, NULL, 0, &result, NULL, 0), 0);
    /*  Changing the result must not reach back into the registry's objects. */
    json_t *alias = json_array_get(
        json_object_get(json_object_get(json_object_get(result, "instances"), "rekuest"),
                        "aliases"),
        0);
    json_object_set_new(alias, "host", json_string("changed"));
    char *after = s_dump(instances);
    cr_expect_str_eq(after, before);
    cr_expect_eq(instances->refcount, 1);
    free(before);
    free(after);
    json_decref(result);
    json_decref(instances);
    json_decref(manifest);
}

Test(fk_compose, aud_lists_lok_and_each_granted_instance_once)
{
    json_t *manifest = s_manifest("{\"identifier\":\"a\",\"version\":\"1\",\"requirements\":["
                                  "{\"key\":\"k\",\"service\":\"s\"},\"t\","
                                  "{\"key\":\"u\",\"service\":\"u\",\"optional\":true},"
                                  "{\"key\":\"v\",\"service\":\"v\"}]}");
    json_t *instances =
        s_load("[{\"id\":\"1\",\"service\":\"s\",\"aliases\":[],\"tags\":[\"t\"],\"node\":\"n\"},"
               "{\"id\":\"2\",\"service\":\"v\",\"aliases\":[],\"node\":\"m\"}]");
    json_t *result = NULL;
    cr_assert_eq(fk_compose(manifest, instances, NULL, 0, &result, NULL, 0), 0);
    json_t *aud = fk_compose_aud(result);
    char *text = s_dump(aud);
    cr_expect_str_eq(text, "[\"lok\",\"1@n\",\"2@m\"]");
    free(text);
    json_decref(aud);
    json_decref(result);

    json_t *none = s_load("{\"instances\":{},\"statuses\":{}}");
    aud = fk_compose_aud(none);
    text = s_dump(aud);
    cr_expect_str_eq(text, "[\"lok\"]");
    free(text);
    json_decref(aud);
    json_decref(none);
    json_decref(instances);
    json_decref(manifest);
}

/*  ---------------------------------------------------------------------
    Health (fk_health.h): passing before warning, never critical.
    --------------------------------------------------------------------- */

/*  An instance of live.arkitekt.rekuest with id and health status (NULL:
    no health, as a service without checks). */
static json_t *
s_instance(const char *id, const char *node, const char *health)
{
    json_t *inst = json_pack("{s:s, s:s, s:[{s:s, s:s}], s:s}", "id", id, "service",
                             "live.arkitekt.rekuest", "aliases", "id", "a", "host", "h", "node",
                             node);
    if (health) {
        json_object_set_new(inst, "health", json_pack("{s:s}", "status", health));
    }
    return inst;
}

/*  The identifier granted for "rekuest", or "none". */
static char *
s_granted(const json_t *instances, unsigned flags)
{
    json_t *manifest = s_manifest(s_rekuest_manifest);
    json_t *result = NULL;
    char err[256];
    int rc = fk_compose(manifest, instances, NULL, flags, &result, err, sizeof err);
    json_decref(manifest);
    if (rc != 0) {
        return strdup(err);
    }
    const char *id = json_string_value(json_object_get(
        json_object_get(json_object_get(result, "instances"), "rekuest"), "identifier"));
    char *out = strdup(id ? id : json_string_value(json_object_get(
                                    json_object_get(result, "statuses"), "rekuest")));
    json_decref(result);
    return out;
}

Test(fk_compose, passing_instances_come_before_warning_ones)
{
    json_t *instances = json_array();
    json_array_append_new(instances, s_instance("a-1", "n1", "warning"));
    json_array_append_new(instances, s_instance("z-9", "n2", "passing"));
    char *pick = s_granted(instances, 0);
    cr_expect_str_eq(pick, "z-9@n2", "a larger id that passes wins over a warning one");
    free(pick);
    /*  Without checks an instance counts as passing: the smallest wins. */
    json_array_append_new(instances, s_instance("b-2", "n3", NULL));
    pick = s_granted(instances, 0);
    cr_expect_str_eq(pick, "b-2@n3");
    free(pick);
    json_decref(instances);
}

Test(fk_compose, a_warning_instance_is_granted_when_none_passes)
{
    json_t *instances = json_array();
    json_array_append_new(instances, s_instance("a-1", "n1", "critical"));
    json_array_append_new(instances, s_instance("c-3", "n2", "warning"));
    json_array_append_new(instances, s_instance("b-2", "n2", "warning"));
    char *pick = s_granted(instances, 0);
    cr_expect_str_eq(pick, "b-2@n2");
    free(pick);
    json_decref(instances);
}

Test(fk_compose, critical_instances_are_never_granted_and_make_statuses_unavailable)
{
    json_t *instances = json_array();
    json_array_append_new(instances, s_instance("a-1", "n1", "critical"));
    json_array_append_new(instances, s_instance("b-2", "n2", "critical"));
    char *pick = s_granted(instances, FK_COMPOSE_PREVIEW);
    cr_expect_str_eq(pick, "unavailable");
    free(pick);
    pick = s_granted(instances, 0);
    cr_expect_str_eq(pick, "requirement 'rekuest' needs service 'live.arkitekt.rekuest', which "
                           "has no live instance that is not critical");
    free(pick);
    /*  A health no node can read counts as critical, never as passing. */
    json_t *odd = s_instance("0-0", "n0", "splendid");
    json_array_append_new(instances, odd);
    pick = s_granted(instances, FK_COMPOSE_PREVIEW);
    cr_expect_str_eq(pick, "unavailable");
    free(pick);
    json_decref(instances);
}

Test(fk_compose, health_that_is_not_an_object_is_named)
{
    json_t *manifest = s_manifest(s_rekuest_manifest);
    json_t *instances = s_load("[{\"id\":\"a\",\"service\":\"s\",\"node\":\"n\","
                               "\"aliases\":[],\"health\":\"passing\"}]");
    s_compose_fails(manifest, instances, NULL, 0, FK_EINVAL_INPUT,
                    "instances[0].health: must be an object");
    json_decref(instances);
    json_decref(manifest);
}
