/*  fk_lag - the replication lag table (fk_lag.h): a hash of owner name to
    its claim and last apply, under one mutex. */

#include "fk_lag.h"

#include "fk_mem.h"

#include <czmq.h>
#include <pthread.h>
#include <stdlib.h>

typedef struct {
    uint64_t claimed;   /* highest version a peer claimed */
    int64_t applied_ms; /* last apply of news, 0: never */
    int64_t touched_ms; /* last claim or apply: the eviction order */
} s_entry_t;

struct fk_lag {
    pthread_mutex_t lock;
    zhashx_t *owners; /* owner name -> s_entry_t (owned) */
};

static void
s_entry_free(void **item_p)
{
    free(*item_p);
    *item_p = NULL;
}

fk_lag_t *
fk_lag_new(void)
{
    fk_lag_t *self = fk_calloc(1, sizeof *self);
    pthread_mutex_init(&self->lock, NULL);
    self->owners = zhashx_new();
    if (!self->owners) {
        fk_oom("fk_lag");
    }
    zhashx_set_destructor(self->owners, s_entry_free);
    return self;
}

void
fk_lag_destroy(fk_lag_t **self_p)
{
    if (!self_p || !*self_p) {
        return;
    }
    fk_lag_t *self = *self_p;
    zhashx_destroy(&self->owners);
    pthread_mutex_destroy(&self->lock);
    free(self);
    *self_p = NULL;
}

/*  The entry of owner, made (evicting the stalest when full) if new.
    Called with the lock held. */
static s_entry_t *
s_entry(fk_lag_t *self, const char *owner)
{
    s_entry_t *entry = zhashx_lookup(self->owners, owner);
    if (entry) {
        return entry;
    }
    if (zhashx_size(self->owners) >= FK_LAG_MAX) {
        const char *stalest = NULL;
        int64_t oldest = INT64_MAX;
        for (s_entry_t *e = zhashx_first(self->owners); e; e = zhashx_next(self->owners)) {
            if (e->touched_ms < oldest) {
                oldest = e->touched_ms;
                stalest = zhashx_cursor(self->owners);
            }
        }
        zhashx_delete(self->owners, stalest);
    }
    entry = fk_calloc(1, sizeof *entry);
    zhashx_insert(self->owners, owner, entry);
    return entry;
}

void
fk_lag_claimed(fk_lag_t *self, const char *owner, uint64_t version, int64_t now_ms)
{
    if (!self) {
        return;
    }
    pthread_mutex_lock(&self->lock);
    s_entry_t *entry = s_entry(self, owner);
    if (version > entry->claimed) {
        entry->claimed = version;
    }
    entry->touched_ms = now_ms;
    pthread_mutex_unlock(&self->lock);
}

void
fk_lag_applied(fk_lag_t *self, const char *owner, int64_t now_ms)
{
    if (!self) {
        return;
    }
    pthread_mutex_lock(&self->lock);
    s_entry_t *entry = s_entry(self, owner);
    entry->applied_ms = now_ms;
    entry->touched_ms = now_ms;
    pthread_mutex_unlock(&self->lock);
}

void
fk_lag_each(fk_lag_t *self, fk_lag_fn fn, void *arg)
{
    pthread_mutex_lock(&self->lock);
    for (s_entry_t *e = zhashx_first(self->owners); e; e = zhashx_next(self->owners)) {
        fk_lag_entry_t entry = {zhashx_cursor(self->owners), e->claimed, e->applied_ms};
        fn(arg, &entry);
    }
    pthread_mutex_unlock(&self->lock);
}
