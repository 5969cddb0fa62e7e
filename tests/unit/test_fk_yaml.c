/*  test_fk_yaml - fk_yaml_parse through its public header only. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "fk_err.h"
#include "fk_mem.h"
#include "fk_yaml.h"

TestSuite(fk_yaml);

/*  Parse text, expect success, and return its compact JSON (caller frees). */
static char *
s_json_of(const char *text)
{
    json_t *value = NULL;
    char err[256] = "";
    int rc = fk_yaml_parse(text, strlen(text), &value, err, sizeof err);
    cr_assert_eq(rc, 0, "parse of [%s] failed: %s (%s)", text, fk_err_name(rc), err);
    cr_assert_not_null(value);
    char *dump = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
    cr_assert_not_null(dump);
    json_decref(value);
    return dump;
}

static void
s_expect_json(const char *text, const char *expected)
{
    char *dump = s_json_of(text);
    cr_expect_str_eq(dump, expected, "for [%s]", text);
    free(dump);
}

/*  Parse len bytes, expect code, and return nothing: the message lands in
    err. *out must come back NULL. */
static void
s_expect_fail_n(const char *text, size_t len, int code, char *err, size_t errlen)
{
    json_t *value = json_true(); /* a sentinel the call must clear */
    int rc = fk_yaml_parse(text, len, &value, err, errlen);
    cr_assert_eq(rc, code, "for [%.60s]: got %s (%s), expected %s", text, fk_err_name(rc), err,
                 fk_err_name(code));
    cr_assert_null(value, "output must be NULL on failure");
}

static void
s_expect_fail(const char *text, int code, const char *message)
{
    char err[256] = "";
    s_expect_fail_n(text, strlen(text), code, err, sizeof err);
    if (message) {
        cr_expect_str_eq(err, message, "for [%s]", text);
    }
}

/*  Text of the classic "billion laughs" document with levels levels of
    nine aliases each. */
static char *
s_laughs(int levels)
{
    size_t cap = 64 + (size_t)levels * 128;
    char *text = fk_malloc(cap);
    size_t n =
        (size_t)snprintf(text, cap, "l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for (int i = 1; i <= levels; i++) {
        n += (size_t)snprintf(text + n, cap - n, "l%d: &l%d [", i, i);
        for (int j = 0; j < 9; j++) {
            n += (size_t)snprintf(text + n, cap - n, "%s*l%d", j ? ", " : "", i - 1);
        }
        n += (size_t)snprintf(text + n, cap - n, "]\n");
    }
    return text;
}

Test(fk_yaml, plain_scalars_resolve_by_the_yaml_12_core_schema)
{
    s_expect_json("[null, Null, NULL, ~, true, True, TRUE, false, False, FALSE]",
                  "[null,null,null,null,true,true,true,false,false,false]");
    s_expect_json("empty:\n", "{\"empty\":null}");
    s_expect_json("[12, -7, +3, 007, 0x1F, 0o17, 1.5, .5, -2.5e-3, 1E3, 1.]",
                  "[12,-7,3,7,31,15,1.5,0.5,-0.0025000000000000001,1000.0,1.0]");
    /*  YAML 1.1 booleans, sexagesimals and bad radix prefixes are text. */
    s_expect_json("[yes, no, on, off, y, n, 1:30, 0x, 0o8, 0X1F, 12abc, nul]",
                  "[\"yes\",\"no\",\"on\",\"off\",\"y\",\"n\",\"1:30\",\"0x\",\"0o8\","
                  "\"0X1F\",\"12abc\",\"nul\"]");
}

Test(fk_yaml, quoted_and_block_scalars_are_always_strings)
{
    s_expect_json("a: \"true\"\nb: 'null'\nc: \"12\"\nd: |\n  12\ne: >-\n  1.5\n",
                  "{\"a\":\"true\",\"b\":\"null\",\"c\":\"12\",\"d\":\"12\\n\",\"e\":\"1.5\"}");
    s_expect_json("''", "\"\"");
}

Test(fk_yaml, explicit_tags_force_the_type)
{
    s_expect_json("[!!str 12, !!int \"12\", !!float 1, !!bool \"true\", !!null '', ! 12]",
                  "[\"12\",12,1.0,true,null,\"12\"]");
    s_expect_json("!!map {a: !!seq [1]}", "{\"a\":[1]}");
}

Test(fk_yaml, a_value_that_does_not_fit_its_tag_is_an_error)
{
    s_expect_fail("a: !!int abc", FK_EINVAL_INPUT, "line 1, column 4: value is not a valid !!int");
    s_expect_fail("a: !!int 9223372036854775808", FK_EINVAL_INPUT,
                  "line 1, column 4: !!int value does not fit 64 bits");
    s_expect_fail("a: !!bool yes", FK_EINVAL_INPUT,
                  "line 1, column 4: value is not a valid !!bool (true or false)");
    s_expect_fail("a: !!float x", FK_EINVAL_INPUT,
                  "line 1, column 4: value is not a valid !!float");
    s_expect_fail("a: !!null 0", FK_EINVAL_INPUT, "line 1, column 4: value is not a valid !!null");
}

Test(fk_yaml, unknown_tags_are_errors_not_ignored)
{
    s_expect_fail("a: !custom x", FK_EINVAL_INPUT, "line 1, column 4: unsupported tag '!custom'");
    s_expect_fail("a: !!binary aGk=", FK_EINVAL_INPUT,
                  "line 1, column 4: unsupported tag 'tag:yaml.org,2002:binary'");
    s_expect_fail("!!map [1]", FK_EINVAL_INPUT,
                  "line 1, column 1: unsupported tag 'tag:yaml.org,2002:map' on a sequence");
}

Test(fk_yaml, infinity_and_nan_are_rejected_because_json_cannot_hold_them)
{
    const char *cases[] = {"a: .inf", "a: -.Inf", "a: +.INF",
                           "a: .nan", "a: 1e999", "a: !!float .NaN"};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        s_expect_fail(cases[i], FK_EINVAL_INPUT,
                      "line 1, column 4: float is infinite, NaN or out of range, which JSON "
                      "cannot represent");
    }
}

Test(fk_yaml, integers_outside_int64_become_reals_or_strings)
{
    s_expect_json("[9223372036854775807, -9223372036854775808]",
                  "[9223372036854775807,-9223372036854775808]");
    /*  The JSON text above went through jansson; the same in block YAML: */
    s_expect_json("- 9223372036854775807\n- -9223372036854775808\n",
                  "[9223372036854775807,-9223372036854775808]");
    /*  A decimal too large is still a core-schema float; hex is not. */
    s_expect_json("- 9223372036854775808\n- 0x8000000000000000\n",
                  "[9.2233720368547758e18,\"0x8000000000000000\"]");
}

Test(fk_yaml, empty_stream_and_empty_document_are_null)
{
    s_expect_json("", "null");
    s_expect_json("# only a comment\n", "null");
    s_expect_json("---\n", "null");
    s_expect_json("---\n...\n", "null");
    json_t *value = NULL;
    cr_assert_eq(fk_yaml_parse(NULL, 0, &value, NULL, 0), 0);
    cr_assert(json_is_null(value));
}

Test(fk_yaml, json_text_is_accepted)
{
    s_expect_json("{\"a\": [1, 2.5, \"x\", null, true], \"b\": {}, \"c\": \"\\u00e9\\n\"}",
                  "{\"a\":[1,2.5,\"x\",null,true],\"b\":{},\"c\":\"\xc3\xa9\\n\"}");
    s_expect_json("\"just a string\"", "\"just a string\"");
    s_expect_json("42", "42");
}

Test(fk_yaml, json_surrogate_pairs_decode_although_libyaml_refuses_them)
{
    s_expect_json("{\"e\": \"\\ud83d\\ude00\"}", "{\"e\":\"\xf0\x9f\x98\x80\"}");
}

Test(fk_yaml, mapping_keys_keep_document_order)
{
    s_expect_json("zeta: 1\nalpha: 2\nmid: 3\n", "{\"zeta\":1,\"alpha\":2,\"mid\":3}");
}

Test(fk_yaml, keys_are_their_text_as_written)
{
    s_expect_json("8080: x\ntrue: y\n~: z\n0x10: w\n",
                  "{\"8080\":\"x\",\"true\":\"y\",\"~\":\"z\",\"0x10\":\"w\"}");
}

Test(fk_yaml, duplicate_keys_are_rejected_with_their_position)
{
    s_expect_fail("a: 1\nb: 2\na: 3\n", FK_EINVAL_INPUT,
                  "line 3, column 1: duplicate mapping key \"a\"");
    s_expect_fail("{x: 1, x: 2}", FK_EINVAL_INPUT, "line 1, column 8: duplicate mapping key \"x\"");
    /*  JSON goes through jansson first, which must not let it pass. */
    s_expect_fail("{\"a\": 1, \"a\": 2}", FK_EINVAL_INPUT,
                  "line 1, column 10: duplicate mapping key \"a\"");
    /*  Quoting or aliasing does not make a key different. */
    s_expect_fail("a: 1\n'a': 2\n", FK_EINVAL_INPUT,
                  "line 2, column 1: duplicate mapping key \"a\"");
    s_expect_fail("&k a: 1\n*k : 2\n", FK_EINVAL_INPUT,
                  "line 2, column 1: duplicate mapping key \"a\"");
}

Test(fk_yaml, non_scalar_keys_are_rejected)
{
    s_expect_fail("? [a, b]\n: c\n", FK_EINVAL_INPUT,
                  "line 1, column 3: mapping key must be a scalar, not a sequence");
    s_expect_fail("? {a: b}\n: c\n", FK_EINVAL_INPUT,
                  "line 1, column 3: mapping key must be a scalar, not a mapping");
    s_expect_fail("x: &s [1]\n*s : c\n", FK_EINVAL_INPUT,
                  "line 2, column 1: mapping key must be a scalar, but alias *s is a collection");
}

Test(fk_yaml, keys_with_nul_are_rejected)
{
    s_expect_fail("\"a\\0b\": 1", FK_EINVAL_INPUT,
                  "line 1, column 1: mapping key contains a NUL character");
    /*  A NUL inside a value is fine and kept. */
    json_t *value = NULL;
    const char *text = "a: \"x\\0y\"";
    cr_assert_eq(fk_yaml_parse(text, strlen(text), &value, NULL, 0), 0);
    cr_expect_eq(json_string_length(json_object_get(value, "a")), 3);
    json_decref(value);
}

Test(fk_yaml, more_than_one_document_is_rejected)
{
    s_expect_fail("a: 1\n---\nb: 2\n", FK_EINVAL_INPUT,
                  "line 2, column 1: more than one YAML document; expected exactly one");
    s_expect_fail("--- 1\n--- 2\n", FK_EINVAL_INPUT, NULL);
    /*  A single explicit document, with its end marker, is fine. */
    s_expect_json("---\na: 1\n...\n", "{\"a\":1}");
}

Test(fk_yaml, syntax_errors_report_line_and_column)
{
    s_expect_fail("key: value\n  bad: x\n", FK_EINVAL_INPUT,
                  "line 2, column 6: mapping values are not allowed in this context");
    s_expect_fail("a: 1\nb: [1, 2\nc: 3\n", FK_EINVAL_INPUT,
                  "line 3, column 2: did not find expected ',' or ']'");
    s_expect_fail("a: \"unterminated\n", FK_EINVAL_INPUT,
                  "line 2, column 1: found unexpected end of stream");
}

Test(fk_yaml, invalid_utf8_reports_line_and_column)
{
    s_expect_fail("a: 1\nb: \xff\n", FK_EINVAL_INPUT,
                  "line 2, column 4: invalid leading UTF-8 octet");
}

Test(fk_yaml, aliases_expand_to_independent_copies)
{
    const char *text = "base: &b {k: 1, l: [x]}\ncopy: *b\nname: &n hi\nagain: *n\n";
    s_expect_json(text, "{\"base\":{\"k\":1,\"l\":[\"x\"]},\"copy\":{\"k\":1,\"l\":[\"x\"]},"
                        "\"name\":\"hi\",\"again\":\"hi\"}");
    json_t *value = NULL;
    cr_assert_eq(fk_yaml_parse(text, strlen(text), &value, NULL, 0), 0);
    json_t *base = json_object_get(value, "base");
    json_t *copy = json_object_get(value, "copy");
    cr_expect_neq(base, copy, "an alias must not share the anchored object");
    json_object_set_new(copy, "k", json_integer(2));
    cr_expect_eq(json_integer_value(json_object_get(base, "k")), 1);
    json_decref(value);
}

Test(fk_yaml, an_anchor_redefined_applies_to_later_aliases)
{
    s_expect_json("- &a 1\n- *a\n- &a 2\n- *a\n", "[1,1,2,2]");
}

Test(fk_yaml, unknown_and_recursive_aliases_are_rejected)
{
    s_expect_fail("a: *nowhere\n", FK_EINVAL_INPUT,
                  "line 1, column 4: alias *nowhere does not refer to an earlier, complete "
                  "anchor");
    s_expect_fail("a: &r [x, *r]\n", FK_EINVAL_INPUT,
                  "line 1, column 11: alias *r does not refer to an earlier, complete anchor");
}

Test(fk_yaml, billion_laughs_is_rejected_quickly)
{
    char *text = s_laughs(9); /* 9^10 nodes if expanded */
    clock_t start = clock();
    char err[256] = "";
    s_expect_fail_n(text, strlen(text), FK_ETOOBIG, err, sizeof err);
    double seconds = (double)(clock() - start) / CLOCKS_PER_SEC;
    cr_expect(strstr(err, "more than 100000 nodes (aliases expanded)") != NULL, "err: %s", err);
    cr_expect(strncmp(err, "line ", 5) == 0, "err: %s", err);
    cr_expect_lt(seconds, 5.0);
    free(text);
}

Test(fk_yaml, aliases_within_the_node_limit_are_accepted)
{
    /*  Four levels: 1 + 10 + ... stays far below 100000 nodes. */
    char *text = s_laughs(4);
    json_t *value = NULL;
    cr_assert_eq(fk_yaml_parse(text, strlen(text), &value, NULL, 0), 0);
    cr_expect_eq(json_array_size(json_object_get(value, "l4")), 9);
    json_decref(value);
    free(text);
}

Test(fk_yaml, aliases_of_a_long_string_are_bounded_by_the_text_limit)
{
    /*  A 60000-byte string aliased 200 times: few nodes, 12 MB of text. */
    size_t cap = 70000;
    char *text = fk_malloc(cap);
    size_t n = (size_t)snprintf(text, cap, "s: &s ");
    memset(text + n, 'x', 60000);
    n += 60000;
    n += (size_t)snprintf(text + n, cap - n, "\nl: [");
    for (int i = 0; i < 200; i++) {
        n += (size_t)snprintf(text + n, cap - n, "*s, ");
    }
    n += (size_t)snprintf(text + n, cap - n, "end]\n");
    char err[256] = "";
    s_expect_fail_n(text, n, FK_ETOOBIG, err, sizeof err);
    cr_expect(strstr(err, "bytes of text (aliases expanded)") != NULL, "err: %s", err);
    free(text);
}

Test(fk_yaml, nesting_is_limited_to_64_levels)
{
    char text[200];
    /*  64 levels parse, in both the JSON and the YAML reader. */
    memset(text, '[', 64);
    memset(text + 64, ']', 64);
    text[128] = '\0';
    json_t *value = NULL;
    cr_assert_eq(fk_yaml_parse(text, strlen(text), &value, NULL, 0), 0);
    json_decref(value);
    /*  65 levels fail; the JSON reader hands over to the YAML reader so the
        message still has a position. */
    memset(text, '[', 65);
    memset(text + 65, ']', 65);
    text[130] = '\0';
    s_expect_fail(text, FK_ETOOBIG, "line 1, column 65: nesting is deeper than 64 levels");
    /*  Non-JSON flow text goes straight to the YAML reader. */
    memset(text, '[', 65);
    text[65] = 'x';
    memset(text + 66, ']', 65);
    text[131] = '\0';
    s_expect_fail(text, FK_ETOOBIG, "line 1, column 65: nesting is deeper than 64 levels");
}

Test(fk_yaml, nesting_through_an_alias_counts_at_its_expanded_depth)
{
    /*  An anchored value 40 deep, then aliased from 30 deep: 70 levels. */
    char text[400];
    size_t n = 0;
    n += (size_t)snprintf(text + n, sizeof text - n, "- &deep ");
    for (int i = 0; i < 40; i++) {
        text[n++] = '[';
    }
    for (int i = 0; i < 40; i++) {
        text[n++] = ']';
    }
    n += (size_t)snprintf(text + n, sizeof text - n, "\n- ");
    for (int i = 0; i < 30; i++) {
        text[n++] = '[';
    }
    n += (size_t)snprintf(text + n, sizeof text - n, "*deep ");
    for (int i = 0; i < 30; i++) {
        text[n++] = ']';
    }
    text[n] = '\0';
    char err[256] = "";
    s_expect_fail_n(text, n, FK_ETOOBIG, err, sizeof err);
    cr_expect(strstr(err, "nesting is deeper than 64 levels (aliases expanded)") != NULL, "err: %s",
              err);
}

Test(fk_yaml, the_yaml_11_merge_key_is_an_ordinary_key)
{
    s_expect_json("base: &b {a: 1}\nx:\n  <<: *b\n",
                  "{\"base\":{\"a\":1},\"x\":{\"<<\":{\"a\":1}}}");
}

Test(fk_yaml, text_need_not_be_terminated)
{
    /*  Only the first 4 bytes belong to the document. */
    const char buffer[] = {'a', ':', ' ', '1', ']', ']'};
    json_t *value = NULL;
    cr_assert_eq(fk_yaml_parse(buffer, 4, &value, NULL, 0), 0);
    cr_expect_eq(json_integer_value(json_object_get(value, "a")), 1);
    json_decref(value);
}

Test(fk_yaml, the_error_buffer_is_optional_and_always_terminated)
{
    json_t *value = NULL;
    cr_expect_eq(fk_yaml_parse("a: 1\na: 2", 10, &value, NULL, 0), FK_EINVAL_INPUT);
    cr_expect_null(value);
    char small[8];
    memset(small, 'z', sizeof small);
    s_expect_fail_n("a: 1\na: 2", 10, FK_EINVAL_INPUT, small, sizeof small);
    cr_expect_str_eq(small, "line 2,");
}

Test(fk_yaml, every_prefix_of_a_document_parses_or_fails_cleanly)
{
    const char *text = "id: rekuest-1\nservice: live.arkitekt.rekuest\naliases:\n"
                       "  - host: 10.0.0.5\n    port: 8090\n    path: \"rek\\u00e9\"\n"
                       "tags: [cuda, 'gpu']\nmeta: {gpu: \"A100\"}\nx: &a [1]\ny: {b: *a}\n";
    size_t len = strlen(text);
    size_t failures = 0;
    for (size_t n = 0; n <= len; n++) {
        json_t *value = NULL;
        char err[256] = "";
        int rc = fk_yaml_parse(text, n, &value, err, sizeof err);
        if (rc == 0) {
            cr_assert_not_null(value);
            json_decref(value);
        } else {
            cr_assert_null(value);
            cr_assert(rc == FK_EINVAL_INPUT, "prefix %zu: %s", n, fk_err_name(rc));
            cr_assert(strncmp(err, "line ", 5) == 0, "prefix %zu: %s", n, err);
            failures++;
        }
    }
    /*  Cutting inside the quoted string or the flow collections must fail. */
    cr_expect_gt(failures, 10);
}
