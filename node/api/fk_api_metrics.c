/*  fk_api_metrics - what the api counts and reports at GET /metrics
    (fk_api_priv.h): HTTP requests by route and status with their
    latency, token exchanges by grant type and outcome, and the gauges
    read from the store at each scrape (members by state, records by
    kind, store size, pending codes, health check states).

    The request and token series are created on their first use (a route
    may never see a 418), so a scrape lists only what happened; the hot
    path is then one atomic load of the series pointer and the registry's
    atomic update. Creation takes this module's lock once per series. */

#include "fk_api_priv.h"

#include "fk_clock.h"
#include "fk_err.h"
#include "fk_health.h"
#include "fk_json.h"
#include "fk_mem.h"
#include "fk_metrics.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*  Statuses 100-599 each have a slot (1-500); slot 0, code "0", counts
    requests that got no response (one could not be created). */
#define S_STATUS_SLOTS 501
#define S_GRANT_SLOTS 8

/*  The outcomes of a token exchange, by what the client learns. */
enum { S_ISSUED, S_PENDING, S_DENIED, S_INVALID, S_ERROR, S_OUTCOMES };
static const char *const s_outcome_names[S_OUTCOMES] = {"issued", "pending", "denied", "invalid",
                                                        "error"};

/*  HTTP latency buckets, seconds: from a cached JWKS (well under 1 ms)
    to a forwarded request that waits for its owner (up to 3 s) and a
    consistent answer (up to 5 s). */
static const double s_latency_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                          0.1,    0.25,  0.5,    1,     2.5,  5,     10};

struct fk__api_metrics {
    fk_metrics_t *registry;                                          /* borrowed */
    pthread_mutex_t lock;                                            /* serialises creation */
    _Atomic(fk_metric_t *) requests[FK__API_ROUTES][S_STATUS_SLOTS]; /* by route, status */
    _Atomic(fk_metric_t *) latency[FK__API_ROUTES];                  /* by route */
    _Atomic(fk_metric_t *) tokens[S_GRANT_SLOTS][S_OUTCOMES];        /* by grant, outcome */
};

/*  The series in *slot, created by make(arg) on first use. */
static fk_metric_t *
s_lazy(fk__api_metrics_t *m, _Atomic(fk_metric_t *) *slot, fk_metric_t *(*make)(void *), void *arg)
{
    fk_metric_t *metric = atomic_load_explicit(slot, memory_order_acquire);
    if (metric) {
        return metric;
    }
    pthread_mutex_lock(&m->lock);
    metric = atomic_load_explicit(slot, memory_order_acquire);
    if (!metric) {
        metric = make(arg);
        atomic_store_explicit(slot, metric, memory_order_release);
    }
    pthread_mutex_unlock(&m->lock);
    return metric;
}

typedef struct {
    fk_metrics_t *registry; /* where the series goes */
    const char *route;      /* route label */
    const char *second;     /* the second label's value (code, outcome) */
} s_make_args_t;

static fk_metric_t *
s_make_requests(void *arg)
{
    const s_make_args_t *a = arg;
    return fk_metrics_counter(a->registry, "fakts_http_requests_total",
                              "HTTP requests answered, by route (the api's route table) and status "
                              "code.",
                              (const char *const[]){"route", a->route, "code", a->second, NULL});
}

static fk_metric_t *
s_make_latency(void *arg)
{
    const s_make_args_t *a = arg;
    return fk_metrics_histogram(a->registry, "fakts_http_request_duration_seconds",
                                "Time from a request's whole body to its answer, by route.",
                                (const char *const[]){"route", a->route, NULL}, s_latency_bounds,
                                sizeof s_latency_bounds / sizeof s_latency_bounds[0]);
}

static fk_metric_t *
s_make_tokens(void *arg)
{
    const s_make_args_t *a = arg;
    return fk_metrics_counter(
        a->registry, "fakts_token_exchanges_total",
        "Token endpoint exchanges, by grant_type and outcome (issued; pending: "
        "authorization_pending or slow_down; denied: access_denied or expired_token; invalid: "
        "another 4xx; error: 5xx).",
        (const char *const[]){"grant_type", a->route, "outcome", a->second, NULL});
}

void
fk__api_metrics_request(fk_api_t *self, size_t route, const char *name, fk_http_req_t *req,
                        double seconds)
{
    fk__api_metrics_t *m = self->metrics;
    if (!m || route >= FK__API_ROUTES) {
        return;
    }
    unsigned status = fk_http_status(req);
    size_t slot = status >= 100 && status <= 599 ? status - 99 : 0;
    char code[8];
    snprintf(code, sizeof code, "%u", slot ? status : 0);
    s_make_args_t args = {m->registry, name, code};
    fk_metrics_inc(s_lazy(m, &m->requests[route][slot], s_make_requests, &args));
    fk_metrics_observe(s_lazy(m, &m->latency[route], s_make_latency, &args), seconds);
}

void
fk__api_metrics_token(fk_api_t *self, size_t grant, const char *name, int rc)
{
    fk__api_metrics_t *m = self->metrics;
    if (!m || grant >= S_GRANT_SLOTS) {
        return;
    }
    size_t outcome = S_ISSUED;
    if (rc == FK_EPENDING || rc == FK_ESLOWDOWN) {
        outcome = S_PENDING;
    } else if (rc == FK_EDENIED || rc == FK_EEXPIRED) {
        outcome = S_DENIED;
    } else if (rc != 0) {
        outcome = fk__api_err(rc)->status >= 500 ? S_ERROR : S_INVALID;
    }
    s_make_args_t args = {m->registry, name, s_outcome_names[outcome]};
    fk_metrics_inc(s_lazy(m, &m->tokens[grant][outcome], s_make_tokens, &args));
}

/*  ---------------------------------------------------------------------
    Gauges read at scrape time
    --------------------------------------------------------------------- */

typedef struct {
    double count[4]; /* by fk_store_member_status_t */
} s_member_counts_t;

static int
s_count_member(void *arg, const char *name, fk_store_member_status_t status, const char *json)
{
    (void)name;
    (void)json;
    s_member_counts_t *counts = arg;
    if ((unsigned)status < 4) {
        counts->count[status]++;
    }
    return 0;
}

static void
s_collect_members(void *arg, fk_metrics_out_t *out)
{
    fk_api_t *self = arg;
    static const char *const names[4] = {"alive", "suspect", "failed", "left"};
    s_member_counts_t counts = {{0}};
    fk_store_txn_t *txn;
    if (fk_store_read_begin(self->store, &txn) != 0) {
        return;
    }
    fk_store_members(txn, s_count_member, &counts);
    fk_store_txn_end(&txn);
    for (size_t i = 0; i < 4; i++) {
        fk_metrics_sample(out, (const char *const[]){"state", names[i], NULL}, counts.count[i]);
    }
}

/*  Record kinds are the keys' first segment ("svc", "code", ...): a
    fixed vocabulary of the node's own, so the table never fills; a kind
    past it would count as "other". */
#define S_KINDS 32

typedef struct {
    char name[S_KINDS][24]; /* kind names, "" for a free slot */
    double count[S_KINDS];  /* live records of each */
} s_kind_counts_t;

static int
s_count_kind(void *arg, const fk_store_entry_t *entry)
{
    s_kind_counts_t *kinds = arg;
    size_t len = strcspn(entry->key, "/");
    const char *name = entry->key;
    if (len == 0 || len >= sizeof kinds->name[0]) {
        name = "other";
        len = 5;
    }
    for (size_t i = 0; i < S_KINDS; i++) {
        if (kinds->name[i][0] == '\0') {
            memcpy(kinds->name[i], name, len);
            kinds->name[i][len] = '\0';
        }
        if (strlen(kinds->name[i]) == len && memcmp(kinds->name[i], name, len) == 0) {
            kinds->count[i]++;
            return 0;
        }
    }
    return 0;
}

static void
s_collect_records(void *arg, fk_metrics_out_t *out)
{
    fk_api_t *self = arg;
    s_kind_counts_t *kinds = fk_calloc(1, sizeof *kinds);
    fk_store_txn_t *txn;
    if (fk_store_read_begin(self->store, &txn) == 0) {
        fk_store_scan(txn, "", s_count_kind, kinds);
        fk_store_txn_end(&txn);
    }
    for (size_t i = 0; i < S_KINDS && kinds->name[i][0]; i++) {
        fk_metrics_sample(out, (const char *const[]){"kind", kinds->name[i], NULL},
                          kinds->count[i]);
    }
    free(kinds);
}

static void
s_collect_store_bytes(void *arg, fk_metrics_out_t *out)
{
    fk_api_t *self = arg;
    fk_store_space_t space;
    if (fk_store_space(self->store, &space) != 0) {
        return;
    }
    fk_metrics_sample(out, (const char *const[]){"area", "map", NULL}, (double)space.map_size);
    fk_metrics_sample(out, (const char *const[]){"area", "used", NULL}, (double)space.used);
    fk_metrics_sample(out, (const char *const[]){"area", "reserve", NULL}, (double)space.reserve);
}

static void
s_collect_store_full(void *arg, fk_metrics_out_t *out)
{
    fk_api_t *self = arg;
    fk_store_space_t space;
    if (fk_store_space(self->store, &space) == 0) {
        fk_metrics_sample(out, NULL, space.full ? 1 : 0);
    }
}

static void
s_collect_held(void *arg, fk_metrics_out_t *out)
{
    fk_api_t *self = arg;
    if (self->http) {
        fk_metrics_sample(out, NULL, (double)fk_http_held(self->http));
    }
}

static void
s_collect_pending(void *arg, fk_metrics_out_t *out)
{
    fk_api_t *self = arg;
    json_t *pending = fk_grants_pending(self->grants);
    if (pending) {
        fk_metrics_sample(out, NULL, (double)json_array_size(pending));
        json_decref(pending);
    }
}

typedef struct {
    const char *node; /* this node: only its instances are its checks */
    double count[3];  /* by fk_health_status_t */
} s_health_counts_t;

static int
s_count_health(void *arg, const fk_store_entry_t *entry)
{
    s_health_counts_t *counts = arg;
    if (strcmp(entry->owner, counts->node) != 0) {
        return 0;
    }
    json_t *instance = json_loadb(entry->record.payload, entry->record.payload_len, 0, NULL);
    if (instance && json_object_get(instance, "health")) {
        unsigned status = (unsigned)fk_health_of(instance);
        if (status < 3) {
            counts->count[status]++;
        }
    }
    json_decref(instance);
    return 0;
}

static void
s_collect_health(void *arg, fk_metrics_out_t *out)
{
    fk_api_t *self = arg;
    s_health_counts_t counts = {.node = fk_store_node(self->store)};
    fk_store_txn_t *txn;
    if (fk_store_read_begin(self->store, &txn) != 0) {
        return;
    }
    fk_store_scan(txn, "svc/", s_count_health, &counts);
    fk_store_txn_end(&txn);
    for (unsigned i = 0; i < 3; i++) {
        const char *name = fk_health_status_name((fk_health_status_t)i);
        fk_metrics_sample(out, (const char *const[]){"status", name, NULL}, counts.count[i]);
    }
}

/*  One scrape's view of the lag notes: the store's versions to compare
    the claims with, and what to write. */
typedef struct {
    fk_store_txn_t *txn;   /* a read of the store */
    fk_metrics_out_t *out; /* the family's samples */
    int64_t now_ms;        /* the scrape's time */
} s_lag_scrape_t;

/*  Only owners still in the member table (any state: a failed member's
    records stay until the reconnect timeout) are reported. */
static void
s_lag_behind(void *arg, const fk_lag_entry_t *entry)
{
    s_lag_scrape_t *scrape = arg;
    fk_store_member_status_t status;
    if (fk_store_member_get(scrape->txn, entry->owner, &status) != 0) {
        return;
    }
    uint64_t held = fk_store_owner_version(scrape->txn, entry->owner);
    double behind = entry->claimed > held ? (double)(entry->claimed - held) : 0;
    fk_metrics_sample(scrape->out, (const char *const[]){"owner", entry->owner, NULL}, behind);
}

static void
s_lag_since(void *arg, const fk_lag_entry_t *entry)
{
    s_lag_scrape_t *scrape = arg;
    fk_store_member_status_t status;
    if (entry->applied_ms == 0 || fk_store_member_get(scrape->txn, entry->owner, &status) != 0) {
        return;
    }
    fk_metrics_sample(scrape->out, (const char *const[]){"owner", entry->owner, NULL},
                      (double)(scrape->now_ms - entry->applied_ms) / 1000.0);
}

static void
s_collect_lag(fk_api_t *self, fk_metrics_out_t *out, fk_lag_fn fn)
{
    s_lag_scrape_t scrape = {.out = out, .now_ms = fk_clock_mono_ms()};
    if (fk_store_read_begin(self->store, &scrape.txn) != 0) {
        return;
    }
    fk_lag_each(self->lag, fn, &scrape);
    fk_store_txn_end(&scrape.txn);
}

static void
s_collect_lag_behind(void *arg, fk_metrics_out_t *out)
{
    s_collect_lag(arg, out, s_lag_behind);
}

static void
s_collect_lag_since(void *arg, fk_metrics_out_t *out)
{
    s_collect_lag(arg, out, s_lag_since);
}

fk__api_metrics_t *
fk__api_metrics_new(fk_api_t *self, fk_metrics_t *registry)
{
    if (!registry) {
        return NULL;
    }
    fk__api_metrics_t *m = fk_calloc(1, sizeof *m);
    m->registry = registry;
    pthread_mutex_init(&m->lock, NULL);
    fk_metrics_collector(registry, "fakts_members",
                         "Cluster members by state, as this node sees them.", FK_METRICS_GAUGE,
                         s_collect_members, self);
    fk_metrics_collector(registry, "fakts_records",
                         "Live records in this node's store by kind (the key's first segment), "
                         "every owner's.",
                         FK_METRICS_GAUGE, s_collect_records, self);
    fk_metrics_collector(registry, "fakts_store_bytes",
                         "The store's map size (the largest it may grow), bytes in use, and the "
                         "reserve kept for deletes.",
                         FK_METRICS_GAUGE, s_collect_store_bytes, self);
    fk_metrics_collector(registry, "fakts_store_full",
                         "1 while the store refuses new records (used within the reserve of the "
                         "map size, or the disk full), else 0.",
                         FK_METRICS_GAUGE, s_collect_store_full, self);
    fk_metrics_collector(registry, "fakts_pending_codes",
                         "Device codes waiting for an operator's decision.", FK_METRICS_GAUGE,
                         s_collect_pending, self);
    fk_metrics_collector(registry, "fakts_health_checks",
                         "This node's service instances with health checks, by status.",
                         FK_METRICS_GAUGE, s_collect_health, self);
    if (self->lag) {
        fk_metrics_collector(registry, "fakts_replication_versions_behind",
                             "Per member (owner): the highest version of its records a peer's "
                             "digest claimed, less the version this node holds in full; 0 when "
                             "caught up.",
                             FK_METRICS_GAUGE, s_collect_lag_behind, self);
        fk_metrics_collector(registry, "fakts_replication_last_delta_seconds",
                             "Per member (owner): seconds since records of it new to this node "
                             "were last applied (absent until the first).",
                             FK_METRICS_GAUGE, s_collect_lag_since, self);
    }
    fk_metrics_collector(registry, "fakts_http_held_requests",
                         "Requests held by blocking queries (?hash=&wait=), waiting for a change "
                         "with no thread.",
                         FK_METRICS_GAUGE, s_collect_held, self);
    return m;
}

void
fk__api_metrics_destroy(fk__api_metrics_t **m_p)
{
    if (!m_p || !*m_p) {
        return;
    }
    pthread_mutex_destroy(&(*m_p)->lock);
    free(*m_p);
    *m_p = NULL;
}

/*  ---------------------------------------------------------------------
    GET /metrics
    --------------------------------------------------------------------- */

/*  A loopback peer: 127.0.0.0/8 or ::1 (also IPv4-mapped). */
static bool
s_loopback(const char *peer)
{
    return strncmp(peer, "127.", 4) == 0 || strcmp(peer, "::1") == 0
           || strncmp(peer, "::ffff:127.", 11) == 0;
}

static void
s_error(fk_api_t *self, fk_http_req_t *req, unsigned status, const char *error, const char *message)
{
    fk__api_respond(self, req, status, json_pack("{s:s, s:s}", "error", error, "message", message));
}

bool
fk__metrics_route(fk_api_t *self, fk_http_req_t *req)
{
    if (strcmp(fk_http_path(req), "/metrics") != 0) {
        return false;
    }
    if (!self->metrics) {
        s_error(self, req, 404, "not_found", "no such path");
        return true;
    }
    if (strcmp(fk_http_method(req), "GET") != 0) {
        fk_http_add_header(req, "Allow", "GET");
        s_error(self, req, 405, "method_not_allowed", "GET /metrics only");
        return true;
    }
    if (!(self->metrics_loopback_open && s_loopback(fk_http_peer(req)))) {
        fk__api_caller_t caller;
        int rc = fk__api_authenticate(self, fk__api_credential(req), &caller);
        if (rc == FK_EDENIED) {
            s_error(self, req, 401, "unauthorized",
                    "missing or wrong token (Authorization: Bearer <a token with the read role>)");
            return true;
        }
        if (rc != 0) {
            s_error(self, req, 500, "internal", "cannot read the store");
            return true;
        }
        if (!fk_optokens_allows(caller.roles, FK_ROLE_READ)) {
            s_error(self, req, 403, "forbidden", "GET /metrics needs the read role");
            return true;
        }
    }
    size_t len;
    char *text = fk_metrics_render(self->metrics->registry, &len);
    fk_http_respond(req, 200, FK_METRICS_CONTENT_TYPE, text, len);
    free(text);
    return true;
}
