/*  fk_api - the top of the answers plane: the api object and the route
    table that sends each request to its adapter. The helpers every
    adapter shares are below, in fk_api_util.c. */

#include "fk_api_priv.h"

#include "fk_clock.h"
#include "fk_crypto.h"
#include "fk_json.h"
#include "fk_mem.h"

#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>

static char *
s_dup_or_null(const char *s)
{
    return s ? fk_strdup(s) : NULL;
}

fk_api_t *
fk_api_new(const fk_api_opts_t *opts)
{
    fk_api_t *self = fk_calloc(1, sizeof *self);
    self->store = opts->store;
    self->grants = opts->grants;
    self->audit = opts->audit;
    self->checker = opts->checker;
    self->cluster = opts->cluster;
    self->identity = opts->identity;
    self->insecure_gossip = opts->insecure_gossip;
    self->admin_token = fk_strdup(opts->admin_token);
    self->origins = opts->origins;
    self->deployment_name = fk_strdup(opts->deployment_name ? opts->deployment_name : "fakts-node");
    self->data_dir = s_dup_or_null(opts->data_dir);
    self->services_dir = s_dup_or_null(opts->services_dir);
    self->http_addr = fk_strdup(opts->http_addr ? opts->http_addr : "127.0.0.1");
    self->authorize_per_min = opts->authorize_per_min;
    self->token_per_min = opts->token_per_min;
    self->v1_per_min = opts->v1_per_min;
    self->code_misses_per_min = opts->code_misses_per_min;
    self->consistent_answers = opts->consistent_answers;
    self->rates = json_object();
    pthread_mutex_init(&self->lock, NULL);
    self->ui = fk__ui_new(opts->ui_password);
    self->metrics_loopback_open = opts->metrics_loopback_open;
    self->lag = opts->lag;
    self->http = opts->http;
    self->metrics = fk__api_metrics_new(self, opts->metrics);
    return self;
}

void
fk_api_destroy(fk_api_t **self_p)
{
    if (!self_p || !*self_p) {
        return;
    }
    fk_api_t *self = *self_p;
    free(self->admin_token);
    free(self->deployment_name);
    free(self->data_dir);
    free(self->services_dir);
    free(self->http_addr);
    json_decref(self->rates);
    pthread_mutex_destroy(&self->lock);
    fk__ui_destroy(&self->ui);
    fk__api_metrics_destroy(&self->metrics);
    free(self);
    *self_p = NULL;
}

/*  Which adapter answers which paths: every row whose prefix the path
    starts with is asked in order, and the first that takes the path
    answers it. An adapter still checks its exact paths and methods.
    name is the row's route label in the request metrics (a fixed few, so
    a scan of random paths cannot grow the series). */
static const struct {
    const char *prefix;                         /* path prefix */
    bool (*route)(fk_api_t *, fk_http_req_t *); /* false: not one of its paths */
    const char *name;                           /* route label of fakts_http_requests_total */
} s_routes[] = {
    {"/lok/f/report", fk__fakts_route, "report"}, /* one URL, both dialects: the bearer decides */
    {"/lok/f/", fk__v1_route, "v1"},              /* the v1 dialect's endpoints */
    {"/lok/", fk__fakts_route, "fakts"},          /* OAuth endpoints, JWKS, health */
    {"/.well-known/", fk__fakts_route, "discovery"}, /* discovery */
    {"/ht", fk__fakts_route, "health"},              /* health */
    {"/v1/", fk__admin_route, "agent"},              /* the agent API */
    {"/metrics", fk__metrics_route, "metrics"},      /* Prometheus */
    {"/", fk__ui_route, "ui"},                       /* the web pages, {B}configure/ included */
};

#define S_NROUTES (sizeof s_routes / sizeof s_routes[0])

_Static_assert(S_NROUTES < FK__API_ROUTES, "FK__API_ROUTES counts every row and \"none\"");

void
fk_api_handle(void *arg, fk_http_req_t *req)
{
    fk_api_t *self = arg;
    int64_t start_us = fk_clock_mono_us();
    const char *path = fk_http_path(req);
    size_t route = 0;
    while (route < S_NROUTES
           && !(strncmp(path, s_routes[route].prefix, strlen(s_routes[route].prefix)) == 0
                && s_routes[route].route(self, req))) {
        route++;
    }
    if (route < S_NROUTES) {
        /*  What the adapter recorded of who sent the request lived on
            its stack: gone now. */
        fk_http_set_user(req, NULL);
    } else {
        fk__api_respond(self, req, 404,
                        json_pack("{s:s, s:s}", "error", "not_found", "message", "no such path"));
    }
    /*  A held request (a blocking query) is counted once, when it is
        answered; its latency is then that of its last run. */
    if (fk_http_status(req) != 0) {
        fk__api_metrics_request(self, route, route < S_NROUTES ? s_routes[route].name : "none",
                                req, (double)(fk_clock_mono_us() - start_us) / 1e6);
    }
}
