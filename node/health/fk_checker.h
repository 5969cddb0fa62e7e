/*  fk_checker - run the health checks of this node's own service instances.

    The node that owns an instance (the one that registered it) is the only
    one that checks it, and the only one that writes its health: the
    checker keeps, per local instance with checks, the state of fk_health.h
    and rewrites the instance's record (fk_catalog_set_health) only when a
    status changes, so gossip carries health only on change and every node
    composes from the same replicated health.

    What runs (docs/ARCHITECTURE.md, "Health checks"):
      http  GET with libcurl: http and https only, redirects never
            followed (a 3xx is critical), no proxy, the check's timeout
            for the whole exchange, at most 4 KiB of body read (then the
            transfer is cut), a snippet of 64 bytes kept. 2xx passing,
            429 warning, else critical.
      tcp   a connect with libcurl (CURLOPT_CONNECT_ONLY: its resolver and
            timeout, nothing sent), within the timeout: passing, else
            critical.
      ttl   nothing runs: fk_checker_report sets the status; silence for
            ttl turns it critical.
    An instance critical for its deregister_critical_after is
    deregistered (fk_catalog_deregister), as an operator would, and the
    audit log records it (actor "health-checker", action
    "service.deregister", the instance id as subject).

    Threads: a fixed pool of worker threads (opts.workers) share one table
    under a mutex and take due checks in turn, so at most that many checks
    run at once whatever the number of instances, and a target that hangs
    holds one worker for at most its timeout. The mutex is never held
    during a check's I/O; it is held across the record write of a status
    change (one short LMDB write) so writes of one instance stay in order.
    fk_checker_kick and fk_checker_report may be called from any thread.

    Restart: the table is rebuilt from the records. Stored statuses are
    kept; http and tcp checks run at once, and a ttl check that was not
    critical gets a full ttl from the start (its reporter had no node to
    report to while it was down). */

#ifndef FK_CHECKER_H_INCLUDED
#define FK_CHECKER_H_INCLUDED

#include "fk_audit.h"
#include "fk_health.h"
#include "fk_store.h"

typedef struct fk_checker fk_checker_t;

typedef struct {
    fk_store_t *store; /* borrowed; must outlive the checker */
    fk_audit_t *audit; /* borrowed: where deregistrations are recorded, or NULL */
    unsigned workers;  /* checks run at once, 1-64; 0 means 4 */
} fk_checker_opts_t;

/*  Start the workers, which read the local catalog at once. On success
    *self_p owns the checker (fk_checker_destroy stops it) and 0 is
    returned; otherwise FK_EINVAL_INPUT (workers over 64), FK_EUNAVAILABLE
    (libcurl would not initialise) or -errno from pthread_create. */
int fk_checker_start(fk_checker_t **self_p, const fk_checker_opts_t *opts);

/*  Stop the workers (a running check ends within its timeout) and free
    the checker; sets *self_p to NULL. Safe on NULL. The records keep the
    last health written. */
void fk_checker_destroy(fk_checker_t **self_p);

/*  The local catalog changed (a registration, a deregistration, a reload
    of the services directory): read it again now rather than at the next
    periodic read (every 5 s). Never blocks on a check. */
void fk_checker_kick(fk_checker_t *self);

/*  The local instance id reports status for its ttl checks (every one of
    them: checks have no ids), with note as the output (NULL: the status's
    name). Returns 0 once the record holds the new status (or it had it);
    FK_ENOTFOUND when this node has no instance with that id;
    FK_EUNSUPPORTED when the instance has no ttl check; or a store error.
    An instance registered a moment ago is found: an unknown id makes the
    checker read the catalog again before it answers. */
int fk_checker_report(fk_checker_t *self, const char *id, fk_health_status_t status,
                      const char *note);

#endif
