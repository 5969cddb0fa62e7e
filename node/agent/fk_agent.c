/*  fk_agent - wires the planes of one node and runs until a signal.

    Start-up order matters: signals are blocked before any thread exists
    (so only the main thread ever receives them, through sigtimedwait);
    the store opens before anything reads it; the signing key is published
    before the first token can be signed; the services dir is loaded
    before the listener answers, so the first answer already has them. */

#include "fk_agent.h"

#include "fk_api.h"
#include "fk_beacon.h"
#include "fk_catalog.h"
#include "fk_checker.h"
#include "fk_cluster.h"
#include "fk_clock.h"
#include "fk_config.h"
#include "fk_crypto.h"
#include "fk_err.h"
#include "fk_grants.h"
#include "fk_http.h"
#include "fk_identity.h"
#include "fk_joindir.h"
#include "fk_json.h"
#include "fk_jwt.h"
#include "fk_log.h"
#include "fk_mem.h"
#include "fk_lag.h"
#include "fk_metrics.h"
#include "fk_optokens.h"
#include "fk_store.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

/*  A banned member's records left the store: its signing key must stop
    verifying tokens now, not when the next unknown kid rebuilds. */
static void
s_reload_keys(void *arg)
{
    if (fk_grants_reload_keys(arg) != 0) {
        fk_warn("agent: cannot reload the signing keys after a ban");
    }
}

/*  The grants plane's forward function, bound to the cluster plane: the
    one place where grants and cluster meet (grants does not link it). */
static int
s_forward(void *arg, const char *node, const char *body, size_t len, int timeout_ms, char **reply_p,
          size_t *reply_len_p)
{
    /*  arg is the agent's cluster slot: the grants exist before the
        cluster does (the cluster hands forwarded requests to them), and
        the slot is filled before the HTTP threads start. */
    fk_cluster_t *cluster = *(fk_cluster_t **)arg;
    if (!cluster) {
        *reply_p = NULL;
        return FK_ENOTFOUND;
    }
    return fk_cluster_request(cluster, node, body, len, timeout_ms, reply_p, reply_len_p);
}

/*  Expired codes and tokens are swept this often. */
#define S_SWEEP_EVERY_MS 60000

/*  Read a secret kept in a file: its first line, at most 255 bytes.
    Returns 0, -errno when the file cannot be opened, or FK_ECONFIG when
    it is empty or unreadable. */
static int
s_read_secret(const char *path, char **secret_p)
{
    char buf[256];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return -errno;
    }
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n > 0) {
        buf[n] = '\0';
        buf[strcspn(buf, "\r\n")] = '\0';
    }
    if (n <= 0 || !buf[0]) {
        fk_error("agent: %s is empty or unreadable", path);
        return FK_ECONFIG;
    }
    *secret_p = fk_strdup(buf);
    OPENSSL_cleanse(buf, sizeof buf);
    return 0;
}

/*  The admin token grants every operator power over HTTP: 32 characters
    at least (the generated one has 43), so it cannot be guessed online. */
#define S_ADMIN_TOKEN_MIN 32

/*  Refuse a secret (the data dir, the admin token) that anyone but its
    owner may read: say so with the command that fixes it. */
static int
s_private(const char *path, bool dir)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        return -errno;
    }
    if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
        fprintf(stderr,
                "fakts-node agent: %s %s is open to other users (mode %04o); it holds the "
                "node's secrets. Fix it with:\n  chmod %s %s\n",
                dir ? "data dir" : "admin token file", path, (unsigned)(st.st_mode & 07777),
                dir ? "700" : "600", path);
        return FK_ECONFIG;
    }
    return 0;
}

/*  The admin token file: read it, or create it (mode 0600) with the
    token from FAKTS_ADMIN_TOKEN or a fresh random one. Refuses (with the
    command that fixes it) a file others may read and a token shorter than
    S_ADMIN_TOKEN_MIN. */
static int
s_admin_token(const char *data_dir, char **token_p)
{
    char *path = fk_asprintf("%s/admin-token", data_dir);
    int rc = s_private(path, false);
    if (rc == 0) {
        rc = s_read_secret(path, token_p);
    }
    if (rc == 0 && strlen(*token_p) < S_ADMIN_TOKEN_MIN) {
        fprintf(stderr,
                "fakts-node agent: the admin token in %s has %zu characters; at least %d are "
                "needed. Let the agent draw a new one with:\n  rm %s\n(or write your own "
                "of %d characters or more, mode 0600)\n",
                path, strlen(*token_p), S_ADMIN_TOKEN_MIN, path, S_ADMIN_TOKEN_MIN);
        OPENSSL_cleanse(*token_p, strlen(*token_p));
        free(*token_p);
        *token_p = NULL;
        rc = FK_ECONFIG;
    }
    if (rc != -ENOENT) {
        free(path);
        return rc;
    }
    rc = 0;
    const char *given = getenv("FAKTS_ADMIN_TOKEN");
    if (given && *given && strlen(given) < S_ADMIN_TOKEN_MIN) {
        fprintf(stderr,
                "fakts-node agent: FAKTS_ADMIN_TOKEN has %zu characters; at least %d are "
                "needed. Draw one with:\n  export FAKTS_ADMIN_TOKEN=$(openssl rand -base64 "
                "32)\n(or unset it and the agent draws one)\n",
                strlen(given), S_ADMIN_TOKEN_MIN);
        free(path);
        return FK_ECONFIG;
    }
    char *token = given && *given ? fk_strdup(given) : fk_random_urlsafe(32);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        rc = -errno; /* before fk_error, which may change errno */
        fk_error("agent: cannot create %s: %s", path, fk_strerror(rc));
    } else {
        char *line = fk_asprintf("%s\n", token);
        size_t len = strlen(line);
        if (write(fd, line, len) != (ssize_t)len || fsync(fd) != 0) {
            rc = -EIO;
        }
        free(line);
        close(fd);
    }
    if (rc) {
        free(token);
    } else {
        *token_p = token;
    }
    free(path);
    return rc;
}

/*  This node's signing key: kept in the store's local database so a
    restart signs with the same kid. */
static int
s_signer(fk_store_t *store, fk_signer_t **signer_p)
{
    fk_store_txn_t *txn;
    int rc = fk_store_write_begin(store, &txn);
    if (rc) {
        return rc;
    }
    char *pem = NULL;
    size_t len = 0;
    if (fk_store_local_get(txn, "signing_key", &pem, &len) == 0) {
        fk_store_txn_end(&txn);
        rc = fk_signer_from_pem(signer_p, pem, len);
        OPENSSL_cleanse(pem, len);
        free(pem);
        return rc;
    }
    if ((rc = fk_signer_generate(signer_p, 2048)) != 0) {
        fk_store_txn_end(&txn);
        return rc;
    }
    pem = fk_signer_to_pem(*signer_p);
    len = strlen(pem);
    rc = fk_store_local_set(txn, "signing_key", pem, len);
    OPENSSL_cleanse(pem, len);
    free(pem);
    if (rc) {
        fk_store_txn_end(&txn);
        return rc;
    }
    return fk_store_commit(&txn);
}

/*  Write <data-dir>/agent.json atomically (write, then rename), so a
    command never reads half a file: "http" is the listener's HOST:PORT,
    "url" its base URL (https:// with TLS), "ca_file" the CA that commands
    here trust it by, when its chain ends in a private CA. */
static int
s_write_agent_file(const fk_config_t *cfg, const char *http_addr, const char *http_url,
                   const char *ca_file, const char *gossip_addr)
{
    char *path = fk_asprintf("%s/agent.json", cfg->data_dir);
    char *tmp = fk_asprintf("%s/.agent.json.tmp", cfg->data_dir);
    json_t *doc = json_pack("{s:s, s:s, s:s, s:s, s:I}", "node", cfg->node, "http", http_addr,
                            "url", http_url, "gossip", gossip_addr, "pid", (json_int_t)getpid());
    if (ca_file) {
        json_object_set_new(doc, "ca_file", json_string(ca_file));
    }
    char *text = fk_json_dump(doc);
    json_decref(doc);
    int rc = 0;
    FILE *file = fopen(tmp, "w");
    if (!file || fputs(text, file) < 0 || fputc('\n', file) == EOF) {
        rc = -EIO;
    }
    if (file && fclose(file) != 0) {
        rc = -EIO;
    }
    if (rc == 0 && rename(tmp, path) != 0) {
        rc = -errno;
    }
    free(text);
    free(tmp);
    free(path);
    return rc;
}

/*  Load (or, on SIGHUP, reload) the HTTPS certificate and say what it is;
    one that expires within 14 days, or has, is warned about. */
static int
s_load_tls(fk_http_t *http, const fk_config_t *cfg, fk_http_tls_info_t *info)
{
    char err[512];
    int rc = fk_http_tls(http, cfg->tls_cert, cfg->tls_key, info, err, sizeof err);
    if (rc != 0) {
        fk_error("agent: tls: %s", err);
        return rc;
    }
    char until[32] = "?";
    time_t expiry = (time_t)info->not_after;
    struct tm tm;
    if (gmtime_r(&expiry, &tm)) {
        strftime(until, sizeof until, "%Y-%m-%dT%H:%M:%SZ", &tm);
    }
    int64_t left_s = info->not_after - fk_clock_wall_ms() / 1000;
    if (left_s < 14 * 86400) {
        fk_warn("agent: HTTPS certificate %s (%s) %s %s: renew it and send SIGHUP", cfg->tls_cert,
                info->subject, left_s < 0 ? "expired" : "expires", until);
    } else {
        fk_info("agent: HTTPS certificate %s (%s), valid until %s", cfg->tls_cert, info->subject,
                until);
    }
    return 0;
}

/*  The public URLs answers use: --public-url's list, or one derived
    from the HTTP address, which is said at start when it reaches beyond
    loopback (other machines' apps get these URLs; a name they use that is
    not among them gets the first). */
static int
s_origins(const fk_config_t *cfg, uint16_t port, fk_origins_t **origins_p)
{
    char err[300];
    if (cfg->public_url) {
        return fk_origins_parse(origins_p, cfg->public_url, err, sizeof err);
    }
    *origins_p = fk_origins_derive(cfg->tls_cert ? "https" : "http", cfg->http_host, port);
    if (!fk_origins_loopback(cfg->http_host)) {
        char *all = fk_origins_describe(*origins_p);
        fk_warn("agent: no --public-url: answers use %s (derived from --http %s:%u; a Host "
                "header names one of them, any other gets the first); set --public-url to the "
                "URLs apps use",
                all, cfg->http_host, (unsigned)port);
        free(all);
    }
    return 0;
}

/*  Publish the signing key with an issuer per public URL. */
static int
s_publish_key(fk_grants_t *grants, const fk_origins_t *origins)
{
    size_t count = fk_origins_count(origins);
    char **issuers = fk_calloc(count, sizeof *issuers);
    for (size_t i = 0; i < count; i++) {
        issuers[i] = fk_asprintf("%s/lok", fk_origins_get(origins, i)->base);
    }
    int rc = fk_grants_publish_key(grants, (const char *const *)issuers, count);
    fk_strv_free(issuers, count);
    return rc;
}

static void
s_banner(const fk_config_t *cfg, const fk_origins_t *origins, const char *gossip)
{
    const char *url = fk_origins_get(origins, 0)->base;
    const char *join_how = cfg->insecure_gossip ? "" : " --token TOKEN";
    fprintf(stdout,
            "fakts-node agent '%s' is running.\n"
            "  Fakts URL:    %s   (apps discover %s/.well-known/fakts)\n"
            "  Gossip:       %s%s (others join with: fakts-node join%s %s%s)\n"
            "  Admin token:  %s/admin-token (mode 0600)\n"
            "  Services dir: %s (SIGHUP re-reads it)\n"
            "  Approve an app: open the link it prints, or %s/ui/ (log in with the admin\n"
            "                  token%s); or fakts-node codes, then fakts-node approve USER_CODE\n"
            "                  (add --data-dir %s when run elsewhere)\n",
            cfg->node, url, url, gossip,
            cfg->insecure_gossip ? ", PLAINTEXT: anyone who reaches it is believed" : ", CurveZMQ",
            join_how, gossip,
            cfg->insecure_gossip ? "" : "; make a TOKEN with fakts-node join-token create",
            cfg->data_dir, cfg->services_dir, url,
            cfg->ui_password_file ? " or the operator password" : "", cfg->data_dir);
    fflush(stdout);
}

/*  On a terminal (stderr), what the agent waits for at start: the nodes it
    joins through. The wait has no end the agent can promise (a retry-join
    address may come up in an hour), so it is one line, not a ticking one
    (fk_progress): each member that comes alive is logged as it does
    ("cluster: member ... is alive"). Nothing when stderr is not a
    terminal: a service manager's journal has the log lines. */
static void
s_say_joining(const fk_config_t *cfg)
{
    if (!isatty(STDERR_FILENO)
        || (cfg->join_count == 0 && cfg->retry_join_count == 0 && cfg->join_file == NULL)) {
        return;
    }
    fprintf(stderr, "fakts-node: waiting to join the cluster through");
    const char *sep = " ";
    for (size_t i = 0; i < cfg->join_count; i++, sep = ", ") {
        fprintf(stderr, "%s%s", sep, cfg->join[i]);
    }
    for (size_t i = 0; i < cfg->retry_join_count; i++, sep = ", ") {
        fprintf(stderr, "%s%s", sep, cfg->retry_join[i]);
    }
    if (cfg->join_file) {
        fprintf(stderr, "%sthe nodes listed in %s", sep, cfg->join_file);
    }
    fprintf(stderr, " (%s); each member is logged as it comes alive\n",
            cfg->retry_join_count > 0 || cfg->join_file
                ? "knocking every second while no other member is alive"
                : "knocking every second for 10 s");
}

static int
s_gc_owner(void *arg, const char *owner, uint64_t version)
{
    (void)version;
    json_array_append_new(arg, json_string(owner));
    return 0;
}

/*  Forget deletes older than the tombstone TTL, for every owner: a delete
    must outlive its replication, not the cluster (the reset rule in
    fk_replica covers peers that were away longer). */
static void
s_collect_tombstones(fk_store_t *store, int64_t ttl_s)
{
    json_t *owners = json_array();
    fk_store_txn_t *txn;
    if (fk_store_read_begin(store, &txn) == 0) {
        fk_store_owners(txn, s_gc_owner, owners);
        fk_store_txn_end(&txn);
    }
    int64_t before = fk_clock_wall_ms() - ttl_s * 1000;
    size_t i;
    json_t *owner;
    json_array_foreach(owners, i, owner)
    {
        if (fk_store_write_begin(store, &txn) != 0) {
            break;
        }
        int n = fk_store_gc_tombstones(txn, json_string_value(owner), before);
        if (n > 0 && fk_store_commit(&txn) == 0) {
            fk_debug("agent: forgot %d tombstones of %s", n, json_string_value(owner));
        }
        fk_store_txn_end(&txn);
    }
    json_decref(owners);
}

/*  Delete this node's operator-token records that can no longer matter
    (fk_optokens_sweep): expired tokens, tokens revoked elsewhere, and old
    revocation markers. */
static void
s_sweep_optokens(fk_store_t *store)
{
    fk_store_txn_t *txn;
    if (fk_store_write_begin(store, &txn) != 0) {
        return;
    }
    int n = fk_optokens_sweep(txn, fk_clock_wall_ms());
    if (n > 0 && fk_store_commit(&txn) == 0) {
        fk_debug("agent: swept %d operator-token records", n);
    }
    fk_store_txn_end(&txn);
}

/*  Start the LAN beacon (--beacon) once HTTP answers, so no listener is
    sent to a URL that does not answer yet. It advertises the public URL
    when one is set, else the HTTP address, else (HTTP on 0.0.0.0) each
    interface's own address (fk_beacon). */
/*  Every HTTP connection holds a descriptor, and so do the store, the
    gossip sockets (up to 512 peers) and the services dir; the usual soft
    limit of 1024 is too few for a full listener. Raise the soft limit
    toward the hard one, as far as the node can use. */
static void
s_raise_open_files(unsigned http_connections)
{
    struct rlimit limit;
    if (getrlimit(RLIMIT_NOFILE, &limit) != 0) {
        return;
    }
    rlim_t want = (rlim_t)http_connections + 2048;
    if (limit.rlim_max != RLIM_INFINITY && want > limit.rlim_max) {
        want = limit.rlim_max;
    }
    if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < want) {
        limit.rlim_cur = want;
        if (setrlimit(RLIMIT_NOFILE, &limit) != 0) {
            fk_warn("agent: cannot raise the open-files limit to %llu: %s",
                    (unsigned long long)want, fk_strerror(-errno));
        }
    }
}

static int
s_start_beacon(const fk_config_t *cfg, const fk_origins_t *origins, const char *http_url,
               uint16_t http_port, fk_beacon_t **beacon_p)
{
    char *url = cfg->public_url ? fk_asprintf("%s/", fk_origins_get(origins, 0)->base)
                : strcmp(cfg->http_host, "0.0.0.0") != 0 ? fk_asprintf("%s/", http_url)
                                                         : NULL;
    fk_beacon_opts_t opts = {.url = url,
                             .http_port = http_port,
                             .https = cfg->tls_cert != NULL,
                             .port = cfg->beacon_port,
                             .interval_ms = (int64_t)cfg->beacon_interval_s * 1000};
    int rc = fk_beacon_start(beacon_p, &opts);
    free(url);
    return rc;
}

/*  The flush's series in the metrics registry (NULL: not counted). */
typedef struct {
    fk_metric_t *duration; /* fakts_store_sync_duration_seconds */
    fk_metric_t *failures; /* fakts_store_sync_failures_total */
} s_sync_metrics_t;

/*  fsync latency buckets, seconds: an SSD's fdatasync (about 1 ms) to a
    struggling network volume's (seconds). */
static const double s_sync_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                       0.05,   0.1,   0.25,   0.5,   1,    2.5};

/*  The once-a-second flush of --fsync periodic. "Flushed within a second"
    is a promise to the operator, so a failure (EIO, ENOSPC on a thin
    volume) must not pass silently: every one is counted, the first and
    then one a minute are logged with the count, and a recovery is logged
    too. The writes themselves stay acknowledged: they are committed to
    the page cache (kill -9 loses nothing) and, in a cluster, replicated. */
static void
s_sync(fk_store_t *store, const s_sync_metrics_t *metrics, uint64_t *failures,
       int64_t *next_log_ms)
{
    int64_t start_us = fk_clock_mono_us();
    int rc = fk_store_sync(store);
    fk_metrics_observe(metrics->duration, (double)(fk_clock_mono_us() - start_us) / 1e6);
    int64_t now = fk_clock_mono_ms();
    if (rc != 0) {
        fk_metrics_inc(metrics->failures);
        (*failures)++;
        if (now >= *next_log_ms) {
            fk_error("agent: flushing the store to disk failed: %s (%llu failures so far; "
                     "acknowledged writes are in the page cache, not yet on disk)",
                     fk_strerror(rc), (unsigned long long)*failures);
            *next_log_ms = now + 60000;
        }
    } else if (*failures > 0 && *next_log_ms != 0) {
        fk_info("agent: the store flushes to disk again (after %llu failures)",
                (unsigned long long)*failures);
        *next_log_ms = 0;
    }
}

/*  The services dir is read on its own thread, so the main thread, which
    takes the signals, never waits on a file: SIGTERM is honoured whatever
    the directory holds. SIGHUP only asks for a reload; requests that
    arrive while one runs fold into one more. */
typedef struct {
    fk_store_t *store;    /* where the services go */
    fk_audit_t *audit;    /* where their changes are recorded */
    fk_checker_t *checker; /* told when the services changed */
    const char *dir;      /* the services dir (the config's) */
    pthread_t thread;     /* the reader */
    pthread_mutex_t lock; /* guards wanted and stop */
    pthread_cond_t wake;  /* signalled on a request or stop */
    bool wanted;          /* a reload was asked for */
    bool stop;            /* the agent is stopping */
} s_reloader_t;

static void *
s_reloader_run(void *arg)
{
    s_reloader_t *self = arg;
    pthread_mutex_lock(&self->lock);
    for (;;) {
        while (!self->wanted && !self->stop) {
            pthread_cond_wait(&self->wake, &self->lock);
        }
        if (self->stop) {
            break;
        }
        self->wanted = false;
        pthread_mutex_unlock(&self->lock);
        fk_catalog_sync_dir(self->store, self->dir, self->audit);
        fk_checker_kick(self->checker);
        pthread_mutex_lock(&self->lock);
    }
    pthread_mutex_unlock(&self->lock);
    return NULL;
}

static int
s_reloader_start(s_reloader_t *self, fk_store_t *store, fk_audit_t *audit, fk_checker_t *checker,
                 const char *dir)
{
    memset(self, 0, sizeof *self);
    self->store = store;
    self->audit = audit;
    self->checker = checker;
    self->dir = dir;
    pthread_mutex_init(&self->lock, NULL);
    pthread_cond_init(&self->wake, NULL);
    int rc = pthread_create(&self->thread, NULL, s_reloader_run, self);
    if (rc != 0) {
        pthread_cond_destroy(&self->wake);
        pthread_mutex_destroy(&self->lock);
        return -rc;
    }
    return 0;
}

static void
s_reloader_ask(s_reloader_t *self)
{
    pthread_mutex_lock(&self->lock);
    self->wanted = true;
    pthread_cond_signal(&self->wake);
    pthread_mutex_unlock(&self->lock);
}

static void
s_reloader_stop(s_reloader_t *self)
{
    pthread_mutex_lock(&self->lock);
    self->stop = true;
    pthread_cond_signal(&self->wake);
    pthread_mutex_unlock(&self->lock);
    /*  A reload under way finishes first: it reads regular files only
        (fk_catalog_sync_dir), which never block for long. */
    pthread_join(self->thread, NULL);
    pthread_cond_destroy(&self->wake);
    pthread_mutex_destroy(&self->lock);
}

/*  Store changes wake the HTTP requests held on them (blocking queries,
    fk_http_hold). The store outlives the listener and is still written
    after it stopped (by the cluster), so the hook reaches the listener
    through this, under a lock, and finds NULL once it is gone. */
typedef struct {
    pthread_mutex_t lock; /* guards http */
    fk_http_t *http;      /* the listener while it serves, else NULL */
} s_waker_t;

static void
s_wake_held(void *arg, unsigned changed)
{
    s_waker_t *waker = arg;
    pthread_mutex_lock(&waker->lock);
    if (waker->http) {
        /*  The topics of a hold are fk_store_changed_t bits. */
        fk_http_wake(waker->http, changed);
    }
    pthread_mutex_unlock(&waker->lock);
}

/*  Serve until SIGINT or SIGTERM; SIGHUP re-reads the services dir (on
    the reloader's thread) and the HTTPS certificate; the wait doubles as the sweeper's clock and the
    store's space check. */
static void
s_run(fk_store_t *store, fk_grants_t *grants, fk_audit_t *audit, fk_http_t *http,
      const fk_config_t *cfg, const sigset_t *signals, s_reloader_t *reloader,
      fk_metrics_t *metrics)
{
    s_sync_metrics_t sync_metrics = {NULL, NULL};
    if (!cfg->fsync_always) {
        sync_metrics.duration = fk_metrics_histogram(
            metrics, "fakts_store_sync_duration_seconds",
            "Time the once-a-second flush of the store to disk (fdatasync, --fsync periodic) took.",
            NULL, s_sync_bounds, sizeof s_sync_bounds / sizeof s_sync_bounds[0]);
        sync_metrics.failures =
            fk_metrics_counter(metrics, "fakts_store_sync_failures_total",
                               "Flushes of the store to disk that failed (--fsync periodic).", NULL);
    }
    int64_t next_sweep = fk_clock_mono_ms() + S_SWEEP_EVERY_MS;
    uint64_t sync_failures = 0;
    int64_t sync_next_log = 0;
    for (;;) {
        struct timespec wait = {.tv_sec = 1, .tv_nsec = 0};
        int sig = sigtimedwait(signals, NULL, &wait);
        if (sig == SIGINT || sig == SIGTERM) {
            fk_info("agent: %s received, stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
            return;
        }
        if (sig == SIGHUP) {
            fk_info("agent: SIGHUP received, re-reading %s%s", cfg->services_dir,
                    cfg->tls_cert ? " and the HTTPS certificate" : "");
            s_reloader_ask(reloader);
            fk_http_tls_info_t info;
            if (cfg->tls_cert && s_load_tls(http, cfg, &info) != 0) {
                fk_error("agent: still serving the HTTPS certificate loaded before");
            }
        }
        if (!cfg->fsync_always) {
            s_sync(store, &sync_metrics, &sync_failures, &sync_next_log);
        }
        /*  A full store refuses new records and keeps room for deletes;
            this is where it notices that it is full, or has room again. */
        fk_store_space(store, NULL);
        if (fk_clock_mono_ms() >= next_sweep) {
            s_collect_tombstones(store, cfg->tombstone_ttl_s);
            s_sweep_optokens(store);
            int swept = fk_grants_sweep(grants);
            if (swept > 0) {
                fk_debug("agent: swept %d expired records", swept);
            }
            swept = fk_audit_sweep(audit);
            if (swept > 0) {
                fk_debug("agent: swept %d audit entries past retention", swept);
            } else if (swept < 0) {
                fk_warn("agent: the audit log's retention sweep failed: %s", fk_strerror(swept));
            }
            next_sweep = fk_clock_mono_ms() + S_SWEEP_EVERY_MS;
        }
    }
}

int
fk_agent_main(int argc, char **argv)
{
    /*  Blocked here, before any thread starts, so every thread inherits
        the mask and only sigtimedwait in s_run sees these signals. */
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &signals, NULL);
    /*  A client that hangs up mid-answer must not kill the agent. */
    signal(SIGPIPE, SIG_IGN);

    fk_config_t cfg;
    char err[512];
    int rc = fk_config_load(&cfg, argc, argv, err, sizeof err);
    if (rc == 1) {
        fk_config_clear(&cfg);
        return 0;
    }
    if (rc) {
        fprintf(stderr, "fakts-node agent: %s\n%s", err,
                rc == FK_EINVAL_INPUT ? fk_config_usage : "");
        return rc == FK_EINVAL_INPUT ? EX_USAGE : EX_CONFIG;
    }
    fk_log_set_level(cfg.log_level);

    int status = 1;
    fk_store_t *store = NULL;
    fk_identity_t *identity = NULL;
    uint8_t cluster_secret[FK_CLUSTER_SECRET_LEN];
    fk_signer_t *signer = NULL;
    fk_grants_t *grants = NULL;
    fk_audit_t *audit = NULL;
    fk_api_t *api = NULL;
    fk_cluster_t *cluster = NULL;
    fk_joindir_t *joindir = NULL;
    fk_checker_t *checker = NULL;
    fk_metrics_t *metrics = fk_metrics_new();
    fk_lag_t *lag = fk_lag_new();
    fk_http_t *http = NULL;
    fk_beacon_t *beacon = NULL;
    char *admin = NULL;
    char *ui_password = NULL;
    char *http_addr = NULL;
    char *http_url = NULL;
    char *ca_file = NULL;
    fk_origins_t *origins = NULL;
    s_reloader_t reloader;
    bool reloading = false;
    s_waker_t waker = {.http = NULL};
    pthread_mutex_init(&waker.lock, NULL);

    if (mkdir(cfg.data_dir, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "fakts-node agent: cannot create data dir %s: %s\n", cfg.data_dir,
                fk_strerror(-errno));
        status = EX_CANTCREAT;
        goto done;
    }
    /*  The data dir holds the signing key and the admin token. */
    if ((rc = s_private(cfg.data_dir, true)) != 0) {
        if (rc != FK_ECONFIG) {
            fprintf(stderr, "fakts-node agent: data dir %s: %s\n", cfg.data_dir, fk_strerror(rc));
        }
        status = EX_CONFIG;
        goto done;
    }
    /*  Periodic: a commit reaches the OS at once (a kill -9 loses nothing
        acknowledged) and the disk within a second (s_run); always: every
        commit waits for fdatasync. See docs/ARCHITECTURE.md. */
    rc = fk_store_open(&store, cfg.data_dir, cfg.node, cfg.map_size,
                       cfg.fsync_always ? FK_STORE_SYNC_DATA : FK_STORE_SYNC_NONE);
    if (rc) {
        fprintf(stderr, "fakts-node agent: cannot open the store in %s: %s\n", cfg.data_dir,
                fk_strerror(rc));
        status = rc == FK_ECONFIG ? EX_CONFIG : 1;
        goto done;
    }
    fk_store_on_change(store, s_wake_held, &waker);
    /*  The node's keys sign every record it writes from here on; records
        signed by an earlier key (or none) are signed again. */
    if ((rc = fk_identity_load(&identity, cfg.data_dir)) != 0) {
        fprintf(stderr, "fakts-node agent: cannot load the node key in %s: %s\n", cfg.data_dir,
                fk_strerror(rc));
        status = rc == FK_ECONFIG ? EX_CONFIG : 1;
        goto done;
    }
    fk_store_set_signer(store, fk_identity_sign_key(identity));
    if ((rc = fk_store_adopt_signer(store)) < 0) {
        fprintf(stderr, "fakts-node agent: cannot sign the records in %s: %s\n", cfg.data_dir,
                fk_strerror(rc));
        goto done;
    }
    if (rc > 0) {
        fk_info("agent: signed %d record(s) with this node's key", rc);
    }
    if (cfg.cluster_secret_file
        && (rc = fk_cluster_secret_read(cfg.cluster_secret_file, cluster_secret)) != 0) {
        fprintf(stderr, "fakts-node agent: cluster-secret-file %s: %s\n", cfg.cluster_secret_file,
                rc == FK_ECONFIG ? "see the log above" : fk_strerror(rc));
        status = EX_CONFIG;
        goto done;
    }
    if ((rc = s_admin_token(cfg.data_dir, &admin)) != 0) {
        if (rc != FK_ECONFIG) {
            fprintf(stderr, "fakts-node agent: no admin token: %s\n", fk_strerror(rc));
        }
        status = EX_CONFIG;
        goto done;
    }
    if (cfg.ui_password_file) {
        rc = s_read_secret(cfg.ui_password_file, &ui_password);
        if (rc == 0 && strlen(ui_password) < 8) {
            fprintf(stderr,
                    "fakts-node agent: ui-password-file %s: the password needs at least 8 "
                    "characters\n",
                    cfg.ui_password_file);
            status = EX_CONFIG;
            goto done;
        }
        if (rc) {
            fprintf(stderr, "fakts-node agent: ui-password-file %s: %s\n", cfg.ui_password_file,
                    rc == FK_ECONFIG ? "empty or unreadable" : fk_strerror(rc));
            status = EX_CONFIG;
            goto done;
        }
    }
    if ((rc = s_signer(store, &signer)) != 0) {
        fprintf(stderr, "fakts-node agent: no signing key: %s\n", fk_strerror(rc));
        goto done;
    }
    audit = fk_audit_new(&(fk_audit_opts_t){.store = store,
                                            .retention_s = cfg.audit_retention_s,
                                            .max_entries = cfg.audit_max_entries});
    fk_grants_opts_t grants_opts = {.store = store,
                                    .audit = audit,
                                    .signer = signer,
                                    .deployment_name = cfg.deployment_name,
                                    .refresh_grace_s = cfg.refresh_reuse_grace_s,
                                    .max_pending_codes = cfg.max_pending_codes,
                                    .max_pending_bytes = cfg.max_pending_bytes,
                                    .forward = s_forward,
                                    .forward_arg = &cluster};
    if ((rc = fk_grants_new(&grants, &grants_opts)) != 0) {
        fprintf(stderr, "fakts-node agent: cannot load tokens state: %s\n", fk_strerror(rc));
        goto done;
    }
    /*  The banner points people at the services dir: make sure it is
        there to drop files into (its parent must exist). */
    if (mkdir(cfg.services_dir, 0700) != 0 && errno != EEXIST) {
        fk_warn("agent: cannot create services dir %s: %s", cfg.services_dir, fk_strerror(-errno));
    }
    fk_catalog_sync_dir(store, cfg.services_dir, audit);
    /*  Loading the services dir parsed every definition once; hand the
        freed heap back so an idle agent stays small. */
    malloc_trim(0);

    /*  The cluster plane starts before the listener: answers filter out
        failed nodes from the member table it keeps. */
    fk_cluster_opts_t cluster_opts = {.store = store,
                                      .on_request = fk_grants_on_forwarded,
                                      .on_request_arg = grants,
                                      .bind = cfg.gossip,
                                      .advertise = cfg.advertise,
                                      .join = (const char *const *)cfg.join,
                                      .join_count = cfg.join_count,
                                      .retry_join = (const char *const *)cfg.retry_join,
                                      .retry_join_count = cfg.retry_join_count,
                                      .reconnect_timeout_ms = cfg.reconnect_timeout_s * 1000,
                                      .identity = identity,
                                      .insecure = cfg.insecure_gossip,
                                      .cluster_secret =
                                          cfg.cluster_secret_file ? cluster_secret : NULL,
                                      .join_token = cfg.join_token,
                                      .on_forgot = s_reload_keys,
                                      .on_forgot_arg = grants,
                                      .metrics = metrics,
                                      .lag = lag};
    if ((rc = fk_cluster_start(&cluster, &cluster_opts)) != 0) {
        fprintf(stderr, "fakts-node agent: cannot start gossip on %s: %s\n", cfg.gossip,
                fk_strerror(rc));
        status = rc == FK_ECONFIG ? EX_CONFIG : 1;
        goto done;
    }
    /*  Rendezvous on a shared filesystem: list our gossip address and
        knock on the others' (fk_joindir). */
    if (cfg.join_file) {
        char why[400];
        int64_t timeout_s = cfg.reconnect_timeout_s ? cfg.reconnect_timeout_s : 72 * 3600;
        fk_joindir_opts_t jopts = {.dir = cfg.join_file,
                                   .name = cfg.node,
                                   .addr = fk_cluster_addr(cluster),
                                   .max_age_ms = timeout_s * 1000,
                                   .cluster = cluster};
        if ((rc = fk_joindir_start(&joindir, &jopts, why, sizeof why)) != 0) {
            fprintf(stderr, "fakts-node agent: join-file: %s\n", why);
            status = EX_CONFIG;
            goto done;
        }
        fk_info("agent: join-file %s: listed as %s, knocking on the nodes listed there",
                cfg.join_file, fk_cluster_addr(cluster));
    }

    /*  Health checks start once gossip runs, so the first statuses
        spread at once; the api hands ttl reports to the checker. */
    fk_checker_opts_t checker_opts = {.store = store, .audit = audit};
    if ((rc = fk_checker_start(&checker, &checker_opts)) != 0) {
        fprintf(stderr, "fakts-node agent: cannot start the health checks: %s\n",
                fk_strerror(rc));
        goto done;
    }

    s_raise_open_files(cfg.http_connections);
    /*  Bind first: the real port (with --http HOST:0) is then known to
        the api before any request can arrive. */
    rc = fk_http_bind(&http, cfg.http_host, cfg.http_port, cfg.max_body);
    if (rc) {
        fprintf(stderr, "fakts-node agent: cannot listen on %s:%u: %s\n", cfg.http_host,
                (unsigned)cfg.http_port, fk_strerror(rc));
        goto done;
    }
    http_addr = fk_asprintf("%s:%u", cfg.http_host, (unsigned)fk_http_port(http));
    fk_http_tls_info_t tls_info;
    if (cfg.tls_cert) {
        if (s_load_tls(http, &cfg, &tls_info) != 0) {
            fprintf(stderr, "fakts-node agent: cannot serve HTTPS with %s and %s (see above)\n",
                    cfg.tls_cert, cfg.tls_key);
            status = EX_CONFIG;
            goto done;
        }
        /*  A chain that ends in its own CA (fakts-node tls cert create)
            is what commands on this machine trust, through agent.json. */
        ca_file = tls_info.self_rooted ? realpath(cfg.tls_cert, NULL) : NULL;
    }
    http_url = fk_asprintf("%s://%s", cfg.tls_cert ? "https" : "http", http_addr);
    if ((rc = s_origins(&cfg, fk_http_port(http), &origins)) != 0) {
        fprintf(stderr, "fakts-node agent: public-url: %s\n", fk_strerror(rc));
        goto done;
    }
    if ((rc = s_publish_key(grants, origins)) != 0) {
        /*  Not fatal: on a full disk the node must come back and answer
            reads; it cannot issue tokens then anyway (each is a write). */
        fk_warn("agent: cannot publish the signing key with this node's public URLs: %s; tokens "
                "signed under them do not verify until it is",
                fk_strerror(rc));
    }
    fk_api_opts_t api_opts = {.store = store,
                              .grants = grants,
                              .audit = audit,
                              .checker = checker,
                              .cluster = cluster,
                              .identity = identity,
                              .insecure_gossip = cfg.insecure_gossip,
                              .admin_token = admin,
                              .ui_password = ui_password,
                              .origins = origins,
                              .deployment_name = cfg.deployment_name,
                              .data_dir = cfg.data_dir,
                              .services_dir = cfg.services_dir,
                              .http_addr = http_addr,
                              .authorize_per_min = cfg.authorize_per_min,
                              .token_per_min = cfg.token_per_min,
                              .v1_per_min = cfg.v1_per_min,
                              .code_misses_per_min = cfg.code_misses_per_min,
                              .consistent_answers = cfg.consistent_answers,
                              .metrics = metrics,
                              .metrics_loopback_open = cfg.metrics_loopback_open,
                              .lag = lag,
                              .http = http};
    api = fk_api_new(&api_opts);
    fk_http_limits_t limits = {.connections = cfg.http_connections,
                               .per_ip = cfg.http_per_ip,
                               .idle_timeout_s = cfg.http_idle_timeout_s,
                               .workers = cfg.http_workers};
    if ((rc = fk_http_serve(http, &limits, fk_api_handle, api)) != 0) {
        fprintf(stderr, "fakts-node agent: cannot serve HTTP: %s\n", fk_strerror(rc));
        goto done;
    }
    pthread_mutex_lock(&waker.lock);
    waker.http = http;
    pthread_mutex_unlock(&waker.lock);
    if (cfg.beacon && (rc = s_start_beacon(&cfg, origins, http_url, fk_http_port(http), &beacon)) != 0) {
        fprintf(stderr, "fakts-node agent: cannot start the LAN beacon: %s\n", fk_strerror(rc));
        status = EX_CONFIG;
        goto done;
    }
    if ((rc = s_write_agent_file(&cfg, http_addr, http_url, ca_file, fk_cluster_addr(cluster))) != 0) {
        /*  Not fatal: a node on a full disk must still come back and
            answer (its store keeps room for deletes). Only the commands
            on this machine lose the address; --http tells them. */
        fk_warn("agent: cannot write %s/agent.json: %s; commands here need --http-addr %s", cfg.data_dir,
                fk_strerror(rc), http_addr);
    }
    if ((rc = s_reloader_start(&reloader, store, audit, checker, cfg.services_dir)) != 0) {
        fprintf(stderr, "fakts-node agent: cannot start the services reader: %s\n",
                fk_strerror(rc));
        goto done;
    }
    reloading = true;
    fk_info("agent: node %s serving %s on %s", cfg.node, cfg.tls_cert ? "HTTPS" : "HTTP",
            http_addr);
    s_banner(&cfg, origins, fk_cluster_addr(cluster));
    s_say_joining(&cfg);
    s_run(store, grants, audit, http, &cfg, &signals, &reloader, metrics);
    char *agent_file = fk_asprintf("%s/agent.json", cfg.data_dir);
    unlink(agent_file);
    free(agent_file);
    status = 0;
done:
    if (reloading) {
        s_reloader_stop(&reloader);
    }
    /*  The beacon stops first: no listener is sent to a stopping node. */
    fk_beacon_destroy(&beacon);
    free(admin);
    if (ui_password) {
        OPENSSL_cleanse(ui_password, strlen(ui_password));
    }
    free(ui_password);
    free(http_addr);
    free(http_url);
    free(ca_file);
    pthread_mutex_lock(&waker.lock);
    waker.http = NULL;
    pthread_mutex_unlock(&waker.lock);
    fk_http_destroy(&http);
    fk_api_destroy(&api);
    fk_checker_destroy(&checker);
    fk_origins_destroy(&origins);
    /*  Our entry goes before the cluster stops: no one knocks on a
        node that is leaving. */
    fk_joindir_destroy(&joindir);
    fk_cluster_destroy(&cluster);
    /*  After every plane that counts into it: the api and the cluster. */
    fk_metrics_destroy(&metrics);
    fk_lag_destroy(&lag);
    fk_grants_destroy(&grants);
    fk_audit_destroy(&audit);
    fk_signer_destroy(&signer);
    fk_store_destroy(&store);
    pthread_mutex_destroy(&waker.lock);
    fk_identity_destroy(&identity);
    OPENSSL_cleanse(cluster_secret, sizeof cluster_secret);
    fk_config_clear(&cfg);
    return status;
}
