/*  fk_api - the answers plane: routes every HTTP request of a node to the
    Fakts protocol (fk_fakts.c), the operators' agent API (fk_admin.c) or
    the operators' web pages (fk_ui.c), and stamps every JSON answer with
    the view it was composed from.

    Threads: fk_api_handle is called concurrently from the HTTP threads;
    the api object is immutable after fk_api_new apart from its rate-limit
    table and the web pages' session table, each with its own lock. */

#ifndef FK_API_H_INCLUDED
#define FK_API_H_INCLUDED

#include "fk_audit.h"
#include "fk_checker.h"
#include "fk_cluster.h"
#include "fk_grants.h"
#include "fk_http.h"
#include "fk_lag.h"
#include "fk_metrics.h"
#include "fk_origins.h"
#include "fk_store.h"

typedef struct fk_api fk_api_t;

typedef struct {
    fk_store_t *store;           /* borrowed */
    fk_grants_t *grants;         /* borrowed */
    fk_audit_t *audit;           /* borrowed: where operators' actions are recorded, or NULL */
    fk_checker_t *checker;       /* borrowed: ttl reports, told of registrations; or NULL */
    fk_cluster_t *cluster;       /* borrowed: join, leave, force-leave */
    const fk_identity_t *identity; /* borrowed: this node's keys (join tokens name them) */
    bool insecure_gossip;        /* gossip is plaintext: said in info and members */
    const char *admin_token;     /* required on /v1/, logs in to the web pages (copied) */
    const char *ui_password;     /* also logs in to the web pages, or NULL (copied) */
    const fk_origins_t *origins; /* borrowed: the public URLs answers use (fk_origins) */
    const char *deployment_name; /* discovery "name" and self.deployment_name (copied) */
    const char *data_dir;        /* reported by /v1/agent/info (copied) */
    const char *services_dir;    /* reported by /v1/agent/info (copied) */
    const char *http_addr;       /* "host:port" bound, for /v1/agent/info (copied) */
    unsigned authorize_per_min;  /* app-authorization requests per minute per IP (0: no limit) */
    unsigned token_per_min;      /* token requests per minute per IP (0: no limit) */
    unsigned v1_per_min;         /* v1 requests (/lok/f/) per minute per IP (0: no limit) */
    unsigned code_misses_per_min; /* unknown codes at v1 challenge/ per minute per IP, after
                                     which the address may try none until the minute ends
                                     (0: no limit) */
    bool consistent_answers;     /* quorum round before every token answer */
    fk_metrics_t *metrics;       /* borrowed: where the api counts and what GET /metrics
                                    renders, or NULL (no /metrics); must outlive the api, and
                                    be rendered by nothing else (its gauges read the store) */
    bool metrics_loopback_open;  /* GET /metrics needs no token from a loopback peer */
    fk_lag_t *lag;               /* borrowed: the cluster's replication lag notes, rendered
                                    by /metrics (outlives the api), or NULL */
    fk_http_t *http;             /* borrowed: the listener serving the api, for the gauge of
                                    held requests, or NULL; must outlive the api's metrics */
} fk_api_opts_t;

/*  Create the router. Never fails (aborts on OOM). */
fk_api_t *fk_api_new(const fk_api_opts_t *opts);

/*  Free; sets *self_p to NULL. Safe on NULL. No request may be running. */
void fk_api_destroy(fk_api_t **self_p);

/*  The fk_http_handler_fn: answer one request. arg is the fk_api_t. */
void fk_api_handle(void *arg, fk_http_req_t *req);

#endif
