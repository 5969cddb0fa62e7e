/*  fk_grants_v1 - the v1 dialect's state: codes, challenges, client
    tokens, public clients, claims and client_credentials (fakts-protocol.md
    §5), on the typed records of fk_grants_records.c. It calls down into
    the records, the tokens (signing) and redeem, nothing else. */

#include "fk_grants_priv.h"

#include "fk_compose.h"
#include "fk_crypto.h"
#include "fk_err.h"
#include "fk_json.h"
#include "fk_log.h"
#include "fk_manifest.h"
#include "fk_mem.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_TTL_DEFAULT 300
/*  The v1 server leaves the lifetime unbounded (quirk 21); an hour is
    longer than any person takes to approve and bounds a forgotten code. */
#define S_TTL_MAX 3600
/*  authlib's default lifetime for client_credentials tokens (§5.9). */
#define S_CLIENT_CREDENTIALS_TTL 864000
/*  Fresh 8-hex codes drawn before giving up on a collision (2^32 values). */
#define S_CODE_ATTEMPTS 8

int
fk__grants_v1_approve(fk_grants_t *self, fk_store_txn_t *txn, const fk__grants_code_t *code,
                      const json_t *declined, json_t *approval, fk_grants_why_t *why)
{
    char *client_id = fk_random_uuid4();
    char *client_token = fk_random_uuid4();
    json_t *client =
        fk__grants_client_new(client_id, code->rec.manifest, code->manifest_hash, true, code->kind,
                              code->role, declined, fk__grants_now(self), "device_code");
    fk__grants_client_approved(client, fk_json_str(approval, "node"), fk_json_str(approval, "by"),
                               fk_json_int(approval, "at_ms", 0));
    char *client_key = fk_asprintf("client/%s", client_id);
    int rc = fk__grants_v1_credentials(txn, client, client_token, why);
    if (rc == 0 && (rc = fk__grants_put(txn, client_key, client)) != 0) {
        fk__grants_store_fail(why, rc);
    }
    if (rc == 0) {
        /*  challenge/ on any node answers the token from here until the
            code expires and the sweeper deletes this approval. */
        json_object_set_new(approval, "client_id", json_string(client_id));
        json_object_set_new(approval, "client_token", json_string(client_token));
    }
    free(client_key);
    json_decref(client);
    free(client_token);
    free(client_id);
    return rc;
}

/*  An optional string field of request that must be one of allowed
    (NULL-terminated); *out is NULL when absent or null. */
static bool
s_choice(const json_t *request, const char *name, const char *const *allowed, const char **out)
{
    const json_t *value = json_object_get(request, name);
    *out = NULL;
    if (!value || json_is_null(value)) {
        return true;
    }
    for (size_t i = 0; json_is_string(value) && allowed[i]; i++) {
        if (strcmp(json_string_value(value), allowed[i]) == 0) {
            *out = allowed[i];
            return true;
        }
    }
    return false;
}

int
fk_grants_v1_start(fk_grants_t *self, const json_t *manifest, const json_t *request,
                   json_t **answer_p, fk_grants_why_t *why)
{
    *answer_p = NULL;
    json_t *ttl_value = json_object_get(request, "expiration_time_seconds");
    json_int_t ttl = S_TTL_DEFAULT;
    if (ttl_value && !json_is_null(ttl_value)) {
        if (!json_is_integer(ttl_value)) {
            return fk__grants_fail(why, FK_EINVAL_INPUT,
                                   "Malformed request: expiration_time_seconds: must be an "
                                   "integer");
        }
        ttl = json_integer_value(ttl_value);
    }
    ttl = ttl < 1 ? 1 : ttl > S_TTL_MAX ? S_TTL_MAX : ttl;
    static const char *const kinds[] = {"development", "website", "desktop", NULL};
    static const char *const roles[] = {"interface", "agent", NULL};
    const char *kind = NULL;
    const char *role = NULL;
    if (!s_choice(request, "requested_client_kind", kinds, &kind)) {
        return fk__grants_fail(why, FK_EINVAL_INPUT,
                               "Malformed request: requested_client_kind: must be development, "
                               "website or desktop");
    }
    if (!s_choice(request, "requested_client_role", roles, &role)) {
        return fk__grants_fail(why, FK_EINVAL_INPUT,
                               "Malformed request: requested_client_role: must be interface or "
                               "agent");
    }
    char hash[FK_SHA256_HEX_LEN + 1];
    fk_manifest_hash(manifest, hash);
    fk_store_txn_t *txn;
    int rc = fk__grants_write(self, &txn, why);
    if (rc) {
        return rc;
    }
    char *code = NULL;
    char *key = NULL;
    for (int attempt = 0; attempt < S_CODE_ATTEMPTS && !key; attempt++) {
        free(code);
        code = fk_random_hex(8);
        key = fk__grants_hashed_key("code", code);
        char *index = fk__grants_user_code_key(self, txn, code);
        if (fk__grants_exists(txn, key) || index) {
            free(key); /* taken: draw again */
            key = NULL;
        }
        free(index);
    }
    if (!key) {
        rc = fk__grants_fail(why, FK_ETRYAGAIN, "No free code; try again");
        goto done;
    }
    int64_t now = fk__grants_now(self);
    int64_t expires = now + ttl * 1000;
    json_t *record = json_pack("{s:s, s:O, s:s, s:s, s:s, s:s, s:I, s:I}", "user_code", code,
                               "manifest", manifest, "manifest_hash", hash, "dialect", "v1", "kind",
                               kind ? kind : "development", "role", role ? role : "interface",
                               "created_ms", (json_int_t)now, "expires_ms", (json_int_t)expires);
    char *text = fk_json_dump(record); /* once: its size is what the cap counts */
    json_decref(record);
    if ((rc = fk__grants_code_room(self, strlen(text), why)) == 0) {
        if ((rc = fk_store_put(txn, key, text, strlen(text))) != 0
            || (rc = fk__grants_index_put(txn, key, code, NULL, expires)) != 0) {
            fk__grants_store_fail(why, rc);
        } else if ((rc = fk__grants_commit(&txn, why)) == 0) {
            *answer_p = json_pack("{s:s, s:s}", "status", "granted", "code", code);
        }
    }
    free(text);
done:
    fk_store_txn_end(&txn);
    free(key);
    free(code);
    return rc;
}

int
fk__grants_v1_challenge(fk_grants_t *self, const char *code, const fk_origin_t *origin,
                        bool may_forward, json_t **answer_p, fk_grants_why_t *why)
{
    *answer_p = NULL;
    char *key = fk__grants_hashed_key("code", code);
    char *approval_key = fk_asprintf("approval/%s", key + strlen("code/"));
    fk__grants_code_t record = {0};
    fk__grants_approval_t approval = {0};
    fk_store_txn_t *txn = NULL;
    int rc = fk__grants_write(self, &txn, why);
    if (rc) {
        goto done;
    }
    rc = fk__grants_code_read(self, txn, key, &record);
    if (rc == FK_ESTORE) {
        fk__grants_store_fail(why, rc);
        goto done;
    }
    if (rc || !record.v1) {
        rc = fk__grants_fail(why, FK_EINVAL_INPUT, "Challenge does not exist");
        goto done;
    }
    bool expired = record.expires_ms <= fk__grants_now(self);
    int arc = fk__grants_approval_read(self, txn, approval_key, &approval);
    if (arc == FK_ESTORE) {
        rc = fk__grants_store_fail(why, arc);
        goto done;
    }
    bool decided = arc == 0;
    if (!expired && !decided) {
        /*  The v1 server's text, double space and misspelling included. */
        *answer_p = json_pack("{s:s, s:s}", "status", "pending", "message",
                              "User  has not verfied the challenge");
    } else if (!expired && approval.approved && approval.client_token) {
        *answer_p = json_pack("{s:s, s:s}", "status", "granted", "token", approval.client_token);
    } else if (!record.rec.local) {
        /*  Expired or denied: the code goes, and only its owner may
            delete it. Ask it. */
        fk_store_txn_end(&txn);
        json_t *request = json_pack("{s:s, s:s}", "op", "v1_challenge", "code", code);
        rc =
            fk__grants_forward(self, record.rec.owner, request, origin, may_forward, answer_p, why);
        json_decref(request);
    } else if ((rc = fk__grants_delete(txn, key)) != 0
               || (rc = fk__grants_delete(txn, approval_key)) != 0
               || (rc = fk__grants_index_delete(txn, record.user_code, NULL)) != 0) {
        fk__grants_store_fail(why, rc);
    } else if ((rc = fk__grants_commit(&txn, why)) == 0) {
        *answer_p = expired ? json_pack("{s:s, s:s}", "status", "expired", "message",
                                        "The user has not given an answer in enough time")
                            : json_pack("{s:s, s:s}", "status", "denied", "message",
                                        "The user has denied the request");
    }
done:
    fk_store_txn_end(&txn);
    fk__grants_rec_clear(&approval.rec);
    fk__grants_rec_clear(&record.rec);
    free(approval_key);
    free(key);
    return rc;
}

int
fk_grants_v1_challenge(fk_grants_t *self, const char *code, const fk_origin_t *origin,
                       json_t **answer_p, fk_grants_why_t *why)
{
    return fk__grants_v1_challenge(self, code, origin, true, answer_p, why);
}

int
fk_grants_v1_redeem(fk_grants_t *self, const char *redeem_token, const json_t *manifest,
                    const fk_origin_t *origin, json_t **answer_p, fk_grants_why_t *why)
{
    return fk__grants_redeem(self, redeem_token, manifest, origin, true, true, answer_p, why);
}

static int
s_count(void *arg, const fk_store_entry_t *entry)
{
    (void)entry;
    (*(size_t *)arg)++;
    return 0;
}

int
fk_grants_v1_retrieve(fk_grants_t *self, const json_t *manifest, json_t **answer_p,
                      fk_grants_why_t *why)
{
    *answer_p = NULL;
    const char *identifier = fk_json_str(manifest, "identifier");
    const char *version = fk_json_str(manifest, "version");
    fk_store_txn_t *txn;
    int rc = fk_store_read_begin(self->store, &txn);
    if (rc) {
        return fk__grants_store_fail(why, rc);
    }
    char *key = fk_asprintf("app/%s/%s", identifier, version);
    fk__grants_app_t app = {0};
    char *client_key = NULL;
    if (fk__grants_app_read(self, txn, key, &app) != 0) {
        char *prefix = fk_asprintf("app/%s/", identifier);
        size_t releases = 0;
        fk_store_scan(txn, prefix, s_count, &releases);
        free(prefix);
        rc = releases ? fk__grants_fail(why, FK_ENOTFOUND, "Release does not exist %s:%s",
                                        identifier, version)
                      : fk__grants_fail(why, FK_ENOTFOUND, "App does not exist %s", identifier);
    } else if (!fk__grants_exists(txn, (client_key = fk_asprintf("client/%s", app.client_id)))) {
        rc = fk__grants_fail(why, FK_ENOTFOUND,
                             "There is no client for this app that is public. Please use a "
                             "different grant");
    } else {
        *answer_p = json_pack("{s:s, s:s}", "status", "granted", "token", app.client_token);
    }
    fk_store_txn_end(&txn);
    free(client_key);
    fk__grants_rec_clear(&app.rec);
    free(key);
    return rc;
}

/*  The client a v1 client token names and its composed configuration, in
    one read transaction. *found_p tells whether the token names a client;
    *composed_p may still be NULL (no composition). Returns 0 or a store
    error. */
static int
s_client_composed(fk_grants_t *self, const char *client_token, fk__grants_client_t *client,
                  bool *found_p, json_t **composed_p, fk_grants_why_t *why)
{
    *found_p = false;
    *composed_p = NULL;
    fk_store_txn_t *txn;
    int rc = fk_store_read_begin(self->store, &txn);
    if (rc) {
        return fk__grants_store_fail(why, rc);
    }
    char *client_id = fk__grants_ctoken_client(self, txn, client_token);
    if (client_id && fk__grants_client_read(self, txn, client_id, client) == 0) {
        *found_p = true;
        *composed_p = fk__grants_compose(txn, client->rec.manifest, client->declined);
    }
    free(client_id);
    fk_store_txn_end(&txn);
    return 0;
}

int
fk_grants_v1_claim(fk_grants_t *self, const char *client_token, const fk_origin_t *origin,
                   json_t **answer_p, fk_grants_why_t *why)
{
    *answer_p = NULL;
    fk__grants_client_t client = {0};
    bool found;
    json_t *composed;
    int rc = s_client_composed(self, client_token, &client, &found, &composed, why);
    if (rc) {
        return rc;
    }
    if (!found || !composed) {
        fk__grants_rec_clear(&client.rec);
        json_decref(composed);
        return !found ? fk__grants_fail(why, FK_ENOTFOUND, "No Client found for this token")
                      : fk__grants_fail(why, FK_ESTORE, "Error creating configuration");
    }
    const json_t *manifest = client.rec.manifest;
    char *secret = fk_grants_v1_client_secret(client_token);
    char *token_url = fk_asprintf("%s/lok/o/token/", origin->base);
    char *report_url = fk_asprintf("%s/lok/f/report/", origin->base);
    /*  The v1 self alias: ssl always true, path "lok" (quirk 5). */
    json_t *alias = json_pack(
        "{s:s, s:b, s:s, s:o, s:s, s:s}", "id", "self", "ssl", 1, "host", origin->host, "port",
        origin->port ? json_integer(origin->port) : json_null(), "path", "lok", "challenge", "ht");
    json_t *auth = json_pack("{s:n, s:s, s:s, s:s, s:O, s:s, s:s}", "ionscale_auth_key",
                             "client_token", client_token, "client_id", client.client_id,
                             "client_secret", secret, "scopes", json_object_get(manifest, "scopes"),
                             "token_url", token_url, "report_url", report_url);
    json_t *instances = json_object_get(composed, "instances");
    json_t *statuses = json_object_get(composed, "statuses");
    json_t *config = json_pack("{s:{s:s, s:o}, s:o, s:o, s:o}", "self", "deployment_name",
                               self->deployment_name, "alias", alias, "auth", auth, "instances",
                               instances ? json_incref(instances) : json_object(), "statuses",
                               statuses ? json_incref(statuses) : json_object());
    *answer_p =
        fk_json_must(json_pack("{s:s, s:o}", "status", "granted", "config", fk_json_must(config)));
    OPENSSL_cleanse(secret, strlen(secret));
    free(secret);
    free(token_url);
    free(report_url);
    json_decref(composed);
    fk__grants_rec_clear(&client.rec);
    return 0;
}

/*  Whether every entry of alias_reports that names an alias_id names a
    key and an alias id of the composition; malformed entries are
    fk_grants_report's to refuse. */
static bool
s_reports_known(json_t *reports, const json_t *composed)
{
    const char *key;
    json_t *report;
    json_object_foreach(reports, key, report)
    {
        const char *alias_id = fk_json_str(report, "alias_id");
        if (!alias_id) {
            continue;
        }
        json_t *instance = json_object_get(json_object_get(composed, "instances"), key);
        bool found = false;
        size_t i;
        json_t *alias;
        json_array_foreach(json_object_get(instance, "aliases"), i, alias)
        {
            const char *id = fk_json_str(alias, "id");
            found = found || (id && strcmp(id, alias_id) == 0);
        }
        if (!found) {
            return false;
        }
    }
    return true;
}

int
fk_grants_v1_report(fk_grants_t *self, const char *client_token, const json_t *body,
                    json_t **answer_p, fk_grants_why_t *why)
{
    *answer_p = NULL;
    fk__grants_client_t client = {0};
    bool found;
    json_t *composed;
    int rc = s_client_composed(self, client_token, &client, &found, &composed, why);
    if (rc) {
        return rc;
    }
    json_t *reports = json_object_get(body, "alias_reports");
    if (!found) {
        rc = fk__grants_fail(why, FK_ENOTFOUND, "No Client found for this token");
    } else if (!composed || (json_is_object(reports) && !s_reports_known(reports, composed))) {
        rc = fk__grants_fail(why, FK_EINVAL_INPUT, "Error creating configuration");
    } else {
        json_t *claims = json_pack("{s:s}", "client_id", client.client_id);
        rc = fk_grants_report(self, claims, body, why);
        json_decref(claims);
    }
    if (rc == 0) {
        *answer_p = json_pack("{s:s, s:s}", "status", "reported", "message",
                              "Report processed successfully");
    }
    json_decref(composed);
    fk__grants_rec_clear(&client.rec);
    return rc;
}

/*  Whether every space-separated scope of requested is in granted (a JSON
    array of strings); names the first one that is not in missing. */
static bool
s_scopes_subset(const char *requested, const json_t *granted, char *missing, size_t size)
{
    const char *p = requested;
    while (*p) {
        size_t len = strcspn(p, " ");
        if (len > 0) {
            bool found = false;
            size_t i;
            json_t *scope;
            json_array_foreach(granted, i, scope)
            {
                const char *s = json_string_value(scope);
                found = found || (s && strlen(s) == len && strncmp(s, p, len) == 0);
            }
            if (!found) {
                snprintf(missing, size, "%.*s", (int)(len < 128 ? len : 128), p);
                return false;
            }
        }
        p += len;
        p += strspn(p, " ");
    }
    return true;
}

int
fk_grants_client_credentials(fk_grants_t *self, const char *client_id, const char *client_secret,
                             const char *scope, const fk_origin_t *origin, json_t **answer_p,
                             fk_grants_why_t *why)
{
    *answer_p = NULL;
    if (!client_id || !*client_id || !client_secret || !*client_secret) {
        return fk__grants_fail(why, FK_EAUTH,
                               "Client authentication failed: client_id and client_secret are "
                               "required");
    }
    fk_store_txn_t *txn;
    int rc = fk_store_read_begin(self->store, &txn);
    if (rc) {
        return fk__grants_store_fail(why, rc);
    }
    fk__grants_client_t client = {0};
    bool found = fk__grants_client_read(self, txn, client_id, &client) == 0;
    char hash[FK_SHA256_HEX_LEN + 1];
    fk_sha256_hex(client_secret, strlen(client_secret), hash);
    json_t *composed = NULL;
    json_t *granted = NULL;
    char missing[160];
    const json_t *scopes = json_object_get(client.rec.manifest, "scopes");
    if (!found || !client.secret_sha256 || !fk_secret_equal(client.secret_sha256, hash)) {
        rc = fk__grants_fail(why, FK_EAUTH,
                             "Client authentication failed: unknown client or wrong secret");
    } else if (scope && *scope && !s_scopes_subset(scope, scopes, missing, sizeof missing)) {
        rc = fk__grants_fail(why, FK_ESCOPE, "The scope '%s' is not granted to this client",
                             missing);
    } else {
        /*  oauthlib refuses an answer whose scope set differs from the
            request (quirk 12): grant exactly what was asked. */
        granted = scope && *scope ? json_string(scope) : fk__grants_scopes_string(scopes);
        composed = fk__grants_compose(txn, client.rec.manifest, client.declined);
    }
    fk_store_txn_end(&txn);
    if (rc == 0 && !granted) {
        rc = fk__grants_fail(why, FK_EINVAL_INPUT, "The scope is not valid UTF-8");
    }
    if (rc == 0) {
        fk__grants_seen_note(self, client.client_id);
        json_t *aud = composed ? fk_compose_aud(composed) : NULL;
        char *access = fk__grants_sign_access(self, &client, aud, json_string_value(granted),
                                              S_CLIENT_CREDENTIALS_TTL, origin);
        json_decref(aud);
        if (!access) {
            rc = fk__grants_fail(why, FK_ECRYPTO, "Cannot sign the access token");
        } else {
            *answer_p =
                json_pack("{s:s, s:s, s:I, s:O}", "access_token", access, "token_type", "Bearer",
                          "expires_in", (json_int_t)S_CLIENT_CREDENTIALS_TTL, "scope", granted);
            free(access);
        }
    }
    json_decref(granted);
    json_decref(composed);
    fk__grants_rec_clear(&client.rec);
    return rc;
}

int
fk_grants_app_create(fk_grants_t *self, const json_t *manifest, json_t **answer_p,
                     fk_grants_why_t *why)
{
    *answer_p = NULL;
    const char *identifier = fk_json_str(manifest, "identifier");
    const char *version = fk_json_str(manifest, "version");
    char *key = fk_asprintf("app/%s/%s", identifier, version);
    char hash[FK_SHA256_HEX_LEN + 1];
    fk_manifest_hash(manifest, hash);
    char *client_id = fk_random_uuid4();
    char *client_token = fk_random_uuid4();
    char *client_key = fk_asprintf("client/%s", client_id);
    int64_t now = fk__grants_now(self);
    json_t *client = fk__grants_client_new(client_id, manifest, hash, true, "website", "interface",
                                           NULL, now, "public");
    /*  The token of a public client is public by design (§5.5): retrieve/
        hands it to anyone, so it is stored as it is. */
    json_t *app = json_pack("{s:s, s:s, s:s, s:s, s:I}", "identifier", identifier, "version",
                            version, "client_id", client_id, "client_token", client_token,
                            "created_ms", (json_int_t)now);
    fk_store_txn_t *txn;
    fk_store_entry_t entry;
    int rc = fk__grants_write(self, &txn, why);
    if (rc) {
        /* why is filled */
    } else if (fk_store_get(txn, key, NULL, &entry) == 0) {
        rc = fk__grants_fail(why, FK_EEXISTS,
                             "app %.100s %.60s already has a public client (node %.64s)",
                             identifier, version, entry.owner);
    } else if ((rc = fk__grants_v1_credentials(txn, client, client_token, why)) == 0) {
        if ((rc = fk__grants_put(txn, client_key, client)) != 0
            || (rc = fk__grants_put(txn, key, app)) != 0) {
            fk__grants_store_fail(why, rc);
        } else if ((rc = fk__grants_commit(&txn, why)) == 0) {
            *answer_p = json_pack("{s:s, s:s, s:s, s:s, s:s}", "identifier", identifier, "version",
                                  version, "client_id", client_id, "client_token", client_token,
                                  "node", fk_store_node(self->store));
            fk_info("grants: public client %s for %s %s", client_id, identifier, version);
        }
    }
    fk_store_txn_end(&txn);
    json_decref(app);
    json_decref(client);
    free(client_key);
    free(client_token);
    free(client_id);
    free(key);
    return rc;
}

/*  The app/ rows fk_grants_apps lists: the fields app_create writes. */
static bool
s_app_row(const json_t *row)
{
    return fk_json_str(row, "identifier") && fk_json_str(row, "version")
           && fk_json_str(row, "client_id") && fk_json_str(row, "client_token");
}

json_t *
fk_grants_apps(fk_grants_t *self)
{
    return fk__grants_collect(self, "app/", true, s_app_row);
}

int
fk_grants_app_delete(fk_grants_t *self, const char *identifier, const char *version,
                     json_t **answer_p, fk_grants_why_t *why)
{
    *answer_p = NULL;
    char *key = fk_asprintf("app/%s/%s", identifier, version);
    fk__grants_app_t app = {0};
    fk_store_txn_t *txn = NULL;
    int rc = fk__grants_write(self, &txn, why);
    if (rc) {
        goto done;
    }
    rc = fk__grants_app_read(self, txn, key, &app);
    if (rc) {
        rc = rc == FK_ESTORE
                 ? fk__grants_store_fail(why, rc)
                 : fk__grants_fail(why, FK_ENOTFOUND, "no public client for %.100s %.60s",
                                   identifier, version);
        goto done;
    }
    if (!app.rec.local) {
        rc = fk__grants_fail(why, FK_EEXISTS,
                             "node %.64s created this app; delete it there (only a record's "
                             "owner deletes it)",
                             app.rec.owner);
        goto done;
    }
    char *client_key = fk_asprintf("client/%s", app.client_id);
    char *ctoken_key = fk__grants_hashed_key("ctoken", app.client_token);
    if ((rc = fk__grants_delete(txn, key)) != 0 || (rc = fk__grants_delete(txn, client_key)) != 0
        || (rc = fk__grants_delete(txn, ctoken_key)) != 0) {
        fk__grants_store_fail(why, rc);
    } else if ((rc = fk__grants_commit(&txn, why)) == 0) {
        *answer_p =
            json_pack("{s:{s:s, s:s}}", "deleted", "identifier", identifier, "version", version);
    }
    free(ctoken_key);
    free(client_key);
done:
    fk_store_txn_end(&txn);
    fk__grants_rec_clear(&app.rec);
    free(key);
    return rc;
}
