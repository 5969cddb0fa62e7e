/*  e2e: what an agent knows survives a clean stop and a kill -9
    (architecture.md "Storage": a local write is acknowledged only after its
    transaction committed; docs/CLI.md agent.json and signals). */

#include "fk_e2e.h"

#include "fk_mem.h"

#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/*  Services registered before the kill -9. */
#define S_CRASH_SERVICES 24

static fk_node_t *s_node;

static void
s_setup(void)
{
    s_node = fk_e2e_start_node();
}

TestSuite(e2e_restart, .init = s_setup, .fini = fk_e2e_teardown, .timeout = 300);

/*  The ids of the local services, from the agent API. New JSON array. */
static json_t *
s_service_ids(void)
{
    fk_http_resp_t *resp = fk_harness_admin(s_node, "GET", "/v1/services?local", NULL);
    cr_assert_eq(resp->status, 200, "GET /v1/services?local answered %ld: %s", resp->status,
                 resp->body);
    cr_assert(json_is_array(resp->json), "not an array: %s", resp->body);
    json_t *ids = json_array();
    size_t i;
    json_t *service;
    json_array_foreach(resp->json, i, service)
    {
        const char *id = fk_e2e_str(service, "id");
        cr_assert_not_null(id, "a service without id: %s", resp->body);
        json_array_append_new(ids, json_string(id));
    }
    fk_http_resp_destroy(&resp);
    return ids;
}

/*  The ids `services list --json` prints. New JSON array. */
static json_t *
s_cli_service_ids(void)
{
    const char *argv[] = {"services", "list", NULL};
    json_t *list = fk_e2e_cli_json(s_node, argv);
    cr_assert(json_is_array(list), "services list --json is not an array");
    json_t *ids = json_array();
    size_t i;
    json_t *service;
    json_array_foreach(list, i, service)
    {
        const char *id = fk_e2e_str(service, "id");
        if (id) {
            json_array_append_new(ids, json_string(id));
        }
    }
    json_decref(list);
    return ids;
}

static bool
s_file_exists(const char *dir, const char *name)
{
    char *path = fk_asprintf("%s/%s", dir, name);
    bool exists = access(path, F_OK) == 0;
    free(path);
    return exists;
}

Test(e2e_restart, clean_restart_keeps_services_tokens_and_keys)
{
    fk_e2e_register(s_node, "rekuest-1", "live.arkitekt.rekuest", "10.0.0.5", 8090);
    static const fk_e2e_req_t reqs[] = {
        {"rekuest", "live.arkitekt.rekuest", false},
        {NULL, NULL, false},
    };
    json_t *manifest = fk_e2e_manifest("org.example.restart", "1.0.0", reqs);
    fk_http_resp_t *login = fk_e2e_login_redeem(s_node, manifest);
    char *client_id = fk_strdup(fk_e2e_str(login->json, "client_id"));
    char *refresh = fk_strdup(fk_e2e_str(login->json, "refresh_token"));
    fk_http_resp_destroy(&login);
    json_t *kids_before = fk_e2e_jwks_kids(s_node);
    char *token_before = fk_strdup(fk_harness_admin_token(s_node));

    int status = fk_harness_stop(s_node, 0);
    cr_assert_eq(status, 0, "SIGTERM: the agent exited with %d, expected a clean 0", status);
    cr_assert(!s_file_exists(fk_harness_data_dir(s_node), "agent.json"),
              "agent.json is left behind after a clean shutdown");
    cr_assert_eq(fk_harness_restart(s_node), 0, "the agent did not come back");

    json_t *ids = s_cli_service_ids();
    cr_assert(fk_e2e_array_has(ids, "rekuest-1"), "rekuest-1 is not listed after the restart");
    json_decref(ids);

    json_t *kids_after = fk_e2e_jwks_kids(s_node);
    cr_assert(json_equal(kids_before, kids_after),
              "the JWKS kids changed across a restart: %s -> %s",
              json_dumps(kids_before, JSON_COMPACT), json_dumps(kids_after, JSON_COMPACT));
    cr_assert_str_eq(fk_harness_admin_token(s_node), token_before,
                     "the admin token changed across a restart");

    fk_http_resp_t *resp = fk_e2e_refresh(s_node, refresh, client_id);
    json_t *env = fk_e2e_assert_envelope(s_node, resp);
    cr_assert(json_is_object(json_object_get(json_object_get(env, "instances"), "rekuest")),
              "instances.rekuest lost across the restart: %s", resp->body);
    fk_http_resp_destroy(&resp);

    json_decref(kids_after);
    json_decref(kids_before);
    free(token_before);
    free(refresh);
    free(client_id);
    json_decref(manifest);
}

Test(e2e_restart, acknowledged_registrations_survive_kill_9)
{
    /* Every registration is acknowledged (CLI exit 0 or HTTP 200) before
       the next, half through each path; then the agent dies at once. */
    for (int i = 0; i < S_CRASH_SERVICES; i++) {
        char id[32];
        snprintf(id, sizeof id, "crash-%02d", i);
        if (i % 2 == 0) {
            fk_e2e_register(s_node, id, "live.arkitekt.rekuest", "10.0.1.1", 9000 + i);
        } else {
            char *body = fk_asprintf("{\"id\":\"%s\",\"service\":\"live.arkitekt.mikro\","
                                     "\"aliases\":[{\"host\":\"10.0.1.2\",\"port\":%d,"
                                     "\"path\":\"mikro\",\"ssl\":false,\"challenge\":\"ht\"}]}",
                                     id, 9000 + i);
            fk_http_resp_t *resp = fk_harness_admin(s_node, "PUT", "/v1/services", body);
            cr_assert_eq(resp->status, 200, "PUT %s answered %ld: %s", id, resp->status,
                         resp->body);
            fk_http_resp_destroy(&resp);
            free(body);
        }
    }
    cr_assert_eq(fk_harness_kill9(s_node), 0);
    cr_assert_eq(fk_harness_restart(s_node), 0, "the agent did not come back after kill -9");

    json_t *ids = s_service_ids();
    for (int i = 0; i < S_CRASH_SERVICES; i++) {
        char id[32];
        snprintf(id, sizeof id, "crash-%02d", i);
        cr_assert(fk_e2e_array_has(ids, id), "acknowledged service %s was lost by kill -9: %s", id,
                  json_dumps(ids, JSON_COMPACT));
    }
    json_decref(ids);
    ids = s_cli_service_ids();
    cr_assert_geq(json_array_size(ids), S_CRASH_SERVICES);
    json_decref(ids);

    /* A second crash right after the restart loses nothing either. */
    cr_assert_eq(fk_harness_kill9(s_node), 0);
    cr_assert_eq(fk_harness_restart(s_node), 0);
    ids = s_service_ids();
    cr_assert_geq(json_array_size(ids), S_CRASH_SERVICES);
    json_decref(ids);
}

Test(e2e_restart, deregistration_survives_a_restart)
{
    fk_e2e_register(s_node, "gone-1", "live.arkitekt.rekuest", "10.0.0.9", 8099);
    const char *argv[] = {"services", "deregister", "gone-1", NULL};
    free(fk_e2e_cli_ok(s_node, argv));
    cr_assert_eq(fk_harness_kill9(s_node), 0);
    cr_assert_eq(fk_harness_restart(s_node), 0);
    json_t *ids = s_service_ids();
    cr_assert(!fk_e2e_array_has(ids, "gone-1"), "a deregistered service came back");
    json_decref(ids);
}

Test(e2e_restart, a_busy_agent_stops_cleanly)
{
    /* Drive most handlers once, then SIGTERM: the agent must exit 0. In a
       sanitizer build its ASan runtime checks for leaks at that exit and
       aborts on one, so this also finds leaks in the request paths. */
    fk_e2e_register(s_node, "rekuest-1", "live.arkitekt.rekuest", "10.0.0.5", 8090);
    static const fk_e2e_req_t reqs[] = {
        {"rekuest", "live.arkitekt.rekuest", false},
        {"mikro", "live.arkitekt.mikro", true},
        {NULL, NULL, false},
    };
    json_t *manifest = fk_e2e_manifest("org.example.busy", "1.0.0", reqs);

    fk_http_resp_t *disco = fk_e2e_discovery(s_node);
    cr_assert_eq(disco->status, 200);
    fk_http_resp_destroy(&disco);

    fk_http_resp_t *auth = fk_e2e_authorize(s_node, manifest, 300);
    cr_assert_eq(auth->status, 200, "app-authorization answered %ld: %s", auth->status, auth->body);
    const char *device_code = fk_e2e_str(auth->json, "device_code");
    const char *client_id = fk_e2e_str(auth->json, "client_id");
    const char *approve[] = {"approve", fk_e2e_str(auth->json, "user_code"), "--decline", "mikro",
                             NULL};
    free(fk_e2e_cli_ok(s_node, approve));
    fk_http_resp_t *granted =
        fk_e2e_poll_device(s_node, device_code, client_id,
                           (int)json_integer_value(json_object_get(auth->json, "interval")), 60000);
    fk_e2e_assert_envelope(s_node, granted);

    fk_http_resp_t *login = fk_e2e_login_redeem(s_node, manifest);
    fk_http_resp_t *refreshed = fk_e2e_refresh(s_node, fk_e2e_str(login->json, "refresh_token"),
                                               fk_e2e_str(login->json, "client_id"));
    fk_e2e_assert_envelope(s_node, refreshed);
    fk_http_resp_t *revoked =
        fk_e2e_revoke(s_node, fk_e2e_str(refreshed->json, "refresh_token"), NULL, NULL);
    cr_assert_eq(revoked->status, 200);

    char *url = fk_harness_url(s_node, "/lok/f/report/");
    fk_http_resp_t *report =
        fk_http_post_json(url, "application/json", fk_e2e_str(granted->json, "access_token"),
                          "{\"alias_reports\":{},\"functional\":true}");
    cr_assert_eq(report->status, 200, "report answered %ld: %s", report->status, report->body);
    fk_http_resp_t *bad = fk_http_post_json(url, "application/json", "x.y.z", "{");
    cr_assert_eq(bad->status, 401);
    free(url);
    const char *codes[] = {"codes", NULL};
    json_decref(fk_e2e_cli_json(s_node, codes));
    const char *info[] = {"info", NULL};
    json_decref(fk_e2e_cli_json(s_node, info));

    int status = fk_harness_stop(s_node, 0);
    if (status != 0) {
        fk_harness_dump_log(s_node, 8192);
    }
    cr_assert_eq(status, 0, "after serving requests the agent exited %d on SIGTERM", status);

    fk_http_resp_destroy(&bad);
    fk_http_resp_destroy(&report);
    fk_http_resp_destroy(&revoked);
    fk_http_resp_destroy(&refreshed);
    fk_http_resp_destroy(&login);
    fk_http_resp_destroy(&granted);
    fk_http_resp_destroy(&auth);
    json_decref(manifest);
}
