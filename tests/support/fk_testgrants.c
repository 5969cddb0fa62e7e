/*  fk_testgrants - grants planes over temporary stores (see the header). */

#include "fk_testgrants.h"

#include "fk_catalog.h"
#include "fk_err.h"
#include "fk_json.h"
#include "fk_manifest.h"
#include "fk_mem.h"
#include "fk_service.h"
#include "fk_testdir.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*  2026-01-01T00:00:00Z: a fixed start, so expiries are reproducible. */
#define S_EPOCH_MS 1767225600000LL

const fk_origin_t fk_testgrants_origin = {
    .scheme = "http", .host = "127.0.0.1", .port = 8520, .base = "http://127.0.0.1:8520"};
const char *const fk_testgrants_issuer = "http://127.0.0.1:8520/lok";

static void
s_check(int rc, const char *what)
{
    if (rc != 0) {
        fprintf(stderr, "fk_testgrants: %s: %s\n", what, fk_strerror(rc));
        abort();
    }
}

static int64_t
s_clock(void *arg)
{
    fk_testnode_t *node = arg;
    return atomic_load(&node->now_ms);
}

static int
s_forward(void *arg, const char *node_name, const char *body, size_t len, int timeout_ms,
          char **reply_p, size_t *reply_len_p)
{
    (void)timeout_ms;
    fk_testnode_t *from = arg;
    *reply_p = NULL;
    for (int i = 0; i < from->set->count; i++) {
        fk_testnode_t *to = &from->set->nodes[i];
        if (strcmp(to->name, node_name) == 0) {
            if (atomic_load(&to->down)) {
                return -ETIMEDOUT;
            }
            atomic_fetch_add(&to->forwarded, 1);
            return fk_grants_on_forwarded(to->grants, body, len, reply_p, reply_len_p);
        }
    }
    return FK_ENOTFOUND;
}

typedef struct {
    fk_store_t *to;    /* where records go */
    const char *owner; /* whose records */
    int applied;       /* how many were new */
} s_copy_t;

static int
s_copy(void *arg, const char *key, uint64_t version, const void *record, size_t len)
{
    (void)version;
    s_copy_t *copy = arg;
    fk_store_txn_t *txn;
    s_check(fk_store_write_begin(copy->to, &txn), "replicate begin");
    int rc = fk_store_apply(txn, copy->owner, key, record, len);
    if (rc < 0) {
        fprintf(stderr, "fk_testgrants: apply %s: %s\n", key, fk_strerror(rc));
        abort();
    }
    copy->applied += rc;
    s_check(fk_store_commit(&txn), "replicate commit");
    return 0;
}

int
fk_testgrants_replicate(fk_testgrants_t *self, int from, int to)
{
    s_copy_t copy = {.to = self->nodes[to].store, .owner = self->nodes[from].name};
    fk_store_txn_t *txn;
    s_check(fk_store_read_begin(self->nodes[from].store, &txn), "replicate read");
    /*  Applying in a second store while reading the first: each record is
        applied in its own transaction, so the read snapshot stays short. */
    s_check(fk_store_changes(txn, self->nodes[from].name, 0, s_copy, &copy), "changes");
    fk_store_txn_end(&txn);
    return copy.applied;
}

void
fk_testgrants_advance(fk_testgrants_t *self, int64_t ms)
{
    for (int i = 0; i < self->count; i++) {
        atomic_fetch_add(&self->nodes[i].now_ms, ms);
    }
}

json_t *
fk_testgrants_manifest(const char *identifier, const char *version)
{
    json_t *given = json_pack("{s:s, s:s, s:[s,s], s:[{s:s, s:s}, {s:s, s:s, s:b}]}", "identifier",
                              identifier, "version", version, "scopes", "openid", "read",
                              "requirements", "key", "rekuest", "service", "live.arkitekt.rekuest",
                              "key", "mikro", "service", "live.arkitekt.mikro", "optional", 1);
    json_t *canonical = NULL;
    char err[256];
    if (fk_manifest_parse(given, &canonical, err, sizeof err) != 0) {
        fprintf(stderr, "fk_testgrants: manifest: %s\n", err);
        abort();
    }
    json_decref(given);
    return canonical;
}

fk_testgrants_t *
fk_testgrants_new(int count, const char *prefix)
{
    if (count < 1 || count > FK_TESTGRANTS_MAX) {
        abort();
    }
    fk_testgrants_t *self = fk_calloc(1, sizeof *self);
    self->count = count;
    for (int i = 0; i < count; i++) {
        fk_testnode_t *node = &self->nodes[i];
        snprintf(node->name, sizeof node->name, "node-%c", 'a' + i);
        node->set = self;
        atomic_init(&node->now_ms, S_EPOCH_MS);
        atomic_init(&node->down, false);
        atomic_init(&node->forwarded, 0);
        node->dir = fk_testdir_make(prefix);
        s_check(fk_store_open(&node->store, node->dir, node->name, 64u << 20, FK_STORE_SYNC_NONE),
                "store");
        s_check(fk_signer_generate(&node->signer, 2048), "signer");
    }
    /*  One service instance on node-a. */
    const char *text = "{\"id\":\"rekuest-1\",\"service\":\"live.arkitekt.rekuest\","
                       "\"aliases\":[{\"host\":\"10.0.0.5\",\"port\":8090}]}";
    json_t *service = NULL;
    char err[256];
    if (fk_service_load(text, strlen(text), &service, err, sizeof err) != 0) {
        fprintf(stderr, "fk_testgrants: service: %s\n", err);
        abort();
    }
    s_check(fk_catalog_register(self->nodes[0].store, service, "api"), "register");
    json_decref(service);
    for (int i = 0; i < count; i++) {
        fk_testnode_t *node = &self->nodes[i];
        fk_grants_opts_t opts = {.store = node->store,
                                 .signer = node->signer,
                                 .deployment_name = "test",
                                 .refresh_grace_s = FK_TESTGRANTS_REFRESH_GRACE_S,
                                 .forward = s_forward,
                                 .forward_arg = node,
                                 .clock = s_clock,
                                 .clock_arg = node};
        s_check(fk_grants_new(&node->grants, &opts), "grants");
        s_check(fk_grants_publish_key(node->grants, (const char *const[]){fk_testgrants_issuer}, 1),
                "publish");
    }
    /*  Every node sees every key and the service; then each grants
        object reloads its verifier lazily (an unknown kid rebuilds). */
    for (int i = 0; i < count; i++) {
        for (int j = 0; j < count; j++) {
            if (i != j) {
                fk_testgrants_replicate(self, i, j);
            }
        }
    }
    return self;
}

void
fk_testgrants_destroy(fk_testgrants_t **self_p)
{
    if (!self_p || !*self_p) {
        return;
    }
    fk_testgrants_t *self = *self_p;
    for (int i = 0; i < self->count; i++) {
        fk_testnode_t *node = &self->nodes[i];
        fk_grants_destroy(&node->grants);
        fk_signer_destroy(&node->signer);
        fk_store_destroy(&node->store);
        fk_testdir_remove(&node->dir);
    }
    free(self);
    *self_p = NULL;
}
