/*  e2e: GET /.well-known/fakts as the fakts 6.x client checks it
    (fakts-protocol.md §1.1, §11.2; docs/API.md). */

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
}

TestSuite(e2e_discovery, .init = s_setup, .fini = fk_e2e_teardown, .timeout = 120);

static bool
s_ends_with(const char *s, const char *suffix)
{
    size_t len = strlen(s);
    size_t suffix_len = strlen(suffix);
    return len >= suffix_len && strcmp(s + len - suffix_len, suffix) == 0;
}

/*  The checks fakts 6.x makes (§1.1), plus the node's own rules (§11.2),
    against a document fetched from request_url. */
static void
s_assert_document(const fk_http_resp_t *resp, const char *request_url)
{
    cr_assert_eq(resp->status, 200, "discovery answered %ld: %s", resp->status, resp->body);
    char *ctype = fk_http_resp_header(resp, "Content-Type");
    cr_assert(ctype && strstr(ctype, "application/json"), "Content-Type is '%s'",
              ctype ? ctype : "(none)");
    free(ctype);
    json_t *doc = resp->json;
    cr_assert(json_is_object(doc), "discovery is not a JSON object: %s", resp->body);

    const char *name = fk_e2e_str(doc, "name");
    cr_assert(name && *name, "no name: %s", resp->body);

    /* fakts 6.x: str(protocol_version) == "2"; both clients type it str,
       so it must be the JSON string "2", not the number 2. */
    json_t *version = json_object_get(doc, "protocol_version");
    cr_assert(json_is_string(version), "protocol_version is not a JSON string: %s", resp->body);
    cr_assert_str_eq(json_string_value(version), "2");

    const char *token = fk_e2e_str(doc, "token_endpoint");
    const char *device = fk_e2e_str(doc, "device_authorization_endpoint");
    cr_assert(token && *token, "no token_endpoint: %s", resp->body);
    cr_assert(device && *device, "no device_authorization_endpoint: %s", resp->body);
    cr_assert(fk_http_same_origin(token, request_url),
              "token_endpoint %s is not on the origin of %s", token, request_url);
    cr_assert(fk_http_same_origin(device, request_url),
              "device_authorization_endpoint %s is not on the origin of %s", device, request_url);

    const char *base_url = fk_e2e_str(doc, "base_url");
    cr_assert(base_url && s_ends_with(base_url, "lok/f/"), "base_url does not end in lok/f/: %s",
              resp->body);

    /* §11.2: every value is a string or a list of strings; no keys that
       misdirect v1 clients. */
    const char *key;
    json_t *value;
    json_object_foreach(doc, key, value)
    {
        bool ok = json_is_string(value);
        if (json_is_array(value)) {
            ok = true;
            size_t i;
            json_t *item;
            json_array_foreach(value, i, item)
            {
                ok = ok && json_is_string(item);
            }
        }
        cr_assert(ok, "discovery key %s is neither a string nor a list of strings", key);
    }
    const char *forbidden[] = {"retrieve_url", "claim_url", "layers", "ca_crt", NULL};
    for (const char **it = forbidden; *it; it++) {
        cr_assert_null(json_object_get(doc, *it), "discovery must not send %s", *it);
    }
}

Test(e2e_discovery, serves_a_v2_document_on_the_request_origin)
{
    char *url = fk_harness_url(s_node, "/.well-known/fakts");
    fk_http_resp_t *resp = fk_e2e_discovery(s_node);
    s_assert_document(resp, url);
    fk_e2e_assert_view(resp);

    /* The advertised endpoints are the ones this suite talks to. */
    char *token = fk_harness_url(s_node, "/lok/o/token/");
    char *device = fk_harness_url(s_node, "/lok/o/app-authorization/");
    cr_assert_str_eq(fk_e2e_str(resp->json, "token_endpoint"), token);
    cr_assert_str_eq(fk_e2e_str(resp->json, "device_authorization_endpoint"), device);
    free(device);
    free(token);
    fk_http_resp_destroy(&resp);
    free(url);
}

Test(e2e_discovery, follows_the_host_header_the_client_used)
{
    /* A client that reached the node as localhost:PORT must be sent
       endpoints on that origin, or fakts 6.x refuses them (§1.1). */
    const char *addr = fk_harness_http_addr(s_node);
    const char *port = strrchr(addr, ':') + 1;
    char *host = fk_asprintf("Host: localhost:%s", port);
    char *client_url = fk_asprintf("http://localhost:%s/.well-known/fakts", port);
    char *url = fk_harness_url(s_node, "/.well-known/fakts");
    const char *headers[] = {"Accept: application/json", host, NULL};
    fk_http_resp_t *resp = fk_http_send("GET", url, headers, NULL, 0);
    s_assert_document(resp, client_url);
    fk_http_resp_destroy(&resp);
    free(url);
    free(client_url);
    free(host);
}

/*  GET /.well-known/fakts with a Host header of our choosing. */
static fk_http_resp_t *
s_discover_as(fk_node_t *node, const char *host_header)
{
    char *host = fk_asprintf("Host: %s", host_header);
    char *url = fk_harness_url(node, "/.well-known/fakts");
    const char *headers[] = {"Accept: application/json", host, NULL};
    fk_http_resp_t *resp = fk_http_send("GET", url, headers, NULL, 0);
    free(url);
    free(host);
    cr_assert_eq(resp->status, 200, "discovery answered %ld: %s", resp->status, resp->body);
    return resp;
}

Test(e2e_discovery, a_spoofed_host_header_gets_the_nodes_own_urls)
{
    /*  Without --public-url, a loopback node answers as its address and
        as localhost; any other Host gets the first, never itself. */
    const char *spoofs[] = {"user@evil.example", "evil.example:80", "127.0.0.1:1"};
    char *own = fk_harness_url(s_node, "/lok/o/token/");
    for (size_t i = 0; i < sizeof spoofs / sizeof spoofs[0]; i++) {
        fk_http_resp_t *resp = s_discover_as(s_node, spoofs[i]);
        cr_assert_str_eq(fk_e2e_str(resp->json, "token_endpoint"), own, "Host %s", spoofs[i]);
        cr_assert_null(strstr(resp->body, "evil"), "Host %s leaked: %s", spoofs[i], resp->body);
        fk_http_resp_destroy(&resp);
    }
    free(own);
}

Test(e2e_discovery, the_host_header_picks_among_the_configured_public_urls)
{
    const char *args[] = {"--public-url", "https://fakts.lab.example/,http://198.18.0.7:8520",
                          NULL};
    fk_node_opts_t opts = {.addr = "127.0.0.3", .args = args};
    fk_node_t *node = fk_harness_start(&opts);
    cr_assert_not_null(node);
    const struct {
        const char *host;
        const char *issuer;
    } cases[] = {
        {"198.18.0.7:8520", "http://198.18.0.7:8520/lok"},
        {"FAKTS.lab.example", "https://fakts.lab.example/lok"},
        {"user@evil.example", "https://fakts.lab.example/lok"},
        {fk_harness_http_addr(node), "https://fakts.lab.example/lok"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fk_http_resp_t *resp = s_discover_as(node, cases[i].host);
        cr_assert_str_eq(fk_e2e_str(resp->json, "issuer"), cases[i].issuer, "Host %s",
                         cases[i].host);
        char *token = fk_asprintf("%s/o/token/", cases[i].issuer);
        cr_assert_str_eq(fk_e2e_str(resp->json, "token_endpoint"), token, "Host %s",
                         cases[i].host);
        fk_http_resp_destroy(&resp);
        free(token);
    }
    fk_harness_remove(&node);
}

Test(e2e_discovery, serves_every_loopback_address_it_is_given)
{
    /* A node of a future cluster listens on its own 127.0.0.x. */
    fk_node_opts_t opts = {.addr = "127.0.0.2"};
    fk_node_t *other = fk_harness_start(&opts);
    cr_assert_not_null(other);
    cr_assert(strncmp(fk_harness_base_url(other), "http://127.0.0.2:", 17) == 0,
              "the node listens at %s", fk_harness_base_url(other));
    char *url = fk_harness_url(other, "/.well-known/fakts");
    fk_http_resp_t *resp = fk_e2e_discovery(other);
    s_assert_document(resp, url);
    fk_http_resp_destroy(&resp);
    free(url);
    fk_harness_remove(&other);
}

Test(e2e_discovery, health_check_and_jwks_answer)
{
    const char *paths[] = {"/lok/ht", "/ht", NULL};
    for (const char **it = paths; *it; it++) {
        char *url = fk_harness_url(s_node, *it);
        fk_http_resp_t *resp = fk_http_get(url, NULL);
        cr_assert_eq(resp->status, 200, "GET %s answered %ld", *it, resp->status);
        cr_assert_str_eq(fk_e2e_str(resp->json, "status") ? fk_e2e_str(resp->json, "status") : "",
                         "ok", "GET %s: %s", *it, resp->body);
        fk_e2e_assert_view(resp);
        fk_http_resp_destroy(&resp);
        free(url);
    }
    json_t *kids = fk_e2e_jwks_kids(s_node);
    json_decref(kids);
}
