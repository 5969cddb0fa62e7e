/*  fk_e2e - the fakts 6.x (protocol v2) client's side, for e2e tests. */

#include "fk_e2e.h"

#include "fk_mem.h"

#include <criterion/criterion.h>
#include <criterion/logging.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

fk_node_t *
fk_e2e_start_node(void)
{
    fk_node_t *node = fk_harness_start(NULL);
    cr_assert_not_null(node, "the agent did not start (see its log above)");
    return node;
}

void
fk_e2e_teardown(void)
{
    fk_harness_cleanup();
}

char *
fk_e2e_cli_ok(const fk_node_t *node, const char *const *argv)
{
    int status = -1;
    char *out = NULL;
    char *err = NULL;
    int rc = fk_harness_cli(node, argv, &status, &out, &err);
    cr_assert_eq(rc, 0, "could not run the CLI (%d)", rc);
    if (status != 0) {
        fk_harness_dump_log(node, 2048);
    }
    cr_assert_eq(status, 0, "`fakts-node %s ...` exited %d; stderr: %s; stdout: %s", argv[0],
                 status, err, out);
    free(err);
    return out;
}

json_t *
fk_e2e_cli_json(const fk_node_t *node, const char *const *argv)
{
    size_t n = 0;
    while (argv[n]) {
        n++;
    }
    const char **with_json = fk_calloc(n + 2, sizeof *with_json);
    for (size_t i = 0; i < n; i++) {
        with_json[i] = argv[i];
    }
    with_json[n] = "--json";
    char *out = fk_e2e_cli_ok(node, with_json);
    free(with_json);
    json_error_t error;
    json_t *doc = json_loads(out, JSON_DECODE_ANY, &error);
    cr_assert_not_null(doc, "`fakts-node %s --json` printed no JSON document (%s): %s", argv[0],
                       error.text, out);
    free(out);
    return doc;
}

void
fk_e2e_register(const fk_node_t *node, const char *id, const char *service, const char *host,
                int port)
{
    char *yaml = fk_asprintf("id: %s\n"
                             "service: %s\n"
                             "aliases:\n"
                             "  - host: %s\n"
                             "    port: %d\n"
                             "    path: %s\n"
                             "    ssl: false\n"
                             "    challenge: ht\n"
                             "tags: [cuda]\n"
                             "meta: {gpu: \"A100\"}\n",
                             id, service, host, port, id);
    char *name = fk_asprintf("service-%s.yaml", id);
    char *path = fk_harness_write_file(node, name, yaml);
    cr_assert_not_null(path);
    const char *argv[] = {"services", "register", path, NULL};
    free(fk_e2e_cli_ok(node, argv));
    free(path);
    free(name);
    free(yaml);
}

json_t *
fk_e2e_manifest(const char *identifier, const char *version, const fk_e2e_req_t *reqs)
{
    json_t *requirements = json_array();
    for (const fk_e2e_req_t *req = reqs; req && req->key; req++) {
        json_array_append_new(requirements,
                              json_pack("{s:s, s:s, s:b, s:n}", "key", req->key, "service",
                                        req->service, "optional", req->optional, "description"));
    }
    json_t *manifest = json_pack("{s:s, s:s, s:s, s:n, s:n, s:[s], s:s, s:o, s:n, s:[]}",
                                 "identifier", identifier, "version", version, "author", "unknown",
                                 "description", "logo", "scopes", "openid", "entrypoint", "app",
                                 "requirements", requirements, "device_id", "public_sources");
    cr_assert_not_null(manifest);
    return manifest;
}

char *
fk_e2e_manifest_text(const json_t *manifest)
{
    /* jansson without JSON_COMPACT separates with ", " and ": ", as
       Python's json.dumps() does. */
    char *text = json_dumps(manifest, 0);
    cr_assert_not_null(text);
    return text;
}

fk_http_resp_t *
fk_e2e_discovery(const fk_node_t *node)
{
    char *url = fk_harness_url(node, "/.well-known/fakts");
    const char *headers[] = {"Accept: application/json", "User-Agent: Fakts/0.1", NULL};
    fk_http_resp_t *resp = fk_http_send("GET", url, headers, NULL, 0);
    free(url);
    return resp;
}

fk_http_resp_t *
fk_e2e_authorize(const fk_node_t *node, const json_t *manifest, int expiration_time_seconds)
{
    json_t *payload =
        json_pack("{s:O, s:i, s:[], s:s, s:s}", "manifest", manifest, "expiration_time_seconds",
                  expiration_time_seconds, "redirect_uris", "requested_client_kind", "development",
                  "requested_client_role", "interface");
    cr_assert_not_null(payload);
    char *text = json_dumps(payload, JSON_COMPACT);
    json_decref(payload);
    char *url = fk_harness_url(node, "/lok/o/app-authorization/");
    fk_http_resp_t *resp = fk_http_post_json(url, "application/json", NULL, text);
    free(url);
    free(text);
    return resp;
}

fk_http_resp_t *
fk_e2e_token(const fk_node_t *node, const char *const *pairs)
{
    char *url = fk_harness_url(node, "/lok/o/token/");
    fk_http_resp_t *resp = fk_http_post_form(url, NULL, pairs);
    free(url);
    return resp;
}

fk_http_resp_t *
fk_e2e_poll_once(const fk_node_t *node, const char *device_code, const char *client_id)
{
    const char *pairs[] = {
        "grant_type", FK_E2E_GRANT_DEVICE_CODE, "device_code", device_code, "client_id", client_id,
        NULL};
    return fk_e2e_token(node, pairs);
}

fk_http_resp_t *
fk_e2e_poll_device(const fk_node_t *node, const char *device_code, const char *client_id,
                   int interval, int64_t budget_ms)
{
    int64_t deadline = fk_harness_now_ms() + budget_ms;
    interval = interval < 1 ? 1 : interval;
    fk_http_resp_t *resp = NULL;
    while (fk_harness_now_ms() < deadline) {
        /* The client waits the interval before every poll, the first one
           included: this is the protocol's pacing, not synchronisation. */
        fk_harness_wait_until(fk_harness_now_ms() + (int64_t)interval * 1000);
        fk_http_resp_destroy(&resp);
        resp = fk_e2e_poll_once(node, device_code, client_id);
        const char *error = fk_e2e_str(resp->json, "error");
        if (error && strcmp(error, "authorization_pending") == 0) {
            continue;
        }
        if (error && strcmp(error, "slow_down") == 0) {
            interval += 5;
            continue;
        }
        break;
    }
    cr_assert_not_null(resp, "no poll within the budget");
    return resp;
}

char *
fk_e2e_redeem_token(const fk_node_t *node)
{
    const char *argv[] = {"redeem-token", "create", NULL};
    json_t *doc = fk_e2e_cli_json(node, argv);
    const char *token = fk_e2e_str(doc, "token");
    cr_assert(token && *token, "redeem-token create --json gave no token: %s",
              json_dumps(doc, JSON_COMPACT));
    char *copy = fk_strdup(token);
    json_decref(doc);
    return copy;
}

fk_http_resp_t *
fk_e2e_redeem(const fk_node_t *node, const char *redeem_token, const char *manifest_text)
{
    const char *pairs[] = {"grant_type", FK_E2E_GRANT_REDEEM, "redeem_token",          redeem_token,
                           "manifest",   manifest_text,       "requested_client_role", "interface",
                           NULL};
    return fk_e2e_token(node, pairs);
}

fk_http_resp_t *
fk_e2e_refresh(const fk_node_t *node, const char *refresh_token, const char *client_id)
{
    const char *pairs[] = {"grant_type",  FK_E2E_GRANT_REFRESH,           "refresh_token",
                           refresh_token, client_id ? "client_id" : NULL, client_id,
                           NULL};
    return fk_e2e_token(node, pairs);
}

fk_http_resp_t *
fk_e2e_revoke(const fk_node_t *node, const char *token, const char *hint, const char *client_id)
{
    const char *pairs[8] = {"token", token};
    size_t k = 2;
    if (hint) {
        pairs[k++] = "token_type_hint";
        pairs[k++] = hint;
    }
    if (client_id) {
        pairs[k++] = "client_id";
        pairs[k++] = client_id;
    }
    pairs[k] = NULL;
    char *url = fk_harness_url(node, "/lok/o/revoke/");
    fk_http_resp_t *resp = fk_http_post_form(url, NULL, pairs);
    free(url);
    return resp;
}

const char *
fk_e2e_str(const json_t *object, const char *key)
{
    return json_string_value(json_object_get(object, key));
}

void
fk_e2e_assert_oauth_error(const fk_http_resp_t *resp, long status, const char *error)
{
    cr_assert_eq(resp->status, status, "expected HTTP %ld with error %s, got %ld: %s", status,
                 error, resp->status, resp->body);
    cr_assert(json_is_object(resp->json), "the error body is not a JSON object: %s", resp->body);
    const char *got = fk_e2e_str(resp->json, "error");
    cr_assert(got && strcmp(got, error) == 0, "expected error %s, got: %s", error, resp->body);
    json_t *description = json_object_get(resp->json, "error_description");
    cr_assert(!description || json_is_string(description) || json_is_null(description),
              "error_description is not a string: %s", resp->body);
}

void
fk_e2e_assert_view(const fk_http_resp_t *resp)
{
    char *view = fk_http_resp_header(resp, "X-Fakts-View");
    cr_assert_not_null(view, "no X-Fakts-View header in: %s", resp->headers);
    size_t len = strlen(view);
    bool hex = len == 64;
    for (size_t i = 0; hex && i < len; i++) {
        hex = isxdigit((unsigned char)view[i]) != 0;
    }
    cr_assert(hex, "X-Fakts-View is not 64 hex digits: '%s'", view);
    free(view);
}

json_t *
fk_e2e_jwks_kids(const fk_node_t *node)
{
    char *url = fk_harness_url(node, "/lok/o/jwks/");
    fk_http_resp_t *resp = fk_http_get(url, NULL);
    free(url);
    cr_assert_eq(resp->status, 200, "GET /lok/o/jwks/ answered %ld: %s", resp->status, resp->body);
    json_t *keys = json_object_get(resp->json, "keys");
    cr_assert(json_is_array(keys) && json_array_size(keys) > 0, "no keys in the JWKS: %s",
              resp->body);
    json_t *kids = json_array();
    size_t i;
    json_t *key;
    json_array_foreach(keys, i, key)
    {
        const char *kid = fk_e2e_str(key, "kid");
        cr_assert(kid && *kid, "a JWK without kid: %s", resp->body);
        cr_assert_str_eq(fk_e2e_str(key, "kty") ? fk_e2e_str(key, "kty") : "", "RSA",
                         "a JWK that is not RSA: %s", resp->body);
        json_array_append_new(kids, json_string(kid));
    }
    fk_http_resp_destroy(&resp);
    return kids;
}

bool
fk_e2e_array_has(const json_t *array, const char *s)
{
    size_t i;
    json_t *item;
    json_array_foreach(array, i, item)
    {
        if (json_is_string(item) && strcmp(json_string_value(item), s) == 0) {
            return true;
        }
    }
    return false;
}

double
fk_e2e_metric_value(const char *text, const char *series)
{
    size_t len = strlen(series);
    for (const char *line = text; line && *line; line = strchr(line, '\n')) {
        line += *line == '\n';
        if (strncmp(line, series, len) == 0 && line[len] == ' ') {
            return strtod(line + len + 1, NULL);
        }
    }
    return -1;
}

/*  Every alias of the envelope carries id, host and kind (§4, §11.1). */
static void
s_assert_alias(const json_t *alias, const char *where)
{
    cr_assert(json_is_object(alias), "%s: alias is not an object", where);
    cr_assert(json_is_string(json_object_get(alias, "id")), "%s: alias without string id", where);
    cr_assert(json_is_string(json_object_get(alias, "host")), "%s: alias without host", where);
    const char *kind = fk_e2e_str(alias, "kind");
    cr_assert(kind
                  && (strcmp(kind, "absolute") == 0 || strcmp(kind, "mesh") == 0
                      || strcmp(kind, "docker") == 0),
              "%s: alias kind must be absolute, mesh or docker", where);
}

json_t *
fk_e2e_assert_envelope(const fk_node_t *node, const fk_http_resp_t *resp)
{
    cr_assert_eq(resp->status, 200, "token response %ld: %s", resp->status, resp->body);
    json_t *body = resp->json;
    cr_assert(json_is_object(body), "token response is not an object: %s", resp->body);

    const char *access = fk_e2e_str(body, "access_token");
    cr_assert(access && fk_jwt_segments(access) == 3, "access_token is not a JWT: %s", resp->body);
    json_t *header = fk_jwt_part(access, 0);
    cr_assert_not_null(header, "the JWT header does not decode: %s", access);
    cr_assert_str_eq(fk_e2e_str(header, "alg") ? fk_e2e_str(header, "alg") : "", "RS256");
    const char *kid = fk_e2e_str(header, "kid");
    cr_assert(kid && *kid, "the JWT header has no kid");
    json_t *kids = fk_e2e_jwks_kids(node);
    cr_assert(fk_e2e_array_has(kids, kid), "kid %s is not in /lok/o/jwks/", kid);
    json_decref(kids);
    json_decref(header);
    json_t *payload = fk_jwt_part(access, 1);
    cr_assert(json_is_object(payload), "the JWT payload does not decode");
    json_decref(payload);

    const char *refresh = fk_e2e_str(body, "refresh_token");
    cr_assert(refresh && *refresh, "no refresh_token: %s", resp->body);
    cr_assert_str_eq(fk_e2e_str(body, "token_type") ? fk_e2e_str(body, "token_type") : "",
                     "Bearer");
    json_t *expires_in = json_object_get(body, "expires_in");
    cr_assert(json_is_integer(expires_in) && json_integer_value(expires_in) > 0,
              "expires_in is not a positive integer: %s", resp->body);
    const char *client_id = fk_e2e_str(body, "client_id");
    cr_assert(client_id && *client_id, "no client_id: %s", resp->body);

    json_t *self = json_object_get(body, "self");
    cr_assert(json_is_object(self), "no self: %s", resp->body);
    cr_assert(json_is_string(json_object_get(self, "deployment_name")),
              "self.deployment_name missing: %s", resp->body);
    s_assert_alias(json_object_get(self, "alias"), "self.alias");

    json_t *instances = json_object_get(body, "instances");
    json_t *statuses = json_object_get(body, "statuses");
    cr_assert(json_is_object(instances), "instances is not an object: %s", resp->body);
    cr_assert(json_is_object(statuses), "statuses is not an object: %s", resp->body);
    const char *key;
    json_t *instance;
    json_object_foreach(instances, key, instance)
    {
        cr_assert(json_is_string(json_object_get(instance, "service")),
                  "instances.%s.service missing", key);
        cr_assert(json_is_string(json_object_get(instance, "identifier")),
                  "instances.%s.identifier missing", key);
        json_t *aliases = json_object_get(instance, "aliases");
        cr_assert(json_is_array(aliases) && json_array_size(aliases) > 0,
                  "instances.%s has no aliases", key);
        size_t i;
        json_t *alias;
        json_array_foreach(aliases, i, alias)
        {
            s_assert_alias(alias, key);
        }
        const char *status = fk_e2e_str(statuses, key);
        cr_assert(status && strcmp(status, "granted") == 0,
                  "instances.%s is present but its status is not granted", key);
    }
    return body;
}

fk_http_resp_t *
fk_e2e_login_redeem(const fk_node_t *node, const json_t *manifest)
{
    char *token = fk_e2e_redeem_token(node);
    char *text = fk_e2e_manifest_text(manifest);
    fk_http_resp_t *resp = fk_e2e_redeem(node, token, text);
    free(text);
    free(token);
    fk_e2e_assert_envelope(node, resp);
    return resp;
}
