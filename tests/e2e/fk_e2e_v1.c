/*  fk_e2e_v1 - the fakts-next 4.x (v1) client's requests, for tests. */

#include "fk_e2e_v1.h"

#include "fk_clock.h"
#include "fk_mem.h"

#include <criterion/criterion.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

json_t *
fk_e2e_v1_manifest(const char *identifier, const char *version, const fk_e2e_req_t *reqs)
{
    json_t *requirements = json_array();
    for (size_t i = 0; reqs && reqs[i].key; i++) {
        json_array_append_new(requirements, json_pack("{s:s, s:s, s:b, s:n}", "key", reqs[i].key,
                                                      "service", reqs[i].service, "optional",
                                                      reqs[i].optional, "description"));
    }
    return json_pack("{s:s, s:s, s:[s,s], s:n, s:o, s:n, s:[], s:n}", "identifier", identifier,
                     "version", version, "scopes", "openid", "read", "logo", "requirements",
                     requirements, "node_id", "public_sources", "description");
}

fk_http_resp_t *
fk_e2e_v1_post(const fk_node_t *node, const char *endpoint, const json_t *body)
{
    char *path = fk_asprintf("/lok/f/%s/", endpoint);
    char *url = fk_harness_url(node, path);
    char *text = json_dumps(body, JSON_COMPACT);
    fk_http_resp_t *resp = fk_http_post_json(url, "application/json", NULL, text);
    free(text);
    free(url);
    free(path);
    return resp;
}

void
fk_e2e_v1_assert(const fk_http_resp_t *resp, const char *status, const char *key, const char *text)
{
    cr_assert_eq(resp->status, 200, "v1 answer with HTTP %ld: %s", resp->status, resp->body);
    const char *got = fk_e2e_str(resp->json, "status");
    cr_assert(got && strcmp(got, status) == 0, "expected status %s: %s", status, resp->body);
    if (key) {
        const char *value = fk_e2e_str(resp->json, key);
        cr_assert(value && strcmp(value, text) == 0, "expected %s \"%s\": %s", key, text,
                  resp->body);
    }
}

char *
fk_e2e_v1_start(const fk_node_t *node, const json_t *manifest, int expiration_time_seconds,
                const char *kind)
{
    json_t *body =
        json_pack("{s:O, s:i, s:[], s:s}", "manifest", manifest, "expiration_time_seconds",
                  expiration_time_seconds, "redirect_uris", "requested_client_kind", kind);
    fk_http_resp_t *resp = fk_e2e_v1_post(node, "start", body);
    json_decref(body);
    fk_e2e_v1_assert(resp, "granted", NULL, NULL);
    const char *code = fk_e2e_str(resp->json, "code");
    cr_assert(code && strlen(code) == 8 && strspn(code, "0123456789abcdef") == 8,
              "code is not 8 lowercase hex digits: %s", resp->body);
    char *out = fk_strdup(code);
    fk_http_resp_destroy(&resp);
    return out;
}

fk_http_resp_t *
fk_e2e_v1_challenge(const fk_node_t *node, const char *code)
{
    json_t *body = json_pack("{s:s}", "code", code);
    fk_http_resp_t *resp = fk_e2e_v1_post(node, "challenge", body);
    json_decref(body);
    return resp;
}

fk_http_resp_t *
fk_e2e_v1_poll(const fk_node_t *node, const char *code, int64_t budget_ms)
{
    int64_t deadline = fk_clock_mono_ms() + budget_ms;
    for (;;) {
        fk_http_resp_t *resp = fk_e2e_v1_challenge(node, code);
        const char *status = fk_e2e_str(resp->json, "status");
        if (!status || strcmp(status, "pending") != 0 || fk_clock_mono_ms() >= deadline) {
            return resp;
        }
        fk_http_resp_destroy(&resp);
        /*  The client's own pace (§5.3), not a synchronisation. */
        struct timespec second = {1, 0};
        nanosleep(&second, NULL);
    }
}

fk_http_resp_t *
fk_e2e_v1_claim(const fk_node_t *node, const char *client_token)
{
    json_t *body = json_pack("{s:s, s:b}", "token", client_token, "secure", 0);
    fk_http_resp_t *resp = fk_e2e_v1_post(node, "claim", body);
    json_decref(body);
    fk_e2e_v1_assert(resp, "granted", NULL, NULL);
    json_t *config = json_object_get(resp->json, "config");
    json_t *self = json_object_get(config, "self");
    cr_assert(fk_e2e_str(self, "deployment_name"), "no self.deployment_name: %s", resp->body);
    json_t *alias = json_object_get(self, "alias");
    cr_assert_str_eq(fk_e2e_str(alias, "id") ? fk_e2e_str(alias, "id") : "", "self");
    cr_assert(json_is_true(json_object_get(alias, "ssl")), "v1 self alias ssl is true (quirk 5)");
    cr_assert_str_eq(fk_e2e_str(alias, "path") ? fk_e2e_str(alias, "path") : "", "lok");
    cr_assert_str_eq(fk_e2e_str(alias, "challenge") ? fk_e2e_str(alias, "challenge") : "", "ht");
    char host[64];
    snprintf(host, sizeof host, "%.*s", (int)strcspn(fk_harness_http_addr(node), ":"),
             fk_harness_http_addr(node));
    cr_assert_str_eq(fk_e2e_str(alias, "host") ? fk_e2e_str(alias, "host") : "", host);
    cr_assert(json_is_integer(json_object_get(alias, "port")), "self.alias.port: %s", resp->body);
    json_t *auth = json_object_get(config, "auth");
    cr_assert(json_is_null(json_object_get(auth, "ionscale_auth_key")), "ionscale_auth_key null");
    cr_assert_str_eq(fk_e2e_str(auth, "client_token"), client_token);
    cr_assert(fk_e2e_str(auth, "client_id") && fk_e2e_str(auth, "client_secret"),
              "auth without client credentials: %s", resp->body);
    cr_assert(json_is_array(json_object_get(auth, "scopes")), "auth.scopes: %s", resp->body);
    char *token_url = fk_harness_url(node, "/lok/o/token/");
    char *report_url = fk_harness_url(node, "/lok/f/report/");
    cr_assert_str_eq(fk_e2e_str(auth, "token_url"), token_url);
    cr_assert_str_eq(fk_e2e_str(auth, "report_url"), report_url);
    free(token_url);
    free(report_url);
    cr_assert(json_is_object(json_object_get(config, "instances")), "instances: %s", resp->body);
    cr_assert(json_is_object(json_object_get(config, "statuses")), "statuses: %s", resp->body);
    return resp;
}

fk_http_resp_t *
fk_e2e_v1_client_credentials(const fk_node_t *node, const char *client_id,
                             const char *client_secret, const char *form_secret, const char *scope)
{
    form_secret = form_secret ? form_secret : client_secret;
    char *pair = fk_asprintf("%s:%s", client_id, client_secret);
    unsigned char encoded[512];
    cr_assert(strlen(pair) < 300, "credentials too long for the test");
    EVP_EncodeBlock(encoded, (const unsigned char *)pair, (int)strlen(pair));
    char *auth = fk_asprintf("Authorization: Basic %s", (const char *)encoded);
    /*  requests-oauthlib's body: scope space-joined, '+' in the form. */
    char *scope_form = fk_strdup(scope ? scope : "");
    for (char *p = scope_form; *p; p++) {
        *p = *p == ' ' ? '+' : *p;
    }
    char *body = scope ? fk_asprintf("grant_type=client_credentials&scope=%s&client_secret=%s"
                                     "&client_id=%s",
                                     scope_form, form_secret, client_id)
                       : fk_asprintf("grant_type=client_credentials&client_secret=%s&client_id=%s",
                                     form_secret, client_id);
    const char *headers[] = {"Accept: application/json",
                             "Content-Type: application/x-www-form-urlencoded;charset=UTF-8", auth,
                             NULL};
    char *url = fk_harness_url(node, "/lok/o/token/");
    fk_http_resp_t *resp = fk_http_send("POST", url, headers, body, strlen(body));
    free(url);
    free(body);
    free(scope_form);
    free(auth);
    free(pair);
    return resp;
}
