/*  Replication lag in GET /metrics (docs/API.md, "Metrics"): a node
    reports, per other member, how many versions it trails what peers
    claim and how long ago it last applied that member's records; after a
    write on one node the other shows it applied and caught up, and no
    node reports itself. Addresses 127.0.0.16-17. */

#include "fk_e2e.h"
#include "fk_testcluster.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_WAIT_MS 10000

static fk_testcluster_t s_cluster;

static void
s_teardown(void)
{
    fk_harness_cleanup();
}

TestSuite(cluster_lag, .fini = s_teardown, .timeout = 180);

typedef struct {
    const fk_node_t *node; /* scraped */
    double behind;         /* fakts_replication_versions_behind{owner="n0"} there */
    double since;          /* fakts_replication_last_delta_seconds{owner="n0"} */
    bool self_listed;      /* a series about the node itself appeared */
} s_lag_t;

static bool
s_caught_up(void *arg)
{
    s_lag_t *lag = arg;
    fk_http_resp_t *resp = fk_harness_admin(lag->node, "GET", "/metrics", NULL);
    bool ok = false;
    if (resp->status == 200 && resp->body) {
        lag->behind =
            fk_e2e_metric_value(resp->body, "fakts_replication_versions_behind{owner=\"n0\"}");
        lag->since =
            fk_e2e_metric_value(resp->body, "fakts_replication_last_delta_seconds{owner=\"n0\"}");
        lag->self_listed = lag->self_listed || strstr(resp->body, "{owner=\"n1\"}") != NULL;
        ok = lag->behind == 0 && lag->since >= 0;
    }
    fk_http_resp_destroy(&resp);
    return ok;
}

Test(cluster_lag, a_write_on_one_node_is_seen_applied_and_caught_up_on_the_other)
{
    cr_assert(fk_testcluster_start(&s_cluster, 2, 16, NULL), "cluster did not form");
    fk_http_resp_t *resp =
        fk_harness_admin(s_cluster.nodes[0], "PUT", "/v1/services",
                         "{\"id\":\"lagged\",\"service\":\"live.test.lag\","
                         "\"aliases\":[{\"host\":\"h\"}]}");
    cr_assert_eq(resp->status, 200, "%s", resp->body);
    fk_http_resp_destroy(&resp);
    cr_assert(fk_testcluster_wait_service(&s_cluster, "lagged", true, S_WAIT_MS));

    s_lag_t lag = {.node = s_cluster.nodes[1]};
    bool ok = fk_poll_until(S_WAIT_MS, s_caught_up, &lag);
    if (!ok) {
        fk_testcluster_dump_logs(&s_cluster, 3000);
    }
    cr_assert(ok, "n1 did not report n0 applied and caught up (behind %g, since %g)", lag.behind,
              lag.since);
    cr_expect_lt(lag.since, 60, "n0's records were applied moments ago, not %g s", lag.since);
    cr_expect_not(lag.self_listed, "a node never reports lag behind itself");
}
