/*  e2e: the redeem grant, urn:fakts:grant-type:redeem (fakts-protocol.md
    §2 identity, §5.4 re-redeem, §6.3; docs/API.md POST /v1/redeem-tokens). */

#include "fk_e2e.h"

#include "fk_mem.h"

#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>

static fk_node_t *s_node;

static void
s_setup(void)
{
    s_node = fk_e2e_start_node();
    fk_e2e_register(s_node, "rekuest-1", "live.arkitekt.rekuest", "10.0.0.5", 8090);
}

TestSuite(e2e_redeem, .init = s_setup, .fini = fk_e2e_teardown, .timeout = 180);

static const fk_e2e_req_t s_reqs[] = {
    {"rekuest", "live.arkitekt.rekuest", false},
    {"mikro", "live.arkitekt.mikro", true},
    {NULL, NULL, false},
};

Test(e2e_redeem, redeem_token_create_prints_a_token)
{
    const char *argv[] = {
        "redeem-token", "create", "--expires-in-days", "3", "--max-redemptions", "5", NULL};
    json_t *doc = fk_e2e_cli_json(s_node, argv);
    cr_assert(fk_e2e_str(doc, "token") && *fk_e2e_str(doc, "token"), "no token");
    cr_assert(json_object_get(doc, "expires_at"), "no expires_at");
    json_t *max = json_object_get(doc, "max_redemptions");
    cr_assert(json_is_integer(max) && json_integer_value(max) == 5, "max_redemptions is not 5");
    json_decref(doc);
}

Test(e2e_redeem, same_manifest_gives_the_same_client_and_a_changed_one_is_refused)
{
    char *token = fk_e2e_redeem_token(s_node);
    json_t *manifest = fk_e2e_manifest("org.example.headless", "2.0.0", s_reqs);
    char *text = fk_e2e_manifest_text(manifest);

    fk_http_resp_t *first = fk_e2e_redeem(s_node, token, text);
    json_t *env = fk_e2e_assert_envelope(s_node, first);
    fk_e2e_assert_view(first);
    char *client_id = fk_strdup(fk_e2e_str(env, "client_id"));
    json_t *statuses = json_object_get(env, "statuses");
    cr_assert_str_eq(fk_e2e_str(statuses, "rekuest") ? fk_e2e_str(statuses, "rekuest") : "",
                     "granted");
    cr_assert_str_eq(fk_e2e_str(statuses, "mikro") ? fk_e2e_str(statuses, "mikro") : "",
                     "unavailable");
    json_t *alias = json_array_get(
        json_object_get(json_object_get(json_object_get(env, "instances"), "rekuest"), "aliases"),
        0);
    cr_assert_str_eq(fk_e2e_str(alias, "host") ? fk_e2e_str(alias, "host") : "", "10.0.0.5");

    /* §6.3 / §5.4: re-redeem with the same manifest, same client, fresh
       tokens. */
    fk_http_resp_t *second = fk_e2e_redeem(s_node, token, text);
    json_t *env2 = fk_e2e_assert_envelope(s_node, second);
    cr_assert_str_eq(fk_e2e_str(env2, "client_id"), client_id);
    cr_assert_str_neq(fk_e2e_str(env2, "refresh_token"), fk_e2e_str(env, "refresh_token"),
                      "a re-redeem must issue a fresh refresh token");

    /* A changed manifest (a new version) is refused with invalid_grant. */
    json_t *changed = fk_e2e_manifest("org.example.headless", "2.1.0", s_reqs);
    char *changed_text = fk_e2e_manifest_text(changed);
    fk_http_resp_t *refused = fk_e2e_redeem(s_node, token, changed_text);
    fk_e2e_assert_oauth_error(refused, 400, "invalid_grant");
    fk_e2e_assert_view(refused);

    fk_http_resp_destroy(&refused);
    fk_http_resp_destroy(&second);
    fk_http_resp_destroy(&first);
    free(changed_text);
    json_decref(changed);
    free(client_id);
    free(text);
    json_decref(manifest);
    free(token);
}

Test(e2e_redeem, reordered_manifest_is_the_same_manifest)
{
    /* §2 (node): "same manifest" compares a canonical JSON of the
       recognised fields with all lists sorted, so reordering requirements
       and keys is not a change. */
    static const fk_e2e_req_t reversed[] = {
        {"mikro", "live.arkitekt.mikro", true},
        {"rekuest", "live.arkitekt.rekuest", false},
        {NULL, NULL, false},
    };
    char *token = fk_e2e_redeem_token(s_node);
    json_t *manifest = fk_e2e_manifest("org.example.reorder", "1.0.0", s_reqs);
    char *text = fk_e2e_manifest_text(manifest);
    fk_http_resp_t *first = fk_e2e_redeem(s_node, token, text);
    json_t *env = fk_e2e_assert_envelope(s_node, first);

    json_t *other = fk_e2e_manifest("org.example.reorder", "1.0.0", reversed);
    char *other_text = json_dumps(other, JSON_SORT_KEYS);
    fk_http_resp_t *second = fk_e2e_redeem(s_node, token, other_text);
    json_t *env2 = fk_e2e_assert_envelope(s_node, second);
    cr_assert_str_eq(fk_e2e_str(env2, "client_id"), fk_e2e_str(env, "client_id"));

    fk_http_resp_destroy(&second);
    fk_http_resp_destroy(&first);
    free(other_text);
    json_decref(other);
    free(text);
    json_decref(manifest);
    free(token);
}

Test(e2e_redeem, unknown_redeem_token_is_invalid_grant)
{
    json_t *manifest = fk_e2e_manifest("org.example.headless", "2.0.0", s_reqs);
    char *text = fk_e2e_manifest_text(manifest);
    fk_http_resp_t *resp = fk_e2e_redeem(s_node, "not-a-redeem-token", text);
    fk_e2e_assert_oauth_error(resp, 400, "invalid_grant");
    fk_http_resp_destroy(&resp);
    resp = fk_e2e_redeem(s_node, "", text);
    cr_assert_eq(resp->status, 400, "an empty redeem token answered %ld: %s", resp->status,
                 resp->body);
    fk_http_resp_destroy(&resp);
    free(text);
    json_decref(manifest);
}

Test(e2e_redeem, malformed_manifest_is_invalid_request)
{
    /* §6.3: missing or malformed fields are invalid_request. */
    char *token = fk_e2e_redeem_token(s_node);
    fk_http_resp_t *resp = fk_e2e_redeem(s_node, token, "{\"identifier\": ");
    fk_e2e_assert_oauth_error(resp, 400, "invalid_request");
    fk_http_resp_destroy(&resp);
    const char *pairs[] = {"grant_type", FK_E2E_GRANT_REDEEM, "redeem_token", token, NULL};
    resp = fk_e2e_token(s_node, pairs);
    fk_e2e_assert_oauth_error(resp, 400, "invalid_request");
    fk_http_resp_destroy(&resp);
    free(token);
}
