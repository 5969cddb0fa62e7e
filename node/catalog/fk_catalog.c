/*  fk_catalog - service instances as node-owned records. */

#include "fk_catalog.h"

#include "fk_clock.h"
#include "fk_err.h"
#include "fk_health.h"
#include "fk_json.h"
#include "fk_log.h"
#include "fk_mem.h"
#include "fk_service.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define S_PREFIX "svc/"

static char *
s_key(const char *service, const char *id)
{
    return fk_asprintf(S_PREFIX "%s/%s", service, id);
}

/*  Parse a stored payload and add the owner as "node". NULL if the
    payload is unreadable (logged: the store holds only what we wrote). */
static json_t *
s_instance(const fk_store_entry_t *entry)
{
    json_error_t error;
    json_t *value = json_loadb(entry->record.payload, entry->record.payload_len, 0, &error);
    if (!json_is_object(value)) {
        fk_error("catalog: unreadable service record %s from %s", entry->key, entry->owner);
        json_decref(value);
        return NULL;
    }
    json_object_set_new(value, "node", json_string(entry->owner));
    return value;
}

/*  The status of a record's owner as this node sees it. An owner missing
    from the member table is this node itself or one not yet heard of:
    both count as live. */
static fk_store_member_status_t
s_owner_status(fk_store_txn_t *txn, const char *owner)
{
    fk_store_member_status_t status = FK_STORE_MEMBER_ALIVE;
    if (fk_store_member_get(txn, owner, &status) != 0) {
        status = FK_STORE_MEMBER_ALIVE;
    }
    return status;
}

static bool
s_owner_live(fk_store_txn_t *txn, const char *owner)
{
    fk_store_member_status_t status = s_owner_status(txn, owner);
    return status == FK_STORE_MEMBER_ALIVE || status == FK_STORE_MEMBER_SUSPECT;
}

typedef struct {
    fk_store_txn_t *txn; /* the transaction scanned */
    const char *owner;   /* only this owner's records, or NULL */
    bool all;            /* include services of failed and departed nodes */
    json_t *out;         /* array collecting instances */
} s_scan_t;

static int
s_collect(void *arg, const fk_store_entry_t *entry)
{
    s_scan_t *scan = arg;
    if (scan->owner && strcmp(entry->owner, scan->owner) != 0) {
        return 0;
    }
    fk_store_member_status_t status = s_owner_status(scan->txn, entry->owner);
    bool live = status == FK_STORE_MEMBER_ALIVE || status == FK_STORE_MEMBER_SUSPECT;
    if (!live && !scan->all) {
        return 0;
    }
    json_t *instance = s_instance(entry);
    if (instance) {
        if (scan->all) {
            static const char *const names[] = {"alive", "suspect", "failed", "left"};
            json_object_set_new(instance, "node_status",
                                json_string(names[status <= FK_STORE_MEMBER_LEFT ? status : 0]));
        }
        json_array_append_new(scan->out, instance);
    }
    return 0;
}

/*  Node-local index "svcid/<id>" -> record key: ids are unique per node
    but record keys lead with the service name, and a scan of the whole
    catalog per registration would grow with the cluster. */
static char *
s_index_name(const char *id)
{
    return fk_asprintf("svcid/%s", id);
}

/*  The key of the local node's service with this id, or NULL. */
static char *
s_find_local(fk_store_txn_t *txn, const char *id)
{
    char *name = s_index_name(id);
    char *key = NULL;
    size_t len = 0;
    if (fk_store_local_get(txn, name, &key, &len) != 0) {
        key = NULL;
    }
    free(name);
    return key;
}

/*  Whether the stored entry holds record (canonical + source) with any
    health: re-registering an unchanged definition keeps the health its
    checks earned instead of starting it critical again. */
static bool
s_same_definition(const fk_store_entry_t *entry, const json_t *record)
{
    json_t *stored = json_loadb(entry->record.payload, entry->record.payload_len, 0, NULL);
    bool same = false;
    if (json_is_object(stored)) {
        json_object_del(stored, "health");
        same = json_equal(stored, record);
    }
    json_decref(stored);
    return same;
}

/*  fk_catalog_register; *changed_p says whether anything was written. */
static int
s_register(fk_store_t *store, const json_t *canonical, const char *source, bool *changed_p)
{
    *changed_p = false;
    const char *id = fk_json_str(canonical, "id");
    const char *service = fk_json_str(canonical, "service");
    if (!id || !service) {
        return FK_EINVAL_INPUT;
    }
    json_t *record = json_deep_copy(canonical);
    json_object_set_new(record, "source", json_string(source));
    /*  A definition with checks starts critical (fk_health.h): it is
        offered once its checks pass, not when it is announced. */
    fk_health_t health;
    if (fk_health_count(canonical) > 0) {
        if (fk_health_init(&health, canonical, fk_clock_wall_ms()) != 0) {
            json_decref(record);
            return FK_EINVAL_INPUT;
        }
        json_t *with = json_deep_copy(record);
        json_object_set_new(with, "health", fk_health_to_json(&health));
        json_decref(record);
        record = with;
    }
    char *payload = fk_json_dump(record);
    json_object_del(record, "health");
    char *key = s_key(service, id);

    fk_store_txn_t *txn;
    int rc = fk_store_write_begin(store, &txn);
    if (rc == 0) {
        char *old = s_find_local(txn, id);
        if (old && strcmp(old, key) != 0) {
            rc = fk_store_delete(txn, old);
        }
        free(old);
        char *index = s_index_name(id);
        if (rc == 0) {
            rc = fk_store_local_set(txn, index, key, strlen(key));
        }
        free(index);
        fk_store_entry_t entry;
        /*  Re-registering an unchanged definition writes nothing, so a
            SIGHUP that changes nothing moves no version and no replica. */
        if (rc == 0 && fk_store_get(txn, key, fk_store_node(store), &entry) == 0
            && s_same_definition(&entry, record)) {
            fk_store_txn_end(&txn);
        } else if (rc == 0 && (rc = fk_store_put(txn, key, payload, strlen(payload))) == 0) {
            rc = fk_store_commit(&txn);
            *changed_p = rc == 0;
        } else {
            fk_store_txn_end(&txn);
        }
    }
    json_decref(record);
    free(key);
    free(payload);
    return rc;
}

int
fk_catalog_register(fk_store_t *store, const json_t *canonical, const char *source)
{
    bool changed;
    return s_register(store, canonical, source, &changed);
}

int
fk_catalog_set_health(fk_store_t *store, const json_t *definition, const json_t *health)
{
    const char *id = fk_json_str(definition, "id");
    if (!id || !json_is_object(health)) {
        return FK_EINVAL_INPUT;
    }
    fk_store_txn_t *txn;
    int rc = fk_store_write_begin(store, &txn);
    if (rc) {
        return rc;
    }
    char *key = s_find_local(txn, id);
    fk_store_entry_t entry;
    json_t *stored = NULL;
    if (key && fk_store_get(txn, key, fk_store_node(store), &entry) == 0) {
        stored = json_loadb(entry.record.payload, entry.record.payload_len, 0, NULL);
    }
    /*  The checks that earned this health must still be the record's: a
        definition registered again meanwhile starts from its own state. */
    if (!json_is_object(stored)
        || !json_equal(json_object_get(stored, "checks"), json_object_get(definition, "checks"))
        || !json_equal(json_object_get(stored, "deregister_critical_after"),
                       json_object_get(definition, "deregister_critical_after"))) {
        rc = FK_ENOTFOUND;
    } else if (!json_equal(json_object_get(stored, "health"), health)) {
        json_object_set(stored, "health", (json_t *)(uintptr_t)health);
        char *payload = fk_json_dump(stored);
        rc = fk_store_put(txn, key, payload, strlen(payload));
        free(payload);
        if (rc == 0) {
            rc = fk_store_commit(&txn);
        }
    }
    fk_store_txn_end(&txn);
    json_decref(stored);
    free(key);
    return rc;
}

/*  One attempt at fk_catalog_deregister. */
static int
s_deregister_once(fk_store_t *store, const char *id)
{
    fk_store_txn_t *txn;
    int rc = fk_store_write_begin(store, &txn);
    if (rc) {
        return rc;
    }
    char *key = s_find_local(txn, id);
    if (!key) {
        fk_store_txn_end(&txn);
        return FK_ENOTFOUND;
    }
    rc = fk_store_delete(txn, key);
    free(key);
    char *index = s_index_name(id);
    if (rc == 0) {
        rc = fk_store_local_del(txn, index);
    }
    free(index);
    if (rc) {
        fk_store_txn_end(&txn);
        return rc;
    }
    return fk_store_commit(&txn);
}

/*  On a full store a delete lives on the reserve and on the pages earlier
    transactions freed, which LMDB hands out again only once no reader
    still sees them: a burst of deletes while readers hold old snapshots
    (a scrape, a sweep, a thread descheduled on a busy host) can find
    neither. The readers end within milliseconds, so the delete tries
    again, with backoff, for up to about 2 s before it reports ENOSPC. */
#define S_DELETE_TRIES 12

int
fk_catalog_deregister(fk_store_t *store, const char *id)
{
    int rc = s_deregister_once(store, id);
    for (int i = 1; rc == -ENOSPC && i < S_DELETE_TRIES; i++) {
        int64_t pause_ms = 5 << (i < 6 ? i : 6); /* 10, 20 ... 320 ms */
        nanosleep(&(struct timespec){.tv_sec = 0, .tv_nsec = pause_ms * 1000000}, NULL);
        rc = s_deregister_once(store, id);
    }
    return rc;
}

json_t *
fk_catalog_list(fk_store_t *store, fk_store_txn_t *txn, bool local_only, bool all)
{
    s_scan_t scan = {.txn = txn,
                     .owner = local_only ? fk_store_node(store) : NULL,
                     .all = all,
                     .out = json_array()};
    fk_store_scan(txn, S_PREFIX, s_collect, &scan);
    return scan.out;
}

json_t *
fk_catalog_get_local(fk_store_t *store, fk_store_txn_t *txn, const char *id)
{
    char *key = s_find_local(txn, id);
    fk_store_entry_t entry;
    json_t *instance = NULL;
    if (key && fk_store_get(txn, key, fk_store_node(store), &entry) == 0) {
        instance = s_instance(&entry);
    }
    free(key);
    return instance;
}

typedef struct {
    fk_store_txn_t *txn; /* the transaction scanned */
    const char *tag;     /* keep instances carrying this tag */
    json_t *out;         /* collected instances */
} s_tag_scan_t;

static int
s_collect_tagged(void *arg, const fk_store_entry_t *entry)
{
    s_tag_scan_t *scan = arg;
    if (!s_owner_live(scan->txn, entry->owner)) {
        return 0;
    }
    json_t *instance = s_instance(entry);
    if (!instance || fk_health_of(instance) == FK_HEALTH_CRITICAL) {
        json_decref(instance);
        return 0;
    }
    size_t i;
    json_t *tag;
    json_array_foreach(json_object_get(instance, "tags"), i, tag)
    {
        if (json_is_string(tag) && strcmp(json_string_value(tag), scan->tag) == 0) {
            json_array_append(scan->out, instance);
            break;
        }
    }
    json_decref(instance);
    return 0;
}

/*  The instance of one service the composition will pick (fk_compose):
    the first passing one scanned, else the first warning one; critical
    ones never. Records sort by (id, owner) within a service, the order in
    which fk_compose breaks ties, so the scan stops at the first passing
    instance, and reads every instance only when none passes. */
typedef struct {
    fk_store_txn_t *txn; /* the transaction scanned */
    json_t *warning;     /* the first warning instance, owned, or NULL */
    json_t *out;         /* where the pick goes */
} s_first_t;

static int
s_collect_first(void *arg, const fk_store_entry_t *entry)
{
    s_first_t *scan = arg;
    /*  Services of failed and departed nodes leave every answer at once. */
    if (!s_owner_live(scan->txn, entry->owner)) {
        return 0;
    }
    json_t *instance = s_instance(entry);
    if (!instance) {
        return 0;
    }
    fk_health_status_t health = fk_health_of(instance);
    if (health == FK_HEALTH_PASSING) {
        json_array_append_new(scan->out, instance);
        json_decref(scan->warning);
        scan->warning = NULL;
        return 1;
    }
    if (health == FK_HEALTH_WARNING && !scan->warning) {
        scan->warning = instance;
    } else {
        json_decref(instance);
    }
    return 0;
}

json_t *
fk_catalog_candidates(fk_store_txn_t *txn, const json_t *manifest)
{
    json_t *out = json_array();
    size_t i;
    json_t *req;
    json_array_foreach(json_object_get(manifest, "requirements"), i, req)
    {
        const char *service = fk_json_str(req, "service");
        if (!service || strchr(service, '/')) {
            continue;
        }
        char *prefix = fk_asprintf(S_PREFIX "%s/", service);
        s_first_t scan = {.txn = txn, .out = out};
        fk_store_scan(txn, prefix, s_collect_first, &scan);
        if (scan.warning) {
            json_array_append_new(out, scan.warning);
        }
        free(prefix);
        if (json_is_true(json_object_get(req, "match_tags"))) {
            s_tag_scan_t tags = {.txn = txn, .tag = service, .out = out};
            fk_store_scan(txn, S_PREFIX, s_collect_tagged, &tags);
        }
    }
    /*  Duplicates (a service both named and tagged) are harmless: the
        composition picks the smallest (id, node) either way. A tag match
        needs every payload, so only bare-string requirements pay for it. */
    return out;
}

static bool
s_definition_file(const char *name)
{
    size_t len = strlen(name);
    static const char *const exts[] = {".yaml", ".yml", ".json"};
    if (name[0] == '.') {
        return false;
    }
    for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++) {
        size_t ext = strlen(exts[i]);
        if (len > ext && strcmp(name + len - ext, exts[i]) == 0) {
            return true;
        }
    }
    return false;
}

/*  Read a definition file: a regular file, or a symlink to one
    (configuration mounts use them). Anything else (a FIFO, a device, a
    socket, a directory) is refused before it is opened for reading, and
    the open itself never blocks (O_NONBLOCK: a FIFO swapped in after the
    stat opens at once and is then refused by fstat), so no file in the
    directory can hang the agent. *err_p gets -errno, FK_ETOOBIG, or
    FK_EINVAL_INPUT for a file that is not regular. */
static char *
s_read_file(const char *path, size_t limit, size_t *len_p, int *err_p)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        *err_p = -errno;
        return NULL;
    }
    if (!S_ISREG(st.st_mode)) {
        *err_p = FK_EINVAL_INPUT;
        return NULL;
    }
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd == -1) {
        *err_p = -errno;
        return NULL;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        *err_p = FK_EINVAL_INPUT;
        return NULL;
    }
    char *text = fk_malloc(limit + 2);
    size_t len = 0;
    int failed = 0;
    while (len <= limit) {
        ssize_t n = read(fd, text + len, limit + 1 - len);
        if (n == -1 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            failed = n == -1 ? -errno : 0;
            break;
        }
        len += (size_t)n;
    }
    close(fd);
    if (failed || len > limit) {
        *err_p = failed ? failed : FK_ETOOBIG;
        free(text);
        return NULL;
    }
    text[len] = '\0';
    *len_p = len;
    return text;
}

typedef struct {
    const char *node; /* the local node */
    json_t *seen;     /* source -> id its file defines now, or true */
    json_t *ids;      /* ids to deregister */
} s_stale_t;

static int
s_find_stale(void *arg, const fk_store_entry_t *entry)
{
    s_stale_t *stale = arg;
    if (strcmp(entry->owner, stale->node) != 0) {
        return 0;
    }
    json_t *instance = s_instance(entry);
    const char *source = fk_json_str(instance, "source");
    const char *id = fk_json_str(instance, "id");
    json_t *now = source ? json_object_get(stale->seen, source) : NULL;
    if (id && source && strncmp(source, "file:", 5) == 0
        && (!now || (json_is_string(now) && strcmp(json_string_value(now), id) != 0))) {
        json_array_append_new(stale->ids, json_string(id));
    }
    json_decref(instance);
    return 0;
}

/*  Record a change the services dir made, as the actor "services-dir"
    (subject: the service id; detail: the file). */
static void
s_audit(fk_audit_t *audit, const char *action, const char *id, const char *path)
{
    if (!audit) {
        return;
    }
    int rc = fk_audit_append(audit, "services-dir", "", action, id,
                             path ? json_pack("{s:s}", "file", path) : NULL);
    if (rc) {
        fk_error("services: cannot record %s of %s in the audit log: %s", action, id,
                 fk_strerror(rc));
    }
}

int
fk_catalog_sync_dir(fk_store_t *store, const char *dir, fk_audit_t *audit)
{
    /*  source -> the id its file defines now, or true when the file failed
        (then whatever it registered before stays). */
    json_t *seen = json_object();
    int failures = 0;
    DIR *handle = opendir(dir);
    if (handle) {
        struct dirent *entry;
        /*  Sort names so the log and the order of writes are stable. */
        json_t *names = json_array();
        while ((entry = readdir(handle)) != NULL) {
            if (s_definition_file(entry->d_name)) {
                json_array_append_new(names, json_string(entry->d_name));
            }
        }
        closedir(handle);
        size_t i;
        json_t *name;
        json_array_foreach(names, i, name)
        {
            char *path = fk_asprintf("%s/%s", dir, json_string_value(name));
            char *source = fk_asprintf("file:%s", path);
            int err = 0;
            size_t len = 0;
            char *text = s_read_file(path, FK_SERVICE_MAX_BYTES, &len, &err);
            json_t *canonical = NULL;
            char reason[256] = "";
            if (text) {
                err = fk_service_load(text, len, &canonical, reason, sizeof reason);
            } else if (err == FK_EINVAL_INPUT) {
                snprintf(reason, sizeof reason,
                         "not a regular file (or a symlink to one); only those are read");
            } else {
                snprintf(reason, sizeof reason, "%s", fk_strerror(err));
            }
            bool changed = false;
            if (err == 0) {
                err = s_register(store, canonical, source, &changed);
                if (err) {
                    snprintf(reason, sizeof reason, "%s", fk_strerror(err));
                }
            }
            /*  Only changes are recorded: a reload that finds the same
                files writes nothing, to the catalog or to the log. */
            if (changed) {
                s_audit(audit, "service.register", fk_json_str(canonical, "id"), path);
            }
            json_object_set_new(seen, source,
                                err ? json_true() : json_string(fk_json_str(canonical, "id")));
            if (err) {
                fk_error("services: %s: %s (file skipped; what it registered before stays)", path,
                         reason);
                failures++;
            } else {
                fk_info("services: %s: registered %s", path, fk_json_str(canonical, "id"));
            }
            json_decref(canonical);
            free(text);
            free(source);
            free(path);
        }
        json_decref(names);
    } else if (errno != ENOENT) {
        fk_warn("services: cannot read directory %s", dir);
    }

    /*  Deregister file-sourced services whose file is gone, or whose file
        now defines another id. Payloads are parsed one at a time: a node
        with many services must not hold them all at start-up. */
    fk_store_txn_t *txn;
    int rc = fk_store_read_begin(store, &txn);
    if (rc) {
        json_decref(seen);
        return rc;
    }
    s_stale_t stale = {.node = fk_store_node(store), .seen = seen, .ids = json_array()};
    fk_store_scan(txn, S_PREFIX, s_find_stale, &stale);
    fk_store_txn_end(&txn);
    size_t i;
    json_t *id;
    json_array_foreach(stale.ids, i, id)
    {
        if (fk_catalog_deregister(store, json_string_value(id)) == 0) {
            fk_info("services: file gone or changed, deregistered %s", json_string_value(id));
            s_audit(audit, "service.deregister", json_string_value(id), NULL);
        }
    }
    json_decref(stale.ids);
    json_decref(seen);
    return failures;
}
