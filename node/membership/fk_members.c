/*  fk_members - SWIM membership with Lifeguard, as a pure state machine. */

#include "fk_members.h"

#include "fk_mem.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/*  Confirmations counted per suspicion (Lifeguard needs only k = 3). */
#define S_MAX_ACCUSERS 8

/*  Failed members are retried this often, so a healed partition merges. */
#define S_RECONNECT_MS 5000

typedef struct {
    char *name;                /* node name */
    char *addr;                /* gossip address */
    fk_member_status_t status; /* current status */
    uint64_t incarnation;      /* last heard incarnation */
    int64_t since_ms;          /* status change time */
    int64_t suspect_start;     /* when the suspicion began */
    char *accuser;             /* who began the current suspicion; NULL if unknown or not suspect */
    unsigned confirmations;    /* distinct accusers confirming it, the first one not counted */
    uint64_t accusers[S_MAX_ACCUSERS]; /* hashes of the accusers that confirmed it */
    bool we_accused;                   /* our own probe failed during this suspicion */
    unsigned gossip_left;              /* times this entry is still piggybacked first */
    int64_t next_reconnect;            /* next retry of a failed member */
    bool changed;                      /* not yet drained for persisting */
    bool has_claim;                    /* claim holds the member's signed claim */
    uint8_t claim[FK_SIGN_LEN];        /* its latest claim ... */
    uint64_t claim_incarnation;        /* ... made at this incarnation ... */
    bool claim_leaving;                /* ... about leaving (else being alive) ... */
    char *claim_addr;                  /* ... at this address */
} s_member_t;

struct fk_members {
    s_member_t *members;    /* sorted by name; index 0.. count-1 */
    size_t count;           /* members, us included */
    size_t cap;             /* allocated slots */
    char *self;             /* our name */
    fk_members_opts_t opts; /* timing */
    unsigned health;        /* Lifeguard local health multiplier */
    char **probe_order;     /* shuffled names of the current round */
    size_t probe_count;     /* names in probe_order */
    size_t probe_next;      /* next index into probe_order */
    size_t sample_next;     /* rotation point of the piggyback sample */
    uint64_t rng;           /* xorshift64 state */
};

static uint64_t
s_rand(fk_members_t *self)
{
    /*  xorshift64: probe order and fan-out need spread, not secrecy. */
    uint64_t x = self->rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    self->rng = x;
    return x;
}

/*  One more, never wrapping: an incarnation at 2^64-1 stays there (and
    only its owner can have put it there, in closed mode). */
static uint64_t
s_next(uint64_t incarnation)
{
    return incarnation == UINT64_MAX ? incarnation : incarnation + 1;
}

static int
s_rank(fk_member_status_t status)
{
    return (int)status;
}

static s_member_t *
s_find(const fk_members_t *self, const char *name)
{
    size_t lo = 0;
    size_t hi = self->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int cmp = strcmp(self->members[mid].name, name);
        if (cmp == 0) {
            return &self->members[mid];
        }
        if (cmp < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return NULL;
}

/*  Our own entry, which the table always holds (it is created first and
    never removed); a table without it is corrupt beyond recovery. */
static s_member_t *
s_me(const fk_members_t *self)
{
    s_member_t *me = s_find(self, self->self);
    if (!me) {
        abort();
    }
    return me;
}

static unsigned
s_gossip_budget(const fk_members_t *self)
{
    /*  memberlist retransmits each update about 4 log10(n+1) times; with
        a small fan-out 3 log2(n) keeps delivery likely on lossy links. */
    double n = (double)self->count;
    return 3u * (unsigned)ceil(log2(n + 1.0)) + 1u;
}

static void
s_mark(fk_members_t *self, s_member_t *member)
{
    member->changed = true;
    member->gossip_left = s_gossip_budget(self);
}

static s_member_t *
s_insert(fk_members_t *self, const char *name, const char *addr)
{
    if (self->count == self->cap) {
        self->cap = self->cap ? self->cap * 2 : 8;
        self->members = fk_realloc(self->members, self->cap * sizeof *self->members);
    }
    size_t at = 0;
    while (at < self->count && strcmp(self->members[at].name, name) < 0) {
        at++;
    }
    memmove(&self->members[at + 1], &self->members[at], (self->count - at) * sizeof *self->members);
    self->count++;
    s_member_t *member = &self->members[at];
    memset(member, 0, sizeof *member);
    member->name = fk_strdup(name);
    member->addr = fk_strdup(addr ? addr : "");
    return member;
}

static void s_sign_self(fk_members_t *self, s_member_t *me);

fk_members_t *
fk_members_new(const char *self_name, const char *self_addr, uint64_t incarnation,
               const fk_members_opts_t *opts)
{
    fk_members_t *self = fk_calloc(1, sizeof *self);
    if (opts) {
        self->opts = *opts;
    }
    if (!self->opts.probe_interval_ms) {
        self->opts.probe_interval_ms = 200;
    }
    if (!self->opts.probe_timeout_ms) {
        self->opts.probe_timeout_ms = 100;
    }
    if (!self->opts.suspicion_mult) {
        self->opts.suspicion_mult = 4;
    }
    if (!self->opts.suspicion_max_mult) {
        self->opts.suspicion_max_mult = 6;
    }
    if (!self->opts.indirect_checks) {
        self->opts.indirect_checks = 3;
    }
    if (!self->opts.max_health) {
        self->opts.max_health = 8;
    }
    self->health = self->opts.start_health < self->opts.max_health ? self->opts.start_health
                                                                    : self->opts.max_health;
    self->rng = self->opts.seed ? self->opts.seed : (uint64_t)time(NULL) * 2654435761u + 1;
    self->self = fk_strdup(self_name);
    s_member_t *me = s_insert(self, self_name, self_addr);
    me->status = FK_MEMBER_ALIVE;
    me->incarnation = incarnation;
    s_mark(self, me);
    s_sign_self(self, me);
    return self;
}

static void
s_clear_probe_order(fk_members_t *self)
{
    for (size_t i = 0; i < self->probe_count; i++) {
        free(self->probe_order[i]);
    }
    free(self->probe_order);
    self->probe_order = NULL;
    self->probe_count = 0;
    self->probe_next = 0;
}

void
fk_members_destroy(fk_members_t **self_p)
{
    if (!self_p || !*self_p) {
        return;
    }
    fk_members_t *self = *self_p;
    for (size_t i = 0; i < self->count; i++) {
        free(self->members[i].name);
        free(self->members[i].addr);
        free(self->members[i].accuser);
        free(self->members[i].claim_addr);
    }
    free(self->members);
    s_clear_probe_order(self);
    free(self->self);
    free(self);
    *self_p = NULL;
}

const char *
fk_members_self(const fk_members_t *self)
{
    return self->self;
}

uint64_t
fk_members_incarnation(const fk_members_t *self)
{
    return s_me(self)->incarnation;
}

/*  Set a member's status at incarnation. accuser matters only for a
    suspect: a suspicion keeps its first known accuser (NULL: unknown), and
    loses it when the member stops being suspect. */
static void
s_set_status(fk_members_t *self, s_member_t *member, fk_member_status_t status,
             uint64_t incarnation, const char *accuser, int64_t now)
{
    if (member->status != status) {
        member->since_ms = now;
    }
    if (status == FK_MEMBER_SUSPECT && member->status != FK_MEMBER_SUSPECT) {
        member->suspect_start = now;
        member->confirmations = 0;
        member->we_accused = false;
    }
    if (status != FK_MEMBER_SUSPECT) {
        free(member->accuser);
        member->accuser = NULL;
    } else if (!member->accuser && accuser) {
        member->accuser = fk_strdup(accuser);
    }
    if (status == FK_MEMBER_FAILED && member->status != FK_MEMBER_FAILED) {
        member->next_reconnect = now + S_RECONNECT_MS;
    }
    member->status = status;
    member->incarnation = incarnation;
    s_mark(self, member);
}

static void
s_keep_claim(s_member_t *member, const uint8_t *claim, uint64_t incarnation, bool leaving,
             const char *addr)
{
    memcpy(member->claim, claim, FK_SIGN_LEN);
    member->has_claim = true;
    member->claim_incarnation = incarnation;
    member->claim_leaving = leaving;
    free(member->claim_addr);
    member->claim_addr = fk_strdup(addr);
}

/*  Sign our own claim afresh: after every change of our incarnation or
    leaving, so the entry others relay about us always carries it. */
static void
s_sign_self(fk_members_t *self, s_member_t *me)
{
    if (!self->opts.sign_claim) {
        return;
    }
    bool leaving = me->status == FK_MEMBER_LEFT;
    uint8_t claim[FK_SIGN_LEN];
    self->opts.sign_claim(self->opts.arg, me->addr, me->incarnation, leaving, claim);
    s_keep_claim(me, claim, me->incarnation, leaving, me->addr);
}

/*  Does claim hold member name's signature for (addr, incarnation,
    leaving)? Open membership needs none. */
static bool
s_claim_ok(const fk_members_t *self, const char *name, const char *addr, uint64_t incarnation,
           bool leaving, const uint8_t *claim)
{
    return claim && addr && *addr
           && self->opts.verify_claim(self->opts.arg, name, addr, incarnation, leaving, claim);
}

static fk_members_change_t
s_refute(fk_members_t *self, s_member_t *me, uint64_t accused_at, int64_t now)
{
    if (me->status == FK_MEMBER_LEFT) {
        return FK_MEMBERS_UNCHANGED; /* we are leaving: let them believe it */
    }
    if (accused_at < me->incarnation) {
        return FK_MEMBERS_UNCHANGED; /* an old accusation, already refuted */
    }
    if (self->opts.closed && accused_at > me->incarnation) {
        /*  Nobody but us can know an incarnation above ours: whoever says
            so forged it, to make us refute at 2^64-1 and never again. */
        return FK_MEMBERS_UNCHANGED;
    }
    if (accused_at == UINT64_MAX) {
        return FK_MEMBERS_UNCHANGED; /* nothing left to outbid it with */
    }
    /*  Being suspected suggests we are slow to answer (Lifeguard): probe
        more patiently for a while. */
    if (self->health < self->opts.max_health) {
        self->health++;
    }
    s_set_status(self, me, FK_MEMBER_ALIVE, accused_at + 1, NULL, now);
    s_sign_self(self, me);
    return FK_MEMBERS_REFUTED;
}

/*  Open membership: the entry is believed as SWIM believes gossip. */
static fk_members_change_t
s_merge_open(fk_members_t *self, s_member_t *member, const fk_members_entry_t *entry, int64_t now)
{
    if (!member) {
        member = s_insert(self, entry->name, entry->addr);
        member->status = entry->status;
        member->incarnation = entry->incarnation;
        member->since_ms = now;
        member->suspect_start = now;
        member->next_reconnect = now + S_RECONNECT_MS;
        if (entry->status == FK_MEMBER_SUSPECT && entry->accuser) {
            member->accuser = fk_strdup(entry->accuser);
        }
        s_mark(self, member);
        s_clear_probe_order(self);
        return FK_MEMBERS_CHANGED;
    }
    bool newer = entry->incarnation > member->incarnation
                 || (entry->incarnation == member->incarnation
                     && s_rank(entry->status) > s_rank(member->status));
    if (!newer) {
        return FK_MEMBERS_UNCHANGED;
    }
    if (entry->addr && *entry->addr && strcmp(entry->addr, member->addr) != 0
        && entry->status == FK_MEMBER_ALIVE) {
        free(member->addr);
        member->addr = fk_strdup(entry->addr);
    }
    s_set_status(self, member, entry->status, entry->incarnation, entry->accuser, now);
    s_clear_probe_order(self);
    return FK_MEMBERS_CHANGED;
}

/*  Closed membership: only the member moves its own incarnation and
    address (with its claim); anyone accuses at the incarnation we know. */
static fk_members_change_t
s_merge_closed(fk_members_t *self, s_member_t *member, const fk_members_entry_t *entry,
               int64_t now)
{
    if (!member) {
        return FK_MEMBERS_UNCHANGED; /* not admitted: membership grows only by admission */
    }
    bool leaving = entry->status == FK_MEMBER_LEFT;
    /*  A claim is checked only when it would change something: steady
        gossip repeats what we know, and an Ed25519 verification costs
        about 80 us. */
    if (entry->incarnation > member->incarnation) {
        if (!s_claim_ok(self, entry->name, entry->addr, entry->incarnation, leaving,
                        entry->claim)) {
            return FK_MEMBERS_UNCHANGED;
        }
        if (strcmp(entry->addr, member->addr) != 0) {
            free(member->addr);
            member->addr = fk_strdup(entry->addr);
        }
        s_keep_claim(member, entry->claim, entry->incarnation, leaving, entry->addr);
        s_set_status(self, member, entry->status, entry->incarnation, entry->accuser, now);
        s_clear_probe_order(self);
        return FK_MEMBERS_CHANGED;
    }
    if (entry->incarnation < member->incarnation) {
        return FK_MEMBERS_UNCHANGED;
    }
    /*  Equal incarnations. Keep a claim we lacked, so we can relay it. */
    bool lacking = !member->has_claim || member->claim_incarnation != entry->incarnation
                || member->claim_leaving != leaving;
    bool claimed = entry->claim && lacking && strcmp(entry->addr, member->addr) == 0
                   && s_claim_ok(self, entry->name, entry->addr, entry->incarnation, leaving,
                                 entry->claim);
    if (claimed) {
        s_keep_claim(member, entry->claim, entry->incarnation, leaving, entry->addr);
    }
    if (s_rank(entry->status) <= s_rank(member->status)) {
        return FK_MEMBERS_UNCHANGED;
    }
    if (leaving && !claimed && member->status != FK_MEMBER_FAILED) {
        /*  Only the member says it leaves; an unsigned "left" is an
            operator's force-leave, which holds only for a failed member. */
        return FK_MEMBERS_UNCHANGED;
    }
    s_set_status(self, member, entry->status, entry->incarnation, entry->accuser, now);
    s_clear_probe_order(self);
    return FK_MEMBERS_CHANGED;
}

fk_members_change_t
fk_members_merge(fk_members_t *self, const fk_members_entry_t *entry, int64_t now)
{
    if (!entry->name || !*entry->name || (int)entry->status < 0
        || entry->status > FK_MEMBER_LEFT) {
        return FK_MEMBERS_UNCHANGED;
    }
    s_member_t *member = s_find(self, entry->name);
    if (strcmp(entry->name, self->self) == 0) {
        if (entry->status == FK_MEMBER_ALIVE) {
            return FK_MEMBERS_UNCHANGED;
        }
        if (entry->status == FK_MEMBER_LEFT && member->status == FK_MEMBER_LEFT) {
            return FK_MEMBERS_UNCHANGED; /* we are leaving: let them believe it */
        }
        return s_refute(self, member, entry->incarnation, now);
    }
    return self->opts.closed ? s_merge_closed(self, member, entry, now)
                             : s_merge_open(self, member, entry, now);
}

fk_members_change_t
fk_members_heard(fk_members_t *self, const char *name, const char *addr, uint64_t incarnation,
                 int64_t now)
{
    s_member_t *member = s_find(self, name);
    if (!name || strcmp(name, self->self) == 0 || (self->opts.closed && !member)) {
        return FK_MEMBERS_UNCHANGED;
    }
    fk_members_entry_t entry = {
        .name = name, .addr = addr, .status = FK_MEMBER_ALIVE, .incarnation = incarnation};
    if (!self->opts.closed || !member) {
        return s_merge_open(self, member, &entry, now);
    }
    if (incarnation <= member->incarnation) {
        return FK_MEMBERS_UNCHANGED; /* at the same one, a suspicion needs its refutation */
    }
    /*  The member itself, authenticated by the transport: its word moves
        it. The claim we held was for an older incarnation; its next
        message (which always carries its own entry) brings the new one. */
    if (addr && *addr && strcmp(addr, member->addr) != 0) {
        free(member->addr);
        member->addr = fk_strdup(addr);
    }
    member->has_claim = false;
    s_set_status(self, member, FK_MEMBER_ALIVE, incarnation, NULL, now);
    s_clear_probe_order(self);
    return FK_MEMBERS_CHANGED;
}

fk_members_change_t
fk_members_admit(fk_members_t *self, const char *name, const char *addr, int64_t now)
{
    if (!name || !*name || s_find(self, name)) {
        return FK_MEMBERS_UNCHANGED;
    }
    s_member_t *member = s_insert(self, name, addr);
    member->status = FK_MEMBER_ALIVE;
    member->since_ms = now;
    member->next_reconnect = now + S_RECONNECT_MS;
    s_mark(self, member);
    s_clear_probe_order(self);
    return FK_MEMBERS_CHANGED;
}

void
fk_members_restore(fk_members_t *self, const char *name, const char *addr,
                   fk_member_status_t status, uint64_t incarnation, const uint8_t *claim,
                   int64_t now)
{
    if (!name || !*name || strcmp(name, self->self) == 0 || (int)status < 0
        || status > FK_MEMBER_LEFT) {
        return;
    }
    s_member_t *member = s_find(self, name);
    if (member) {
        free(member->addr);
        member->addr = fk_strdup(addr);
    } else {
        member = s_insert(self, name, addr);
    }
    member->status = status;
    member->incarnation = incarnation;
    member->since_ms = now;
    member->suspect_start = now;
    member->next_reconnect = now + S_RECONNECT_MS;
    if (claim) {
        s_keep_claim(member, claim, incarnation, status == FK_MEMBER_LEFT, member->addr);
    }
    s_mark(self, member);
    s_clear_probe_order(self);
}

bool
fk_members_remove(fk_members_t *self, const char *name)
{
    s_member_t *member = s_find(self, name);
    if (!member || strcmp(name, self->self) == 0) {
        return false;
    }
    free(member->name);
    free(member->addr);
    free(member->accuser);
    free(member->claim_addr);
    size_t at = (size_t)(member - self->members);
    memmove(member, member + 1, (self->count - at - 1) * sizeof *member);
    self->count--;
    self->sample_next = 0;
    s_clear_probe_order(self);
    return true;
}

static bool
s_live(const s_member_t *member)
{
    return member->status == FK_MEMBER_ALIVE || member->status == FK_MEMBER_SUSPECT;
}

const char *
fk_members_next_probe(fk_members_t *self)
{
    if (self->probe_next >= self->probe_count) {
        /*  A new round: every live member once, in a fresh random order
            (SWIM's round-robin probing bounds the time to first detection). */
        s_clear_probe_order(self);
        self->probe_order = fk_calloc(self->count, sizeof *self->probe_order);
        for (size_t i = 0; i < self->count; i++) {
            s_member_t *member = &self->members[i];
            if (s_live(member) && strcmp(member->name, self->self) != 0) {
                self->probe_order[self->probe_count++] = fk_strdup(member->name);
            }
        }
        for (size_t i = self->probe_count; i > 1; i--) {
            size_t j = (size_t)(s_rand(self) % i);
            char *tmp = self->probe_order[i - 1];
            self->probe_order[i - 1] = self->probe_order[j];
            self->probe_order[j] = tmp;
        }
    }
    while (self->probe_next < self->probe_count) {
        s_member_t *member = s_find(self, self->probe_order[self->probe_next++]);
        if (member && s_live(member)) {
            return member->name;
        }
    }
    return NULL;
}

const char *
fk_members_next_reconnect(fk_members_t *self, int64_t now)
{
    for (size_t i = 0; i < self->count; i++) {
        s_member_t *member = &self->members[i];
        if (member->status == FK_MEMBER_FAILED && member->next_reconnect <= now) {
            member->next_reconnect = now + S_RECONNECT_MS;
            return member->name;
        }
    }
    return NULL;
}

void
fk_members_probe_ok(fk_members_t *self, const char *name, int64_t now)
{
    (void)now;
    (void)name;
    if (self->health > 0) {
        self->health--;
    }
}

static void s_confirm(s_member_t *member, const char *accuser);

fk_members_change_t
fk_members_probe_failed(fk_members_t *self, const char *name, int64_t now)
{
    s_member_t *member = s_find(self, name);
    /*  A probe we could not get answered may be our own fault: stretch
        our timeouts (Lifeguard's local health). */
    if (self->health < self->opts.max_health) {
        self->health++;
    }
    if (!member || strcmp(name, self->self) == 0) {
        return FK_MEMBERS_UNCHANGED;
    }
    if (member->status == FK_MEMBER_ALIVE) {
        /*  We are this suspicion's accuser. */
        s_set_status(self, member, FK_MEMBER_SUSPECT, member->incarnation, self->self, now);
        member->we_accused = true;
        return FK_MEMBERS_CHANGED;
    }
    if (member->status == FK_MEMBER_SUSPECT && !member->we_accused) {
        /*  Someone else's suspicion, and now our own probe failed too: an
            independent accusation (memberlist's suspectNode on a suspect).
            It confirms our timer, and the entry is gossiped afresh with us
            as its accuser so the others count it as well. Our repeated
            failures add nothing more. */
        member->we_accused = true;
        s_confirm(member, self->self);
        s_mark(self, member);
    }
    return FK_MEMBERS_UNCHANGED;
}

static uint64_t
s_hash(const char *text)
{
    uint64_t hash = 1469598103934665603ull; /* FNV-1a */
    for (; *text; text++) {
        hash = (hash ^ (unsigned char)*text) * 1099511628211ull;
    }
    return hash;
}

/*  Count accuser's accusation of the suspect member once. Lifeguard counts
    independent suspicions: the accuser that began the suspicion is the
    suspicion, not a confirmation of it (memberlist's newSuspicion), and
    the same accuser, however many nodes relay its accusation and however
    often, counts once. */
static void
s_confirm(s_member_t *member, const char *accuser)
{
    if (member->accuser && strcmp(accuser, member->accuser) == 0) {
        return;
    }
    uint64_t hash = s_hash(accuser);
    for (unsigned i = 0; i < member->confirmations && i < S_MAX_ACCUSERS; i++) {
        if (member->accusers[i] == hash) {
            return;
        }
    }
    if (member->confirmations < S_MAX_ACCUSERS) {
        member->accusers[member->confirmations++] = hash;
    }
}

void
fk_members_confirm(fk_members_t *self, const char *name, uint64_t incarnation, const char *accuser)
{
    s_member_t *member = s_find(self, name);
    if (!member || !accuser || member->status != FK_MEMBER_SUSPECT
        || member->incarnation != incarnation || strcmp(accuser, self->self) == 0
        || strcmp(accuser, name) == 0) {
        return;
    }
    s_confirm(member, accuser);
}

/*  Lifeguard's dynamic suspicion timeout: from max down to min as
    independent confirmations arrive, reaching min at indirect_checks. */
static int64_t
s_suspicion_timeout(const fk_members_t *self, unsigned confirmations)
{
    double n = (double)(self->count > 2 ? self->count : 2);
    double min =
        (double)self->opts.suspicion_mult * log10(n) * (double)self->opts.probe_interval_ms;
    if (min < 500.0) {
        min = 500.0;
    }
    double max = min * (double)self->opts.suspicion_max_mult;
    double k = (double)self->opts.indirect_checks;
    double c = (double)(confirmations < self->opts.indirect_checks ? confirmations
                                                                   : self->opts.indirect_checks);
    double timeout = max - (max - min) * log(c + 1.0) / log(k + 1.0);
    return (int64_t)(timeout < min ? min : timeout);
}

unsigned
fk_members_expire(fk_members_t *self, int64_t now)
{
    unsigned failed = 0;
    for (size_t i = 0; i < self->count; i++) {
        s_member_t *member = &self->members[i];
        if (member->status == FK_MEMBER_SUSPECT
            && now - member->suspect_start >= s_suspicion_timeout(self, member->confirmations)) {
            s_set_status(self, member, FK_MEMBER_FAILED, member->incarnation, NULL, now);
            failed++;
        }
    }
    if (failed) {
        s_clear_probe_order(self);
    }
    return failed;
}

void
fk_members_leave(fk_members_t *self, int64_t now)
{
    s_member_t *me = s_me(self);
    s_set_status(self, me, FK_MEMBER_LEFT, s_next(me->incarnation), NULL, now);
    s_sign_self(self, me);
}

int
fk_members_force_leave(fk_members_t *self, const char *name, int64_t now)
{
    s_member_t *member = s_find(self, name);
    if (!member || member->status != FK_MEMBER_FAILED) {
        return -1;
    }
    s_set_status(self, member, FK_MEMBER_LEFT, member->incarnation, NULL, now);
    return 0;
}

size_t
fk_members_random(fk_members_t *self, const char *exclude, const char **out, size_t max)
{
    size_t n = 0;
    /*  Reservoir sampling over the live members: each equally likely. */
    size_t seen = 0;
    for (size_t i = 0; i < self->count; i++) {
        s_member_t *member = &self->members[i];
        if (!s_live(member) || strcmp(member->name, self->self) == 0
            || (exclude && strcmp(member->name, exclude) == 0)) {
            continue;
        }
        seen++;
        if (n < max) {
            out[n++] = member->name;
        } else {
            size_t j = (size_t)(s_rand(self) % seen);
            if (j < max) {
                out[j] = member->name;
            }
        }
    }
    return n;
}

int64_t
fk_members_probe_interval(const fk_members_t *self)
{
    return self->opts.probe_interval_ms * (int64_t)(self->health + 1);
}

int64_t
fk_members_probe_timeout(const fk_members_t *self)
{
    return self->opts.probe_timeout_ms * (int64_t)(self->health + 1);
}

unsigned
fk_members_health(const fk_members_t *self)
{
    return self->health;
}

size_t
fk_members_count(const fk_members_t *self)
{
    return self->count;
}

static void
s_view(const fk_members_t *self, const s_member_t *member, fk_member_t *out)
{
    out->name = member->name;
    out->addr = member->addr;
    out->status = member->status;
    out->incarnation = member->incarnation;
    out->since_ms = member->since_ms;
    out->accuser = member->status != FK_MEMBER_SUSPECT ? NULL
                   : member->we_accused                ? self->self
                                                       : member->accuser;
    /*  A claim fits the view only when it is about the incarnation and
        address we show, and about leaving exactly when we show "left";
        a suspect or failed member is shown with its alive claim. */
    bool fits = member->has_claim && member->claim_incarnation == member->incarnation
                && member->claim_leaving == (member->status == FK_MEMBER_LEFT)
                && member->claim_addr && strcmp(member->claim_addr, member->addr) == 0;
    out->claim = fits ? member->claim : NULL;
}

bool
fk_members_get(const fk_members_t *self, size_t i, fk_member_t *out)
{
    if (i >= self->count) {
        return false;
    }
    s_view(self, &self->members[i], out);
    return true;
}

bool
fk_members_find(const fk_members_t *self, const char *name, fk_member_t *out)
{
    s_member_t *member = s_find(self, name);
    if (!member) {
        return false;
    }
    s_view(self, member, out);
    return true;
}

size_t
fk_members_live(const fk_members_t *self)
{
    size_t n = 0;
    for (size_t i = 0; i < self->count; i++) {
        n += s_live(&self->members[i]);
    }
    return n;
}

void
fk_members_drain_changed(fk_members_t *self, fk_members_fn fn, void *arg)
{
    for (size_t i = 0; i < self->count; i++) {
        if (self->members[i].changed) {
            self->members[i].changed = false;
            fk_member_t view;
            s_view(self, &self->members[i], &view);
            fn(arg, &view);
        }
    }
}

void
fk_members_piggyback(fk_members_t *self, size_t max, fk_members_fn fn, void *arg)
{
    if (max == 0) {
        return;
    }
    assert(self->count > 0);
    size_t sent = 0;
    bool *taken = fk_calloc(self->count, sizeof *taken);
    /*  Us first: every message then refreshes the receiver's view of the
        sender's incarnation. */
    for (size_t i = 0; i < self->count && sent < max; i++) {
        if (strcmp(self->members[i].name, self->self) == 0) {
            fk_member_t view;
            s_view(self, &self->members[i], &view);
            fn(arg, &view);
            taken[i] = true;
            sent++;
        }
    }
    for (size_t i = 0; i < self->count && sent < max; i++) {
        s_member_t *member = &self->members[i];
        if (!taken[i] && member->gossip_left > 0) {
            member->gossip_left--;
            fk_member_t view;
            s_view(self, member, &view);
            fn(arg, &view);
            taken[i] = true;
            sent++;
        }
    }
    /*  Add a small rotating sample so every entry keeps circulating (a
        member that missed an update converges by this anti-entropy of
        views) without resending the whole table on every probe, which
        would make idle traffic grow with n on each message. */
    size_t sampled = 0;
    size_t k = 0;
    for (; k < self->count && sent < max && sampled < FK_MEMBERS_SAMPLE; k++) {
        size_t i = (self->sample_next + k) % self->count;
        if (!taken[i]) {
            fk_member_t view;
            s_view(self, &self->members[i], &view);
            fn(arg, &view);
            taken[i] = true;
            sent++;
            sampled++;
        }
    }
    self->sample_next = (self->sample_next + k) % self->count;
    free(taken);
}
