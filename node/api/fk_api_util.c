/*  fk_api_util - the bottom of the api module: what every HTTP adapter
    uses and none of them owns. Origins, forms, HTTP Basic, rate limits,
    the answer with its view header, the member table, and the one table
    that maps a grants outcome (an FK_E* code) to its HTTP status and
    protocol error. Nothing here calls up into the adapters. */

#include "fk_api_priv.h"

#include "fk_clock.h"
#include "fk_crypto.h"
#include "fk_err.h"
#include "fk_json.h"
#include "fk_log.h"
#include "fk_mem.h"

#include <errno.h>
#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>

#define S_RATE_WINDOW_MS 60000 /* a rate limit counts per minute */
#define S_RATE_PEERS 10000     /* entries the rate table holds at most */

/*  The grants plane's outcomes as the protocols answer them (RFC 6749
    §5.2, RFC 8628 §3.5, fakts-protocol.md §6; docs/API.md for the agent
    API): one row per code, so an error's status and name are decided
    here and nowhere else. Codes not listed are server failures. */
static const struct {
    int code;          /* FK_E* or -errno */
    fk__api_err_t err; /* how it is answered */
} s_errors[] = {
    {FK_EINVAL_INPUT, {400, "invalid_request", "invalid"}},
    {FK_EPENDING, {400, "authorization_pending", "pending"}},
    {FK_ESLOWDOWN, {400, "slow_down", "slow_down"}},
    {FK_EDENIED, {400, "access_denied", "denied"}},
    {FK_EEXPIRED, {400, "expired_token", "expired"}},
    {FK_EGRANT, {400, "invalid_grant", "invalid"}},
    {FK_ECLIENT, {400, "invalid_client", "invalid"}},
    {FK_EWRONG_CLIENT, {400, "unauthorized_client", "invalid"}},
    {FK_ESCOPE, {400, "invalid_scope", "invalid"}},
    {FK_EUNSUPPORTED, {400, "unsupported_grant_type", "invalid"}},
    {FK_EAUTH, {401, "invalid_client", "unauthorized"}},
    {FK_ETOKEN, {401, "invalid_grant", "unauthorized"}},
    {FK_ENOTFOUND, {404, "not_found", "not_found"}},
    {FK_EEXISTS, {409, "conflict", "conflict"}},
    {FK_EUSED, {409, "conflict", "conflict"}},
    {FK_EUNAVAILABLE, {422, "unavailable", "unavailable"}},
    {FK_ETRYAGAIN, {503, "temporarily_unavailable", "unavailable"}},
    /*  A full store: reads go on, writes are refused until space is made
        (or the map grows); a client should retry later, not give up. */
    {-ENOSPC, {503, "temporarily_unavailable", "store_full"}},
};

static const fk__api_err_t s_server_error = {500, "server_error", "server_error"};

const fk__api_err_t *
fk__api_err(int code)
{
    for (size_t i = 0; i < sizeof s_errors / sizeof s_errors[0]; i++) {
        if (s_errors[i].code == code) {
            return &s_errors[i].err;
        }
    }
    return &s_server_error;
}

const fk_origin_t *
fk__api_origin(fk_api_t *self, fk_http_req_t *req)
{
    return fk_origins_select(self->origins, fk_http_header(req, MHD_HTTP_HEADER_HOST));
}

/*  Decode one form component: '+' is a space in forms (the HTML form
    encoding), then libmicrohttpd decodes the %XX escapes. */
static char *
s_form_decode(const char *text, size_t len)
{
    char *out = fk_strndup(text, len);
    for (char *p = out; *p; p++) {
        if (*p == '+') {
            *p = ' ';
        }
    }
    size_t decoded = MHD_http_unescape(out);
    out[decoded] = '\0';
    return out;
}

json_t *
fk__api_form(const char *body, size_t len)
{
    json_t *form = json_object();
    const char *end = body + len;
    const char *p = body;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *stop = amp ? amp : end;
        if (stop > p) {
            const char *eq = memchr(p, '=', (size_t)(stop - p));
            const char *name_end = eq ? eq : stop;
            char *name = s_form_decode(p, (size_t)(name_end - p));
            char *value = eq ? s_form_decode(eq + 1, (size_t)(stop - eq - 1)) : fk_strdup("");
            bool repeated = json_object_get(form, name) != NULL;
            /*  A NUL smuggled in as %00 would make the C strings lie. */
            bool clean = strlen(name) > 0;
            if (!repeated && clean) {
                json_object_set_new(form, name, json_string(value));
            }
            free(name);
            free(value);
            if (repeated || !clean) {
                json_decref(form);
                return NULL;
            }
        }
        p = stop + 1;
    }
    return form;
}

bool
fk__api_basic(const char *header, char **id_p, char **secret_p)
{
    *id_p = NULL;
    *secret_p = NULL;
    const char *encoded = header + strlen("Basic ");
    encoded += strspn(encoded, " ");
    unsigned char *decoded = NULL;
    size_t len = 0;
    if (fk_b64_decode(encoded, strlen(encoded), &decoded, &len) != 0) {
        return false;
    }
    char *colon = memchr(decoded, ':', len);
    bool ok = colon && memchr(decoded, '\0', len) == NULL;
    if (ok) {
        *colon = '\0';
        *id_p = fk_strdup((char *)decoded);
        *secret_p = fk_strdup(colon + 1);
        (*id_p)[MHD_http_unescape(*id_p)] = '\0';
        (*secret_p)[MHD_http_unescape(*secret_p)] = '\0';
    }
    free(decoded);
    return ok;
}

/*  Rate table entries are [window start, count, key, last seen] (ms on
    the monotonic clock). */
static int
s_seen_earlier(const void *a, const void *b)
{
    json_int_t x = json_integer_value(json_array_get(*(json_t *const *)a, 3));
    json_int_t y = json_integer_value(json_array_get(*(json_t *const *)b, 3));
    return (x > y) - (x < y);
}

/*  Make room in the rate table (lock held): drop every window that has
    ended, then, if a flood of addresses still fills it, the entries seen
    least recently, down to nine tenths of the cap. So it runs once per
    tenth of the cap of new addresses at most, and a client that keeps
    knocking keeps its count however many addresses a flood brings (the
    old table forgot everyone at 10,000, login limits included). */

static void
s_rates_trim(fk_api_t *self, int64_t now)
{
    const char *key;
    json_t *entry;
    void *tmp;
    json_object_foreach_safe(self->rates, tmp, key, entry)
    {
        if (now - json_integer_value(json_array_get(entry, 0)) >= S_RATE_WINDOW_MS) {
            json_object_del(self->rates, key);
        }
    }
    size_t size = json_object_size(self->rates);
    size_t keep = S_RATE_PEERS - S_RATE_PEERS / 10;
    if (size <= keep) {
        return;
    }
    /*  Each entry remembers its own key (element 2), so the sorted
        entries say what to delete. */
    json_t **all = fk_calloc(size, sizeof *all);
    size_t n = 0;
    json_object_foreach(self->rates, key, entry)
    {
        all[n++] = json_incref(entry);
    }
    qsort(all, n, sizeof *all, s_seen_earlier);
    for (size_t i = 0; i < n - keep; i++) {
        json_object_del(self->rates, json_string_value(json_array_get(all[i], 2)));
    }
    for (size_t i = 0; i < n; i++) {
        json_decref(all[i]);
    }
    free(all);
}

bool
fk__api_rate_ok(fk_api_t *self, const char *bucket, const char *peer, unsigned limit)
{
    if (limit == 0) {
        return true;
    }
    char *key = fk_asprintf("%s|%s", bucket, peer);
    int64_t now = fk_clock_mono_ms();
    bool ok = true;
    pthread_mutex_lock(&self->lock);
    /*  A fixed one-minute window per (bucket, peer), in a table of at
        most S_RATE_PEERS entries (s_rates_trim). */
    json_t *entry = json_object_get(self->rates, key);
    if (!entry || now - json_integer_value(json_array_get(entry, 0)) >= S_RATE_WINDOW_MS) {
        if (!entry && json_object_size(self->rates) >= S_RATE_PEERS) {
            s_rates_trim(self, now);
        }
        json_object_set_new(self->rates, key,
                            json_pack("[I, i, s, I]", (json_int_t)now, 1, key, (json_int_t)now));
    } else {
        json_int_t count = json_integer_value(json_array_get(entry, 1)) + 1;
        json_array_set_new(entry, 1, json_integer(count));
        json_array_set_new(entry, 3, json_integer(now));
        ok = count <= (json_int_t)limit;
    }
    pthread_mutex_unlock(&self->lock);
    free(key);
    return ok;
}

bool
fk__api_rate_spent(fk_api_t *self, const char *bucket, const char *peer, unsigned limit)
{
    if (limit == 0) {
        return false;
    }
    char *key = fk_asprintf("%s|%s", bucket, peer);
    int64_t now = fk_clock_mono_ms();
    pthread_mutex_lock(&self->lock);
    json_t *entry = json_object_get(self->rates, key);
    bool spent = entry && now - json_integer_value(json_array_get(entry, 0)) < S_RATE_WINDOW_MS
                 && json_integer_value(json_array_get(entry, 1)) >= (json_int_t)limit;
    pthread_mutex_unlock(&self->lock);
    free(key);
    return spent;
}

size_t
fk__api_rate_entries(fk_api_t *self)
{
    pthread_mutex_lock(&self->lock);
    size_t size = json_object_size(self->rates);
    pthread_mutex_unlock(&self->lock);
    return size;
}

void
fk__api_respond(fk_api_t *self, fk_http_req_t *req, unsigned status, json_t *body)
{
    fk_store_txn_t *txn;
    if (fk_store_read_begin(self->store, &txn) == 0) {
        char view[65];
        fk_store_view(txn, view);
        fk_store_txn_end(&txn);
        fk_http_add_header(req, "X-Fakts-View", view);
    }
    /*  Tokens and configuration must never sit in a shared cache
        (RFC 6749 §5.1). */
    fk_http_add_header(req, "Cache-Control", "no-store");
    fk_http_respond_json(req, status, body);
}

static int
s_member_row(void *arg, const char *name, fk_store_member_status_t status, const char *json)
{
    static const char *const names[] = {"alive", "suspect", "failed", "left"};
    json_t *doc = json_loads(json, 0, NULL);
    /*  The cluster actor writes each member's key fingerprint and admitter
        into the member table (secure mode), so listing costs no trust
        lookup. */
    const char *key = fk_json_str(doc, "key");
    const char *by = fk_json_str(doc, "admitted_by");
    json_array_append_new(
        arg, json_pack("{s:s, s:s, s:s, s:I, s:s?, s:s?}", "name", name, "addr",
                       fk_json_str(doc, "addr") ? fk_json_str(doc, "addr") : "", "status",
                       names[status <= FK_STORE_MEMBER_LEFT ? status : 0], "incarnation",
                       (json_int_t)fk_json_int(doc, "incarnation", 0), "key", key, "admitted_by",
                       by));
    json_decref(doc);
    return 0;
}

json_t *
fk__api_members(fk_api_t *self)
{
    fk_store_txn_t *txn;
    if (fk_store_read_begin(self->store, &txn) != 0) {
        return NULL;
    }
    json_t *rows = json_array();
    fk_store_members(txn, s_member_row, rows);
    fk_store_txn_end(&txn);
    return rows;
}

void
fk__api_audit(fk_api_t *self, fk_http_req_t *req, const char *action, const char *subject,
              json_t *detail)
{
    if (!self->audit) {
        json_decref(detail);
        return;
    }
    const char *actor = fk__api_actor(req);
    int rc = fk_audit_append(self->audit, actor ? actor : "unknown", fk_http_peer(req), action,
                             subject, detail);
    if (rc) {
        fk_error("audit: cannot record %s of %.200s: %s", action, subject, fk_strerror(rc));
    }
}

json_t *
fk__api_with_reports(fk_api_t *self, json_t *services)
{
    json_t *unreachable = fk_grants_unreachable(self->grants);
    size_t i;
    json_t *service;
    json_array_foreach(services, i, service)
    {
        /*  Compositions name an instance "<id>@<node>" (fk_compose.h). */
        const char *id = fk_json_str(service, "id");
        const char *node = fk_json_str(service, "node");
        char *name = fk_asprintf("%s@%s", id ? id : "", node ? node : "");
        json_t *list = json_object_get(unreachable, name);
        json_object_set_new(service, "unreachable", list ? json_incref(list) : json_array());
        free(name);
    }
    json_decref(unreachable);
    return services;
}
