/*  fk_audit - the audit log: who did what, when, from where, on which
    node, as append-only records that replicate to every node.

    An entry is the record "audit/<id>" owned by the node that wrote it,
    id = 16 lowercase hex digits of the wall-clock ms, '-', the node's
    name, '-', 16 hex digits of the record's version (the owner's store
    counter, which never repeats). Records sort by key, so a prefix scan
    meets every node's entries in time order, and two nodes never write
    the same key. Its payload is the JSON object

      {"ts_ms": <ms since the epoch>, "node": <writer>, "actor": <who>,
       "from": <their address>, "action": "service.register", ...,
       "subject": <what it acted on>, "detail": {...} (optional)}

    Entries are never rewritten. The only deletion is retention, by the
    owner: fk_audit_sweep deletes its own entries older than the retention
    time or beyond the per-node cap (oldest first).

    Stored does not mean trusted: entries arrive from other nodes, so every
    read goes through one decoder (fk_audit_decode) that checks the key,
    that the payload names its owner and the key's time, and every field's
    type, length and characters (no control characters: entries are
    printed on terminals and pages). An entry that does not decode is
    treated as absent and counted, and logged at most once a minute.

    Errors: int functions return 0 or a negative FK_E* / -errno code
    (fk_err.h); -ENOSPC when the store is full.

    Threads: every function may be called from any thread concurrently;
    writes take the store's write transaction. */

#ifndef FK_AUDIT_H_INCLUDED
#define FK_AUDIT_H_INCLUDED

#include "fk_store.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

typedef struct fk_audit fk_audit_t;

/*  Longest actor, from, action or subject kept, in bytes: a longer one
    is cut (at a character boundary) when written and refused when read. */
#define FK_AUDIT_MAX_FIELD 256

/*  Defaults of fk_audit_opts_t: entries live 30 days, a node keeps at
    most 10,000 of its own. */
#define FK_AUDIT_RETENTION_S (30LL * 86400)
#define FK_AUDIT_MAX_ENTRIES 10000

/*  The wall clock in ms since the epoch; tests bind a fake. */
typedef int64_t (*fk_audit_clock_fn)(void *arg);

typedef struct {
    fk_store_t *store;       /* borrowed; outlives the audit log */
    int64_t retention_s;     /* own entries older than this are swept (0: FK_AUDIT_RETENTION_S) */
    int64_t max_entries;     /* own entries kept at most, oldest swept first
                                (0: FK_AUDIT_MAX_ENTRIES) */
    fk_audit_clock_fn clock; /* wall clock, or NULL for fk_clock_wall_ms */
    void *clock_arg;         /* clock's first argument */
} fk_audit_opts_t;

/*  Create the audit log over a store. Aborts on OOM; never fails. */
fk_audit_t *fk_audit_new(const fk_audit_opts_t *opts);

/*  Free; sets *self_p to NULL. Safe on NULL. No call may be running. */
void fk_audit_destroy(fk_audit_t **self_p);

/*  Append one entry as this node, in its own write transaction: actor
    (who: an operator token's name, "admin-token", "services-dir", a
    client id...), from (their address, "" when none), action ("noun.verb",
    e.g. "code.approve"), subject (what it acted on) and detail (an object
    or NULL; the reference is stolen in every case). NULL strings are
    stored as "". Strings are made safe to store: cut to
    FK_AUDIT_MAX_FIELD bytes, control characters and invalid UTF-8
    replaced by '?'. Returns 0 once committed, or a store error. */
int fk_audit_append(fk_audit_t *self, const char *actor, const char *from, const char *action,
                    const char *subject, json_t *detail);

/*  fk_audit_append inside the caller's write transaction txn (of the
    same store), so the entry commits, or not, with what it records. */
int fk_audit_write(fk_audit_t *self, fk_store_txn_t *txn, const char *actor, const char *from,
                   const char *action, const char *subject, json_t *detail);

/*  The entries of every node with ts_ms >= since_ms, in time order (key
    order), at most limit of them: the newest limit ones when more match
    (fewer when some of those do not decode). On success *entries_p is a
    new array of decoded entries (fk_audit_decode's shape) and 0 is
    returned; otherwise a store error and *entries_p NULL. limit 0 means
    no limit. Cost: every entry's key is read twice, only the payloads
    returned are parsed. */
int fk_audit_list(fk_audit_t *self, int64_t since_ms, size_t limit, json_t **entries_p);

/*  Retention: delete this node's own entries older than the retention
    time, and its oldest beyond the cap, in write transactions of at most
    1,000 deletes. Returns how many were deleted, or a store error. */
int fk_audit_sweep(fk_audit_t *self);

/*  How many entries failed to decode since the log was created. */
uint64_t fk_audit_malformed(fk_audit_t *self);

/*  Decode one stored entry: key (the whole record key), owner and payload
    (len bytes, untrusted). On success *entry_p is a new object {"id",
    "ts_ms","node","actor","from","action","subject"} plus "detail" when
    the entry has one, and 0 is returned; otherwise FK_EPROTO_MALFORMED
    and *entry_p NULL. Pure. */
int fk_audit_decode(const char *key, const char *owner, const void *payload, size_t len,
                    json_t **entry_p);

/*  Read a "since" argument: RFC 3339 ("2024-05-01T12:00:00Z", fractions
    and offsets allowed), Unix milliseconds (digits only), or a duration
    back from now_ms (digits and a unit s, m, h or d: "90m", "7d"). On
    success sets *since_ms_p and returns 0; FK_EINVAL_INPUT otherwise.
    Pure. */
int fk_audit_parse_since(const char *text, int64_t now_ms, int64_t *since_ms_p);

#endif
