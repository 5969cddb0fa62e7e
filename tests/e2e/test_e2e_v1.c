/*  e2e: the v1 dialect as fakts-next 4.x and npm @jhnnsrs/fakts speak it
    (fakts-protocol.md §5, §10 quirks 1, 2, 5, 6, 7, 8, 12; docs/API.md). */

#include "fk_e2e_v1.h"

#include "fk_mem.h"

#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_BUDGET_MS 30000

static fk_node_t *s_node;

static void
s_setup(void)
{
    s_node = fk_e2e_start_node();
}

TestSuite(e2e_v1, .init = s_setup, .fini = fk_e2e_teardown, .timeout = 300);

static const fk_e2e_req_t s_reqs[] = {
    {"rekuest", "live.arkitekt.rekuest", false},
    {"mikro", "live.arkitekt.mikro", true},
    {NULL, NULL, false},
};

/*  The entry of `codes --json` for code, or NULL (borrowed). */
static json_t *
s_find_code(json_t *codes, const char *code)
{
    size_t i;
    json_t *entry;
    json_array_foreach(codes, i, entry)
    {
        const char *c = fk_e2e_str(entry, "user_code");
        if (c && strcmp(c, code) == 0) {
            return entry;
        }
    }
    return NULL;
}

/*  POST text to /lok/f/<endpoint>/ as the npm client does: text/plain. */
static fk_http_resp_t *
s_post_text(const char *endpoint, const char *text)
{
    char *path = fk_asprintf("/lok/f/%s/", endpoint);
    char *url = fk_harness_url(s_node, path);
    fk_http_resp_t *resp = fk_http_post_json(url, "text/plain;charset=UTF-8", NULL, text);
    free(url);
    free(path);
    return resp;
}

Test(e2e_v1, device_flow_claim_client_credentials_and_reports)
{
    fk_e2e_register(s_node, "rekuest-1", "live.arkitekt.rekuest", "10.0.0.5", 8090);

    /* Discovery: base_url for v1, client_credentials advertised. */
    fk_http_resp_t *disco = fk_e2e_discovery(s_node);
    cr_assert_eq(disco->status, 200);
    char *base_url = fk_harness_url(s_node, "/lok/f/");
    cr_assert_str_eq(fk_e2e_str(disco->json, "base_url"), base_url);
    free(base_url);
    cr_assert(fk_e2e_array_has(json_object_get(disco->json, "grant_types_supported"),
                               "client_credentials"),
              "client_credentials not advertised: %s", disco->body);
    fk_http_resp_destroy(&disco);

    json_t *manifest = fk_e2e_v1_manifest("org.example.v1-app", "4.1.0", s_reqs);
    char *code = fk_e2e_v1_start(s_node, manifest, 300, "development");

    fk_http_resp_t *resp = fk_e2e_v1_challenge(s_node, code);
    fk_e2e_v1_assert(resp, "pending", "message", FK_E2E_V1_PENDING);
    fk_http_resp_destroy(&resp);

    /* The operator sees the v1 code next to v2 ones and approves it. */
    const char *codes_argv[] = {"codes", NULL};
    json_t *codes = fk_e2e_cli_json(s_node, codes_argv);
    json_t *entry = s_find_code(codes, code);
    cr_assert_not_null(entry, "codes does not list the v1 code %s", code);
    cr_assert_str_eq(fk_e2e_str(entry, "dialect"), "v1");
    cr_assert_str_eq(fk_e2e_str(entry, "identifier"), "org.example.v1-app");
    json_decref(codes);
    const char *approve_argv[] = {"approve", code, NULL};
    free(fk_e2e_cli_ok(s_node, approve_argv));

    resp = fk_e2e_v1_poll(s_node, code, S_BUDGET_MS);
    fk_e2e_v1_assert(resp, "granted", NULL, NULL);
    char *token = fk_strdup(fk_e2e_str(resp->json, "token"));
    fk_http_resp_destroy(&resp);
    cr_assert_eq(strlen(token), 36, "the client token is a uuid4 string: %s", token);
    /* Granted is repeatable. */
    resp = fk_e2e_v1_challenge(s_node, code);
    fk_e2e_v1_assert(resp, "granted", "token", token);
    fk_http_resp_destroy(&resp);

    fk_http_resp_t *claim = fk_e2e_v1_claim(s_node, token);
    json_t *config = json_object_get(claim->json, "config");
    json_t *auth = json_object_get(config, "auth");
    char *client_id = fk_strdup(fk_e2e_str(auth, "client_id"));
    char *secret = fk_strdup(fk_e2e_str(auth, "client_secret"));
    json_t *rekuest = json_object_get(json_object_get(config, "instances"), "rekuest");
    cr_assert(json_is_object(rekuest), "instances.rekuest: %s", claim->body);
    json_t *alias = json_array_get(json_object_get(rekuest, "aliases"), 0);
    cr_assert_str_eq(fk_e2e_str(alias, "host"), "10.0.0.5");
    char *alias_id = fk_strdup(fk_e2e_str(alias, "id"));
    json_t *statuses = json_object_get(config, "statuses");
    cr_assert_str_eq(fk_e2e_str(statuses, "rekuest"), "granted");
    cr_assert_str_eq(fk_e2e_str(statuses, "mikro"), "unavailable");
    fk_http_resp_destroy(&claim);

    /* Claim is repeatable and gives the same credentials. */
    claim = fk_e2e_v1_claim(s_node, token);
    auth = json_object_get(json_object_get(claim->json, "config"), "auth");
    cr_assert_str_eq(fk_e2e_str(auth, "client_id"), client_id);
    cr_assert_str_eq(fk_e2e_str(auth, "client_secret"), secret);
    fk_http_resp_destroy(&claim);

    /* client_credentials with Basic and form, the exact scope (quirk 12). */
    resp = fk_e2e_v1_client_credentials(s_node, client_id, secret, NULL, "openid read");
    cr_assert_eq(resp->status, 200, "client_credentials: %ld %s", resp->status, resp->body);
    cr_assert_str_eq(fk_e2e_str(resp->json, "token_type"), "Bearer");
    cr_assert_str_eq(fk_e2e_str(resp->json, "scope"), "openid read");
    cr_assert_eq(json_integer_value(json_object_get(resp->json, "expires_in")), 864000);
    cr_assert_null(json_object_get(resp->json, "refresh_token"));
    char *access = fk_strdup(fk_e2e_str(resp->json, "access_token"));
    fk_http_resp_destroy(&resp);
    /* A narrower request gets exactly that. */
    resp = fk_e2e_v1_client_credentials(s_node, client_id, secret, NULL, "read");
    cr_assert_eq(resp->status, 200, "%s", resp->body);
    cr_assert_str_eq(fk_e2e_str(resp->json, "scope"), "read");
    fk_http_resp_destroy(&resp);

    /* The bearer works where v2 bearers do: the v2 report. */
    char *report_url = fk_harness_url(s_node, "/lok/f/report/");
    resp = fk_http_post_json(report_url, "application/json", access,
                             "{\"alias_reports\":{},\"functional\":true}");
    fk_e2e_v1_assert(resp, "reported", "message", "Report processed successfully");
    fk_http_resp_destroy(&resp);
    free(report_url);

    /* The v1 report: same URL, token in the body, no bearer. */
    json_t *report =
        json_pack("{s:s, s:{s:{s:s, s:b, s:n}}, s:b}", "token", token, "alias_reports", "rekuest",
                  "alias_id", alias_id, "valid", 1, "reason", "functional", 1);
    resp = fk_e2e_v1_post(s_node, "report", report);
    fk_e2e_v1_assert(resp, "reported", "message", "Report processed successfully");
    fk_http_resp_destroy(&resp);
    json_decref(report);
    /* A key none of whose aliases passed: fakts-next sends "alias_id": null
       with the reason (AliasReport.alias_id: str | None), and the v1 server's
       model takes it. */
    report = json_pack("{s:s, s:{s:{s:n, s:b, s:s}}, s:b}", "token", token, "alias_reports",
                       "rekuest", "alias_id", "valid", 0, "reason",
                       "no alias answered its challenge", "functional", 0);
    resp = fk_e2e_v1_post(s_node, "report", report);
    fk_e2e_v1_assert(resp, "reported", "message", "Report processed successfully");
    fk_http_resp_destroy(&resp);
    json_decref(report);
    /* ...but an alias_id or reason of another type is a malformed body. */
    report = json_pack("{s:s, s:{s:{s:i, s:b}}}", "token", token, "alias_reports", "rekuest",
                       "alias_id", 12, "valid", 1);
    resp = fk_e2e_v1_post(s_node, "report", report);
    fk_e2e_v1_assert(resp, "error", NULL, NULL);
    cr_assert(strstr(fk_e2e_str(resp->json, "message"), "alias_id") != NULL, "%s", resp->body);
    fk_http_resp_destroy(&resp);
    json_decref(report);
    /* An alias the configuration does not have (§5.7). */
    report = json_pack("{s:s, s:{s:{s:s, s:b}}}", "token", token, "alias_reports", "rekuest",
                       "alias_id", "no-such-alias", "valid", 1);
    resp = fk_e2e_v1_post(s_node, "report", report);
    fk_e2e_v1_assert(resp, "error", "message", "Error creating configuration");
    fk_http_resp_destroy(&resp);
    json_decref(report);

    /* The self alias answers its challenge. */
    char *ht = fk_harness_url(s_node, "/lok/ht");
    resp = fk_http_get(ht, NULL);
    cr_assert_eq(resp->status, 200);
    fk_http_resp_destroy(&resp);
    free(ht);

    free(access);
    free(alias_id);
    free(secret);
    free(client_id);
    free(token);
    free(code);
    json_decref(manifest);
}

Test(e2e_v1, retrieve_and_claim_as_the_npm_client_sends_them)
{
    char *path = fk_harness_write_file(s_node, "web.yaml",
                                       "identifier: org.example.web\n"
                                       "version: \"1.0\"\n"
                                       "scopes: [openid]\n");
    const char *create_argv[] = {"clients", "create", path, NULL};
    json_t *created = fk_e2e_cli_json(s_node, create_argv);
    free(path);
    const char *public_token = fk_e2e_str(created, "client_token");
    cr_assert(public_token, "clients create printed no client_token");

    /* npm 0.1.16: text/plain, its headers inside the body, a manifest of
       version and identifier only (quirk 2). */
    fk_http_resp_t *resp = s_post_text(
        "retrieve", "{\"headers\":{\"Content-Type\":\"application/json\"},"
                    "\"manifest\":{\"version\":\"1.0\",\"identifier\":\"org.example.web\"},"
                    "\"redirect_uris\":[]}");
    fk_e2e_v1_assert(resp, "granted", "token", public_token);
    fk_http_resp_destroy(&resp);

    char *claim_body = fk_asprintf(
        "{\"headers\":{\"Content-Type\":\"application/json\"},\"token\":\"%s\"}", public_token);
    resp = s_post_text("claim", claim_body);
    free(claim_body);
    fk_e2e_v1_assert(resp, "granted", NULL, NULL);
    json_t *auth = json_object_get(json_object_get(resp->json, "config"), "auth");
    cr_assert_str_eq(fk_e2e_str(auth, "client_id"), fk_e2e_str(created, "client_id"));
    fk_http_resp_destroy(&resp);

    resp = s_post_text("retrieve",
                       "{\"manifest\":{\"version\":\"2.0\",\"identifier\":\"org.example.web\"}}");
    fk_e2e_v1_assert(resp, "error", "message", "Release does not exist org.example.web:2.0");
    fk_http_resp_destroy(&resp);
    resp = s_post_text("retrieve",
                       "{\"manifest\":{\"version\":\"1.0\",\"identifier\":\"org.example.none\"}}");
    fk_e2e_v1_assert(resp, "error", "message", "App does not exist org.example.none");
    fk_http_resp_destroy(&resp);

    const char *list_argv[] = {"clients", "list", NULL};
    json_t *clients = fk_e2e_cli_json(s_node, list_argv);
    cr_assert_eq(json_array_size(clients), 1);
    cr_assert_str_eq(fk_e2e_str(json_array_get(clients, 0), "identifier"), "org.example.web");
    json_decref(clients);
    /*  A public client is the operator's configuration, not an approved
        app: apps list leaves it out. */
    const char *apps_argv[] = {"apps", "list", NULL};
    json_t *apps = fk_e2e_cli_json(s_node, apps_argv);
    cr_assert_eq(json_array_size(apps), 0, "apps list shows a public client");
    json_decref(apps);

    /*  The old spelling still deletes it (with a note on stderr). */
    const char *delete_argv[] = {"apps", "delete", "org.example.web", "1.0", NULL};
    free(fk_e2e_cli_ok(s_node, delete_argv));
    resp = s_post_text("retrieve",
                       "{\"manifest\":{\"version\":\"1.0\",\"identifier\":\"org.example.web\"}}");
    fk_e2e_v1_assert(resp, "error", "message", "App does not exist org.example.web");
    fk_http_resp_destroy(&resp);
    json_t *claim = json_pack("{s:s}", "token", public_token);
    resp = fk_e2e_v1_post(s_node, "claim", claim);
    fk_e2e_v1_assert(resp, "error", "message", "No Client found for this token");
    fk_http_resp_destroy(&resp);
    json_decref(claim);
    json_decref(created);
}

Test(e2e_v1, redeem_gives_the_same_token_for_the_same_manifest_only)
{
    char *redeem_token = fk_e2e_redeem_token(s_node);
    json_t *manifest = fk_e2e_v1_manifest("org.example.headless", "1.0", NULL);
    json_t *body = json_pack("{s:s, s:O}", "token", redeem_token, "manifest", manifest);
    fk_http_resp_t *first = fk_e2e_v1_post(s_node, "redeem", body);
    fk_e2e_v1_assert(first, "granted", NULL, NULL);
    const char *token = fk_e2e_str(first->json, "token");
    fk_http_resp_t *again = fk_e2e_v1_post(s_node, "redeem", body);
    fk_e2e_v1_assert(again, "granted", "token", token);
    fk_http_resp_destroy(&again);
    json_decref(body);

    fk_http_resp_t *claim = fk_e2e_v1_claim(s_node, token);
    fk_http_resp_destroy(&claim);

    json_t *changed = fk_e2e_v1_manifest("org.example.headless", "2.0", NULL);
    body = json_pack("{s:s, s:O}", "token", redeem_token, "manifest", changed);
    fk_http_resp_t *resp = fk_e2e_v1_post(s_node, "redeem", body);
    fk_e2e_v1_assert(resp, "error", "message",
                     "This redeem token was already redeemed with a different manifest. "
                     "Re-redeeming with a changed manifest is not allowed unless allow_reredeem "
                     "is set.");
    fk_http_resp_destroy(&resp);
    json_decref(body);

    body =
        json_pack("{s:s, s:O}", "token", "0123456789abcdef0123456789abcdef", "manifest", manifest);
    resp = fk_e2e_v1_post(s_node, "redeem", body);
    fk_e2e_v1_assert(resp, "error", "message", "Invalid redeem token");
    fk_http_resp_destroy(&resp);
    json_decref(body);

    json_decref(changed);
    fk_http_resp_destroy(&first);
    json_decref(manifest);
    free(redeem_token);
}

Test(e2e_v1, challenge_outcomes_unknown_expired_denied_and_kind)
{
    fk_http_resp_t *resp = fk_e2e_v1_challenge(s_node, "0badc0de");
    fk_e2e_v1_assert(resp, "error", "error", "Challenge does not exist");
    fk_http_resp_destroy(&resp);

    json_t *manifest = fk_e2e_v1_manifest("org.example.v1-errors", "1.0", NULL);

    /* Expired: a one-second code, polled until it says so, is then gone
       (quirk 7: the client's next poll reads "does not exist"). */
    char *code = fk_e2e_v1_start(s_node, manifest, 1, "development");
    resp = fk_e2e_v1_poll(s_node, code, S_BUDGET_MS);
    fk_e2e_v1_assert(resp, "expired", "message", "The user has not given an answer in enough time");
    fk_http_resp_destroy(&resp);
    resp = fk_e2e_v1_challenge(s_node, code);
    fk_e2e_v1_assert(resp, "error", "error", "Challenge does not exist");
    fk_http_resp_destroy(&resp);
    free(code);

    code = fk_e2e_v1_start(s_node, manifest, 300, "development");
    const char *deny_argv[] = {"deny", code, NULL};
    free(fk_e2e_cli_ok(s_node, deny_argv));
    resp = fk_e2e_v1_challenge(s_node, code);
    fk_e2e_v1_assert(resp, "denied", "message", "The user has denied the request");
    fk_http_resp_destroy(&resp);
    resp = fk_e2e_v1_challenge(s_node, code);
    fk_e2e_v1_assert(resp, "error", "error", "Challenge does not exist");
    fk_http_resp_destroy(&resp);
    free(code);

    /* Only development clients are approvable in v1 (§5.2). */
    code = fk_e2e_v1_start(s_node, manifest, 300, "website");
    const char *approve_argv[] = {"approve", code, NULL};
    int status = -1;
    char *err = NULL;
    cr_assert_eq(fk_harness_cli(s_node, approve_argv, &status, NULL, &err), 0);
    cr_assert_eq(status, 1, "approving a website client must fail");
    cr_assert(strstr(err, "Unknown client kind or no longer supported"), "stderr: %s", err);
    free(err);
    resp = fk_e2e_v1_challenge(s_node, code);
    fk_e2e_v1_assert(resp, "pending", "message", FK_E2E_V1_PENDING);
    fk_http_resp_destroy(&resp);
    free(code);
    json_decref(manifest);
}

Test(e2e_v1, malformed_bodies_and_methods_answer_in_each_endpoints_shape)
{
    /* §5.1: the key of a malformed body per endpoint. */
    static const struct {
        const char *endpoint;
        const char *key;
    } cases[] = {{"start", "error"},    {"challenge", "error"}, {"redeem", "error"},
                 {"retrieve", "error"}, {"claim", "message"},   {"report", "message"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fk_http_resp_t *resp = s_post_text(cases[i].endpoint, "{not json");
        fk_e2e_v1_assert(resp, "error", NULL, NULL);
        const char *text = fk_e2e_str(resp->json, cases[i].key);
        cr_assert(text && strncmp(text, "Malformed request: ", 19) == 0,
                  "%s/ malformed text not under %s: %s", cases[i].endpoint, cases[i].key,
                  resp->body);
        fk_http_resp_destroy(&resp);

        resp = s_post_text(cases[i].endpoint, "{}");
        fk_e2e_v1_assert(resp, "error", NULL, NULL);
        text = fk_e2e_str(resp->json, cases[i].key);
        cr_assert(text && strncmp(text, "Malformed request: ", 19) == 0,
                  "%s/ missing field not under %s: %s", cases[i].endpoint, cases[i].key,
                  resp->body);
        fk_http_resp_destroy(&resp);

        char *path = fk_asprintf("/lok/f/%s/", cases[i].endpoint);
        char *url = fk_harness_url(s_node, path);
        resp = fk_http_get(url, NULL);
        cr_assert_eq(resp->status, 405, "GET %s answered %ld", path, resp->status);
        char *allow = fk_http_resp_header(resp, "Allow");
        cr_assert(allow && strcmp(allow, "POST") == 0, "Allow: %s", allow ? allow : "(none)");
        free(allow);
        fk_http_resp_destroy(&resp);
        free(url);
        free(path);
    }
}

Test(e2e_v1, unknown_clients_wrong_secrets_and_foreign_scopes_are_refused)
{
    json_t *body =
        json_pack("{s:s, s:b}", "token", "00000000-0000-4000-8000-000000000000", "secure", 1);
    fk_http_resp_t *resp = fk_e2e_v1_post(s_node, "claim", body);
    fk_e2e_v1_assert(resp, "error", "message", "No Client found for this token");
    fk_http_resp_destroy(&resp);
    resp = fk_e2e_v1_post(s_node, "report", body);
    fk_e2e_v1_assert(resp, "error", "message", "No Client found for this token");
    fk_http_resp_destroy(&resp);
    json_decref(body);

    char *redeem_token = fk_e2e_redeem_token(s_node);
    json_t *manifest = fk_e2e_v1_manifest("org.example.creds", "1.0", NULL);
    body = json_pack("{s:s, s:O}", "token", redeem_token, "manifest", manifest);
    resp = fk_e2e_v1_post(s_node, "redeem", body);
    fk_e2e_v1_assert(resp, "granted", NULL, NULL);
    fk_http_resp_t *claim = fk_e2e_v1_claim(s_node, fk_e2e_str(resp->json, "token"));
    fk_http_resp_destroy(&resp);
    json_t *auth = json_object_get(json_object_get(claim->json, "config"), "auth");
    const char *client_id = fk_e2e_str(auth, "client_id");
    const char *secret = fk_e2e_str(auth, "client_secret");

    resp = fk_e2e_v1_client_credentials(s_node, client_id, "wrong-secret", NULL, "openid");
    fk_e2e_assert_oauth_error(resp, 401, "invalid_client");
    char *www = fk_http_resp_header(resp, "WWW-Authenticate");
    cr_assert(www && strncmp(www, "Basic", 5) == 0, "WWW-Authenticate: %s", www ? www : "");
    free(www);
    fk_http_resp_destroy(&resp);

    resp = fk_e2e_v1_client_credentials(s_node, "no-such-client", secret, NULL, "openid");
    fk_e2e_assert_oauth_error(resp, 401, "invalid_client");
    fk_http_resp_destroy(&resp);

    resp = fk_e2e_v1_client_credentials(s_node, client_id, secret, NULL, "openid admin");
    fk_e2e_assert_oauth_error(resp, 400, "invalid_scope");
    fk_http_resp_destroy(&resp);

    /* Basic and form must agree when both are sent. */
    resp = fk_e2e_v1_client_credentials(s_node, client_id, secret, "another-secret", "openid");
    fk_e2e_assert_oauth_error(resp, 400, "invalid_request");
    fk_http_resp_destroy(&resp);

    /* The form alone (client_secret_post) is enough. */
    char *url = fk_harness_url(s_node, "/lok/o/token/");
    const char *pairs[] = {
        "grant_type", "client_credentials", "client_id", client_id, "client_secret", secret, NULL};
    resp = fk_http_post_form(url, NULL, pairs);
    cr_assert_eq(resp->status, 200, "client_secret_post: %ld %s", resp->status, resp->body);
    fk_http_resp_destroy(&resp);
    free(url);

    fk_http_resp_destroy(&claim);
    json_decref(body);
    json_decref(manifest);
    free(redeem_token);
}

Test(e2e_v1, one_address_over_the_v1_limit_is_answered_429_in_the_v1_shape)
{
    const char *args[] = {"--rate-v1", "3", NULL};
    fk_node_opts_t opts = {.addr = "127.0.0.4", .args = args};
    fk_node_t *node = fk_harness_start(&opts);
    cr_assert_not_null(node);
    json_t *body = json_pack("{s:s}", "token", "no-such-token");
    for (int i = 0; i < 3; i++) {
        fk_http_resp_t *resp = fk_e2e_v1_post(node, i % 2 ? "claim" : "report", body);
        cr_assert_eq(resp->status, 200, "request %d answered %ld: %s", i + 1, resp->status,
                     resp->body);
        fk_http_resp_destroy(&resp);
    }
    /*  The limit counts the v1 doors together: a fourth request to any. */
    fk_http_resp_t *resp = fk_e2e_v1_post(node, "claim", body);
    cr_assert_eq(resp->status, 429, "answered %ld: %s", resp->status, resp->body);
    cr_assert_str_eq(fk_e2e_str(resp->json, "status"), "error");
    cr_assert_not_null(fk_e2e_str(resp->json, "message"), "%s", resp->body);
    char *retry = fk_http_resp_header(resp, "Retry-After");
    cr_assert(retry && strcmp(retry, "60") == 0, "Retry-After: %s", retry ? retry : "(none)");
    free(retry);
    fk_http_resp_destroy(&resp);
    /*  Other doors keep answering. */
    char *url = fk_harness_url(node, "/.well-known/fakts");
    resp = fk_http_get(url, NULL);
    cr_assert_eq(resp->status, 200);
    fk_http_resp_destroy(&resp);
    free(url);
    json_decref(body);
    fk_harness_remove(&node);
}

Test(e2e_v1, an_address_that_guesses_codes_may_try_none_until_the_minute_ends)
{
    const char *args[] = {"--rate-code-misses", "3", NULL};
    fk_node_opts_t opts = {.addr = "127.0.0.5", .args = args};
    fk_node_t *node = fk_harness_start(&opts);
    cr_assert_not_null(node);
    json_t *manifest = fk_e2e_v1_manifest("org.example.guessed", "1.0.0", NULL);
    char *code = fk_e2e_v1_start(node, manifest, 300, "development");
    /*  Polling one's own code is never a miss. */
    for (int i = 0; i < 5; i++) {
        fk_http_resp_t *resp = fk_e2e_v1_challenge(node, code);
        fk_e2e_v1_assert(resp, "pending", "message", "User  has not verfied the challenge");
        fk_http_resp_destroy(&resp);
    }
    /*  Three unknown codes are answered as v1 answers them... */
    const char *guesses[] = {"00000000", "00000001", "00000002"};
    for (int i = 0; i < 3; i++) {
        cr_assert_str_neq(guesses[i], code);
        fk_http_resp_t *resp = fk_e2e_v1_challenge(node, guesses[i]);
        fk_e2e_v1_assert(resp, "error", "error", "Challenge does not exist");
        fk_http_resp_destroy(&resp);
    }
    /*  ...then this address may try no code, its own included. */
    const char *next[] = {"00000003", code};
    for (int i = 0; i < 2; i++) {
        fk_http_resp_t *resp = fk_e2e_v1_challenge(node, next[i]);
        cr_assert_eq(resp->status, 429, "answered %ld: %s", resp->status, resp->body);
        cr_assert_str_eq(fk_e2e_str(resp->json, "status"), "error");
        char *retry = fk_http_resp_header(resp, "Retry-After");
        cr_assert(retry && strcmp(retry, "60") == 0, "Retry-After: %s", retry ? retry : "(none)");
        free(retry);
        fk_http_resp_destroy(&resp);
    }
    /*  The code itself is untouched: it is still pending for the operator. */
    const char *argv[] = {"codes", "--json", NULL};
    int status = -1;
    char *out = NULL;
    cr_assert_eq(fk_harness_cli(node, argv, &status, &out, NULL), 0);
    cr_assert_eq(status, 0, "%s", out);
    cr_assert_not_null(strstr(out, code), "%s", out);
    free(out);
    free(code);
    json_decref(manifest);
    fk_harness_remove(&node);
}
