/*  fk_checker - the health checks of the local instances, on a pool of
    worker threads.

    Why threads and blocking libcurl rather than one curl_multi loop: a
    check is a few milliseconds of work between long waits, and a pool of
    N blocking workers bounds concurrency by construction (N checks at
    most) while each check stays a straight-line function. The one shared
    thing, the table, is guarded by a mutex that no check's I/O ever
    holds. Times are wall-clock ms because the record's since_ms must be
    (it is read on other nodes); a jump of the clock moves a schedule by
    that much once, which a health check tolerates. */

#include "fk_checker.h"

#include "fk_catalog.h"
#include "fk_clock.h"
#include "fk_err.h"
#include "fk_json.h"
#include "fk_log.h"
#include "fk_mem.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define S_RESCAN_MS 5000   /* periodic re-read of the local catalog */
#define S_BODY_MAX 4096    /* bytes of an http check's body read at most */
#define S_SNIPPET 64       /* bytes of the body kept in the output */
#define S_WORKERS 4        /* default pool size */
#define S_WORKERS_MAX 64   /* largest pool */
#define S_RETRY_MS 1000    /* a failed record write is tried again after this */

/*  One check's schedule. */
typedef struct {
    fk_health_spec_t spec; /* what it asks for; target borrows from the entry's def */
    int64_t next_ms;       /* http, tcp: when it runs next */
    bool running;          /* a worker is running it now */
} s_check_t;

/*  One local instance with checks. */
typedef struct {
    json_t *def;                               /* the record without health; owned */
    uint64_t gen;                              /* names this entry across an unlock */
    bool dirty;                                /* the last write failed: write again */
    int64_t retry_ms;                          /* when dirty, not before this */
    fk_health_t health;                        /* statuses (fk_health.h) */
    s_check_t checks[FK_HEALTH_MAX_CHECKS];    /* one per health.checks */
} s_inst_t;

struct fk_checker {
    fk_store_t *store;      /* borrowed */
    fk_audit_t *audit;      /* borrowed, or NULL */
    pthread_mutex_t lock;   /* guards everything below */
    pthread_cond_t wake;    /* a kick, a stop, a scan done */
    bool stop;              /* the workers must return */
    bool rescan;            /* a read of the catalog is asked for */
    bool scanning;          /* a thread is reading the catalog */
    int64_t rescan_ms;      /* next periodic read */
    uint64_t next_gen;      /* the next entry's gen */
    s_inst_t **insts;       /* the table; owned */
    size_t ninsts;          /* entries in use */
    size_t cap;             /* entries allocated */
    pthread_t *threads;     /* the workers */
    unsigned nthreads;      /* workers started */
    bool curl;              /* curl_global_init succeeded */
};

static void
s_inst_destroy(s_inst_t **inst_p)
{
    s_inst_t *inst = *inst_p;
    if (inst) {
        json_decref(inst->def);
        free(inst);
        *inst_p = NULL;
    }
}

static s_inst_t *
s_find(fk_checker_t *self, const char *id, size_t *index_p)
{
    for (size_t i = 0; i < self->ninsts; i++) {
        if (strcmp(fk_json_str(self->insts[i]->def, "id"), id) == 0) {
            if (index_p) {
                *index_p = i;
            }
            return self->insts[i];
        }
    }
    return NULL;
}

static s_inst_t *
s_find_gen(fk_checker_t *self, uint64_t gen)
{
    for (size_t i = 0; i < self->ninsts; i++) {
        if (self->insts[i]->gen == gen) {
            return self->insts[i];
        }
    }
    return NULL;
}

static void
s_remove(fk_checker_t *self, size_t index)
{
    s_inst_destroy(&self->insts[index]);
    self->insts[index] = self->insts[--self->ninsts];
}

/*  Write the instance's health to its record. Called with the lock held,
    so the writes of one instance keep their order. */
static void
s_persist(fk_checker_t *self, s_inst_t *inst, int64_t now)
{
    json_t *health = fk_health_to_json(&inst->health);
    int rc = fk_catalog_set_health(self->store, inst->def, health);
    json_decref(health);
    inst->dirty = rc != 0 && rc != FK_ENOTFOUND;
    inst->retry_ms = now + S_RETRY_MS;
    if (rc == FK_ENOTFOUND) {
        /*  Deregistered or registered again meanwhile: the next read of the
            catalog drops or replaces this entry. */
        self->rescan = true;
    } else if (rc) {
        fk_warn("health: cannot store the health of %s: %s (trying again)",
                fk_json_str(inst->def, "id"), fk_strerror(rc));
    }
}

/*  Log a status change of the instance, with the output of the check that
    made it. */
static void
s_log_change(const s_inst_t *inst, size_t check)
{
    fk_info("health: %s check %zu is %s (%s); instance %s", fk_json_str(inst->def, "id"), check,
            fk_health_status_name(inst->health.checks[check].status),
            inst->health.checks[check].output, fk_health_status_name(inst->health.status));
}

/*  A new entry for a local instance read from the catalog (the record,
    with "node" and "health"), or NULL when its checks cannot be read. */
static s_inst_t *
s_inst_new(fk_checker_t *self, const json_t *record, int64_t now)
{
    s_inst_t *inst = fk_calloc(1, sizeof *inst);
    inst->def = json_deep_copy(record);
    json_object_del(inst->def, "node");
    json_object_del(inst->def, "health");
    if (fk_health_init(&inst->health, inst->def, now) != 0) {
        fk_warn("health: the checks of %s are not canonical; not checked",
                fk_json_str(record, "id"));
        s_inst_destroy(&inst);
        return NULL;
    }
    /*  Keep what the record says (a restart, or another entry's writes);
        a record without a readable health starts as fk_health_init says. */
    const json_t *stored = json_object_get(record, "health");
    if (stored && fk_health_restore(&inst->health, stored, now) != 0) {
        inst->dirty = true;
    }
    for (size_t i = 0; i < inst->health.nchecks; i++) {
        fk_health_spec(inst->def, i, &inst->checks[i].spec);
        inst->checks[i].next_ms = now;
    }
    inst->gen = ++self->next_gen;
    return inst;
}

/*  Whether an entry still describes the record: same checks, same
    deregistration delay (the rest of a definition does not change what
    runs). */
static bool
s_same_checks(const s_inst_t *inst, const json_t *record)
{
    return json_equal(json_object_get(inst->def, "checks"), json_object_get(record, "checks"))
           && json_equal(json_object_get(inst->def, "deregister_critical_after"),
                         json_object_get(record, "deregister_critical_after"));
}

/*  Read the local catalog (without the lock) and make the table match it:
    new instances added, changed ones replaced, gone ones dropped. Called
    and returns with the lock held. */
static void
s_scan(fk_checker_t *self)
{
    while (self->scanning) {
        pthread_cond_wait(&self->wake, &self->lock);
    }
    self->scanning = true;
    self->rescan = false;
    pthread_mutex_unlock(&self->lock);
    json_t *list = NULL;
    fk_store_txn_t *txn;
    if (fk_store_read_begin(self->store, &txn) == 0) {
        list = fk_catalog_list(self->store, txn, true, false);
        fk_store_txn_end(&txn);
    }
    pthread_mutex_lock(&self->lock);
    int64_t now = fk_clock_wall_ms();
    self->rescan_ms = now + S_RESCAN_MS;
    if (list) {
        bool *seen = fk_calloc(self->ninsts + 1, sizeof *seen);
        size_t before = self->ninsts;
        size_t i;
        json_t *record;
        json_array_foreach(list, i, record)
        {
            if (fk_health_count(record) == 0) {
                continue;
            }
            size_t at = 0;
            s_inst_t *inst = s_find(self, fk_json_str(record, "id"), &at);
            if (inst && s_same_checks(inst, record)) {
                seen[at] = true;
                continue;
            }
            s_inst_t *fresh = s_inst_new(self, record, now);
            if (!fresh) {
                continue;
            }
            if (inst) {
                s_inst_destroy(&self->insts[at]);
                self->insts[at] = fresh;
                seen[at] = true;
            } else {
                if (self->ninsts == self->cap) {
                    self->cap = self->cap ? self->cap * 2 : 16;
                    self->insts = fk_realloc(self->insts, self->cap * sizeof *self->insts);
                }
                self->insts[self->ninsts++] = fresh;
            }
        }
        /*  Drop the entries of instances that are gone, from the end so the
            indexes of seen[] stay right while entries move down. */
        for (size_t k = before; k-- > 0;) {
            if (!seen[k]) {
                s_remove(self, k);
            }
        }
        free(seen);
        json_decref(list);
    }
    self->scanning = false;
    pthread_cond_broadcast(&self->wake);
}

/*  Keep the first S_SNIPPET bytes of a body and stop reading after
    S_BODY_MAX: the target is not trusted to end its answer. */
typedef struct {
    char snippet[S_SNIPPET + 1]; /* the body's start, NUL-terminated */
    size_t kept;                 /* bytes in snippet */
    size_t total;                /* bytes received */
} s_body_t;

static size_t
s_on_body(char *data, size_t size, size_t count, void *arg)
{
    s_body_t *body = arg;
    size_t bytes = size * count;
    size_t room = S_SNIPPET - body->kept;
    size_t take = bytes < room ? bytes : room;
    memcpy(body->snippet + body->kept, data, take);
    body->kept += take;
    body->snippet[body->kept] = '\0';
    body->total += bytes;
    return body->total > S_BODY_MAX ? 0 : bytes;
}

/*  The options every check's handle gets. */
static void
s_common_options(CURL *curl, const char *url, int64_t timeout_ms)
{
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout_ms);
    /*  Checks go to the service itself: an http_proxy of the agent's
        environment must not see (or answer) them. */
    curl_easy_setopt(curl, CURLOPT_PROXY, "");
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "fakts-node health check");
}

static fk_health_status_t
s_run_http(const fk_health_spec_t *spec, char *out, size_t outlen)
{
    CURL *curl = curl_easy_init();
    if (!curl) {
        snprintf(out, outlen, "cannot start the check (libcurl)");
        return FK_HEALTH_CRITICAL;
    }
    s_body_t body = {.kept = 0};
    s_common_options(curl, spec->target, spec->timeout_ms);
    curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, s_on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
    CURLcode rc = curl_easy_perform(curl);
    long code = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(curl);
    /*  A body cut at S_BODY_MAX still carried its status line. */
    if (rc == CURLE_OK || (rc == CURLE_WRITE_ERROR && body.total > S_BODY_MAX && code > 0)) {
        fk_health_status_t status = fk_health_http_status(code);
        snprintf(out, outlen, "HTTP GET %s: %ld%s%s%s", spec->target, code,
                 code >= 300 && code <= 399 ? " (redirects are not followed)" : "",
                 body.kept ? ": " : "", body.snippet);
        return status;
    }
    snprintf(out, outlen, "HTTP GET %s: %s", spec->target, curl_easy_strerror(rc));
    return FK_HEALTH_CRITICAL;
}

static fk_health_status_t
s_run_tcp(const fk_health_spec_t *spec, char *out, size_t outlen)
{
    CURL *curl = curl_easy_init();
    if (!curl) {
        snprintf(out, outlen, "cannot start the check (libcurl)");
        return FK_HEALTH_CRITICAL;
    }
    /*  libcurl only connects (CONNECT_ONLY): its resolver honours the
        timeout, which a plain getaddrinfo would not. */
    char *url = fk_asprintf("http://%s/", spec->target);
    s_common_options(curl, url, spec->timeout_ms);
    curl_easy_setopt(curl, CURLOPT_CONNECT_ONLY, 1L);
    CURLcode rc = curl_easy_perform(curl);
    curl_easy_cleanup(curl);
    free(url);
    if (rc == CURLE_OK) {
        snprintf(out, outlen, "TCP connect %s: connected", spec->target);
        return FK_HEALTH_PASSING;
    }
    snprintf(out, outlen, "TCP connect %s: %s", spec->target, curl_easy_strerror(rc));
    return FK_HEALTH_CRITICAL;
}

/*  Run check index of the entry gen (whose spec is copied in) without the
    lock, then record the result. Called and returns with the lock held. */
static void
s_run(fk_checker_t *self, s_inst_t *inst, size_t index, int64_t now)
{
    s_check_t *check = &inst->checks[index];
    check->running = true;
    check->next_ms = now + check->spec.interval_ms;
    uint64_t gen = inst->gen;
    fk_health_spec_t spec = check->spec;
    char *target = fk_strdup(spec.target);
    spec.target = target;
    pthread_mutex_unlock(&self->lock);

    char output[FK_HEALTH_OUTPUT_MAX + 1];
    fk_health_status_t status = spec.kind == FK_HEALTH_HTTP
                                    ? s_run_http(&spec, output, sizeof output)
                                    : s_run_tcp(&spec, output, sizeof output);
    free(target);

    pthread_mutex_lock(&self->lock);
    inst = s_find_gen(self, gen);
    if (inst) {
        now = fk_clock_wall_ms();
        inst->checks[index].running = false;
        if (fk_health_report(&inst->health, index, status, output, now)) {
            s_log_change(inst, index);
            s_persist(self, inst, now);
        }
    }
}

/*  Deregister entry index: it has been critical long enough. */
static void
s_deregister(fk_checker_t *self, size_t index)
{
    const char *id = fk_json_str(self->insts[index]->def, "id");
    int rc = fk_catalog_deregister(self->store, id);
    if (rc == 0 && self->audit) {
        json_t *detail =
            json_pack("{s:s, s:I}", "reason", "critical past deregister_critical_after",
                      "critical_since_ms", (json_int_t)self->insts[index]->health.since_ms);
        int arc = fk_audit_append(self->audit, "health-checker", "", "service.deregister", id,
                                  detail); /* takes detail */
        if (arc != 0) {
            fk_error("health: cannot record the deregistration of %s in the audit log: %s", id,
                     fk_strerror(arc));
        }
    }
    if (rc == 0 || rc == FK_ENOTFOUND) {
        fk_info("health: %s critical past its deregister_critical_after: deregistered", id);
        s_remove(self, index);
    } else {
        fk_warn("health: cannot deregister %s: %s (trying again)", id, fk_strerror(rc));
    }
}

static int64_t
s_min(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

/*  One pass over the table: the timers (ttl expiry, deregistration,
    retries of failed writes), and at most one due check run. Returns true
    when it ran a check (the table may have changed meanwhile), else sets
    *wake_p to when the next thing is due. */
static bool
s_pass(fk_checker_t *self, int64_t now, int64_t *wake_p)
{
    int64_t wake = self->rescan_ms;
    for (size_t i = 0; i < self->ninsts; i++) {
        s_inst_t *inst = self->insts[i];
        if (fk_health_expire(&inst->health, now)) {
            for (size_t c = 0; c < inst->health.nchecks; c++) {
                if (inst->health.checks[c].since_ms == now) {
                    s_log_change(inst, c);
                }
            }
            s_persist(self, inst, now);
        } else if (inst->dirty && now >= inst->retry_ms) {
            s_persist(self, inst, now);
        }
        if (fk_health_deregister_due(&inst->health, now)) {
            s_deregister(self, i);
            return true;
        }
        wake = s_min(wake, fk_health_next_expiry(&inst->health));
        wake = s_min(wake, fk_health_next_deregister(&inst->health));
        if (inst->dirty) {
            wake = s_min(wake, inst->retry_ms);
        }
        for (size_t c = 0; c < inst->health.nchecks; c++) {
            s_check_t *check = &inst->checks[c];
            if (check->spec.kind == FK_HEALTH_TTL || check->running) {
                continue;
            }
            if (check->next_ms <= now) {
                s_run(self, inst, c, now);
                return true;
            }
            wake = s_min(wake, check->next_ms);
        }
    }
    *wake_p = wake;
    return false;
}

static void *
s_worker(void *arg)
{
    fk_checker_t *self = arg;
    pthread_mutex_lock(&self->lock);
    while (!self->stop) {
        int64_t now = fk_clock_wall_ms();
        if ((self->rescan || now >= self->rescan_ms) && !self->scanning) {
            s_scan(self);
            continue;
        }
        int64_t wake = 0;
        if (s_pass(self, now, &wake)) {
            continue;
        }
        if (self->rescan && !self->scanning) {
            continue;
        }
        /*  The condition variable runs on CLOCK_REALTIME (the default),
            the clock the schedule is kept in. */
        int64_t at = wake > now ? wake : now + 1;
        struct timespec until = {.tv_sec = (time_t)(at / 1000),
                                 .tv_nsec = (long)(at % 1000) * 1000000L};
        pthread_cond_timedwait(&self->wake, &self->lock, &until);
    }
    pthread_mutex_unlock(&self->lock);
    return NULL;
}

int
fk_checker_start(fk_checker_t **self_p, const fk_checker_opts_t *opts)
{
    unsigned workers = opts->workers ? opts->workers : S_WORKERS;
    *self_p = NULL;
    if (workers > S_WORKERS_MAX) {
        return FK_EINVAL_INPUT;
    }
    fk_checker_t *self = fk_calloc(1, sizeof *self);
    self->store = opts->store;
    self->audit = opts->audit;
    self->rescan = true;
    pthread_mutex_init(&self->lock, NULL);
    pthread_cond_init(&self->wake, NULL);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fk_checker_destroy(&self);
        return FK_EUNAVAILABLE;
    }
    self->curl = true;
    self->threads = fk_calloc(workers, sizeof *self->threads);
    for (unsigned i = 0; i < workers; i++) {
        int rc = pthread_create(&self->threads[i], NULL, s_worker, self);
        if (rc != 0) {
            fk_checker_destroy(&self);
            return -rc;
        }
        self->nthreads++;
    }
    *self_p = self;
    return 0;
}

void
fk_checker_destroy(fk_checker_t **self_p)
{
    fk_checker_t *self = *self_p;
    if (!self) {
        return;
    }
    pthread_mutex_lock(&self->lock);
    self->stop = true;
    pthread_cond_broadcast(&self->wake);
    pthread_mutex_unlock(&self->lock);
    for (unsigned i = 0; i < self->nthreads; i++) {
        pthread_join(self->threads[i], NULL);
    }
    free(self->threads);
    for (size_t i = 0; i < self->ninsts; i++) {
        s_inst_destroy(&self->insts[i]);
    }
    free(self->insts);
    if (self->curl) {
        curl_global_cleanup();
    }
    pthread_cond_destroy(&self->wake);
    pthread_mutex_destroy(&self->lock);
    free(self);
    *self_p = NULL;
}

void
fk_checker_kick(fk_checker_t *self)
{
    pthread_mutex_lock(&self->lock);
    self->rescan = true;
    pthread_cond_broadcast(&self->wake);
    pthread_mutex_unlock(&self->lock);
}

/*  Whether this node has an instance with id (one without checks has no
    entry in the table). */
static bool
s_exists(fk_checker_t *self, const char *id)
{
    fk_store_txn_t *txn;
    json_t *instance = NULL;
    if (fk_store_read_begin(self->store, &txn) == 0) {
        instance = fk_catalog_get_local(self->store, txn, id);
        fk_store_txn_end(&txn);
    }
    bool found = instance != NULL;
    json_decref(instance);
    return found;
}

int
fk_checker_report(fk_checker_t *self, const char *id, fk_health_status_t status,
                  const char *note)
{
    pthread_mutex_lock(&self->lock);
    s_inst_t *inst = s_find(self, id, NULL);
    if (!inst) {
        /*  Registered a moment ago, before any worker read the catalog:
            read it here rather than answer "not found". */
        s_scan(self);
        inst = s_find(self, id, NULL);
    }
    int rc = inst ? FK_EUNSUPPORTED : s_exists(self, id) ? FK_EUNSUPPORTED : FK_ENOTFOUND;
    if (inst) {
        int64_t now = fk_clock_wall_ms();
        bool changed = false;
        for (size_t c = 0; c < inst->health.nchecks; c++) {
            if (inst->checks[c].spec.kind == FK_HEALTH_TTL) {
                rc = 0;
                if (fk_health_report(&inst->health, c, status,
                                     note ? note : fk_health_status_name(status), now)) {
                    s_log_change(inst, c);
                    changed = true;
                }
            }
        }
        if (changed || (rc == 0 && inst->dirty)) {
            s_persist(self, inst, now);
            rc = inst->dirty ? FK_ESTORE : 0;
        }
        /*  The deadline moved: a worker asleep until the old one must
            recompute its wake-up. */
        pthread_cond_broadcast(&self->wake);
    }
    pthread_mutex_unlock(&self->lock);
    return rc;
}
