/*  fk_testcluster - clusters of real agents on loopback, for tests and
    benchmarks (built on fk_harness).

    Node i listens on 127.0.0.(base + i), HTTP and gossip each on a free
    port, so iptables rules can cut between any two nodes by address.

    The cluster runs in the secure mode, as users run it: each cluster gets
    a fresh cluster secret (a 0600 file in its own temporary directory,
    removed when the test process exits) that every node reads with
    --cluster-secret-file, so `fakts-node join` admits them. Extra
    arguments holding --insecure-gossip start a plaintext cluster instead. */

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
    char secret_file[256];                /* the cluster secret ("" in the insecure mode) */
} fk_testcluster_t;

/*  Print the last max_bytes of every node's log to stderr, each under a
    header naming the node: what a failing test shows. */
void fk_testcluster_dump_logs(const fk_testcluster_t *cluster, size_t max_bytes);

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

/*  ---------------------------------------------------------------------
    More waits and calls, for fault tests
    --------------------------------------------------------------------- */

/*  The listen host of node ("127.0.0.x", from the gossip address in its
    agent.json) written to buf. Returns false when unknown or too long. */
bool fk_testcluster_host(const fk_node_t *node, char *buf, size_t size);

/*  True when node's GET /v1/services lists service id. */
bool fk_testcluster_lists(const fk_node_t *node, const char *id);

/*  Deregister service id on node (DELETE /v1/services/{id}). Returns the
    HTTP status. */
long fk_testcluster_deregister(const fk_node_t *node, const char *id);

/*  Like fk_testcluster_wait_status and fk_testcluster_wait_service, but
    asking only the count nodes whose indices are in on[] (running ones). */
bool fk_testcluster_wait_status_on(fk_testcluster_t *cluster, const size_t *on, size_t count,
                                   const char *name, const char *status, int64_t timeout_ms);
bool fk_testcluster_wait_service_on(fk_testcluster_t *cluster, const size_t *on, size_t count,
                                    const char *id, bool present, int64_t timeout_ms);

/*  Poll until every running node sees every node of the cluster "alive"
    (itself included). On false, *stuck_p (when not NULL) names a fresh
    "observer: member status" of the last check that did not hold (caller
    frees). */
bool fk_testcluster_wait_all_alive(fk_testcluster_t *cluster, int64_t timeout_ms, char **stuck_p);

/*  ---------------------------------------------------------------------
    Network faults (iptables)

    A test that cuts or degrades links owns one iptables chain, named after
    the test (at most 28 characters), jumped to from the first rule of the
    filter table's INPUT chain for loopback packets (-i lo). Rules only go
    into that chain, so deleting the chain removes every rule the test
    made: call fk_testcluster_fw_end() from the suite's .fini (it runs after
    a failed assertion) and fk_testcluster_fw_begin() at the start of the
    test (it first removes what a killed run may have left).

    Needs the iptables command (Debian package "iptables") and
    CAP_NET_ADMIN; each command runs with a deadline. Diagnostics go to
    stderr. Not thread-safe.
    --------------------------------------------------------------------- */

/*  True when `iptables -V` runs and exits 0. */
bool fk_testcluster_fw_usable(void);

/*  Remove chain if it exists (fk_testcluster_fw_end), create it empty and
    hook it into INPUT for -i lo. Returns 0, or -1 when iptables refused
    (not root, no netfilter): the caller should skip its test. */
int fk_testcluster_fw_begin(const char *chain);

/*  Append to chain a rule dropping packets from src to dst (either may be
    NULL: any address). probability >= 1.0 drops every such packet; below,
    each packet is dropped with that probability (-m statistic --mode
    random). Returns 0 or -1. */
int fk_testcluster_fw_drop(const char *chain, const char *src, const char *dst, double probability);

/*  Drop every packet between the nodes with indices in a[] and those in
    b[], both directions (-s host(x) -d host(y) and the reverse). */
int fk_testcluster_fw_partition(const fk_testcluster_t *cluster, const char *chain, const size_t *a,
                                size_t a_count, const size_t *b, size_t b_count);

/*  Delete every rule in chain (heal); the chain and its hook stay. */
int fk_testcluster_fw_flush(const char *chain);

/*  Packets the DROP rules of chain have dropped so far, or -1. */
long long fk_testcluster_fw_dropped(const char *chain);

/*  Unhook chain from INPUT, flush and delete it. Safe when it does not
    exist. Returns 0 when no trace of it is left, -1 otherwise. */
int fk_testcluster_fw_end(const char *chain);

#endif
