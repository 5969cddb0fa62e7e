/*  Network faults between real agents on 127.0.0.x: a 2+2 partition that
    heals, and random packet loss that must not fail anyone.

    Faults are iptables rules in a chain owned by the test (see
    fk_testcluster.h); the chain is removed at the start of the test and in
    its .fini, which runs after a failed assertion too. A test skips when
    iptables is missing or this process may not use it (not root): CI must
    not fail for a missing tool. Address ranges: 127.0.0.200-203 and 210-212. */

#include "fk_testcluster.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_HEAL_CHAIN "fk_partition_and_heal"
#define S_LOSS_CHAIN "fk_packet_loss"

/*  How long the partition of partition_and_heal lasts from the cut. */
#define S_HEAL_HOLD_MS 12000

static fk_testcluster_t s_cluster;

/*  Print the tail of every node's log: called before an assertion that
    is about to fail, so the agents' side of the story is in the output. */
#define s_require(cond, ...)                                                                       \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fk_testcluster_dump_logs(&s_cluster, 6000);                                            \
            cr_assert(false, __VA_ARGS__);                                                         \
        }                                                                                          \
    } while (0)

static void
s_fini_heal(void)
{
    fk_testcluster_fw_end(S_HEAL_CHAIN);
    fk_harness_cleanup();
}

static void
s_fini_loss(void)
{
    fk_testcluster_fw_end(S_LOSS_CHAIN);
    fk_harness_cleanup();
}

TestSuite(partition, .timeout = 180);

/*  Skip (never fail) when iptables cannot be used here. */
static void
s_need_iptables(const char *chain)
{
    if (!fk_testcluster_fw_usable()) {
        cr_skip_test("iptables is not installed or does not run (Debian package iptables)");
    }
    if (fk_testcluster_fw_begin(chain) != 0) {
        cr_skip_test("iptables may not change the filter table here (needs root)");
    }
}

static void
s_start(size_t count, unsigned base)
{
    cr_assert(fk_testcluster_start(&s_cluster, count, base, NULL), "cluster did not form");
    char *stuck = NULL;
    bool alive = fk_testcluster_wait_all_alive(&s_cluster, 20000, &stuck);
    s_require(alive, "the cluster is not all alive after start (%s)", stuck ? stuck : "");
    free(stuck);
}

static int64_t
s_left(int64_t deadline)
{
    int64_t left = deadline - fk_harness_now_ms();
    return left > 0 ? left : 0;
}

Test(partition, partition_and_heal, .fini = s_fini_heal)
{
    s_need_iptables(S_HEAL_CHAIN);
    s_start(4, 200);
    const size_t west[] = {0, 1};
    const size_t east[] = {2, 3};

    int64_t cut_at = fk_harness_now_ms();
    cr_assert_eq(fk_testcluster_fw_partition(&s_cluster, S_HEAL_CHAIN, west, 2, east, 2), 0,
                 "could not add the partition rules");

    /*  Each side keeps serving: a registration on either side is answered
        and reaches its own side. */
    cr_assert_eq(fk_testcluster_register(s_cluster.nodes[0], "west-1", "live.arkitekt.rekuest"),
                 200);
    cr_assert_eq(fk_testcluster_register(s_cluster.nodes[2], "east-1", "live.arkitekt.mikro"), 200);
    s_require(fk_testcluster_wait_service_on(&s_cluster, west, 2, "west-1", true, 10000),
              "west-1 (registered on n0) did not reach n1 during the partition");
    s_require(fk_testcluster_wait_service_on(&s_cluster, east, 2, "east-1", true, 10000),
              "east-1 (registered on n2) did not reach n3 during the partition");

    /*  Each side marks the other failed. */
    for (size_t k = 0; k < 2; k++) {
        const char *e = fk_harness_name(s_cluster.nodes[east[k]]);
        const char *w = fk_harness_name(s_cluster.nodes[west[k]]);
        s_require(fk_testcluster_wait_status_on(&s_cluster, west, 2, e, "failed", 20000),
                  "the west side (n0, n1) did not mark %s failed: the partition rules cut nothing?",
                  e);
        s_require(fk_testcluster_wait_status_on(&s_cluster, east, 2, w, "failed", 20000),
                  "the east side (n2, n3) did not mark %s failed", w);
    }
    int64_t detected_ms = fk_harness_now_ms() - cut_at;

    /*  Hold the cut for a while (through at least one 5 s retry of the
        failed members, and long enough for TCP to back off): the sides
        must not flap back to alive while nothing crosses. */
    int64_t hold_until = cut_at + S_HEAL_HOLD_MS;
    for (size_t round = 0; round < S_HEAL_HOLD_MS / 250 && fk_harness_now_ms() < hold_until;
         round++) {
        for (size_t k = 0; k < 4; k++) {
            /*  Every (observer, member) pair across the cut, both ways. */
            size_t observer = k < 2 ? west[k] : east[k - 2];
            const size_t *other = k < 2 ? east : west;
            for (size_t j = 0; j < 2; j++) {
                const char *name = fk_harness_name(s_cluster.nodes[other[j]]);
                char *st = fk_testcluster_member_status(s_cluster.nodes[observer], name);
                bool still = st && strcmp(st, "failed") == 0;
                free(st);
                s_require(still, "n%zu saw %s come back while the cut holds", observer, name);
            }
        }
        int64_t next = fk_harness_now_ms() + 250;
        fk_harness_wait_until(next < hold_until ? next : hold_until);
    }

    /*  Neither side got the other's registration, and the other side's
        nodes are failed anyway: no answer may offer them. */
    cr_assert(!fk_testcluster_lists(s_cluster.nodes[2], "west-1"),
              "n2 lists west-1 across the cut");
    cr_assert(!fk_testcluster_lists(s_cluster.nodes[3], "west-1"),
              "n3 lists west-1 across the cut");
    cr_assert(!fk_testcluster_lists(s_cluster.nodes[0], "east-1"),
              "n0 lists east-1 across the cut");
    cr_assert(!fk_testcluster_lists(s_cluster.nodes[1], "east-1"),
              "n1 lists east-1 across the cut");

    /*  Heal. Failed members are retried every 5 s, so within 30 s every
        member is alive everywhere, both services are listed on every node
        and all views are equal. */
    cr_assert_eq(fk_testcluster_fw_flush(S_HEAL_CHAIN), 0);
    int64_t healed_at = fk_harness_now_ms();
    int64_t deadline = healed_at + 30000;
    char *stuck = NULL;
    bool alive = fk_testcluster_wait_all_alive(&s_cluster, s_left(deadline), &stuck);
    s_require(alive, "not all members alive everywhere 30 s after the heal (%s)",
              stuck ? stuck : "");
    free(stuck);
    int64_t alive_ms = fk_harness_now_ms() - healed_at;
    s_require(fk_testcluster_wait_service(&s_cluster, "west-1", true, s_left(deadline)),
              "west-1 is not listed everywhere after the heal");
    s_require(fk_testcluster_wait_service(&s_cluster, "east-1", true, s_left(deadline)),
              "east-1 is not listed everywhere after the heal");
    s_require(fk_testcluster_wait_same_view(&s_cluster, s_left(deadline)),
              "the views differ 30 s after the heal");
    fprintf(stderr,
            "partition_and_heal: both sides failed the other %lld ms after the cut; "
            "all alive %lld ms and converged %lld ms after the heal\n",
            (long long)detected_ms, (long long)alive_ms,
            (long long)(fk_harness_now_ms() - healed_at));
}

/*  ---- packet loss ------------------------------------------------------ */

#define S_LOSS_RUN_MS 20000
#define S_LOSS_POLL_MS 200
#define S_LOSS_REGISTER_MS 1000
#define S_LOSS_MAX_SERVICES 32
#define S_LOSS_MAX_NOTES 16

typedef struct {
    char notes[S_LOSS_MAX_NOTES][96]; /* the first false failures seen */
    size_t failures;                  /* every "failed"/"left" seen */
    size_t suspects;                  /* every "suspect" seen (allowed) */
    size_t polls;                     /* member lists read */
    size_t unanswered;                /* member lists that did not answer */
} s_watch_t;

/*  Read node's member list and note every member it does not count live. */
static void
s_watch(s_watch_t *watch, const fk_node_t *node, int64_t since)
{
    fk_http_resp_t *resp = fk_harness_admin(node, "GET", "/v1/agent/members", NULL);
    watch->polls++;
    if (resp->status != 200 || !json_is_array(resp->json)) {
        watch->unanswered++;
        fk_http_resp_destroy(&resp);
        return;
    }
    size_t i;
    json_t *member;
    json_array_foreach(resp->json, i, member)
    {
        const char *name = json_string_value(json_object_get(member, "name"));
        const char *status = json_string_value(json_object_get(member, "status"));
        if (!name || !status) {
            continue;
        }
        if (strcmp(status, "suspect") == 0) {
            watch->suspects++;
        } else if (strcmp(status, "alive") != 0) {
            if (watch->failures < S_LOSS_MAX_NOTES) {
                snprintf(watch->notes[watch->failures], sizeof watch->notes[0],
                         "t=%lld ms: %s saw %s %s", (long long)(fk_harness_now_ms() - since),
                         fk_harness_name(node), name, status);
            }
            watch->failures++;
        }
    }
    fk_http_resp_destroy(&resp);
}

static uint64_t
s_rand(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    return x;
}

Test(partition, packet_loss_no_false_failures, .fini = s_fini_loss)
{
    s_need_iptables(S_LOSS_CHAIN);
    /*  The statistic match is a separate extension: probe it before
        starting anything. */
    if (fk_testcluster_fw_drop(S_LOSS_CHAIN, NULL, "127.0.0.210", 0.05) != 0
        || fk_testcluster_fw_flush(S_LOSS_CHAIN) != 0) {
        cr_skip_test("iptables has no statistic match here");
    }
    s_start(3, 210);

    /*  5% of the packets arriving at each node are dropped, whoever sent
        them: gossip between the nodes, and this test's own HTTP. Only this
        test's addresses are touched (never a qdisc on lo, which would hit
        every test running in parallel). */
    for (size_t i = 0; i < s_cluster.count; i++) {
        char host[64];
        cr_assert(fk_testcluster_host(s_cluster.nodes[i], host, sizeof host));
        cr_assert_eq(fk_testcluster_fw_drop(S_LOSS_CHAIN, NULL, host, 0.05), 0);
    }

    uint64_t seed = 0x5eedf00dcafe1234u;
    uint64_t rng = seed;
    s_watch_t watch = {0};
    char ids[S_LOSS_MAX_SERVICES][32];
    long statuses[S_LOSS_MAX_SERVICES];
    size_t registered = 0;
    int64_t start = fk_harness_now_ms();
    int64_t end = start + S_LOSS_RUN_MS;
    int64_t next_poll = start;
    int64_t next_register = start + S_LOSS_REGISTER_MS;
    /*  Bounded in time and in count (at most one step per poll period). */
    for (size_t step = 0; step < 4 * S_LOSS_RUN_MS / S_LOSS_POLL_MS; step++) {
        int64_t now = fk_harness_now_ms();
        if (now >= end) {
            break;
        }
        if (now >= next_poll) {
            for (size_t i = 0; i < s_cluster.count; i++) {
                s_watch(&watch, s_cluster.nodes[i], start);
            }
            next_poll += S_LOSS_POLL_MS;
        }
        if (now >= next_register && registered < S_LOSS_MAX_SERVICES) {
            size_t on = (size_t)(s_rand(&rng) % s_cluster.count);
            snprintf(ids[registered], sizeof ids[0], "loss-%zu", registered);
            statuses[registered] = fk_testcluster_register(s_cluster.nodes[on], ids[registered],
                                                           "live.arkitekt.rekuest");
            registered++;
            next_register += S_LOSS_REGISTER_MS;
        }
        /*  Pacing (one poll per period), not synchronisation. */
        int64_t next = next_poll < next_register ? next_poll : next_register;
        fk_harness_wait_until(next < end ? next : end);
    }
    int64_t run_ms = fk_harness_now_ms() - start;

    /*  Still under loss: every registration reaches every node (eager
        push plus anti-entropy repair what was lost) and the views agree. */
    int64_t deadline = fk_harness_now_ms() + 20000;
    bool converged = true;
    for (size_t k = 0; k < registered && converged; k++) {
        converged = statuses[k] != 200
                    || fk_testcluster_wait_service(&s_cluster, ids[k], true, s_left(deadline));
        if (!converged) {
            fprintf(stderr, "packet_loss: %s is not listed everywhere\n", ids[k]);
        }
    }
    bool same = converged && fk_testcluster_wait_same_view(&s_cluster, s_left(deadline));
    int64_t converge_ms = fk_harness_now_ms() - start - run_ms;
    long long dropped = fk_testcluster_fw_dropped(S_LOSS_CHAIN);
    cr_assert_eq(fk_testcluster_fw_flush(S_LOSS_CHAIN), 0);

    fprintf(stderr,
            "packet_loss: seed %#llx, %zu registrations, %zu member lists read (%zu unanswered) "
            "in %lld ms, %lld packets dropped, %zu suspect sightings, %zu failed/left sightings, "
            "converged %lld ms after the run\n",
            (unsigned long long)seed, registered, watch.polls, watch.unanswered, (long long)run_ms,
            dropped, watch.suspects, watch.failures, (long long)converge_ms);
    for (size_t k = 0; k < watch.failures && k < S_LOSS_MAX_NOTES; k++) {
        fprintf(stderr, "packet_loss: %s\n", watch.notes[k]);
    }
    cr_assert_gt(dropped, 0, "the loss rules dropped nothing: the test proved nothing");
    /*  Under loss an answer can take a second longer (a dropped SYN is
        resent after 1 s), so the schedule may slip: half is plenty. */
    cr_assert_geq(registered, S_LOSS_RUN_MS / S_LOSS_REGISTER_MS / 2, "only %zu registrations",
                  registered);
    for (size_t k = 0; k < registered; k++) {
        cr_assert_eq(statuses[k], 200, "registering %s answered %ld", ids[k], statuses[k]);
    }
    s_require(watch.failures == 0,
              "a node declared a live member failed under 5%% packet loss (%zu sightings; first: "
              "%s)",
              watch.failures, watch.notes[0]);
    s_require(converged, "a registration did not reach every node within 20 s");
    s_require(same, "the views differ at the end");
}
