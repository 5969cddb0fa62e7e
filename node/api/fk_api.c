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
    free(self);
    *self_p = NULL;
}

/*  Which adapter answers which paths: every row whose prefix the path
    starts with is asked in order, and the first that takes the path
    answers it. An adapter still checks its exact paths and methods. */
static const struct {
    const char *prefix;                         /* path prefix */
    bool (*route)(fk_api_t *, fk_http_req_t *); /* false: not one of its paths */
} s_routes[] = {
    {"/lok/f/report", fk__fakts_route}, /* one URL, both dialects: the bearer decides */
    {"/lok/f/", fk__v1_route},          /* the v1 dialect's endpoints */
    {"/lok/", fk__fakts_route},         /* OAuth endpoints, JWKS, health */
    {"/.well-known/", fk__fakts_route}, /* discovery */
    {"/ht", fk__fakts_route},           /* health */
    {"/v1/", fk__admin_route},          /* the agent API */
    {"/", fk__ui_route},                /* the web pages, {B}configure/ included */
};

void
fk_api_handle(void *arg, fk_http_req_t *req)
{
    fk_api_t *self = arg;
    const char *path = fk_http_path(req);
    for (size_t i = 0; i < sizeof s_routes / sizeof s_routes[0]; i++) {
        size_t n = strlen(s_routes[i].prefix);
        if (strncmp(path, s_routes[i].prefix, n) == 0 && s_routes[i].route(self, req)) {
            /*  What the adapter recorded of who sent the request lived on
                its stack: gone now. */
            fk_http_set_user(req, NULL);
            return;
        }
    }
    fk__api_respond(self, req, 404,
                    json_pack("{s:s, s:s}", "error", "not_found", "message", "no such path"));
}
