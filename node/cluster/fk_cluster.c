/*  fk_cluster - the cluster actor: SWIM probes, gossip, Scuttlebutt
    replication over the transport, among admitted members. See
    fk_cluster.h for the shape; admissions are in fk_cluster_admit.c. */

#include "fk_cluster.h"

#include "fk_clock.h"
#include "fk_cluster_priv.h"
#include "fk_crypto.h"
#include "fk_err.h"
#include "fk_json.h"
#include "fk_log.h"
#include "fk_mem.h"
#include "fk_replica.h"

#include <czmq.h>
#include <ctype.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define S_TICK_MS 20               /* granularity of the probe state machine */
#define S_START_HEALTH 3           /* Lifeguard multiplier at start: probe timeouts x4 */
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
#define S_REFUSED_LOG_MS 10000     /* at most one "dropped a non-member's frame" line per this */

typedef struct s_start s_start_t;

struct fk_cluster {
    zactor_t *actor;      /* the actor thread */
    s_start_t *start;     /* what the actor was started with; freed at destroy */
    char *addr;           /* advertised gossip address */
    char *endpoint;       /* the actor's inproc command ROUTER (every command, each caller
                             on a DEALER of its own) */
    int wake_fd;          /* eventfd: local commits to push */
};

/*  ---- sending ------------------------------------------------------- */

static void
s_add_member(void *arg, const fk_member_t *member)
{
    fk_msg_member_t entry = {.name = member->name,
                             .addr = member->addr,
                             .status = (uint8_t)member->status,
                             .incarnation = member->incarnation,
                             .accuser = member->accuser,
                             .has_claim = member->claim != NULL};
    if (member->claim) {
        memcpy(entry.claim, member->claim, FK_SIGN_LEN);
    }
    fk_msg_add_member(arg, &entry);
}

fk_msg_t *
fk__cluster_msg(fk__cluster_actor_t *self, fk_msg_type_t type)
{
    fk_msg_t *msg = fk_msg_new(type, self->name, self->addr, fk_members_incarnation(self->members));
    fk_members_piggyback(self->members, S_PIGGYBACK, s_add_member, msg);
    return msg;
}

/*  Send raw bytes to a member (secure: by name, to the address our table
    holds, pinned to its admitted key) or to an address (open mode). */
static void
s_send_raw(fk__cluster_actor_t *self, fk_msg_type_t type, const char *name, const char *addr,
           const char *buf, size_t len)
{
    if (self->secure) {
        fk_member_t member;
        fk_trust_member_t admitted;
        if (!name || strcmp(name, self->name) == 0 || !fk_members_find(self->members, name, &member)
            || !fk_trust_find(self->trust, name, &admitted)) {
            return;
        }
        fk_transport_send(self->transport, name, member.addr, admitted.curve, buf, len);
        fk__cluster_count_msg(self, type, len, true);
        return;
    }
    if (addr && *addr && strcmp(addr, self->addr) != 0) {
        fk_transport_send(self->transport, NULL, addr, NULL, buf, len);
        fk__cluster_count_msg(self, type, len, true);
    }
}

void
fk__cluster_count_msg(fk__cluster_actor_t *self, fk_msg_type_t type, size_t len, bool out)
{
    if ((unsigned)type >= FK__CLUSTER_MSG_TYPES) {
        return;
    }
    fk_metrics_inc(out ? self->metrics.msgs_out[type] : self->metrics.msgs_in[type]);
    fk_metrics_add(out ? self->metrics.bytes_out[type] : self->metrics.bytes_in[type], len);
}

/*  Register the actor's series in registry (NULL: none, every update a
    no-op). Message counters exist for every wire type from the start, so
    a rate() over them never misses its first sample. */
static void
s_metrics_init(fk__cluster_metrics_t *m, fk_metrics_t *registry)
{
    memset(m, 0, sizeof *m);
    for (int type = 1; type < FK__CLUSTER_MSG_TYPES; type++) {
        char name[24];
        snprintf(name, sizeof name, "%s", fk_msg_type_name((fk_msg_type_t)type));
        for (char *c = name; *c; c++) {
            *c = (char)tolower((unsigned char)*c);
        }
        const char *const labels[] = {"type", name, NULL};
        m->msgs_in[type] =
            fk_metrics_counter(registry, "fakts_gossip_messages_received_total",
                               "Gossip messages received and decoded, by type.", labels);
        m->bytes_in[type] =
            fk_metrics_counter(registry, "fakts_gossip_received_bytes_total",
                               "Bytes of the gossip messages received, by type.", labels);
        m->msgs_out[type] =
            fk_metrics_counter(registry, "fakts_gossip_messages_sent_total",
                               "Gossip messages sent (one per recipient), by type.", labels);
        m->bytes_out[type] =
            fk_metrics_counter(registry, "fakts_gossip_sent_bytes_total",
                               "Bytes of the gossip messages sent, by type.", labels);
    }
    m->suspicions = fk_metrics_counter(registry, "fakts_gossip_suspicions_total",
                                       "Members this node's own probes made suspect.", NULL);
    m->failures = fk_metrics_counter(registry, "fakts_gossip_failures_total",
                                     "Suspects this node declared failed when their suspicion "
                                     "timed out.",
                                     NULL);
    m->refutations = fk_metrics_counter(registry, "fakts_gossip_refutations_total",
                                        "Accusations of this node it refuted by raising its "
                                        "incarnation.",
                                        NULL);
    static const char *const outcomes[FK__CLUSTER_FWD_OUTCOMES] = {"ok", "notfound", "busy",
                                                                   "toobig", "timeout"};
    for (size_t i = 0; i < FK__CLUSTER_FWD_OUTCOMES; i++) {
        m->forwards[i] = fk_metrics_counter(
            registry, "fakts_forwarded_requests_total",
            "Requests this node forwarded to a record's owner, by outcome (ok: the owner "
            "answered; notfound: not a live member; busy: too many in flight; toobig; timeout).",
            (const char *const[]){"outcome", outcomes[i], NULL});
    }
}

void
fk__cluster_send(fk__cluster_actor_t *self, const char *name, const char *addr, fk_msg_t **msg_p)
{
    char *buf = NULL;
    size_t len = 0;
    if (fk_msg_encode(*msg_p, &buf, &len) == 0) {
        s_send_raw(self, fk_msg_type(*msg_p), name, addr, buf, len);
    }
    free(buf);
    fk_msg_destroy(msg_p);
}

static const char *
s_member_addr(fk__cluster_actor_t *self, const char *name)
{
    fk_member_t member;
    return fk_members_find(self->members, name, &member) ? member.addr : NULL;
}

void
fk__cluster_send_member(fk__cluster_actor_t *self, const char *name, fk_msg_t **msg_p)
{
    fk__cluster_send(self, name, s_member_addr(self, name), msg_p);
}

void
fk__cluster_forget_peer(fk__cluster_actor_t *self, const char *name)
{
    const char *peer = self->secure ? name : s_member_addr(self, name);
    if (peer) {
        fk_transport_forget(self->transport, peer);
    }
}

/*  Send buf to up to S_FANOUT random live members other than exclude. */
static void
s_fanout(fk__cluster_actor_t *self, fk_msg_type_t type, const char *exclude, const char *buf,
         size_t len)
{
    const char *targets[S_FANOUT];
    size_t n = fk_members_random(self->members, exclude, targets, S_FANOUT);
    for (size_t i = 0; i < n; i++) {
        s_send_raw(self, type, targets[i], s_member_addr(self, targets[i]), buf, len);
    }
}

/*  ---- membership persistence ---------------------------------------- */

typedef struct {
    fk__cluster_actor_t *actor; /* the actor */
    fk_store_txn_t *txn;        /* the write transaction */
} s_persist_t;

static void
s_persist_member(void *arg, const fk_member_t *member)
{
    s_persist_t *persist = arg;
    fk_store_txn_t *txn = persist->txn;
    json_t *doc =
        json_pack("{s:s, s:I, s:I}", "addr", member->addr, "incarnation",
                  (json_int_t)member->incarnation, "since_ms", (json_int_t)member->since_ms);
    /*  Who vouches for it, for `members`: the HTTP threads read this row
        and need not load the admissions themselves. */
    fk_trust_member_t admitted;
    if (persist->actor->trust && fk_trust_find(persist->actor->trust, member->name, &admitted)) {
        fk_json_set(doc, "key", fk_json_must(json_string(admitted.fingerprint)));
        if (*admitted.by) {
            fk_json_set(doc, "admitted_by", fk_json_must(json_string(admitted.by)));
        }
    }
    if (member->claim) {
        char *claim = fk_b64url_encode(member->claim, FK_SIGN_LEN);
        fk_json_set(doc, "claim", fk_json_must(json_string(claim)));
        free(claim);
    }
    char *text = fk_json_dump(fk_json_must(doc));
    json_decref(doc);
    if (fk_store_member_put(txn, member->name, (fk_store_member_status_t)member->status, text)
        != 0) {
        fk_warn("cluster: cannot persist member %s", member->name);
    }
    free(text);
}

/*  Write every changed member to the store in one transaction, so the
    HTTP threads see a failure the moment it is decided. */
static void
s_persist(fk__cluster_actor_t *self)
{
    fk_store_txn_t *txn;
    if (fk_store_write_begin(self->store, &txn) != 0) {
        fk_warn("cluster: cannot persist the member table");
        return;
    }
    s_persist_t persist = {.actor = self, .txn = txn};
    fk_members_drain_changed(self->members, s_persist_member, &persist);
    char inc[24];
    snprintf(inc, sizeof inc, "%llu", (unsigned long long)fk_members_incarnation(self->members));
    /*  The incarnation must survive a restart (a restarted node's "alive"
        must outbid what others remember); a failed write is retried with
        the next change, and the commit below fails with it. */
    int rc = fk_store_local_set(txn, "incarnation", inc, strlen(inc));
    if (rc == 0) {
        rc = fk_store_commit(&txn);
    }
    if (rc != 0) {
        fk_warn("cluster: cannot persist the member table: %s", fk_strerror(rc));
    }
    fk_store_txn_end(&txn);
}

static void
s_log_change(fk__cluster_actor_t *self, const char *name)
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
    fk__cluster_actor_t *actor; /* the actor */
    const char *to;             /* member to send to (name; address in open mode), or NULL */
    const char *exclude;        /* fan-out exclusion */
} s_route_t;

static void
s_route(void *arg, fk_msg_t **msg_p)
{
    s_route_t *route = arg;
    char *buf = NULL;
    size_t len = 0;
    if (fk_msg_encode(*msg_p, &buf, &len) == 0) {
        fk_msg_type_t type = fk_msg_type(*msg_p);
        if (!route->to) {
            s_fanout(route->actor, type, route->exclude, buf, len);
        } else if (route->actor->secure) {
            s_send_raw(route->actor, type, route->to, NULL, buf, len);
        } else {
            s_send_raw(route->actor, type, NULL, route->to, buf, len);
        }
    }
    free(buf);
    fk_msg_destroy(msg_p);
}

static fk_replica_self_t
s_me(fk__cluster_actor_t *self)
{
    fk_replica_self_t me = {.name = self->name,
                            .addr = self->addr,
                            .incarnation = fk_members_incarnation(self->members)};
    return me;
}

/*  Who a reply to msg goes to: its sender's name (secure: the transport
    vouched for it) or the address it gave (open mode). */
static const char *
s_sender(fk__cluster_actor_t *self, const fk_msg_t *msg)
{
    return self->secure ? fk_msg_from(msg) : fk_msg_from_addr(msg);
}

/*  Push local records committed since the last push (eager push). */
static void
s_push_local(fk__cluster_actor_t *self)
{
    fk_replica_self_t me = s_me(self);
    s_route_t route = {.actor = self};
    uint64_t upto = self->pushed;
    fk_replica_push(self->store, &me, self->name, self->pushed, s_route, &route, &upto);
    self->pushed = upto;
}

static void
s_send_digest(fk__cluster_actor_t *self, const char *to, uint32_t flags)
{
    fk_msg_t *msg = fk__cluster_msg(self, FK_MSG_DIGEST);
    fk_msg_set_flags(msg, flags);
    if (fk_replica_digest(self->store, msg) != 0) {
        fk_msg_destroy(&msg);
        return;
    }
    if (self->secure) {
        fk__cluster_send_member(self, to, &msg);
    } else {
        fk__cluster_send(self, NULL, to, &msg);
    }
}

/*  ---- trust --------------------------------------------------------- */

typedef struct {
    fk__cluster_actor_t *actor; /* the actor */
    char **forget;              /* names whose records an old key signed */
    size_t forget_count;        /* entries */
} s_trust_change_t;

static void
s_on_trust_change(void *arg, const char *name, const fk_trust_member_t *before,
                  const fk_trust_member_t *now)
{
    s_trust_change_t *change = arg;
    fk__cluster_actor_t *self = change->actor;
    if (strcmp(name, self->name) == 0) {
        return;
    }
    /*  A new key for a known name, or no key at all: what the old key
        signed is forgotten, and its connection closed. */
    if (before) {
        fk_transport_forget(self->transport, name);
        fk_members_remove(self->members, name);
        change->forget = fk_realloc(change->forget, (change->forget_count + 1) * sizeof(char *));
        change->forget[change->forget_count++] = fk_strdup(name);
        if (!now) {
            fk_info("cluster: %s is no longer a member: its key %s was banned", name,
                    before->fingerprint);
        }
    }
    if (now && fk_members_admit(self->members, name, now->addr, fk_clock_mono_ms())
                   == FK_MEMBERS_CHANGED) {
        fk_info("cluster: %s (%s, key %s) is a member, admitted by %s", name, now->addr,
                now->fingerprint, now->by);
    }
}

void
fk__cluster_trust_changed(fk__cluster_actor_t *self)
{
    fk_store_txn_t *txn;
    if (fk_store_write_begin(self->store, &txn) != 0) {
        return;
    }
    s_trust_change_t change = {.actor = self};
    int rc = fk_trust_load(self->trust, txn, s_on_trust_change, &change);
    for (size_t i = 0; i < change.forget_count && rc >= 0; i++) {
        /*  Records are forgotten only when we hold some: a new member has
            none yet. What it admitted or banned outlives them. */
        if (fk_store_owner_version(txn, change.forget[i]) > 0
            && (rc = fk_trust_inherit(self->trust, txn, change.forget[i])) >= 0) {
            rc = fk_store_forget_owner(txn, change.forget[i]);
        }
        /*  Its member entry too, so a banned name does not linger in the
            view every node digests. */
        if (rc >= 0) {
            rc = fk_store_member_del(txn, change.forget[i]);
        }
    }
    if (rc >= 0) {
        rc = fk_trust_tidy(self->trust, txn);
    }
    if (rc >= 0) {
        rc = fk_store_commit(&txn);
    }
    fk_store_txn_end(&txn);
    if (rc < 0) {
        fk_warn("cluster: cannot apply a change of membership: %s", fk_strerror(rc));
    }
    if (rc >= 0 && change.forget_count > 0 && self->on_forgot) {
        /*  Their signing keys, among others, are gone from the store. */
        self->on_forgot(self->on_forgot_arg);
    }
    fk_strv_free(change.forget, change.forget_count);
    s_persist(self);
}

static int
s_verify_record(void *arg, const char *owner, const char *key, const fk_record_t *rec)
{
    fk__cluster_actor_t *self = arg;
    return fk_trust_check_record(self->trust, owner, key, rec);
}

static bool
s_verify_claim(void *arg, const char *name, const char *addr, uint64_t incarnation, bool leaving,
               const uint8_t claim[FK_SIGN_LEN])
{
    fk__cluster_actor_t *self = arg;
    fk_trust_member_t member;
    return fk_trust_find(self->trust, name, &member)
           && fk_msg_claim_verify(name, addr, incarnation, leaving, member.sign, claim);
}

static void
s_sign_claim(void *arg, const char *addr, uint64_t incarnation, bool leaving,
             uint8_t claim[FK_SIGN_LEN])
{
    fk__cluster_actor_t *self = arg;
    if (fk_msg_claim_sign(self->name, addr, incarnation, leaving, fk_identity_sign_key(self->me),
                          claim)
        != 0) {
        memset(claim, 0, FK_SIGN_LEN); /* an invalid claim: peers ignore it */
    }
}

/*  ---- inbound --------------------------------------------------------- */

static void
s_merge_gossip(fk__cluster_actor_t *self, const fk_msg_t *msg, int64_t now)
{
    bool changed = false;
    size_t count = 0;
    const fk_msg_member_t *entries = fk_msg_members(msg, &count);
    for (size_t i = 0; i < count; i++) {
        /*  Lifeguard counts confirmations per accuser. An entry without
            one is taken as the relayer's own accusation. */
        const char *accuser = entries[i].accuser ? entries[i].accuser : fk_msg_from(msg);
        fk_members_entry_t entry = {.name = entries[i].name,
                                    .addr = entries[i].addr,
                                    .status = (fk_member_status_t)entries[i].status,
                                    .incarnation = entries[i].incarnation,
                                    .accuser = accuser,
                                    .claim = entries[i].has_claim ? entries[i].claim : NULL};
        fk_member_t before;
        bool was_down = fk_members_find(self->members, entries[i].name, &before)
                        && (before.status == FK_MEMBER_FAILED || before.status == FK_MEMBER_LEFT);
        fk_members_change_t c = fk_members_merge(self->members, &entry, now);
        if (was_down && c == FK_MEMBERS_CHANGED) {
            /*  Back from failed (a restart, a healed partition): our
                connection to it may sit in ZeroMQ's reconnect backoff
                (up to 500 ms), and a probe through it would fail and
                make us suspect a healthy node. Start afresh. */
            fk__cluster_forget_peer(self, entries[i].name);
        }
        if (entries[i].status == FK_MEMBER_SUSPECT) {
            fk_members_confirm(self->members, entries[i].name, entries[i].incarnation, accuser);
        }
        if (c == FK_MEMBERS_CHANGED) {
            s_log_change(self, entries[i].name);
            changed = true;
        } else if (c == FK_MEMBERS_REFUTED) {
            fk_metrics_inc(self->metrics.refutations);
            fk_info("cluster: refuted an accusation; incarnation now %llu",
                    (unsigned long long)fk_members_incarnation(self->members));
            changed = true;
        }
    }
    /*  A message from X proves X alive at the incarnation it states. A
        member back with a new incarnation restarted: our connection to it
        may sit in ZeroMQ's reconnect backoff, which would fail our first
        probes of it and make us suspect a healthy node. Start afresh. */
    fk_member_t known;
    bool was_known = fk_members_find(self->members, fk_msg_from(msg), &known);
    uint64_t known_incarnation = was_known ? known.incarnation : 0;
    char *known_addr = was_known ? fk_strdup(known.addr) : NULL;
    if (fk_members_heard(self->members, fk_msg_from(msg), fk_msg_from_addr(msg),
                         fk_msg_incarnation(msg), now)
        == FK_MEMBERS_CHANGED) {
        s_log_change(self, fk_msg_from(msg));
        changed = true;
    }
    if (was_known && fk_msg_incarnation(msg) > known_incarnation) {
        fk_transport_forget(self->transport, self->secure ? fk_msg_from(msg) : known_addr);
    }
    free(known_addr);
    if (changed) {
        s_persist(self);
    }
}

static void
s_on_ping(fk__cluster_actor_t *self, const fk_msg_t *msg)
{
    fk_msg_t *ack = fk__cluster_msg(self, FK_MSG_ACK);
    fk_msg_set_seq(ack, fk_msg_seq(msg));
    if (self->secure) {
        fk__cluster_send_member(self, fk_msg_from(msg), &ack);
    } else {
        fk__cluster_send(self, NULL, fk_msg_from_addr(msg), &ack);
    }
}

static bool
s_is_helper(const fk__cluster_actor_t *self, const char *name)
{
    for (size_t i = 0; i < 3; i++) {
        if (self->probe_helpers[i] && strcmp(self->probe_helpers[i], name) == 0) {
            return true;
        }
    }
    return false;
}

static void
s_clear_probe(fk__cluster_actor_t *self)
{
    free(self->probe_target);
    self->probe_target = NULL;
    for (size_t i = 0; i < 3; i++) {
        free(self->probe_helpers[i]);
        self->probe_helpers[i] = NULL;
    }
}

static void
s_forward_clear(fk__cluster_forward_t *fwd)
{
    free(fwd->requester);
    free(fwd->target);
    fwd->requester = NULL;
    fwd->target = NULL;
}

static void
s_on_ack(fk__cluster_actor_t *self, const fk_msg_t *msg, int64_t now)
{
    uint64_t seq = fk_msg_seq(msg);
    const char *from = fk_msg_from(msg);
    /*  Our probe's ack counts only from the member we probed, or relayed
        by one we asked to probe it: anyone else knowing the sequence
        number proves nothing about the target. */
    if (self->probe_target && seq == self->probe_seq
        && (strcmp(from, self->probe_target) == 0 || s_is_helper(self, from))) {
        fk_members_probe_ok(self->members, self->probe_target, now);
        s_clear_probe(self);
        return;
    }
    /*  An ack for a ping we sent on someone's behalf: pass it on. */
    for (size_t i = 0; i < FK__CLUSTER_FORWARDS_MAX; i++) {
        fk__cluster_forward_t *fwd = &self->forwards[i];
        if (fwd->requester && fwd->seq == seq && strcmp(fwd->target, from) == 0) {
            fk_msg_t *relay = fk__cluster_msg(self, FK_MSG_ACK);
            fk_msg_set_seq(relay, fwd->requester_seq);
            if (self->secure) {
                fk__cluster_send_member(self, fwd->requester, &relay);
            } else {
                fk__cluster_send(self, NULL, fwd->requester, &relay);
            }
            s_forward_clear(fwd);
            return;
        }
    }
}

static void
s_on_ping_req(fk__cluster_actor_t *self, const fk_msg_t *msg, int64_t now)
{
    const char *target = fk_msg_target_name(msg);
    /*  Probe only members, at the address our table holds: a PING_REQ
        must not make us knock on an address of the sender's choice. */
    const char *target_addr = self->secure && target ? s_member_addr(self, target)
                                                     : fk_msg_target_addr(msg);
    if (!target || !target_addr || strcmp(target, self->name) == 0) {
        return;
    }
    for (size_t i = 0; i < FK__CLUSTER_FORWARDS_MAX; i++) {
        fk__cluster_forward_t *fwd = &self->forwards[i];
        if (fwd->requester && fwd->deadline < now) {
            s_forward_clear(fwd);
        }
        if (!fwd->requester) {
            fwd->seq = ++self->seq;
            fwd->requester = fk_strdup(s_sender(self, msg));
            fwd->target = fk_strdup(target);
            fwd->requester_seq = fk_msg_seq(msg);
            fwd->deadline = now + 4 * fk_members_probe_interval(self->members);
            fk_msg_t *ping = fk__cluster_msg(self, FK_MSG_PING);
            fk_msg_set_seq(ping, fwd->seq);
            fk__cluster_send(self, target, target_addr, &ping);
            return;
        }
    }
}

/*  Does this DELTA carry admissions or bans that are news to us? Then who
    is a member may change once it is applied. Copies of admissions we
    know (byte-identical, one per member after a ban) are not news. */
static bool
s_touches_trust(fk__cluster_actor_t *self, const fk_msg_t *msg)
{
    size_t count = 0;
    const fk_msg_delta_t *deltas = fk_msg_deltas(msg, &count);
    for (size_t i = 0; i < count; i++) {
        fk_record_t rec;
        if (fk_record_decode(deltas[i].record, deltas[i].record_len, &rec) == 0
            && fk_trust_is_news(self->trust, deltas[i].key, &rec)) {
            return true;
        }
    }
    return false;
}

typedef struct {
    fk__cluster_actor_t *actor; /* the actor */
    const char *exclude;        /* the member the records came from */
} s_news_t;

/*  Records new to us are probably new to others: relay them (epidemic).
    The relay is read back from our own store, so it holds only records we
    verified, under our own name; a node that already had them applies
    nothing and stops the wave. */
static void
s_relay(void *arg, const char *owner, uint64_t from)
{
    s_news_t *news = arg;
    fk_lag_applied(news->actor->lag, owner, fk_clock_mono_ms());
    fk_replica_self_t me = s_me(news->actor);
    s_route_t route = {.actor = news->actor, .exclude = news->exclude};
    uint64_t upto = 0;
    fk_replica_push(news->actor->store, &me, owner, from, s_route, &route, &upto);
}

static void
s_on_delta(fk__cluster_actor_t *self, const fk_msg_t *msg)
{
    /*  Judged before the apply: once stored, news looks like old news. */
    bool news_for_trust = self->secure && s_touches_trust(self, msg);
    s_news_t news = {.actor = self, .exclude = fk_msg_from(msg)};
    int applied = fk_replica_apply(self->store, msg, self->secure ? s_verify_record : NULL, self,
                                   s_relay, &news);
    if (applied < 0) {
        fk_debug("cluster: delta from %s refused: %s", fk_msg_from(msg), fk_strerror(applied));
        return;
    }
    if (applied > 0 && self->secure && news_for_trust) {
        fk__cluster_trust_changed(self);
        /*  Records of a member we just learned of were refused before it
            was one: ask the sender again at once. */
        s_send_digest(self, s_sender(self, msg), S_DIGEST_REPLY);
    }
}

/*  Answer every caller of the round with status, and start the next. */
static void s_sync_done(fk__cluster_actor_t *self, const char *status);

/*  Does this SYNC_ACK digest confirm the quorum round? A read round needs
    us to hold everything the peer holds (its deltas arrived before its
    digest on the same connection); a write round needs the peer to hold
    our writes up to sync_version. */
static bool
s_sync_confirms(fk__cluster_actor_t *self, const fk_msg_t *msg)
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
s_sync_check(fk__cluster_actor_t *self, const fk_msg_t *msg)
{
    if (!self->sync_active) {
        return;
    }
    if (!s_sync_confirms(self, msg)) {
        /*  The deltas it lacked went out just before this (s_on_digest
            answers every digest first): ask again; its next answer comes
            after it applied them. Bounded by the round's deadline. */
        s_send_digest(self, s_sender(self, msg), S_DIGEST_SYNC);
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
        s_sync_done(self, "0");
    }
}

/*  Note what the digest claims of each member's records, for the lag
    gauges: only of members (a hostile digest cannot fill the table with
    made-up owners), not of us. */
static void
s_note_claims(fk__cluster_actor_t *self, const fk_msg_t *msg)
{
    if (!self->lag) {
        return;
    }
    size_t count = 0;
    const fk_msg_digest_t *entries = fk_msg_digests(msg, &count);
    int64_t now = fk_clock_mono_ms();
    fk_member_t member;
    for (size_t i = 0; i < count; i++) {
        if (strcmp(entries[i].owner, self->name) != 0
            && fk_members_find(self->members, entries[i].owner, &member)) {
            fk_lag_claimed(self->lag, entries[i].owner, entries[i].version, now);
        }
    }
}

static void
s_on_digest(fk__cluster_actor_t *self, const fk_msg_t *msg)
{
    s_note_claims(self, msg);
    /*  The sender's own word on its records (secure: the transport says
        it is the sender): what relays gave us of them must match. */
    bool refetch = self->secure && fk_replica_check_owner(self->store, msg);
    fk_replica_self_t me = s_me(self);
    s_route_t route = {.actor = self, .to = s_sender(self, msg)};
    uint32_t flags = fk_msg_flags(msg);
    fk_replica_answer(self->store, &me, msg, S_ANSWER_BUDGET, s_route, &route);
    if (flags & S_DIGEST_SYNC) {
        /*  Our digest goes after the deltas, so when it arrives the peer
            already applied what we sent. */
        s_send_digest(self, s_sender(self, msg), S_DIGEST_SYNC_ACK);
    } else if (refetch
               || ((flags & S_DIGEST_REPLY) && fk_replica_peer_ahead(self->store, msg))) {
        s_send_digest(self, s_sender(self, msg), 0);
    }
    if (flags & S_DIGEST_SYNC_ACK) {
        s_sync_check(self, msg);
    }
}

/*  Start a quorum round for every caller queued with the first one's
    version: they all asked before it started, so one round serves them
    all (a round that started before a caller asked might not cover a
    write that caller saw confirmed). Ask every other live member for its
    digest; a majority of the live members (us included) must confirm. In
    the secure mode the table holds admitted members only, so forged names
    can neither inflate nor fill the quorum. */
static void
s_sync_next(fk__cluster_actor_t *self)
{
    if (self->sync_active || self->sync_queue_count == 0) {
        return;
    }
    uint64_t version = self->sync_queue[0].version;
    int timeout_ms = self->sync_queue[0].timeout_ms;
    size_t kept = 0;
    for (size_t i = 0; i < self->sync_queue_count; i++) {
        fk__cluster_sync_wait_t wait = self->sync_queue[i];
        if (wait.version == version) {
            self->sync_callers = fk_realloc(self->sync_callers,
                                            (self->sync_caller_count + 1) * sizeof(zframe_t *));
            self->sync_callers[self->sync_caller_count++] = wait.caller;
        } else {
            self->sync_queue[kept++] = wait;
        }
    }
    self->sync_queue_count = kept;
    size_t live = fk_members_live(self->members);
    size_t needed = live / 2; /* others, beyond us: a majority of live is live/2 + 1 */
    zlistx_purge(self->sync_confirmed);
    self->sync_active = true;
    self->sync_version = version;
    self->sync_needed = needed;
    self->sync_deadline = fk_clock_mono_ms() + timeout_ms;
    if (needed == 0) {
        s_sync_done(self, "0");
        return;
    }
    for (size_t i = 0; i < fk_members_count(self->members); i++) {
        fk_member_t member;
        if (fk_members_get(self->members, i, &member) && strcmp(member.name, self->name) != 0
            && (member.status == FK_MEMBER_ALIVE || member.status == FK_MEMBER_SUSPECT)) {
            s_send_digest(self, self->secure ? member.name : member.addr, S_DIGEST_SYNC);
        }
    }
}

static void
s_sync_done(fk__cluster_actor_t *self, const char *status)
{
    self->sync_active = false;
    for (size_t i = 0; i < self->sync_caller_count; i++) {
        fk__cluster_answer(self, &self->sync_callers[i], status, NULL, 0);
    }
    self->sync_caller_count = 0;
    s_sync_next(self);
}

/*  A caller asks for a quorum round: queue it. */
static void
s_sync_request(fk__cluster_actor_t *self, zframe_t **caller_p, uint64_t version, int timeout_ms)
{
    self->sync_queue = fk_realloc(self->sync_queue,
                                  (self->sync_queue_count + 1) * sizeof *self->sync_queue);
    fk__cluster_sync_wait_t *wait = &self->sync_queue[self->sync_queue_count++];
    wait->caller = *caller_p;
    *caller_p = NULL;
    wait->version = version;
    wait->timeout_ms = timeout_ms;
    s_sync_next(self);
}

static void
s_on_join(fk__cluster_actor_t *self, const fk_msg_t *msg)
{
    /*  The joiner's message carried its digest: answer it at once, and ask
        for what it has that we lack. */
    s_on_digest(self, msg);
    s_send_digest(self, s_sender(self, msg), S_DIGEST_REPLY);
}

void
fk__cluster_command_done(fk__cluster_actor_t *self, const char *reply)
{
    if (self->join_addr) {
        fk__cluster_answer(self, &self->join_caller, reply, NULL, 0);
        free(self->join_addr);
        self->join_addr = NULL;
    }
}

static void
s_join_answered(fk__cluster_actor_t *self, const fk_msg_t *msg)
{
    if (self->join_addr && strcmp(self->join_addr, fk_msg_from_addr(msg)) == 0) {
        fk__cluster_command_done(self, "0");
    }
}

/*  Who sent this message? In the secure mode the connection's key, which
    our ZAP handler checked, must belong to a member, and that member must
    be the name the message claims. Returns false to drop the message. */
static bool
s_authentic(fk__cluster_actor_t *self, const fk_msg_t *msg, const uint8_t *key, bool keyed,
            const zframe_t *identity)
{
    if (strcmp(fk_msg_from(msg), self->name) == 0) {
        return false; /* our own name from elsewhere: never us */
    }
    if (!self->secure) {
        return true;
    }
    const char *member = keyed ? fk_trust_name_of(self->trust, key) : NULL;
    if (keyed && fk_msg_type(msg) == FK_MSG_ADMIT) {
        fk__cluster_on_admit(self, identity, key, msg);
        return false;
    }
    if (member && strcmp(member, fk_msg_from(msg)) == 0) {
        return true;
    }
    int64_t now = fk_clock_mono_ms();
    if (now - self->refused_log >= S_REFUSED_LOG_MS) {
        self->refused_log = now;
        fk_info("cluster: dropped a %s message claiming to be from %s: %s",
                fk_msg_type_name(fk_msg_type(msg)), fk_msg_from(msg),
                !keyed   ? "its connection is not authenticated"
                : member ? "its key belongs to another member"
                         : "its key is not a member's");
    }
    return false;
}

static int
s_on_router(zloop_t *loop, zsock_t *router, void *arg)
{
    (void)loop;
    (void)router;
    fk__cluster_actor_t *self = arg;
    zframe_t *identity = NULL;
    zframe_t *payload = NULL;
    uint8_t key[FK_TRANSPORT_KEY_LEN];
    bool keyed = false;
    if (fk_transport_recv(self->transport, &identity, &payload, key, &keyed) != 0) {
        return 0;
    }
    fk_msg_t *msg = NULL;
    /*  In the secure mode a frame of nobody's is dropped unread: decoding
        is the only work a stranger can cause, and it gets none. */
    if ((!self->secure || keyed)
        && fk_msg_decode(zframe_data(payload), zframe_size(payload), &msg) == 0
        && s_authentic(self, msg, key, keyed, identity)) {
        fk__cluster_count_msg(self, fk_msg_type(msg), zframe_size(payload), false);
        int64_t now = fk_clock_mono_ms();
        s_merge_gossip(self, msg, now);
        s_join_answered(self, msg);
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
            s_on_delta(self, msg);
            break;
        case FK_MSG_DIGEST:
            s_on_digest(self, msg);
            break;
        case FK_MSG_JOIN:
            s_on_join(self, msg);
            break;
        case FK_MSG_REQUEST:
            fk__cluster_on_request(self, msg);
            break;
        case FK_MSG_REPLY:
            fk__cluster_on_reply(self, msg);
            break;
        default:
            /*  LEAVE carries its news in the header and gossip, merged
                above; ADMIT from a member asks nothing of a member. */
            break;
        }
    }
    fk_msg_destroy(&msg);
    zframe_destroy(&payload);
    zframe_destroy(&identity);
    return 0;
}

static int
s_on_zap(zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    (void)loop;
    (void)item;
    fk__cluster_actor_t *self = arg;
    fk_transport_zap_answer(self->transport, fk__cluster_zap_allow, self);
    return 0;
}

/*  ---- timers ---------------------------------------------------------- */

static void
s_probe_step(fk__cluster_actor_t *self, int64_t now)
{
    if (self->probe_target) {
        int64_t elapsed = now - self->probe_start;
        if (!self->probe_indirect && elapsed >= fk_members_probe_timeout(self->members)) {
            /*  No direct ack: ask k others (SWIM's indirect probe), which
                tells a dead member from a lossy path between two. */
            const char *helpers[3];
            size_t n = fk_members_random(self->members, self->probe_target, helpers, 3);
            const char *target_addr = s_member_addr(self, self->probe_target);
            for (size_t i = 0; i < n && target_addr; i++) {
                fk_msg_t *req = fk__cluster_msg(self, FK_MSG_PING_REQ);
                fk_msg_set_seq(req, self->probe_seq);
                fk_msg_set_target(req, self->probe_target, target_addr);
                self->probe_helpers[i] = fk_strdup(helpers[i]);
                fk__cluster_send_member(self, helpers[i], &req);
            }
            self->probe_indirect = true;
        }
        if (elapsed >= fk_members_probe_interval(self->members)) {
            if (fk_members_probe_failed(self->members, self->probe_target, now)
                == FK_MEMBERS_CHANGED) {
                fk_metrics_inc(self->metrics.suspicions);
                s_log_change(self, self->probe_target);
                s_persist(self);
            }
            s_clear_probe(self);
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
            fk_msg_t *ping = fk__cluster_msg(self, FK_MSG_PING);
            fk_msg_set_seq(ping, self->probe_seq);
            fk__cluster_send_member(self, target, &ping);
        }
    }
}

static int
s_on_tick(zloop_t *loop, int timer_id, void *arg)
{
    (void)loop;
    (void)timer_id;
    fk__cluster_actor_t *self = arg;
    int64_t now = fk_clock_mono_ms();
    if (fk_members_expire(self->members, now) > 0) {
        for (size_t i = 0; i < fk_members_count(self->members); i++) {
            fk_member_t member;
            if (fk_members_get(self->members, i, &member) && member.status == FK_MEMBER_FAILED
                && member.since_ms == now) {
                fk_metrics_inc(self->metrics.failures);
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
        fk_transport_forget(self->transport, self->secure ? retry : retry_addr);
        fk_msg_t *ping = fk__cluster_msg(self, FK_MSG_PING);
        fk_msg_set_seq(ping, ++self->seq);
        fk__cluster_send_member(self, retry, &ping);
    }
    if (self->sync_active && now >= self->sync_deadline) {
        s_sync_done(self, "timeout");
    }
    fk__cluster_forward_tick(self, now);
    if (self->join_addr && now >= self->join_deadline) {
        fk__cluster_command_done(self, "timeout");
    }
    if (self->secure) {
        fk__cluster_admission_tick(self, now);
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
    fk__cluster_actor_t *self = arg;
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
            && (!self->secure || fk_trust_inherit(self->trust, txn, member.name) >= 0)
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
    fk__cluster_actor_t *self = arg;
    const char *peer[1];
    if (fk_members_random(self->members, NULL, peer, 1) == 1) {
        s_send_digest(self, self->secure ? peer[0] : s_member_addr(self, peer[0]),
                      S_DIGEST_REPLY);
    }
    return 0;
}

void
fk__cluster_send_join(fk__cluster_actor_t *self, const char *name, const char *addr)
{
    fk_msg_t *msg = fk__cluster_msg(self, FK_MSG_JOIN);
    if (fk_replica_digest(self->store, msg) == 0) {
        fk__cluster_send(self, name, addr, &msg);
    }
    fk_msg_destroy(&msg);
}

/*  The member whose address is addr, or NULL. */
static const char *
s_member_at(fk__cluster_actor_t *self, const char *addr)
{
    for (size_t i = 0; i < fk_members_count(self->members); i++) {
        fk_member_t member;
        if (fk_members_get(self->members, i, &member) && strcmp(member.addr, addr) == 0
            && strcmp(member.name, self->name) != 0) {
            return member.name;
        }
    }
    return NULL;
}

/*  Knock on addr: a JOIN to a member (or to anyone, in the open mode),
    else an admission. Returns 0 under way, or FK_EINVAL_INPUT with why. */
static int
s_knock(fk__cluster_actor_t *self, const char *addr, bool for_command, char *why, size_t whylen)
{
    if (!self->secure) {
        fk__cluster_send_join(self, NULL, addr);
        return 0;
    }
    const char *member = s_member_at(self, addr);
    if (member) {
        fk__cluster_send_join(self, member, NULL);
        return 0;
    }
    return fk__cluster_admission_start(self, addr, for_command, why, whylen);
}

static int
s_on_retry_join(zloop_t *loop, int timer_id, void *arg)
{
    (void)loop;
    (void)timer_id;
    fk__cluster_actor_t *self = arg;
    int64_t now = fk_clock_mono_ms();
    /*  While we know no other live member, keep knocking on every
        retry-join address (boot order in compose files, HPC head nodes);
        --join addresses only for the first 10 seconds. */
    char why[200];
    bool alone = fk_members_live(self->members) <= 1;
    if (alone) {
        for (size_t i = 0; i < self->retry_count; i++) {
            s_knock(self, self->retry[i], false, why, sizeof why);
        }
        for (size_t i = 0; now < self->join_until && i < self->join_count; i++) {
            s_knock(self, self->join[i], false, why, sizeof why);
        }
    }
    /*  Seeds (a rendezvous directory's listing) also while no member we
        know is at the address: two groups that formed apart merge, and a
        node listed later is admitted. A member we know, even failed, is
        left to the failed-member retry. */
    for (size_t i = 0; i < self->seed_count; i++) {
        if (strcmp(self->seeds[i], self->addr) != 0
            && (alone || !s_member_at(self, self->seeds[i]))) {
            s_knock(self, self->seeds[i], false, why, sizeof why);
        }
    }
    return 0;
}

static int
s_on_wake(zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    (void)loop;
    (void)item;
    fk__cluster_actor_t *self = arg;
    uint64_t count;
    if (read(self->wake_fd, &count, sizeof count) < 0 && errno != EAGAIN) {
        fk_warn("cluster: reading the commit signal failed: %s", fk_strerror(-errno));
    }
    s_push_local(self);
    return 0;
}

/*  ---- commands -------------------------------------------------------- */

static void
s_leave(fk__cluster_actor_t *self)
{
    fk_members_leave(self->members, fk_clock_mono_ms());
    s_persist(self);
    /*  Tell every member directly: they mark us left at once instead of
        failing us after a suspicion timeout. */
    for (size_t i = 0; i < fk_members_count(self->members); i++) {
        fk_member_t member;
        if (fk_members_get(self->members, i, &member) && strcmp(member.name, self->name) != 0
            && (member.status == FK_MEMBER_ALIVE || member.status == FK_MEMBER_SUSPECT)) {
            fk_msg_t *msg = fk__cluster_msg(self, FK_MSG_LEAVE);
            fk__cluster_send_member(self, member.name, &msg);
        }
    }
}

static int
s_ban(fk__cluster_actor_t *self, const char *name)
{
    fk_store_txn_t *txn;
    int rc = self->secure ? fk_store_write_begin(self->store, &txn) : FK_EINVAL_INPUT;
    if (rc == 0) {
        rc = fk_trust_ban(self->trust, txn, name);
        if (rc == 0) {
            rc = fk_store_commit(&txn);
        }
        fk_store_txn_end(&txn);
    }
    if (rc == 0) {
        fk_info("cluster: banned the key of %s", name);
        fk__cluster_trust_changed(self);
    }
    return rc;
}

static void
s_join_command(fk__cluster_actor_t *self, zframe_t **caller_p, const char *addr,
               const char *token)
{
    char why[200] = "";
    if (self->join_addr) {
        fk__cluster_answer(self, caller_p, "refused another join is under way; try again", NULL,
                           0);
        return;
    }
    if (token && *token) {
        /*  A token given with the command replaces the configured one. */
        fk_admit_token_t parsed;
        if (fk_admit_token_decode(token, &parsed) != 0) {
            fk__cluster_answer(self, caller_p,
                               "refused not a join token (it starts with \"fkj1.\")", NULL, 0);
            return;
        }
        self->token = parsed;
        self->has_token = true;
    }
    self->join_addr = fk_strdup(addr);
    self->join_caller = *caller_p;
    *caller_p = NULL;
    self->join_deadline = fk_clock_mono_ms() + S_JOIN_WAIT_MS;
    if (s_knock(self, addr, true, why, sizeof why) != 0) {
        char *reply = fk_asprintf("refused %s", why);
        fk__cluster_command_done(self, reply);
        free(reply);
    }
}

/*  The actor's pipe carries only CZMQ's $TERM: commands come on the
    command socket, one DEALER per calling thread (fk__cluster_call), so
    no caller waits behind another's command. */
static int
s_on_pipe(zloop_t *loop, zsock_t *pipe, void *arg)
{
    (void)loop;
    (void)arg;
    char *verb = zstr_recv(pipe);
    bool stop = !verb || strcmp(verb, "$TERM") == 0;
    free(verb);
    return stop ? -1 : 0;
}

/*  A command: [caller, verb, operands...], answered [caller, status, ...]
    now or, for REQUEST, SYNC and JOIN, when their answer is known. */
static int
s_on_command(zloop_t *loop, zsock_t *commands, void *arg)
{
    (void)loop;
    fk__cluster_actor_t *self = arg;
    zmsg_t *command = zmsg_recv(commands);
    if (!command) {
        return 0;
    }
    zframe_t *caller = zmsg_pop(command);
    char *verb = zmsg_popstr(command);
    char *operand = zmsg_popstr(command);
    if (!caller || !verb) {
        /*  Nothing to answer to. */
    } else if (strcmp(verb, "REQUEST") == 0 && operand && zmsg_size(command) == 2) {
        char *timeout = zmsg_popstr(command);
        zframe_t *body = zmsg_pop(command);
        fk__cluster_forward_start(self, &caller, operand, atoi(timeout ? timeout : "0"), body);
        free(timeout);
        zframe_destroy(&body);
    } else if (strcmp(verb, "SYNC") == 0 && operand) {
        char *version = zmsg_popstr(command);
        s_sync_request(self, &caller, version ? strtoull(version, NULL, 10) : 0, atoi(operand));
        free(version);
    } else if (strcmp(verb, "JOIN") == 0 && operand) {
        char *token = zmsg_popstr(command);
        s_join_command(self, &caller, operand, token);
        if (token) {
            OPENSSL_cleanse(token, strlen(token));
        }
        free(token);
    } else if (strcmp(verb, "SEEDS") == 0) {
        fk_strv_free(self->seeds, self->seed_count);
        self->seed_count = 0;
        self->seeds = fk_calloc(zmsg_size(command) + 2, sizeof *self->seeds);
        char *seed = operand;
        operand = NULL; /* now a seed */
        while (seed) {
            self->seeds[self->seed_count++] = seed;
            seed = zmsg_popstr(command);
        }
        fk__cluster_answer(self, &caller, "0", NULL, 0);
    } else if (strcmp(verb, "LEAVE") == 0) {
        s_leave(self);
        fk__cluster_answer(self, &caller, "0", NULL, 0);
    } else if (strcmp(verb, "FORCE") == 0 && operand) {
        int found = fk_members_force_leave(self->members, operand, fk_clock_mono_ms());
        if (found == 0) {
            s_persist(self);
        }
        fk__cluster_answer(self, &caller, found == 0 ? "0" : "notfound", NULL, 0);
    } else if (strcmp(verb, "BAN") == 0 && operand) {
        char status[16];
        snprintf(status, sizeof status, "%d", s_ban(self, operand));
        fk__cluster_answer(self, &caller, status, NULL, 0);
    } else {
        fk__cluster_answer(self, &caller, "invalid", NULL, 0);
    }
    zframe_destroy(&caller);
    free(verb);
    free(operand);
    zmsg_destroy(&command);
    return 0;
}

/*  ---- start-up ------------------------------------------------------------ */

typedef struct {
    fk__cluster_actor_t *actor; /* the actor whose table is being loaded */
} s_load_t;

static int
s_load_member(void *arg, const char *name, fk_store_member_status_t status, const char *json)
{
    s_load_t *load = arg;
    fk__cluster_actor_t *self = load->actor;
    if (strcmp(name, self->name) == 0 || (self->secure && !fk_trust_find(self->trust, name, NULL))) {
        return 0; /* not a member (any more): nothing to restore */
    }
    json_t *doc = json_loads(json, 0, NULL);
    const char *addr = fk_json_str(doc, "addr");
    json_int_t inc = fk_json_int(doc, "incarnation", 0);
    const char *claim_text = fk_json_str(doc, "claim");
    uint8_t *claim = NULL;
    size_t claim_len = 0;
    if (claim_text && (fk_b64url_decode(claim_text, strlen(claim_text), &claim, &claim_len) != 0
                       || claim_len != FK_SIGN_LEN)) {
        free(claim);
        claim = NULL;
    }
    /*  After a restart every member we knew alive is assumed alive again
        and probed; failed and departed ones keep their status. */
    fk_member_status_t as = status == FK_STORE_MEMBER_FAILED ? FK_MEMBER_FAILED
                            : status == FK_STORE_MEMBER_LEFT ? FK_MEMBER_LEFT
                                                             : FK_MEMBER_ALIVE;
    if (addr) {
        if (self->secure) {
            fk_members_restore(self->members, name, addr, as, (uint64_t)inc, claim,
                               fk_clock_mono_ms());
        } else {
            fk_members_entry_t entry = {
                .name = name, .addr = addr, .status = as, .incarnation = (uint64_t)inc};
            fk_members_merge(self->members, &entry, fk_clock_mono_ms());
        }
    }
    free(claim);
    json_decref(doc);
    return 0;
}

struct s_start {
    fk_cluster_opts_t
        opts;          /* copied options (strings borrowed from the caller until start returns) */
    fk_store_t *store; /* the store */
    fk_transport_t *transport; /* bound in fk_cluster_start */
    zsock_t *requests;         /* ROUTER for forwarded requests, bound in fk_cluster_start */
    char *addr;                /* advertised address */
    int wake_fd;               /* commit signal */
    uint64_t incarnation;      /* our incarnation for this run */
    char **join;               /* --join addresses (copied) */
    size_t join_count;         /* entries */
    char **retry;              /* --retry-join addresses (copied) */
    size_t retry_count;        /* entries */
    fk_admit_token_t token;    /* the parsed join token */
    bool has_token;            /* one was given */
};

/*  Load who is admitted and who was alive, and make sure the table holds
    every admitted member. */
static void
s_load(fk__cluster_actor_t *self)
{
    fk_store_txn_t *txn;
    if (self->secure) {
        fk__cluster_trust_changed(self);
    }
    if (fk_store_read_begin(self->store, &txn) == 0) {
        s_load_t load = {.actor = self};
        fk_store_members(txn, s_load_member, &load);
        /*  Everything committed before we started counts as pushed: peers
            get it by anti-entropy. */
        self->pushed = fk_store_owner_version(txn, self->name);
        fk_store_txn_end(&txn);
    }
    for (size_t i = 0; self->secure && i < fk_trust_count(self->trust); i++) {
        fk_trust_member_t member;
        if (fk_trust_get(self->trust, i, &member) && strcmp(member.name, self->name) != 0) {
            fk_members_admit(self->members, member.name, member.addr, fk_clock_mono_ms());
        }
    }
    s_persist(self);
}

static void
s_actor(zsock_t *pipe, void *arg)
{
    s_start_t *start = arg;
    fk__cluster_actor_t self = {0};
    self.store = start->store;
    self.me = start->opts.identity;
    self.secure = !start->opts.insecure;
    self.transport = start->transport;
    self.pipe = pipe;
    self.wake_fd = start->wake_fd;
    self.name = fk_strdup(fk_store_node(start->store));
    self.addr = fk_strdup(start->addr);
    self.sync_confirmed = zlistx_new();
    zlistx_set_destructor(self.sync_confirmed, (zlistx_destructor_fn *)zstr_free);
    /*  A node that just started probes over connections still being
        made (TCP, the CurveZMQ handshake, the peer's own reconnect
        backoff towards us), so it starts as Lifeguard's slightly
        unhealthy node: timeouts x4, back to normal after three answered
        probes, about two seconds. Started healthy, each restart had it
        accuse a few healthy members at once (bench: 30-80 false
        sightings per restart at N=50 in the secure mode). */
    fk_members_opts_t mopts = {.probe_interval_ms = start->opts.probe_interval_ms,
                               .start_health = S_START_HEALTH,
                               .closed = self.secure,
                               .verify_claim = s_verify_claim,
                               .sign_claim = self.secure ? s_sign_claim : NULL,
                               .arg = &self};
    self.members = fk_members_new(self.name, self.addr, start->incarnation, &mopts);
    if (self.secure) {
        self.trust = fk_trust_new(self.name, self.me);
    }
    self.reconnect_timeout_ms =
        start->opts.reconnect_timeout_ms ? start->opts.reconnect_timeout_ms : 72ll * 3600 * 1000;
    self.requests = start->requests;
    self.on_forgot = start->opts.on_forgot;
    self.on_forgot_arg = start->opts.on_forgot_arg;
    s_metrics_init(&self.metrics, start->opts.metrics);
    self.lag = start->opts.lag;
    if (start->opts.on_request) {
        self.worker = fk__cluster_worker_new(start->opts.on_request, start->opts.on_request_arg);
    }
    self.retry = start->retry;
    self.retry_count = start->retry_count;
    self.join = start->join;
    self.join_count = start->join_count;
    self.join_until = fk_clock_mono_ms() + 10000;
    if (start->opts.cluster_secret) {
        memcpy(self.secret, start->opts.cluster_secret, FK_ADMIT_SECRET_LEN);
        self.has_secret = true;
    }
    self.token = start->token;
    self.has_token = start->has_token;
    s_load(&self);

    zloop_t *loop = zloop_new();
    self.loop = loop;
    zloop_reader(loop, pipe, s_on_pipe, &self);
    zloop_reader(loop, fk_transport_router(self.transport), s_on_router, &self);
    if (fk_transport_zap(self.transport)) {
        /*  By its descriptor, not as a socket: zloop asks every socket
            for its events on each turn (a system call each), and the ZAP
            socket, busy only when a connection starts, would make the
            secure mode's every turn a fifth dearer than the open mode's. */
        zmq_pollitem_t zap = {
            .socket = NULL, .fd = zsock_fd(fk_transport_zap(self.transport)), .events = ZMQ_POLLIN};
        zloop_poller(loop, &zap, s_on_zap, &self);
    }
    zloop_reader(loop, self.requests, s_on_command, &self);
    if (self.worker) {
        zloop_reader(loop, zactor_sock(self.worker), fk__cluster_on_worker, &self);
    }
    zmq_pollitem_t wake = {.socket = NULL, .fd = self.wake_fd, .events = ZMQ_POLLIN};
    zloop_poller(loop, &wake, s_on_wake, &self);
    if (fk_transport_hello_fd(self.transport) != -1) {
        zmq_pollitem_t hello = {
            .socket = NULL, .fd = fk_transport_hello_fd(self.transport), .events = ZMQ_POLLIN};
        zloop_poller(loop, &hello, fk__cluster_on_hello, &self);
    }
    zloop_timer(loop, S_TICK_MS, 0, s_on_tick, &self);
    zloop_timer(loop, S_ANTI_ENTROPY_MS, 0, s_on_anti_entropy, &self);
    zloop_timer(loop, S_RETRY_JOIN_MS, 0, s_on_retry_join, &self);
    zloop_timer(loop, S_REAP_MS, 0, s_on_reap, &self);
    char why[200];
    for (size_t i = 0; i < self.join_count; i++) {
        s_knock(&self, self.join[i], false, why, sizeof why);
    }
    zsock_signal(pipe, 0);
    zloop_start(loop);

    fk__cluster_admission_free(&self);
    fk__cluster_forward_free(&self);
    zloop_destroy(&loop);
    s_clear_probe(&self);
    free(self.join_addr);
    fk_strv_free(self.seeds, self.seed_count);
    zframe_destroy(&self.join_caller);
    for (size_t i = 0; i < self.sync_caller_count; i++) {
        zframe_destroy(&self.sync_callers[i]);
    }
    free(self.sync_callers);
    for (size_t i = 0; i < self.sync_queue_count; i++) {
        zframe_destroy(&self.sync_queue[i].caller);
    }
    free(self.sync_queue);
    for (size_t i = 0; i < FK__CLUSTER_FORWARDS_MAX; i++) {
        s_forward_clear(&self.forwards[i]);
    }
    zlistx_destroy(&self.sync_confirmed);
    fk_members_destroy(&self.members);
    fk_trust_destroy(&self.trust);
    OPENSSL_cleanse(self.secret, sizeof self.secret);
    OPENSSL_cleanse(&self.token, sizeof self.token);
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
    fk_admit_token_t token;
    if (opts->join_token && fk_admit_token_decode(opts->join_token, &token) != 0) {
        fk_error("cluster: the join token is not one (it starts with \"fkj1.\"; make one with "
                 "`fakts-node join-token create` on a member)");
        free(host);
        return FK_ECONFIG;
    }
    bool secure = !opts->insecure;
    fk_transport_opts_t topts = {.bind = opts->bind,
                                 .secure = secure,
                                 .curve_public = fk_identity_curve_public(opts->identity),
                                 .curve_secret = fk_identity_curve_secret(opts->identity),
                                 .hello = secure && opts->cluster_secret};
    fk_transport_t *transport = NULL;
    int port = 0;
    int rc = fk_transport_new(&transport, &topts, &port);
    if (rc) {
        free(host);
        return rc;
    }
    int wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (wake_fd == -1) {
        rc = -errno;
        fk_error("cluster: eventfd: %s", fk_strerror(rc));
        fk_transport_destroy(&transport);
        free(host);
        return rc;
    }
    fk_cluster_t *self = fk_calloc(1, sizeof *self);
    self->addr = fk_asprintf("%s:%d", advertise, port);
    free(host);
    self->endpoint = fk_asprintf("inproc://fk-cluster-commands-%p", (void *)self);
    zsock_t *requests = zsock_new_router(self->endpoint);
    self->wake_fd = wake_fd;

    /*  Our incarnation must exceed any a peer may still hold about us
        (from before a restart), or an old "failed" would stick. */
    uint64_t incarnation = 1;
    fk_store_txn_t *txn;
    if (fk_store_read_begin(opts->store, &txn) == 0) {
        char *value = NULL;
        size_t len = 0;
        if (fk_store_local_get(txn, "incarnation", &value, &len) == 0) {
            uint64_t stored = strtoull(value, NULL, 10);
            incarnation = stored == UINT64_MAX ? stored : stored + 1;
        }
        free(value);
        fk_store_txn_end(&txn);
    }

    s_start_t *start = fk_calloc(1, sizeof *start);
    start->opts = *opts;
    start->store = opts->store;
    start->transport = transport;
    start->requests = requests;
    start->addr = self->addr;
    start->wake_fd = self->wake_fd;
    start->incarnation = incarnation;
    start->join = s_copy_list(opts->join, opts->join_count);
    start->join_count = opts->join_count;
    start->retry = s_copy_list(opts->retry_join, opts->retry_join_count);
    start->retry_count = opts->retry_join_count;
    if (opts->join_token) {
        start->token = token;
        start->has_token = true;
        OPENSSL_cleanse(&token, sizeof token);
    }
    self->start = start;
    fk_store_on_local_commit(opts->store, s_on_commit, self);
    self->actor = zactor_new(s_actor, start);
    OPENSSL_cleanse(&start->token, sizeof start->token);
    fk_info("cluster: gossip on %s (advertised %s), incarnation %llu, %s", opts->bind, self->addr,
            (unsigned long long)incarnation,
            secure ? "CurveZMQ, admitted members only"
                   : "PLAINTEXT (--insecure-gossip): anyone who reaches this port is believed");
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
    fk_transport_destroy(&self->start->transport);
    zsock_destroy(&self->start->requests);
    fk_strv_free(self->start->retry, self->start->retry_count);
    fk_strv_free(self->start->join, self->start->join_count);
    free(self->start);
    close(self->wake_fd);
    free(self->addr);
    free(self->endpoint);
    free(self);
    *self_p = NULL;
}

const char *
fk_cluster_addr(const fk_cluster_t *self)
{
    return self->addr;
}

/*  Send a command (verb and up to two operands, NULL ending them) and read
    its answer within wait_ms: 0, or the error. The answer "refused <why>"
    copies why out. */
static int
s_command(fk_cluster_t *self, int wait_ms, const char *verb, const char *operand,
          const char *extra, char *why, size_t whylen)
{
    zmsg_t *command = zmsg_new();
    zmsg_addstr(command, verb);
    if (operand) {
        zmsg_addstr(command, operand);
        if (extra) {
            zmsg_addstr(command, extra);
        }
    }
    char *reply = NULL;
    int rc = fk__cluster_call(self->endpoint, &command, wait_ms, &reply, NULL);
    if (rc == 0) {
        char *end = NULL;
        long code = strtol(reply, &end, 10);
        rc = strcmp(reply, "0") == 0                ? 0
             : *reply && !*end                      ? (int)code
             : strcmp(reply, "timeout") == 0        ? -ETIMEDOUT
             : strcmp(reply, "notfound") == 0       ? FK_ENOTFOUND
             : strncmp(reply, "refused ", 8) == 0  ? FK_EDENIED
                                                    : FK_EINVAL_INPUT;
        if (rc == FK_EDENIED && why && whylen) {
            snprintf(why, whylen, "%s", reply + 8);
        }
    }
    free(reply);
    return rc;
}

/*  What a command's caller waits beyond the actor's own deadline for it. */
#define S_CALL_MARGIN_MS 2000

/*  An address a node may be told to knock on: "host:port", no path. */
static bool
s_addr_ok(const char *addr)
{
    const char *colon = addr ? strrchr(addr, ':') : NULL;
    return colon && colon != addr && colon[1] && !strchr(addr, '/') && strlen(addr) <= 255;
}

int
fk_cluster_join(fk_cluster_t *self, const char *addr, const char *token, char *why, size_t whylen)
{
    if (!s_addr_ok(addr)) {
        return FK_EINVAL_INPUT;
    }
    return s_command(self, S_JOIN_WAIT_MS + S_CALL_MARGIN_MS, "JOIN", addr, token ? token : "",
                     why, whylen);
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
    char *status = NULL;
    zmsg_t *rest = NULL;
    int rc = fk__cluster_call(self->endpoint, &command, timeout_ms + S_CALL_MARGIN_MS, &status,
                              &rest);
    if (rc == 0) {
        rc = strcmp(status, "0") == 0          ? 0
             : strcmp(status, "timeout") == 0  ? -ETIMEDOUT
             : strcmp(status, "notfound") == 0 ? FK_ENOTFOUND
             : strcmp(status, "busy") == 0     ? FK_EUNAVAILABLE
                                               : FK_ETOOBIG;
    }
    if (rc == 0) {
        zframe_t *frame = zmsg_pop(rest);
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
    zmsg_destroy(&rest);
    return rc;
}

int
fk_cluster_sync(fk_cluster_t *self, uint64_t version, int timeout_ms)
{
    char timeout[16];
    char ver[24];
    snprintf(timeout, sizeof timeout, "%d", timeout_ms);
    snprintf(ver, sizeof ver, "%llu", (unsigned long long)version);
    /*  Rounds run one after another: a caller may wait for those queued
        before its own, each bounded by its timeout. */
    int rc = s_command(self, 4 * timeout_ms + S_CALL_MARGIN_MS, "SYNC", timeout, ver, NULL, 0);
    return rc == 0 ? 0 : -ETIMEDOUT;
}

int
fk_cluster_leave(fk_cluster_t *self)
{
    return s_command(self, S_CALL_MARGIN_MS, "LEAVE", NULL, NULL, NULL, 0);
}

int
fk_cluster_set_seeds(fk_cluster_t *self, const char *const *addrs, size_t count)
{
    zmsg_t *command = zmsg_new();
    zmsg_addstr(command, "SEEDS");
    for (size_t i = 0, kept = 0; i < count && kept < FK_CLUSTER_SEEDS_MAX; i++) {
        if (s_addr_ok(addrs[i])) {
            zmsg_addstr(command, addrs[i]);
            kept++;
        }
    }
    char *reply = NULL;
    int rc = fk__cluster_call(self->endpoint, &command, S_CALL_MARGIN_MS, &reply, NULL);
    free(reply);
    return rc;
}

int
fk_cluster_force_leave(fk_cluster_t *self, const char *name)
{
    return s_command(self, S_CALL_MARGIN_MS, "FORCE", name, NULL, NULL, 0);
}

int
fk_cluster_ban(fk_cluster_t *self, const char *name)
{
    return s_command(self, S_CALL_MARGIN_MS, "BAN", name, NULL, NULL, 0);
}
