/*  fk_lag - how far this node's replica of each owner trails the cluster,
    for GET /metrics (fakts_replication_versions_behind and
    fakts_replication_last_delta_seconds).

    The cluster actor notes, from every digest it receives, the highest
    version of each member's records that some peer says it holds, and
    the time it last applied records of each owner that were new to it.
    The scrape compares the claims with the versions the store holds in
    full. A claim is a peer's word, unsigned: a lying member can inflate
    the gauge (a symptom for the operator to look at), and nothing else
    reads it.

    The table holds at most FK_LAG_MAX owners; a claim about a new owner
    when it is full replaces the entry touched longest ago, so departed
    members age out by themselves.

    Threads: every function takes the table's lock; the actor writes and
    a scrape reads concurrently. */

#ifndef FK_LAG_H_INCLUDED
#define FK_LAG_H_INCLUDED

#include <stdint.h>

#define FK_LAG_MAX 4096u

typedef struct fk_lag fk_lag_t;

/*  An empty table. Aborts on OOM. */
fk_lag_t *fk_lag_new(void);

/*  Free the table; sets *self_p to NULL. Safe on NULL. */
void fk_lag_destroy(fk_lag_t **self_p);

/*  A peer's digest says it holds owner's records up to version (kept
    when higher than what was claimed before). now_ms: fk_clock_mono_ms.
    Safe on a NULL self (nothing noted). */
void fk_lag_claimed(fk_lag_t *self, const char *owner, uint64_t version, int64_t now_ms);

/*  Records of owner new to this node were applied at now_ms. Safe on a
    NULL self. */
void fk_lag_applied(fk_lag_t *self, const char *owner, int64_t now_ms);

/*  What the table knows of one owner. */
typedef struct {
    const char *owner;  /* borrowed for the call */
    uint64_t claimed;   /* highest version a peer claimed; 0: none yet */
    int64_t applied_ms; /* when records of it were last applied; 0: never */
} fk_lag_entry_t;

typedef void (*fk_lag_fn)(void *arg, const fk_lag_entry_t *entry);

/*  Call fn for every owner in the table, in no particular order, with the
    lock held: fn must not call back into the table. */
void fk_lag_each(fk_lag_t *self, fk_lag_fn fn, void *arg);

#endif
