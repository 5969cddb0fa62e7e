/*  fk_cluster - the cluster actor: SWIM probes, gossip, Scuttlebutt
    replication over ZeroMQ. See fk_cluster.h for the shape. */

#include "fk_cluster.h"

#include "fk_clock.h"
#include "fk_err.h"
#include "fk_json.h"
#include "fk_log.h"
#include "fk_mem.h"
#include "fk_members.h"
#include "fk_msg.h"
#include "fk_replica.h"

#include <czmq.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define S_TICK_MS 20               /* granularity of the probe state machine */
#define S_ANTI_ENTROPY_MS 500      /* one digest exchange per this period */
#define S_REAP_MS 1000             /* how often gone nodes are checked for purging */
#define S_RETRY_JOIN_MS 1000       /* retry-join cadence while alone */
#define S_JOIN_WAIT_MS 5000        /* how long a join command waits for an answer */
#define S_FANOUT 3                 /* peers an eager push or relay goes to */
#define S_PIGGYBACK 10             /* member entries piggybacked per message */
#define S_DIGEST_REPLY 1u          /* DIGEST flag: answer with your own digest if ahead */
#define S_DIGEST_SYNC 2u           /* DIGEST flag: a quorum round: always answer with SYNC_ACK */
#define S_DIGEST_SYNC_ACK 4u       /* DIGEST flag: the answer to a SYNC, after the deltas */
#define S_ANSWER_BUDGET (4u << 20) /* record bytes one digest answer may send */
#define S_FORWARDS_MAX 64          /* indirect probes relayed at once */
#define S_PEER_HWM 64              /* messages queued per peer before dropping */

typedef struct s_start s_start_t;

struct fk_cluster {
    zactor_t *actor;      /* the actor thread */
    s_start_t *start;     /* what the actor was started with; freed at destroy */
    pthread_mutex_t lock; /* serialises commands on the actor pipe */
    char *addr;           /* advertised gossip address */
    int wake_fd;          /* eventfd: local commits to push */
};

typedef struct {
    uint64_t seq;           /* our ping's sequence */
    char *requester;        /* address that asked for it */
    uint64_t requester_seq; /* the sequence it waits for */
    int64_t deadline;       /* forget after this */
} s_forward_t;

typedef struct {
    fk_store_t *store;                    /* borrowed */
    zsock_t *pipe;                        /* commands from fk_cluster_* */
    zsock_t *router;                      /* every inbound message */
    int wake_fd;                          /* local commits */
    fk_members_t *members;                /* membership state */
    char *name;                           /* our node name */
    char *addr;                           /* our advertised address */
    zhashx_t *peers;                      /* addr -> zsock_t * DEALER */
    uint64_t seq;                         /* last sequence number used */
    char *probe_target;                   /* member being probed, or NULL */
    uint64_t probe_seq;                   /* its ping's sequence */
    int64_t probe_start;                  /* when the ping went out */
    bool probe_indirect;                  /* indirect pings sent */
    int64_t next_probe;                   /* when the next probe starts */
    s_forward_t forwards[S_FORWARDS_MAX]; /* indirect probes in flight for others */
    uint64_t pushed;                      /* local versions pushed so far */
    char **retry;                         /* retry-join addresses */
    size_t retry_count;                   /* entries in retry */
    int64_t join_until;                   /* keep sending --join until then */
    int64_t reconnect_timeout_ms;         /* purge failed/left nodes' records after this */
    bool sync_active;                     /* a quorum round is waiting */
    uint64_t sync_version;            /* write round: our version a majority must hold (0: read) */
    size_t sync_needed;               /* other members that must confirm */
    zlistx_t *sync_confirmed;         /* names of those that did */
    int64_t sync_deadline;            /* when the round gives up */
    fk_cluster_request_fn on_request; /* handler of requests forwarded to us */
    void *on_request_arg;             /* its argument */
    uint64_t request_seq;             /* our forwarded request in flight, 0 if none */
    int64_t request_deadline;         /* when it gives up */
    char *request_addr;               /* where our request in flight went */
    char *source_host;                /* our bind host, source of our connections (NULL: any) */
    char *join_addr;                  /* a join command waiting for this address */
    int64_t join_deadline;            /* when it gives up */
    bool stopping;                    /* $TERM received */
} s_actor_t;

/*  ---- sending ------------------------------------------------------- */

static zsock_t *
s_peer(s_actor_t *self, const char *addr)
{
    zsock_t *dealer = zhashx_lookup(self->peers, addr);
    if (dealer) {
        return dealer;
    }
    dealer = zsock_new(ZMQ_DEALER);
    if (!dealer) {
        return NULL;
    }
    /*  A small queue, and drop (never block) when it is full: liveness
        comes from acks, not from queues, so a dead peer costs at most
        S_PEER_HWM stale messages. ZMQ_IMMEDIATE is off on purpose: with it,
        the first message to a new peer (a join, a ping) would be dropped
        because the connection is not up yet when it is sent. */
    zsock_set_immediate(dealer, 0);
    zsock_set_sndhwm(dealer, S_PEER_HWM);
    zsock_set_linger(dealer, 0);
    zsock_set_reconnect_ivl(dealer, 100);
    zsock_set_reconnect_ivl_max(dealer, 500);
    /*  Connect from our own gossip host, so a peer (and a firewall) sees
        our traffic come from the address we advertise, not from whatever
        the kernel routes by (on loopback: always 127.0.0.1). */
    int rc = self->source_host ? zsock_connect(dealer, "tcp://%s:0;%s", self->source_host, addr)
                               : zsock_connect(dealer, "tcp://%s", addr);
    if (rc != 0) {
        zsock_destroy(&dealer);
        return NULL;
    }
    zhashx_insert(self->peers, addr, dealer);
    return dealer;
}

static void
s_send_raw(s_actor_t *self, const char *addr, const char *buf, size_t len)
{
    if (!addr || !*addr || strcmp(addr, self->addr) == 0) {
        return;
    }
    zsock_t *dealer = s_peer(self, addr);
    if (dealer) {
        /*  EAGAIN (not connected yet, or the queue is full) drops the
            message: every protocol step here tolerates loss. */
        zmq_send(zsock_resolve(dealer), buf, len, ZMQ_DONTWAIT);
    }
}

static void
s_add_member(void *arg, const fk_member_t *member)
{
    fk_msg_member_t entry = {.name = member->name,
                             .addr = member->addr,
                             .status = (uint8_t)member->status,
                             .incarnation = member->incarnation,
                             .accuser = member->accuser};
    fk_msg_add_member(arg, &entry);
}

static fk_msg_t *
s_new_msg(s_actor_t *self, fk_msg_type_t type)
{
    fk_msg_t *msg = fk_msg_new(type, self->name, self->addr, fk_members_incarnation(self->members));
    fk_members_piggyback(self->members, S_PIGGYBACK, s_add_member, msg);
    return msg;
}

static void
s_send(s_actor_t *self, const char *addr, fk_msg_t **msg_p)
{
    char *buf = NULL;
    size_t len = 0;
    if (fk_msg_encode(*msg_p, &buf, &len) == 0) {
        s_send_raw(self, addr, buf, len);
    }
    free(buf);
    fk_msg_destroy(msg_p);
}

static const char *
s_member_addr(s_actor_t *self, const char *name)
{
    fk_member_t member;
    return fk_members_find(self->members, name, &member) ? member.addr : NULL;
}

/*  Send buf to up to S_FANOUT random live members other than exclude. */
static void
s_fanout(s_actor_t *self, const char *exclude, const char *buf, size_t len)
{
    const char *targets[S_FANOUT];
    size_t n = fk_members_random(self->members, exclude, targets, S_FANOUT);
    for (size_t i = 0; i < n; i++) {
        s_send_raw(self, s_member_addr(self, targets[i]), buf, len);
    }
}

/*  ---- membership persistence ---------------------------------------- */

static void
s_persist_member(void *arg, const fk_member_t *member)
{
    fk_store_txn_t *txn = arg;
    json_t *doc =
        json_pack("{s:s, s:I, s:I}", "addr", member->addr, "incarnation",
                  (json_int_t)member->incarnation, "since_ms", (json_int_t)member->since_ms);
    char *text = fk_json_dump(doc);
    json_decref(doc);
    fk_store_member_put(txn, member->name, (fk_store_member_status_t)member->status, text);
    free(text);
}

/*  Write every changed member to the store in one transaction, so the
    HTTP threads see a failure the moment it is decided. */
static void
s_persist(s_actor_t *self)
{
    fk_store_txn_t *txn;
    if (fk_store_write_begin(self->store, &txn) != 0) {
        return;
    }
    fk_members_drain_changed(self->members, s_persist_member, txn);
    char inc[24];
    snprintf(inc, sizeof inc, "%llu", (unsigned long long)fk_members_incarnation(self->members));
    fk_store_local_set(txn, "incarnation", inc, strlen(inc));
    if (fk_store_commit(&txn) != 0) {
        fk_warn("cluster: cannot persist the member table");
    }
}

static void
s_log_change(s_actor_t *self, const char *name)
{
    fk_member_t member;
    static const char *const names[] = {"alive", "suspect", "failed", "left"};
    if (fk_members_find(self->members, name, &member)) {
        fk_info("cluster: member %s (%s) is %s, incarnation %llu", member.name, member.addr,
                names[member.status], (unsigned long long)member.incarnation);
    }
}

/*  ---- replication ----------------------------------------------------- */

typedef struct {
    s_actor_t *actor;    /* the actor */
    const char *to;      /* address to send to, or NULL to fan out */
    const char *exclude; /* fan-out exclusion */
} s_route_t;

static void
s_route(void *arg, fk_msg_t **msg_p)
{
    s_route_t *route = arg;
    char *buf = NULL;
    size_t len = 0;
    if (fk_msg_encode(*msg_p, &buf, &len) == 0) {
        if (route->to) {
            s_send_raw(route->actor, route->to, buf, len);
        } else {
            s_fanout(route->actor, route->exclude, buf, len);
        }
    }
    free(buf);
    fk_msg_destroy(msg_p);
}

static fk_replica_self_t
s_me(s_actor_t *self)
{
    fk_replica_self_t me = {.name = self->name,
                            .addr = self->addr,
                            .incarnation = fk_members_incarnation(self->members)};
    return me;
}

/*  Push local records committed since the last push (eager push). */
static void
s_push_local(s_actor_t *self)
{
    fk_replica_self_t me = s_me(self);
    s_route_t route = {.actor = self};
    uint64_t upto = self->pushed;
    fk_replica_push(self->store, &me, self->name, self->pushed, s_route, &route, &upto);
    self->pushed = upto;
}

static void
s_send_digest(s_actor_t *self, const char *addr, uint32_t flags)
{
    fk_msg_t *msg = s_new_msg(self, FK_MSG_DIGEST);
    fk_msg_set_flags(msg, flags);
    if (fk_replica_digest(self->store, msg) != 0) {
        fk_msg_destroy(&msg);
        return;
    }
    s_send(self, addr, &msg);
}

/*  ---- inbound --------------------------------------------------------- */

static void
s_merge_header_and_gossip(s_actor_t *self, const fk_msg_t *msg, int64_t now)
{
    bool changed = false;
    /*  A member back with a new incarnation restarted: our connection to it
        may sit in ZeroMQ's reconnect backoff, which would fail our first
        probes of it and make us suspect a healthy node. Start afresh. */
    fk_member_t known;
    if (fk_members_find(self->members, fk_msg_from(msg), &known)
        && fk_msg_incarnation(msg) > known.incarnation) {
        zhashx_delete(self->peers, known.addr);
    }
    /*  A message from X proves X was alive at the incarnation it states. */
    fk_members_change_t c = fk_members_merge(self->members, fk_msg_from(msg), fk_msg_from_addr(msg),
                                             FK_MEMBER_ALIVE, fk_msg_incarnation(msg), NULL, now);
    if (c == FK_MEMBERS_CHANGED) {
        s_log_change(self, fk_msg_from(msg));
        changed = true;
    }
    size_t count = 0;
    const fk_msg_member_t *entries = fk_msg_members(msg, &count);
    for (size_t i = 0; i < count; i++) {
        /*  Lifeguard counts confirmations per accuser. An entry from a peer
            that sends no accuser is taken as the relayer's own accusation. */
        const char *accuser = entries[i].accuser ? entries[i].accuser : fk_msg_from(msg);
        c = fk_members_merge(self->members, entries[i].name, entries[i].addr,
                             (fk_member_status_t)entries[i].status, entries[i].incarnation, accuser,
                             now);
        if (entries[i].status == FK_MEMBER_SUSPECT) {
            fk_members_confirm(self->members, entries[i].name, entries[i].incarnation, accuser);
        }
        if (c == FK_MEMBERS_CHANGED) {
            s_log_change(self, entries[i].name);
            changed = true;
        } else if (c == FK_MEMBERS_REFUTED) {
            fk_info("cluster: refuted an accusation; incarnation now %llu",
                    (unsigned long long)fk_members_incarnation(self->members));
            changed = true;
        }
    }
    if (changed) {
        s_persist(self);
    }
}

static void
s_on_ping(s_actor_t *self, const fk_msg_t *msg)
{
    fk_msg_t *ack = s_new_msg(self, FK_MSG_ACK);
    fk_msg_set_seq(ack, fk_msg_seq(msg));
    s_send(self, fk_msg_from_addr(msg), &ack);
}

static void
s_on_ack(s_actor_t *self, const fk_msg_t *msg, int64_t now)
{
    uint64_t seq = fk_msg_seq(msg);
    if (self->probe_target && seq == self->probe_seq) {
        fk_members_probe_ok(self->members, self->probe_target, now);
        free(self->probe_target);
        self->probe_target = NULL;
        return;
    }
    /*  An ack for a ping we sent on someone's behalf: pass it on. */
    for (size_t i = 0; i < S_FORWARDS_MAX; i++) {
        s_forward_t *fwd = &self->forwards[i];
        if (fwd->requester && fwd->seq == seq) {
            fk_msg_t *relay = s_new_msg(self, FK_MSG_ACK);
            fk_msg_set_seq(relay, fwd->requester_seq);
            s_send(self, fwd->requester, &relay);
            free(fwd->requester);
            fwd->requester = NULL;
            return;
        }
    }
}

static void
s_on_ping_req(s_actor_t *self, const fk_msg_t *msg, int64_t now)
{
    const char *target = fk_msg_target_addr(msg);
    if (!target) {
        return;
    }
    for (size_t i = 0; i < S_FORWARDS_MAX; i++) {
        s_forward_t *fwd = &self->forwards[i];
        if (fwd->requester && fwd->deadline < now) {
            free(fwd->requester);
            fwd->requester = NULL;
        }
        if (!fwd->requester) {
            fwd->seq = ++self->seq;
            fwd->requester = fk_strdup(fk_msg_from_addr(msg));
            fwd->requester_seq = fk_msg_seq(msg);
            fwd->deadline = now + 4 * fk_members_probe_interval(self->members);
            fk_msg_t *ping = s_new_msg(self, FK_MSG_PING);
            fk_msg_set_seq(ping, fwd->seq);
            s_send(self, target, &ping);
            return;
        }
    }
}

static void
s_on_delta(s_actor_t *self, const fk_msg_t *msg, const char *raw, size_t len)
{
    int applied = fk_replica_apply(self->store, msg);
    if (applied > 0) {
        /*  New to us, so probably new to others: relay (epidemic). A node
            that already had it applies nothing and stops the wave. */
        s_fanout(self, fk_msg_from(msg), raw, len);
    } else if (applied < 0) {
        fk_debug("cluster: delta from %s refused: %s", fk_msg_from(msg), fk_strerror(applied));
    }
}

/*  Does this SYNC_ACK digest confirm the quorum round? A read round needs
    us to hold everything the peer holds (its deltas arrived before its
    digest on the same connection); a write round needs the peer to hold
    our writes up to sync_version. */
static bool
s_sync_confirms(s_actor_t *self, const fk_msg_t *msg)
{
    size_t count = 0;
    const fk_msg_digest_t *entries = fk_msg_digests(msg, &count);
    if (self->sync_version) {
        for (size_t i = 0; i < count; i++) {
            if (strcmp(entries[i].owner, self->name) == 0) {
                return entries[i].version >= self->sync_version;
            }
        }
        return false;
    }
    return !fk_replica_peer_ahead(self->store, msg);
}

static void
s_sync_check(s_actor_t *self, const fk_msg_t *msg)
{
    if (!self->sync_active) {
        return;
    }
    if (!s_sync_confirms(self, msg)) {
        /*  The deltas it lacked went out just before this (s_on_digest
            answers every digest first): ask again; its next answer comes
            after it applied them. Bounded by the round's deadline. */
        s_send_digest(self, fk_msg_from_addr(msg), S_DIGEST_SYNC);
        return;
    }
    for (const char *name = zlistx_first(self->sync_confirmed); name;
         name = zlistx_next(self->sync_confirmed)) {
        if (strcmp(name, fk_msg_from(msg)) == 0) {
            return;
        }
    }
    zlistx_add_end(self->sync_confirmed, fk_strdup(fk_msg_from(msg)));
    if (zlistx_size(self->sync_confirmed) >= self->sync_needed) {
        self->sync_active = false;
        zstr_send(self->pipe, "0");
    }
}

static void
s_on_digest(s_actor_t *self, const fk_msg_t *msg)
{
    fk_replica_self_t me = s_me(self);
    s_route_t route = {.actor = self, .to = fk_msg_from_addr(msg)};
    uint32_t flags = fk_msg_flags(msg);
    fk_replica_answer(self->store, &me, msg, S_ANSWER_BUDGET, s_route, &route);
    if (flags & S_DIGEST_SYNC) {
        /*  Our digest goes after the deltas, so when it arrives the peer
            already applied what we sent. */
        s_send_digest(self, fk_msg_from_addr(msg), S_DIGEST_SYNC_ACK);
    } else if ((flags & S_DIGEST_REPLY) && fk_replica_peer_ahead(self->store, msg)) {
        s_send_digest(self, fk_msg_from_addr(msg), 0);
    }
    if (flags & S_DIGEST_SYNC_ACK) {
        s_sync_check(self, msg);
    }
}

/*  Start a quorum round: ask every other live member for its digest. A
    majority of the live members (us included) must confirm. */
static void
s_sync_start(s_actor_t *self, uint64_t version, int timeout_ms)
{
    size_t live = fk_members_live(self->members);
    size_t needed = live / 2; /* others, beyond us: a majority of live is live/2 + 1 */
    zlistx_purge(self->sync_confirmed);
    if (needed == 0) {
        zstr_send(self->pipe, "0");
        return;
    }
    self->sync_active = true;
    self->sync_version = version;
    self->sync_needed = needed;
    self->sync_deadline = fk_clock_mono_ms() + timeout_ms;
    for (size_t i = 0; i < fk_members_count(self->members); i++) {
        fk_member_t member;
        if (fk_members_get(self->members, i, &member) && strcmp(member.name, self->name) != 0
            && (member.status == FK_MEMBER_ALIVE || member.status == FK_MEMBER_SUSPECT)) {
            s_send_digest(self, member.addr, S_DIGEST_SYNC);
        }
    }
}

static void
s_on_join(s_actor_t *self, const fk_msg_t *msg)
{
    /*  The joiner's message carried its digest: answer it at once, and ask
        for what it has that we lack. */
    s_on_digest(self, msg);
    s_send_digest(self, fk_msg_from_addr(msg), S_DIGEST_REPLY);
}

/*  A request forwarded to us because we own the record it is about. */
static void
s_on_request(s_actor_t *self, const fk_msg_t *msg)
{
    if (!self->on_request) {
        return;
    }
    size_t len = 0;
    const char *body = fk_msg_body(msg, &len);
    char *reply = NULL;
    size_t reply_len = 0;
    if (self->on_request(self->on_request_arg, body, len, &reply, &reply_len) == 0) {
        fk_msg_t *answer = s_new_msg(self, FK_MSG_REPLY);
        fk_msg_set_seq(answer, fk_msg_seq(msg));
        if (fk_msg_set_body(answer, reply, reply_len) == 0) {
            s_send(self, fk_msg_from_addr(msg), &answer);
        }
        fk_msg_destroy(&answer);
    }
    free(reply);
}

static void
s_on_reply(s_actor_t *self, const fk_msg_t *msg)
{
    if (self->request_seq == 0 || fk_msg_seq(msg) != self->request_seq) {
        return; /* late or foreign: the requester already gave up */
    }
    size_t len = 0;
    const char *body = fk_msg_body(msg, &len);
    zmsg_t *reply = zmsg_new();
    zmsg_addstr(reply, "0");
    zmsg_addmem(reply, body, len);
    zmsg_send(&reply, self->pipe);
    self->request_seq = 0;
}

static void
s_join_answered(s_actor_t *self, const char *from_addr)
{
    if (self->join_addr && strcmp(self->join_addr, from_addr) == 0) {
        zstr_send(self->pipe, "0");
        free(self->join_addr);
        self->join_addr = NULL;
    }
}

static int
s_on_router(zloop_t *loop, zsock_t *router, void *arg)
{
    (void)loop;
    s_actor_t *self = arg;
    zmsg_t *frames = zmsg_recv(router);
    if (!frames) {
        return 0;
    }
    zframe_t *identity = zmsg_pop(frames);
    zframe_t *payload = zmsg_pop(frames);
    zframe_destroy(&identity);
    fk_msg_t *msg = NULL;
    if (payload && zmsg_size(frames) == 0
        && fk_msg_decode(zframe_data(payload), zframe_size(payload), &msg) == 0
        && strcmp(fk_msg_from(msg), self->name) != 0) {
        int64_t now = fk_clock_mono_ms();
        s_merge_header_and_gossip(self, msg, now);
        s_join_answered(self, fk_msg_from_addr(msg));
        switch (fk_msg_type(msg)) {
        case FK_MSG_PING:
            s_on_ping(self, msg);
            break;
        case FK_MSG_ACK:
            s_on_ack(self, msg, now);
            break;
        case FK_MSG_PING_REQ:
            s_on_ping_req(self, msg, now);
            break;
        case FK_MSG_DELTA:
            s_on_delta(self, msg, (const char *)zframe_data(payload), zframe_size(payload));
            break;
        case FK_MSG_DIGEST:
            s_on_digest(self, msg);
            break;
        case FK_MSG_JOIN:
            s_on_join(self, msg);
            break;
        case FK_MSG_REQUEST:
            s_on_request(self, msg);
            break;
        case FK_MSG_REPLY:
            s_on_reply(self, msg);
            break;
        default:
            /*  LEAVE carries its news in the header and gossip, merged
                above; requests and replies come later. */
            break;
        }
    }
    fk_msg_destroy(&msg);
    zframe_destroy(&payload);
    zmsg_destroy(&frames);
    return 0;
}

/*  ---- timers ---------------------------------------------------------- */

static void
s_probe_step(s_actor_t *self, int64_t now)
{
    if (self->probe_target) {
        int64_t elapsed = now - self->probe_start;
        if (!self->probe_indirect && elapsed >= fk_members_probe_timeout(self->members)) {
            /*  No direct ack: ask k others (SWIM's indirect probe), which
                tells a dead member from a lossy path between two. */
            const char *helpers[8];
            size_t n = fk_members_random(self->members, self->probe_target, helpers, 3);
            const char *target_addr = s_member_addr(self, self->probe_target);
            for (size_t i = 0; i < n && target_addr; i++) {
                fk_msg_t *req = s_new_msg(self, FK_MSG_PING_REQ);
                fk_msg_set_seq(req, self->probe_seq);
                fk_msg_set_target(req, self->probe_target, target_addr);
                s_send(self, s_member_addr(self, helpers[i]), &req);
            }
            self->probe_indirect = true;
        }
        if (elapsed >= fk_members_probe_interval(self->members)) {
            if (fk_members_probe_failed(self->members, self->probe_target, now)
                == FK_MEMBERS_CHANGED) {
                s_log_change(self, self->probe_target);
                s_persist(self);
            }
            free(self->probe_target);
            self->probe_target = NULL;
        }
    }
    if (!self->probe_target && now >= self->next_probe) {
        const char *target = fk_members_next_probe(self->members);
        self->next_probe = now + fk_members_probe_interval(self->members);
        if (target) {
            self->probe_target = fk_strdup(target);
            self->probe_seq = ++self->seq;
            self->probe_start = now;
            self->probe_indirect = false;
            fk_msg_t *ping = s_new_msg(self, FK_MSG_PING);
            fk_msg_set_seq(ping, self->probe_seq);
            s_send(self, s_member_addr(self, target), &ping);
        }
    }
}

static int
s_on_tick(zloop_t *loop, int timer_id, void *arg)
{
    (void)loop;
    (void)timer_id;
    s_actor_t *self = arg;
    int64_t now = fk_clock_mono_ms();
    if (fk_members_expire(self->members, now) > 0) {
        for (size_t i = 0; i < fk_members_count(self->members); i++) {
            fk_member_t member;
            if (fk_members_get(self->members, i, &member) && member.status == FK_MEMBER_FAILED
                && member.since_ms == now) {
                s_log_change(self, member.name);
            }
        }
        s_persist(self);
    }
    s_probe_step(self, now);
    /*  Failed members get a ping now and then: if one answers, its refuted
        incarnation brings it back, and split clusters merge again. */
    const char *retry = fk_members_next_reconnect(self->members, now);
    if (retry) {
        /*  A fresh connection each time: the old one may sit in TCP
            retransmission backoff for minutes after a long partition. */
        const char *retry_addr = s_member_addr(self, retry);
        if (retry_addr) {
            zhashx_delete(self->peers, retry_addr);
        }
        fk_msg_t *ping = s_new_msg(self, FK_MSG_PING);
        fk_msg_set_seq(ping, ++self->seq);
        s_send(self, s_member_addr(self, retry), &ping);
    }
    if (self->sync_active && now >= self->sync_deadline) {
        self->sync_active = false;
        zstr_send(self->pipe, "timeout");
    }
    if (self->request_seq && now >= self->request_deadline) {
        /*  Drop what is still queued for the owner: a request it would
            carry out after we answered "unavailable" would burn the
            client's token behind its back. */
        if (self->request_addr) {
            zhashx_delete(self->peers, self->request_addr);
        }
        zstr_send(self->pipe, "timeout");
        self->request_seq = 0;
    }
    if (self->join_addr && now >= self->join_deadline) {
        zstr_send(self->pipe, "timeout");
        free(self->join_addr);
        self->join_addr = NULL;
    }
    return 0;
}

/*  A node failed or gone for longer than the reconnect timeout will not
    come back as it was: forget its records, as Consul reaps a member after
    reconnect_timeout. Should it return, it is sent nothing stale and
    republishes its own records. */
static int
s_on_reap(zloop_t *loop, int timer_id, void *arg)
{
    (void)loop;
    (void)timer_id;
    s_actor_t *self = arg;
    int64_t now = fk_clock_mono_ms();
    for (size_t i = 0; i < fk_members_count(self->members); i++) {
        fk_member_t member;
        if (!fk_members_get(self->members, i, &member)
            || (member.status != FK_MEMBER_FAILED && member.status != FK_MEMBER_LEFT)
            || now - member.since_ms < self->reconnect_timeout_ms) {
            continue;
        }
        fk_store_txn_t *txn;
        if (fk_store_write_begin(self->store, &txn) != 0) {
            return 0;
        }
        if (fk_store_owner_version(txn, member.name) > 0
            && fk_store_drop_owner(txn, member.name) == 0 && fk_store_commit(&txn) == 0) {
            fk_info("cluster: purged the records of %s, gone longer than the reconnect timeout",
                    member.name);
        }
        fk_store_txn_end(&txn);
    }
    return 0;
}

static int
s_on_anti_entropy(zloop_t *loop, int timer_id, void *arg)
{
    (void)loop;
    (void)timer_id;
    s_actor_t *self = arg;
    const char *peer[1];
    if (fk_members_random(self->members, NULL, peer, 1) == 1) {
        s_send_digest(self, s_member_addr(self, peer[0]), S_DIGEST_REPLY);
    }
    return 0;
}

static void
s_send_join(s_actor_t *self, const char *addr)
{
    fk_msg_t *msg = s_new_msg(self, FK_MSG_JOIN);
    if (fk_replica_digest(self->store, msg) == 0) {
        s_send(self, addr, &msg);
    }
    fk_msg_destroy(&msg);
}

static int
s_on_retry_join(zloop_t *loop, int timer_id, void *arg)
{
    (void)loop;
    (void)timer_id;
    s_actor_t *self = arg;
    /*  While we know no other live member, keep knocking on every
        retry-join address (boot order in compose files, HPC head nodes). */
    if (fk_members_live(self->members) <= 1) {
        for (size_t i = 0; i < self->retry_count; i++) {
            s_send_join(self, self->retry[i]);
        }
    }
    return 0;
}

static int
s_on_wake(zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    (void)loop;
    (void)item;
    s_actor_t *self = arg;
    uint64_t count;
    if (read(self->wake_fd, &count, sizeof count) < 0 && errno != EAGAIN) {
        fk_warn("cluster: reading the commit signal failed");
    }
    s_push_local(self);
    return 0;
}

/*  ---- commands -------------------------------------------------------- */

static void
s_leave(s_actor_t *self)
{
    fk_members_leave(self->members, fk_clock_mono_ms());
    s_persist(self);
    /*  Tell every member directly: they mark us left at once instead of
        failing us after a suspicion timeout. */
    for (size_t i = 0; i < fk_members_count(self->members); i++) {
        fk_member_t member;
        if (fk_members_get(self->members, i, &member) && strcmp(member.name, self->name) != 0
            && (member.status == FK_MEMBER_ALIVE || member.status == FK_MEMBER_SUSPECT)) {
            fk_msg_t *msg = s_new_msg(self, FK_MSG_LEAVE);
            s_send(self, member.addr, &msg);
        }
    }
}

static int
s_on_pipe(zloop_t *loop, zsock_t *pipe, void *arg)
{
    (void)loop;
    s_actor_t *self = arg;
    zmsg_t *command = zmsg_recv(pipe);
    if (!command) {
        return -1;
    }
    char *verb = zmsg_popstr(command);
    char *operand = zmsg_popstr(command);
    int rc = 0;
    if (!verb || strcmp(verb, "$TERM") == 0) {
        rc = -1;
    } else if (strcmp(verb, "JOIN") == 0 && operand) {
        free(self->join_addr);
        self->join_addr = fk_strdup(operand);
        self->join_deadline = fk_clock_mono_ms() + S_JOIN_WAIT_MS;
        s_send_join(self, operand);
    } else if (strcmp(verb, "REQUEST") == 0 && operand && zmsg_size(command) == 2) {
        char *timeout = zmsg_popstr(command);
        zframe_t *body = zmsg_pop(command);
        fk_member_t member;
        if (!fk_members_find(self->members, operand, &member)
            || (member.status != FK_MEMBER_ALIVE && member.status != FK_MEMBER_SUSPECT)) {
            zstr_send(pipe, "notfound");
        } else {
            fk_msg_t *msg = s_new_msg(self, FK_MSG_REQUEST);
            self->request_seq = ++self->seq;
            fk_msg_set_seq(msg, self->request_seq);
            self->request_deadline = fk_clock_mono_ms() + atoi(timeout ? timeout : "0");
            if (fk_msg_set_body(msg, zframe_data(body), zframe_size(body)) != 0) {
                self->request_seq = 0;
                zstr_send(pipe, "toobig");
            } else {
                free(self->request_addr);
                self->request_addr = fk_strdup(member.addr);
                s_send(self, member.addr, &msg);
            }
            fk_msg_destroy(&msg);
        }
        free(timeout);
        zframe_destroy(&body);
    } else if (strcmp(verb, "SYNC") == 0 && operand) {
        char *version = zmsg_popstr(command);
        s_sync_start(self, version ? strtoull(version, NULL, 10) : 0, atoi(operand));
        free(version);
    } else if (strcmp(verb, "LEAVE") == 0) {
        s_leave(self);
        zstr_send(pipe, "0");
    } else if (strcmp(verb, "FORCE") == 0 && operand) {
        int found = fk_members_force_leave(self->members, operand, fk_clock_mono_ms());
        if (found == 0) {
            s_persist(self);
        }
        zstr_send(pipe, found == 0 ? "0" : "notfound");
    } else {
        zstr_send(pipe, "invalid");
    }
    free(verb);
    free(operand);
    zmsg_destroy(&command);
    return rc;
}

/*  ---- start-up ------------------------------------------------------------ */

typedef struct {
    fk_members_t *members; /* table being loaded */
    const char *self;      /* our name, skipped */
} s_load_t;

static int
s_load_member(void *arg, const char *name, fk_store_member_status_t status, const char *json)
{
    s_load_t *load = arg;
    if (strcmp(name, load->self) == 0) {
        return 0;
    }
    json_t *doc = json_loads(json, 0, NULL);
    const char *addr = fk_json_str(doc, "addr");
    json_int_t inc = fk_json_int(doc, "incarnation", 0);
    /*  After a restart every member we knew alive is assumed alive again
        and probed; failed and departed ones keep their status. */
    fk_member_status_t as = status == FK_STORE_MEMBER_FAILED ? FK_MEMBER_FAILED
                            : status == FK_STORE_MEMBER_LEFT ? FK_MEMBER_LEFT
                                                             : FK_MEMBER_ALIVE;
    if (addr) {
        fk_members_merge(load->members, name, addr, as, (uint64_t)inc, NULL, fk_clock_mono_ms());
    }
    json_decref(doc);
    return 0;
}

struct s_start {
    fk_cluster_opts_t
        opts;          /* copied options (strings borrowed from the caller until start returns) */
    fk_store_t *store; /* the store */
    zsock_t *router;   /* bound in fk_cluster_start */
    char *addr;        /* advertised address */
    char *source_host; /* bind host when not a wildcard, else NULL */
    int wake_fd;       /* commit signal */
    uint64_t incarnation; /* our incarnation for this run */
    char **join;          /* --join addresses (copied) */
    size_t join_count;    /* entries */
    char **retry;         /* --retry-join addresses (copied) */
    size_t retry_count;   /* entries */
};

static void
s_actor(zsock_t *pipe, void *arg)
{
    s_start_t *start = arg;
    s_actor_t self = {0};
    self.store = start->store;
    self.pipe = pipe;
    self.router = start->router;
    self.wake_fd = start->wake_fd;
    self.name = fk_strdup(fk_store_node(start->store));
    self.addr = fk_strdup(start->addr);
    self.sync_confirmed = zlistx_new();
    zlistx_set_destructor(self.sync_confirmed, (zlistx_destructor_fn *)zstr_free);
    self.peers = zhashx_new();
    zhashx_set_destructor(self.peers, (zhashx_destructor_fn *)zsock_destroy);
    fk_members_opts_t mopts = {.probe_interval_ms = start->opts.probe_interval_ms};
    self.members = fk_members_new(self.name, self.addr, start->incarnation, &mopts);
    self.reconnect_timeout_ms =
        start->opts.reconnect_timeout_ms ? start->opts.reconnect_timeout_ms : 72ll * 3600 * 1000;
    self.source_host = start->source_host ? fk_strdup(start->source_host) : NULL;
    self.on_request = start->opts.on_request;
    self.on_request_arg = start->opts.on_request_arg;
    self.retry = start->retry;
    self.retry_count = start->retry_count;
    self.join_until = fk_clock_mono_ms() + 10000;

    fk_store_txn_t *txn;
    if (fk_store_read_begin(self.store, &txn) == 0) {
        s_load_t load = {.members = self.members, .self = self.name};
        fk_store_members(txn, s_load_member, &load);
        /*  Everything committed before we started counts as pushed: peers
            get it by anti-entropy. */
        self.pushed = fk_store_owner_version(txn, self.name);
        fk_store_txn_end(&txn);
    }
    s_persist(&self);

    zloop_t *loop = zloop_new();
    zloop_reader(loop, pipe, s_on_pipe, &self);
    zloop_reader(loop, self.router, s_on_router, &self);
    zmq_pollitem_t wake = {.socket = NULL, .fd = self.wake_fd, .events = ZMQ_POLLIN};
    zloop_poller(loop, &wake, s_on_wake, &self);
    zloop_timer(loop, S_TICK_MS, 0, s_on_tick, &self);
    zloop_timer(loop, S_ANTI_ENTROPY_MS, 0, s_on_anti_entropy, &self);
    zloop_timer(loop, S_RETRY_JOIN_MS, 0, s_on_retry_join, &self);
    zloop_timer(loop, S_REAP_MS, 0, s_on_reap, &self);
    for (size_t i = 0; i < start->join_count; i++) {
        s_send_join(&self, start->join[i]);
    }
    zsock_signal(pipe, 0);
    zloop_start(loop);

    zloop_destroy(&loop);
    free(self.probe_target);
    free(self.request_addr);
    free(self.source_host);
    free(self.join_addr);
    for (size_t i = 0; i < S_FORWARDS_MAX; i++) {
        free(self.forwards[i].requester);
    }
    zhashx_destroy(&self.peers);
    zlistx_destroy(&self.sync_confirmed);
    fk_members_destroy(&self.members);
    free(self.name);
    free(self.addr);
}

static void
s_on_commit(void *arg)
{
    fk_cluster_t *self = arg;
    uint64_t one = 1;
    /*  An eventfd write never blocks (the counter just grows) and is safe
        from any thread: the actor wakes and pushes everything new. */
    if (write(self->wake_fd, &one, sizeof one) < 0) {
        fk_debug("cluster: commit signal not delivered");
    }
}

static char **
s_copy_list(const char *const *list, size_t count)
{
    char **copy = fk_calloc(count + 1, sizeof *copy);
    for (size_t i = 0; i < count; i++) {
        copy[i] = fk_strdup(list[i]);
    }
    return copy;
}

int
fk_cluster_start(fk_cluster_t **self_p, const fk_cluster_opts_t *opts)
{
    *self_p = NULL;
    const char *colon = opts->bind ? strrchr(opts->bind, ':') : NULL;
    if (!colon || colon == opts->bind) {
        return FK_ECONFIG;
    }
    char *host = fk_strndup(opts->bind, (size_t)(colon - opts->bind));
    const char *advertise = opts->advertise && *opts->advertise ? opts->advertise : host;
    if (strcmp(advertise, "0.0.0.0") == 0) {
        fk_error("cluster: binding %s needs --advertise: others cannot reach 0.0.0.0", opts->bind);
        free(host);
        return FK_ECONFIG;
    }
    /*  CZMQ must not install signal handlers: the agent's main thread
        takes every signal with sigtimedwait. */
    zsys_handler_set(NULL);
    zsock_t *router = zsock_new(ZMQ_ROUTER);
    if (!router) {
        free(host);
        return -ENOMEM;
    }
    zsock_set_rcvhwm(router, 10000);
    zsock_set_linger(router, 0);
    /*  Port 0 goes to the kernel, which picks a random free port. (CZMQ's
        own "*" scans upward from 49152, so every node of a machine would
        get the same few ports, and a restarted node would find its old
        port taken by a neighbour.) The bound port is read back either way. */
    char *endpoint = fk_asprintf("tcp://%s", opts->bind);
    int port = -1;
    if (zmq_bind(zsock_resolve(router), endpoint) == 0) {
        char *last = zsock_last_endpoint(router);
        const char *last_colon = last ? strrchr(last, ':') : NULL;
        port = last_colon ? atoi(last_colon + 1) : -1;
        free(last);
    }
    free(endpoint);
    if (port <= 0) {
        int err = errno ? -errno : -EADDRINUSE;
        fk_error("cluster: cannot bind %s: %s", opts->bind, zmq_strerror(errno));
        zsock_destroy(&router);
        free(host);
        return err;
    }
    fk_cluster_t *self = fk_calloc(1, sizeof *self);
    self->addr = fk_asprintf("%s:%d", advertise, port);
    char *source_host =
        strcmp(host, "0.0.0.0") != 0 && strcmp(host, "*") != 0 ? fk_strdup(host) : NULL;
    free(host);
    self->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    pthread_mutex_init(&self->lock, NULL);

    /*  Our incarnation must exceed any a peer may still hold about us
        (from before a restart), or an old "failed" would stick. */
    uint64_t incarnation = 1;
    fk_store_txn_t *txn;
    if (fk_store_read_begin(opts->store, &txn) == 0) {
        char *value = NULL;
        size_t len = 0;
        if (fk_store_local_get(txn, "incarnation", &value, &len) == 0) {
            incarnation = strtoull(value, NULL, 10) + 1;
        }
        free(value);
        fk_store_txn_end(&txn);
    }

    s_start_t *start = fk_calloc(1, sizeof *start);
    start->opts = *opts;
    start->store = opts->store;
    start->router = router;
    start->addr = self->addr;
    start->source_host = source_host;
    start->wake_fd = self->wake_fd;
    start->incarnation = incarnation;
    start->join = s_copy_list(opts->join, opts->join_count);
    start->join_count = opts->join_count;
    start->retry = s_copy_list(opts->retry_join, opts->retry_join_count);
    start->retry_count = opts->retry_join_count;
    self->start = start;
    fk_store_on_local_commit(opts->store, s_on_commit, self);
    self->actor = zactor_new(s_actor, start);
    /*  zactor_new returns after the actor signalled: it copied what it
        needs, except the retry list, which lives until destroy. */
    fk_strv_free(start->join, start->join_count);
    start->join = NULL;
    fk_info("cluster: gossip on %s (advertised %s), incarnation %llu", opts->bind, self->addr,
            (unsigned long long)incarnation);
    *self_p = self;
    return 0;
}

void
fk_cluster_destroy(fk_cluster_t **self_p)
{
    if (!self_p || !*self_p) {
        return;
    }
    fk_cluster_t *self = *self_p;
    zactor_destroy(&self->actor);
    fk_store_on_local_commit(self->start->store, NULL, NULL);
    zsock_destroy(&self->start->router);
    free(self->start->source_host);
    fk_strv_free(self->start->retry, self->start->retry_count);
    free(self->start);
    close(self->wake_fd);
    pthread_mutex_destroy(&self->lock);
    free(self->addr);
    free(self);
    *self_p = NULL;
}

const char *
fk_cluster_addr(const fk_cluster_t *self)
{
    return self->addr;
}

static int
s_command(fk_cluster_t *self, const char *verb, const char *operand)
{
    pthread_mutex_lock(&self->lock);
    if (operand) {
        zstr_sendx(self->actor, verb, operand, NULL);
    } else {
        zstr_send(self->actor, verb);
    }
    char *reply = zstr_recv(self->actor);
    pthread_mutex_unlock(&self->lock);
    int rc = !reply                           ? FK_ESTORE
             : strcmp(reply, "0") == 0        ? 0
             : strcmp(reply, "timeout") == 0  ? -ETIMEDOUT
             : strcmp(reply, "notfound") == 0 ? FK_ENOTFOUND
                                              : FK_EINVAL_INPUT;
    free(reply);
    return rc;
}

int
fk_cluster_join(fk_cluster_t *self, const char *addr)
{
    const char *colon = addr ? strrchr(addr, ':') : NULL;
    if (!colon || colon == addr || !colon[1] || strchr(addr, '/') || strlen(addr) > 255) {
        return FK_EINVAL_INPUT;
    }
    return s_command(self, "JOIN", addr);
}

int
fk_cluster_request(fk_cluster_t *self, const char *node, const char *body, size_t len,
                   int timeout_ms, char **reply_p, size_t *reply_len_p)
{
    *reply_p = NULL;
    *reply_len_p = 0;
    if (len > FK_MSG_MAX_BODY) {
        return FK_ETOOBIG;
    }
    char timeout[16];
    snprintf(timeout, sizeof timeout, "%d", timeout_ms);
    zmsg_t *command = zmsg_new();
    zmsg_addstr(command, "REQUEST");
    zmsg_addstr(command, node);
    zmsg_addstr(command, timeout);
    zmsg_addmem(command, body, len);
    pthread_mutex_lock(&self->lock);
    zmsg_send(&command, self->actor);
    zmsg_t *reply = zmsg_recv(self->actor);
    pthread_mutex_unlock(&self->lock);
    char *status = reply ? zmsg_popstr(reply) : NULL;
    int rc = !status                           ? FK_ESTORE
             : strcmp(status, "0") == 0        ? 0
             : strcmp(status, "timeout") == 0  ? -ETIMEDOUT
             : strcmp(status, "notfound") == 0 ? FK_ENOTFOUND
                                               : FK_ETOOBIG;
    if (rc == 0) {
        zframe_t *frame = zmsg_pop(reply);
        size_t size = frame ? zframe_size(frame) : 0;
        *reply_p = fk_malloc(size + 1);
        if (size) {
            memcpy(*reply_p, zframe_data(frame), size);
        }
        (*reply_p)[size] = '\0';
        *reply_len_p = size;
        zframe_destroy(&frame);
    }
    free(status);
    zmsg_destroy(&reply);
    return rc;
}

int
fk_cluster_sync(fk_cluster_t *self, uint64_t version, int timeout_ms)
{
    char timeout[16];
    char ver[24];
    snprintf(timeout, sizeof timeout, "%d", timeout_ms);
    snprintf(ver, sizeof ver, "%llu", (unsigned long long)version);
    pthread_mutex_lock(&self->lock);
    zstr_sendx(self->actor, "SYNC", timeout, ver, NULL);
    char *reply = zstr_recv(self->actor);
    pthread_mutex_unlock(&self->lock);
    int rc = reply && strcmp(reply, "0") == 0 ? 0 : -ETIMEDOUT;
    free(reply);
    return rc;
}

int
fk_cluster_leave(fk_cluster_t *self)
{
    return s_command(self, "LEAVE", NULL);
}

int
fk_cluster_force_leave(fk_cluster_t *self, const char *name)
{
    return s_command(self, "FORCE", name);
}
