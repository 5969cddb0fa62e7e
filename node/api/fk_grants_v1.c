/*  fk_grants_v1 - the v1 dialect's state: codes, challenges, client
    tokens, public clients, claims and client_credentials (fakts-protocol.md
    §5), on the records and helpers of fk_grants (fk_grants_priv.h). */

#include "fk_grants_priv.h"

#include "fk_clock.h"
#include "fk_compose.h"
#include "fk_crypto.h"
#include "fk_err.h"
#include "fk_json.h"
#include "fk_log.h"
#include "fk_manifest.h"
#include "fk_mem.h"

#include <openssl/crypto.h>
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

#define S_SECRET_LABEL "fakts-node v1 client secret"
#define S_TOKEN_LABEL "fakts-node v1 client token:"

char *
fk_grants_v1_client_secret(const char *client_token)
{
    unsigned char mac[32];
    fk_hmac_sha256(client_token, strlen(client_token), S_SECRET_LABEL, strlen(S_SECRET_LABEL), mac);
    char *secret = fk_b64url_encode(mac, sizeof mac);
    OPENSSL_cleanse(mac, sizeof mac);
    return secret;
}

char *
fk_grants_v1_redeem_client_token(const char *redeem_token, const char *client_id)
{
    char *label = fk_asprintf(S_TOKEN_LABEL "%s", client_id);
    unsigned char mac[32];
    fk_hmac_sha256(redeem_token, strlen(redeem_token), label, strlen(label), mac);
    free(label);
    char *token = fk_uuid4_from_bytes(mac);
    OPENSSL_cleanse(mac, sizeof mac);
    return token;
}

static bool
s_is_v1(const json_t *record)
{
    const char *dialect = fk_json_str(record, "dialect");
    return dialect && strcmp(dialect, "v1") == 0;
}

int
fk__grants_v1_credentials(fk_store_txn_t *txn, json_t *client, const char *client_token,
                          fk_grant_error_t *err)
{
    char *secret = fk_grants_v1_client_secret(client_token);
    char hash[FK_SHA256_HEX_LEN + 1];
    fk_sha256_hex(secret, strlen(secret), hash);
    OPENSSL_cleanse(secret, strlen(secret));
    free(secret);
    json_object_set_new(client, "secret_sha256", json_string(hash));
    char *key = fk__grants_hashed_key("ctoken", client_token);
    json_t *index = json_pack("{s:O}", "client_id", json_object_get(client, "client_id"));
    int rc = fk__grants_put(txn, key, index);
    json_decref(index);
    free(key);
    return rc ? fk__grants_store_fail(err, rc) : 0;
}

int
fk__grants_v1_approve(fk_grants_t *self, fk_store_txn_t *txn, const json_t *code,
                      const json_t *declined, json_t *approval, fk_grant_error_t *err)
{
    (void)self;
    char *client_id = fk_random_uuid4();
    char *client_token = fk_random_uuid4();
    json_t *client =
        json_pack("{s:s, s:O, s:O, s:s, s:O, s:O, s:o, s:I, s:s}", "client_id", client_id,
                  "manifest", json_object_get(code, "manifest"), "manifest_hash",
                  json_object_get(code, "manifest_hash"), "dialect", "v1", "kind",
                  json_object_get(code, "kind"), "role", json_object_get(code, "role"), "declined",
                  declined ? json_deep_copy(declined) : json_array(), "created_ms",
                  (json_int_t)fk_clock_wall_ms(), "grant", "device_code");
    char *client_key = fk_asprintf("client/%s", client_id);
    int rc = fk__grants_v1_credentials(txn, client, client_token, err);
    if (rc == 0 && (rc = fk__grants_put(txn, client_key, client)) != 0) {
        fk__grants_store_fail(err, rc);
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

int
fk_grants_v1_start(fk_grants_t *self, const json_t *manifest, const json_t *request,
                   json_t **answer_p, fk_grant_error_t *err)
{
    *answer_p = NULL;
    json_t *ttl_value = json_object_get(request, "expiration_time_seconds");
    json_int_t ttl = S_TTL_DEFAULT;
    if (ttl_value && !json_is_null(ttl_value)) {
        if (!json_is_integer(ttl_value)) {
            return fk__grants_fail(err, 400, "invalid_request",
                                   "Malformed request: expiration_time_seconds: must be an "
                                   "integer");
        }
        ttl = json_integer_value(ttl_value);
    }
    ttl = ttl < 1 ? 1 : ttl > S_TTL_MAX ? S_TTL_MAX : ttl;
    const char *kind = fk_json_str(request, "requested_client_kind");
    const char *role = fk_json_str(request, "requested_client_role");
    json_t *kind_value = json_object_get(request, "requested_client_kind");
    json_t *role_value = json_object_get(request, "requested_client_role");
    if ((kind_value && !json_is_null(kind_value) && !kind)
        || (kind && strcmp(kind, "development") != 0 && strcmp(kind, "website") != 0
            && strcmp(kind, "desktop") != 0)) {
        return fk__grants_fail(err, 400, "invalid_request",
                               "Malformed request: requested_client_kind: must be development, "
                               "website or desktop");
    }
    if ((role_value && !json_is_null(role_value) && !role)
        || (role && strcmp(role, "interface") != 0 && strcmp(role, "agent") != 0)) {
        return fk__grants_fail(err, 400, "invalid_request",
                               "Malformed request: requested_client_role: must be interface or "
                               "agent");
    }
    char hash[FK_SHA256_HEX_LEN + 1];
    fk_manifest_hash(manifest, hash);
    fk_store_txn_t *txn = fk__grants_write(self, err);
    if (!txn) {
        return FK_ESTORE;
    }
    char *code = NULL;
    char *key = NULL;
    for (int attempt = 0; attempt < S_CODE_ATTEMPTS && !key; attempt++) {
        free(code);
        code = fk_random_hex(8);
        key = fk__grants_hashed_key("code", code);
        fk_store_entry_t entry;
        if (fk_store_get(txn, key, NULL, &entry) == 0) {
            free(key); /* taken: draw again */
            key = NULL;
        }
    }
    int rc = 0;
    if (!key) {
        rc = fk__grants_fail(err, 503, "temporarily_unavailable", "No free code; try again");
        goto done;
    }
    int64_t now = fk_clock_wall_ms();
    json_t *record =
        json_pack("{s:s, s:O, s:s, s:s, s:s, s:s, s:I, s:I}", "user_code", code, "manifest",
                  manifest, "manifest_hash", hash, "dialect", "v1", "kind",
                  kind ? kind : "development", "role", role ? role : "interface", "created_ms",
                  (json_int_t)now, "expires_ms", (json_int_t)(now + ttl * 1000));
    rc = fk__grants_put(txn, key, record);
    json_decref(record);
    if (rc) {
        fk__grants_store_fail(err, rc);
        goto done;
    }
    if ((rc = fk__grants_commit(&txn, err)) == 0) {
        *answer_p = json_pack("{s:s, s:s}", "status", "granted", "code", code);
    }
done:
    fk_store_txn_end(&txn);
    free(key);
    free(code);
    return rc;
}

int
fk__grants_v1_challenge(fk_grants_t *self, const char *code, const fk_origin_t *origin,
                        bool may_forward, json_t **answer_p, fk_grant_error_t *err)
{
    *answer_p = NULL;
    char *key = fk__grants_hashed_key("code", code);
    char *approval_key = fk_asprintf("approval/%s", key + strlen("code/"));
    char *owner = NULL;
    json_t *record = NULL;
    json_t *approval = NULL;
    int rc = 0;
    fk_store_txn_t *txn = fk__grants_write(self, err);
    if (!txn) {
        rc = FK_ESTORE;
        goto done;
    }
    bool local = false;
    record = fk__grants_get_owned(txn, key, fk_store_node(self->store), &local, &owner);
    if (!record || !s_is_v1(record)) {
        rc = fk__grants_fail(err, 400, "invalid_request", "Challenge does not exist");
        goto done;
    }
    bool expired = fk_json_int(record, "expires_ms", 0) <= fk_clock_wall_ms();
    approval = fk__grants_get(txn, approval_key);
    const char *decision = fk_json_str(approval, "decision");
    bool approved = decision && strcmp(decision, "approved") == 0;
    if (!expired && !approval) {
        /*  The v1 server's text, double space and misspelling included. */
        *answer_p = json_pack("{s:s, s:s}", "status", "pending", "message",
                              "User  has not verfied the challenge");
    } else if (!expired && approved && fk_json_str(approval, "client_token")) {
        *answer_p = json_pack("{s:s, s:O}", "status", "granted", "token",
                              json_object_get(approval, "client_token"));
    } else if (!local) {
        /*  Expired or denied: the code goes, and only its owner may
            delete it. Ask it. */
        fk_store_txn_end(&txn);
        json_t *request = json_pack("{s:s, s:s}", "op", "v1_challenge", "code", code);
        rc = fk__grants_forward(self, owner, request, origin, may_forward, answer_p, err);
        json_decref(request);
    } else if ((rc = fk__grants_delete(txn, key)) != 0
               || (rc = fk__grants_delete(txn, approval_key)) != 0) {
        fk__grants_store_fail(err, rc);
    } else if ((rc = fk__grants_commit(&txn, err)) == 0) {
        *answer_p = expired ? json_pack("{s:s, s:s}", "status", "expired", "message",
                                        "The user has not given an answer in enough time")
                            : json_pack("{s:s, s:s}", "status", "denied", "message",
                                        "The user has denied the request");
    }
done:
    fk_store_txn_end(&txn);
    json_decref(approval);
    json_decref(record);
    free(owner);
    free(approval_key);
    free(key);
    return rc;
}

int
fk_grants_v1_challenge(fk_grants_t *self, const char *code, const fk_origin_t *origin,
                       json_t **answer_p, fk_grant_error_t *err)
{
    return fk__grants_v1_challenge(self, code, origin, true, answer_p, err);
}

int
fk_grants_v1_redeem(fk_grants_t *self, const char *redeem_token, const json_t *manifest,
                    const fk_origin_t *origin, json_t **answer_p, fk_grant_error_t *err)
{
    return fk__grants_redeem(self, redeem_token, manifest, origin, true, true, answer_p, err);
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
                      fk_grant_error_t *err)
{
    *answer_p = NULL;
    const char *identifier = fk_json_str(manifest, "identifier");
    const char *version = fk_json_str(manifest, "version");
    fk_store_txn_t *txn;
    int rc = fk_store_read_begin(self->store, &txn);
    if (rc) {
        return fk__grants_store_fail(err, rc);
    }
    char *key = fk_asprintf("app/%s/%s", identifier, version);
    json_t *app = fk__grants_get(txn, key);
    json_t *client = NULL;
    if (!app) {
        char *prefix = fk_asprintf("app/%s/", identifier);
        size_t releases = 0;
        fk_store_scan(txn, prefix, s_count, &releases);
        free(prefix);
        rc = releases ? fk__grants_fail(err, 404, "not_found", "Release does not exist %s:%s",
                                        identifier, version)
                      : fk__grants_fail(err, 404, "not_found", "App does not exist %s", identifier);
    } else {
        char *client_key = fk_asprintf("client/%s", fk_json_str(app, "client_id"));
        client = fk__grants_get(txn, client_key);
        free(client_key);
        if (!client) {
            rc = fk__grants_fail(err, 404, "not_found",
                                 "There is no client for this app that is public. Please use a "
                                 "different grant");
        } else {
            *answer_p = json_pack("{s:s, s:O}", "status", "granted", "token",
                                  json_object_get(app, "client_token"));
        }
    }
    fk_store_txn_end(&txn);
    json_decref(client);
    json_decref(app);
    free(key);
    return rc;
}

/*  The client record of a v1 client token in txn, or NULL. */
static json_t *
s_client_of_token(fk_store_txn_t *txn, const char *client_token)
{
    char *key = fk__grants_hashed_key("ctoken", client_token);
    json_t *index = fk__grants_get(txn, key);
    free(key);
    const char *client_id = fk_json_str(index, "client_id");
    json_t *client = NULL;
    if (client_id) {
        char *client_key = fk_asprintf("client/%s", client_id);
        client = fk__grants_get(txn, client_key);
        free(client_key);
    }
    json_decref(index);
    return client;
}

/*  The client a v1 client token names and its composed configuration, in
    one read transaction. Either may come back NULL (unknown token, or no
    composition); returns 0 or a store error filled into err. */
static int
s_client_composed(fk_grants_t *self, const char *client_token, json_t **client_p,
                  json_t **composed_p, fk_grant_error_t *err)
{
    *client_p = NULL;
    *composed_p = NULL;
    fk_store_txn_t *txn;
    int rc = fk_store_read_begin(self->store, &txn);
    if (rc) {
        return fk__grants_store_fail(err, rc);
    }
    *client_p = s_client_of_token(txn, client_token);
    if (*client_p) {
        *composed_p = fk__grants_compose(txn, json_object_get(*client_p, "manifest"),
                                         json_object_get(*client_p, "declined"));
    }
    fk_store_txn_end(&txn);
    return 0;
}

int
fk_grants_v1_claim(fk_grants_t *self, const char *client_token, const fk_origin_t *origin,
                   json_t **answer_p, fk_grant_error_t *err)
{
    *answer_p = NULL;
    json_t *client, *composed;
    int rc = s_client_composed(self, client_token, &client, &composed, err);
    if (rc) {
        return rc;
    }
    if (!client) {
        return fk__grants_fail(err, 404, "not_found", "No Client found for this token");
    }
    if (!composed) {
        json_decref(client);
        return fk__grants_fail(err, 500, "server_error", "Error creating configuration");
    }
    const json_t *manifest = json_object_get(client, "manifest");
    char *secret = fk_grants_v1_client_secret(client_token);
    char *token_url = fk_asprintf("%s/lok/o/token/", origin->base);
    char *report_url = fk_asprintf("%s/lok/f/report/", origin->base);
    /*  The v1 self alias: ssl always true, path "lok" (quirk 5). */
    json_t *alias = json_pack(
        "{s:s, s:b, s:s, s:o, s:s, s:s}", "id", "self", "ssl", 1, "host", origin->host, "port",
        origin->port ? json_integer(origin->port) : json_null(), "path", "lok", "challenge", "ht");
    json_t *auth = json_pack(
        "{s:n, s:s, s:O, s:s, s:O, s:s, s:s}", "ionscale_auth_key", "client_token", client_token,
        "client_id", json_object_get(client, "client_id"), "client_secret", secret, "scopes",
        json_object_get(manifest, "scopes"), "token_url", token_url, "report_url", report_url);
    json_t *config =
        json_pack("{s:{s:s, s:o}, s:o, s:O, s:O}", "self", "deployment_name", self->deployment_name,
                  "alias", alias, "auth", auth, "instances", json_object_get(composed, "instances"),
                  "statuses", json_object_get(composed, "statuses"));
    *answer_p = json_pack("{s:s, s:o}", "status", "granted", "config", config);
    OPENSSL_cleanse(secret, strlen(secret));
    free(secret);
    free(token_url);
    free(report_url);
    json_decref(composed);
    json_decref(client);
    return 0;
}

/*  Whether every well-formed entry of alias_reports names a key and an
    alias id of the composition; malformed entries are fk_grants_report's
    to refuse. */
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
                    json_t **answer_p, fk_grant_error_t *err)
{
    *answer_p = NULL;
    json_t *client, *composed;
    int rc = s_client_composed(self, client_token, &client, &composed, err);
    if (rc) {
        return rc;
    }
    json_t *reports = json_object_get(body, "alias_reports");
    if (!client) {
        rc = fk__grants_fail(err, 404, "not_found", "No Client found for this token");
    } else if (!composed || (json_is_object(reports) && !s_reports_known(reports, composed))) {
        rc = fk__grants_fail(err, 400, "invalid_request", "Error creating configuration");
    } else {
        json_t *claims = json_pack("{s:O}", "client_id", json_object_get(client, "client_id"));
        rc = fk_grants_report(self, claims, body, err);
        json_decref(claims);
    }
    if (rc == 0) {
        *answer_p = json_pack("{s:s, s:s}", "status", "reported", "message",
                              "Report processed successfully");
    }
    json_decref(composed);
    json_decref(client);
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
                             fk_grant_error_t *err)
{
    *answer_p = NULL;
    if (!client_id || !*client_id || !client_secret || !*client_secret) {
        return fk__grants_fail(err, 401, "invalid_client",
                               "Client authentication failed: client_id and client_secret are "
                               "required");
    }
    fk_store_txn_t *txn;
    int rc = fk_store_read_begin(self->store, &txn);
    if (rc) {
        return fk__grants_store_fail(err, rc);
    }
    char *client_key = fk_asprintf("client/%s", client_id);
    json_t *client = fk__grants_get(txn, client_key);
    free(client_key);
    char hash[FK_SHA256_HEX_LEN + 1];
    fk_sha256_hex(client_secret, strlen(client_secret), hash);
    json_t *composed = NULL;
    json_t *granted = NULL;
    char missing[160];
    const json_t *scopes = json_object_get(json_object_get(client, "manifest"), "scopes");
    if (!client || !fk_secret_equal(fk_json_str(client, "secret_sha256"), hash)) {
        rc = fk__grants_fail(err, 401, "invalid_client",
                             "Client authentication failed: unknown client or wrong secret");
    } else if (scope && *scope && !s_scopes_subset(scope, scopes, missing, sizeof missing)) {
        rc = fk__grants_fail(err, 400, "invalid_scope",
                             "The scope '%s' is not granted to this client", missing);
    } else {
        /*  oauthlib refuses an answer whose scope set differs from the
            request (quirk 12): grant exactly what was asked. */
        granted = scope && *scope ? json_string(scope) : fk__grants_scopes_string(scopes);
        composed = fk__grants_compose(txn, json_object_get(client, "manifest"),
                                      json_object_get(client, "declined"));
    }
    fk_store_txn_end(&txn);
    if (rc == 0) {
        json_t *aud = fk_compose_aud(composed);
        char *access = fk__grants_sign_access(self, client, aud, json_string_value(granted),
                                              S_CLIENT_CREDENTIALS_TTL, origin);
        json_decref(aud);
        if (!access) {
            rc = fk__grants_fail(err, 500, "server_error", "Cannot sign the access token");
        } else {
            *answer_p =
                json_pack("{s:s, s:s, s:I, s:O}", "access_token", access, "token_type", "Bearer",
                          "expires_in", (json_int_t)S_CLIENT_CREDENTIALS_TTL, "scope", granted);
            free(access);
        }
    }
    json_decref(granted);
    json_decref(composed);
    json_decref(client);
    return rc;
}

int
fk_grants_app_create(fk_grants_t *self, const json_t *manifest, json_t **answer_p,
                     fk_grant_error_t *err)
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
    int64_t now = fk_clock_wall_ms();
    json_t *client = json_pack("{s:s, s:O, s:s, s:s, s:s, s:s, s:[], s:I, s:s}", "client_id",
                               client_id, "manifest", manifest, "manifest_hash", hash, "dialect",
                               "v1", "kind", "website", "role", "interface", "declined",
                               "created_ms", (json_int_t)now, "grant", "public");
    /*  The token of a public client is public by design (§5.5): retrieve/
        hands it to anyone, so it is stored as it is. */
    json_t *app = json_pack("{s:s, s:s, s:s, s:s, s:I}", "identifier", identifier, "version",
                            version, "client_id", client_id, "client_token", client_token,
                            "created_ms", (json_int_t)now);
    int rc = 0;
    fk_store_txn_t *txn = fk__grants_write(self, err);
    fk_store_entry_t entry;
    if (!txn) {
        rc = FK_ESTORE;
    } else if (fk_store_get(txn, key, NULL, &entry) == 0) {
        rc = fk__grants_fail(err, 409, "conflict",
                             "app %.100s %.60s already has a public client (node %.64s)",
                             identifier, version, entry.owner);
    } else if ((rc = fk__grants_v1_credentials(txn, client, client_token, err)) == 0) {
        if ((rc = fk__grants_put(txn, client_key, client)) != 0
            || (rc = fk__grants_put(txn, key, app)) != 0) {
            fk__grants_store_fail(err, rc);
        } else if ((rc = fk__grants_commit(&txn, err)) == 0) {
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

json_t *
fk_grants_apps(fk_grants_t *self)
{
    return fk__grants_collect(self, "app/", true);
}

int
fk_grants_app_delete(fk_grants_t *self, const char *identifier, const char *version,
                     json_t **answer_p, fk_grant_error_t *err)
{
    *answer_p = NULL;
    char *key = fk_asprintf("app/%s/%s", identifier, version);
    char *owner = NULL;
    json_t *app = NULL;
    int rc = 0;
    fk_store_txn_t *txn = fk__grants_write(self, err);
    if (!txn) {
        rc = FK_ESTORE;
        goto done;
    }
    bool local = false;
    app = fk__grants_get_owned(txn, key, fk_store_node(self->store), &local, &owner);
    if (!app) {
        rc = fk__grants_fail(err, 404, "not_found", "no public client for %.100s %.60s", identifier,
                             version);
        goto done;
    }
    if (!local) {
        rc = fk__grants_fail(err, 409, "conflict",
                             "node %.64s created this app; delete it there (only a record's "
                             "owner deletes it)",
                             owner);
        goto done;
    }
    char *client_key = fk_asprintf("client/%s", fk_json_str(app, "client_id"));
    char *ctoken_key = fk__grants_hashed_key("ctoken", fk_json_str(app, "client_token"));
    if ((rc = fk__grants_delete(txn, key)) != 0 || (rc = fk__grants_delete(txn, client_key)) != 0
        || (rc = fk__grants_delete(txn, ctoken_key)) != 0) {
        fk__grants_store_fail(err, rc);
    } else if ((rc = fk__grants_commit(&txn, err)) == 0) {
        *answer_p =
            json_pack("{s:{s:s, s:s}}", "deleted", "identifier", identifier, "version", version);
    }
    free(ctoken_key);
    free(client_key);
done:
    fk_store_txn_end(&txn);
    json_decref(app);
    free(owner);
    free(key);
    return rc;
}
