/*  fk_cluster_admit - how a node becomes a member (secure mode).

    The seed (a member) and the joiner run one handshake over a CurveZMQ
    connection the joiner opens to the seed, pinned to the seed's public
    key: from the join token, which names it, or from the seed's answer to
    a UDP hello, which only holders of the cluster secret get.

        joiner -> seed   HELLO    method, token id, joiner's signing key
        seed -> joiner   CHALLENGE seed nonce
        joiner -> seed   PROOF    joiner nonce, HMAC(K, both nonces, both
                                  keys, joiner's name and address)
        seed -> joiner   WELCOME  seed's signing key, HMAC(K, ..., seed's)
                         or REFUSED with the reason in words

    K is the token's secret or the cluster secret; neither ever travels.
    The seed's nonce makes every proof fresh, and both proofs cover both
    nodes' CurveZMQ keys, one of which the transport authenticated: a
    captured handshake replayed from another key, or relayed to another
    seed, proves nothing. Each side then writes an admission of the other
    (fk_trust), which every member replicates. The seed answers over the
    joiner's own connection: it opens nothing towards a non-member.

    Everything here runs on the cluster actor's thread. */

#include "fk_clock.h"
#include "fk_cluster_priv.h"
#include "fk_err.h"
#include "fk_log.h"
#include "fk_mem.h"
#include "fk_tokens.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_PENDING_MS 10000  /* a seed waits this long for the proof */
#define S_APPLY_MS 5000     /* a joiner waits this long for the seed's answers */
#define S_HELLO_MS 2000     /* and this long for a hello reply */
#define S_UNKNOWN_PER_S 20  /* handshakes of unknown keys allowed per second */
#define S_HELLO_PER_S 20    /* hello replies sent per second */
#define S_TOKENS_CHECK_MS 1000 /* how long "some join token is live" is believed */

static void
s_random(void *buf, size_t len)
{
    if (RAND_bytes(buf, (int)len) != 1) {
        fprintf(stderr, "fakts-node: OpenSSL RAND_bytes failed\n");
        abort();
    }
}

/*  Count one event in the current one-second window; false once more than
    max happened in it. */
static bool
s_rate(int64_t *window, unsigned *count, unsigned max, int64_t now)
{
    if (now - *window >= 1000) {
        *window = now;
        *count = 0;
    }
    return ++*count <= max;
}

static bool
s_admitting(fk__cluster_actor_t *self, int64_t now)
{
    if (self->has_secret) {
        return true;
    }
    if (now - self->tokens_checked >= S_TOKENS_CHECK_MS) {
        fk_store_txn_t *txn;
        self->tokens_checked = now;
        self->tokens_live = false;
        if (fk_store_read_begin(self->store, &txn) == 0) {
            self->tokens_live = fk_tokens_live(txn, fk_clock_wall_ms());
            fk_store_txn_end(&txn);
        }
    }
    return self->tokens_live;
}

bool
fk__cluster_zap_allow(void *arg, const uint8_t key[FK_TRANSPORT_KEY_LEN], const char *address)
{
    (void)address;
    fk__cluster_actor_t *self = arg;
    if (fk_trust_banned(self->trust, key)) {
        return false;
    }
    const char *member = fk_trust_name_of(self->trust, key);
    if (member) {
        return strcmp(member, self->name) != 0;
    }
    /*  A stranger may only ask to be admitted, and only while this node
        admits anyone; a flood of fresh keys costs at most a few
        handshakes a second. */
    int64_t now = fk_clock_mono_ms();
    return s_admitting(self, now)
           && s_rate(&self->unknown_window, &self->unknown_count, S_UNKNOWN_PER_S, now);
}

/*  ---- the seed's side ------------------------------------------------ */

static void
s_pending_clear(fk__cluster_pending_t *pending)
{
    free(pending->name);
    free(pending->addr);
    OPENSSL_cleanse(pending, sizeof *pending);
}

/*  One admission step as an encoded ADMIT message (fresh in *buf_p), or
    -1 when it cannot be encoded. */
static int
s_encode_step(fk__cluster_actor_t *self, const fk_admit_t *step, char **buf_p, size_t *len_p)
{
    char *body = NULL;
    size_t body_len = 0;
    if (fk_admit_encode(step, &body, &body_len) != 0) {
        return -1;
    }
    fk_msg_t *msg = fk_msg_new(FK_MSG_ADMIT, self->name, self->addr,
                               fk_members_incarnation(self->members));
    int rc = fk_msg_set_body(msg, body, body_len) == 0 && fk_msg_encode(msg, buf_p, len_p) == 0
                 ? 0
                 : -1;
    free(body);
    fk_msg_destroy(&msg);
    return rc;
}

/*  Answer over the applicant's connection with an ADMIT message. */
static void
s_answer(fk__cluster_actor_t *self, const zframe_t *identity, const fk_admit_t *step)
{
    char *buf = NULL;
    size_t len = 0;
    if (s_encode_step(self, step, &buf, &len) == 0) {
        fk_transport_reply(self->transport, identity, buf, len);
        fk__cluster_count_msg(self, FK_MSG_ADMIT, len, true);
    }
    free(buf);
}

static void
s_refuse(fk__cluster_actor_t *self, const zframe_t *identity, const char *name, const char *why)
{
    fk_admit_t step = {.step = FK_ADMIT_REFUSED};
    snprintf(step.reason, sizeof step.reason, "%s", why);
    fk_info("cluster: refused to admit %s: %s", name, why);
    s_answer(self, identity, &step);
}

/*  The secret a method proves: the token's or the cluster's. Returns 0, or
    a reason in why. */
static int
s_secret_of(fk__cluster_actor_t *self, fk_admit_method_t method,
            const uint8_t id[FK_ADMIT_TOKEN_ID_LEN], uint8_t secret[FK_ADMIT_SECRET_LEN],
            const char **why)
{
    if (method == FK_ADMIT_SECRET) {
        if (!self->has_secret) {
            *why = "this node has no cluster secret; join with a join token instead";
            return FK_EDENIED;
        }
        memcpy(secret, self->secret, FK_ADMIT_SECRET_LEN);
        return 0;
    }
    fk_store_txn_t *txn;
    int rc = fk_store_read_begin(self->store, &txn);
    if (rc == 0) {
        rc = fk_tokens_get(txn, id, fk_clock_wall_ms(), secret);
        fk_store_txn_end(&txn);
    }
    *why = rc == 0                 ? NULL
           : rc == FK_EEXPIRED     ? "the join token has expired; make a new one"
           : rc == FK_EUSED        ? "the join token is used up; make a new one"
           : rc == FK_ENOTFOUND    ? "this node did not make that join token, or it was revoked"
                                   : "the join token cannot be read here";
    return rc;
}

static fk__cluster_pending_t *
s_pending_slot(fk__cluster_actor_t *self, const uint8_t key[FK_TRANSPORT_KEY_LEN], int64_t now)
{
    fk__cluster_pending_t *free_slot = NULL;
    for (size_t i = 0; i < FK__CLUSTER_PENDING_MAX; i++) {
        fk__cluster_pending_t *pending = &self->pending[i];
        if (pending->used && memcmp(pending->key, key, FK_TRANSPORT_KEY_LEN) == 0) {
            s_pending_clear(pending);
            return pending;
        }
        if (pending->used && pending->deadline < now) {
            s_pending_clear(pending);
        }
        if (!pending->used && !free_slot) {
            free_slot = pending;
        }
    }
    return free_slot;
}

static void
s_on_hello_step(fk__cluster_actor_t *self, const zframe_t *identity,
                const uint8_t key[FK_TRANSPORT_KEY_LEN], const fk_msg_t *msg,
                const fk_admit_t *step)
{
    const char *name = fk_msg_from(msg);
    uint8_t secret[FK_ADMIT_SECRET_LEN];
    const char *why = NULL;
    if (s_secret_of(self, step->method, step->token_id, secret, &why) != 0) {
        s_refuse(self, identity, name, why);
        return;
    }
    OPENSSL_cleanse(secret, sizeof secret);
    fk_trust_member_t bound;
    if (strcmp(name, self->name) == 0) {
        s_refuse(self, identity, name, "that name is this node's own; pick another --node");
        return;
    }
    if (fk_trust_find(self->trust, name, &bound)
        && (memcmp(bound.curve, key, FK_TRANSPORT_KEY_LEN) != 0
            || memcmp(bound.sign, step->sign_pub, FK_SIGN_PUBLIC_LEN) != 0)) {
        s_refuse(self, identity, name,
                 "the name belongs to another key; ban that one first (force-leave --ban) or "
                 "pick another --node");
        return;
    }
    int64_t now = fk_clock_mono_ms();
    fk__cluster_pending_t *pending = s_pending_slot(self, key, now);
    if (!pending) {
        s_refuse(self, identity, name, "too many admissions at once; try again in a few seconds");
        return;
    }
    pending->used = true;
    memcpy(pending->key, key, FK_TRANSPORT_KEY_LEN);
    memcpy(pending->sign, step->sign_pub, FK_SIGN_PUBLIC_LEN);
    pending->name = fk_strdup(name);
    pending->addr = fk_strdup(fk_msg_from_addr(msg));
    pending->method = step->method;
    memcpy(pending->token_id, step->token_id, FK_ADMIT_TOKEN_ID_LEN);
    s_random(pending->nonce, sizeof pending->nonce);
    pending->deadline = now + S_PENDING_MS;
    fk_admit_t challenge = {.step = FK_ADMIT_CHALLENGE, .has_nonce = true};
    memcpy(challenge.nonce, pending->nonce, FK_ADMIT_NONCE_LEN);
    s_answer(self, identity, &challenge);
}

/*  Write the admission (and spend the token's use) in one transaction. */
static int
s_admit(fk__cluster_actor_t *self, const fk__cluster_pending_t *pending)
{
    fk_store_txn_t *txn;
    int rc = fk_store_write_begin(self->store, &txn);
    if (rc) {
        return rc;
    }
    fk_trust_member_t bound;
    bool again = fk_trust_find(self->trust, pending->name, &bound)
                 && memcmp(bound.curve, pending->key, FK_TRANSPORT_KEY_LEN) == 0;
    /*  A member admitted before (restarted with its token still set)
        costs its token nothing. */
    if (!again && pending->method == FK_ADMIT_TOKEN) {
        rc = fk_tokens_consume(txn, pending->token_id);
    }
    if (rc == 0) {
        rc = fk_trust_admit(self->trust, txn, pending->name, pending->addr, pending->key,
                            pending->sign);
    }
    if (rc == 0) {
        rc = fk_store_commit(&txn);
    }
    fk_store_txn_end(&txn);
    return rc;
}

static void
s_on_proof_step(fk__cluster_actor_t *self, const zframe_t *identity,
                const uint8_t key[FK_TRANSPORT_KEY_LEN], const fk_msg_t *msg,
                const fk_admit_t *step)
{
    fk__cluster_pending_t *pending = NULL;
    int64_t now = fk_clock_mono_ms();
    for (size_t i = 0; i < FK__CLUSTER_PENDING_MAX && !pending; i++) {
        if (self->pending[i].used && self->pending[i].deadline >= now
            && memcmp(self->pending[i].key, key, FK_TRANSPORT_KEY_LEN) == 0) {
            pending = &self->pending[i];
        }
    }
    if (!pending || strcmp(pending->name, fk_msg_from(msg)) != 0
        || strcmp(pending->addr, fk_msg_from_addr(msg)) != 0) {
        s_refuse(self, identity, fk_msg_from(msg), "no admission in progress; start again");
        return;
    }
    uint8_t secret[FK_ADMIT_SECRET_LEN];
    const char *why = NULL;
    if (s_secret_of(self, pending->method, pending->token_id, secret, &why) != 0) {
        s_refuse(self, identity, pending->name, why);
        s_pending_clear(pending);
        return;
    }
    uint8_t expect[FK_ADMIT_PROOF_LEN];
    fk_admit_proof(secret, false, pending->nonce, step->nonce, pending->key, pending->sign,
                   fk_identity_curve_public(self->me), pending->name, pending->addr, expect);
    if (!fk_admit_proof_equal(expect, step->proof)) {
        OPENSSL_cleanse(secret, sizeof secret);
        s_refuse(self, identity, pending->name,
                 pending->method == FK_ADMIT_TOKEN
                     ? "the proof does not match the join token"
                     : "the proof does not match: the cluster secrets differ");
        s_pending_clear(pending);
        return;
    }
    int rc = s_admit(self, pending);
    if (rc != 0) {
        OPENSSL_cleanse(secret, sizeof secret);
        s_refuse(self, identity, pending->name,
                 rc == FK_EEXISTS   ? "the name belongs to another key"
                 : rc == FK_EDENIED ? "this key is banned"
                 : rc == FK_EUSED   ? "the join token is used up; make a new one"
                                    : "the admission could not be stored");
        s_pending_clear(pending);
        return;
    }
    char fingerprint[FK_IDENTITY_FINGERPRINT + 1];
    fk_identity_fingerprint(pending->key, pending->sign, fingerprint);
    fk_info("cluster: admitted %s (%s, key %s) with %s", pending->name, pending->addr, fingerprint,
            pending->method == FK_ADMIT_TOKEN ? "a join token" : "the cluster secret");
    fk_admit_t welcome = {.step = FK_ADMIT_WELCOME, .has_sign_pub = true, .has_proof = true};
    memcpy(welcome.sign_pub, fk_identity_sign_public(self->me), FK_SIGN_PUBLIC_LEN);
    fk_admit_proof(secret, true, pending->nonce, step->nonce, fk_identity_curve_public(self->me),
                   fk_identity_sign_public(self->me), pending->key, self->name, self->addr,
                   welcome.proof);
    OPENSSL_cleanse(secret, sizeof secret);
    s_answer(self, identity, &welcome);
    s_pending_clear(pending);
    fk__cluster_trust_changed(self);
}

void
fk__cluster_on_admit(fk__cluster_actor_t *self, const zframe_t *identity,
                     const uint8_t key[FK_TRANSPORT_KEY_LEN], const fk_msg_t *msg)
{
    size_t len = 0;
    const void *body = fk_msg_body(msg, &len);
    fk_admit_t step;
    if (fk_admit_decode(body, len, &step) != 0) {
        return; /* not even a question: no answer */
    }
    if (step.step == FK_ADMIT_HELLO) {
        s_on_hello_step(self, identity, key, msg, &step);
    } else if (step.step == FK_ADMIT_PROOF) {
        s_on_proof_step(self, identity, key, msg, &step);
    }
}

/*  ---- the joiner's side ---------------------------------------------- */

static void
s_applicant_clear(fk__cluster_actor_t *self, fk__cluster_applicant_t *applicant)
{
    if (applicant->dealer) {
        zloop_reader_end(self->loop, applicant->dealer);
        zsock_destroy(&applicant->dealer);
    }
    free(applicant->addr);
    OPENSSL_cleanse(applicant, sizeof *applicant);
}

/*  Send one admission step to the seed over our connection to it. */
static void
s_ask(fk__cluster_actor_t *self, fk__cluster_applicant_t *applicant, const fk_admit_t *step)
{
    char *buf = NULL;
    size_t len = 0;
    if (s_encode_step(self, step, &buf, &len) == 0) {
        zmq_send(zsock_resolve(applicant->dealer), buf, len, ZMQ_DONTWAIT);
    }
    free(buf);
}

static const uint8_t *
s_method_secret(const fk__cluster_actor_t *self, fk_admit_method_t method)
{
    return method == FK_ADMIT_TOKEN ? self->token.secret : self->secret;
}

/*  The seed turned us down, or did not prove itself: say why, once. */
static void
s_applicant_failed(fk__cluster_actor_t *self, fk__cluster_applicant_t *applicant, const char *why)
{
    char *line = fk_asprintf("%s at %s: %s", "the node", applicant->addr, why);
    if (!self->refusal || strcmp(self->refusal, line) != 0) {
        fk_error("cluster: cannot join %s", line);
        free(self->refusal);
        self->refusal = fk_strdup(line);
    }
    free(line);
    if (applicant->for_command) {
        char *reply = fk_asprintf("refused %s", why);
        fk__cluster_command_done(self, reply);
        free(reply);
    }
    s_applicant_clear(self, applicant);
}

static void
s_on_welcome(fk__cluster_actor_t *self, fk__cluster_applicant_t *applicant, const fk_msg_t *msg,
             const fk_admit_t *step)
{
    uint8_t expect[FK_ADMIT_PROOF_LEN];
    fk_admit_proof(s_method_secret(self, applicant->method), true, applicant->seed_nonce,
                   applicant->nonce, applicant->server_key, step->sign_pub,
                   fk_identity_curve_public(self->me), fk_msg_from(msg), fk_msg_from_addr(msg),
                   expect);
    if (!fk_admit_proof_equal(expect, step->proof)) {
        s_applicant_failed(self, applicant,
                           "it did not prove it holds the join token or the cluster secret");
        return;
    }
    /*  We admit the seed in turn: the token pinned its key (or the secret
        proved it), and its admission is what makes our store accept its
        records, and through them everyone it admitted. */
    fk_store_txn_t *txn;
    int rc = fk_store_write_begin(self->store, &txn);
    if (rc == 0) {
        rc = fk_trust_admit(self->trust, txn, fk_msg_from(msg), fk_msg_from_addr(msg),
                            applicant->server_key, step->sign_pub);
        if (rc == 0) {
            rc = fk_store_commit(&txn);
        }
        fk_store_txn_end(&txn);
    }
    if (rc != 0) {
        s_applicant_failed(self, applicant, "its admission could not be stored here");
        return;
    }
    fk_info("cluster: admitted to the cluster by %s (%s)", fk_msg_from(msg),
            fk_msg_from_addr(msg));
    free(self->refusal);
    self->refusal = NULL;
    char *seed = fk_strdup(fk_msg_from(msg));
    if (applicant->for_command) {
        fk__cluster_command_done(self, "0");
    }
    s_applicant_clear(self, applicant);
    fk__cluster_trust_changed(self);
    fk__cluster_send_join(self, seed, NULL);
    free(seed);
}

static int
s_on_applicant(zloop_t *loop, zsock_t *dealer, void *arg)
{
    (void)loop;
    fk__cluster_actor_t *self = arg;
    fk__cluster_applicant_t *applicant = NULL;
    for (size_t i = 0; i < FK__CLUSTER_APPLICANTS_MAX && !applicant; i++) {
        if (self->applicants[i].used && self->applicants[i].dealer == dealer) {
            applicant = &self->applicants[i];
        }
    }
    zframe_t *frame = zframe_recv(dealer);
    fk_msg_t *msg = NULL;
    fk_admit_t step;
    size_t len = 0;
    if (!applicant || !frame
        || fk_msg_decode(zframe_data(frame), zframe_size(frame), &msg) != 0
        || fk_msg_type(msg) != FK_MSG_ADMIT) {
        goto done;
    }
    const void *body = fk_msg_body(msg, &len);
    if (fk_admit_decode(body, len, &step) != 0) {
        goto done;
    }
    if (step.step == FK_ADMIT_CHALLENGE) {
        memcpy(applicant->seed_nonce, step.nonce, FK_ADMIT_NONCE_LEN);
        fk_admit_t proof = {.step = FK_ADMIT_PROOF, .has_nonce = true, .has_proof = true};
        memcpy(proof.nonce, applicant->nonce, FK_ADMIT_NONCE_LEN);
        fk_admit_proof(s_method_secret(self, applicant->method), false, step.nonce,
                       applicant->nonce, fk_identity_curve_public(self->me),
                       fk_identity_sign_public(self->me), applicant->server_key, self->name,
                       self->addr, proof.proof);
        s_ask(self, applicant, &proof);
    } else if (step.step == FK_ADMIT_WELCOME) {
        s_on_welcome(self, applicant, msg, &step);
    } else if (step.step == FK_ADMIT_REFUSED) {
        s_applicant_failed(self, applicant, step.reason);
    }
done:
    fk_msg_destroy(&msg);
    zframe_destroy(&frame);
    return 0;
}

static int
s_applicant_start(fk__cluster_actor_t *self, const char *addr,
                  const uint8_t server_key[FK_TRANSPORT_KEY_LEN], fk_admit_method_t method,
                  bool for_command)
{
    if (memcmp(server_key, fk_identity_curve_public(self->me), FK_TRANSPORT_KEY_LEN) == 0) {
        return 0; /* that is us: a retry-join list naming every node */
    }
    fk__cluster_applicant_t *applicant = NULL;
    for (size_t i = 0; i < FK__CLUSTER_APPLICANTS_MAX && !applicant; i++) {
        if (!self->applicants[i].used) {
            applicant = &self->applicants[i];
        }
    }
    zsock_t *dealer = applicant ? fk_transport_applicant(self->transport, addr, server_key) : NULL;
    if (!dealer) {
        return FK_EINVAL_INPUT;
    }
    applicant->used = true;
    applicant->dealer = dealer;
    applicant->addr = fk_strdup(addr);
    memcpy(applicant->server_key, server_key, FK_TRANSPORT_KEY_LEN);
    applicant->method = method;
    s_random(applicant->nonce, sizeof applicant->nonce);
    applicant->deadline = fk_clock_mono_ms() + S_APPLY_MS;
    applicant->for_command = for_command;
    zloop_reader(self->loop, dealer, s_on_applicant, self);
    fk_admit_t hello = {.step = FK_ADMIT_HELLO, .method = method, .has_sign_pub = true};
    memcpy(hello.sign_pub, fk_identity_sign_public(self->me), FK_SIGN_PUBLIC_LEN);
    if (method == FK_ADMIT_TOKEN) {
        hello.has_token_id = true;
        memcpy(hello.token_id, self->token.id, FK_ADMIT_TOKEN_ID_LEN);
    }
    s_ask(self, applicant, &hello);
    return 0;
}

int
fk__cluster_admission_start(fk__cluster_actor_t *self, const char *addr, bool for_command,
                            char *why, size_t whylen)
{
    for (size_t i = 0; i < FK__CLUSTER_APPLICANTS_MAX; i++) {
        fk__cluster_applicant_t *applicant = &self->applicants[i];
        if (applicant->used && strcmp(applicant->addr, addr) == 0) {
            applicant->for_command |= for_command;
            return 0; /* already under way */
        }
    }
    if (self->has_token) {
        return s_applicant_start(self, addr, self->token.seed_curve, FK_ADMIT_TOKEN, for_command);
    }
    if (!self->has_secret) {
        snprintf(why, whylen,
                 "%s is not a member we know, and this node has no way to be admitted: start "
                 "it with --join-token (make one with `fakts-node join-token create` on a "
                 "member) or --cluster-secret-file",
                 addr);
        return FK_EINVAL_INPUT;
    }
    /*  With the cluster secret we first ask the seed for its key. */
    fk__cluster_hello_t *slot = NULL;
    for (size_t i = 0; i < FK__CLUSTER_APPLICANTS_MAX; i++) {
        fk__cluster_hello_t *hello = &self->hellos[i];
        if (hello->used && strcmp(hello->addr, addr) == 0) {
            hello->for_command |= for_command;
            return 0;
        }
        if (!hello->used && !slot) {
            slot = hello;
        }
    }
    if (!slot) {
        snprintf(why, whylen, "too many joins under way; try again in a few seconds");
        return FK_EINVAL_INPUT;
    }
    s_random(slot->nonce, sizeof slot->nonce);
    uint8_t request[FK_ADMIT_HELLO_LEN];
    fk_admit_hello_request(self->secret, slot->nonce, request);
    if (fk_transport_hello_send(self->transport, addr, request, sizeof request) != 0) {
        snprintf(why, whylen, "cannot send the UDP hello to %s", addr);
        return FK_EINVAL_INPUT;
    }
    slot->used = true;
    slot->addr = fk_strdup(addr);
    slot->deadline = fk_clock_mono_ms() + S_HELLO_MS;
    slot->for_command = for_command;
    return 0;
}

static void
s_hello_clear(fk__cluster_hello_t *hello)
{
    free(hello->addr);
    memset(hello, 0, sizeof *hello);
}

int
fk__cluster_on_hello(zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    (void)loop;
    (void)item;
    fk__cluster_actor_t *self = arg;
    uint8_t datagram[FK_ADMIT_HELLO_LEN + 1];
    char from[64];
    long got = fk_transport_hello_recv(self->transport, datagram, sizeof datagram, from);
    if (got < 0 || !self->has_secret) {
        return 0;
    }
    uint8_t nonce[16];
    int64_t now = fk_clock_mono_ms();
    if (fk_admit_hello_read_request(self->secret, datagram, (size_t)got, nonce) == 0) {
        /*  A holder of the secret asks for our key: answer, a few a
            second at most. */
        if (s_rate(&self->hello_window, &self->hello_count, S_HELLO_PER_S, now)) {
            uint8_t reply[FK_ADMIT_HELLO_LEN];
            fk_admit_hello_reply(self->secret, nonce, fk_identity_curve_public(self->me), reply);
            fk_transport_hello_send(self->transport, from, reply, sizeof reply);
        }
        return 0;
    }
    for (size_t i = 0; i < FK__CLUSTER_APPLICANTS_MAX; i++) {
        fk__cluster_hello_t *hello = &self->hellos[i];
        uint8_t key[FK_TRANSPORT_KEY_LEN];
        if (hello->used
            && fk_admit_hello_read_reply(self->secret, hello->nonce, datagram, (size_t)got, key)
                   == 0) {
            char *addr = fk_strdup(hello->addr);
            bool for_command = hello->for_command;
            s_hello_clear(hello);
            if (s_applicant_start(self, addr, key, FK_ADMIT_SECRET, for_command) != 0
                && for_command) {
                fk__cluster_command_done(self, "refused cannot connect to it");
            }
            free(addr);
            return 0;
        }
    }
    return 0;
}

void
fk__cluster_admission_tick(fk__cluster_actor_t *self, int64_t now)
{
    for (size_t i = 0; i < FK__CLUSTER_PENDING_MAX; i++) {
        if (self->pending[i].used && self->pending[i].deadline < now) {
            s_pending_clear(&self->pending[i]);
        }
    }
    for (size_t i = 0; i < FK__CLUSTER_APPLICANTS_MAX; i++) {
        if (self->applicants[i].used && self->applicants[i].deadline < now) {
            s_applicant_clear(self, &self->applicants[i]);
        }
        if (self->hellos[i].used && self->hellos[i].deadline < now) {
            s_hello_clear(&self->hellos[i]);
        }
    }
}

void
fk__cluster_admission_free(fk__cluster_actor_t *self)
{
    for (size_t i = 0; i < FK__CLUSTER_PENDING_MAX; i++) {
        s_pending_clear(&self->pending[i]);
    }
    for (size_t i = 0; i < FK__CLUSTER_APPLICANTS_MAX; i++) {
        s_applicant_clear(self, &self->applicants[i]);
        s_hello_clear(&self->hellos[i]);
    }
    free(self->refusal);
    self->refusal = NULL;
}
