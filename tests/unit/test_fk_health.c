/*  test_fk_health - durations and the state machine of an instance's
    checks, with a fake clock: every transition of docs/ARCHITECTURE.md,
    "Health checks". */

#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "fk_err.h"
#include "fk_health.h"
#include "fk_service.h"

TestSuite(fk_health);

/*  A canonical definition with the given checks (YAML flow text). */
static json_t *
s_definition(const char *checks, const char *after)
{
    char text[1024];
    snprintf(text, sizeof text,
             "id: a\nservice: x.y\naliases: [{host: h}]\nchecks: %s\n%s%s\n", checks,
             after ? "deregister_critical_after: " : "", after ? after : "");
    json_t *canonical = NULL;
    char err[256] = "";
    cr_assert_eq(fk_service_load(text, strlen(text), &canonical, err, sizeof err), 0, "%s", err);
    return canonical;
}

Test(fk_health, durations_parse_and_format)
{
    static const struct {
        const char *text;
        int64_t ms;
    } good[] = {{"500ms", 500}, {"30s", 30000},  {"10m", 600000}, {"1h", 3600000},
                {"1m30s", 90000}, {"1.5s", 1500}, {"0.0001s", 0},  {"2h0m1ms", 7200001}};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        int64_t ms = -1;
        cr_expect_eq(fk_health_duration_parse(good[i].text, strlen(good[i].text), &ms), 0, "%s",
                     good[i].text);
        cr_expect_eq(ms, good[i].ms, "%s gave %lld", good[i].text, (long long)ms);
    }
    static const char *const bad[] = {"", "30", "s", "5d", "-1s", "1 s", "1.s5", "3000h",
                                      "1e3s", "ms"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t ms = 0;
        cr_expect_eq(fk_health_duration_parse(bad[i], strlen(bad[i]), &ms), FK_EINVAL_INPUT, "%s",
                     bad[i]);
    }
    char out[24];
    fk_health_duration_format(90000, out, sizeof out);
    cr_expect_str_eq(out, "90s");
    fk_health_duration_format(7200000, out, sizeof out);
    cr_expect_str_eq(out, "2h");
    fk_health_duration_format(1001, out, sizeof out);
    cr_expect_str_eq(out, "1001ms");
}

Test(fk_health, http_codes_map_to_statuses)
{
    cr_expect_eq(fk_health_http_status(200), FK_HEALTH_PASSING);
    cr_expect_eq(fk_health_http_status(204), FK_HEALTH_PASSING);
    cr_expect_eq(fk_health_http_status(299), FK_HEALTH_PASSING);
    cr_expect_eq(fk_health_http_status(429), FK_HEALTH_WARNING);
    cr_expect_eq(fk_health_http_status(301), FK_HEALTH_CRITICAL);
    cr_expect_eq(fk_health_http_status(404), FK_HEALTH_CRITICAL);
    cr_expect_eq(fk_health_http_status(500), FK_HEALTH_CRITICAL);
    cr_expect_eq(fk_health_http_status(0), FK_HEALTH_CRITICAL);
}

Test(fk_health, status_names_and_cli_words)
{
    fk_health_status_t status;
    cr_expect_eq(fk_health_status_parse("pass", &status), 0);
    cr_expect_eq(status, FK_HEALTH_PASSING);
    cr_expect_eq(fk_health_status_parse("warning", &status), 0);
    cr_expect_eq(status, FK_HEALTH_WARNING);
    cr_expect_eq(fk_health_status_parse("fail", &status), 0);
    cr_expect_eq(status, FK_HEALTH_CRITICAL);
    cr_expect_eq(fk_health_status_parse("ok", &status), FK_EINVAL_INPUT);
    cr_expect_eq(fk_health_status_parse(NULL, &status), FK_EINVAL_INPUT);
}

Test(fk_health, a_new_instance_starts_critical_not_checked_yet)
{
    json_t *def = s_definition("[{ttl: 1s}, {tcp: \"h:1\", interval: 1s}]", NULL);
    fk_health_t h;
    cr_assert_eq(fk_health_init(&h, def, 1000), 0);
    cr_expect_eq(h.nchecks, 2);
    cr_expect_eq(h.status, FK_HEALTH_CRITICAL);
    cr_expect_str_eq(h.checks[0].output, FK_HEALTH_UNCHECKED);
    cr_expect_eq(h.checks[1].status, FK_HEALTH_CRITICAL);
    /*  The first result is written even when it is critical again: it
        replaces "not checked yet". A second one with the same status is
        not. */
    cr_expect(fk_health_report(&h, 1, FK_HEALTH_CRITICAL, "refused", 1100));
    cr_expect_str_eq(h.checks[1].output, "refused");
    cr_expect_not(fk_health_report(&h, 1, FK_HEALTH_CRITICAL, "refused again", 1200));
    cr_expect_str_eq(h.checks[1].output, "refused");
    cr_expect_eq(h.checks[1].since_ms, 1000);
    json_decref(def);
}

Test(fk_health, passing_warning_critical_passing_each_moves_since)
{
    json_t *def = s_definition("[{http: \"http://h/\"}]", NULL);
    fk_health_t h;
    cr_assert_eq(fk_health_init(&h, def, 0), 0);
    cr_expect(fk_health_report(&h, 0, FK_HEALTH_PASSING, "200", 10));
    cr_expect_eq(h.status, FK_HEALTH_PASSING);
    cr_expect_eq(h.since_ms, 10);
    cr_expect_not(fk_health_report(&h, 0, FK_HEALTH_PASSING, "200 again", 20));
    cr_expect(fk_health_report(&h, 0, FK_HEALTH_WARNING, "429", 30));
    cr_expect_eq(h.status, FK_HEALTH_WARNING);
    cr_expect_eq(h.since_ms, 30);
    cr_expect(fk_health_report(&h, 0, FK_HEALTH_CRITICAL, "500", 40));
    cr_expect_eq(h.status, FK_HEALTH_CRITICAL);
    cr_expect_eq(h.since_ms, 40);
    cr_expect(fk_health_report(&h, 0, FK_HEALTH_PASSING, "200", 50));
    cr_expect_eq(h.status, FK_HEALTH_PASSING);
    cr_expect_eq(h.since_ms, 50);
    cr_expect_str_eq(h.checks[0].output, "200");
    json_decref(def);
}

Test(fk_health, the_instance_takes_the_worst_check)
{
    json_t *def = s_definition("[{ttl: 1s}, {http: \"http://h/\"}]", NULL);
    fk_health_t h;
    cr_assert_eq(fk_health_init(&h, def, 0), 0);
    fk_health_report(&h, 0, FK_HEALTH_PASSING, NULL, 1);
    cr_expect_eq(h.status, FK_HEALTH_CRITICAL, "the http check has not run");
    fk_health_report(&h, 1, FK_HEALTH_WARNING, NULL, 2);
    cr_expect_eq(h.status, FK_HEALTH_WARNING);
    fk_health_report(&h, 1, FK_HEALTH_PASSING, NULL, 3);
    cr_expect_eq(h.status, FK_HEALTH_PASSING);
    fk_health_report(&h, 0, FK_HEALTH_CRITICAL, NULL, 4);
    cr_expect_eq(h.status, FK_HEALTH_CRITICAL);
    json_decref(def);
}

Test(fk_health, ttl_expires_to_critical_without_a_report)
{
    json_t *def = s_definition("[{ttl: 2s}]", NULL);
    fk_health_t h;
    cr_assert_eq(fk_health_init(&h, def, 0), 0);
    cr_expect_eq(fk_health_next_expiry(&h), INT64_MAX, "critical checks do not expire");
    cr_expect(fk_health_report(&h, 0, FK_HEALTH_PASSING, "alive", 1000));
    cr_expect_eq(fk_health_next_expiry(&h), 3000);
    cr_expect_not(fk_health_expire(&h, 2999));
    /*  A report of the same status moves the deadline without a write. */
    cr_expect_not(fk_health_report(&h, 0, FK_HEALTH_PASSING, "alive", 2500));
    cr_expect_not(fk_health_expire(&h, 4499));
    cr_expect(fk_health_expire(&h, 4500));
    cr_expect_eq(h.status, FK_HEALTH_CRITICAL);
    cr_expect_eq(h.since_ms, 4500);
    cr_expect_str_eq(h.checks[0].output, "TTL expired: no report for 2s");
    cr_expect_not(fk_health_expire(&h, 9000), "expires once");
    /*  A warning expires too. */
    fk_health_report(&h, 0, FK_HEALTH_WARNING, "slow", 10000);
    cr_expect(fk_health_expire(&h, 12000));
    json_decref(def);
}

Test(fk_health, deregistration_is_due_after_long_enough_critical)
{
    json_t *def = s_definition("[{ttl: 1s}, {ttl: 1s, deregister_critical_after: 500ms}]", "10s");
    fk_health_t h;
    cr_assert_eq(fk_health_init(&h, def, 0), 0);
    cr_expect_eq(h.checks[0].after_ms, 10000, "the definition's");
    cr_expect_eq(h.checks[1].after_ms, 500, "the check's own");
    cr_expect_eq(fk_health_next_deregister(&h), 500);
    cr_expect_not(fk_health_deregister_due(&h, 499));
    cr_expect(fk_health_deregister_due(&h, 500));
    /*  Passing stops the clock; critical again starts it again. */
    fk_health_report(&h, 1, FK_HEALTH_PASSING, NULL, 400);
    cr_expect_eq(fk_health_next_deregister(&h), 10000);
    fk_health_report(&h, 0, FK_HEALTH_PASSING, NULL, 400);
    cr_expect_eq(fk_health_next_deregister(&h), INT64_MAX);
    cr_expect_not(fk_health_deregister_due(&h, 100000));
    fk_health_report(&h, 0, FK_HEALTH_CRITICAL, NULL, 200000);
    cr_expect_not(fk_health_deregister_due(&h, 209999));
    cr_expect(fk_health_deregister_due(&h, 210000));
    json_decref(def);
}

Test(fk_health, no_deregister_after_means_never)
{
    json_t *def = s_definition("[{ttl: 1s}]", NULL);
    fk_health_t h;
    cr_assert_eq(fk_health_init(&h, def, 0), 0);
    cr_expect_not(fk_health_deregister_due(&h, INT64_MAX - 1));
    json_decref(def);
}

Test(fk_health, restore_keeps_stored_statuses_and_gives_ttl_a_fresh_window)
{
    json_t *def = s_definition("[{ttl: 2s}, {http: \"http://h/\"}]", "1m");
    fk_health_t before;
    cr_assert_eq(fk_health_init(&before, def, 0), 0);
    fk_health_report(&before, 0, FK_HEALTH_PASSING, "job ok", 100);
    fk_health_report(&before, 1, FK_HEALTH_WARNING, "429", 200);
    json_t *stored = fk_health_to_json(&before);

    fk_health_t after;
    cr_assert_eq(fk_health_init(&after, def, 50000), 0);
    cr_assert_eq(fk_health_restore(&after, stored, 50000), 0);
    cr_expect_eq(after.status, FK_HEALTH_WARNING);
    cr_expect_eq(after.since_ms, 200);
    cr_expect_eq(after.checks[0].status, FK_HEALTH_PASSING);
    cr_expect_str_eq(after.checks[0].output, "job ok");
    cr_expect_eq(after.checks[0].since_ms, 100);
    cr_expect_eq(fk_health_next_expiry(&after), 52000, "the ttl counts from the restart");
    json_t *again = fk_health_to_json(&after);
    cr_expect(json_equal(again, stored));
    json_decref(again);

    /*  A stored health that does not fit the checks is refused whole. */
    json_t *bad = json_pack("{s:s, s:I, s:[]}", "status", "passing", "since_ms", 1, "checks");
    cr_expect_eq(fk_health_restore(&after, bad, 50000), FK_EINVAL_INPUT);
    cr_expect_eq(after.status, FK_HEALTH_WARNING, "unchanged");
    json_decref(bad);
    json_decref(stored);
    json_decref(def);
}

Test(fk_health, output_is_bounded_printable_ascii)
{
    json_t *def = s_definition("[{http: \"http://h/\"}]", NULL);
    fk_health_t h;
    cr_assert_eq(fk_health_init(&h, def, 0), 0);
    char big[1000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    big[3] = '\n';
    big[4] = '\x1b';
    big[5] = (char)0xC3;
    fk_health_report(&h, 0, FK_HEALTH_PASSING, big, 1);
    cr_expect_eq(strlen(h.checks[0].output), FK_HEALTH_OUTPUT_MAX);
    cr_expect_eq(strncmp(h.checks[0].output, "xxx ??xx", 8), 0, "%s", h.checks[0].output);
    json_decref(def);
}

Test(fk_health, instances_without_health_pass_and_unreadable_health_is_critical)
{
    json_t *plain = json_pack("{s:s}", "id", "a");
    json_t *warn = json_pack("{s:{s:s}}", "health", "status", "warning");
    json_t *odd = json_pack("{s:{s:s}}", "health", "status", "fine");
    json_t *wrong = json_pack("{s:s}", "health", "passing");
    cr_expect_eq(fk_health_of(plain), FK_HEALTH_PASSING);
    cr_expect_eq(fk_health_of(warn), FK_HEALTH_WARNING);
    cr_expect_eq(fk_health_of(odd), FK_HEALTH_CRITICAL);
    cr_expect_eq(fk_health_of(wrong), FK_HEALTH_CRITICAL);
    json_decref(plain);
    json_decref(warn);
    json_decref(odd);
    json_decref(wrong);
}
