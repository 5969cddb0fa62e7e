/*  fk_cluster_priv - the cluster actor's state, shared by its files:
    fk_cluster.c (the actor, membership and replication traffic) and
    fk_cluster_admit.c (admissions: join tokens, the cluster secret, the
    UDP hello). Everything here runs on the actor's thread. */

#ifndef FK_CLUSTER_PRIV_H_INCLUDED
#define FK_CLUSTER_PRIV_H_INCLUDED

#include "fk_admit.h"
#include "fk_cluster.h"
#include "fk_members.h"
#include "fk_msg.h"
#include "fk_transport.h"
#include "fk_trust.h"

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

#define FK__CLUSTER_FORWARDS_MAX 64  /* indirect probes relayed at once */
#define FK__CLUSTER_PENDING_MAX 64   /* admissions a seed holds open at once */
#define FK__CLUSTER_APPLICANTS_MAX 8 /* admissions this node runs at once */
#define FK__CLUSTER_INFLIGHT_MAX 256 /* our forwarded requests waiting for owners at once */
#define FK__CLUSTER_MSG_TYPES 11     /* wire types 1-10 index the message counters (0 unused) */

/*  Outcomes of a request this node forwarded to a record's owner. */
typedef enum {
    FK__CLUSTER_FWD_OK,       /* the owner answered */
    FK__CLUSTER_FWD_NOTFOUND, /* the owner is not a live member */
    FK__CLUSTER_FWD_BUSY,     /* every in-flight slot was taken */
    FK__CLUSTER_FWD_TOOBIG,   /* the request did not fit a message */
    FK__CLUSTER_FWD_TIMEOUT,  /* no answer in time (or the node stopped) */
    FK__CLUSTER_FWD_OUTCOMES
} fk__cluster_fwd_t;

/*  The actor's series in the agent's registry (fk_metrics.h), all NULL
    without one; updated from the actor thread only. */
typedef struct {
    fk_metric_t *msgs_in[FK__CLUSTER_MSG_TYPES];     /* messages received, by type */
    fk_metric_t *bytes_in[FK__CLUSTER_MSG_TYPES];    /* and their bytes */
    fk_metric_t *msgs_out[FK__CLUSTER_MSG_TYPES];    /* messages sent, by type */
    fk_metric_t *bytes_out[FK__CLUSTER_MSG_TYPES];   /* and their bytes */
    fk_metric_t *suspicions;                         /* members our own probes made suspect */
    fk_metric_t *failures;                           /* suspicions that timed out into failed */
    fk_metric_t *refutations;                        /* accusations of us we refuted */
    fk_metric_t *forwards[FK__CLUSTER_FWD_OUTCOMES]; /* forwarded requests, by outcome */
} fk__cluster_metrics_t;

/*  One of our forwarded requests, waiting for the owner's REPLY. */
typedef struct {
    uint64_t seq;      /* its sequence number; 0: a free slot */
    char *node;        /* the member it went to: only its REPLY counts */
    zframe_t *caller;  /* routing id of the waiting thread's socket */
    int64_t deadline;  /* when the caller is told "timeout" */
} fk__cluster_inflight_t;

/*  A caller waiting for a quorum round that has not started yet. */
typedef struct {
    zframe_t *caller;  /* routing id of the waiting thread's socket */
    uint64_t version;  /* 0: a read round; else our version a majority must hold */
    int timeout_ms;    /* how long its round may take */
} fk__cluster_sync_wait_t;

/*  An indirect probe we run for another member (SWIM's PING_REQ). */
typedef struct {
    uint64_t seq;           /* our ping's sequence */
    char *requester;        /* who asked (name; its address in open mode) */
    uint64_t requester_seq; /* the sequence it waits for */
    char *target;           /* whom we pinged: only its ACK counts */
    int64_t deadline;       /* forget after this */
} fk__cluster_forward_t;

/*  An admission this node granted halfway: challenge sent, proof awaited. */
typedef struct {
    bool used;                               /* slot in use */
    uint8_t key[FK_TRANSPORT_KEY_LEN];       /* the applicant's CurveZMQ key */
    uint8_t sign[FK_SIGN_PUBLIC_LEN];        /* its Ed25519 key (from its hello) */
    char *name;                              /* the name it asks for */
    char *addr;                              /* its gossip address */
    fk_admit_method_t method;                /* token or cluster secret */
    uint8_t token_id[FK_ADMIT_TOKEN_ID_LEN]; /* which token */
    uint8_t nonce[FK_ADMIT_NONCE_LEN];       /* our challenge */
    int64_t deadline;                        /* forget after this */
} fk__cluster_pending_t;

/*  An admission this node asked for: our side of the handshake with one
    seed. */
typedef struct {
    bool used;                                /* slot in use */
    char *addr;                               /* the seed's gossip address */
    zsock_t *dealer;                          /* our connection to it, for its answers */
    uint8_t server_key[FK_TRANSPORT_KEY_LEN]; /* the seed's CurveZMQ key (pinned) */
    fk_admit_method_t method;                 /* token or cluster secret */
    uint8_t nonce[FK_ADMIT_NONCE_LEN];        /* our nonce */
    uint8_t seed_nonce[FK_ADMIT_NONCE_LEN];   /* the seed's challenge */
    int64_t deadline;                         /* give up after this */
    bool for_command;                         /* a JOIN command waits on the pipe */
} fk__cluster_applicant_t;

/*  A UDP hello we sent, waiting for the seed's key. */
typedef struct {
    bool used;          /* slot in use */
    char *addr;         /* where it went */
    uint8_t nonce[16];  /* its nonce */
    int64_t deadline;   /* forget after this */
    bool for_command;   /* a JOIN command waits on the pipe */
} fk__cluster_hello_t;

typedef struct {
    fk_store_t *store;         /* borrowed */
    const fk_identity_t *me;   /* our keys (borrowed) */
    bool secure;               /* CurveZMQ, admissions, signed claims */
    fk_transport_t *transport; /* sockets */
    zloop_t *loop;             /* the actor's reactor */
    zsock_t *pipe;             /* commands from fk_cluster_* */
    int wake_fd;               /* local commits */
    fk_members_t *members;     /* SWIM state */
    fk_trust_t *trust;         /* who is admitted (secure mode) */
    char *name;                /* our node name */
    char *addr;                /* our advertised address */
    uint64_t seq;              /* last sequence number used */
    char *probe_target;        /* member being probed, or NULL */
    uint64_t probe_seq;        /* its ping's sequence */
    int64_t probe_start;       /* when the ping went out */
    bool probe_indirect;       /* indirect pings sent */
    char *probe_helpers[3];    /* the members asked to probe indirectly: their ACKs count */
    int64_t next_probe;        /* when the next probe starts */
    fk__cluster_forward_t forwards[FK__CLUSTER_FORWARDS_MAX]; /* indirect probes for others */
    uint64_t pushed;           /* local versions pushed so far */
    char **retry;              /* retry-join addresses */
    size_t retry_count;        /* entries in retry */
    char **seeds;              /* addresses a rendezvous found (fk_cluster_set_seeds) */
    size_t seed_count;         /* entries in seeds */
    char **join;               /* --join addresses, tried for 10 s */
    size_t join_count;         /* entries in join */
    int64_t join_until;        /* keep sending --join until then */
    int64_t reconnect_timeout_ms;  /* purge failed/left nodes' records after this */
    bool sync_active;              /* a quorum round is waiting */
    uint64_t sync_version;         /* write round: our version a majority must hold (0: read) */
    size_t sync_needed;            /* other members that must confirm */
    zlistx_t *sync_confirmed;      /* names of those that did */
    int64_t sync_deadline;         /* when the round gives up */
    zframe_t **sync_callers;       /* routing ids of the callers the round answers */
    size_t sync_caller_count;      /* entries in sync_callers */
    fk__cluster_sync_wait_t *sync_queue; /* callers waiting for the next round, in order */
    size_t sync_queue_count;       /* entries in sync_queue */
    zsock_t *requests;                /* ROUTER: forwarded requests from HTTP threads */
    fk__cluster_inflight_t inflight[FK__CLUSTER_INFLIGHT_MAX]; /* ours, waiting for owners */
    zactor_t *worker;                 /* carries out requests forwarded to us, or NULL */
    char *join_addr;                  /* a join command waiting for this address */
    zframe_t *join_caller;            /* routing id of the thread waiting on it */
    int64_t join_deadline;            /* when it gives up */
    bool has_secret;                  /* a cluster secret is configured */
    uint8_t secret[FK_ADMIT_SECRET_LEN]; /* the cluster secret */
    bool has_token;                      /* a join token is configured */
    fk_admit_token_t token;              /* the join token */
    fk__cluster_pending_t pending[FK__CLUSTER_PENDING_MAX];          /* as seed */
    fk__cluster_applicant_t applicants[FK__CLUSTER_APPLICANTS_MAX]; /* as joiner */
    fk__cluster_hello_t hellos[FK__CLUSTER_APPLICANTS_MAX];         /* UDP hellos sent */
    int64_t unknown_window;    /* start of the current second of unknown-key handshakes */
    unsigned unknown_count;    /* unknown-key handshakes allowed in it */
    int64_t tokens_checked;    /* when tokens_live was last read */
    bool tokens_live;          /* some join token of ours may admit */
    int64_t hello_window;      /* start of the current second of hello replies */
    unsigned hello_count;      /* hello replies sent in it */
    int64_t refused_log;       /* last "dropped a frame from a non-member" log line */
    char *refusal;             /* the last admission failure logged (logged once) */
    void (*on_forgot)(void *arg); /* told when a member's records were forgotten */
    void *on_forgot_arg;          /* its argument */
    fk__cluster_metrics_t metrics; /* what the actor counts */
    fk_lag_t *lag;                 /* replication lag notes (borrowed), or NULL */
} fk__cluster_actor_t;

/*  ---- fk_cluster.c, for the admission code ---- */

/*  Count one message of type, len bytes, sent (out) or received. */
void fk__cluster_count_msg(fk__cluster_actor_t *self, fk_msg_type_t type, size_t len, bool out);

/*  A message of type from us, with the piggybacked member entries. */
fk_msg_t *fk__cluster_msg(fk__cluster_actor_t *self, fk_msg_type_t type);

/*  Encode and send *msg_p to member name (secure) or address addr (open),
    and destroy it. */
void fk__cluster_send(fk__cluster_actor_t *self, const char *name, const char *addr,
                      fk_msg_t **msg_p);

/*  Send *msg_p to member name (by name in the secure mode, to the address
    the table holds in the open mode), and destroy it. */
void fk__cluster_send_member(fk__cluster_actor_t *self, const char *name, fk_msg_t **msg_p);

/*  Close our connection to member name (both modes). */
void fk__cluster_forget_peer(fk__cluster_actor_t *self, const char *name);

/*  Send a JOIN (with our digest) to a member or address. */
void fk__cluster_send_join(fk__cluster_actor_t *self, const char *name, const char *addr);

/*  Re-read the trust table after admit/ or ban/ records changed, and
    carry out what changed: members added or removed, records of an old
    key forgotten (after copying what it admitted and banned), connections
    closed. */
void fk__cluster_trust_changed(fk__cluster_actor_t *self);

/*  Answer the JOIN command waiting for its answer (once). */
void fk__cluster_command_done(fk__cluster_actor_t *self, const char *reply);

/*  Answer a caller on the command socket with status (and len bytes of
    body, when body is not NULL); takes the caller's routing id. */
void fk__cluster_answer(fk__cluster_actor_t *self, zframe_t **caller_p, const char *status,
                        const void *body, size_t len);

/*  ---- fk_cluster_forward.c ---- */

/*  A worker thread running fn on the requests members forward to us. */
zactor_t *fk__cluster_worker_new(fk_cluster_request_fn fn, void *arg);

/*  A REQUEST from a member: queue it for the worker. */
void fk__cluster_on_request(fk__cluster_actor_t *self, const fk_msg_t *msg);

/*  The worker finished one: send the REPLY. */
int fk__cluster_on_worker(zloop_t *loop, zsock_t *worker, void *arg);

/*  An HTTP thread asks us to forward body to member node, waiting at most
    timeout_ms; takes the caller's routing id. */
void fk__cluster_forward_start(fk__cluster_actor_t *self, zframe_t **caller_p, const char *node,
                               int timeout_ms, zframe_t *body);

/*  A REPLY from a member: hand it to the thread waiting for it. */
void fk__cluster_on_reply(fk__cluster_actor_t *self, const fk_msg_t *msg);

/*  Answer "timeout" to requests past their deadline. */
void fk__cluster_forward_tick(fk__cluster_actor_t *self, int64_t now);

/*  Answer every waiting request and stop the worker (actor shutdown). */
void fk__cluster_forward_free(fk__cluster_actor_t *self);

/*  Send a command from any thread: a DEALER of its own to the actor's
    command ROUTER at endpoint, the frames of command (destroyed), and the
    answer within wait_ms: its first frame is the status string (*status_p,
    caller frees), the rest in *rest_p (caller destroys; may be NULL).
    Returns 0, or -ETIMEDOUT when the actor did not answer. */
int fk__cluster_call(const char *endpoint, zmsg_t **command_p, int wait_ms, char **status_p,
                     zmsg_t **rest_p);

/*  ---- fk_cluster_admit.c ---- */

/*  ZAP: may this CurveZMQ key connect? Members yes, banned keys no, others
    only while this node admits (a cluster secret or a live join token),
    and at most a few new ones a second. */
bool fk__cluster_zap_allow(void *arg, const uint8_t key[FK_TRANSPORT_KEY_LEN],
                           const char *address);

/*  An ADMIT message from the connection identity, whose key is key (the
    seed's side). */
void fk__cluster_on_admit(fk__cluster_actor_t *self, const zframe_t *identity,
                          const uint8_t key[FK_TRANSPORT_KEY_LEN], const fk_msg_t *msg);

/*  Start joining the node at addr: through the join token (it names the
    seed's key), else the cluster secret (a UDP hello asks for the key
    first). Returns 0 when under way, or FK_EINVAL_INPUT with why filled
    when this node has no way to be admitted. */
int fk__cluster_admission_start(fk__cluster_actor_t *self, const char *addr, bool for_command,
                                char *why, size_t whylen);

/*  The UDP hello socket is readable. */
int fk__cluster_on_hello(zloop_t *loop, zmq_pollitem_t *item, void *arg);

/*  Drop admissions and hellos past their deadline. */
void fk__cluster_admission_tick(fk__cluster_actor_t *self, int64_t now);

/*  Free every admission slot (actor shutdown). */
void fk__cluster_admission_free(fk__cluster_actor_t *self);

#endif
