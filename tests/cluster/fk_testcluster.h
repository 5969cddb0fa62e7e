/*  fk_testcluster - clusters of real agents on loopback, for tests and
    benchmarks (built on fk_harness).

    Node i listens on 127.0.0.(base + i), HTTP and gossip each on a free
    port, so iptables rules can cut between any two nodes by address. */

#ifndef FK_TESTCLUSTER_H_INCLUDED
#define FK_TESTCLUSTER_H_INCLUDED

#include "fk_harness.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FK_TESTCLUSTER_MAX 64

typedef struct {
    size_t count;                         /* nodes started */
    fk_node_t *nodes[FK_TESTCLUSTER_MAX]; /* node i is "n<i>" on 127.0.0.(base+i) */
} fk_testcluster_t;

/*  Start count nodes named n0..n<count-1> on 127.0.0.(base+i) and join
    every other node to n0 with `fakts-node join`. Returns false when a
    node did not start or a join failed. */
bool fk_testcluster_start(fk_testcluster_t *cluster, size_t count, unsigned base,
                          const char *const *extra_args);

/*  The gossip address of a node (from its agent.json). Borrowed. */
const char *fk_testcluster_gossip(const fk_node_t *node);

/*  The status node reports for member name ("alive", "suspect", "failed",
    "left"), or NULL when unknown or the node did not answer. Caller frees. */
char *fk_testcluster_member_status(const fk_node_t *node, const char *name);

/*  Poll until every running node in the cluster sees member name with
    status; false at the deadline. */
bool fk_testcluster_wait_status(fk_testcluster_t *cluster, const char *name, const char *status,
                                int64_t timeout_ms);

/*  Poll until every running node's GET /v1/services lists (present) or
    does not list (!present) service id; false at the deadline. */
bool fk_testcluster_wait_service(fk_testcluster_t *cluster, const char *id, bool present,
                                 int64_t timeout_ms);

/*  The X-Fakts-View of GET /v1/agent/info on node (caller frees), or NULL. */
char *fk_testcluster_view(const fk_node_t *node);

/*  Poll until every running node reports the same X-Fakts-View. */
bool fk_testcluster_wait_same_view(fk_testcluster_t *cluster, int64_t timeout_ms);

/*  Register a service with id and service name on node through the agent
    API (host 10.0.0.5, port 8090). Returns the HTTP status. */
long fk_testcluster_register(const fk_node_t *node, const char *id, const char *service);

#endif
