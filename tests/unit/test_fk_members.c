/*  Tests for fk_members: the SWIM and Lifeguard rules with a fake clock. */

#include "fk_members.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

static fk_members_t *s_members;

static void
s_setup(void)
{
    fk_members_opts_t opts = {.probe_interval_ms = 200, .seed = 42};
    s_members = fk_members_new("me", "127.0.0.1:1", 5, &opts);
}

static void
s_teardown(void)
{
    fk_members_destroy(&s_members);
}

TestSuite(fk_members, .init = s_setup, .fini = s_teardown);

static fk_member_status_t
s_status(const char *name)
{
    fk_member_t member;
    cr_assert(fk_members_find(s_members, name, &member), "%s unknown", name);
    return member.status;
}

Test(fk_members, a_new_member_is_added_and_probed)
{
    cr_assert_eq(fk_members_merge(s_members, "b", "127.0.0.2:1", FK_MEMBER_ALIVE, 1, 0),
                 FK_MEMBERS_CHANGED);
    cr_assert_eq(fk_members_count(s_members), 2);
    cr_assert_str_eq(fk_members_next_probe(s_members), "b");
}

Test(fk_members, higher_incarnation_wins_and_graver_status_wins_a_tie)
{
    fk_members_merge(s_members, "b", "a:1", FK_MEMBER_ALIVE, 3, 0);
    cr_assert_eq(fk_members_merge(s_members, "b", "a:1", FK_MEMBER_SUSPECT, 2, 0),
                 FK_MEMBERS_UNCHANGED, "an older accusation is stale");
    cr_assert_eq(fk_members_merge(s_members, "b", "a:1", FK_MEMBER_SUSPECT, 3, 0),
                 FK_MEMBERS_CHANGED);
    cr_assert_eq(s_status("b"), FK_MEMBER_SUSPECT);
    cr_assert_eq(fk_members_merge(s_members, "b", "a:1", FK_MEMBER_ALIVE, 3, 0),
                 FK_MEMBERS_UNCHANGED, "alive does not beat suspect at the same incarnation");
    cr_assert_eq(fk_members_merge(s_members, "b", "a:1", FK_MEMBER_ALIVE, 4, 0), FK_MEMBERS_CHANGED,
                 "the member's refutation wins");
    cr_assert_eq(s_status("b"), FK_MEMBER_ALIVE);
}

Test(fk_members, we_refute_an_accusation_by_raising_our_incarnation)
{
    cr_assert_eq(fk_members_merge(s_members, "me", "x", FK_MEMBER_SUSPECT, 5, 0),
                 FK_MEMBERS_REFUTED);
    cr_assert_eq(fk_members_incarnation(s_members), 6);
    cr_assert_eq(s_status("me"), FK_MEMBER_ALIVE);
    cr_assert_eq(fk_members_merge(s_members, "me", "x", FK_MEMBER_FAILED, 4, 0),
                 FK_MEMBERS_UNCHANGED, "an old accusation needs no new refutation");
    cr_assert_gt(fk_members_health(s_members), 0, "being suspected lowers local health");
}

Test(fk_members, an_unrefuted_suspect_fails_after_the_suspicion_timeout)
{
    fk_members_merge(s_members, "b", "b:1", FK_MEMBER_ALIVE, 1, 0);
    cr_assert_eq(fk_members_probe_failed(s_members, "b", 1000), FK_MEMBERS_CHANGED);
    cr_assert_eq(s_status("b"), FK_MEMBER_SUSPECT);
    cr_assert_eq(fk_members_expire(s_members, 1100), 0, "too early");
    /*  With two members and no confirmation the timeout is the maximum:
        6 x max(500 ms, 4 x log10(2) x 200 ms) = 3 s. */
    cr_assert_eq(fk_members_expire(s_members, 1000 + 2999), 0);
    cr_assert_eq(fk_members_expire(s_members, 1000 + 3000), 1);
    cr_assert_eq(s_status("b"), FK_MEMBER_FAILED);
}

Test(fk_members, confirmations_shorten_the_suspicion_lifeguard)
{
    fk_members_merge(s_members, "b", "b:1", FK_MEMBER_ALIVE, 1, 0);
    fk_members_probe_failed(s_members, "b", 0);
    /*  One accuser repeating itself is not a confirmation. */
    for (int i = 0; i < 5; i++) {
        fk_members_confirm(s_members, "b", 1, "c");
    }
    fk_members_probe_failed(s_members, "b", 5);
    cr_assert_eq(fk_members_expire(s_members, 1500), 0, "one confirmation: far from the minimum");
    /*  Three distinct members accuse b at the same incarnation. */
    fk_members_confirm(s_members, "b", 1, "d");
    fk_members_confirm(s_members, "b", 1, "e");
    fk_members_confirm(s_members, "b", 1, "b");
    cr_assert_eq(fk_members_expire(s_members, 1501), 1, "fully confirmed: the minimum, 500 ms");
}

Test(fk_members, failed_and_left_members_are_not_probed_but_failed_are_retried)
{
    fk_members_merge(s_members, "b", "b:1", FK_MEMBER_FAILED, 1, 0);
    fk_members_merge(s_members, "c", "c:1", FK_MEMBER_LEFT, 1, 0);
    cr_assert_null(fk_members_next_probe(s_members));
    cr_assert_null(fk_members_next_reconnect(s_members, 1000));
    cr_assert_str_eq(fk_members_next_reconnect(s_members, 5000), "b");
    cr_assert_null(fk_members_next_reconnect(s_members, 5001), "one retry per period");
}

Test(fk_members, a_restarted_member_comes_back_with_a_higher_incarnation)
{
    fk_members_merge(s_members, "b", "b:1", FK_MEMBER_FAILED, 1, 0);
    cr_assert_eq(fk_members_merge(s_members, "b", "b:2", FK_MEMBER_ALIVE, 2, 10),
                 FK_MEMBERS_CHANGED);
    fk_member_t member;
    cr_assert(fk_members_find(s_members, "b", &member));
    cr_assert_eq(member.status, FK_MEMBER_ALIVE);
    cr_assert_str_eq(member.addr, "b:2", "a new address travels with the new incarnation");
}

Test(fk_members, leave_and_force_leave)
{
    fk_members_merge(s_members, "b", "b:1", FK_MEMBER_ALIVE, 1, 0);
    cr_assert_eq(fk_members_force_leave(s_members, "b", 1), -1, "only failed members");
    fk_members_merge(s_members, "b", "b:1", FK_MEMBER_FAILED, 1, 0);
    cr_assert_eq(fk_members_force_leave(s_members, "b", 1), 0);
    cr_assert_eq(s_status("b"), FK_MEMBER_LEFT);
    fk_members_leave(s_members, 2);
    cr_assert_eq(s_status("me"), FK_MEMBER_LEFT);
    cr_assert_eq(fk_members_incarnation(s_members), 6);
    cr_assert_eq(fk_members_merge(s_members, "me", "x", FK_MEMBER_FAILED, 6, 3),
                 FK_MEMBERS_UNCHANGED, "a leaving node does not refute");
}

Test(fk_members, every_live_member_is_probed_once_per_round)
{
    const char *names[] = {"b", "c", "d", "e"};
    for (int i = 0; i < 4; i++) {
        fk_members_merge(s_members, names[i], "x:1", FK_MEMBER_ALIVE, 1, 0);
    }
    int seen[4] = {0};
    for (int i = 0; i < 4; i++) {
        const char *target = fk_members_next_probe(s_members);
        cr_assert_not_null(target);
        cr_assert_str_neq(target, "me");
        seen[target[0] - 'b']++;
    }
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(seen[i], 1, "%s probed %d times in one round", names[i], seen[i]);
    }
}

static void
s_count(void *arg, const fk_member_t *member)
{
    (void)member;
    (*(int *)arg)++;
}

Test(fk_members, piggyback_is_bounded_and_changes_drain_once)
{
    char name[8];
    for (int i = 0; i < 40; i++) {
        snprintf(name, sizeof name, "m%02d", i);
        fk_members_merge(s_members, name, "x:1", FK_MEMBER_ALIVE, 1, 0);
    }
    int sent = 0;
    fk_members_piggyback(s_members, 32, s_count, &sent);
    cr_assert_eq(sent, 32);
    int changed = 0;
    fk_members_drain_changed(s_members, s_count, &changed);
    cr_assert_eq(changed, 41, "every new member plus us");
    changed = 0;
    fk_members_drain_changed(s_members, s_count, &changed);
    cr_assert_eq(changed, 0);
}

Test(fk_members, random_picks_distinct_live_members_other_than_us_and_exclude)
{
    fk_members_merge(s_members, "b", "x:1", FK_MEMBER_ALIVE, 1, 0);
    fk_members_merge(s_members, "c", "x:1", FK_MEMBER_ALIVE, 1, 0);
    fk_members_merge(s_members, "d", "x:1", FK_MEMBER_FAILED, 1, 0);
    const char *out[3];
    size_t n = fk_members_random(s_members, "b", out, 3);
    cr_assert_eq(n, 1);
    cr_assert_str_eq(out[0], "c");
}

Test(fk_members, local_health_stretches_probe_timing)
{
    fk_members_merge(s_members, "b", "x:1", FK_MEMBER_ALIVE, 1, 0);
    int64_t base = fk_members_probe_timeout(s_members);
    fk_members_probe_failed(s_members, "b", 0);
    cr_assert_gt(fk_members_probe_timeout(s_members), base);
    fk_members_probe_ok(s_members, "b", 1);
    cr_assert_eq(fk_members_probe_timeout(s_members), base);
}

typedef struct {
    int sent;
    bool seen[8];
} s_sample_t;

static void
s_note(void *arg, const fk_member_t *member)
{
    s_sample_t *sample = arg;
    sample->sent++;
    if (member->name[0] == 'm') {
        sample->seen[member->name[1] - '0'] = true;
    }
}

Test(fk_members, quiet_piggyback_is_us_plus_a_small_sample_that_rotates_through_all)
{
    char name[4];
    for (int i = 0; i < 8; i++) {
        snprintf(name, sizeof name, "m%d", i);
        fk_members_merge(s_members, name, "x:1", FK_MEMBER_ALIVE, 1, 0);
    }
    /*  Gossip the joins out until nothing is recent any more. */
    s_sample_t sample = {0};
    for (int round = 0; round < 1000 && sample.sent != 1 + FK_MEMBERS_SAMPLE; round++) {
        sample.sent = 0;
        fk_members_piggyback(s_members, 32, s_note, &sample);
    }
    cr_assert_eq(sample.sent, 1 + FK_MEMBERS_SAMPLE, "a quiet message carries us and the sample");
    memset(&sample, 0, sizeof sample);
    for (int round = 0; round < 8; round++) {
        fk_members_piggyback(s_members, 32, s_note, &sample);
    }
    cr_assert_eq(sample.sent, 8 * (1 + FK_MEMBERS_SAMPLE));
    for (int i = 0; i < 8; i++) {
        cr_assert(sample.seen[i], "m%d never rode along", i);
    }
}
