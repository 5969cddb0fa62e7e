/*  Tests for fk_transport: who gets a frame through the cluster plane's
    ROUTER, through fk_transport.h only (plus the ZAP socket it exposes).

    The transport binds 127.0.0.175:0 in the secure mode; clients are
    plain CurveZMQ DEALERs connecting from 127.0.0.176, each with a key of
    its own. The test plays the cluster actor: it polls the ROUTER and the
    ZAP socket and answers ZAP requests with fk_transport_zap_answer.
    "Never arrives" waits a bounded time and always sits next to a
    positive control on the same path. */

#include "fk_transport.h"

#include "fk_msg.h"

#include <criterion/criterion.h>
#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_HOST "127.0.0.175"   /* the transport */
#define S_CLIENT "127.0.0.176" /* its clients */
#define S_ZAP_ENDPOINT "inproc://zeromq.zap.01"
#define S_ZAP_ENFORCE_DOMAIN 93 /* libzmq's DRAFT option, as fk_transport sets it */
#define S_QUIET_MS 1000         /* how long "never arrives" listens */
#define S_ARRIVE_MS 5000        /* how long a frame that should arrive may take */
#define S_CLIENTS_MAX 4

typedef struct {
    uint8_t public_key[FK_TRANSPORT_KEY_LEN];
    uint8_t secret_key[FK_TRANSPORT_KEY_LEN];
} s_keys_t;

static fk_transport_t *s_transport;
static s_keys_t s_server;
static int s_port;
static zsock_t *s_clients[S_CLIENTS_MAX];

static void
s_keypair(s_keys_t *keys)
{
    char public_text[41];
    char secret_text[41];
    cr_assert_eq(zmq_curve_keypair(public_text, secret_text), 0);
    cr_assert_not_null(zmq_z85_decode(keys->public_key, public_text));
    cr_assert_not_null(zmq_z85_decode(keys->secret_key, secret_text));
}

static void
s_setup(void)
{
    s_keypair(&s_server);
    fk_transport_opts_t opts = {.bind = S_HOST ":0",
                                .secure = true,
                                .curve_public = s_server.public_key,
                                .curve_secret = s_server.secret_key};
    cr_assert_eq(fk_transport_new(&s_transport, &opts, &s_port), 0);
    cr_assert_gt(s_port, 0);
}

static void
s_teardown(void)
{
    for (size_t i = 0; i < S_CLIENTS_MAX; i++) {
        zsock_destroy(&s_clients[i]);
    }
    fk_transport_destroy(&s_transport);
}

TestSuite(fk_transport, .init = s_setup, .fini = s_teardown, .timeout = 60);

/*  A CurveZMQ client with keys, pinned to the transport's key, connected
    (the handshake runs in the background). */
static zsock_t *
s_client(const s_keys_t *keys)
{
    zsock_t *client = zsock_new(ZMQ_DEALER);
    cr_assert_not_null(client);
    zsock_set_linger(client, 0);
    zsock_set_curve_serverkey_bin(client, s_server.public_key);
    zsock_set_curve_publickey_bin(client, keys->public_key);
    zsock_set_curve_secretkey_bin(client, keys->secret_key);
    cr_assert_eq(zsock_connect(client, "tcp://" S_CLIENT ":0;" S_HOST ":%d", s_port), 0);
    for (size_t i = 0; i < S_CLIENTS_MAX; i++) {
        if (!s_clients[i]) {
            s_clients[i] = client;
            return client;
        }
    }
    cr_assert_fail("too many clients");
    return NULL;
}

static void
s_send(zsock_t *client, size_t size, uint8_t fill)
{
    uint8_t *frame = malloc(size);
    cr_assert_not_null(frame);
    memset(frame, fill, size);
    cr_assert_eq(zmq_send(zsock_resolve(client), frame, size, 0), (int)size);
    free(frame);
}

/*  What one received frame was. */
typedef struct {
    size_t size;                       /* its octets */
    uint8_t first;                     /* its first octet */
    bool keyed;                        /* fk_transport_recv's verdict */
    uint8_t key[FK_TRANSPORT_KEY_LEN]; /* the key it names, when keyed */
} s_got_t;

/*  Who may connect: every key, or only allowed. Counts the questions. */
typedef struct {
    bool everyone;                         /* let every key in */
    uint8_t allowed[FK_TRANSPORT_KEY_LEN]; /* else only this one */
    int asked;                             /* ZAP requests answered */
} s_judge_t;

static bool
s_allow(void *arg, const uint8_t key[FK_TRANSPORT_KEY_LEN], const char *address)
{
    s_judge_t *judge = arg;
    cr_assert_str_eq(address, S_CLIENT, "the ZAP request names the client's address");
    judge->asked++;
    return judge->everyone || memcmp(key, judge->allowed, FK_TRANSPORT_KEY_LEN) == 0;
}

/*  Play the cluster actor for up to ms: answer ZAP requests with judge
    (while the handler is bound) and take the first frame off the ROUTER.
    Returns true with *got filled when a frame arrived. */
static bool
s_receive(int ms, s_judge_t *judge, s_got_t *got)
{
    memset(got, 0, sizeof *got);
    int64_t deadline = zclock_mono() + ms;
    for (;;) {
        zmq_pollitem_t items[2] = {
            {.socket = zsock_resolve(fk_transport_router(s_transport)), .events = ZMQ_POLLIN},
            {.socket = zsock_resolve(fk_transport_zap(s_transport)), .events = ZMQ_POLLIN}};
        int64_t left = deadline - zclock_mono();
        if (left <= 0 || zmq_poll(items, 2, (long)left) <= 0) {
            return false;
        }
        if (items[1].revents & ZMQ_POLLIN) {
            fk_transport_zap_answer(s_transport, s_allow, judge);
        }
        if (items[0].revents & ZMQ_POLLIN) {
            zframe_t *identity = NULL;
            zframe_t *payload = NULL;
            if (fk_transport_recv(s_transport, &identity, &payload, got->key, &got->keyed) != 0) {
                continue;
            }
            got->size = zframe_size(payload);
            got->first = got->size ? zframe_data(payload)[0] : 0;
            zframe_destroy(&identity);
            zframe_destroy(&payload);
            return true;
        }
    }
}

/*  The ZAP handler crashed: nobody answers at RFC 27's endpoint. */
static void
s_kill_zap_handler(void)
{
    cr_assert_eq(zsock_unbind(fk_transport_zap(s_transport), S_ZAP_ENDPOINT), 0,
                 "cannot unbind the ZAP handler: %s", zmq_strerror(zmq_errno()));
}

Test(fk_transport, without_a_zap_handler_no_curve_client_gets_a_frame_through)
{
    s_kill_zap_handler();
    s_judge_t judge = {.everyone = true};
    s_keys_t keys;
    s_keypair(&keys);
    zsock_t *client = s_client(&keys);
    s_send(client, 5, 'x');
    s_got_t got;
    cr_assert_not(s_receive(S_QUIET_MS, &judge, &got),
                  "a frame came through with no ZAP handler (%zu octets, keyed %d)", got.size,
                  got.keyed);
    cr_assert_eq(judge.asked, 0);

    /*  The same path with the handler back: a fresh client's frame
        arrives, keyed. */
    cr_assert_eq(zsock_bind(fk_transport_zap(s_transport), S_ZAP_ENDPOINT), 0);
    s_keys_t other;
    s_keypair(&other);
    s_send(s_client(&other), 5, 'y');
    cr_assert(s_receive(S_ARRIVE_MS, &judge, &got), "no frame with the handler back");
    cr_assert(got.keyed);
    cr_assert_eq(got.first, 'y');
}

Test(fk_transport, without_enforcement_an_unauthenticated_frame_is_nobodys)
{
    /*  What ZMQ_ZAP_ENFORCE_DOMAIN prevents: libzmq letting a client in
        when no handler answers. Even then fk_transport_recv attributes
        the frame to nobody, and the cluster drops it unread. */
    int off = 0;
    zsock_t *router = fk_transport_router(s_transport);
    cr_assert_eq(zmq_setsockopt(zsock_resolve(router), S_ZAP_ENFORCE_DOMAIN, &off, sizeof off), 0);
    /*  libzmq copies a socket's options into its listener at bind time:
        bind again for new connections to see the option. */
    cr_assert_eq(zsock_unbind(router, "tcp://" S_HOST ":%d", s_port), 0);
    /*  libzmq's I/O thread closes the old listener in the background. */
    int64_t deadline = zclock_mono() + 2000;
    int bound = zsock_bind(router, "tcp://" S_HOST ":%d", s_port);
    while (bound != s_port && zclock_mono() < deadline) {
        zclock_sleep(10);
        bound = zsock_bind(router, "tcp://" S_HOST ":%d", s_port);
    }
    cr_assert_eq(bound, s_port, "cannot bind the ROUTER again: %s", zmq_strerror(zmq_errno()));
    s_kill_zap_handler();
    s_judge_t judge = {.everyone = true};
    s_keys_t keys;
    s_keypair(&keys);
    s_send(s_client(&keys), 5, 'x');
    s_got_t got;
    cr_assert(s_receive(S_ARRIVE_MS, &judge, &got),
              "no frame: libzmq refused the client without enforcement");
    cr_assert_eq(got.first, 'x');
    cr_assert_not(got.keyed, "a frame nobody authenticated was attributed to a key");
}

Test(fk_transport, an_allowed_key_arrives_keyed_with_it_and_a_refused_key_never_arrives)
{
    s_keys_t member;
    s_keys_t stranger;
    s_keypair(&member);
    s_keypair(&stranger);
    s_judge_t judge = {.everyone = false};
    memcpy(judge.allowed, member.public_key, FK_TRANSPORT_KEY_LEN);
    s_send(s_client(&stranger), 5, 's');
    s_send(s_client(&member), 5, 'm');
    s_got_t got;
    cr_assert(s_receive(S_ARRIVE_MS, &judge, &got), "the allowed key's frame did not arrive");
    cr_assert_eq(got.first, 'm', "a refused key's frame arrived");
    cr_assert(got.keyed);
    cr_assert_arr_eq(got.key, member.public_key, FK_TRANSPORT_KEY_LEN,
                     "the frame names another key than its connection's");
    cr_assert_not(s_receive(S_QUIET_MS, &judge, &got), "a refused key's frame arrived (%c)",
                  got.first);
    cr_assert_geq(judge.asked, 2, "the handler was not asked about both keys");
}

Test(fk_transport, an_oversize_frame_never_arrives)
{
    s_judge_t judge = {.everyone = true};
    s_keys_t big;
    s_keys_t limit;
    s_keypair(&big);
    s_keypair(&limit);
    s_send(s_client(&big), FK_MSG_MAX_SIZE + 1, 'b');
    s_got_t got;
    cr_assert_not(s_receive(S_QUIET_MS, &judge, &got),
                  "a frame of FK_MSG_MAX_SIZE + 1 octets arrived (%zu)", got.size);
    /*  A frame of exactly the limit is a valid message size (R-MSG-002):
        it arrives, over CurveZMQ too. */
    s_send(s_client(&limit), FK_MSG_MAX_SIZE, 'l');
    cr_assert(s_receive(S_ARRIVE_MS, &judge, &got), "a frame of FK_MSG_MAX_SIZE did not arrive");
    cr_assert_eq(got.size, FK_MSG_MAX_SIZE);
    cr_assert_eq(got.first, 'l');
}

Test(fk_transport, send_keeps_at_most_max_peers_dealers)
{
    uint8_t key[FK_TRANSPORT_KEY_LEN];
    memset(key, 7, sizeof key);
    /*  Nothing listens there: every DEALER keeps reconnecting, as to a
        dead member, and stays open until it is closed. */
    const char *nowhere = S_CLIENT ":9";
    /*  One member at ever new addresses keeps one DEALER, not one per
        address. */
    for (int port = 10; port < 110; port++) {
        char addr[32];
        snprintf(addr, sizeof addr, S_CLIENT ":%d", port);
        fk_transport_send(s_transport, "mover", addr, key, "x", 1);
        cr_assert_eq(fk_transport_peers(s_transport), 1);
    }
    /*  Many members: never more than the cap. */
    for (int i = 0; i < FK_TRANSPORT_MAX_PEERS + 100; i++) {
        char name[32];
        snprintf(name, sizeof name, "member-%d", i);
        fk_transport_send(s_transport, name, nowhere, key, "x", 1);
        cr_assert_leq(fk_transport_peers(s_transport), FK_TRANSPORT_MAX_PEERS,
                      "%zu DEALERs after %d members", fk_transport_peers(s_transport), i + 1);
    }
    cr_assert_eq(fk_transport_peers(s_transport), FK_TRANSPORT_MAX_PEERS);
    /*  The least recently used went first: the newest is still there. */
    fk_transport_forget(s_transport, "member-611");
    cr_assert_eq(fk_transport_peers(s_transport), FK_TRANSPORT_MAX_PEERS - 1);
}
