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

/*  Merge an entry without a claim (open membership needs none). */
static fk_members_change_t
s_merge(const char *name, const char *addr, fk_member_status_t status, uint64_t incarnation,
        const char *accuser, int64_t now)
{
    fk_members_entry_t entry = {.name = name,
                                .addr = addr,
                                .status = status,
                                .incarnation = incarnation,
                                .accuser = accuser};
    return fk_members_merge(s_members, &entry, now);
}

static fk_member_status_t
s_status(const char *name)
{
    fk_member_t member;
    cr_assert(fk_members_find(s_members, name, &member), "%s unknown", name);
    return member.status;
}

Test(fk_members, a_new_member_is_added_and_probed)
{
    cr_assert_eq(s_merge("b", "127.0.0.2:1", FK_MEMBER_ALIVE, 1, NULL, 0),
                 FK_MEMBERS_CHANGED);
    cr_assert_eq(fk_members_count(s_members), 2);
    cr_assert_str_eq(fk_members_next_probe(s_members), "b");
}

Test(fk_members, higher_incarnation_wins_and_graver_status_wins_a_tie)
{
    s_merge("b", "a:1", FK_MEMBER_ALIVE, 3, NULL, 0);
    cr_assert_eq(s_merge("b", "a:1", FK_MEMBER_SUSPECT, 2, NULL, 0),
                 FK_MEMBERS_UNCHANGED, "an older accusation is stale");
    cr_assert_eq(s_merge("b", "a:1", FK_MEMBER_SUSPECT, 3, NULL, 0),
                 FK_MEMBERS_CHANGED);
    cr_assert_eq(s_status("b"), FK_MEMBER_SUSPECT);
    cr_assert_eq(s_merge("b", "a:1", FK_MEMBER_ALIVE, 3, NULL, 0),
                 FK_MEMBERS_UNCHANGED, "alive does not beat suspect at the same incarnation");
    cr_assert_eq(s_merge("b", "a:1", FK_MEMBER_ALIVE, 4, NULL, 0),
                 FK_MEMBERS_CHANGED, "the member's refutation wins");
    cr_assert_eq(s_status("b"), FK_MEMBER_ALIVE);
}

Test(fk_members, we_refute_an_accusation_by_raising_our_incarnation)
{
    cr_assert_eq(s_merge("me", "x", FK_MEMBER_SUSPECT, 5, NULL, 0),
                 FK_MEMBERS_REFUTED);
    cr_assert_eq(fk_members_incarnation(s_members), 6);
    cr_assert_eq(s_status("me"), FK_MEMBER_ALIVE);
    cr_assert_eq(s_merge("me", "x", FK_MEMBER_FAILED, 4, NULL, 0),
                 FK_MEMBERS_UNCHANGED, "an old accusation needs no new refutation");
    cr_assert_gt(fk_members_health(s_members), 0, "being suspected lowers local health");
}

Test(fk_members, an_unrefuted_suspect_fails_after_the_suspicion_timeout)
{
    s_merge("b", "b:1", FK_MEMBER_ALIVE, 1, NULL, 0);
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
    s_merge("b", "b:1", FK_MEMBER_ALIVE, 1, NULL, 0);
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
    s_merge("b", "b:1", FK_MEMBER_FAILED, 1, NULL, 0);
    s_merge("c", "c:1", FK_MEMBER_LEFT, 1, NULL, 0);
    cr_assert_null(fk_members_next_probe(s_members));
    cr_assert_null(fk_members_next_reconnect(s_members, 1000));
    cr_assert_str_eq(fk_members_next_reconnect(s_members, 5000), "b");
    cr_assert_null(fk_members_next_reconnect(s_members, 5001), "one retry per period");
}

Test(fk_members, a_restarted_member_comes_back_with_a_higher_incarnation)
{
    s_merge("b", "b:1", FK_MEMBER_FAILED, 1, NULL, 0);
    cr_assert_eq(s_merge("b", "b:2", FK_MEMBER_ALIVE, 2, NULL, 10),
                 FK_MEMBERS_CHANGED);
    fk_member_t member;
    cr_assert(fk_members_find(s_members, "b", &member));
    cr_assert_eq(member.status, FK_MEMBER_ALIVE);
    cr_assert_str_eq(member.addr, "b:2", "a new address travels with the new incarnation");
}

Test(fk_members, leave_and_force_leave)
{
    s_merge("b", "b:1", FK_MEMBER_ALIVE, 1, NULL, 0);
    cr_assert_eq(fk_members_force_leave(s_members, "b", 1), -1, "only failed members");
    s_merge("b", "b:1", FK_MEMBER_FAILED, 1, NULL, 0);
    cr_assert_eq(fk_members_force_leave(s_members, "b", 1), 0);
    cr_assert_eq(s_status("b"), FK_MEMBER_LEFT);
    fk_members_leave(s_members, 2);
    cr_assert_eq(s_status("me"), FK_MEMBER_LEFT);
    cr_assert_eq(fk_members_incarnation(s_members), 6);
    cr_assert_eq(s_merge("me", "x", FK_MEMBER_FAILED, 6, NULL, 3),
                 FK_MEMBERS_UNCHANGED, "a leaving node does not refute");
}

Test(fk_members, every_live_member_is_probed_once_per_round)
{
    const char *names[] = {"b", "c", "d", "e"};
    for (int i = 0; i < 4; i++) {
        s_merge(names[i], "x:1", FK_MEMBER_ALIVE, 1, NULL, 0);
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
        s_merge(name, "x:1", FK_MEMBER_ALIVE, 1, NULL, 0);
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
    s_merge("b", "x:1", FK_MEMBER_ALIVE, 1, NULL, 0);
    s_merge("c", "x:1", FK_MEMBER_ALIVE, 1, NULL, 0);
    s_merge("d", "x:1", FK_MEMBER_FAILED, 1, NULL, 0);
    const char *out[3];
    size_t n = fk_members_random(s_members, "b", out, 3);
    cr_assert_eq(n, 1);
    cr_assert_str_eq(out[0], "c");
}

Test(fk_members, local_health_stretches_probe_timing)
{
    s_merge("b", "x:1", FK_MEMBER_ALIVE, 1, NULL, 0);
    int64_t base = fk_members_probe_timeout(s_members);
    fk_members_probe_failed(s_members, "b", 0);
    cr_assert_gt(fk_members_probe_timeout(s_members), base);
    fk_members_probe_ok(s_members, "b", 1);
    cr_assert_eq(fk_members_probe_timeout(s_members), base);
}

Test(fk_members, a_node_may_start_unsure_of_its_own_health)
{
    /*  The cluster starts its table this way: the first probes of a node
        that just started run over connections still being made. */
    fk_members_opts_t opts = {.probe_interval_ms = 200, .probe_timeout_ms = 100,
                              .start_health = 3, .seed = 42};
    fk_members_t *m = fk_members_new("me", "127.0.0.1:1", 1, &opts);
    cr_assert_eq(fk_members_health(m), 3);
    cr_assert_eq(fk_members_probe_timeout(m), 400);
    cr_assert_eq(fk_members_probe_interval(m), 800);
    for (int i = 0; i < 3; i++) {
        fk_members_probe_ok(m, "b", i);
    }
    cr_assert_eq(fk_members_health(m), 0, "answered probes bring it back to healthy");
    cr_assert_eq(fk_members_probe_timeout(m), 100);
    fk_members_destroy(&m);
    opts.start_health = 99;
    m = fk_members_new("me", "127.0.0.1:1", 1, &opts);
    cr_assert_eq(fk_members_health(m), 8, "capped by max_health");
    fk_members_destroy(&m);
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
        s_merge(name, "x:1", FK_MEMBER_ALIVE, 1, NULL, 0);
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

/*  Lifeguard counts confirmations per accuser, carried by gossip, not per
    node that relayed the suspicion. With two members the suspicion lasts
    from 6 x 500 ms = 3 s (no confirmation) down to 500 ms (three). */

static const char *
s_accuser(const char *name)
{
    fk_member_t member;
    cr_assert(fk_members_find(s_members, name, &member), "%s unknown", name);
    return member.accuser;
}

Test(fk_members, one_accuser_relayed_by_three_nodes_is_one_suspicion)
{
    /*  c suspects b; x, y and z relay it: the cluster layer merges and
        confirms each entry with its accuser, c, every time. */
    s_merge("b", "b:1", FK_MEMBER_ALIVE, 1, NULL, 0);
    for (int relayer = 0; relayer < 3; relayer++) {
        s_merge("b", "b:1", FK_MEMBER_SUSPECT, 1, "c", 0);
        fk_members_confirm(s_members, "b", 1, "c");
    }
    cr_assert_str_eq(s_accuser("b"), "c", "the suspicion remembers its accuser");
    /*  c's suspicion is the suspicion itself: no confirmation, the maximum. */
    cr_assert_eq(fk_members_expire(s_members, 2999), 0, "c relayed thrice shortened it");
    cr_assert_eq(fk_members_expire(s_members, 3000), 1);
}

Test(fk_members, our_suspicion_plus_one_accuser_relayed_thrice_is_one_confirmation)
{
    s_merge("b", "b:1", FK_MEMBER_ALIVE, 1, NULL, 0);
    cr_assert_eq(fk_members_probe_failed(s_members, "b", 0), FK_MEMBERS_CHANGED);
    cr_assert_str_eq(s_accuser("b"), "me", "we are the accuser of our own suspicion");
    for (int i = 0; i < 3; i++) {
        fk_members_confirm(s_members, "b", 1, "c"); /* via x, y, z */
    }
    /*  Our own accusation relayed back to us is no confirmation either. */
    fk_members_confirm(s_members, "b", 1, "me");
    /*  One confirmation: 3000 - 2500 x log 2 / log 4 = 1750 ms. */
    cr_assert_eq(fk_members_expire(s_members, 1700), 0, "counted more than one confirmation");
    cr_assert_eq(fk_members_expire(s_members, 1751), 1, "counted no confirmation");
}

Test(fk_members, three_distinct_accusers_shorten_the_suspicion_to_the_minimum)
{
    s_merge("b", "b:1", FK_MEMBER_ALIVE, 1, NULL, 0);
    fk_members_probe_failed(s_members, "b", 0);
    /*  c, d and e each suspected b; any relayers, in any order, repeated. */
    const char *accusers[] = {"c", "d", "c", "e", "d"};
    for (int i = 0; i < 5; i++) {
        s_merge("b", "b:1", FK_MEMBER_SUSPECT, 1, accusers[i], 0);
        fk_members_confirm(s_members, "b", 1, accusers[i]);
    }
    cr_assert_str_eq(s_accuser("b"), "me", "the first accuser stays");
    cr_assert_eq(fk_members_expire(s_members, 499), 0);
    cr_assert_eq(fk_members_expire(s_members, 500), 1, "three confirmations: the minimum");
}

Test(fk_members, three_accusers_beyond_a_gossiped_suspicion_reach_the_minimum)
{
    /*  We learn c's suspicion of b by gossip; d, e and f confirm it. */
    s_merge("b", "b:1", FK_MEMBER_SUSPECT, 1, "c", 0);
    fk_members_confirm(s_members, "b", 1, "c");
    fk_members_confirm(s_members, "b", 1, "d");
    fk_members_confirm(s_members, "b", 1, "e");
    cr_assert_eq(fk_members_expire(s_members, 500), 0, "c began it: two confirmations so far");
    fk_members_confirm(s_members, "b", 1, "f");
    cr_assert_eq(fk_members_expire(s_members, 500), 1);
}

Test(fk_members, an_entry_without_accuser_is_attributed_to_its_relayer)
{
    /*  Old peers x, y and z send no accuser: the cluster layer passes the
        relayer in its place, so each relayer counts as an accuser, as
        before accusers travelled, and the first one began the suspicion. */
    const char *relayers[] = {"x", "y", "z", "y"};
    for (int i = 0; i < 4; i++) {
        s_merge("b", "b:1", FK_MEMBER_SUSPECT, 1, relayers[i], 0);
        fk_members_confirm(s_members, "b", 1, relayers[i]);
    }
    cr_assert_str_eq(s_accuser("b"), "x", "gossiped on as x's suspicion");
    /*  Two confirmations (y, z): 3000 - 2500 x log 3 / log 4 = 1019 ms. */
    cr_assert_eq(fk_members_expire(s_members, 1000), 0);
    cr_assert_eq(fk_members_expire(s_members, 1020), 1);
}

Test(fk_members, a_suspicion_of_unknown_accuser_counts_every_accuser)
{
    /*  A suspect merged without an accuser (none known) has no first
        accuser to leave out. */
    s_merge("b", "b:1", FK_MEMBER_SUSPECT, 1, NULL, 0);
    cr_assert_null(s_accuser("b"));
    fk_members_confirm(s_members, "b", 1, "c");
    fk_members_confirm(s_members, "b", 1, "d");
    fk_members_confirm(s_members, "b", 1, "e");
    cr_assert_eq(fk_members_expire(s_members, 500), 1);
}

typedef struct {
    int suspects; /* suspect views seen */
    int others;   /* other views seen */
} s_views_t;

static void
s_check_view(void *arg, const fk_member_t *member)
{
    s_views_t *views = arg;
    if (member->status == FK_MEMBER_SUSPECT) {
        views->suspects++;
        cr_assert_str_eq(member->accuser, strcmp(member->name, "b") == 0 ? "c" : "me",
                         "%s's accuser", member->name);
    } else {
        views->others++;
        cr_assert_null(member->accuser, "%s is not suspect but has an accuser", member->name);
    }
}

Test(fk_members, piggybacked_suspects_carry_their_accuser_and_others_none)
{
    s_merge("b", "b:1", FK_MEMBER_SUSPECT, 1, "c", 0);
    s_merge("d", "d:1", FK_MEMBER_ALIVE, 1, "c", 0);
    s_merge("e", "e:1", FK_MEMBER_ALIVE, 1, NULL, 0);
    s_merge("f", "f:1", FK_MEMBER_FAILED, 1, "c", 0);
    fk_members_probe_failed(s_members, "e", 0);
    s_views_t views = {0};
    fk_members_piggyback(s_members, 32, s_check_view, &views);
    cr_assert_eq(views.suspects, 2, "b and e");
    cr_assert_eq(views.others, 3, "us, d and f");

    /*  b refutes: it is alive again and its accuser is gone; a later
        suspicion of b starts afresh with its own accuser. */
    s_merge("b", "b:1", FK_MEMBER_ALIVE, 2, NULL, 10);
    cr_assert_null(s_accuser("b"));
    s_merge("b", "b:1", FK_MEMBER_SUSPECT, 2, "c", 20);
    cr_assert_str_eq(s_accuser("b"), "c");
    memset(&views, 0, sizeof views);
    fk_members_piggyback(s_members, 32, s_check_view, &views);
    cr_assert_eq(views.suspects, 2);
}

Test(fk_members, our_failed_probe_of_a_gossiped_suspect_is_a_confirmation_we_gossip)
{
    /*  We learn c's suspicion of b by gossip, then our own probe of b
        fails: an independent accusation. It counts for our timer, and the
        entry goes out again naming us, so the others count it too. */
    s_merge("b", "b:1", FK_MEMBER_SUSPECT, 1, "c", 0);
    cr_assert_str_eq(s_accuser("b"), "c");
    cr_assert_eq(fk_members_probe_failed(s_members, "b", 0), FK_MEMBERS_UNCHANGED,
                 "b was already suspect");
    cr_assert_str_eq(s_accuser("b"), "me", "the entry does not name us as an accuser");
    /*  Our repeated failures add nothing: one confirmation, 1750 ms. */
    fk_members_probe_failed(s_members, "b", 100);
    fk_members_probe_failed(s_members, "b", 200);
    cr_assert_eq(fk_members_expire(s_members, 1700), 0, "our repeats counted");
    cr_assert_eq(fk_members_expire(s_members, 1751), 1, "our failed probe did not count");
}

/*  ---- closed membership (the secure mode) ---------------------------- */

/*  A stand-in for Ed25519 claims: the "signature" is a checksum of what is
    claimed, so the tests can make valid and forged claims. */
static void
s_fake_claim(const char *name, const char *addr, uint64_t incarnation, bool leaving,
             uint8_t claim[FK_SIGN_LEN])
{
    memset(claim, 0, FK_SIGN_LEN);
    snprintf((char *)claim, FK_SIGN_LEN, "%s|%s|%llu|%d", name, addr,
             (unsigned long long)incarnation, leaving);
}

static bool
s_verify(void *arg, const char *name, const char *addr, uint64_t incarnation, bool leaving,
         const uint8_t claim[FK_SIGN_LEN])
{
    (void)arg;
    uint8_t expect[FK_SIGN_LEN];
    s_fake_claim(name, addr, incarnation, leaving, expect);
    return memcmp(expect, claim, FK_SIGN_LEN) == 0;
}

static void
s_sign(void *arg, const char *addr, uint64_t incarnation, bool leaving, uint8_t claim[FK_SIGN_LEN])
{
    (void)arg;
    s_fake_claim("me", addr, incarnation, leaving, claim);
}

static fk_members_t *
s_closed(void)
{
    fk_members_opts_t opts = {.probe_interval_ms = 200,
                              .seed = 42,
                              .closed = true,
                              .verify_claim = s_verify,
                              .sign_claim = s_sign};
    fk_members_t *members = fk_members_new("me", "127.0.0.1:1", 5, &opts);
    fk_members_admit(members, "b", "b:1", 0);
    return members;
}

static fk_members_change_t
s_merge_on(fk_members_t *members, const char *name, const char *addr, fk_member_status_t status,
           uint64_t incarnation, const uint8_t *claim)
{
    fk_members_entry_t entry = {.name = name,
                                .addr = addr,
                                .status = status,
                                .incarnation = incarnation,
                                .claim = claim};
    return fk_members_merge(members, &entry, 0);
}

Test(fk_members, closed_membership_grows_only_by_admission)
{
    fk_members_t *members = s_closed();
    uint8_t claim[FK_SIGN_LEN];
    s_fake_claim("x", "x:1", 1, false, claim);
    cr_assert_eq(s_merge_on(members, "x", "x:1", FK_MEMBER_ALIVE, 1, claim), FK_MEMBERS_UNCHANGED,
                 "a made-up member entered the table");
    cr_assert_eq(fk_members_heard(members, "x", "x:1", 1, 0), FK_MEMBERS_UNCHANGED);
    cr_assert_eq(fk_members_count(members), 2, "us and b");
    cr_assert_eq(fk_members_admit(members, "x", "x:1", 0), FK_MEMBERS_CHANGED);
    cr_assert_eq(fk_members_count(members), 3);
    fk_members_destroy(&members);
}

Test(fk_members, closed_only_the_member_raises_its_incarnation_or_moves_it)
{
    fk_members_t *members = s_closed();
    fk_member_t b;
    cr_assert_eq(s_merge_on(members, "b", "evil:1", FK_MEMBER_ALIVE, 9, NULL),
                 FK_MEMBERS_UNCHANGED, "a higher incarnation without b's claim");
    uint8_t forged[FK_SIGN_LEN];
    s_fake_claim("b", "b:1", 9, false, forged);
    cr_assert_eq(s_merge_on(members, "b", "evil:1", FK_MEMBER_ALIVE, 9, forged),
                 FK_MEMBERS_UNCHANGED, "a claim for another address moved b");
    cr_assert(fk_members_find(members, "b", &b));
    cr_assert_str_eq(b.addr, "b:1");
    cr_assert_eq(b.incarnation, 0);

    uint8_t claim[FK_SIGN_LEN];
    s_fake_claim("b", "b:2", 9, false, claim);
    cr_assert_eq(s_merge_on(members, "b", "b:2", FK_MEMBER_ALIVE, 9, claim), FK_MEMBERS_CHANGED);
    cr_assert(fk_members_find(members, "b", &b));
    cr_assert_str_eq(b.addr, "b:2", "b's own claim moves it");
    cr_assert_eq(b.incarnation, 9);
    cr_assert_not_null(b.claim, "the claim is kept, to be relayed");
    cr_assert_eq(memcmp(b.claim, claim, FK_SIGN_LEN), 0);
    fk_members_destroy(&members);
}

Test(fk_members, closed_anyone_accuses_at_the_known_incarnation_never_above)
{
    fk_members_t *members = s_closed();
    cr_assert_eq(s_merge_on(members, "b", "b:1", FK_MEMBER_SUSPECT, 3, NULL), FK_MEMBERS_UNCHANGED,
                 "an accusation above the incarnation we know");
    cr_assert_eq(s_merge_on(members, "b", "b:1", FK_MEMBER_SUSPECT, 0, NULL), FK_MEMBERS_CHANGED);
    cr_assert_eq(s_merge_on(members, "b", "b:1", FK_MEMBER_FAILED, 0, NULL), FK_MEMBERS_CHANGED);
    fk_member_t b;
    cr_assert(fk_members_find(members, "b", &b));
    cr_assert_eq(b.status, FK_MEMBER_FAILED);
    /*  An accusation riding on b's claim of a higher incarnation counts:
        that is how a newcomer learns that b failed at 4. */
    uint8_t claim[FK_SIGN_LEN];
    s_fake_claim("b", "b:1", 4, false, claim);
    cr_assert_eq(s_merge_on(members, "b", "b:1", FK_MEMBER_FAILED, 4, claim), FK_MEMBERS_CHANGED);
    cr_assert(fk_members_find(members, "b", &b));
    cr_assert_eq(b.incarnation, 4);
    cr_assert_eq(b.status, FK_MEMBER_FAILED);
    fk_members_destroy(&members);
}

Test(fk_members, closed_left_needs_the_members_own_claim_or_a_failure)
{
    fk_members_t *members = s_closed();
    fk_member_t b;
    cr_assert_eq(s_merge_on(members, "b", "b:1", FK_MEMBER_LEFT, 0, NULL), FK_MEMBERS_UNCHANGED,
                 "an unsigned 'left' evicted a live member");
    uint8_t claim[FK_SIGN_LEN];
    s_fake_claim("b", "b:1", UINT64_MAX, true, claim);
    cr_assert_eq(s_merge_on(members, "b", "b:1", FK_MEMBER_LEFT, UINT64_MAX, NULL),
                 FK_MEMBERS_UNCHANGED, "'left' at 2^64-1 without b's claim");
    /*  An operator's force-leave of a failed member is honoured. */
    s_merge_on(members, "b", "b:1", FK_MEMBER_FAILED, 0, NULL);
    cr_assert_eq(s_merge_on(members, "b", "b:1", FK_MEMBER_LEFT, 0, NULL), FK_MEMBERS_CHANGED);
    fk_members_destroy(&members);

    members = s_closed();
    s_fake_claim("b", "b:1", 1, true, claim);
    cr_assert_eq(s_merge_on(members, "b", "b:1", FK_MEMBER_LEFT, 1, claim), FK_MEMBERS_CHANGED,
                 "b's own leave was refused");
    cr_assert(fk_members_find(members, "b", &b));
    cr_assert_eq(b.status, FK_MEMBER_LEFT);
    fk_members_destroy(&members);
}

Test(fk_members, closed_an_accusation_above_our_incarnation_is_forged)
{
    fk_members_t *members = s_closed();
    cr_assert_eq(s_merge_on(members, "me", "x", FK_MEMBER_LEFT, UINT64_MAX, NULL),
                 FK_MEMBERS_UNCHANGED);
    cr_assert_eq(fk_members_incarnation(members), 5, "a forged accusation moved us");
    cr_assert_eq(s_merge_on(members, "me", "x", FK_MEMBER_SUSPECT, 5, NULL), FK_MEMBERS_REFUTED);
    cr_assert_eq(fk_members_incarnation(members), 6);
    fk_member_t me;
    cr_assert(fk_members_find(members, "me", &me));
    uint8_t expect[FK_SIGN_LEN];
    s_fake_claim("me", "127.0.0.1:1", 6, false, expect);
    cr_assert_not_null(me.claim, "the refutation carries no claim");
    cr_assert_eq(memcmp(me.claim, expect, FK_SIGN_LEN), 0, "the claim is not for incarnation 6");
    fk_members_destroy(&members);
}

Test(fk_members, closed_a_direct_message_moves_the_member_without_a_claim)
{
    fk_members_t *members = s_closed();
    cr_assert_eq(fk_members_heard(members, "b", "b:7", 3, 0), FK_MEMBERS_CHANGED);
    fk_member_t b;
    cr_assert(fk_members_find(members, "b", &b));
    cr_assert_str_eq(b.addr, "b:7");
    cr_assert_eq(b.incarnation, 3);
    cr_assert_null(b.claim, "an old claim was shown for the new incarnation");
    fk_members_destroy(&members);
}

Test(fk_members, a_removed_member_is_gone_and_never_probed)
{
    fk_members_t *members = s_closed();
    cr_assert(fk_members_remove(members, "b"));
    fk_member_t b;
    cr_assert_not(fk_members_find(members, "b", &b));
    cr_assert_null(fk_members_next_probe(members));
    cr_assert_not(fk_members_remove(members, "me"), "we removed ourselves");
    fk_members_destroy(&members);
}

Test(fk_members, incarnations_saturate_and_never_wrap)
{
    /*  Open membership believes an accusation of us at 2^64-1: with
        nothing above it, we cannot refute, but we never wrap to 0. */
    cr_assert_eq(s_merge("me", "x", FK_MEMBER_SUSPECT, UINT64_MAX, NULL, 0),
                 FK_MEMBERS_UNCHANGED);
    cr_assert_eq(fk_members_incarnation(s_members), 5);
    s_merge("me", "x", FK_MEMBER_SUSPECT, UINT64_MAX - 1, NULL, 0);
    cr_assert_eq(fk_members_incarnation(s_members), UINT64_MAX);
    fk_members_leave(s_members, 0);
    cr_assert_eq(fk_members_incarnation(s_members), UINT64_MAX, "leaving wrapped");
}
