/*  e2e: bad input is refused with the documented status and error shape,
    and loses nothing already stored (fakts-protocol.md §6.1-§6.3; docs/API.md
    errors, body limit and agent API authentication). */

#include "fk_e2e.h"

#include "fk_mem.h"

#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>

/*  docs/API.md: every request body is limited to 64 KiB by default. */
#define S_MAX_BODY 65536

static fk_node_t *s_node;
static char *s_client_id; /* client of the token issued in setup */
static char *s_refresh;   /* its current refresh token */

static const fk_e2e_req_t s_reqs[] = {
    {"rekuest", "live.arkitekt.rekuest", false},
    {NULL, NULL, false},
};

static void
s_setup(void)
{
    s_node = fk_e2e_start_node();
    fk_e2e_register(s_node, "rekuest-1", "live.arkitekt.rekuest", "10.0.0.5", 8090);
    json_t *manifest = fk_e2e_manifest("org.example.bad-input", "1.0.0", s_reqs);
    fk_http_resp_t *login = fk_e2e_login_redeem(s_node, manifest);
    s_client_id = fk_strdup(fk_e2e_str(login->json, "client_id"));
    s_refresh = fk_strdup(fk_e2e_str(login->json, "refresh_token"));
    fk_http_resp_destroy(&login);
    json_decref(manifest);
}

static void
s_teardown(void)
{
    free(s_client_id);
    s_client_id = NULL;
    free(s_refresh);
    s_refresh = NULL;
    fk_e2e_teardown();
}

TestSuite(e2e_bad_input, .init = s_setup, .fini = s_teardown, .timeout = 180);

/*  After the bad request: the service registered in setup is still listed,
    and the token issued in setup still refreshes (rotating it). */
static void
s_assert_nothing_lost(void)
{
    fk_http_resp_t *resp = fk_harness_admin(s_node, "GET", "/v1/services", NULL);
    cr_assert_eq(resp->status, 200, "GET /v1/services answered %ld: %s", resp->status, resp->body);
    bool found = false;
    size_t i;
    json_t *service;
    json_array_foreach(resp->json, i, service)
    {
        const char *id = fk_e2e_str(service, "id");
        found = found || (id && strcmp(id, "rekuest-1") == 0);
    }
    cr_assert(found, "rekuest-1 is gone: %s", resp->body);
    fk_http_resp_destroy(&resp);

    resp = fk_e2e_refresh(s_node, s_refresh, s_client_id);
    json_t *env = fk_e2e_assert_envelope(s_node, resp);
    cr_assert(json_is_object(json_object_get(json_object_get(env, "instances"), "rekuest")),
              "the refreshed envelope lost instances.rekuest: %s", resp->body);
    free(s_refresh);
    s_refresh = fk_strdup(fk_e2e_str(env, "refresh_token"));
    fk_http_resp_destroy(&resp);
}

/*  POST a raw body to app-authorization. */
static fk_http_resp_t *
s_authorize_raw(const char *content_type, const char *body, size_t len)
{
    char *url = fk_harness_url(s_node, "/lok/o/app-authorization/");
    char *ctype = content_type ? fk_asprintf("Content-Type: %s", content_type) : NULL;
    const char *headers[] = {"Accept: application/json", ctype ? ctype : "Content-Type:", NULL};
    fk_http_resp_t *resp = fk_http_send("POST", url, headers, body, len);
    free(ctype);
    free(url);
    return resp;
}

/*  §6.1 (newest server): a bad body is HTTP 400 with status "error",
    error "invalid_request" and an error_description. */
static void
s_assert_authorization_refused(const fk_http_resp_t *resp)
{
    fk_e2e_assert_oauth_error(resp, 400, "invalid_request");
    cr_assert_str_eq(fk_e2e_str(resp->json, "status") ? fk_e2e_str(resp->json, "status") : "",
                     "error", "app-authorization errors carry status error: %s", resp->body);
    cr_assert(json_is_string(json_object_get(resp->json, "error_description")),
              "no error_description: %s", resp->body);
    fk_e2e_assert_view(resp);
}

/*  A 6.x app-authorization payload around manifest_text (spliced as is). */
static char *
s_payload(const char *manifest_text)
{
    return fk_asprintf("{\"manifest\": %s, \"expiration_time_seconds\": 300, "
                       "\"redirect_uris\": [], \"requested_client_kind\": \"development\", "
                       "\"requested_client_role\": \"interface\"}",
                       manifest_text);
}

Test(e2e_bad_input, malformed_json_is_invalid_request)
{
    const char *bodies[] = {
        "{\"manifest\": {\"identifier\": ", "not json at all", "", "[]", "null", NULL};
    for (const char **it = bodies; *it; it++) {
        fk_http_resp_t *resp = s_authorize_raw("application/json", *it, strlen(*it));
        s_assert_authorization_refused(resp);
        fk_http_resp_destroy(&resp);
    }
    s_assert_nothing_lost();
}

Test(e2e_bad_input, json_without_content_type_is_accepted)
{
    /* docs/API.md and quirk 2 (§10): JSON is parsed whatever the
       Content-Type, including none at all. */
    json_t *manifest = fk_e2e_manifest("org.example.no-ctype", "1.0.0", s_reqs);
    char *manifest_text = json_dumps(manifest, JSON_COMPACT);
    char *body = s_payload(manifest_text);
    const char *types[] = {NULL, "text/plain;charset=UTF-8", "application/x-www-form-urlencoded"};
    for (size_t i = 0; i < sizeof types / sizeof *types; i++) {
        fk_http_resp_t *resp = s_authorize_raw(types[i], body, strlen(body));
        cr_assert_eq(resp->status, 200, "Content-Type %s: %ld %s", types[i] ? types[i] : "(none)",
                     resp->status, resp->body);
        cr_assert(fk_e2e_str(resp->json, "device_code"), "no device_code: %s", resp->body);
        fk_http_resp_destroy(&resp);
    }
    free(body);
    free(manifest_text);
    json_decref(manifest);
    s_assert_nothing_lost();
}

Test(e2e_bad_input, wrong_types_in_the_manifest_are_invalid_request)
{
    const char *manifests[] = {
        "{\"identifier\": 5, \"version\": \"1.0\"}",
        "{\"identifier\": \"a\", \"version\": [1]}",
        "{\"identifier\": \"a\", \"version\": \"1.0\", \"requirements\": \"rekuest\"}",
        "{\"identifier\": \"a\", \"version\": \"1.0\", \"requirements\": [{\"key\": 1, "
        "\"service\": \"live.arkitekt.rekuest\"}]}",
        "{\"identifier\": \"a\", \"version\": \"1.0\", \"requirements\": [{\"key\": \"r\", "
        "\"service\": \"live.arkitekt.rekuest\", \"optional\": \"no\"}]}",
        "{\"identifier\": \"a\", \"version\": \"1.0\", \"scopes\": \"openid\"}",
        "{\"version\": \"1.0\"}",
        "\"{\\\"identifier\\\": \\\"a\\\", \\\"version\\\": \\\"1.0\\\"}\"",
        "[]",
        NULL,
    };
    for (const char **it = manifests; *it; it++) {
        char *body = s_payload(*it);
        fk_http_resp_t *resp = s_authorize_raw("application/json", body, strlen(body));
        cr_assert_eq(resp->status, 400, "manifest %s answered %ld: %s", *it, resp->status,
                     resp->body);
        s_assert_authorization_refused(resp);
        fk_http_resp_destroy(&resp);
        free(body);
    }
    /* expiration_time_seconds must be an integer too. */
    json_t *manifest = fk_e2e_manifest("org.example.types", "1.0.0", NULL);
    char *manifest_text = json_dumps(manifest, JSON_COMPACT);
    char *body =
        fk_asprintf("{\"manifest\": %s, \"expiration_time_seconds\": \"soon\"}", manifest_text);
    fk_http_resp_t *resp = s_authorize_raw("application/json", body, strlen(body));
    s_assert_authorization_refused(resp);
    fk_http_resp_destroy(&resp);
    free(body);
    free(manifest_text);
    json_decref(manifest);
    s_assert_nothing_lost();
}

Test(e2e_bad_input, missing_manifest_is_invalid_request)
{
    const char *bodies[] = {"{}", "{\"expiration_time_seconds\": 300}", "{\"manifest\": null}",
                            NULL};
    for (const char **it = bodies; *it; it++) {
        fk_http_resp_t *resp = s_authorize_raw("application/json", *it, strlen(*it));
        s_assert_authorization_refused(resp);
        fk_http_resp_destroy(&resp);
    }
    s_assert_nothing_lost();
}

/*  A valid app-authorization body padded with JSON whitespace to len. */
static char *
s_padded_payload(size_t len)
{
    json_t *manifest = fk_e2e_manifest("org.example.big", "1.0.0", NULL);
    char *manifest_text = json_dumps(manifest, JSON_COMPACT);
    char *payload = s_payload(manifest_text);
    size_t used = strlen(payload);
    cr_assert(used < len);
    char *body = fk_malloc(len + 1);
    memcpy(body, payload, used);
    memset(body + used, ' ', len - used);
    body[len] = '\0';
    free(payload);
    free(manifest_text);
    json_decref(manifest);
    return body;
}

Test(e2e_bad_input, bodies_over_64_KiB_are_413)
{
    /* Exactly at the limit is still a body. */
    char *body = s_padded_payload(S_MAX_BODY);
    fk_http_resp_t *resp = s_authorize_raw("application/json", body, S_MAX_BODY);
    cr_assert_eq(resp->status, 200, "a %d-byte body answered %ld: %s", S_MAX_BODY, resp->status,
                 resp->body);
    fk_http_resp_destroy(&resp);
    free(body);

    /* One byte more, and a lot more, on each endpoint that takes a body. */
    const size_t sizes[] = {S_MAX_BODY + 1, 4 * S_MAX_BODY};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        body = s_padded_payload(sizes[i]);
        resp = s_authorize_raw("application/json", body, sizes[i]);
        cr_assert_eq(resp->status, 413, "app-authorization with %zu bytes answered %ld: %s",
                     sizes[i], resp->status, resp->body);
        cr_assert(fk_e2e_str(resp->json, "error"), "413 without an error code: %s", resp->body);
        fk_http_resp_destroy(&resp);

        char *url = fk_harness_url(s_node, "/lok/o/token/");
        const char *headers[] = {"Accept: application/json",
                                 "Content-Type: application/x-www-form-urlencoded", NULL};
        memcpy(body, "grant_type=refresh_token&x=", 27);
        resp = fk_http_send("POST", url, headers, body, sizes[i]);
        cr_assert_eq(resp->status, 413, "token endpoint with %zu bytes answered %ld: %s", sizes[i],
                     resp->status, resp->body);
        cr_assert(fk_e2e_str(resp->json, "error"), "413 without an error code: %s", resp->body);
        fk_http_resp_destroy(&resp);
        free(url);

        body[0] = '{';
        resp = fk_harness_admin(s_node, "PUT", "/v1/services", body);
        cr_assert_eq(resp->status, 413, "PUT /v1/services with %zu bytes answered %ld: %s",
                     sizes[i], resp->status, resp->body);
        cr_assert_str_eq(fk_e2e_str(resp->json, "error") ? fk_e2e_str(resp->json, "error") : "",
                         "too_large", "agent API 413 body: %s", resp->body);
        fk_http_resp_destroy(&resp);
        free(body);
    }
    s_assert_nothing_lost();
}

Test(e2e_bad_input, unknown_grant_type_is_unsupported_grant_type)
{
    const char *pairs[] = {"grant_type", "password", "username", "a", "password", "b", NULL};
    fk_http_resp_t *resp = fk_e2e_token(s_node, pairs);
    fk_e2e_assert_oauth_error(resp, 400, "unsupported_grant_type");
    fk_e2e_assert_view(resp);
    fk_http_resp_destroy(&resp);
    const char *pairs2[] = {"grant_type", "urn:fakts:grant-type:nonsense", NULL};
    resp = fk_e2e_token(s_node, pairs2);
    fk_e2e_assert_oauth_error(resp, 400, "unsupported_grant_type");
    fk_http_resp_destroy(&resp);
    s_assert_nothing_lost();
}

/*  A fresh pending code: its client_id and device_code (caller frees). */
static void
s_pending_code(char **client_id, char **device_code)
{
    json_t *manifest = fk_e2e_manifest("org.example.codes", "1.0.0", NULL);
    fk_http_resp_t *auth = fk_e2e_authorize(s_node, manifest, 300);
    cr_assert_eq(auth->status, 200, "app-authorization answered %ld: %s", auth->status, auth->body);
    *client_id = fk_strdup(fk_e2e_str(auth->json, "client_id"));
    *device_code = fk_strdup(fk_e2e_str(auth->json, "device_code"));
    fk_http_resp_destroy(&auth);
    json_decref(manifest);
}

/*  §6.2 lists the server's checks in order; each test below trips one. */

Test(e2e_bad_input, missing_device_code_is_invalid_request)
{
    char *client_id, *device_code;
    s_pending_code(&client_id, &device_code);
    const char *missing[] = {"grant_type", FK_E2E_GRANT_DEVICE_CODE, "client_id", client_id, NULL};
    fk_http_resp_t *resp = fk_e2e_token(s_node, missing);
    fk_e2e_assert_oauth_error(resp, 400, "invalid_request");
    fk_http_resp_destroy(&resp);
    free(device_code);
    free(client_id);
    s_assert_nothing_lost();
}

Test(e2e_bad_input, unknown_client_is_invalid_client)
{
    /* "client unknown" is checked before the code is looked at, so a valid
       code with an unknown client_id is invalid_client, not
       unauthorized_client (which is for a code of another known client). */
    char *client_id, *device_code;
    s_pending_code(&client_id, &device_code);
    fk_http_resp_t *resp = fk_e2e_poll_once(s_node, device_code, "no-such-client");
    fk_e2e_assert_oauth_error(resp, 400, "invalid_client");
    fk_http_resp_destroy(&resp);
    free(device_code);
    free(client_id);
    s_assert_nothing_lost();
}

Test(e2e_bad_input, code_of_another_client_is_unauthorized_client)
{
    char *client_a, *code_a, *client_b, *code_b;
    s_pending_code(&client_a, &code_a);
    s_pending_code(&client_b, &code_b);
    fk_http_resp_t *resp = fk_e2e_poll_once(s_node, code_a, client_b);
    fk_e2e_assert_oauth_error(resp, 400, "unauthorized_client");
    fk_http_resp_destroy(&resp);
    free(code_b);
    free(client_b);
    free(code_a);
    free(client_a);
    s_assert_nothing_lost();
}

Test(e2e_bad_input, unknown_device_code_is_invalid_request)
{
    char *client_id, *device_code;
    s_pending_code(&client_id, &device_code);
    fk_http_resp_t *resp = fk_e2e_poll_once(s_node, "no-such-device-code", client_id);
    fk_e2e_assert_oauth_error(resp, 400, "invalid_request");
    fk_e2e_assert_view(resp);
    fk_http_resp_destroy(&resp);
    free(device_code);
    free(client_id);
    s_assert_nothing_lost();
}

Test(e2e_bad_input, expired_code_is_expired_token)
{
    json_t *manifest = fk_e2e_manifest("org.example.expiring", "1.0.0", NULL);
    fk_http_resp_t *auth = fk_e2e_authorize(s_node, manifest, 1);
    cr_assert_eq(auth->status, 200, "app-authorization answered %ld: %s", auth->status, auth->body);
    int64_t issued = fk_harness_now_ms();
    cr_assert_eq(json_integer_value(json_object_get(auth->json, "expires_in")), 1);
    const char *client_id = fk_e2e_str(auth->json, "client_id");
    const char *device_code = fk_e2e_str(auth->json, "device_code");

    /* Poll (1 s apart) until the answer is no longer "keep waiting", with
       a deadline well past the one-second lifetime. */
    int64_t deadline = issued + 15000;
    fk_http_resp_t *resp = NULL;
    for (;;) {
        fk_harness_wait_until(fk_harness_now_ms() + 1100);
        fk_http_resp_destroy(&resp);
        resp = fk_e2e_poll_once(s_node, device_code, client_id);
        const char *error = fk_e2e_str(resp->json, "error");
        bool waiting =
            error
            && (strcmp(error, "authorization_pending") == 0 || strcmp(error, "slow_down") == 0);
        if (!waiting || fk_harness_now_ms() >= deadline) {
            break;
        }
    }
    fk_e2e_assert_oauth_error(resp, 400, "expired_token");
    fk_http_resp_destroy(&resp);
    fk_http_resp_destroy(&auth);
    json_decref(manifest);
    s_assert_nothing_lost();
}

Test(e2e_bad_input, agent_api_needs_the_admin_token)
{
    const char *paths[] = {"/v1/agent/info", "/v1/services", "/v1/codes", NULL};
    for (const char **it = paths; *it; it++) {
        char *url = fk_harness_url(s_node, *it);
        fk_http_resp_t *resp = fk_http_get(url, NULL);
        cr_assert_eq(resp->status, 401, "GET %s without token answered %ld", *it, resp->status);
        cr_assert_str_eq(fk_e2e_str(resp->json, "error") ? fk_e2e_str(resp->json, "error") : "",
                         "unauthorized", "GET %s: %s", *it, resp->body);
        cr_assert(json_is_string(json_object_get(resp->json, "message")), "no message: %s",
                  resp->body);
        fk_e2e_assert_view(resp);
        fk_http_resp_destroy(&resp);
        resp = fk_http_get(url, "wrong-admin-token");
        cr_assert_eq(resp->status, 401, "GET %s with a wrong token answered %ld", *it,
                     resp->status);
        fk_http_resp_destroy(&resp);
        free(url);
    }
    /* Writes are refused too, and store nothing. */
    char *url = fk_harness_url(s_node, "/v1/services");
    const char *definition = "{\"id\":\"intruder\",\"service\":\"live.arkitekt.rekuest\","
                             "\"aliases\":[{\"host\":\"6.6.6.6\",\"port\":1}]}";
    const char *headers[] = {"Accept: application/json", "Content-Type: application/json", NULL};
    fk_http_resp_t *resp = fk_http_send("PUT", url, headers, definition, strlen(definition));
    cr_assert_eq(resp->status, 401, "PUT without token answered %ld", resp->status);
    fk_http_resp_destroy(&resp);
    free(url);
    resp = fk_harness_admin(s_node, "GET", "/v1/services", NULL);
    cr_assert_null(strstr(resp->body, "intruder"), "an unauthenticated PUT was stored");
    fk_http_resp_destroy(&resp);

    /* The alternative header of docs/API.md. */
    url = fk_harness_url(s_node, "/v1/agent/info");
    char *token = fk_asprintf("X-Fakts-Token: %s", fk_harness_admin_token(s_node));
    const char *alt[] = {"Accept: application/json", token, NULL};
    resp = fk_http_send("GET", url, alt, NULL, 0);
    cr_assert_eq(resp->status, 200, "X-Fakts-Token answered %ld: %s", resp->status, resp->body);
    fk_http_resp_destroy(&resp);
    free(token);
    free(url);
    s_assert_nothing_lost();
}

Test(e2e_bad_input, invalid_service_definitions_are_refused)
{
    const char *bodies[] = {
        "{\"id\": \"x\"}",
        "{\"id\": \"x\", \"service\": 5, \"aliases\": []}",
        "{\"id\": \"x\", \"service\": \"live.arkitekt.rekuest\", \"aliases\": [{\"port\": "
        "\"eighty\"}]}",
        "{not json",
        NULL,
    };
    for (const char **it = bodies; *it; it++) {
        fk_http_resp_t *resp = fk_harness_admin(s_node, "PUT", "/v1/services", *it);
        cr_assert_eq(resp->status, 400, "PUT %s answered %ld: %s", *it, resp->status, resp->body);
        cr_assert_str_eq(fk_e2e_str(resp->json, "error") ? fk_e2e_str(resp->json, "error") : "",
                         "invalid", "PUT %s: %s", *it, resp->body);
        cr_assert(json_is_string(json_object_get(resp->json, "message")), "no message: %s",
                  resp->body);
        fk_http_resp_destroy(&resp);
    }

    /* docs/CLI.md: 1 when the agent refused (one line on stderr), 66 for
       an unreadable FILE. */
    char *path = fk_harness_write_file(s_node, "broken.yaml", "id: broken\nservice: [\n");
    const char *argv[] = {"services", "register", path, NULL};
    int status = 0;
    char *err = NULL;
    cr_assert_eq(fk_harness_cli(s_node, argv, &status, NULL, &err), 0);
    cr_assert_neq(status, 0, "registering a broken file succeeded");
    cr_assert(*err, "no reason on stderr");
    free(err);
    free(path);
    const char *missing[] = {"services", "register", "/nonexistent/service.yaml", NULL};
    cr_assert_eq(fk_harness_cli(s_node, missing, &status, NULL, NULL), 0);
    cr_assert_eq(status, 66, "an unreadable FILE exited %d, expected 66 (EX_NOINPUT)", status);

    /* An unknown user code: 404 from the API, 1 from the CLI. */
    fk_http_resp_t *resp = fk_harness_admin(s_node, "POST", "/v1/codes/ZZZZZZZZZZ/approve", NULL);
    cr_assert_eq(resp->status, 404, "approving an unknown code answered %ld: %s", resp->status,
                 resp->body);
    cr_assert_str_eq(fk_e2e_str(resp->json, "error") ? fk_e2e_str(resp->json, "error") : "",
                     "not_found");
    fk_http_resp_destroy(&resp);
    const char *approve[] = {"approve", "ZZZZZZZZZZ", NULL};
    cr_assert_eq(fk_harness_cli(s_node, approve, &status, NULL, NULL), 0);
    cr_assert_eq(status, 1, "approving an unknown code exited %d, expected 1", status);
    s_assert_nothing_lost();
}
