/*  fk_grants_forward - the forwarding codec: what a node sends the owner
    of a record when only the owner may do a step (burn a device code,
    record a redeem token's first manifest, rotate a refresh token, delete
    a v1 code), and the owner's reply.

    Request: {"op", <the op's fields>, "origin":{"scheme","host","port",
    "base","peer" (optional: the client's address, for the audit log)},
    "deadline_ms"}. Reply: {"ok":true,"answer":{...}} or
    {"ok":false,"code":<FK_E* value>,"description"}. The transport is the
    agent's opts.forward (the cluster plane in a node, a fake in tests);
    this file never includes it. Requests arrive from peers, so the
    decoder checks every field as the record decoders do. */

#include "fk_grants_priv.h"

#include "fk_err.h"
#include "fk_json.h"
#include "fk_manifest.h"
#include "fk_mem.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/*  Forwarded requests wait this long for the owner's answer. */
#define S_FORWARD_TIMEOUT_MS 3000

/*  The owner carries out a forwarded request only before this much of the
    requester's timeout has passed (by the wall clock, which the nodes
    already must agree on to within seconds for token expiry): the rest
    is left for doing it and for the reply to travel. A request that
    arrives later is refused, since its requester has answered "503" and
    a single-use step done now would be lost with its unread reply. */
#define S_FORWARD_EXECUTE_MS 2000

static const struct {
    fk__grants_op_t op; /* the operation */
    const char *name;   /* its "op" on the wire */
    const char *field;  /* the field holding its token */
} s_ops[] = {
    {FK__GRANTS_OP_DEVICE_CODE, "device_code", "device_code"},
    {FK__GRANTS_OP_REFRESH, "refresh", "refresh_token"},
    {FK__GRANTS_OP_REDEEM, "redeem", "redeem_token"},
    {FK__GRANTS_OP_V1_CHALLENGE, "v1_challenge", "code"},
};

/*  Whether code is an FK_E* code or a -errno value (the owner's store
    may be full: -ENOSPC); anything else from a peer is read as a server
    failure. */
static bool
s_known_code(json_int_t code)
{
    return (code <= FK_EPROTO_MAGIC && code >= FK_EUNSUPPORTED) || (code < 0 && code > -4096);
}

int
fk__grants_forward(fk_grants_t *self, const char *owner, json_t *request, const fk_origin_t *origin,
                   bool may_forward, json_t **answer_p, fk_grants_why_t *why)
{
    *answer_p = NULL;
    if (!may_forward || !self->forward || !owner) {
        return fk__grants_fail(
            why, FK_EGRANT,
            "The token or code belongs to node %.64s, which did not take the request",
            owner ? owner : "?");
    }
    json_object_set_new(request, "origin",
                        json_pack("{s:s, s:s, s:i, s:s, s:s*}", "scheme", origin->scheme, "host",
                                  origin->host, "port", origin->port, "base", origin->base, "peer",
                                  origin->peer));
    json_object_set_new(request, "deadline_ms",
                        json_integer(fk__grants_now(self) + S_FORWARD_EXECUTE_MS));
    char *body = fk_json_dump(request);
    char *reply = NULL;
    size_t reply_len = 0;
    int rc = self->forward(self->forward_arg, owner, body, strlen(body), S_FORWARD_TIMEOUT_MS,
                           &reply, &reply_len);
    free(body);
    if (rc) {
        free(reply);
        return fk__grants_fail(why, FK_ETRYAGAIN,
                               "Node %.64s, which issued this token or code, is %s", owner,
                               rc == -ETIMEDOUT ? "not answering" : "not a live member");
    }
    json_t *doc = json_loadb(reply, reply_len, 0, NULL);
    free(reply);
    json_t *answer = json_object_get(doc, "answer");
    json_t *code = json_object_get(doc, "code");
    const char *description = fk_json_str(doc, "description");
    if (json_is_true(json_object_get(doc, "ok")) && json_is_object(answer)) {
        *answer_p = json_incref(answer);
        rc = 0;
    } else if (json_is_integer(code) && s_known_code(json_integer_value(code))) {
        rc = fk__grants_fail(why, (int)json_integer_value(code), "%s",
                             description ? description : "");
    } else {
        /*  A reply without a known code: a peer of another version, or a
            bug there. The client is told the server failed, not why. */
        rc = fk__grants_fail(why, FK_ESTORE, "Node %.64s answered a forwarded request with %s",
                             owner, description ? description : "an unreadable reply");
    }
    json_decref(doc);
    return rc;
}

void
fk__grants_fwd_clear(fk__grants_fwd_t *fwd)
{
    json_decref(fwd->doc);
    json_decref(fwd->manifest);
    memset(fwd, 0, sizeof *fwd);
}

int
fk__grants_fwd_decode(const char *body, size_t len, fk__grants_fwd_t *out)
{
    memset(out, 0, sizeof *out);
    out->doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
    const json_t *origin = json_object_get(out->doc, "origin");
    const char *op = fk_json_str(out->doc, "op");
    json_t *deadline = json_object_get(out->doc, "deadline_ms");
    json_t *port = json_object_get(origin, "port");
    out->origin.scheme = fk_json_str(origin, "scheme");
    out->origin.host = fk_json_str(origin, "host");
    out->origin.base = fk_json_str(origin, "base");
    out->origin.peer = fk_json_str(origin, "peer"); /* absent from older nodes: NULL */
    bool ok = json_is_object(out->doc) && op && out->origin.scheme && out->origin.host
              && out->origin.base && json_is_integer(port) && json_integer_value(port) >= 0
              && json_integer_value(port) <= 65535 && json_is_integer(deadline)
              && json_integer_value(deadline) > 0;
    if (ok) {
        out->origin.port = (int)json_integer_value(port);
        out->deadline_ms = (int64_t)json_integer_value(deadline);
        ok = false;
        for (size_t i = 0; i < sizeof s_ops / sizeof s_ops[0]; i++) {
            if (strcmp(op, s_ops[i].name) == 0) {
                out->op = s_ops[i].op;
                out->token = fk_json_str(out->doc, s_ops[i].field);
                ok = out->token && *out->token;
            }
        }
    }
    json_t *client_id = json_object_get(out->doc, "client_id");
    if (ok && client_id && !json_is_null(client_id)) {
        out->client_id = fk_json_str(out->doc, "client_id");
        ok = out->client_id != NULL;
    }
    if (ok && out->op == FK__GRANTS_OP_REDEEM) {
        json_t *v1 = json_object_get(out->doc, "v1");
        out->v1 = json_is_true(v1);
        ok = (!v1 || json_is_boolean(v1))
             && fk_manifest_parse(json_object_get(out->doc, "manifest"), &out->manifest, NULL, 0)
                    == 0;
    }
    if (ok && out->op == FK__GRANTS_OP_REFRESH) {
        ok = out->client_id != NULL;
    }
    if (!ok) {
        fk__grants_fwd_clear(out);
        return FK_EPROTO_MALFORMED;
    }
    return 0;
}

char *
fk__grants_fwd_reply(int rc, json_t *answer, const fk_grants_why_t *why, size_t *len_p)
{
    json_t *reply = rc == 0 ? json_pack("{s:b, s:o}", "ok", 1, "answer", answer)
                            : json_pack("{s:b, s:i, s:s}", "ok", 0, "code", rc, "description",
                                        why ? why->text : "");
    if (!reply) {
        /*  A description that is not UTF-8 (it quotes a peer's text). */
        reply =
            json_pack("{s:b, s:i, s:s}", "ok", 0, "code", rc ? rc : FK_ESTORE, "description", "");
    }
    char *text = fk_json_dump(reply);
    json_decref(reply);
    *len_p = strlen(text);
    return text;
}
