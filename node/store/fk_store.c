/*  fk_store - LMDB environment holding records, owner counters and local
    secrets. See fk_store.h for the data model and the thread rules. */

#include "fk_store.h"

#include "fk_clock.h"
#include "fk_err.h"
#include "fk_log.h"
#include "fk_mem.h"

#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <openssl/evp.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*  Bumped whenever the meaning of a database changes; an older binary
    refuses a newer data directory instead of misreading it. Schema 3:
    records are signed by their owners (R-RECORD-013). */
#define FK_STORE_SCHEMA "3"

struct fk_store {
    MDB_env *env;    /* the environment, one per data directory */
    MDB_dbi meta;    /* schema version */
    MDB_dbi local;   /* node-local settings and secrets */
    MDB_dbi records; /* "<key>\0<owner>" -> record envelope */
    MDB_dbi owners;  /* owner -> max version (big-endian uint64) */
    MDB_dbi changes; /* "<owner>\0" + big-endian version -> record key: deltas in order */
    MDB_dbi members; /* member name -> status byte + member JSON */
    char *node;      /* local node name: owner of local writes */
    fk_store_commit_fn on_commit; /* called after commits with local writes */
    void *on_commit_arg;          /* its argument */
    fk_store_changed_fn on_change; /* called after commits that changed the view */
    void *on_change_arg;          /* its argument */
    const fk_sign_key_t *signer;    /* signs local records; NULL: they go unsigned */
    size_t map_size;              /* the LMDB map size */
    size_t reserve;               /* room kept for deletes (fk_store_space) */
    atomic_bool full;             /* new local records are refused */
    atomic_bool disk_full;        /* the reserve could not be allocated on disk */
};

struct fk_store_txn {
    fk_store_t *store; /* the store this transaction belongs to */
    MDB_txn *txn;      /* the LMDB transaction */
    bool write;        /* a write transaction */
    bool local_writes; /* it wrote local records (replication must push them) */
    unsigned changed;  /* fk_store_changed_t bits of what it wrote */
    char *scratch;     /* key of the last entry returned, for entry->key */
};

/*  Translate an LMDB code at the module boundary, logging the details the
    caller's FK_ESTORE cannot carry. */
static int
s_mdb_error(int rc, const char *what)
{
    if (rc == MDB_NOTFOUND) {
        return FK_ENOTFOUND;
    }
    if (rc == MDB_MAP_FULL) {
        fk_error("store: %s: database map is full", what);
        return -ENOSPC;
    }
    fk_error("store: %s: %s", what, mdb_strerror(rc));
    return rc > 0 ? -rc : FK_ESTORE;
}

/*  An MDB_val over borrowed bytes. LMDB never writes through mv_data of
    a key or of a value passed in, but declares it non-const. */
static MDB_val
s_val(const void *data, size_t size)
{
    MDB_val val = {.mv_size = size, .mv_data = (void *)(uintptr_t)data};
    return val;
}

/*  Copy size bytes, which may contain NULs, and NUL-terminate. */
static char *
s_dup_bytes(const void *data, size_t size)
{
    char *copy = fk_malloc(size + 1);
    memcpy(copy, data, size);
    copy[size] = '\0';
    return copy;
}

static void
s_put_be64(unsigned char out[8], uint64_t value)
{
    for (int i = 7; i >= 0; i--) {
        out[i] = (unsigned char)(value & 0xff);
        value >>= 8;
    }
}

static uint64_t
s_get_be64(const unsigned char in[8])
{
    uint64_t value = 0;
    for (int i = 0; i < 8; i++) {
        value = value << 8 | in[i];
    }
    return value;
}

/*  "<owner>\0" + big-endian version: the change index key. Returns its
    length, or 0 when the owner is too long. */
static size_t
s_change_key(char *buf, const char *owner, uint64_t version)
{
    size_t owner_len = strlen(owner);
    if (owner_len + 9 > FK_STORE_MAX_KEY) {
        return 0;
    }
    memcpy(buf, owner, owner_len);
    buf[owner_len] = '\0';
    s_put_be64((unsigned char *)buf + owner_len + 1, version);
    return owner_len + 9;
}

/*  Index every record by (owner, version), for schema upgrades. */
static int
s_build_changes(MDB_txn *txn, fk_store_t *self)
{
    MDB_cursor *cursor;
    int rc = mdb_cursor_open(txn, self->records, &cursor);
    if (rc) {
        return rc;
    }
    MDB_val key;
    MDB_val val;
    rc = mdb_cursor_get(cursor, &key, &val, MDB_FIRST);
    while (rc == 0) {
        fk_record_t rec;
        const char *sep = memchr(key.mv_data, '\0', key.mv_size);
        if (sep && fk_record_decode(val.mv_data, val.mv_size, &rec) == 0) {
            size_t key_len = (size_t)(sep - (const char *)key.mv_data);
            char *owner = s_dup_bytes(sep + 1, key.mv_size - key_len - 1);
            char ckey[FK_STORE_MAX_KEY];
            size_t ckey_len = s_change_key(ckey, owner, rec.version);
            free(owner);
            MDB_val cval = s_val(key.mv_data, key_len);
            MDB_val cmkey = s_val(ckey, ckey_len);
            if (ckey_len && (rc = mdb_put(txn, self->changes, &cmkey, &cval, 0)) != 0) {
                break;
            }
        }
        rc = mdb_cursor_get(cursor, &key, &val, MDB_NEXT);
    }
    mdb_cursor_close(cursor);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

/*  Returns 0 or an fk_err code. */
static int s_drop_foreign(MDB_txn *txn, fk_store_t *self, const char *node);
static int s_rebuild_summary(MDB_txn *txn, fk_store_t *self);

static int
s_open_dbs(fk_store_t *self, const char *node)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(self->env, NULL, 0, &txn);
    if (rc) {
        return s_mdb_error(rc, "begin");
    }
    if ((rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &self->meta))
        || (rc = mdb_dbi_open(txn, "local", MDB_CREATE, &self->local))
        || (rc = mdb_dbi_open(txn, "records", MDB_CREATE, &self->records))
        || (rc = mdb_dbi_open(txn, "owners", MDB_CREATE, &self->owners))
        || (rc = mdb_dbi_open(txn, "changes", MDB_CREATE, &self->changes))
        || (rc = mdb_dbi_open(txn, "members", MDB_CREATE, &self->members))) {
        mdb_txn_abort(txn);
        return s_mdb_error(rc, "open databases");
    }

    MDB_val key = s_val("schema", 6);
    MDB_val val;
    rc = mdb_get(txn, self->meta, &key, &val);
    bool v1 = rc == 0 && val.mv_size == 1 && memcmp(val.mv_data, "1", 1) == 0;
    bool v2 = rc == 0 && val.mv_size == 1 && memcmp(val.mv_data, "2", 1) == 0;
    if (rc == MDB_NOTFOUND) {
        val = s_val(FK_STORE_SCHEMA, strlen(FK_STORE_SCHEMA));
        rc = mdb_put(txn, self->meta, &key, &val, 0);
    } else if (v1 || v2) {
        /*  Schema 1 had no change index; it is derived from the records.
            Before schema 3 records were unsigned: other owners' copies are
            dropped and fetched again, signed, from the cluster (our own are
            signed in place by fk_store_adopt_signer). */
        if (!v1 || (rc = s_build_changes(txn, self)) == 0) {
            int dropped = s_drop_foreign(txn, self, node);
            if (dropped == 0) {
                dropped = s_rebuild_summary(txn, self);
            }
            if (dropped) {
                mdb_txn_abort(txn);
                return dropped;
            }
            val = s_val(FK_STORE_SCHEMA, strlen(FK_STORE_SCHEMA));
            rc = mdb_put(txn, self->meta, &key, &val, 0);
            fk_info("store: upgraded the data directory to schema %s", FK_STORE_SCHEMA);
        }
    } else if (rc == 0
               && (val.mv_size != strlen(FK_STORE_SCHEMA)
                   || memcmp(val.mv_data, FK_STORE_SCHEMA, val.mv_size) != 0)) {
        fk_error("store: data directory has schema %.*s, this binary reads schema %s",
                 (int)val.mv_size, (const char *)val.mv_data, FK_STORE_SCHEMA);
        mdb_txn_abort(txn);
        return FK_ECONFIG;
    }
    if (rc) {
        mdb_txn_abort(txn);
        return s_mdb_error(rc, "schema");
    }

    /*  A data directory belongs to one node name for its whole life. */
    key = s_val("node", 4);
    rc = mdb_get(txn, self->local, &key, &val);
    if (rc == MDB_NOTFOUND) {
        val = s_val(node, strlen(node));
        rc = mdb_put(txn, self->local, &key, &val, 0);
    } else if (rc == 0 && (val.mv_size != strlen(node) || memcmp(val.mv_data, node, val.mv_size))) {
        fk_error("store: data directory belongs to node '%.*s', not '%s'", (int)val.mv_size,
                 (const char *)val.mv_data, node);
        mdb_txn_abort(txn);
        return FK_ECONFIG;
    }
    if (rc) {
        mdb_txn_abort(txn);
        return s_mdb_error(rc, "node name");
    }
    rc = mdb_txn_commit(txn);
    return rc ? s_mdb_error(rc, "commit") : 0;
}

int
fk_store_open(fk_store_t **self_p, const char *dir, const char *node, size_t map_size,
              fk_store_sync_t sync)
{
    *self_p = NULL;
    if (!node || !*node || strlen(node) > 128) {
        return FK_ECONFIG;
    }
    fk_store_t *self = fk_calloc(1, sizeof *self);
    int rc = mdb_env_create(&self->env);
    if (rc) {
        free(self);
        return s_mdb_error(rc, "create");
    }
    mdb_env_set_maxdbs(self->env, 8);
    /*  HTTP threads, the cluster actor and the sweeper each hold at most a
        short read transaction; 254 leaves ample room. */
    mdb_env_set_maxreaders(self->env, 254);
    self->map_size = map_size ? map_size : (size_t)8 << 30;
    mdb_env_set_mapsize(self->env, self->map_size);
    /*  The room kept for deletes: a delete writes a tombstone and, LMDB
        being copy-on-write, new pages for every page it touches. A
        sixteenth of the map, at least 256 KiB, at most 64 MiB. */
    self->reserve = self->map_size / 16;
    self->reserve = self->reserve < ((size_t)256 << 10)  ? (size_t)256 << 10
                    : self->reserve > ((size_t)64 << 20) ? (size_t)64 << 20
                                                         : self->reserve;
    atomic_init(&self->full, false);
    atomic_init(&self->disk_full, false);

    unsigned flags = MDB_NOTLS;
    if (sync == FK_STORE_SYNC_DATA) {
        flags |= MDB_NOMETASYNC;
    } else if (sync == FK_STORE_SYNC_NONE) {
        flags |= MDB_NOSYNC;
    }
    rc = mdb_env_open(self->env, dir, flags, 0600);
    if (rc) {
        int err = s_mdb_error(rc, dir);
        mdb_env_close(self->env);
        free(self);
        return err;
    }
    /*  Readers of a process killed with -9 leave stale slots behind. */
    int dead = 0;
    mdb_reader_check(self->env, &dead);
    self->node = fk_strdup(node);
    rc = s_open_dbs(self, node);
    if (rc) {
        fk_store_destroy(&self);
        return rc;
    }
    fk_store_space(self, NULL);
    *self_p = self;
    return 0;
}

void
fk_store_destroy(fk_store_t **self_p)
{
    if (!self_p || !*self_p) {
        return;
    }
    fk_store_t *self = *self_p;
    mdb_env_sync(self->env, 1);
    mdb_env_close(self->env);
    free(self->node);
    free(self);
    *self_p = NULL;
}

const char *
fk_store_node(const fk_store_t *self)
{
    return self->node;
}

const char *
fk_store_txn_node(const fk_store_txn_t *txn)
{
    return txn->store->node;
}

static int
s_begin(fk_store_t *self, bool write, fk_store_txn_t **txn_p)
{
    *txn_p = NULL;
    MDB_txn *txn;
    int rc = mdb_txn_begin(self->env, NULL, write ? 0 : MDB_RDONLY, &txn);
    if (rc) {
        return s_mdb_error(rc, "begin");
    }
    fk_store_txn_t *handle = fk_calloc(1, sizeof *handle);
    handle->store = self;
    handle->txn = txn;
    handle->write = write;
    *txn_p = handle;
    return 0;
}

int
fk_store_read_begin(fk_store_t *self, fk_store_txn_t **txn_p)
{
    return s_begin(self, false, txn_p);
}

int
fk_store_write_begin(fk_store_t *self, fk_store_txn_t **txn_p)
{
    return s_begin(self, true, txn_p);
}

void
fk_store_on_local_commit(fk_store_t *self, fk_store_commit_fn fn, void *arg)
{
    self->on_commit = fn;
    self->on_commit_arg = arg;
}

void
fk_store_on_change(fk_store_t *self, fk_store_changed_fn fn, void *arg)
{
    self->on_change = fn;
    self->on_change_arg = arg;
}

int
fk_store_commit(fk_store_txn_t **txn_p)
{
    fk_store_txn_t *handle = *txn_p;
    int rc = mdb_txn_commit(handle->txn);
    if ((rc == MDB_MAP_FULL || rc == ENOSPC) && !handle->store->full) {
        /*  Full before the periodic check saw it: refuse new records now,
            so what room is left goes to deletes. */
        atomic_store(&handle->store->full, true);
    }
    if (rc == 0 && handle->local_writes && handle->store->on_commit) {
        handle->store->on_commit(handle->store->on_commit_arg);
    }
    if (rc == 0 && handle->changed && handle->store->on_change) {
        handle->store->on_change(handle->store->on_change_arg, handle->changed);
    }
    free(handle->scratch);
    free(handle);
    *txn_p = NULL;
    return rc ? s_mdb_error(rc, "commit") : 0;
}

void
fk_store_txn_end(fk_store_txn_t **txn_p)
{
    if (!txn_p || !*txn_p) {
        return;
    }
    mdb_txn_abort((*txn_p)->txn);
    free((*txn_p)->scratch);
    free(*txn_p);
    *txn_p = NULL;
}

/*  Build "<key>\0<owner>" into buf; returns its length or 0 if too long. */
static size_t
s_record_key(char *buf, const char *key, const char *owner)
{
    size_t key_len = strlen(key);
    size_t owner_len = strlen(owner);
    if (key_len == 0 || key_len + 1 + owner_len > FK_STORE_MAX_KEY) {
        return 0;
    }
    memcpy(buf, key, key_len);
    buf[key_len] = '\0';
    memcpy(buf + key_len + 1, owner, owner_len);
    return key_len + 1 + owner_len;
}

/*  Fill entry from an LMDB (key, value) pair. Returns 0, 1 if the record
    is a tombstone, or FK_ESTORE if it is unreadable. */
static int
s_entry(fk_store_txn_t *txn, const MDB_val *key, const MDB_val *val, fk_store_entry_t *entry)
{
    int rc = fk_record_decode(val->mv_data, val->mv_size, &entry->record);
    if (rc) {
        fk_error("store: unreadable record (%s)", fk_strerror(rc));
        return FK_ESTORE;
    }
    if (entry->record.flags & FK_RECORD_TOMBSTONE) {
        return 1;
    }
    /*  LMDB keys are not NUL-terminated; keep a terminated copy. */
    free(txn->scratch);
    txn->scratch = s_dup_bytes(key->mv_data, key->mv_size);
    const char *sep = memchr(key->mv_data, '\0', key->mv_size);
    entry->key = txn->scratch;
    entry->owner = sep ? txn->scratch + (sep - (const char *)key->mv_data) + 1 : "";
    return 0;
}

static int
s_bump_owner(fk_store_txn_t *txn, const char *owner, uint64_t version)
{
    MDB_val key = s_val(owner, strlen(owner));
    unsigned char buf[8];
    s_put_be64(buf, version);
    MDB_val val = {.mv_size = sizeof buf, .mv_data = buf};
    int rc = mdb_put(txn->txn, txn->store->owners, &key, &val, 0);
    txn->changed |= FK_STORE_CHANGED_RECORDS;
    return rc ? s_mdb_error(rc, "owner version") : 0;
}

uint64_t
fk_store_owner_version(fk_store_txn_t *txn, const char *owner)
{
    MDB_val key = s_val(owner, strlen(owner));
    MDB_val val;
    if (mdb_get(txn->txn, txn->store->owners, &key, &val) != 0 || val.mv_size != 8) {
        return 0;
    }
    return s_get_be64(val.mv_data);
}

/*  What one live record adds to its owner's summary: the first 8 bytes of
    SHA-256(key NUL version), so the XOR over a set of records changes
    when any record is missing, extra, or at another version. */
static uint64_t
s_record_hash(const char *key, uint64_t version)
{
    size_t key_len = strlen(key) + 1;
    unsigned char buf[FK_STORE_MAX_KEY + 9];
    memcpy(buf, key, key_len);
    s_put_be64(buf + key_len, version);
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int digest_len = 0;
    if (EVP_Digest(buf, key_len + 8, digest, &digest_len, EVP_sha256(), NULL) != 1) {
        abort(); /* SHA-256 cannot fail on a valid buffer short of OOM */
    }
    return s_get_be64(digest);
}

/*  The 64-bit number kept for owner under prefix in the local table
    ("sum/", "floor/"), or 0 when there is none. */
static uint64_t
s_local_number(fk_store_txn_t *txn, const char *prefix, const char *owner)
{
    char *name = fk_asprintf("%s%s", prefix, owner);
    MDB_val key = s_val(name, strlen(name));
    MDB_val val;
    uint64_t number = 0;
    if (mdb_get(txn->txn, txn->store->local, &key, &val) == 0 && val.mv_size == 8) {
        number = s_get_be64(val.mv_data);
    }
    free(name);
    return number;
}

uint64_t
fk_store_owner_summary(fk_store_txn_t *txn, const char *owner)
{
    return s_local_number(txn, "sum/", owner);
}

static int
s_summary_xor(fk_store_txn_t *txn, const char *owner, uint64_t hash)
{
    if (hash == 0) {
        return 0;
    }
    unsigned char buf[8];
    s_put_be64(buf, fk_store_owner_summary(txn, owner) ^ hash);
    char *name = fk_asprintf("sum/%s", owner);
    int rc = fk_store_local_set(txn, name, buf, sizeof buf);
    free(name);
    return rc;
}

/*  Write rec under (key, owner) unless the store already holds that
    record at the same or a newer version, and keep the change index and
    the owner's summary in step: exactly one index entry per record, at
    its current version. Returns 1 when written, 0 when stale, or an
    error. */
static int
s_put_record(fk_store_txn_t *txn, const char *key, const char *owner, const fk_record_t *rec)
{
    uint64_t summary = (rec->flags & FK_RECORD_TOMBSTONE) ? 0 : s_record_hash(key, rec->version);
    char buf[FK_STORE_MAX_KEY];
    size_t buf_len = s_record_key(buf, key, owner);
    char ckey[FK_STORE_MAX_KEY];
    size_t ckey_len = s_change_key(ckey, owner, rec->version);
    if (buf_len == 0 || ckey_len == 0) {
        return FK_EINVAL_INPUT;
    }
    MDB_val mkey = s_val(buf, buf_len);
    MDB_val old;
    int rc = mdb_get(txn->txn, txn->store->records, &mkey, &old);
    if (rc == 0) {
        fk_record_t prev;
        if (fk_record_decode(old.mv_data, old.mv_size, &prev) == 0) {
            if (prev.version >= rec->version) {
                return 0;
            }
            if (!(prev.flags & FK_RECORD_TOMBSTONE)) {
                summary ^= s_record_hash(key, prev.version);
            }
            char okey[FK_STORE_MAX_KEY];
            size_t okey_len = s_change_key(okey, owner, prev.version);
            MDB_val omkey = s_val(okey, okey_len);
            rc = mdb_del(txn->txn, txn->store->changes, &omkey, NULL);
            if (rc && rc != MDB_NOTFOUND) {
                return s_mdb_error(rc, "change index");
            }
        }
    } else if (rc != MDB_NOTFOUND) {
        return s_mdb_error(rc, "get");
    }
    char *encoded = NULL;
    size_t encoded_len = 0;
    if ((rc = fk_record_encode(rec, &encoded, &encoded_len)) != 0) {
        return rc;
    }
    MDB_val mval = s_val(encoded, encoded_len);
    rc = mdb_put(txn->txn, txn->store->records, &mkey, &mval, 0);
    free(encoded);
    txn->changed |= FK_STORE_CHANGED_RECORDS;
    if (rc) {
        return s_mdb_error(rc, "put");
    }
    MDB_val cmkey = s_val(ckey, ckey_len);
    MDB_val cval = s_val(key, strlen(key));
    rc = mdb_put(txn->txn, txn->store->changes, &cmkey, &cval, 0);
    if (rc) {
        return s_mdb_error(rc, "change index");
    }
    rc = s_summary_xor(txn, owner, summary);
    return rc ? rc : 1;
}

static int
s_write_local(fk_store_txn_t *txn, const char *key, uint32_t flags, const void *payload, size_t len)
{
    if (!txn->write) {
        return FK_EINVAL_INPUT;
    }
    /*  The version comes from the local counter in the same transaction as
        the record, so a crash can neither lose the counter nor reuse it. */
    uint64_t version = fk_store_owner_version(txn, txn->store->node) + 1;
    fk_record_t rec = {.version = version,
                       .flags = flags,
                       .stamp_ms = fk_clock_wall_ms(),
                       .payload = payload,
                       .payload_len = len};
    int rc = 0;
    if (txn->store->signer
        && (rc = fk_record_sign(&rec, txn->store->node, key, txn->store->signer)) != 0) {
        return rc;
    }
    rc = s_put_record(txn, key, txn->store->node, &rec);
    if (rc == -ENOSPC) {
        atomic_store(&txn->store->full, true); /* the map ran out mid-transaction */
    }
    if (rc < 0) {
        return rc;
    }
    txn->local_writes = true;
    return s_bump_owner(txn, txn->store->node, version);
}

int
fk_store_apply(fk_store_txn_t *txn, const char *owner, const char *key, const void *data,
               size_t len)
{
    if (!txn->write || !owner || !*owner || strcmp(owner, txn->store->node) == 0) {
        /*  Only the owner writes its records: a remote copy of our own
            records can only be older than what we hold. */
        return FK_EINVAL_INPUT;
    }
    fk_record_t rec;
    int rc = fk_record_decode(data, len, &rec);
    if (rc) {
        return rc;
    }
    return s_put_record(txn, key, owner, &rec);
}

uint64_t
fk_store_owner_advance(fk_store_txn_t *txn, const char *owner, uint64_t from, uint64_t to)
{
    uint64_t have = fk_store_owner_version(txn, owner);
    /*  Advance only over a contiguous range: if we lack versions between
        what we have and "from", claiming "to" would hide them from every
        later digest exchange. */
    if (txn->write && have >= from && to > have && s_bump_owner(txn, owner, to) == 0) {
        return to;
    }
    return have;
}

int
fk_store_changes(fk_store_txn_t *txn, const char *owner, uint64_t after, fk_store_change_fn fn,
                 void *arg)
{
    char ckey[FK_STORE_MAX_KEY];
    size_t ckey_len = s_change_key(ckey, owner, after + 1);
    if (ckey_len == 0) {
        return FK_EINVAL_INPUT;
    }
    size_t owner_len = ckey_len - 8; /* "<owner>\0" */
    MDB_cursor *cursor;
    int rc = mdb_cursor_open(txn->txn, txn->store->changes, &cursor);
    if (rc) {
        return s_mdb_error(rc, "cursor");
    }
    MDB_val mkey = s_val(ckey, ckey_len);
    MDB_val mval;
    int result = 0;
    rc = mdb_cursor_get(cursor, &mkey, &mval, MDB_SET_RANGE);
    while (rc == 0 && mkey.mv_size == owner_len + 8 && memcmp(mkey.mv_data, ckey, owner_len) == 0) {
        uint64_t version = s_get_be64((const unsigned char *)mkey.mv_data + owner_len);
        char rkey[FK_STORE_MAX_KEY];
        if (mval.mv_size + 1 + owner_len > sizeof rkey) {
            result = FK_ESTORE;
            break;
        }
        memcpy(rkey, mval.mv_data, mval.mv_size);
        rkey[mval.mv_size] = '\0';
        memcpy(rkey + mval.mv_size + 1, owner, owner_len - 1);
        MDB_val rmkey = s_val(rkey, mval.mv_size + owner_len);
        MDB_val rval;
        if (mdb_get(txn->txn, txn->store->records, &rmkey, &rval) == 0
            && (result = fn(arg, rkey, version, rval.mv_data, rval.mv_size)) != 0) {
            break;
        }
        rc = mdb_cursor_get(cursor, &mkey, &mval, MDB_NEXT);
    }
    if (rc && rc != MDB_NOTFOUND && result == 0) {
        result = s_mdb_error(rc, "changes");
    }
    mdb_cursor_close(cursor);
    return result;
}

int
fk_store_owners(fk_store_txn_t *txn, fk_store_owner_fn fn, void *arg)
{
    MDB_cursor *cursor;
    int rc = mdb_cursor_open(txn->txn, txn->store->owners, &cursor);
    if (rc) {
        return s_mdb_error(rc, "cursor");
    }
    MDB_val mkey;
    MDB_val mval;
    int result = 0;
    rc = mdb_cursor_get(cursor, &mkey, &mval, MDB_FIRST);
    while (rc == 0) {
        char owner[FK_STORE_MAX_KEY];
        if (mkey.mv_size < sizeof owner && mval.mv_size == 8) {
            memcpy(owner, mkey.mv_data, mkey.mv_size);
            owner[mkey.mv_size] = '\0';
            if ((result = fn(arg, owner, s_get_be64(mval.mv_data))) != 0) {
                break;
            }
        }
        rc = mdb_cursor_get(cursor, &mkey, &mval, MDB_NEXT);
    }
    mdb_cursor_close(cursor);
    return result;
}

bool
fk_store_txn_wrote_local(const fk_store_txn_t *txn)
{
    return txn->local_writes;
}

int
fk_store_member_put(fk_store_txn_t *txn, const char *name, fk_store_member_status_t status,
                    const char *json)
{
    if (!txn->write) {
        return FK_EINVAL_INPUT;
    }
    size_t len = strlen(json);
    char *value = fk_malloc(len + 1);
    value[0] = (char)status;
    memcpy(value + 1, json, len);
    MDB_val mkey = s_val(name, strlen(name));
    MDB_val mval = s_val(value, len + 1);
    int rc = mdb_put(txn->txn, txn->store->members, &mkey, &mval, 0);
    free(value);
    txn->changed |= FK_STORE_CHANGED_MEMBERS;
    return rc ? s_mdb_error(rc, "member put") : 0;
}

int
fk_store_member_del(fk_store_txn_t *txn, const char *name)
{
    if (!txn->write) {
        return FK_EINVAL_INPUT;
    }
    MDB_val mkey = s_val(name, strlen(name));
    int rc = mdb_del(txn->txn, txn->store->members, &mkey, NULL);
    txn->changed |= FK_STORE_CHANGED_MEMBERS;
    return rc && rc != MDB_NOTFOUND ? s_mdb_error(rc, "member del") : 0;
}

int
fk_store_member_get(fk_store_txn_t *txn, const char *name, fk_store_member_status_t *status_p)
{
    MDB_val mkey = s_val(name, strlen(name));
    MDB_val mval;
    int rc = mdb_get(txn->txn, txn->store->members, &mkey, &mval);
    if (rc) {
        return s_mdb_error(rc, "member get");
    }
    if (mval.mv_size < 1) {
        return FK_ESTORE;
    }
    *status_p = (fk_store_member_status_t)((const unsigned char *)mval.mv_data)[0];
    return 0;
}

int
fk_store_members(fk_store_txn_t *txn, fk_store_member_fn fn, void *arg)
{
    MDB_cursor *cursor;
    int rc = mdb_cursor_open(txn->txn, txn->store->members, &cursor);
    if (rc) {
        return s_mdb_error(rc, "cursor");
    }
    MDB_val mkey;
    MDB_val mval;
    int result = 0;
    rc = mdb_cursor_get(cursor, &mkey, &mval, MDB_FIRST);
    while (rc == 0) {
        if (mval.mv_size >= 1 && mkey.mv_size < 256) {
            char name[256];
            memcpy(name, mkey.mv_data, mkey.mv_size);
            name[mkey.mv_size] = '\0';
            char *json = s_dup_bytes((const char *)mval.mv_data + 1, mval.mv_size - 1);
            result = fn(arg, name,
                        (fk_store_member_status_t)((const unsigned char *)mval.mv_data)[0], json);
            free(json);
            if (result) {
                break;
            }
        }
        rc = mdb_cursor_get(cursor, &mkey, &mval, MDB_NEXT);
    }
    mdb_cursor_close(cursor);
    return result;
}

/*  Is the store full, judged now? Cheap while the file's last page is
    clear of the reserve (one mdb_env_info); only then the free pages are
    counted. */
static bool
s_into_reserve(fk_store_t *self)
{
    MDB_envinfo info;
    MDB_stat stat;
    if (mdb_env_info(self->env, &info) != 0 || mdb_env_stat(self->env, &stat) != 0) {
        return false;
    }
    size_t high = (info.me_last_pgno + 1) * (size_t)stat.ms_psize;
    if (high + self->reserve < self->map_size) {
        return false;
    }
    fk_store_space_t space;
    return fk_store_space(self, &space) == 0 && space.full;
}

int
fk_store_put(fk_store_txn_t *txn, const char *key, const void *payload, size_t len)
{
    if (len > FK_RECORD_MAX_PAYLOAD) {
        return FK_ETOOBIG;
    }
    /*  A full store takes no new records, so the reserve stays for
        deletes (which go through s_write_local directly). The periodic
        check (fk_store_space) may be a second late, and a burst of writes
        fills a small map in less: once the file's high-water mark reaches
        into the reserve, check now. */
    if (atomic_load(&txn->store->full) || s_into_reserve(txn->store)) {
        return -ENOSPC;
    }
    return s_write_local(txn, key, 0, payload, len);
}

int
fk_store_delete(fk_store_txn_t *txn, const char *key)
{
    fk_store_entry_t entry;
    int rc = fk_store_get(txn, key, txn->store->node, &entry);
    if (rc) {
        return rc;
    }
    return s_write_local(txn, key, FK_RECORD_TOMBSTONE, NULL, 0);
}

int
fk_store_get(fk_store_txn_t *txn, const char *key, const char *owner, fk_store_entry_t *entry)
{
    char buf[FK_STORE_MAX_KEY];
    size_t buf_len = s_record_key(buf, key, owner ? owner : "");
    if (buf_len == 0) {
        return FK_ENOTFOUND;
    }
    MDB_val mkey = {.mv_size = buf_len, .mv_data = buf};
    MDB_val mval;
    if (owner) {
        int rc = mdb_get(txn->txn, txn->store->records, &mkey, &mval);
        if (rc) {
            return s_mdb_error(rc, "get");
        }
        rc = s_entry(txn, &mkey, &mval, entry);
        return rc == 1 ? FK_ENOTFOUND : rc;
    }
    /*  Any owner: walk "<key>\0*" in owner order, first live record wins. */
    MDB_cursor *cursor;
    int rc = mdb_cursor_open(txn->txn, txn->store->records, &cursor);
    if (rc) {
        return s_mdb_error(rc, "cursor");
    }
    size_t prefix_len = buf_len; /* "<key>\0" */
    rc = mdb_cursor_get(cursor, &mkey, &mval, MDB_SET_RANGE);
    int result = FK_ENOTFOUND;
    while (rc == 0 && mkey.mv_size >= prefix_len && memcmp(mkey.mv_data, buf, prefix_len) == 0) {
        int got = s_entry(txn, &mkey, &mval, entry);
        if (got <= 0) {
            result = got;
            break;
        }
        rc = mdb_cursor_get(cursor, &mkey, &mval, MDB_NEXT);
    }
    if (rc && rc != MDB_NOTFOUND) {
        result = s_mdb_error(rc, "get");
    }
    mdb_cursor_close(cursor);
    return result;
}

int
fk_store_scan(fk_store_txn_t *txn, const char *prefix, fk_store_each_fn fn, void *arg)
{
    MDB_cursor *cursor;
    int rc = mdb_cursor_open(txn->txn, txn->store->records, &cursor);
    if (rc) {
        return s_mdb_error(rc, "cursor");
    }
    size_t prefix_len = strlen(prefix);
    MDB_val mkey = s_val(prefix, prefix_len);
    MDB_val mval;
    rc = mdb_cursor_get(cursor, &mkey, &mval, prefix_len ? MDB_SET_RANGE : MDB_FIRST);
    int result = 0;
    while (rc == 0) {
        if (mkey.mv_size < prefix_len || memcmp(mkey.mv_data, prefix, prefix_len) != 0) {
            break;
        }
        fk_store_entry_t entry;
        int got = s_entry(txn, &mkey, &mval, &entry);
        if (got < 0) {
            result = got;
            break;
        }
        if (got == 0 && (result = fn(arg, &entry)) != 0) {
            break;
        }
        rc = mdb_cursor_get(cursor, &mkey, &mval, MDB_NEXT);
    }
    if (rc && rc != MDB_NOTFOUND) {
        result = s_mdb_error(rc, "scan");
    }
    mdb_cursor_close(cursor);
    return result;
}

void
fk_store_view(fk_store_txn_t *txn, char out[65])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
        abort();
    }
    MDB_cursor *cursor;
    if (mdb_cursor_open(txn->txn, txn->store->owners, &cursor) == 0) {
        MDB_val mkey;
        MDB_val mval;
        int rc = mdb_cursor_get(cursor, &mkey, &mval, MDB_FIRST);
        while (rc == 0) {
            /*  Owner names are separated by a NUL, which no name contains,
                so ("ab", 1)("c", 2) never hashes like ("a", ...)("bc"...). */
            EVP_DigestUpdate(ctx, mkey.mv_data, mkey.mv_size);
            EVP_DigestUpdate(ctx, "", 1);
            EVP_DigestUpdate(ctx, mval.mv_data, mval.mv_size);
            rc = mdb_cursor_get(cursor, &mkey, &mval, MDB_NEXT);
        }
        mdb_cursor_close(cursor);
    }
    /*  Then every member's liveness: the answers leave out the services
        of failed and departed nodes, so it is part of the state they are
        composed from. */
    EVP_DigestUpdate(ctx, "|", 1);
    if (mdb_cursor_open(txn->txn, txn->store->members, &cursor) == 0) {
        MDB_val mkey;
        MDB_val mval;
        int rc = mdb_cursor_get(cursor, &mkey, &mval, MDB_FIRST);
        while (rc == 0) {
            unsigned char status = mval.mv_size ? ((const unsigned char *)mval.mv_data)[0] : 0;
            unsigned char live =
                status == FK_STORE_MEMBER_ALIVE || status == FK_STORE_MEMBER_SUSPECT;
            EVP_DigestUpdate(ctx, mkey.mv_data, mkey.mv_size);
            EVP_DigestUpdate(ctx, &live, 1);
            rc = mdb_cursor_get(cursor, &mkey, &mval, MDB_NEXT);
        }
        mdb_cursor_close(cursor);
    }
    unsigned char digest[32];
    unsigned int digest_len = 0;
    EVP_DigestFinal_ex(ctx, digest, &digest_len);
    EVP_MD_CTX_free(ctx);
    static const char hex[] = "0123456789abcdef";
    for (unsigned i = 0; i < 32; i++) {
        out[2 * i] = hex[digest[i] >> 4];
        out[2 * i + 1] = hex[digest[i] & 0x0f];
    }
    out[64] = '\0';
}

int
fk_store_local_get(fk_store_txn_t *txn, const char *name, char **value_p, size_t *len_p)
{
    *value_p = NULL;
    MDB_val mkey = s_val(name, strlen(name));
    MDB_val mval;
    int rc = mdb_get(txn->txn, txn->store->local, &mkey, &mval);
    if (rc) {
        return s_mdb_error(rc, "local get");
    }
    *value_p = s_dup_bytes(mval.mv_data, mval.mv_size);
    if (len_p) {
        *len_p = mval.mv_size;
    }
    return 0;
}

int
fk_store_local_set(fk_store_txn_t *txn, const char *name, const void *value, size_t len)
{
    if (!txn->write) {
        return FK_EINVAL_INPUT;
    }
    MDB_val mkey = s_val(name, strlen(name));
    MDB_val mval = s_val(value, len);
    int rc = mdb_put(txn->txn, txn->store->local, &mkey, &mval, 0);
    return rc ? s_mdb_error(rc, "local set") : 0;
}

int
fk_store_local_del(fk_store_txn_t *txn, const char *name)
{
    if (!txn->write) {
        return FK_EINVAL_INPUT;
    }
    MDB_val mkey = s_val(name, strlen(name));
    int rc = mdb_del(txn->txn, txn->store->local, &mkey, NULL);
    return rc && rc != MDB_NOTFOUND ? s_mdb_error(rc, "local del") : 0;
}

/*  The room for deletes kept allocated on the disk (fk_store_space). */
#define S_DISK_RESERVE ((size_t)1 << 20)

/*  Pages on LMDB's free list (FREE_DBI, 0): each value is a page list
    whose first word is its length, as mdb_stat -f counts them. */
static size_t
s_free_pages(MDB_txn *txn)
{
    MDB_cursor *cursor;
    if (mdb_cursor_open(txn, 0, &cursor) != 0) {
        return 0;
    }
    size_t pages = 0;
    MDB_val key, data;
    int rc = mdb_cursor_get(cursor, &key, &data, MDB_FIRST);
    while (rc == 0) {
        if (data.mv_size >= sizeof(size_t)) {
            size_t count;
            memcpy(&count, data.mv_data, sizeof count);
            pages += count;
        }
        rc = mdb_cursor_get(cursor, &key, &data, MDB_NEXT);
    }
    mdb_cursor_close(cursor);
    return pages;
}

int
fk_store_space(fk_store_t *self, fk_store_space_t *out)
{
    MDB_envinfo info;
    MDB_stat stat;
    MDB_txn *txn;
    if (mdb_env_info(self->env, &info) != 0 || mdb_env_stat(self->env, &stat) != 0
        || mdb_txn_begin(self->env, NULL, MDB_RDONLY, &txn) != 0) {
        return FK_ESTORE;
    }
    size_t free_pages = s_free_pages(txn);
    mdb_txn_abort(txn);
    size_t pages = info.me_last_pgno + 1;
    size_t file_end = pages * stat.ms_psize;
    size_t used = (pages > free_pages ? pages - free_pages : 0) * stat.ms_psize;
    /*  Keep room for deletes allocated on disk past the file's end
        (without growing the file: LMDB reads its size), so a delete's new
        pages find blocks even when the file system fills up. A delete
        touches a few pages per tree; 1 MiB is room for many, and small
        enough not to be what fills a small disk. */
    bool disk_full = false;
    int fd = -1;
    off_t disk_reserve = (off_t)(self->reserve < S_DISK_RESERVE ? self->reserve : S_DISK_RESERVE);
    if (mdb_env_get_fd(self->env, &fd) == 0 && fd >= 0
        && fallocate(fd, FALLOC_FL_KEEP_SIZE, (off_t)file_end, disk_reserve) != 0) {
        /*  Only a full disk counts; a file system without fallocate
            (EOPNOTSUPP) just goes without the on-disk reserve. */
        disk_full = errno == ENOSPC || errno == EDQUOT;
    }
    bool full = disk_full || used + self->reserve >= self->map_size;
    bool was = atomic_exchange(&self->full, full);
    atomic_store(&self->disk_full, disk_full);
    if (full && !was) {
        fk_error("store: full (%zu of %zu bytes used%s): new records are refused, reads and "
                 "deletes go on; free space or raise --map-size",
                 used, self->map_size,
                 disk_full ? ", and the disk has no room for the reserve" : "");
    } else if (!full && was) {
        fk_info("store: has room again (%zu of %zu bytes used)", used, self->map_size);
    }
    if (out) {
        *out = (fk_store_space_t){.map_size = self->map_size,
                                  .used = used,
                                  .reserve = self->reserve,
                                  .full = full,
                                  .disk_full = disk_full};
    }
    return 0;
}

int
fk_store_sync(fk_store_t *self)
{
    int rc = mdb_env_sync(self->env, 1);
    return rc ? s_mdb_error(rc, "sync") : 0;
}

uint64_t
fk_store_gc_floor(fk_store_txn_t *txn, const char *owner)
{
    return s_local_number(txn, "floor/", owner);
}

/*  Delete a record and its change index entry. */
static int
s_remove(fk_store_txn_t *txn, const char *owner, const char *key, uint64_t version)
{
    char buf[FK_STORE_MAX_KEY];
    char ckey[FK_STORE_MAX_KEY];
    size_t buf_len = s_record_key(buf, key, owner);
    size_t ckey_len = s_change_key(ckey, owner, version);
    if (!buf_len || !ckey_len) {
        return FK_EINVAL_INPUT;
    }
    MDB_val mkey = s_val(buf, buf_len);
    MDB_val cmkey = s_val(ckey, ckey_len);
    int rc = mdb_del(txn->txn, txn->store->records, &mkey, NULL);
    if (rc == 0 || rc == MDB_NOTFOUND) {
        rc = mdb_del(txn->txn, txn->store->changes, &cmkey, NULL);
    }
    return rc && rc != MDB_NOTFOUND ? s_mdb_error(rc, "remove") : 0;
}

typedef struct {
    int64_t before_ms;  /* tombstones stamped before this go */
    bool all;           /* drop every record, not only old tombstones */
    char **keys;        /* keys to remove */
    uint64_t *versions; /* and their versions */
    size_t count;       /* entries */
} s_collect_gc_t;

static int
s_collect_gc(void *arg, const char *key, uint64_t version, const void *record, size_t len)
{
    s_collect_gc_t *gc = arg;
    fk_record_t rec;
    if (!gc->all
        && (fk_record_decode(record, len, &rec) != 0 || !(rec.flags & FK_RECORD_TOMBSTONE)
            || rec.stamp_ms >= gc->before_ms)) {
        return 0;
    }
    gc->keys = fk_realloc(gc->keys, (gc->count + 1) * sizeof *gc->keys);
    gc->versions = fk_realloc(gc->versions, (gc->count + 1) * sizeof *gc->versions);
    gc->keys[gc->count] = fk_strdup(key);
    gc->versions[gc->count] = version;
    gc->count++;
    return 0;
}

/*  Remove the collected records (when remove is set) and free the list. */
static int
s_remove_collected(fk_store_txn_t *txn, const char *owner, s_collect_gc_t *gc, bool remove,
                   uint64_t *max_p)
{
    int rc = 0;
    for (size_t i = 0; i < gc->count; i++) {
        if (rc == 0 && remove) {
            rc = s_remove(txn, owner, gc->keys[i], gc->versions[i]);
        }
        if (gc->versions[i] > *max_p) {
            *max_p = gc->versions[i];
        }
        free(gc->keys[i]);
    }
    free(gc->keys);
    free(gc->versions);
    return rc;
}

int
fk_store_gc_tombstones(fk_store_txn_t *txn, const char *owner, int64_t before_ms)
{
    if (!txn->write) {
        return FK_EINVAL_INPUT;
    }
    s_collect_gc_t gc = {.before_ms = before_ms};
    int rc = fk_store_changes(txn, owner, 0, s_collect_gc, &gc);
    /*  The owner's newest change is never collected, tombstone or not: a
        range sent to a peer then always ends at a record its owner signed,
        and a relay never needs to name an end no signature covers. The
        changes come in version order, so it is the last one collected. */
    if (rc == 0 && gc.count > 0
        && gc.versions[gc.count - 1] == fk_store_owner_version(txn, owner)) {
        free(gc.keys[--gc.count]);
    }
    size_t count = gc.count;
    uint64_t floor = fk_store_gc_floor(txn, owner);
    int removed = s_remove_collected(txn, owner, &gc, rc == 0, &floor);
    if (rc == 0) {
        rc = removed;
    }
    if (rc == 0 && count > 0) {
        /*  The floor remembers the newest delete we forgot: a peer still
            below it may hold records those deletes removed, and must be
            reset rather than sent deltas. */
        char *name = fk_asprintf("floor/%s", owner);
        unsigned char buf[8];
        s_put_be64(buf, floor);
        rc = fk_store_local_set(txn, name, buf, sizeof buf);
        free(name);
    }
    return rc ? rc : (int)count;
}

int
fk_store_drop_owner(fk_store_txn_t *txn, const char *owner)
{
    if (!txn->write || strcmp(owner, txn->store->node) == 0) {
        return FK_EINVAL_INPUT;
    }
    s_collect_gc_t gc = {.all = true};
    int rc = fk_store_changes(txn, owner, 0, s_collect_gc, &gc);
    uint64_t ignored = 0;
    int removed = s_remove_collected(txn, owner, &gc, rc == 0, &ignored);
    if (rc == 0) {
        rc = removed;
    }
    MDB_val key = s_val(owner, strlen(owner));
    int del = mdb_del(txn->txn, txn->store->owners, &key, NULL);
    txn->changed |= FK_STORE_CHANGED_RECORDS;
    if (rc == 0 && del && del != MDB_NOTFOUND) {
        rc = s_mdb_error(del, "drop owner");
    }
    if (rc == 0) {
        char *name = fk_asprintf("sum/%s", owner);
        rc = fk_store_local_del(txn, name);
        free(name);
    }
    return rc;
}

int
fk_store_forget_owner(fk_store_txn_t *txn, const char *owner)
{
    int rc = fk_store_drop_owner(txn, owner);
    if (rc == 0) {
        char *name = fk_asprintf("floor/%s", owner);
        rc = fk_store_local_del(txn, name);
        free(name);
    }
    return rc;
}

/*  Drop every record of every owner but node, inside an open LMDB write
    transaction (the schema upgrade). */
static int
s_drop_foreign(MDB_txn *txn, fk_store_t *self, const char *node)
{
    fk_store_txn_t handle = {.store = self, .txn = txn, .write = true};
    char **owners = NULL;
    size_t count = 0;
    MDB_cursor *cursor;
    int rc = mdb_cursor_open(txn, self->owners, &cursor);
    if (rc) {
        return s_mdb_error(rc, "owners");
    }
    MDB_val mkey;
    MDB_val mval;
    rc = mdb_cursor_get(cursor, &mkey, &mval, MDB_FIRST);
    while (rc == 0) {
        char *owner = s_dup_bytes(mkey.mv_data, mkey.mv_size);
        if (strcmp(owner, node) != 0) {
            owners = fk_realloc(owners, (count + 1) * sizeof *owners);
            owners[count++] = owner;
        } else {
            free(owner);
        }
        rc = mdb_cursor_get(cursor, &mkey, &mval, MDB_NEXT);
    }
    mdb_cursor_close(cursor);
    rc = 0;
    for (size_t i = 0; i < count && rc == 0; i++) {
        rc = fk_store_forget_owner(&handle, owners[i]);
    }
    free(handle.scratch);
    fk_strv_free(owners, count);
    return rc;
}

void
fk_store_set_signer(fk_store_t *self, const fk_sign_key_t *signer)
{
    self->signer = signer;
}

/*  Re-sign one local record in place: same version, same change index
    entry, a signature by the current key. */
static int
s_resign_one(void *arg, const char *key, uint64_t version, const void *record, size_t len)
{
    (void)version;
    fk_store_txn_t *txn = arg;
    fk_record_t rec;
    int rc = fk_record_decode(record, len, &rec);
    if (rc) {
        return rc;
    }
    /*  The payload points into the LMDB page; copy it before the write
        below may move that page. */
    char *payload = rec.payload_len ? s_dup_bytes(rec.payload, rec.payload_len) : NULL;
    rec.payload = payload;
    char *encoded = NULL;
    size_t encoded_len = 0;
    if ((rc = fk_record_sign(&rec, txn->store->node, key, txn->store->signer)) == 0
        && (rc = fk_record_encode(&rec, &encoded, &encoded_len)) == 0) {
        char buf[FK_STORE_MAX_KEY];
        size_t buf_len = s_record_key(buf, key, txn->store->node);
        MDB_val mkey = s_val(buf, buf_len);
        MDB_val mval = s_val(encoded, encoded_len);
        int mrc = mdb_put(txn->txn, txn->store->records, &mkey, &mval, 0);
        rc = mrc ? s_mdb_error(mrc, "re-sign") : 0;
    }
    free(encoded);
    free(payload);
    return rc;
}

int
fk_store_adopt_signer(fk_store_t *self)
{
    if (!self->signer) {
        return FK_EINVAL_INPUT;
    }
    fk_store_txn_t *txn;
    int rc = fk_store_write_begin(self, &txn);
    if (rc) {
        return rc;
    }
    char *known = NULL;
    size_t known_len = 0;
    const uint8_t *current = fk_sign_key_public(self->signer);
    bool same = fk_store_local_get(txn, "sign_public", &known, &known_len) == 0
                && known_len == FK_SIGN_PUBLIC_LEN
                && memcmp(known, current, FK_SIGN_PUBLIC_LEN) == 0;
    free(known);
    if (same) {
        fk_store_txn_end(&txn);
        return 0;
    }
    /*  Collect first, write after: a cursor must not walk what it writes. */
    s_collect_gc_t all = {.all = true};
    rc = fk_store_changes(txn, self->node, 0, s_collect_gc, &all);
    int resigned = 0;
    for (size_t i = 0; i < all.count && rc == 0; i++) {
        char buf[FK_STORE_MAX_KEY];
        size_t buf_len = s_record_key(buf, all.keys[i], self->node);
        MDB_val mkey = s_val(buf, buf_len);
        MDB_val mval;
        if (buf_len && mdb_get(txn->txn, self->records, &mkey, &mval) == 0) {
            rc = s_resign_one(txn, all.keys[i], all.versions[i], mval.mv_data, mval.mv_size);
            resigned += rc == 0;
        }
    }
    uint64_t ignored = 0;
    s_remove_collected(txn, self->node, &all, false, &ignored);
    if (rc == 0) {
        rc = fk_store_local_set(txn, "sign_public", current, FK_SIGN_PUBLIC_LEN);
    }
    if (rc == 0) {
        rc = fk_store_commit(&txn);
    }
    fk_store_txn_end(&txn);
    return rc ? rc : resigned;
}

static int
s_add_to_summary(void *arg, const char *key, uint64_t version, const void *record, size_t len)
{
    uint64_t *sum = arg;
    fk_record_t rec;
    if (fk_record_decode(record, len, &rec) == 0 && !(rec.flags & FK_RECORD_TOMBSTONE)) {
        *sum ^= s_record_hash(key, version);
    }
    return 0;
}

/*  Compute the local node's summary from its records (schema upgrade:
    earlier schemas kept none). */
static int
s_rebuild_summary(MDB_txn *txn, fk_store_t *self)
{
    fk_store_txn_t handle = {.store = self, .txn = txn, .write = true};
    uint64_t sum = 0;
    int rc = fk_store_changes(&handle, self->node, 0, s_add_to_summary, &sum);
    if (rc == 0) {
        char *name = fk_asprintf("sum/%s", self->node);
        fk_store_local_del(&handle, name);
        free(name);
        rc = s_summary_xor(&handle, self->node, sum);
    }
    free(handle.scratch);
    return rc;
}
