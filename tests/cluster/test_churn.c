/*  Churn: registrations and deregistrations on random nodes of a 5-node
    cluster while one node crashes (kill -9) and comes back, and another
    leaves and is restarted and joined again. At the end every member is
    alive everywhere and every node reports the same X-Fakts-View.
    Addresses 127.0.0.220-224. */

#include "fk_testcluster.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_NODES 5
#define S_OPS 30
#define S_OP_PACE_MS 250
#define S_MAX_SERVICES S_OPS

/*  The scripted events, by operation number. */
#define S_OP_KILL 8
#define S_OP_RESTART_KILLED 12
#define S_OP_LEAVE 18
#define S_OP_RESTART_LEFT 22
#define S_KILLED 3
#define S_LEAVER 4

static fk_testcluster_t s_cluster;

#define s_require(cond, ...)                                                                       \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fk_testcluster_dump_logs(&s_cluster, 6000);                                            \
            cr_assert(false, __VA_ARGS__);                                                         \
        }                                                                                          \
    } while (0)

static void
s_teardown(void)
{
    fk_harness_cleanup();
}

TestSuite(churn, .fini = s_teardown, .timeout = 180);

typedef struct {
    char id[32];  /* service id */
    size_t node;  /* index of the node it was registered on */
    bool present; /* registered and not deregistered */
} s_service_t;

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

static bool
s_stopped(void *arg)
{
    return !fk_harness_running(arg);
}

static int64_t
s_left(int64_t deadline)
{
    int64_t left = deadline - fk_harness_now_ms();
    return left > 0 ? left : 0;
}

/*  A random running node, or S_NODES when none runs. */
static size_t
s_pick_running(uint64_t *rng)
{
    size_t first = (size_t)(s_rand(rng) % S_NODES);
    for (size_t k = 0; k < S_NODES; k++) {
        size_t i = (first + k) % S_NODES;
        if (fk_harness_running(s_cluster.nodes[i])) {
            return i;
        }
    }
    return S_NODES;
}

Test(churn, churn_equal_views)
{
    cr_assert(fk_testcluster_start(&s_cluster, S_NODES, 220, NULL), "cluster did not form");
    char *stuck = NULL;
    bool alive = fk_testcluster_wait_all_alive(&s_cluster, 20000, &stuck);
    s_require(alive, "the cluster is not all alive after start (%s)", stuck ? stuck : "");
    free(stuck);

    uint64_t seed = 0xc4a7f00d5eedu;
    uint64_t rng = seed;
    s_service_t services[S_MAX_SERVICES];
    size_t count = 0;
    size_t registrations = 0;
    size_t deregistrations = 0;
    int64_t start = fk_harness_now_ms();
    int64_t deadline = start + 45000;

    for (size_t op = 0; op < S_OPS && fk_harness_now_ms() < deadline; op++) {
        int64_t op_start = fk_harness_now_ms();
        if (op == S_OP_KILL) {
            cr_assert_eq(fk_harness_kill9(s_cluster.nodes[S_KILLED]), 0);
        } else if (op == S_OP_RESTART_KILLED) {
            s_require(fk_harness_restart(s_cluster.nodes[S_KILLED]) == 0,
                      "n%d did not restart after kill -9", S_KILLED);
        } else if (op == S_OP_LEAVE) {
            const char *argv[] = {"leave", NULL};
            int status = -1;
            fk_harness_cli(s_cluster.nodes[S_LEAVER], argv, &status, NULL, NULL);
            cr_assert_eq(status, 0, "leave failed");
            s_require(fk_poll_until(10000, s_stopped, s_cluster.nodes[S_LEAVER]),
                      "n%d did not stop after leaving", S_LEAVER);
        } else if (op == S_OP_RESTART_LEFT) {
            s_require(fk_harness_restart(s_cluster.nodes[S_LEAVER]) == 0,
                      "n%d did not restart after leaving", S_LEAVER);
            const char *argv[] = {"join", fk_testcluster_gossip(s_cluster.nodes[0]), NULL};
            int status = -1;
            char *err = NULL;
            fk_harness_cli(s_cluster.nodes[S_LEAVER], argv, &status, NULL, &err);
            s_require(status == 0, "n%d could not join again after leaving: %s", S_LEAVER,
                      err ? err : "");
            free(err);
        }

        size_t on = s_pick_running(&rng);
        cr_assert_lt(on, S_NODES, "no node is running");
        /*  One time in three, deregister one of this node's services. */
        size_t victim = count;
        if (s_rand(&rng) % 3 == 0) {
            for (size_t k = 0; k < count; k++) {
                if (services[k].present && services[k].node == on) {
                    victim = k;
                    break;
                }
            }
        }
        if (victim < count) {
            long status = fk_testcluster_deregister(s_cluster.nodes[on], services[victim].id);
            cr_assert_eq(status, 200, "deregistering %s on n%zu answered %ld", services[victim].id,
                         on, status);
            services[victim].present = false;
            deregistrations++;
        } else {
            s_service_t *svc = &services[count++];
            snprintf(svc->id, sizeof svc->id, "churn-%zu", op);
            svc->node = on;
            svc->present = true;
            long status =
                fk_testcluster_register(s_cluster.nodes[on], svc->id,
                                        op % 2 ? "live.arkitekt.rekuest" : "live.arkitekt.mikro");
            cr_assert_eq(status, 200, "registering %s on n%zu answered %ld", svc->id, on, status);
            registrations++;
        }
        /*  Pacing, so the operations overlap gossip rather than one burst. */
        fk_harness_wait_until(op_start + S_OP_PACE_MS);
    }
    int64_t ops_ms = fk_harness_now_ms() - start;

    int64_t end = fk_harness_now_ms() + 30000;
    alive = fk_testcluster_wait_all_alive(&s_cluster, s_left(end), &stuck);
    s_require(alive, "not all members alive everywhere after the churn (%s)", stuck ? stuck : "");
    free(stuck);
    for (size_t k = 0; k < count; k++) {
        s_require(fk_testcluster_wait_service(&s_cluster, services[k].id, services[k].present,
                                              s_left(end)),
                  "%s (n%zu) should be %s on every node", services[k].id, services[k].node,
                  services[k].present ? "listed" : "gone");
    }
    s_require(fk_testcluster_wait_same_view(&s_cluster, s_left(end)),
              "the views differ after the churn");
    fprintf(stderr,
            "churn_equal_views: seed %#llx, %zu registrations, %zu deregistrations in %lld ms; "
            "converged %lld ms later\n",
            (unsigned long long)seed, registrations, deregistrations, (long long)ops_ms,
            (long long)(fk_harness_now_ms() - start - ops_ms));
}
