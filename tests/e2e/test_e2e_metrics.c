/*  e2e: GET /metrics (docs/API.md, "Metrics"): who may scrape it, and that
    its numbers move with what the test does (a registration, a redeem and
    a refresh). Nodes listen on 127.0.0.140 (guarded) and 127.0.0.141
    (--metrics-loopback-open). */

#include "fk_e2e.h"

#include "fk_mem.h"

#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
s_teardown(void)
{
    fk_e2e_teardown();
}

TestSuite(e2e_metrics, .fini = s_teardown, .timeout = 300);

static fk_http_resp_t *
s_scrape(const fk_node_t *node, const char *bearer)
{
    char *url = fk_harness_url(node, "/metrics");
    fk_http_resp_t *resp = fk_http_get(url, bearer);
    free(url);
    return resp;
}

/*  A new operator token for name with roles, made through the API with the
    admin token; returns the answer (caller decrefs). */
static json_t *
s_make_token(const fk_node_t *node, const char *name, const char *roles)
{
    char *body = fk_asprintf("{\"name\":\"%s\",\"roles\":\"%s\"}", name, roles);
    fk_http_resp_t *resp = fk_harness_admin(node, "POST", "/v1/tokens", body);
    free(body);
    cr_assert_eq(resp->status, 201, "POST /v1/tokens answered %ld: %s", resp->status, resp->body);
    json_t *answer = json_incref(resp->json);
    fk_http_resp_destroy(&resp);
    return answer;
}

static double
s_scrape_value(const fk_node_t *node, const char *series)
{
    fk_http_resp_t *resp = s_scrape(node, NULL);
    cr_assert_eq(resp->status, 200, "GET /metrics: %ld %s", resp->status, resp->body);
    double value = fk_e2e_metric_value(resp->body, series);
    fk_http_resp_destroy(&resp);
    return value;
}

Test(e2e_metrics, needs_the_read_role_unless_loopback_open)
{
    fk_node_t *node = fk_harness_start(&(fk_node_opts_t){.addr = "127.0.0.140"});
    cr_assert_not_null(node);
    fk_http_resp_t *resp = s_scrape(node, NULL);
    cr_assert_eq(resp->status, 401, "no token: %ld", resp->status);
    fk_http_resp_destroy(&resp);
    resp = s_scrape(node, "wrong");
    cr_assert_eq(resp->status, 401);
    fk_http_resp_destroy(&resp);

    /*  A token with the register role only is refused; read passes. */
    json_t *made = s_make_token(node, "reg", "register");
    resp = s_scrape(node, fk_e2e_str(made, "token"));
    cr_assert_eq(resp->status, 403, "register role: %ld %s", resp->status, resp->body);
    fk_http_resp_destroy(&resp);
    json_decref(made);
    made = s_make_token(node, "prom", "read");
    resp = s_scrape(node, fk_e2e_str(made, "token"));
    cr_assert_eq(resp->status, 200, "read role: %ld %s", resp->status, resp->body);
    char *type = fk_http_resp_header(resp, "Content-Type");
    cr_assert_str_eq(type, "text/plain; version=0.0.4; charset=utf-8");
    free(type);
    cr_assert(strstr(resp->body, "# TYPE fakts_http_requests_total counter\n"));
    fk_http_resp_destroy(&resp);
    json_decref(made);

    resp = s_scrape(node, fk_harness_admin_token(node));
    cr_assert_eq(resp->status, 200);
    /*  The three refusals above were counted under their route. */
    cr_assert_eq(fk_e2e_metric_value(resp->body,
                                     "fakts_http_requests_total{route=\"metrics\",code=\"401\"}"),
                 2, "%s", resp->body);
    cr_assert_eq(fk_e2e_metric_value(resp->body,
                                     "fakts_http_requests_total{route=\"metrics\",code=\"403\"}"),
                 1);
    fk_http_resp_destroy(&resp);
}

static bool
s_flushed(void *arg)
{
    return s_scrape_value(arg, "fakts_store_sync_duration_seconds_count") >= 1;
}

Test(e2e_metrics, numbers_move_with_registration_redeem_and_refresh)
{
    fk_node_t *node = fk_harness_start(&(fk_node_opts_t){
        .addr = "127.0.0.141", .args = (const char *const[]){"--metrics-loopback-open", NULL}});
    cr_assert_not_null(node);
    cr_assert_eq(s_scrape_value(node, "fakts_members{state=\"alive\"}"), 1);
    cr_assert_eq(s_scrape_value(node, "fakts_records{kind=\"svc\"}"), -1, "no service yet");
    cr_assert(s_scrape_value(node, "fakts_store_bytes{area=\"used\"}") > 0);
    /*  The agent flushes the store once a second (--fsync periodic), timed. */
    cr_assert(fk_poll_until(10000, s_flushed, node), "no timed flush in 10 s");
    cr_assert_eq(s_scrape_value(node, "fakts_store_sync_failures_total"), 0);

    fk_e2e_register(node, "rekuest-1", "live.arkitekt.rekuest", "10.0.0.5", 8090);
    cr_assert_eq(s_scrape_value(node, "fakts_records{kind=\"svc\"}"), 1);

    static const fk_e2e_req_t reqs[] = {
        {"rekuest", "live.arkitekt.rekuest", false},
        {NULL, NULL, false},
    };
    json_t *manifest = fk_e2e_manifest("org.example.metrics", "1.0.0", reqs);
    fk_http_resp_t *login = fk_e2e_login_redeem(node, manifest);
    json_decref(manifest);
    cr_assert_eq(s_scrape_value(node,
                                "fakts_token_exchanges_total{grant_type=\"" FK_E2E_GRANT_REDEEM
                                "\",outcome=\"issued\"}"),
                 1);
    cr_assert_eq(s_scrape_value(node,
                                "fakts_token_exchanges_total{grant_type=\"" FK_E2E_GRANT_REFRESH
                                "\",outcome=\"issued\"}"),
                 -1);

    fk_http_resp_t *resp = fk_e2e_refresh(node, fk_e2e_str(login->json, "refresh_token"),
                                          fk_e2e_str(login->json, "client_id"));
    cr_assert_eq(resp->status, 200, "%s", resp->body);
    fk_http_resp_destroy(&resp);
    resp = fk_e2e_refresh(node, "not-a-refresh-token", fk_e2e_str(login->json, "client_id"));
    cr_assert_eq(resp->status, 400, "%s", resp->body);
    fk_http_resp_destroy(&resp);
    fk_http_resp_destroy(&login);
    cr_assert_eq(s_scrape_value(node,
                                "fakts_token_exchanges_total{grant_type=\"" FK_E2E_GRANT_REFRESH
                                "\",outcome=\"issued\"}"),
                 1);
    cr_assert_eq(s_scrape_value(node,
                                "fakts_token_exchanges_total{grant_type=\"" FK_E2E_GRANT_REFRESH
                                "\",outcome=\"invalid\"}"),
                 1);
    double fakts_200 =
        s_scrape_value(node, "fakts_http_requests_total{route=\"fakts\",code=\"200\"}");
    cr_assert_geq(fakts_200, 2, "the redeem and the refresh at least");
    cr_assert_geq(
        s_scrape_value(node, "fakts_http_request_duration_seconds_count{route=\"fakts\"}"),
        fakts_200);
}
