/*  Tests for fk_beacon's datagrams: the exact bytes listeners parse
    (protocol §9, §11.1) and the URL rules that make them usable without
    scheme guessing or slash appending. Sending is tested end to end in a
    network namespace (tests/beacon/netns_beacon.sh), never on this
    machine's own network. */

#include "fk_beacon.h"
#include "fk_err.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

TestSuite(fk_beacon);

static void
s_expect(const char *magic, const char *url, const char *expected)
{
    char *data = NULL;
    size_t len = 0;
    cr_assert_eq(fk_beacon_datagram(magic, url, &data, &len), 0, "%s", url);
    cr_assert_eq(len, strlen(expected), "%s", data);
    cr_assert_eq(memcmp(data, expected, len), 0, "got '%s', want '%s'", data, expected);
    free(data);
}

Test(fk_beacon, both_magic_phrases_byte_for_byte)
{
    /*  What the reference advertisers send: magic + json.dumps({"url": url}). */
    s_expect(FK_BEACON_MAGIC_NEXT, "http://198.18.7.1:8520/",
             "beacon-fakts_next{\"url\": \"http://198.18.7.1:8520/\"}");
    s_expect(FK_BEACON_MAGIC, "http://198.18.7.1:8520/",
             "beacon-fakts{\"url\": \"http://198.18.7.1:8520/\"}");
    cr_assert_str_eq(FK_BEACON_MAGIC_NEXT, "beacon-fakts_next");
    cr_assert_str_eq(FK_BEACON_MAGIC, "beacon-fakts");
    cr_assert_eq(FK_BEACON_PORT, 45678);
}

Test(fk_beacon, trailing_slash_is_ensured_and_scheme_kept)
{
    s_expect(FK_BEACON_MAGIC_NEXT, "https://fakts.example.org",
             "beacon-fakts_next{\"url\": \"https://fakts.example.org/\"}");
    s_expect(FK_BEACON_MAGIC, "http://198.18.7.1:8520/lok",
             "beacon-fakts{\"url\": \"http://198.18.7.1:8520/lok/\"}");
    char *normal = NULL;
    cr_assert_eq(fk_beacon_url("http://198.18.7.1:8520/", &normal), 0);
    cr_assert_str_eq(normal, "http://198.18.7.1:8520/", "an ending slash is not doubled");
    free(normal);
}

Test(fk_beacon, json_special_characters_are_escaped)
{
    s_expect(FK_BEACON_MAGIC_NEXT, "http://h/a\"b\\c",
             "beacon-fakts_next{\"url\": \"http://h/a\\\"b\\\\c/\"}");
}

Test(fk_beacon, unusable_urls_are_refused)
{
    const char *bad[] = {
        "198.18.7.1:8520/",   /* no scheme: listeners do not guess one */
        "//198.18.7.1:8520/", /* no scheme */
        "ftp://198.18.7.1/",  /* not HTTP */
        "HTTP://198.18.7.1/", /* listeners compare the scheme as given */
        "http://",            /* no host */
        "https:///path",      /* no host */
        "http://a b/",        /* a space */
        "http://h/\n",        /* a control character */
        "http://h\xc3\xa9/",  /* not ASCII */
        "",
    };
    static char untouched[] = "untouched";
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *normal = untouched;
        cr_assert_eq(fk_beacon_url(bad[i], &normal), FK_EINVAL_INPUT, "'%s'", bad[i]);
        cr_assert_null(normal, "'%s'", bad[i]);
        char *data = untouched;
        size_t len = 1;
        cr_assert_eq(fk_beacon_datagram(FK_BEACON_MAGIC, bad[i], &data, &len), FK_EINVAL_INPUT);
        cr_assert_null(data);
        cr_assert_eq(len, 0);
    }
}

Test(fk_beacon, url_length_is_bounded)
{
    char url[FK_BEACON_URL_MAX + 2];
    memcpy(url, "http://", 7);
    /*  FK_BEACON_URL_MAX bytes with the slash appended: accepted. */
    memset(url + 7, 'a', FK_BEACON_URL_MAX - 8);
    url[FK_BEACON_URL_MAX - 1] = '\0';
    char *normal = NULL;
    cr_assert_eq(fk_beacon_url(url, &normal), 0);
    cr_assert_eq(strlen(normal), FK_BEACON_URL_MAX);
    free(normal);
    /*  One more byte: refused. */
    memset(url + 7, 'a', FK_BEACON_URL_MAX - 7);
    url[FK_BEACON_URL_MAX] = '\0';
    cr_assert_eq(fk_beacon_url(url, &normal), FK_EINVAL_INPUT);
    cr_assert_null(normal);
}

Test(fk_beacon, start_refuses_a_bad_url)
{
    /*  Refused before any thread starts or any datagram leaves. */
    fk_beacon_t *beacon = (fk_beacon_t *)&beacon;
    fk_beacon_opts_t opts = {.url = "198.18.7.1:8520", .http_port = 8520};
    cr_assert_eq(fk_beacon_start(&beacon, &opts), FK_EINVAL_INPUT);
    cr_assert_null(beacon);
    fk_beacon_opts_t none = {.url = NULL, .http_port = 0};
    beacon = (fk_beacon_t *)&beacon;
    cr_assert_eq(fk_beacon_start(&beacon, &none), FK_EINVAL_INPUT);
    cr_assert_null(beacon);
    fk_beacon_destroy(&beacon);
}
