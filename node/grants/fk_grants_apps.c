/*  fk_grants_apps - the approved apps, for operators: the list (who
    approved each app, where and when, its last token exchange and its
    last alias report), the revocation that ends an app's refresh chains
    on every node, and the aliases apps reported they cannot reach, per
    service instance.

    An approved app is a client/ record that an approval (either dialect)
    or a redeem token made; public clients (fk_grants_app_create) are the
    operator's own configuration and are managed as such. A revocation is
    the record client-revoked/<client_id> of the node where the operator
    acted: any node may write it, it replicates like every record, and
    fk__grants_client_read reads a revoked client as absent everywhere, so
    no exchange, claim, redeem or bearer check succeeds for it again, even
    for a refresh token that a rotation on its owner made while the
    revocation was on its way. The refresh tokens themselves die as a
    revocation through /lok/o/revoke/ kills them (deleted on their issuer,
    refresh-revoked/ markers elsewhere). Calls down into tokens and
    records only. */

#include "fk_grants_priv.h"

#include "fk_err.h"
#include "fk_json.h"
#include "fk_log.h"
#include "fk_mem.h"

#include <stdlib.h>
#include <string.h>

/*  ---------------------------------------------------------------------
    The list
    --------------------------------------------------------------------- */

typedef struct {
    fk_grants_t *self; /* whose decoders */
    json_t *rows;      /* one object per approved client, filled by the scan */
} s_scan_t;

/*  A client/ entry as a row: the fields its record has. Public clients
    and records that do not decode are left out. */
static int
s_client_row(void *arg, const fk_store_entry_t *entry)
{
    s_scan_t *scan = arg;
    fk__grants_client_t client;
    if (fk__grants_client_decode(scan->self, entry, &client) != 0) {
        return 0;
    }
    if (!client.grant || strcmp(client.grant, "public") != 0) {
        const json_t *manifest = client.rec.manifest;
        json_t *row = fk_json_must(json_pack(
            "{s:s, s:s, s:s, s:s, s:s?, s:s, s:s?, s:s?}", "client_id", client.client_id,
            "identifier", fk_json_str(manifest, "identifier"), "version",
            fk_json_str(manifest, "version"), "dialect", client.v1 ? "v1" : "v2", "grant",
            client.grant, "node", client.rec.owner, "approved_node", client.approved_node,
            "approved_by", client.approved_by));
        json_object_set_new(row, "approved_ms",
                            client.approved_ms ? json_integer(client.approved_ms) : json_null());
        fk_json_append(scan->rows, row);
    }
    fk__grants_rec_clear(&client.rec);
    return 0;
}

/*  The entries of a report that say valid: false, as rows {"key",
    "alias_id","reason","service","instance"} (absent fields null). */
static json_t *
s_failing(json_t *alias_reports)
{
    json_t *failing = json_array();
    const char *key;
    json_t *report;
    json_object_foreach(alias_reports, key, report)
    {
        if (!json_is_false(json_object_get(report, "valid"))) {
            continue;
        }
        json_t *row = json_pack("{s:s}", "key", key);
        static const char *const fields[] = {"alias_id", "reason", "service", "instance"};
        for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
            json_t *value = json_object_get(report, fields[i]);
            json_object_set_new(row, fields[i], value ? json_incref(value) : json_null());
        }
        fk_json_append(failing, row);
    }
    return failing;
}

/*  Add to row (a client's) its last exchange and its last report. */
static void
s_activity(fk_grants_t *self, fk_store_txn_t *txn, json_t *row)
{
    const char *client_id = fk_json_str(row, "client_id");
    int64_t seen = fk__grants_seen_latest(self, txn, client_id);
    json_object_set_new(row, "last_exchange_ms", seen > 0 ? json_integer(seen) : json_null());
    fk__grants_report_t report;
    if (fk__grants_report_latest(self, txn, client_id, &report) == 0) {
        json_object_set_new(row, "last_report_ms", json_integer(report.at_ms));
        json_object_set_new(row, "functional", json_boolean(report.functional));
        json_object_set_new(row, "failing", s_failing(report.alias_reports));
    } else {
        json_object_set_new(row, "last_report_ms", json_null());
        json_object_set_new(row, "functional", json_null());
        json_object_set_new(row, "failing", json_array());
    }
    fk__grants_rec_clear(&report.rec);
}

static int
s_row_cmp(const void *a, const void *b)
{
    const json_t *ra = *(json_t *const *)a;
    const json_t *rb = *(json_t *const *)b;
    static const char *const keys[] = {"identifier", "version"};
    for (size_t i = 0; i < 2; i++) {
        int cmp = strcmp(fk_json_str(ra, keys[i]), fk_json_str(rb, keys[i]));
        if (cmp) {
            return cmp;
        }
    }
    long long ta = fk_json_int(ra, "approved_ms", 0);
    long long tb = fk_json_int(rb, "approved_ms", 0);
    if (ta != tb) {
        return ta < tb ? -1 : 1;
    }
    return strcmp(fk_json_str(ra, "client_id"), fk_json_str(rb, "client_id"));
}

/*  Every approved app in txn that is not revoked, with its activity, in
    the list's order. New reference; empty when the store cannot be
    read. */
static json_t *
s_approved(fk_grants_t *self, fk_store_txn_t *txn)
{
    s_scan_t scan = {.self = self, .rows = json_array()};
    if (fk_store_scan(txn, "client/", s_client_row, &scan) != 0) {
        json_array_clear(scan.rows);
    }
    /*  Reads of other keys wait until the scan is over: a get moves what
        the scan's entries borrow. */
    size_t count = json_array_size(scan.rows);
    json_t **sorted = fk_calloc(count ? count : 1, sizeof *sorted);
    size_t kept = 0;
    for (size_t i = 0; i < count; i++) {
        json_t *row = json_array_get(scan.rows, i);
        if (!fk__grants_client_revoked(txn, fk_json_str(row, "client_id"))) {
            s_activity(self, txn, row);
            sorted[kept++] = json_incref(row);
        }
    }
    qsort(sorted, kept, sizeof *sorted, s_row_cmp);
    json_t *rows = json_array();
    for (size_t i = 0; i < kept; i++) {
        fk_json_append(rows, sorted[i]);
    }
    free(sorted);
    json_decref(scan.rows);
    return rows;
}

json_t *
fk_grants_approved(fk_grants_t *self)
{
    fk_store_txn_t *txn;
    if (fk_store_read_begin(self->store, &txn) != 0) {
        return json_array();
    }
    json_t *rows = s_approved(self, txn);
    fk_store_txn_end(&txn);
    return rows;
}

json_t *
fk_grants_unreachable(fk_grants_t *self)
{
    json_t *apps = fk_grants_approved(self);
    json_t *by_instance = json_object();
    size_t i;
    json_t *app;
    json_array_foreach(apps, i, app)
    {
        size_t j;
        json_t *failing;
        json_array_foreach(json_object_get(app, "failing"), j, failing)
        {
            const char *instance = fk_json_str(failing, "instance");
            if (!instance) {
                continue; /* a key the node could not bind to an instance */
            }
            json_t *list = json_object_get(by_instance, instance);
            if (!list) {
                list = json_array();
                fk_json_set(by_instance, instance, list);
            }
            fk_json_append(
                list, json_pack("{s:O, s:O, s:O, s:O, s:O, s:O, s:O}", "client_id",
                                json_object_get(app, "client_id"), "identifier",
                                json_object_get(app, "identifier"), "version",
                                json_object_get(app, "version"), "key",
                                json_object_get(failing, "key"), "alias_id",
                                json_object_get(failing, "alias_id"), "reason",
                                json_object_get(failing, "reason"), "at_ms",
                                json_object_get(app, "last_report_ms")));
        }
    }
    json_decref(apps);
    return by_instance;
}

/*  ---------------------------------------------------------------------
    Revocation
    --------------------------------------------------------------------- */

typedef struct {
    const char *id;      /* a client id, or an identifier */
    const char *version; /* or NULL: every version */
    json_t *keys;        /* the keys visited (refresh/ and refresh-family/ scans) */
} s_match_t;

/*  Collect the key of every entry: what a scan visits is acted on after
    it (a write through the transaction would move the scan). */
static int
s_key(void *arg, const fk_store_entry_t *entry)
{
    s_match_t *match = arg;
    fk_json_append(match->keys, json_string(entry->key));
    return 0;
}

/*  Whether an approved-app row is one the revocation names. */
static bool
s_names(const s_match_t *match, const json_t *row)
{
    if (strcmp(fk_json_str(row, "client_id"), match->id) == 0) {
        return !match->version || strcmp(fk_json_str(row, "version"), match->version) == 0;
    }
    return strcmp(fk_json_str(row, "identifier"), match->id) == 0
           && (!match->version || strcmp(fk_json_str(row, "version"), match->version) == 0);
}

/*  Kill, in txn, every live refresh token of the clients in ids (an
    object whose keys are client ids), and delete the families this node
    holds of them. *killed_p counts the tokens. */
static int
s_end_chains(fk_grants_t *self, fk_store_txn_t *txn, const json_t *ids, int64_t *killed_p)
{
    s_match_t match = {.keys = json_array()};
    int rc = fk_store_scan(txn, "refresh/", s_key, &match);
    size_t i;
    json_t *key;
    json_array_foreach(match.keys, i, key)
    {
        fk__grants_refresh_t record = {0};
        if (rc == 0 && fk__grants_refresh_read(self, txn, json_string_value(key), &record) == 0
            && json_object_get(ids, record.client_id)) {
            rc = fk__grants_kill_refresh(txn, json_string_value(key), &record);
            *killed_p += rc == 0;
        }
        fk__grants_rec_clear(&record.rec);
    }
    json_array_clear(match.keys);
    rc = rc ? rc : fk_store_scan(txn, "refresh-family/", s_key, &match);
    json_array_foreach(match.keys, i, key)
    {
        const char *family_id = json_string_value(key) + strlen("refresh-family/");
        fk__grants_family_t family = {0};
        if (rc == 0 && fk__grants_family_read(self, txn, family_id, &family) == 0
            && family.rec.local && json_object_get(ids, family.client_id)) {
            rc = fk__grants_delete(txn, json_string_value(key));
        }
        fk__grants_rec_clear(&family.rec);
    }
    json_decref(match.keys);
    return rc;
}

int
fk_grants_revoke_app(fk_grants_t *self, const char *id, const char *version, const char *by,
                     json_t **answer_p, fk_grants_why_t *why)
{
    *answer_p = NULL;
    if (!id || !*id || (version && !*version)) {
        return fk__grants_fail(why, FK_EINVAL_INPUT,
                               "name the app: its identifier (and version) or its client id");
    }
    fk_store_txn_t *txn;
    int rc = fk__grants_write(self, &txn, why);
    if (rc) {
        return rc;
    }
    s_match_t match = {.id = id, .version = version};
    json_t *apps = s_approved(self, txn);
    json_t *revoked = json_array();
    json_t *ids = json_object();
    int64_t now = fk__grants_now(self);
    size_t i;
    json_t *app;
    json_array_foreach(apps, i, app)
    {
        if (rc != 0 || !s_names(&match, app)) {
            continue;
        }
        const char *client_id = fk_json_str(app, "client_id");
        char *key = fk_asprintf("client-revoked/%s", client_id);
        json_t *marker = json_pack("{s:s, s:O, s:O, s:I, s:s}", "client_id", client_id,
                                   "identifier", json_object_get(app, "identifier"), "version",
                                   json_object_get(app, "version"), "revoked_ms", (json_int_t)now,
                                   "by", by ? by : "");
        rc = fk__grants_put(txn, key, marker);
        json_decref(marker);
        free(key);
        fk_json_set(ids, client_id, json_true());
        fk_json_append(revoked, json_pack("{s:s, s:O, s:O}", "client_id", client_id,
                                          "identifier", json_object_get(app, "identifier"),
                                          "version", json_object_get(app, "version")));
    }
    int64_t killed = 0;
    if (rc == 0 && json_array_size(revoked) == 0) {
        rc = fk__grants_fail(why, FK_ENOTFOUND, "no approved app %.200s%s%.100s", id,
                             version ? " " : "", version ? version : "");
    } else if (rc != 0 || (rc = s_end_chains(self, txn, ids, &killed)) != 0) {
        fk__grants_store_fail(why, rc);
    } else if ((rc = fk__grants_commit(&txn, why)) == 0) {
        fk_info("grants: %s revoked %zu app(s) named %.200s; %lld refresh token(s) ended",
                by ? by : "someone", json_array_size(revoked), id, (long long)killed);
        *answer_p = json_pack("{s:O, s:I}", "revoked", revoked, "refresh_tokens",
                              (json_int_t)killed);
    }
    fk_store_txn_end(&txn);
    json_decref(ids);
    json_decref(revoked);
    json_decref(apps);
    return rc;
}
