/*  e2e: the RFC 8628 device-code grant as fakts 6.x runs it, approved and
    denied with the CLI (fakts-protocol.md §3, §6.1, §6.2, §7; docs/API.md,
    docs/CLI.md). */

#include "fk_e2e.h"

#include "fk_mem.h"

#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>

/*  Budget for a poll loop: the code's default lifetime is 300 s, but an
    approved code answers at the first poll after approval. */
#define S_POLL_BUDGET_MS 60000

static fk_node_t *s_node;

static void
s_setup(void)
{
    s_node = fk_e2e_start_node();
}

TestSuite(e2e_device_code, .init = s_setup, .fini = fk_e2e_teardown, .timeout = 300);

/*  The app of these tests: rekuest required (registered), mikro optional
    (nothing provides it), kabinet optional (registered, but declined). */
static const fk_e2e_req_t s_reqs[] = {
    {"rekuest", "live.arkitekt.rekuest", false},
    {"mikro", "live.arkitekt.mikro", true},
    {"kabinet", "live.arkitekt.kabinet", true},
    {NULL, NULL, false},
};

/*  Assert a successful app-authorization answer (§6.1, §7) and return it. */
static json_t *
s_assert_authorized(const fk_http_resp_t *resp, int expected_expires_in)
{
    cr_assert_eq(resp->status, 200, "app-authorization answered %ld: %s", resp->status, resp->body);
    fk_e2e_assert_view(resp);
    json_t *body = resp->json;
    cr_assert(json_is_object(body), "not a JSON object: %s", resp->body);
    cr_assert_str_eq(fk_e2e_str(body, "status") ? fk_e2e_str(body, "status") : "", "granted");
    const char *device_code = fk_e2e_str(body, "device_code");
    cr_assert(device_code && strlen(device_code) >= 32, "device_code too short: %s", resp->body);
    const char *client_id = fk_e2e_str(body, "client_id");
    cr_assert(client_id && *client_id, "no client_id: %s", resp->body);

    const char *user_code = fk_e2e_str(body, "user_code");
    cr_assert(user_code && strlen(user_code) == 10, "user_code is not 10 characters: %s",
              resp->body);
    cr_assert_eq(strspn(user_code, FK_E2E_USER_CODE_ALPHABET), 10,
                 "user_code %s has characters outside " FK_E2E_USER_CODE_ALPHABET, user_code);

    const char *complete = fk_e2e_str(body, "verification_uri_complete");
    cr_assert(complete && strstr(complete, user_code), "verification_uri_complete %s lacks %s",
              complete ? complete : "(none)", user_code);
    cr_assert(strncmp(complete, "http://", 7) == 0 || strncmp(complete, "https://", 8) == 0,
              "fakts 6.x opens only http(s) approval URLs: %s", complete);
    const char *token_endpoint = fk_e2e_str(body, "token_endpoint");
    if (token_endpoint) {
        char *expected = fk_harness_url(s_node, "/lok/o/token/");
        cr_assert(fk_http_same_origin(token_endpoint, expected),
                  "token_endpoint %s is not on this node", token_endpoint);
        free(expected);
    }

    json_t *interval = json_object_get(body, "interval");
    json_t *expires_in = json_object_get(body, "expires_in");
    cr_assert(json_is_integer(interval) && json_integer_value(interval) >= 1,
              "interval is not a positive integer: %s", resp->body);
    cr_assert(json_is_integer(expires_in), "expires_in is not an integer: %s", resp->body);
    cr_assert_eq(json_integer_value(expires_in), expected_expires_in,
                 "expires_in %lld, expected %d", (long long)json_integer_value(expires_in),
                 expected_expires_in);
    return body;
}

/*  The entry of `codes --json` for user_code, or NULL (borrowed from codes). */
static json_t *
s_find_code(json_t *codes, const char *user_code)
{
    size_t i;
    json_t *entry;
    json_array_foreach(codes, i, entry)
    {
        const char *code = fk_e2e_str(entry, "user_code");
        if (code && strcmp(code, user_code) == 0) {
            return entry;
        }
    }
    return NULL;
}

Test(e2e_device_code, approved_code_yields_the_composed_envelope_once)
{
    fk_e2e_register(s_node, "rekuest-1", "live.arkitekt.rekuest", "10.0.0.5", 8090);
    fk_e2e_register(s_node, "kabinet-1", "live.arkitekt.kabinet", "10.0.0.6", 8091);

    json_t *manifest = fk_e2e_manifest("org.example.device-app", "1.2.0", s_reqs);
    fk_http_resp_t *auth = fk_e2e_authorize(s_node, manifest, 300);
    json_t *started = s_assert_authorized(auth, 300);
    char *device_code = fk_strdup(fk_e2e_str(started, "device_code"));
    char *user_code = fk_strdup(fk_e2e_str(started, "user_code"));
    char *client_id = fk_strdup(fk_e2e_str(started, "client_id"));
    int interval = (int)json_integer_value(json_object_get(started, "interval"));
    fk_http_resp_destroy(&auth);

    /* Pending: the first poll has no previous poll to be too close to;
       the second comes sooner than interval after it (§6.2). */
    fk_http_resp_t *poll = fk_e2e_poll_once(s_node, device_code, client_id);
    fk_e2e_assert_oauth_error(poll, 400, "authorization_pending");
    fk_e2e_assert_view(poll);
    fk_http_resp_destroy(&poll);
    poll = fk_e2e_poll_once(s_node, device_code, client_id);
    fk_e2e_assert_oauth_error(poll, 400, "slow_down");
    fk_http_resp_destroy(&poll);

    /* The operator's view of the pending code (docs/API.md GET /v1/codes). */
    const char *list_argv[] = {"codes", NULL};
    json_t *codes = fk_e2e_cli_json(s_node, list_argv);
    cr_assert(json_is_array(codes), "codes --json is not an array");
    json_t *entry = s_find_code(codes, user_code);
    cr_assert_not_null(entry, "codes --json does not list %s: %s", user_code,
                       json_dumps(codes, JSON_COMPACT));
    cr_assert_str_eq(fk_e2e_str(entry, "identifier") ? fk_e2e_str(entry, "identifier") : "",
                     "org.example.device-app");
    cr_assert_str_eq(fk_e2e_str(entry, "version") ? fk_e2e_str(entry, "version") : "", "1.2.0");
    json_t *pending_statuses = json_object_get(entry, "statuses");
    cr_assert(json_is_object(pending_statuses), "codes entry without statuses object");
    cr_assert_str_eq(
        fk_e2e_str(pending_statuses, "rekuest") ? fk_e2e_str(pending_statuses, "rekuest") : "",
        "granted");
    cr_assert_str_eq(fk_e2e_str(pending_statuses, "mikro") ? fk_e2e_str(pending_statuses, "mikro")
                                                           : "",
                     "unavailable");
    json_decref(codes);

    const char *approve_argv[] = {"approve", user_code, "--decline", "kabinet", NULL};
    free(fk_e2e_cli_ok(s_node, approve_argv));

    /* The client's own loop: wait interval before each poll. */
    poll = fk_e2e_poll_device(s_node, device_code, client_id, interval, S_POLL_BUDGET_MS);
    json_t *env = fk_e2e_assert_envelope(s_node, poll);
    fk_e2e_assert_view(poll);
    cr_assert_str_eq(fk_e2e_str(env, "client_id"), client_id,
                     "the envelope's client_id is not the authorized client");

    json_t *alias = json_object_get(json_object_get(env, "self"), "alias");
    cr_assert_str_eq(fk_e2e_str(alias, "id") ? fk_e2e_str(alias, "id") : "", "self");

    json_t *instances = json_object_get(env, "instances");
    json_t *rekuest = json_object_get(instances, "rekuest");
    cr_assert(json_is_object(rekuest), "no instances.rekuest: %s", poll->body);
    cr_assert_str_eq(fk_e2e_str(rekuest, "service"), "live.arkitekt.rekuest");
    json_t *first = json_array_get(json_object_get(rekuest, "aliases"), 0);
    cr_assert_str_eq(fk_e2e_str(first, "host") ? fk_e2e_str(first, "host") : "", "10.0.0.5");
    cr_assert(json_is_integer(json_object_get(first, "port"))
                  && json_integer_value(json_object_get(first, "port")) == 8090,
              "instances.rekuest.aliases[0].port is not 8090: %s", poll->body);
    cr_assert(json_is_string(json_object_get(first, "kind")), "alias without kind");
    cr_assert_null(json_object_get(instances, "mikro"), "mikro has no instance to grant");
    cr_assert_null(json_object_get(instances, "kabinet"), "kabinet was declined");

    json_t *statuses = json_object_get(env, "statuses");
    cr_assert_str_eq(fk_e2e_str(statuses, "rekuest") ? fk_e2e_str(statuses, "rekuest") : "",
                     "granted");
    cr_assert_str_eq(fk_e2e_str(statuses, "mikro") ? fk_e2e_str(statuses, "mikro") : "",
                     "unavailable");
    cr_assert_str_eq(fk_e2e_str(statuses, "kabinet") ? fk_e2e_str(statuses, "kabinet") : "",
                     "denied");

    /* §6.5: iss is the issuer; the token names its client. */
    json_t *claims = fk_jwt_part(fk_e2e_str(env, "access_token"), 1);
    fk_http_resp_t *disco = fk_e2e_discovery(s_node);
    const char *issuer = fk_e2e_str(disco->json, "issuer");
    cr_assert(issuer && fk_e2e_str(claims, "iss") && strcmp(issuer, fk_e2e_str(claims, "iss")) == 0,
              "JWT iss %s is not the issuer %s", fk_e2e_str(claims, "iss"), issuer);
    cr_assert_str_eq(fk_e2e_str(claims, "client_id") ? fk_e2e_str(claims, "client_id") : "",
                     client_id);
    fk_http_resp_destroy(&disco);
    json_decref(claims);
    fk_http_resp_destroy(&poll);

    /* Single use: the protocol table names invalid_request for a code that
       is unknown or already used (§6.2). */
    poll = fk_e2e_poll_once(s_node, device_code, client_id);
    fk_e2e_assert_oauth_error(poll, 400, "invalid_request");
    fk_http_resp_destroy(&poll);

    json_decref(manifest);
    free(client_id);
    free(user_code);
    free(device_code);
}

Test(e2e_device_code, denied_code_polls_access_denied)
{
    json_t *manifest = fk_e2e_manifest("org.example.denied-app", "0.1.0", NULL);
    fk_http_resp_t *auth = fk_e2e_authorize(s_node, manifest, 300);
    json_t *started = s_assert_authorized(auth, 300);
    char *device_code = fk_strdup(fk_e2e_str(started, "device_code"));
    char *user_code = fk_strdup(fk_e2e_str(started, "user_code"));
    char *client_id = fk_strdup(fk_e2e_str(started, "client_id"));
    int interval = (int)json_integer_value(json_object_get(started, "interval"));
    fk_http_resp_destroy(&auth);

    const char *deny_argv[] = {"deny", user_code, NULL};
    free(fk_e2e_cli_ok(s_node, deny_argv));

    fk_http_resp_t *poll =
        fk_e2e_poll_device(s_node, device_code, client_id, interval, S_POLL_BUDGET_MS);
    fk_e2e_assert_oauth_error(poll, 400, "access_denied");
    fk_http_resp_destroy(&poll);

    /* A decided code cannot be decided again (docs/API.md: 409). */
    const char *approve_argv[] = {"approve", user_code, NULL};
    int status = 0;
    cr_assert_eq(fk_harness_cli(s_node, approve_argv, &status, NULL, NULL), 0);
    cr_assert_neq(status, 0, "approving a denied code succeeded");

    json_decref(manifest);
    free(client_id);
    free(user_code);
    free(device_code);
}

Test(e2e_device_code, approval_without_a_required_service_fails_and_names_it)
{
    static const fk_e2e_req_t reqs[] = {
        {"mikro", "live.arkitekt.mikro", false},
        {NULL, NULL, false},
    };
    json_t *manifest = fk_e2e_manifest("org.example.needs-mikro", "1.0.0", reqs);
    fk_http_resp_t *auth = fk_e2e_authorize(s_node, manifest, 300);
    json_t *started = s_assert_authorized(auth, 300);
    char *device_code = fk_strdup(fk_e2e_str(started, "device_code"));
    char *user_code = fk_strdup(fk_e2e_str(started, "user_code"));
    char *client_id = fk_strdup(fk_e2e_str(started, "client_id"));
    int interval = (int)json_integer_value(json_object_get(started, "interval"));
    fk_http_resp_destroy(&auth);

    const char *approve_argv[] = {"approve", user_code, NULL};
    int status = 0;
    char *out = NULL;
    char *err = NULL;
    cr_assert_eq(fk_harness_cli(s_node, approve_argv, &status, &out, &err), 0);
    cr_assert_neq(status, 0, "approve succeeded without a live.arkitekt.mikro instance: %s", out);
    cr_assert(strstr(err, "live.arkitekt.mikro"), "stderr does not name the missing service: '%s'",
              err);
    free(out);
    free(err);

    /* §3: a missing required service fails the approval; no client is
       produced, so the client is never handed tokens. */
    fk_http_resp_t *poll = fk_e2e_poll_device(s_node, device_code, client_id, interval,
                                              (int64_t)interval * 1000 + 5000);
    cr_assert_neq(poll->status, 200, "a failed approval produced tokens: %s", poll->body);
    fk_http_resp_destroy(&poll);

    json_decref(manifest);
    free(client_id);
    free(user_code);
    free(device_code);
}

Test(e2e_device_code, expiration_is_clamped_to_1_and_900_seconds)
{
    json_t *manifest = fk_e2e_manifest("org.example.clamp", "1.0.0", NULL);
    fk_http_resp_t *resp = fk_e2e_authorize(s_node, manifest, 5000);
    s_assert_authorized(resp, 900);
    fk_http_resp_destroy(&resp);
    resp = fk_e2e_authorize(s_node, manifest, 0);
    s_assert_authorized(resp, 1);
    fk_http_resp_destroy(&resp);
    json_decref(manifest);
}
