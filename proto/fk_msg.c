/*  fk_msg - the cluster message codec; the contract is in fk_msg.h and the
    wire format in PROTOCOL.md, section "Gossip messages".

    Memory: a message is one struct, three entry arrays (grown by doubling
    while building, exact when decoded) and an arena of byte blocks holding
    every copied string, record and body. Copies never move once made, which
    is what keeps borrowed strings valid across later adds. A decoded
    message gets its arena as one allocation of exactly the size it needs.

    Sizes: the message keeps the encoded size of its strings and of each
    list's entries as they are added, so fk_msg_encoded_size() is exact and
    constant time, and encode can size its buffer once. The size functions
    below mirror the forms msgpack-c's packer picks (always the shortest),
    and encode checks the two agree. */

#include "fk_msg.h"

#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include "fk_err.h"
#include "fk_mem.h"
#include "fk_pack.h"
#include "fk_prescan.h"

/*  The message array's fields, in wire order (R-MSG-001). */
enum {
    S_F_MAGIC,
    S_F_VERSION,
    S_F_TYPE,
    S_F_FROM,
    S_F_FROM_ADDR,
    S_F_INCARNATION,
    S_F_SEQ,
    S_F_FLAGS,
    S_F_TARGET,
    S_F_MEMBERS,
    S_F_DIGESTS,
    S_F_DELTAS,
    S_F_BODY,
    S_FIELDS /* how many there are: 13 */
};

/*  Elements in each list entry, and in a present target. A member entry
    always has all six: name, addr, status, incarnation, accuser, claim; an
    absent accuser or claim is empty (R-MSG-009). One shape means one
    decoding path, and no entry whose meaning depends on its length. */
#define S_MEMBER_FIELDS 6u
#define S_DIGEST_FIELDS 2u
#define S_DELTA_FIELDS 3u
#define S_TARGET_FIELDS 2u

/*  The message array holds the lists, which hold the entries: three levels,
    and no valid message nests deeper (R-MSG-017). */
#define S_MSG_DEPTH 3u

/*  The most container elements a valid message declares: its fields, a
    target, and every list full, counting each entry once in its list and
    once per field inside it. msgpack-c allocates one msgpack_object (24
    bytes) per container element, and the pre-scan only bounds their number
    by the input length, so without this budget a 4 MiB frame of nils inside
    one list would cost ~100 MB; with it, at most ~0.8 MB (R-MSG-017). */
#define S_MAX_ELEMENTS                                                                             \
    ((uint64_t)S_FIELDS + S_TARGET_FIELDS + (uint64_t)FK_MSG_MAX_MEMBERS * (1u + S_MEMBER_FIELDS)  \
     + (uint64_t)FK_MSG_MAX_DIGESTS * (1u + S_DIGEST_FIELDS)                                       \
     + (uint64_t)FK_MSG_MAX_DELTAS * (1u + S_DELTA_FIELDS))
_Static_assert(S_MAX_ELEMENTS == 35855, "PROTOCOL.md, R-MSG-017, states this number");

/*  Arena block sizes. The first block fits a typical header (from,
    from_addr, a target); later ones double up to S_BLOCK_MAX. A copy of at
    least S_BLOCK_LARGE bytes (a record, a body) gets a block of its own,
    so a large copy never strands the free room of the current block. */
#define S_BLOCK_FIRST 256u
#define S_BLOCK_MAX (64u << 10)
#define S_BLOCK_LARGE (4u << 10)

/*  Entries the lists start with when they first grow. */
#define S_LIST_FIRST 8u

typedef struct s_block {
    struct s_block *next; /* the next block to free; order is otherwise meaningless */
    size_t size;          /* bytes in data */
    size_t used;          /* bytes of data handed out, from the start */
    unsigned char data[]; /* copies: byte strings, so no alignment is needed */
} s_block_t;

struct fk_msg {
    fk_msg_type_t type;       /* one of FK_MSG_TYPE_MAP */
    const char *from;         /* sender's node name, in the arena */
    const char *from_addr;    /* sender's gossip address, in the arena */
    uint64_t incarnation;     /* sender's incarnation */
    uint64_t seq;             /* sender's sequence number */
    uint32_t flags;           /* carried unchanged */
    const char *target_name;  /* in the arena, or NULL when there is no target */
    const char *target_addr;  /* in the arena, NULL exactly when target_name is */
    size_t string_bytes;      /* encoded size of from, from_addr and the target's strings */
    fk_msg_member_t *members; /* member_count entries, room for member_cap */
    size_t member_count;      /* entries in members */
    size_t member_cap;        /* room in members */
    size_t member_bytes;      /* encoded size of the entries, not the list header */
    fk_msg_digest_t *digests; /* digest_count entries, room for digest_cap */
    size_t digest_count;      /* entries in digests */
    size_t digest_cap;        /* room in digests */
    size_t digest_bytes;      /* encoded size of the entries */
    fk_msg_delta_t *deltas;   /* delta_count entries, room for delta_cap */
    size_t delta_count;       /* entries in deltas */
    size_t delta_cap;         /* room in deltas */
    size_t delta_bytes;       /* encoded size of the entries */
    const void *body;         /* in the arena, or NULL when empty */
    size_t body_len;          /* bytes at body */
    s_block_t *arena;         /* every copy the message owns; never NULL after creation */
};

static int
s_type_valid(uint64_t value)
{
    switch (value) {
#define S_TYPE_CASE(name, number, what) case (number):
        FK_MSG_TYPE_MAP(S_TYPE_CASE)
#undef S_TYPE_CASE
        return 1;
    default:
        return 0;
    }
}

/*  ---------------------------------------------------------------------
    Encoded sizes: the shortest MessagePack form of each item, which is
    what msgpack-c's packer writes. */

static size_t
s_uint_size(uint64_t value)
{
    if (value < 0x80u) {
        return 1; /* positive fixint */
    }
    if (value <= UINT8_MAX) {
        return 2;
    }
    if (value <= UINT16_MAX) {
        return 3;
    }
    return value <= UINT32_MAX ? 5 : 9;
}

static size_t
s_str_size(size_t len)
{
    if (len < 32) {
        return 1 + len; /* fixstr */
    }
    if (len <= UINT8_MAX) {
        return 2 + len;
    }
    return (len <= UINT16_MAX ? 3 : 5) + len;
}

static size_t
s_bin_size(size_t len)
{
    if (len <= UINT8_MAX) {
        return 2 + len;
    }
    return (len <= UINT16_MAX ? 3 : 5) + len;
}

static size_t
s_array_size(size_t count)
{
    if (count < 16) {
        return 1; /* fixarray */
    }
    return count <= UINT16_MAX ? 3 : 5;
}

/*  A member entry's encoded size; accuser_len is 0 when it has no accuser
    (an empty str), and an absent claim is an empty bin. */
static size_t
s_member_size(size_t name_len, size_t addr_len, unsigned status, uint64_t incarnation,
              size_t accuser_len, bool has_claim)
{
    return s_array_size(S_MEMBER_FIELDS) + s_str_size(name_len) + s_str_size(addr_len)
           + s_uint_size(status) + s_uint_size(incarnation) + s_str_size(accuser_len)
           + s_bin_size(has_claim ? FK_SIGN_LEN : 0);
}

static size_t
s_digest_size(size_t owner_len, uint64_t version)
{
    return s_array_size(S_DIGEST_FIELDS) + s_str_size(owner_len) + s_uint_size(version);
}

static size_t
s_delta_size(size_t owner_len, size_t key_len, size_t record_len)
{
    return s_array_size(S_DELTA_FIELDS) + s_str_size(owner_len) + s_str_size(key_len)
           + s_bin_size(record_len);
}

/*  The encoded size after appending an entry of entry_bytes to a list that
    now holds count entries: the entry, plus any growth of the list header. */
static size_t
s_size_after_add(const fk_msg_t *self, size_t count, size_t entry_bytes)
{
    return fk_msg_encoded_size(self) - s_array_size(count) + s_array_size(count + 1) + entry_bytes;
}

/*  ---------------------------------------------------------------------
    The arena. */

static s_block_t *
s_block_new(size_t size)
{
    s_block_t *block = fk_malloc(sizeof *block + size);
    block->next = NULL;
    block->size = size;
    block->used = 0;
    return block;
}

/*  n bytes that stay where they are until the message is destroyed. */
static void *
s_arena_alloc(fk_msg_t *self, size_t n)
{
    s_block_t *head = self->arena;
    if (head != NULL && head->size - head->used >= n) {
        void *room = head->data + head->used;
        head->used += n;
        return room;
    }
    if (head != NULL && n >= S_BLOCK_LARGE) {
        /*  Linked behind the head, which keeps taking small copies. */
        s_block_t *block = s_block_new(n);
        block->used = n;
        block->next = head->next;
        head->next = block;
        return block->data;
    }
    size_t size = S_BLOCK_FIRST;
    if (head != NULL) {
        size = head->size < S_BLOCK_MAX / 2 ? head->size * 2 : S_BLOCK_MAX;
    }
    if (size < n) {
        size = n;
    }
    s_block_t *block = s_block_new(size);
    block->used = n;
    block->next = head;
    self->arena = block;
    return block->data;
}

/*  A NUL-terminated copy of the len bytes at s. */
static char *
s_arena_strndup(fk_msg_t *self, const char *s, size_t len)
{
    char *copy = s_arena_alloc(self, len + 1);
    memcpy(copy, s, len);
    copy[len] = '\0';
    return copy;
}

static void *
s_arena_memdup(fk_msg_t *self, const void *bytes, size_t len)
{
    void *copy = s_arena_alloc(self, len);
    memcpy(copy, bytes, len);
    return copy;
}

/*  Room for one more entry of elem_size bytes in an array of count entries
    with room for *cap_p; returns the (possibly moved) array. The counts are
    capped far below any overflow (FK_MSG_MAX_DELTAS is the largest). */
static void *
s_grow(void *array, size_t *cap_p, size_t count, size_t elem_size)
{
    if (count < *cap_p) {
        return array;
    }
    size_t cap = *cap_p < S_LIST_FIRST ? S_LIST_FIRST : *cap_p * 2;
    *cap_p = cap;
    return fk_realloc(array, cap * elem_size);
}

/*  ---------------------------------------------------------------------
    Building. */

/*  Is s a string of 1 .. max bytes? Sets *len_p to its length when it is.
    Wire strings can hold no NUL by construction: the length is strnlen's. */
static int
s_check_string(const char *s, size_t max, size_t *len_p)
{
    if (s == NULL) {
        return FK_EINVAL_INPUT;
    }
    size_t len = strnlen(s, max + 1);
    if (len == 0 || len > max) {
        return FK_EINVAL_INPUT;
    }
    *len_p = len;
    return 0;
}

/*  An empty message of type, with no arena yet. */
static fk_msg_t *
s_msg_alloc(fk_msg_type_t type)
{
    fk_msg_t *self = fk_calloc(1, sizeof *self);
    self->type = type;
    return self;
}

fk_msg_t *
fk_msg_new(fk_msg_type_t type, const char *from, const char *from_addr, uint64_t incarnation)
{
    assert(s_type_valid((uint64_t)type));
    assert(from != NULL);
    assert(from_addr != NULL);
    /*  strlen, not a bounded length: these strings come from the caller's
        own configuration, and the lengths must be the real ones for the
        size accounting even if an NDEBUG build lets a bad one through. */
    size_t from_len = strlen(from);
    size_t addr_len = strlen(from_addr);
    assert(from_len >= 1 && from_len <= FK_MSG_MAX_NAME);
    assert(addr_len >= 1 && addr_len <= FK_MSG_MAX_ADDR);

    fk_msg_t *self = s_msg_alloc(type);
    self->from = s_arena_strndup(self, from, from_len);
    self->from_addr = s_arena_strndup(self, from_addr, addr_len);
    self->incarnation = incarnation;
    self->string_bytes = s_str_size(from_len) + s_str_size(addr_len);
    return self;
}

void
fk_msg_destroy(fk_msg_t **self_p)
{
    if (self_p == NULL || *self_p == NULL) {
        return;
    }
    fk_msg_t *self = *self_p;
    s_block_t *block = self->arena;
    while (block != NULL) {
        s_block_t *next = block->next;
        free(block);
        block = next;
    }
    free(self->members);
    free(self->digests);
    free(self->deltas);
    free(self);
    *self_p = NULL;
}

void
fk_msg_set_seq(fk_msg_t *self, uint64_t seq)
{
    assert(self != NULL);
    self->seq = seq;
}

void
fk_msg_set_flags(fk_msg_t *self, uint32_t flags)
{
    assert(self != NULL);
    self->flags = flags;
}

void
fk_msg_set_target(fk_msg_t *self, const char *name, const char *addr)
{
    assert(self != NULL);
    if (self->target_name != NULL) {
        self->string_bytes -=
            s_str_size(strlen(self->target_name)) + s_str_size(strlen(self->target_addr));
        self->target_name = NULL;
        self->target_addr = NULL;
    }
    if (name == NULL && addr == NULL) {
        return;
    }
    assert(name != NULL);
    assert(addr != NULL);
    size_t name_len = strlen(name);
    size_t addr_len = strlen(addr);
    assert(name_len >= 1 && name_len <= FK_MSG_MAX_NAME);
    assert(addr_len >= 1 && addr_len <= FK_MSG_MAX_ADDR);
    self->target_name = s_arena_strndup(self, name, name_len);
    self->target_addr = s_arena_strndup(self, addr, addr_len);
    self->string_bytes += s_str_size(name_len) + s_str_size(addr_len);
}

int
fk_msg_add_member(fk_msg_t *self, const fk_msg_member_t *member)
{
    assert(self != NULL);
    assert(member != NULL);
    size_t name_len;
    size_t addr_len;
    size_t accuser_len = 0;
    if (s_check_string(member->name, FK_MSG_MAX_NAME, &name_len) != 0
        || s_check_string(member->addr, FK_MSG_MAX_ADDR, &addr_len) != 0
        || (member->accuser != NULL
            && s_check_string(member->accuser, FK_MSG_MAX_NAME, &accuser_len) != 0)
        || member->status > FK_MSG_STATUS_LEFT) {
        return FK_EINVAL_INPUT;
    }
    /*  Limits only after the field checks, so FK_ETOOBIG always means
        "valid but does not fit", as in fk_record. */
    if (self->member_count >= FK_MSG_MAX_MEMBERS) {
        return FK_ETOOBIG;
    }
    size_t entry = s_member_size(name_len, addr_len, member->status, member->incarnation,
                                 accuser_len, member->has_claim);
    if (s_size_after_add(self, self->member_count, entry) > FK_MSG_MAX_SIZE) {
        return FK_ETOOBIG;
    }

    self->members =
        s_grow(self->members, &self->member_cap, self->member_count, sizeof *self->members);
    fk_msg_member_t *slot = &self->members[self->member_count];
    slot->name = s_arena_strndup(self, member->name, name_len);
    slot->addr = s_arena_strndup(self, member->addr, addr_len);
    slot->status = member->status;
    slot->incarnation = member->incarnation;
    slot->accuser =
        member->accuser != NULL ? s_arena_strndup(self, member->accuser, accuser_len) : NULL;
    /*  An absent claim's bytes are zeroed, not copied: they are not part
        of the message, and a reader must not see the caller's leftovers. */
    slot->has_claim = member->has_claim;
    if (member->has_claim) {
        memcpy(slot->claim, member->claim, FK_SIGN_LEN);
    } else {
        memset(slot->claim, 0, FK_SIGN_LEN);
    }
    self->member_count++;
    self->member_bytes += entry;
    return 0;
}

int
fk_msg_add_digest(fk_msg_t *self, const char *owner, uint64_t version)
{
    assert(self != NULL);
    size_t owner_len;
    if (s_check_string(owner, FK_MSG_MAX_NAME, &owner_len) != 0) {
        return FK_EINVAL_INPUT;
    }
    if (self->digest_count >= FK_MSG_MAX_DIGESTS) {
        return FK_ETOOBIG;
    }
    size_t entry = s_digest_size(owner_len, version);
    if (s_size_after_add(self, self->digest_count, entry) > FK_MSG_MAX_SIZE) {
        return FK_ETOOBIG;
    }

    self->digests =
        s_grow(self->digests, &self->digest_cap, self->digest_count, sizeof *self->digests);
    fk_msg_digest_t *slot = &self->digests[self->digest_count];
    slot->owner = s_arena_strndup(self, owner, owner_len);
    slot->version = version;
    self->digest_count++;
    self->digest_bytes += entry;
    return 0;
}

int
fk_msg_add_delta(fk_msg_t *self, const char *owner, const char *key, const void *record, size_t len)
{
    assert(self != NULL);
    size_t owner_len;
    size_t key_len;
    if (s_check_string(owner, FK_MSG_MAX_NAME, &owner_len) != 0
        || s_check_string(key, FK_MSG_MAX_KEY, &key_len) != 0 || record == NULL || len == 0) {
        return FK_EINVAL_INPUT;
    }
    if (len > FK_MSG_MAX_RECORD || self->delta_count >= FK_MSG_MAX_DELTAS) {
        return FK_ETOOBIG;
    }
    size_t entry = s_delta_size(owner_len, key_len, len);
    size_t after = s_size_after_add(self, self->delta_count, entry);
    /*  The chunk target is what keeps one DELTA from monopolising the
        socket and the receiver's actor for long; but a record larger than
        the target must still travel, so the first delta only has to fit
        the hard limit (R-MSG-021). */
    if (after > FK_MSG_MAX_SIZE || (self->delta_count > 0 && after > FK_MSG_CHUNK_TARGET)) {
        return FK_ETOOBIG;
    }

    self->deltas = s_grow(self->deltas, &self->delta_cap, self->delta_count, sizeof *self->deltas);
    fk_msg_delta_t *slot = &self->deltas[self->delta_count];
    slot->owner = s_arena_strndup(self, owner, owner_len);
    slot->key = s_arena_strndup(self, key, key_len);
    slot->record = s_arena_memdup(self, record, len);
    slot->record_len = len;
    self->delta_count++;
    self->delta_bytes += entry;
    return 0;
}

int
fk_msg_set_body(fk_msg_t *self, const void *body, size_t len)
{
    assert(self != NULL);
    if (body == NULL && len > 0) {
        return FK_EINVAL_INPUT;
    }
    if (len > FK_MSG_MAX_BODY) {
        return FK_ETOOBIG;
    }
    size_t after = fk_msg_encoded_size(self) - s_bin_size(self->body_len) + s_bin_size(len);
    if (after > FK_MSG_MAX_SIZE) {
        return FK_ETOOBIG;
    }
    self->body = len > 0 ? s_arena_memdup(self, body, len) : NULL;
    self->body_len = len;
    return 0;
}

/*  ---------------------------------------------------------------------
    Encoding. */

size_t
fk_msg_encoded_size(const fk_msg_t *self)
{
    assert(self != NULL);
    return s_array_size(S_FIELDS) + s_uint_size(FK_MSG_MAGIC) + s_uint_size(FK_MSG_VERSION)
           + s_uint_size((uint64_t)self->type) + self->string_bytes + s_uint_size(self->incarnation)
           + s_uint_size(self->seq) + s_uint_size(self->flags)
           + s_array_size(self->target_name != NULL ? S_TARGET_FIELDS : 0)
           + s_array_size(self->member_count) + self->member_bytes
           + s_array_size(self->digest_count) + self->digest_bytes + s_array_size(self->delta_count)
           + self->delta_bytes + s_bin_size(self->body_len);
}

static int
s_pack_str(msgpack_packer *pk, const char *s)
{
    return msgpack_pack_str_with_body(pk, s, strlen(s));
}

int
fk_msg_encode(const fk_msg_t *self, char **buf_p, size_t *len_p)
{
    assert(self != NULL);
    assert(buf_p != NULL);
    assert(len_p != NULL);
    *buf_p = NULL;
    *len_p = 0;

    size_t size = fk_msg_encoded_size(self);
    if (size > FK_MSG_MAX_SIZE) {
        return FK_ETOOBIG; /* R-MSG-002 */
    }

    /*  One allocation of the exact size, by fk_malloc (aborts on OOM), as
        fk_record_encode does: msgpack_sbuffer_write() then never grows it,
        and the struct is plain data its owner may preset. */
    msgpack_sbuffer sbuf;
    msgpack_sbuffer_init(&sbuf);
    sbuf.alloc = size;
    sbuf.data = fk_malloc(size);

    msgpack_packer pk;
    msgpack_packer_init(&pk, &sbuf, msgpack_sbuffer_write);
    /*  msgpack-c writes the shortest form of every integer, string, bin and
        array header, which makes the encoding canonical (R-MSG-015). */
    int failed = msgpack_pack_array(&pk, S_FIELDS);
    failed |= msgpack_pack_uint64(&pk, FK_MSG_MAGIC);
    failed |= msgpack_pack_uint64(&pk, FK_MSG_VERSION);
    failed |= msgpack_pack_uint64(&pk, (uint64_t)self->type);
    failed |= s_pack_str(&pk, self->from);
    failed |= s_pack_str(&pk, self->from_addr);
    failed |= msgpack_pack_uint64(&pk, self->incarnation);
    failed |= msgpack_pack_uint64(&pk, self->seq);
    failed |= msgpack_pack_uint64(&pk, self->flags);
    if (self->target_name != NULL) {
        failed |= msgpack_pack_array(&pk, S_TARGET_FIELDS);
        failed |= s_pack_str(&pk, self->target_name);
        failed |= s_pack_str(&pk, self->target_addr);
    } else {
        failed |= msgpack_pack_array(&pk, 0);
    }
    failed |= msgpack_pack_array(&pk, self->member_count);
    for (size_t i = 0; i < self->member_count; i++) {
        const fk_msg_member_t *member = &self->members[i];
        failed |= msgpack_pack_array(&pk, S_MEMBER_FIELDS);
        failed |= s_pack_str(&pk, member->name);
        failed |= s_pack_str(&pk, member->addr);
        failed |= msgpack_pack_uint64(&pk, member->status);
        failed |= msgpack_pack_uint64(&pk, member->incarnation);
        /*  Absent accuser and claim travel empty, so every entry has the
            same six elements (R-MSG-009). */
        failed |= s_pack_str(&pk, member->accuser != NULL ? member->accuser : "");
        failed |= fk_pack_bin(&pk, member->claim, member->has_claim ? FK_SIGN_LEN : 0);
    }
    failed |= msgpack_pack_array(&pk, self->digest_count);
    for (size_t i = 0; i < self->digest_count; i++) {
        failed |= msgpack_pack_array(&pk, S_DIGEST_FIELDS);
        failed |= s_pack_str(&pk, self->digests[i].owner);
        failed |= msgpack_pack_uint64(&pk, self->digests[i].version);
    }
    failed |= msgpack_pack_array(&pk, self->delta_count);
    for (size_t i = 0; i < self->delta_count; i++) {
        const fk_msg_delta_t *delta = &self->deltas[i];
        failed |= msgpack_pack_array(&pk, S_DELTA_FIELDS);
        failed |= s_pack_str(&pk, delta->owner);
        failed |= s_pack_str(&pk, delta->key);
        failed |= fk_pack_bin(&pk, delta->record, delta->record_len);
    }
    failed |= fk_pack_bin(&pk, self->body, self->body_len);
    if (failed != 0) {
        /*  The only way msgpack_sbuffer_write() fails is a failed realloc. */
        msgpack_sbuffer_destroy(&sbuf);
        fk_oom("fk_msg_encode");
    }
    /*  The size accounting and msgpack-c's choice of forms must agree:
        fk_msg_encoded_size() promises the exact length. */
    assert(sbuf.size == size);

    *len_p = sbuf.size;
    *buf_p = msgpack_sbuffer_release(&sbuf);
    return 0;
}

/*  ---------------------------------------------------------------------
    Decoding, step 1: the pre-check. It runs after fk_prescan() has proved
    the input is one well-formed MessagePack object, and before msgpack-c
    allocates anything. It reads the envelope (signature, version, field
    count) and counts every container element against S_MAX_ELEMENTS. */

static int
s_precheck(const unsigned char *p, size_t len)
{
    const unsigned char *end = p + len;
    fk_prescan_head_t outer;
    fk_prescan_head_t magic;
    fk_prescan_head_t version;

    /*  The envelope: an array whose first element is the magic, then the
        version. These never change between versions (R-MSG-003, R-MSG-004),
        so they are read before anything whose shape a later version may
        change, and a newer peer is told apart from garbage. */
    if (fk_prescan_head(p, end, &outer) != 0) {
        return FK_EPROTO_MALFORMED;
    }
    if (!outer.is_array || outer.children == 0) {
        return FK_EPROTO_MAGIC;
    }
    p += outer.head;
    if (fk_prescan_head(p, end, &magic) != 0) {
        return FK_EPROTO_MALFORMED;
    }
    if (!magic.is_uint || magic.value != FK_MSG_MAGIC) {
        return FK_EPROTO_MAGIC;
    }
    p += magic.head;
    if (outer.children < 2 || fk_prescan_head(p, end, &version) != 0 || !version.is_uint) {
        return FK_EPROTO_MALFORMED;
    }
    if (version.value != FK_MSG_VERSION) {
        return FK_EPROTO_VERSION;
    }
    p += version.head;
    if (outer.children != S_FIELDS) {
        return FK_EPROTO_MALFORMED; /* R-MSG-001 */
    }

    /*  Every remaining object in order, counting what containers declare.
        Scalars and string bodies are skipped by their length. */
    uint64_t elements = S_FIELDS;
    while (p < end) {
        fk_prescan_head_t h;
        if (fk_prescan_head(p, end, &h) != 0) {
            return FK_EPROTO_MALFORMED;
        }
        elements += h.children;
        if (elements > S_MAX_ELEMENTS) {
            return FK_EPROTO_MALFORMED; /* R-MSG-017: some list is over its limit */
        }
        p += h.head + (size_t)h.body;
    }
    return 0;
}

/*  ---------------------------------------------------------------------
    Decoding, step 2: check every field of the object msgpack-c built,
    adding up the arena bytes the copies will need. Nothing is allocated
    until everything has passed (R-MSG-018). */

/*  A str of min .. max bytes without NUL; min is 1 everywhere but the
    accuser, whose empty str means none. An empty str takes no arena. */
static int
s_check_wire_str_min(const msgpack_object *obj, size_t min, size_t max, size_t *arena_p)
{
    if (obj->type != MSGPACK_OBJECT_STR) {
        return FK_EPROTO_MALFORMED; /* R-MSG-013: str, not bin */
    }
    size_t len = obj->via.str.size;
    if (len < min || len > max || memchr(obj->via.str.ptr, '\0', len) != NULL) {
        return FK_EPROTO_MALFORMED; /* R-MSG-013 */
    }
    if (len > 0) {
        *arena_p += len + 1;
    }
    return 0;
}

static int
s_check_wire_str(const msgpack_object *obj, size_t max, size_t *arena_p)
{
    return s_check_wire_str_min(obj, 1, max, arena_p);
}

static int
s_check_wire_uint(const msgpack_object *obj, uint64_t max)
{
    /*  msgpack-c reports every non-negative integer as POSITIVE_INTEGER,
        whatever width and signedness it was sent in (R-MSG-014). */
    if (obj->type != MSGPACK_OBJECT_POSITIVE_INTEGER || obj->via.u64 > max) {
        return FK_EPROTO_MALFORMED;
    }
    return 0;
}

static int
s_check_wire_bin(const msgpack_object *obj, size_t min, size_t max, size_t *arena_p)
{
    if (obj->type != MSGPACK_OBJECT_BIN) {
        return FK_EPROTO_MALFORMED;
    }
    size_t len = obj->via.bin.size;
    if (len < min || len > max) {
        return FK_EPROTO_MALFORMED;
    }
    *arena_p += len;
    return 0;
}

/*  A member's claim: a bin of 0 octets (none) or of exactly one signature,
    never a part of one (R-MSG-022). It is copied into the entry itself,
    so it takes no arena. */
static int
s_check_wire_claim(const msgpack_object *obj)
{
    if (obj->type != MSGPACK_OBJECT_BIN
        || (obj->via.bin.size != 0 && obj->via.bin.size != FK_SIGN_LEN)) {
        return FK_EPROTO_MALFORMED;
    }
    return 0;
}

/*  Is obj an array of exactly count elements? */
static int
s_is_array(const msgpack_object *obj, size_t count)
{
    return obj->type == MSGPACK_OBJECT_ARRAY && obj->via.array.size == count;
}

/*  Is obj an array of at most max_count elements? */
static int
s_is_list(const msgpack_object *obj, size_t max_count)
{
    return obj->type == MSGPACK_OBJECT_ARRAY && obj->via.array.size <= max_count;
}

static int
s_check_target(const msgpack_object *obj, size_t *arena_p)
{
    if (s_is_array(obj, 0)) {
        return 0;
    }
    if (!s_is_array(obj, S_TARGET_FIELDS)) {
        return FK_EPROTO_MALFORMED; /* R-MSG-008 */
    }
    const msgpack_object *f = obj->via.array.ptr;
    if (s_check_wire_str(&f[0], FK_MSG_MAX_NAME, arena_p) != 0
        || s_check_wire_str(&f[1], FK_MSG_MAX_ADDR, arena_p) != 0) {
        return FK_EPROTO_MALFORMED;
    }
    return 0;
}

static int
s_check_members(const msgpack_object *obj, size_t *arena_p)
{
    if (!s_is_list(obj, FK_MSG_MAX_MEMBERS)) {
        return FK_EPROTO_MALFORMED; /* R-MSG-009 */
    }
    for (size_t i = 0; i < obj->via.array.size; i++) {
        const msgpack_object *entry = &obj->via.array.ptr[i];
        if (!s_is_array(entry, S_MEMBER_FIELDS)) {
            return FK_EPROTO_MALFORMED;
        }
        const msgpack_object *f = entry->via.array.ptr;
        if (s_check_wire_str(&f[0], FK_MSG_MAX_NAME, arena_p) != 0
            || s_check_wire_str(&f[1], FK_MSG_MAX_ADDR, arena_p) != 0
            || s_check_wire_uint(&f[2], FK_MSG_STATUS_LEFT) != 0
            || s_check_wire_uint(&f[3], UINT64_MAX) != 0
            || s_check_wire_str_min(&f[4], 0, FK_MSG_MAX_NAME, arena_p) != 0
            || s_check_wire_claim(&f[5]) != 0) {
            return FK_EPROTO_MALFORMED;
        }
    }
    return 0;
}

static int
s_check_digests(const msgpack_object *obj, size_t *arena_p)
{
    if (!s_is_list(obj, FK_MSG_MAX_DIGESTS)) {
        return FK_EPROTO_MALFORMED; /* R-MSG-010 */
    }
    for (size_t i = 0; i < obj->via.array.size; i++) {
        const msgpack_object *entry = &obj->via.array.ptr[i];
        if (!s_is_array(entry, S_DIGEST_FIELDS)) {
            return FK_EPROTO_MALFORMED;
        }
        const msgpack_object *f = entry->via.array.ptr;
        if (s_check_wire_str(&f[0], FK_MSG_MAX_NAME, arena_p) != 0
            || s_check_wire_uint(&f[1], UINT64_MAX) != 0) {
            return FK_EPROTO_MALFORMED;
        }
    }
    return 0;
}

static int
s_check_deltas(const msgpack_object *obj, size_t *arena_p)
{
    if (!s_is_list(obj, FK_MSG_MAX_DELTAS)) {
        return FK_EPROTO_MALFORMED; /* R-MSG-011 */
    }
    for (size_t i = 0; i < obj->via.array.size; i++) {
        const msgpack_object *entry = &obj->via.array.ptr[i];
        if (!s_is_array(entry, S_DELTA_FIELDS)) {
            return FK_EPROTO_MALFORMED;
        }
        const msgpack_object *f = entry->via.array.ptr;
        if (s_check_wire_str(&f[0], FK_MSG_MAX_NAME, arena_p) != 0
            || s_check_wire_str(&f[1], FK_MSG_MAX_KEY, arena_p) != 0
            || s_check_wire_bin(&f[2], 1, FK_MSG_MAX_RECORD, arena_p) != 0) {
            return FK_EPROTO_MALFORMED;
        }
    }
    return 0;
}

/*  Check the whole message object; on success *arena_p is the exact number
    of bytes its copies need. Returns 0 or FK_EPROTO_MALFORMED. The magic
    and version were checked by the pre-check. */
static int
s_check_object(const msgpack_object *obj, size_t *arena_p)
{
    *arena_p = 0;
    if (!s_is_array(obj, S_FIELDS)) {
        return FK_EPROTO_MALFORMED; /* R-MSG-001 */
    }
    const msgpack_object *f = obj->via.array.ptr;
    if (f[S_F_TYPE].type != MSGPACK_OBJECT_POSITIVE_INTEGER || !s_type_valid(f[S_F_TYPE].via.u64)) {
        return FK_EPROTO_MALFORMED; /* R-MSG-005 */
    }
    if (s_check_wire_str(&f[S_F_FROM], FK_MSG_MAX_NAME, arena_p) != 0
        || s_check_wire_str(&f[S_F_FROM_ADDR], FK_MSG_MAX_ADDR, arena_p) != 0
        || s_check_wire_uint(&f[S_F_INCARNATION], UINT64_MAX) != 0
        || s_check_wire_uint(&f[S_F_SEQ], UINT64_MAX) != 0
        || s_check_wire_uint(&f[S_F_FLAGS], UINT32_MAX) != 0
        || s_check_target(&f[S_F_TARGET], arena_p) != 0
        || s_check_members(&f[S_F_MEMBERS], arena_p) != 0
        || s_check_digests(&f[S_F_DIGESTS], arena_p) != 0
        || s_check_deltas(&f[S_F_DELTAS], arena_p) != 0
        || s_check_wire_bin(&f[S_F_BODY], 0, FK_MSG_MAX_BODY, arena_p) != 0) {
        return FK_EPROTO_MALFORMED;
    }
    return 0;
}

/*  ---------------------------------------------------------------------
    Decoding, step 3: copy the checked object into a new message. Cannot
    fail. Sizes are recomputed in canonical form, not taken from the input,
    since fk_msg_encoded_size() describes what encode will write. */

static const char *
s_copy_str(fk_msg_t *self, const msgpack_object *obj, size_t *len_p)
{
    *len_p = obj->via.str.size;
    return s_arena_strndup(self, obj->via.str.ptr, obj->via.str.size);
}

static fk_msg_t *
s_from_object(const msgpack_object *obj, size_t arena_bytes)
{
    const msgpack_object *f = obj->via.array.ptr;
    fk_msg_t *self = s_msg_alloc((fk_msg_type_t)f[S_F_TYPE].via.u64);
    /*  One arena block of exactly the size the check added up: every copy
        below is carved from it. */
    self->arena = s_block_new(arena_bytes);

    size_t len_a;
    size_t len_b;
    self->from = s_copy_str(self, &f[S_F_FROM], &len_a);
    self->from_addr = s_copy_str(self, &f[S_F_FROM_ADDR], &len_b);
    self->string_bytes = s_str_size(len_a) + s_str_size(len_b);
    self->incarnation = f[S_F_INCARNATION].via.u64;
    self->seq = f[S_F_SEQ].via.u64;
    self->flags = (uint32_t)f[S_F_FLAGS].via.u64;

    if (f[S_F_TARGET].via.array.size == S_TARGET_FIELDS) {
        const msgpack_object *t = f[S_F_TARGET].via.array.ptr;
        self->target_name = s_copy_str(self, &t[0], &len_a);
        self->target_addr = s_copy_str(self, &t[1], &len_b);
        self->string_bytes += s_str_size(len_a) + s_str_size(len_b);
    }

    const msgpack_object_array *list = &f[S_F_MEMBERS].via.array;
    if (list->size > 0) {
        self->members = fk_malloc(list->size * sizeof *self->members);
        self->member_count = self->member_cap = list->size;
    }
    for (size_t i = 0; i < list->size; i++) {
        const msgpack_object *e = list->ptr[i].via.array.ptr;
        fk_msg_member_t *m = &self->members[i];
        m->name = s_copy_str(self, &e[0], &len_a);
        m->addr = s_copy_str(self, &e[1], &len_b);
        m->status = (uint8_t)e[2].via.u64;
        m->incarnation = e[3].via.u64;
        /*  An empty accuser is none (R-MSG-009), so decoding then encoding
            keeps the bytes and the builder's NULL convention holds. */
        size_t len_c = e[4].via.str.size;
        m->accuser = len_c > 0 ? s_copy_str(self, &e[4], &len_c) : NULL;
        m->has_claim = e[5].via.bin.size == FK_SIGN_LEN;
        if (m->has_claim) {
            memcpy(m->claim, e[5].via.bin.ptr, FK_SIGN_LEN);
        } else {
            memset(m->claim, 0, FK_SIGN_LEN);
        }
        self->member_bytes +=
            s_member_size(len_a, len_b, m->status, m->incarnation, len_c, m->has_claim);
    }

    list = &f[S_F_DIGESTS].via.array;
    if (list->size > 0) {
        self->digests = fk_malloc(list->size * sizeof *self->digests);
        self->digest_count = self->digest_cap = list->size;
    }
    for (size_t i = 0; i < list->size; i++) {
        const msgpack_object *e = list->ptr[i].via.array.ptr;
        fk_msg_digest_t *d = &self->digests[i];
        d->owner = s_copy_str(self, &e[0], &len_a);
        d->version = e[1].via.u64;
        self->digest_bytes += s_digest_size(len_a, d->version);
    }

    list = &f[S_F_DELTAS].via.array;
    if (list->size > 0) {
        self->deltas = fk_malloc(list->size * sizeof *self->deltas);
        self->delta_count = self->delta_cap = list->size;
    }
    for (size_t i = 0; i < list->size; i++) {
        const msgpack_object *e = list->ptr[i].via.array.ptr;
        fk_msg_delta_t *d = &self->deltas[i];
        d->owner = s_copy_str(self, &e[0], &len_a);
        d->key = s_copy_str(self, &e[1], &len_b);
        d->record_len = e[2].via.bin.size;
        d->record = s_arena_memdup(self, e[2].via.bin.ptr, d->record_len);
        self->delta_bytes += s_delta_size(len_a, len_b, d->record_len);
    }

    const msgpack_object_bin *body = &f[S_F_BODY].via.bin;
    if (body->size > 0) {
        self->body = s_arena_memdup(self, body->ptr, body->size);
        self->body_len = body->size;
    }
    return self;
}

int
fk_msg_decode(const void *data, size_t len, fk_msg_t **msg_p)
{
    assert(msg_p != NULL);
    *msg_p = NULL;

    /*  The frame limit first: it costs nothing and bounds all that follows
        (R-MSG-002). */
    if (len > FK_MSG_MAX_SIZE) {
        return FK_ETOOBIG;
    }
    /*  msgpack-c must never see bytes the pre-scan has not accepted: it
        would trust a header such as dd dd dd dd dd and try to allocate
        ~137 GB (msgpack/msgpack-c#1013). */
    int rc = fk_prescan(data, len, S_MSG_DEPTH);
    if (rc != 0) {
        return rc;
    }
    rc = s_precheck(data, len);
    if (rc != 0) {
        return rc;
    }

    msgpack_unpacked unpacked;
    msgpack_unpacked_init(&unpacked);
    size_t off = 0;
    msgpack_unpack_return ret = msgpack_unpack_next(&unpacked, data, len, &off);
    if (ret == MSGPACK_UNPACK_NOMEM_ERROR) {
        /*  After the checks above this can only be a failed malloc: depth
            and element count are already bounded. */
        msgpack_unpacked_destroy(&unpacked);
        fk_oom("fk_msg_decode");
    }
    /*  msgpack-c 4.0.0 returns an enum, not a bool (CONTINUE, 0, means
        truncated), and SUCCESS even when bytes follow the object, so both
        the code and the offset are checked (R-MSG-016). */
    if (ret != MSGPACK_UNPACK_SUCCESS || off != len) {
        rc = FK_EPROTO_MALFORMED;
        goto done;
    }

    size_t arena_bytes;
    rc = s_check_object(&unpacked.data, &arena_bytes);
    if (rc != 0) {
        goto done;
    }
    /*  Strings and bins in the object point into data (msgpack-c does not
        copy them out of the caller's buffer), so they are copied before the
        zone goes, and the message never refers to data (R-MSG-018). */
    *msg_p = s_from_object(&unpacked.data, arena_bytes);

done:
    msgpack_unpacked_destroy(&unpacked);
    return rc;
}

/*  ---------------------------------------------------------------------
    Accessors. */

fk_msg_type_t
fk_msg_type(const fk_msg_t *self)
{
    assert(self != NULL);
    return self->type;
}

const char *
fk_msg_from(const fk_msg_t *self)
{
    assert(self != NULL);
    return self->from;
}

const char *
fk_msg_from_addr(const fk_msg_t *self)
{
    assert(self != NULL);
    return self->from_addr;
}

uint64_t
fk_msg_incarnation(const fk_msg_t *self)
{
    assert(self != NULL);
    return self->incarnation;
}

uint64_t
fk_msg_seq(const fk_msg_t *self)
{
    assert(self != NULL);
    return self->seq;
}

uint32_t
fk_msg_flags(const fk_msg_t *self)
{
    assert(self != NULL);
    return self->flags;
}

const char *
fk_msg_target_name(const fk_msg_t *self)
{
    assert(self != NULL);
    return self->target_name;
}

const char *
fk_msg_target_addr(const fk_msg_t *self)
{
    assert(self != NULL);
    return self->target_addr;
}

const fk_msg_member_t *
fk_msg_members(const fk_msg_t *self, size_t *count_p)
{
    assert(self != NULL);
    assert(count_p != NULL);
    *count_p = self->member_count;
    return self->member_count > 0 ? self->members : NULL;
}

const fk_msg_digest_t *
fk_msg_digests(const fk_msg_t *self, size_t *count_p)
{
    assert(self != NULL);
    assert(count_p != NULL);
    *count_p = self->digest_count;
    return self->digest_count > 0 ? self->digests : NULL;
}

const fk_msg_delta_t *
fk_msg_deltas(const fk_msg_t *self, size_t *count_p)
{
    assert(self != NULL);
    assert(count_p != NULL);
    *count_p = self->delta_count;
    return self->delta_count > 0 ? self->deltas : NULL;
}

const void *
fk_msg_body(const fk_msg_t *self, size_t *len_p)
{
    assert(self != NULL);
    assert(len_p != NULL);
    *len_p = self->body_len;
    return self->body;
}

const char *
fk_msg_type_name(fk_msg_type_t type)
{
    switch ((int)type) {
#define S_TYPE_NAME(name, number, what)                                                            \
    case (number):                                                                                 \
        return #name;
        FK_MSG_TYPE_MAP(S_TYPE_NAME)
#undef S_TYPE_NAME
    default:
        return "UNKNOWN";
    }
}

/*  ---------------------------------------------------------------------
    Member claims (R-MSG-022). */

/*  Prefix of the bytes a claim signature covers: it keeps a claim from
    ever verifying as a record signature or any other signed thing. */
static const char s_claim_context[] = "fakts-node member claim v1";

/*  The bytes a claim covers, in a fresh buffer of *len_p bytes (caller
    frees): the context and its NUL, name and NUL, addr and NUL, the
    incarnation big-endian, and the leaving octet. name and addr cannot
    hold a NUL, so the NULs make the split between them unambiguous. */
static unsigned char *
s_claim_bytes(const char *name, const char *addr, uint64_t incarnation, bool leaving, size_t *len_p)
{
    size_t name_len = strlen(name) + 1;
    size_t addr_len = strlen(addr) + 1;
    size_t len = sizeof s_claim_context + name_len + addr_len + 8 + 1;
    unsigned char *buf = fk_malloc(len);
    unsigned char *p = buf;
    memcpy(p, s_claim_context, sizeof s_claim_context);
    p += sizeof s_claim_context;
    memcpy(p, name, name_len);
    p += name_len;
    memcpy(p, addr, addr_len);
    p += addr_len;
    for (int shift = 56; shift >= 0; shift -= 8) {
        *p++ = (unsigned char)(incarnation >> shift);
    }
    *p = leaving ? 1 : 0;
    *len_p = len;
    return buf;
}

int
fk_msg_claim_sign(const char *name, const char *addr, uint64_t incarnation, bool leaving,
                  const fk_sign_key_t *key, uint8_t sig[FK_SIGN_LEN])
{
    assert(name != NULL);
    assert(addr != NULL);
    assert(key != NULL);
    assert(sig != NULL);
    size_t len = 0;
    unsigned char *bytes = s_claim_bytes(name, addr, incarnation, leaving, &len);
    int rc = fk_sign(key, bytes, len, sig);
    free(bytes);
    return rc;
}

bool
fk_msg_claim_verify(const char *name, const char *addr, uint64_t incarnation, bool leaving,
                    const uint8_t pub[FK_SIGN_PUBLIC_LEN], const uint8_t sig[FK_SIGN_LEN])
{
    /*  The arguments come from decoded wire input; a missing one is a
        claim that does not verify, not a crash. */
    if (name == NULL || addr == NULL || pub == NULL || sig == NULL) {
        return false;
    }
    size_t len = 0;
    unsigned char *bytes = s_claim_bytes(name, addr, incarnation, leaving, &len);
    bool ok = fk_sign_verify(pub, bytes, len, sig);
    free(bytes);
    return ok;
}
