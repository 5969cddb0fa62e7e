/*  fk_cluster_forward - requests forwarded between members, kept off the
    gossip loop.

    Our side: an HTTP thread that must have a record's owner do a
    single-use step (fk_cluster_request) opens its own inproc DEALER to the
    actor's request ROUTER and waits there; the actor sends the REQUEST,
    files it under its sequence number with the caller's routing id and
    deadline, and routes the owner's REPLY (only from that owner) back to
    that caller. Any number may be in flight; no thread holds a lock while
    it waits, so one owner frozen mid-request stalls only the requests for
    it.

    Their side: a REQUEST a member sends us goes to a worker thread, which
    runs the grants handler (an LMDB write, an RSA signature) and hands the
    answer back to the actor to send: the SWIM loop never waits on it, so a
    burst of forwarded work cannot delay our acks and get us suspected.

    Everything but fk_cluster_request runs on the actor's thread. */

#include "fk_clock.h"
#include "fk_cluster_priv.h"
#include "fk_err.h"
#include "fk_log.h"
#include "fk_mem.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_WORKER_HWM 256 /* forwarded requests queued for the worker before dropping */

/*  ---- the worker ------------------------------------------------------ */

typedef struct {
    fk_cluster_request_fn fn; /* the handler */
    void *arg;                /* its argument */
} s_worker_args_t;

/*  The worker: [member, seq, body] in, [member, seq, status, reply] out,
    status "0" with the handler's reply or "-" when it gave none. */
static void
s_worker(zsock_t *pipe, void *arg)
{
    s_worker_args_t args = *(s_worker_args_t *)arg;
    free(arg);
    zsock_signal(pipe, 0);
    for (;;) {
        zmsg_t *job = zmsg_recv(pipe);
        if (!job) {
            break;
        }
        char *first = zmsg_popstr(job);
        if (!first || strcmp(first, "$TERM") == 0 || zmsg_size(job) != 2) {
            bool stop = !first || strcmp(first, "$TERM") == 0;
            free(first);
            zmsg_destroy(&job);
            if (stop) {
                break;
            }
            continue;
        }
        zframe_t *seq = zmsg_pop(job);
        zframe_t *body = zmsg_pop(job);
        char *reply = NULL;
        size_t reply_len = 0;
        int rc = args.fn(args.arg, (const char *)zframe_data(body), zframe_size(body), &reply,
                         &reply_len);
        zmsg_t *done = zmsg_new();
        zmsg_addstr(done, first);
        zmsg_append(done, &seq);
        zmsg_addstr(done, rc == 0 ? "0" : "-");
        zmsg_addmem(done, rc == 0 ? reply : NULL, rc == 0 ? reply_len : 0);
        zmsg_send(&done, pipe);
        free(reply);
        free(first);
        zframe_destroy(&body);
        zmsg_destroy(&job);
    }
}

zactor_t *
fk__cluster_worker_new(fk_cluster_request_fn fn, void *arg)
{
    s_worker_args_t *args = fk_calloc(1, sizeof *args);
    args->fn = fn;
    args->arg = arg;
    zactor_t *worker = zactor_new(s_worker, args);
    zsock_set_sndhwm(worker, S_WORKER_HWM);
    /*  Never wait on a busy worker: a full queue refuses at once. */
    zsock_set_sndtimeo(worker, 0);
    return worker;
}

void
fk__cluster_on_request(fk__cluster_actor_t *self, const fk_msg_t *msg)
{
    if (!self->worker) {
        return;
    }
    size_t len = 0;
    const void *body = fk_msg_body(msg, &len);
    uint64_t seq = fk_msg_seq(msg);
    zmsg_t *job = zmsg_new();
    zmsg_addstr(job, fk_msg_from(msg));
    zmsg_addmem(job, &seq, sizeof seq);
    zmsg_addmem(job, body, len);
    /*  A full queue drops the request: the requester answers 503 at its
        deadline, which is what an overloaded owner must cause. */
    if (zmsg_send(&job, self->worker) != 0) {
        zmsg_destroy(&job);
        fk_debug("cluster: forwarded request from %s dropped: the worker is busy",
                 fk_msg_from(msg));
    }
}

int
fk__cluster_on_worker(zloop_t *loop, zsock_t *worker, void *arg)
{
    (void)loop;
    fk__cluster_actor_t *self = arg;
    zmsg_t *done = zmsg_recv(worker);
    char *member = done ? zmsg_popstr(done) : NULL;
    zframe_t *seq = done ? zmsg_pop(done) : NULL;
    char *status = done ? zmsg_popstr(done) : NULL;
    zframe_t *reply = done ? zmsg_pop(done) : NULL;
    if (member && seq && zframe_size(seq) == sizeof(uint64_t) && status
        && strcmp(status, "0") == 0 && reply) {
        uint64_t n;
        memcpy(&n, zframe_data(seq), sizeof n);
        fk_msg_t *answer = fk__cluster_msg(self, FK_MSG_REPLY);
        fk_msg_set_seq(answer, n);
        if (fk_msg_set_body(answer, zframe_data(reply), zframe_size(reply)) == 0) {
            fk__cluster_send_member(self, member, &answer);
        }
        fk_msg_destroy(&answer);
    }
    free(member);
    free(status);
    zframe_destroy(&seq);
    zframe_destroy(&reply);
    zmsg_destroy(&done);
    return 0;
}

/*  ---- our requests ------------------------------------------------------ */

void
fk__cluster_answer(fk__cluster_actor_t *self, zframe_t **caller_p, const char *status,
                   const void *body, size_t len)
{
    zmsg_t *answer = zmsg_new();
    zmsg_append(answer, caller_p);
    zmsg_addstr(answer, status);
    if (body) {
        zmsg_addmem(answer, body, len);
    }
    zmsg_send(&answer, self->requests);
}

/*  The status each outcome answers the HTTP thread with. */
static const char *const s_status[FK__CLUSTER_FWD_OUTCOMES] = {"0", "notfound", "busy", "toobig",
                                                               "timeout"};

/*  Answer a caller whose request never got a slot, and count it. */
static void
s_refuse(fk__cluster_actor_t *self, zframe_t **caller_p, fk__cluster_fwd_t outcome)
{
    fk_metrics_inc(self->metrics.forwards[outcome]);
    fk__cluster_answer(self, caller_p, s_status[outcome], NULL, 0);
}

/*  Answer the waiting caller, count the outcome and free the slot. */
static void
s_answer(fk__cluster_actor_t *self, fk__cluster_inflight_t *slot, fk__cluster_fwd_t outcome,
         const void *body, size_t len)
{
    fk_metrics_inc(self->metrics.forwards[outcome]);
    fk__cluster_answer(self, &slot->caller, s_status[outcome], body ? body : "", body ? len : 0);
    free(slot->node);
    memset(slot, 0, sizeof *slot);
}

void
fk__cluster_forward_start(fk__cluster_actor_t *self, zframe_t **caller_p, const char *node,
                          int timeout_ms, zframe_t *body)
{
    fk_member_t member;
    fk__cluster_inflight_t *slot = NULL;
    for (size_t i = 0; i < FK__CLUSTER_INFLIGHT_MAX && !slot; i++) {
        if (self->inflight[i].seq == 0) {
            slot = &self->inflight[i];
        }
    }
    if (!fk_members_find(self->members, node, &member)
        || (member.status != FK_MEMBER_ALIVE && member.status != FK_MEMBER_SUSPECT)) {
        s_refuse(self, caller_p, FK__CLUSTER_FWD_NOTFOUND);
        return;
    }
    if (!slot) {
        s_refuse(self, caller_p, FK__CLUSTER_FWD_BUSY);
        return;
    }
    fk_msg_t *msg = fk__cluster_msg(self, FK_MSG_REQUEST);
    uint64_t seq = ++self->seq;
    fk_msg_set_seq(msg, seq);
    if (fk_msg_set_body(msg, zframe_data(body), zframe_size(body)) != 0) {
        s_refuse(self, caller_p, FK__CLUSTER_FWD_TOOBIG);
    } else {
        slot->seq = seq;
        slot->node = fk_strdup(member.name);
        slot->caller = *caller_p;
        *caller_p = NULL;
        slot->deadline = fk_clock_mono_ms() + timeout_ms;
        fk__cluster_send_member(self, member.name, &msg);
    }
    fk_msg_destroy(&msg);
}

void
fk__cluster_on_reply(fk__cluster_actor_t *self, const fk_msg_t *msg)
{
    uint64_t seq = fk_msg_seq(msg);
    for (size_t i = 0; i < FK__CLUSTER_INFLIGHT_MAX; i++) {
        fk__cluster_inflight_t *slot = &self->inflight[i];
        /*  Only the member the request went to answers it; a late or
            foreign reply finds no slot. */
        if (slot->seq == seq && seq != 0 && strcmp(slot->node, fk_msg_from(msg)) == 0) {
            size_t len = 0;
            const void *body = fk_msg_body(msg, &len);
            s_answer(self, slot, FK__CLUSTER_FWD_OK, body, len);
            return;
        }
    }
}

void
fk__cluster_forward_tick(fk__cluster_actor_t *self, int64_t now)
{
    for (size_t i = 0; i < FK__CLUSTER_INFLIGHT_MAX; i++) {
        fk__cluster_inflight_t *slot = &self->inflight[i];
        if (slot->seq == 0 || now < slot->deadline) {
            continue;
        }
        /*  The owner refuses a request it reads after the deadline the
            request carries (grants), so what still sits in our queue to it
            can never be carried out behind the client's back. Still, when
            nothing else waits on that owner, drop the queue: it spares the
            owner work it must refuse when it comes back. */
        char *node = fk_strdup(slot->node);
        s_answer(self, slot, FK__CLUSTER_FWD_TIMEOUT, NULL, 0);
        bool others = false;
        for (size_t j = 0; j < FK__CLUSTER_INFLIGHT_MAX && !others; j++) {
            others = self->inflight[j].seq != 0 && strcmp(self->inflight[j].node, node) == 0;
        }
        if (!others) {
            fk__cluster_forget_peer(self, node);
        }
        free(node);
    }
}

void
fk__cluster_forward_free(fk__cluster_actor_t *self)
{
    for (size_t i = 0; i < FK__CLUSTER_INFLIGHT_MAX; i++) {
        fk__cluster_inflight_t *slot = &self->inflight[i];
        if (slot->seq != 0) {
            s_answer(self, slot, FK__CLUSTER_FWD_TIMEOUT, NULL, 0);
        }
    }
    if (self->worker) {
        /*  zactor_destroy sends $TERM: let it wait for room. */
        zsock_set_sndtimeo(self->worker, -1);
    }
    zactor_destroy(&self->worker);
}

int
fk__cluster_call(const char *endpoint, zmsg_t **command_p, int wait_ms, char **status_p,
                 zmsg_t **rest_p)
{
    *status_p = NULL;
    if (rest_p) {
        *rest_p = NULL;
    }
    zsock_t *dealer = zsock_new_dealer(endpoint);
    if (!dealer) {
        zmsg_destroy(command_p);
        return FK_ESTORE;
    }
    zsock_set_rcvtimeo(dealer, wait_ms);
    zsock_set_linger(dealer, 0);
    int rc = zmsg_send(command_p, dealer);
    zmsg_destroy(command_p);
    zmsg_t *answer = rc == 0 ? zmsg_recv(dealer) : NULL;
    zsock_destroy(&dealer);
    *status_p = answer ? zmsg_popstr(answer) : NULL;
    if (!*status_p) {
        zmsg_destroy(&answer);
        return -ETIMEDOUT;
    }
    if (rest_p) {
        *rest_p = answer;
    } else {
        zmsg_destroy(&answer);
    }
    return 0;
}
