/*  fk_members - the membership plane's state machine: who is in the
    cluster and whether they are alive, by the rules of SWIM (Das, Gupta,
    Motivala, 2002) with Lifeguard's refinements (Dadgar et al., 2018).

    This module decides; it does no I/O and reads no clock. The cluster
    actor feeds it what arrived (gossip entries, acks, probe timeouts) and
    the current time, and asks it what to do next (whom to probe, what to
    piggyback, which suspicions expired). That keeps every rule testable
    with a fake clock and no sockets.

    Rules, in short:
    - Each member has an incarnation number only it may raise. Entries
      about a member order by (incarnation, status rank), rank being
      alive < suspect < failed < left: a higher incarnation always wins,
      at equal incarnation the graver status wins.
    - A member hearing itself suspected or declared failed refutes it by
      raising its incarnation above the accusation.
    - A suspect that is not refuted in time becomes failed. The timeout
      starts long and shrinks with every independent confirmation
      (Lifeguard's dynamic suspicion), so a lone accuser from an
      overloaded node cannot fail a healthy member quickly. Confirmations
      are counted per distinct accuser (the node that suspected), which
      gossip carries with each suspicion; not per node that relayed it.
    - Local health (Lifeguard): missed probes and refuting our own
      suspicion raise a multiplier that stretches our probe timeouts; good
      probes lower it. A slow node thus stops accusing healthy ones. It
      may start raised (opts.start_health), for a node whose connections
      are still being made.
    - Incarnations saturate at 2^64-1 and never wrap.

    Closed membership (opts.closed, the secure mode): the table grows only
    through fk_members_admit (an admission, node/trust), and only a member
    speaks for itself. Every member signs a *claim* when it raises its
    incarnation or leaves: "name is at addr, alive (or leaving) at
    incarnation" (proto/fk_msg: fk_msg_claim_sign). Entries carry the
    member's latest claim, so anyone may relay it but nobody can forge it:
    - an entry at a higher incarnation than ours counts only with a claim
      that verifies (opts.verify_claim); it is what moves a member to a new
      address or incarnation;
    - at the incarnation we know, anyone may accuse (suspect, failed):
      that is SWIM; "left" needs the member's own leaving claim, or is an
      operator's force-leave of a member we too see failed;
    - an accusation of us above our own incarnation is forged and ignored
      (we refute only what we can outbid);
    - a message the member itself sent (fk_members_heard; the transport
      authenticated it) needs no claim.
    Open membership (the default, --insecure-gossip) believes every entry,
    as SWIM does on a trusted network.

    Threads: one owner (the cluster actor); not thread-safe. */

#ifndef FK_MEMBERS_H_INCLUDED
#define FK_MEMBERS_H_INCLUDED

#include "fk_sign.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct fk_members fk_members_t;

typedef enum {
    FK_MEMBER_ALIVE = 0,   /* answering */
    FK_MEMBER_SUSPECT = 1, /* missed a probe; counted live until it fails */
    FK_MEMBER_FAILED = 2,  /* declared failed */
    FK_MEMBER_LEFT = 3     /* left gracefully */
} fk_member_status_t;

/*  A member as this node sees it. Strings are borrowed from the table and
    valid until the next call that changes it. */
typedef struct {
    const char *name;          /* node name, unique in the cluster */
    const char *addr;          /* advertised gossip address "host:port" */
    fk_member_status_t status; /* current status */
    uint64_t incarnation;      /* the member's incarnation as last heard */
    int64_t since_ms;          /* when the status last changed (caller's clock) */
    const char *accuser;       /* who began the suspicion; NULL unless suspect, or unknown */
    const uint8_t *claim;      /* the member's signed claim for (addr, incarnation, left or
                                  not), FK_SIGN_LEN bytes; NULL when we hold none that fits */
} fk_member_t;

/*  Check member name's signed claim: "at addr, at incarnation, alive"
    (leaving false) or "leaving" (true). */
typedef bool (*fk_members_verify_fn)(void *arg, const char *name, const char *addr,
                                     uint64_t incarnation, bool leaving,
                                     const uint8_t claim[FK_SIGN_LEN]);

/*  Sign this node's own claim into claim. */
typedef void (*fk_members_sign_fn)(void *arg, const char *addr, uint64_t incarnation, bool leaving,
                                   uint8_t claim[FK_SIGN_LEN]);

/*  Timing, in milliseconds of the caller's clock. */
typedef struct {
    int64_t probe_interval_ms;   /* one probe per interval (0: 200) */
    int64_t probe_timeout_ms;    /* direct ack wait before indirect probes (0: 100) */
    unsigned suspicion_mult;     /* min suspicion = mult x log10(n) x interval (0: 4) */
    unsigned suspicion_max_mult; /* max suspicion = this x min (0: 6) */
    unsigned indirect_checks;    /* k members asked to probe indirectly (0: 3) */
    unsigned max_health;         /* cap of the local health multiplier (0: 8) */
    unsigned start_health;       /* the multiplier at creation (0: healthy), capped by max */
    uint64_t seed;               /* random seed for probe order and fan-out (0: from the clock) */
    bool closed;                 /* closed membership (see above) */
    fk_members_verify_fn verify_claim; /* closed: checks members' claims (required) */
    fk_members_sign_fn sign_claim;     /* signs our own claims, or NULL to send none */
    void *arg;                         /* argument of both */
} fk_members_opts_t;

/*  Create the table holding only this node, alive at incarnation. opts
    may be NULL for the defaults. Never fails (aborts on OOM). */
fk_members_t *fk_members_new(const char *self_name, const char *self_addr, uint64_t incarnation,
                             const fk_members_opts_t *opts);

/*  Free; sets *self_p to NULL. Safe on NULL. */
void fk_members_destroy(fk_members_t **self_p);

/*  This node's name and current incarnation. */
const char *fk_members_self(const fk_members_t *self);
uint64_t fk_members_incarnation(const fk_members_t *self);

/*  What a merge did. */
typedef enum {
    FK_MEMBERS_UNCHANGED = 0, /* nothing new */
    FK_MEMBERS_CHANGED = 1,   /* a member was added or changed */
    FK_MEMBERS_REFUTED = 2    /* we refuted an accusation: raised our incarnation */
} fk_members_change_t;

/*  One gossip entry as it arrived. */
typedef struct {
    const char *name;          /* the member it is about */
    const char *addr;          /* its address as the entry states it */
    fk_member_status_t status; /* the status it states */
    uint64_t incarnation;      /* at this incarnation */
    const char *accuser;       /* who suspected it (suspect entries), or NULL */
    const uint8_t *claim;      /* the member's claim for (addr, incarnation), or NULL */
} fk_members_entry_t;

/*  Merge one gossip entry heard from the network (a piggybacked list).
    Invalid statuses are ignored, and in closed mode so are entries about
    names that are not members and those the rules above refuse. now is
    the caller's clock.

    accuser is the node that suspected name, for a suspect entry (it is
    ignored with any other status), or NULL when unknown. A suspect
    remembers the accuser of the entry that made it suspect (our own name
    when we suspected it, fk_members_probe_failed; a later suspicion at a
    higher incarnation keeps it, as it keeps the confirmations), hands it
    to fk_members_piggyback, and fk_members_confirm does not count that
    accuser as a confirmation. An entry from a peer that does not send
    accusers has none: the cluster layer then passes the node that
    relayed the entry, as every node did before accusers travelled, so
    the relayer stands for the accuser. */
fk_members_change_t fk_members_merge(fk_members_t *self, const fk_members_entry_t *entry,
                                     int64_t now);

/*  A message arrived from member name itself, sent from addr at
    incarnation: it is alive there (a higher incarnation moves it; at the
    same one a suspicion still needs its refutation). In closed mode the
    caller has authenticated the sender; names that are not members are
    ignored. */
fk_members_change_t fk_members_heard(fk_members_t *self, const char *name, const char *addr,
                                     uint64_t incarnation, int64_t now);

/*  Closed mode: name was admitted (node/trust) at addr. A new member
    enters alive at incarnation 0, to be probed; a known one is unchanged.
    Returns FK_MEMBERS_CHANGED when added. */
fk_members_change_t fk_members_admit(fk_members_t *self, const char *name, const char *addr,
                                     int64_t now);

/*  Restore a member from the persisted table at start: trusted as it was
    written (its claim was checked when it arrived), replacing what the
    table holds about it. claim may be NULL. */
void fk_members_restore(fk_members_t *self, const char *name, const char *addr,
                        fk_member_status_t status, uint64_t incarnation, const uint8_t *claim,
                        int64_t now);

/*  Take name out of the table (its admission ended: banned). Returns true
    when it was there. Never us. */
bool fk_members_remove(fk_members_t *self, const char *name);

/*  A gossiped suspicion of name at incarnation by accuser (the node that
    suspected it; the relaying node when the entry carried no accuser, see
    fk_members_merge). Each distinct accuser is one independent
    confirmation (Lifeguard), shortening the suspicion timeout: the same
    accuser heard through any number of relayers counts once. Ignored
    unless name is suspect at that incarnation, and when accuser is us,
    name itself, or the accuser that began the suspicion (it is the
    suspicion, not a confirmation of it). */
void fk_members_confirm(fk_members_t *self, const char *name, uint64_t incarnation,
                        const char *accuser);

/*  The next member to probe (round robin over a shuffled list of the live
    members other than us), or NULL when there is none. Borrowed. */
const char *fk_members_next_probe(fk_members_t *self);

/*  A member that should get a reconnection probe now (failed members are
    retried every 5 seconds, so partitions heal), or NULL. Borrowed. */
const char *fk_members_next_reconnect(fk_members_t *self, int64_t now);

/*  A probe of name was answered (directly or indirectly). */
void fk_members_probe_ok(fk_members_t *self, const char *name, int64_t now);

/*  A probe of name went unanswered through a whole protocol period: mark
    it suspect (if alive) or count our accusation (if already suspect). */
fk_members_change_t fk_members_probe_failed(fk_members_t *self, const char *name, int64_t now);

/*  Fail every suspect whose time ran out. Returns how many failed. */
unsigned fk_members_expire(fk_members_t *self, int64_t now);

/*  Mark us as leaving (incarnation + 1, status left, a leaving claim). */
void fk_members_leave(fk_members_t *self, int64_t now);

/*  Operator's force-leave: a failed member is marked left, so it stops
    being retried. Returns 0, or -1 when name is unknown or not failed. */
int fk_members_force_leave(fk_members_t *self, const char *name, int64_t now);

/*  Up to max live members other than us and exclude, chosen at random
    (for indirect probes and gossip fan-out). Returns how many were written
    to out (borrowed names). */
size_t fk_members_random(fk_members_t *self, const char *exclude, const char **out, size_t max);

/*  The current probe interval and probe timeout, stretched by local
    health. */
int64_t fk_members_probe_interval(const fk_members_t *self);
int64_t fk_members_probe_timeout(const fk_members_t *self);

/*  Local health multiplier (0 = healthy). */
unsigned fk_members_health(const fk_members_t *self);

/*  Number of members, us included, and the i-th in name order. */
size_t fk_members_count(const fk_members_t *self);
bool fk_members_get(const fk_members_t *self, size_t i, fk_member_t *out);

/*  Look a member up by name. */
bool fk_members_find(const fk_members_t *self, const char *name, fk_member_t *out);

/*  Number of live (alive or suspect) members, us included. */
size_t fk_members_live(const fk_members_t *self);

/*  Members changed since the last call, for persisting: calls fn for each
    and clears the marks. */
typedef void (*fk_members_fn)(void *arg, const fk_member_t *member);
void fk_members_drain_changed(fk_members_t *self, fk_members_fn fn, void *arg);

/*  Entries to piggyback on the next message: us, then recent changes
    (each is gossiped about 3 log2(n) times), then FK_MEMBERS_SAMPLE
    entries of a rotating sample of the rest; at most max in all. Calls fn
    for each; a suspect's view carries its accuser, when known. */
#define FK_MEMBERS_SAMPLE 2
void fk_members_piggyback(fk_members_t *self, size_t max, fk_members_fn fn, void *arg);

#endif
