/*  test_fk_msg - the cluster message codec, through fk_msg.h only.

    Valid messages come from the builder; malformed ones are written field
    by field with msgpack-c's packer (s_raw_t below), or byte by byte, the
    way a broken or hostile peer could send them. Every decoded input is
    copied into an allocation of exactly its length, freed right after
    decoding, so AddressSanitizer reports both a read past the end and a
    message that kept a pointer into its input. Comments cite PROTOCOL.md,
    section "Gossip messages", as EVIDENCE-OF: R-MSG-nnn. */

#include "fk_msg.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <criterion/criterion.h>
#include <msgpack.h>

#include "fk_err.h"
#include "fk_record.h"
#include "fk_sign.h"

TestSuite(fk_msg);

/*  Wrap a byte list as (pointer, length) arguments. */
#define S_BYTES(...)                                                                               \
    (const unsigned char[]){__VA_ARGS__}, sizeof((const unsigned char[]){__VA_ARGS__})

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
    S_FIELDS
};

/*  ---------------------------------------------------------------------
    Decoding helpers. */

/*  Decode a private exact-size copy of the input, freed before returning. */
static int
s_decode_copy(const void *bytes, size_t len, fk_msg_t **msg_p)
{
    unsigned char *copy = malloc(len ? len : 1);
    cr_assert_not_null(copy);
    if (len > 0) {
        memcpy(copy, bytes, len);
    }
    int rc = fk_msg_decode(copy, len, msg_p);
    free(copy);
    return rc;
}

static void
s_expect_fail(const void *bytes, size_t len, int code)
{
    static char garbage;
    fk_msg_t *msg = (fk_msg_t *)&garbage; /* so that NULLing is observable */
    int rc = s_decode_copy(bytes, len, &msg);
    cr_assert_eq(rc, code, "expected %s, got %s (length %zu)", fk_err_name(code), fk_err_name(rc),
                 len);
    cr_assert_null(msg);
}

/*  Decode bytes that must be a valid message (caller destroys). */
static fk_msg_t *
s_expect_ok(const void *bytes, size_t len)
{
    fk_msg_t *msg = NULL;
    int rc = s_decode_copy(bytes, len, &msg);
    cr_assert_eq(rc, 0, "got %s (length %zu)", fk_err_name(rc), len);
    cr_assert_not_null(msg);
    return msg;
}

/*  Encode, checking the length against fk_msg_encoded_size() (caller
    frees). */
static char *
s_encode(const fk_msg_t *msg, size_t *len_p)
{
    char *buf = NULL;
    int rc = fk_msg_encode(msg, &buf, len_p);
    cr_assert_eq(rc, 0, "encode: %s", fk_err_name(rc));
    cr_assert_not_null(buf);
    /*  EVIDENCE-OF: R-MSG-015 the size is exact, not a bound. */
    cr_assert_eq(*len_p, fk_msg_encoded_size(msg));
    return buf;
}

static int
s_str_eq(const char *a, const char *b)
{
    return (a == NULL || b == NULL) ? a == b : strcmp(a, b) == 0;
}

/*  Every field of a equals the same field of b. */
static void
s_assert_same(const fk_msg_t *a, const fk_msg_t *b)
{
    cr_assert_eq(fk_msg_type(a), fk_msg_type(b));
    cr_assert_str_eq(fk_msg_from(a), fk_msg_from(b));
    cr_assert_str_eq(fk_msg_from_addr(a), fk_msg_from_addr(b));
    cr_assert_eq(fk_msg_incarnation(a), fk_msg_incarnation(b));
    cr_assert_eq(fk_msg_seq(a), fk_msg_seq(b));
    cr_assert_eq(fk_msg_flags(a), fk_msg_flags(b));
    cr_assert(s_str_eq(fk_msg_target_name(a), fk_msg_target_name(b)));
    cr_assert(s_str_eq(fk_msg_target_addr(a), fk_msg_target_addr(b)));

    size_t na;
    size_t nb;
    const fk_msg_member_t *ma = fk_msg_members(a, &na);
    const fk_msg_member_t *mb = fk_msg_members(b, &nb);
    cr_assert_eq(na, nb);
    for (size_t i = 0; i < na; i++) {
        cr_assert_str_eq(ma[i].name, mb[i].name);
        cr_assert_str_eq(ma[i].addr, mb[i].addr);
        cr_assert_eq(ma[i].status, mb[i].status);
        cr_assert_eq(ma[i].incarnation, mb[i].incarnation);
        cr_assert(s_str_eq(ma[i].accuser, mb[i].accuser), "member %zu's accuser", i);
        cr_assert_eq(ma[i].has_claim, mb[i].has_claim, "member %zu's claim", i);
        cr_assert_eq(memcmp(ma[i].claim, mb[i].claim, FK_SIGN_LEN), 0, "member %zu's claim", i);
    }
    const fk_msg_digest_t *da = fk_msg_digests(a, &na);
    const fk_msg_digest_t *db = fk_msg_digests(b, &nb);
    cr_assert_eq(na, nb);
    for (size_t i = 0; i < na; i++) {
        cr_assert_str_eq(da[i].owner, db[i].owner);
        cr_assert_eq(da[i].version, db[i].version);
    }
    const fk_msg_delta_t *xa = fk_msg_deltas(a, &na);
    const fk_msg_delta_t *xb = fk_msg_deltas(b, &nb);
    cr_assert_eq(na, nb);
    for (size_t i = 0; i < na; i++) {
        cr_assert_str_eq(xa[i].owner, xb[i].owner);
        cr_assert_str_eq(xa[i].key, xb[i].key);
        cr_assert_eq(xa[i].record_len, xb[i].record_len);
        cr_assert_eq(memcmp(xa[i].record, xb[i].record, xa[i].record_len), 0);
    }
    size_t la;
    size_t lb;
    const void *ba = fk_msg_body(a, &la);
    const void *bb = fk_msg_body(b, &lb);
    cr_assert_eq(la, lb);
    if (la > 0) {
        cr_assert_eq(memcmp(ba, bb, la), 0);
    }
}

/*  Encode msg, decode the result, compare, and check the encoding is
    canonical by encoding the decoded copy again. Returns the copy. */
static fk_msg_t *
s_round_trip(const fk_msg_t *msg)
{
    size_t len;
    char *buf = s_encode(msg, &len);
    fk_msg_t *copy = s_expect_ok(buf, len);
    s_assert_same(msg, copy);

    /*  EVIDENCE-OF: R-MSG-015 */
    size_t again_len;
    char *again = s_encode(copy, &again_len);
    cr_assert_eq(again_len, len);
    cr_assert_eq(memcmp(again, buf, len), 0);
    free(again);
    free(buf);
    return copy;
}

/*  n bytes of c, NUL-terminated (caller frees). */
static char *
s_filled(size_t n, char c)
{
    char *s = malloc(n + 1);
    cr_assert_not_null(s);
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

/*  Peak resident set size so far, in KiB. */
static long
s_peak_rss_kib(void)
{
    struct rusage usage;
    cr_assert_eq(getrusage(RUSAGE_SELF, &usage), 0);
    return usage.ru_maxrss;
}

/*  ---------------------------------------------------------------------
    s_raw_t: a message written field by field, so that a test can replace
    any field (or add one) with arbitrary MessagePack and reassemble. */

#define S_RAW_SLOTS 16

typedef struct {
    msgpack_sbuffer field[S_RAW_SLOTS]; /* each field's encoding */
    msgpack_packer pk[S_RAW_SLOTS];     /* a packer writing into each */
    size_t fields;                      /* the count in the outer header */
    size_t written;                     /* slots assembled after it: normally == fields */
} s_raw_t;

static int
s_pk_str(msgpack_packer *pk, const char *s)
{
    return msgpack_pack_str_with_body(pk, s, strlen(s));
}

/*  Clear slot i and return a packer that writes into it. */
static msgpack_packer *
s_raw_field(s_raw_t *raw, size_t i)
{
    msgpack_sbuffer_clear(&raw->field[i]);
    return &raw->pk[i];
}

/*  Replace slot i with raw bytes. */
static void
s_raw_put(s_raw_t *raw, size_t i, const void *bytes, size_t len)
{
    msgpack_sbuffer_clear(&raw->field[i]);
    msgpack_sbuffer_write(&raw->field[i], bytes, len);
}

/*  Append raw bytes to slot i. */
static void
s_raw_append(s_raw_t *raw, size_t i, const void *bytes, size_t len)
{
    msgpack_sbuffer_write(&raw->field[i], bytes, len);
}

/*  A valid PING from node-a with one entry in each list:
    [0xFA4B, 2, 1, "node-a", "10.0.0.1:7946", 3, 9, 0, [],
     [["node-b", "10.0.0.2:7946", 1, 4, "", bin ""]], [["node-a", 17]],
     [["node-a", "svc/x", bin "rec"]], bin ""] */
static void
s_raw_init(s_raw_t *raw)
{
    for (size_t i = 0; i < S_RAW_SLOTS; i++) {
        msgpack_sbuffer_init(&raw->field[i]);
        msgpack_packer_init(&raw->pk[i], &raw->field[i], msgpack_sbuffer_write);
    }
    raw->fields = S_FIELDS;
    raw->written = S_FIELDS;
    msgpack_pack_uint64(s_raw_field(raw, S_F_MAGIC), FK_MSG_MAGIC);
    msgpack_pack_uint64(s_raw_field(raw, S_F_VERSION), FK_MSG_VERSION);
    msgpack_pack_uint64(s_raw_field(raw, S_F_TYPE), FK_MSG_PING);
    s_pk_str(s_raw_field(raw, S_F_FROM), "node-a");
    s_pk_str(s_raw_field(raw, S_F_FROM_ADDR), "10.0.0.1:7946");
    msgpack_pack_uint64(s_raw_field(raw, S_F_INCARNATION), 3);
    msgpack_pack_uint64(s_raw_field(raw, S_F_SEQ), 9);
    msgpack_pack_uint64(s_raw_field(raw, S_F_FLAGS), 0);
    msgpack_pack_array(s_raw_field(raw, S_F_TARGET), 0);

    msgpack_packer *pk = s_raw_field(raw, S_F_MEMBERS);
    msgpack_pack_array(pk, 1);
    msgpack_pack_array(pk, 6);
    s_pk_str(pk, "node-b");
    s_pk_str(pk, "10.0.0.2:7946");
    msgpack_pack_uint64(pk, FK_MSG_STATUS_SUSPECT);
    msgpack_pack_uint64(pk, 4);
    s_pk_str(pk, "");
    msgpack_pack_bin(pk, 0);

    pk = s_raw_field(raw, S_F_DIGESTS);
    msgpack_pack_array(pk, 1);
    msgpack_pack_array(pk, 2);
    s_pk_str(pk, "node-a");
    msgpack_pack_uint64(pk, 17);

    pk = s_raw_field(raw, S_F_DELTAS);
    msgpack_pack_array(pk, 1);
    msgpack_pack_array(pk, 3);
    s_pk_str(pk, "node-a");
    s_pk_str(pk, "svc/x");
    msgpack_pack_bin_with_body(pk, "rec", 3);

    msgpack_pack_bin(s_raw_field(raw, S_F_BODY), 0);
}

static void
s_raw_fini(s_raw_t *raw)
{
    for (size_t i = 0; i < S_RAW_SLOTS; i++) {
        msgpack_sbuffer_destroy(&raw->field[i]);
    }
}

/*  The assembled bytes (caller frees). */
static unsigned char *
s_raw_bytes(const s_raw_t *raw, size_t *len_p)
{
    msgpack_sbuffer out;
    msgpack_sbuffer_init(&out);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &out, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, raw->fields);
    for (size_t i = 0; i < raw->written; i++) {
        msgpack_sbuffer_write(&out, raw->field[i].data, raw->field[i].size);
    }
    *len_p = out.size;
    return (unsigned char *)msgpack_sbuffer_release(&out);
}

static void
s_raw_expect_fail(const s_raw_t *raw, int code)
{
    size_t len;
    unsigned char *bytes = s_raw_bytes(raw, &len);
    s_expect_fail(bytes, len, code);
    free(bytes);
}

static fk_msg_t *
s_raw_expect_ok(const s_raw_t *raw)
{
    size_t len;
    unsigned char *bytes = s_raw_bytes(raw, &len);
    fk_msg_t *msg = s_expect_ok(bytes, len);
    free(bytes);
    return msg;
}

/*  Write into slot `field` one list entry (or, for S_F_TARGET, the target
    array itself) declared to hold `declared` elements, made of the byte
    strings parts[0 .. count-1]. */
typedef struct {
    const unsigned char *bytes; /* one element's encoding */
    size_t len;                 /* its length */
} s_part_t;

#define S_PART(...)                                                                                \
    {                                                                                              \
        S_BYTES(__VA_ARGS__)                                                                       \
    }

static void
s_raw_entry(s_raw_t *raw, size_t field, size_t declared, const s_part_t *parts, size_t count)
{
    msgpack_packer *pk = s_raw_field(raw, field);
    if (field != S_F_TARGET) {
        msgpack_pack_array(pk, 1);
    }
    msgpack_pack_array(pk, declared);
    for (size_t i = 0; i < count; i++) {
        s_raw_append(raw, field, parts[i].bytes, parts[i].len);
    }
}

/*  The default parts of each entry kind: a member, a digest, a delta, a
    target. */
static const s_part_t s_member_parts[] = {S_PART(0xa1, 'b'), S_PART(0xa3, 'h', ':', '1'),
                                          S_PART(0x00),      S_PART(0x04),
                                          S_PART(0xa0),      S_PART(0xc4, 0x00)};
static const s_part_t s_member_accuser_parts[] = {S_PART(0xa1, 'b'), S_PART(0xa3, 'h', ':', '1'),
                                                  S_PART(0x01),      S_PART(0x04),
                                                  S_PART(0xa1, 'a'), S_PART(0xc4, 0x00)};
/*  Elements in a member entry (R-MSG-009). */
#define S_MEMBER_FIELDS 6
static const s_part_t s_digest_parts[] = {S_PART(0xa1, 'o'), S_PART(0x11)};
static const s_part_t s_delta_parts[] = {S_PART(0xa1, 'o'), S_PART(0xa1, 'k'),
                                         S_PART(0xc4, 0x01, 0x00)};
static const s_part_t s_target_parts[] = {S_PART(0xa1, 'n'), S_PART(0xa3, 'h', ':', '2')};

/*  ---------------------------------------------------------------------
    A full message from the builder. */

/*  A message of type with every field in use: a target, one member per
    status (the suspect one with an accuser, the alive and left ones with a
    claim), three digests, three deltas holding real records (one a
    tombstone), a body. The claims are patterns: the codec never checks
    them (R-MSG-022). */
static fk_msg_t *
s_full_message(fk_msg_type_t type)
{
    fk_msg_t *msg = fk_msg_new(type, "node-a", "10.0.0.1:7946", 1000 + (uint64_t)type);
    fk_msg_set_seq(msg, UINT64_MAX - (uint64_t)type);
    fk_msg_set_flags(msg, 0x80000001u);
    fk_msg_set_target(msg, "node-c", "10.0.0.3:7946");

    static const char *const names[] = {"node-b", "node-c", "node-d", "node-e"};
    for (unsigned status = 0; status <= FK_MSG_STATUS_LEFT; status++) {
        fk_msg_member_t member = {.name = names[status],
                                  .addr = "[fd00::1]:7946",
                                  .status = (uint8_t)status,
                                  .incarnation = (uint64_t)status << 40,
                                  .accuser = status == FK_MSG_STATUS_SUSPECT ? "node-f" : NULL};
        if (status == FK_MSG_STATUS_ALIVE || status == FK_MSG_STATUS_LEFT) {
            member.has_claim = true;
            for (size_t i = 0; i < FK_SIGN_LEN; i++) {
                member.claim[i] = (uint8_t)(i * 7 + status);
            }
        }
        cr_assert_eq(fk_msg_add_member(msg, &member), 0);
    }
    cr_assert_eq(fk_msg_add_digest(msg, "node-a", 0), 0);
    cr_assert_eq(fk_msg_add_digest(msg, "node-b", 1), 0);
    cr_assert_eq(fk_msg_add_digest(msg, "node-c", UINT64_MAX), 0);

    static const fk_record_t records[] = {
        {.version = 1, .flags = 0, .stamp_ms = 1700000000000, .payload = "v1", .payload_len = 2},
        {.version = 2, .flags = FK_RECORD_TOMBSTONE, .stamp_ms = 1700000000001},
        {.version = 300, .flags = 0, .stamp_ms = 0, .payload = "{\"a\":1}", .payload_len = 7},
    };
    static const char *const keys[] = {"svc/a", "svc/b", "cfg/x"};
    for (size_t i = 0; i < 3; i++) {
        char *rec;
        size_t rec_len;
        cr_assert_eq(fk_record_encode(&records[i], &rec, &rec_len), 0);
        cr_assert_eq(fk_msg_add_delta(msg, "node-a", keys[i], rec, rec_len), 0);
        free(rec);
    }
    cr_assert_eq(fk_msg_set_body(msg, "hello", 5), 0);
    return msg;
}

/*  ---------------------------------------------------------------------
    Round trips and known bytes. */

Test(fk_msg, round_trip_of_every_type_with_every_field)
{
    /*  EVIDENCE-OF: R-MSG-001 EVIDENCE-OF: R-MSG-005 */
    static const fk_msg_type_t types[] = {
#define S_TYPE_ITEM(name, value, what) FK_MSG_##name,
        FK_MSG_TYPE_MAP(S_TYPE_ITEM)
#undef S_TYPE_ITEM
    };
    cr_assert_eq(sizeof types / sizeof types[0], 10);
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
        fk_msg_t *msg = s_full_message(types[t]);
        fk_msg_t *copy = s_round_trip(msg);

        /*  Spot-check the values, not just the equality. */
        cr_assert_eq(fk_msg_type(copy), types[t]);
        cr_assert_str_eq(fk_msg_from(copy), "node-a");
        cr_assert_str_eq(fk_msg_from_addr(copy), "10.0.0.1:7946");
        cr_assert_eq(fk_msg_incarnation(copy), 1000 + (uint64_t)types[t]);
        cr_assert_eq(fk_msg_seq(copy), UINT64_MAX - (uint64_t)types[t]);
        cr_assert_eq(fk_msg_flags(copy), 0x80000001u);
        cr_assert_str_eq(fk_msg_target_name(copy), "node-c");
        cr_assert_str_eq(fk_msg_target_addr(copy), "10.0.0.3:7946");
        size_t n;
        const fk_msg_member_t *members = fk_msg_members(copy, &n);
        cr_assert_eq(n, 4);
        cr_assert_eq(members[3].status, FK_MSG_STATUS_LEFT);
        cr_assert_eq(members[3].incarnation, (uint64_t)3 << 40);
        cr_assert_str_eq(members[1].accuser, "node-f");
        cr_assert_null(members[0].accuser);
        cr_assert(members[0].has_claim);
        cr_assert_eq(members[0].claim[63], (uint8_t)(63 * 7));
        cr_assert_not(members[1].has_claim);
        cr_assert(members[3].has_claim);
        cr_assert_eq(members[3].claim[1], 7 + 3);
        const fk_msg_digest_t *digests = fk_msg_digests(copy, &n);
        cr_assert_eq(n, 3);
        cr_assert_eq(digests[2].version, UINT64_MAX);
        const fk_msg_delta_t *deltas = fk_msg_deltas(copy, &n);
        cr_assert_eq(n, 3);
        cr_assert_str_eq(deltas[1].key, "svc/b");
        /*  The records travel untouched and still decode. */
        fk_record_t rec;
        cr_assert_eq(fk_record_decode(deltas[1].record, deltas[1].record_len, &rec), 0);
        cr_assert_eq(rec.version, 2);
        cr_assert_eq(rec.flags, FK_RECORD_TOMBSTONE);
        size_t body_len;
        const char *body = fk_msg_body(copy, &body_len);
        cr_assert_eq(body_len, 5);
        cr_assert_eq(memcmp(body, "hello", 5), 0);

        fk_msg_destroy(&copy);
        fk_msg_destroy(&msg);
    }
}

Test(fk_msg, round_trip_of_a_message_with_nothing_in_use)
{
    /*  EVIDENCE-OF: R-MSG-001 unused fields travel empty. */
    fk_msg_t *msg = fk_msg_new(FK_MSG_LEAVE, "n", "h:1", 0);
    fk_msg_t *copy = s_round_trip(msg);
    cr_assert_null(fk_msg_target_name(copy));
    cr_assert_null(fk_msg_target_addr(copy));
    size_t n = 99;
    cr_assert_null(fk_msg_members(copy, &n));
    cr_assert_eq(n, 0);
    n = 99;
    cr_assert_null(fk_msg_digests(copy, &n));
    cr_assert_eq(n, 0);
    n = 99;
    cr_assert_null(fk_msg_deltas(copy, &n));
    cr_assert_eq(n, 0);
    n = 99;
    cr_assert_null(fk_msg_body(copy, &n));
    cr_assert_eq(n, 0);
    fk_msg_destroy(&copy);
    fk_msg_destroy(&msg);
}

Test(fk_msg, encodes_the_protocol_examples)
{
    /*  EVIDENCE-OF: R-MSG-015 the examples in PROTOCOL.md, byte for byte. */
    static const unsigned char ping[] = {0x9d, 0xcd, 0xfa, 0x4b, 0x02, 0x01, 0xa1,
                                         0x61, 0xa3, 0x68, 0x3a, 0x31, 0x01, 0x02,
                                         0x00, 0x90, 0x90, 0x90, 0x90, 0xc4, 0x00};
    fk_msg_t *msg = fk_msg_new(FK_MSG_PING, "a", "h:1", 1);
    fk_msg_set_seq(msg, 2);
    size_t len;
    char *buf = s_encode(msg, &len);
    cr_assert_eq(len, sizeof ping);
    cr_assert_eq(memcmp(buf, ping, len), 0);
    free(buf);
    fk_msg_destroy(&msg);

    static const unsigned char ping_req[] = {0x9d, 0xcd, 0xfa, 0x4b, 0x02, 0x03, 0xa1, 0x61, 0xa3,
                                             0x68, 0x3a, 0x31, 0x01, 0x03, 0x00, 0x92, 0xa1, 0x63,
                                             0xa3, 0x68, 0x3a, 0x33, 0x90, 0x90, 0x90, 0xc4, 0x00};
    msg = fk_msg_new(FK_MSG_PING_REQ, "a", "h:1", 1);
    fk_msg_set_seq(msg, 3);
    fk_msg_set_target(msg, "c", "h:3");
    buf = s_encode(msg, &len);
    cr_assert_eq(len, sizeof ping_req);
    cr_assert_eq(memcmp(buf, ping_req, len), 0);
    free(buf);
    fk_msg_destroy(&msg);

    /*  EVIDENCE-OF: R-MSG-009 every entry has six elements (%x96): no
        accuser is an empty str (%xa0), no claim an empty bin (%xc4 %x00). */
    static const unsigned char ping_members[] = {
        0x9d, 0xcd, 0xfa, 0x4b, 0x02, 0x01, 0xa1, 0x61, 0xa3, 0x68, 0x3a, 0x31,
        0x01, 0x05, 0x00, 0x90, 0x92, 0x96, 0xa1, 0x62, 0xa3, 0x68, 0x3a, 0x32,
        0x00, 0x07, 0xa0, 0xc4, 0x00, 0x96, 0xa1, 0x63, 0xa3, 0x68, 0x3a, 0x33,
        0x01, 0x02, 0xa1, 0x62, 0xc4, 0x00, 0x90, 0x90, 0xc4, 0x00};
    msg = fk_msg_new(FK_MSG_PING, "a", "h:1", 1);
    fk_msg_set_seq(msg, 5);
    fk_msg_member_t alive = {.name = "b", .addr = "h:2", .status = 0, .incarnation = 7};
    fk_msg_member_t suspect = {
        .name = "c", .addr = "h:3", .status = 1, .incarnation = 2, .accuser = "b"};
    cr_assert_eq(fk_msg_add_member(msg, &alive), 0);
    cr_assert_eq(fk_msg_add_member(msg, &suspect), 0);
    buf = s_encode(msg, &len);
    cr_assert_eq(len, sizeof ping_members);
    cr_assert_eq(memcmp(buf, ping_members, len), 0);
    free(buf);
    fk_msg_destroy(&msg);

    static const unsigned char delta[] = {0x9d, 0xcd, 0xfa, 0x4b, 0x02, 0x05, 0xa1, 0x61, 0xa3,
                                          0x68, 0x3a, 0x31, 0x01, 0x04, 0x00, 0x90, 0x90, 0x90,
                                          0x91, 0x93, 0xa1, 0x61, 0xa1, 0x6b, 0xc4, 0x08, 0x94,
                                          0x01, 0x00, 0x00, 0xc4, 0x02, 0x68, 0x69, 0xc4, 0x00};
    static const unsigned char record[] = {0x94, 0x01, 0x00, 0x00, 0xc4, 0x02, 'h', 'i'};
    msg = fk_msg_new(FK_MSG_DELTA, "a", "h:1", 1);
    fk_msg_set_seq(msg, 4);
    cr_assert_eq(fk_msg_add_delta(msg, "a", "k", record, sizeof record), 0);
    buf = s_encode(msg, &len);
    cr_assert_eq(len, sizeof delta);
    cr_assert_eq(memcmp(buf, delta, len), 0);
    free(buf);
    fk_msg_destroy(&msg);

    /*  EVIDENCE-OF: R-MSG-022 a claim is a bin 8 of 64 octets (%xc4 %x40)
        in the sixth element: LEAVE from a, announcing b left at 9. */
    unsigned char leave[] = {0x9d, 0xcd, 0xfa, 0x4b, 0x02, 0x07, 0xa1, 0x61, 0xa3, 0x68,
                             0x3a, 0x31, 0x01, 0x00, 0x00, 0x90, 0x91, 0x96, 0xa1, 0x62,
                             0xa3, 0x68, 0x3a, 0x32, 0x03, 0x09, 0xa0, 0xc4, 0x40, [29 + 64] = 0x90,
                             0x90, 0xc4, 0x00};
    fk_msg_member_t left = {.name = "b", .addr = "h:2", .status = 3, .incarnation = 9};
    left.has_claim = true;
    for (size_t i = 0; i < FK_SIGN_LEN; i++) {
        left.claim[i] = (uint8_t)(0xc0 + i);
        leave[29 + i] = (uint8_t)(0xc0 + i);
    }
    msg = fk_msg_new(FK_MSG_LEAVE, "a", "h:1", 1);
    cr_assert_eq(fk_msg_add_member(msg, &left), 0);
    buf = s_encode(msg, &len);
    cr_assert_eq(len, sizeof leave);
    cr_assert_eq(memcmp(buf, leave, len), 0);
    free(buf);
    fk_msg_destroy(&msg);

    /*  ADMIT is type 10 (%x0a); its body is opaque here (proto/fk_admit). */
    static const unsigned char admit[] = {0x9d, 0xcd, 0xfa, 0x4b, 0x02, 0x0a, 0xa1, 0x61,
                                          0xa3, 0x68, 0x3a, 0x31, 0x01, 0x06, 0x00, 0x90,
                                          0x90, 0x90, 0x90, 0xc4, 0x02, 0x97, 0x05};
    msg = fk_msg_new(FK_MSG_ADMIT, "a", "h:1", 1);
    fk_msg_set_seq(msg, 6);
    cr_assert_eq(fk_msg_set_body(msg, "\x97\x05", 2), 0);
    buf = s_encode(msg, &len);
    cr_assert_eq(len, sizeof admit);
    cr_assert_eq(memcmp(buf, admit, len), 0);
    free(buf);
    fk_msg_destroy(&msg);
}

Test(fk_msg, decodes_known_bytes)
{
    /*  EVIDENCE-OF: R-MSG-001 */
    fk_msg_t *msg = s_expect_ok(S_BYTES(0x9d, 0xcd, 0xfa, 0x4b, 0x02, 0x03, 0xa1, 0x61, 0xa3, 0x68,
                                        0x3a, 0x31, 0x01, 0x03, 0x00, 0x92, 0xa1, 0x63, 0xa3, 0x68,
                                        0x3a, 0x33, 0x90, 0x90, 0x90, 0xc4, 0x00));
    cr_assert_eq(fk_msg_type(msg), FK_MSG_PING_REQ);
    cr_assert_str_eq(fk_msg_from(msg), "a");
    cr_assert_str_eq(fk_msg_from_addr(msg), "h:1");
    cr_assert_eq(fk_msg_incarnation(msg), 1);
    cr_assert_eq(fk_msg_seq(msg), 3);
    cr_assert_eq(fk_msg_flags(msg), 0);
    cr_assert_str_eq(fk_msg_target_name(msg), "c");
    cr_assert_str_eq(fk_msg_target_addr(msg), "h:3");
    fk_msg_destroy(&msg);
}

Test(fk_msg, accepts_every_integer_width_and_header_form)
{
    /*  EVIDENCE-OF: R-MSG-014 array16 outer header, uint32 magic, int8
        version, uint16 type, str8 and str16, int64 and uint64, int16 flags,
        array16 and array32 lists, str32, bin32 and bin16. */
    static const unsigned char bytes[] = {
        0xdc, 0x00, 0x0d,                              /* array16, 13 */
        0xce, 0x00, 0x00, 0xfa, 0x4b,                  /* magic as uint32 */
        0xd0, 0x02,                                    /* version as int8 */
        0xcd, 0x00, 0x05,                              /* DELTA as uint16 */
        0xd9, 0x01, 'a',                               /* from as str8 */
        0xda, 0x00, 0x03, 'h',  ':',  '1',             /* from_addr as str16 */
        0xd3, 0,    0,    0,    0,    0,   0, 0, 0x07, /* incarnation as int64 */
        0xcf, 0,    0,    0,    0,    0,   0, 0, 0x08, /* seq as uint64 */
        0xd1, 0x00, 0x02,                              /* flags as int16 */
        0xdc, 0x00, 0x00,                              /* target: array16, empty */
        0xdd, 0x00, 0x00, 0x00, 0x00,                  /* members: array32, empty */
        0xdc, 0x00, 0x01,                              /* digests: array16, 1 */
        0xdd, 0x00, 0x00, 0x00, 0x02,                  /* [ */
        0xdb, 0x00, 0x00, 0x00, 0x01, 'o',             /* owner as str32 */
        0xce, 0x00, 0x00, 0x00, 0x05,                  /* version as uint32 ] */
        0x91, 0x93, 0xa1, 'o',  0xa1, 'k',             /* deltas: [[o, k, */
        0xc6, 0x00, 0x00, 0x00, 0x01, 'r',             /* bin32 record ]] */
        0xc5, 0x00, 0x02, 'h',  'i',                   /* body as bin16 */
    };
    fk_msg_t *msg = s_expect_ok(bytes, sizeof bytes);
    cr_assert_eq(fk_msg_type(msg), FK_MSG_DELTA);
    cr_assert_str_eq(fk_msg_from(msg), "a");
    cr_assert_str_eq(fk_msg_from_addr(msg), "h:1");
    cr_assert_eq(fk_msg_incarnation(msg), 7);
    cr_assert_eq(fk_msg_seq(msg), 8);
    cr_assert_eq(fk_msg_flags(msg), 2);
    size_t n;
    const fk_msg_digest_t *digests = fk_msg_digests(msg, &n);
    cr_assert_eq(n, 1);
    cr_assert_str_eq(digests[0].owner, "o");
    cr_assert_eq(digests[0].version, 5);
    const fk_msg_delta_t *deltas = fk_msg_deltas(msg, &n);
    cr_assert_eq(n, 1);
    cr_assert_eq(deltas[0].record_len, 1);
    cr_assert_eq(((const char *)deltas[0].record)[0], 'r');

    /*  Re-encoding keeps the message but not the bytes: it is canonical,
        and so shorter. */
    fk_msg_t *copy = s_round_trip(msg);
    size_t len;
    char *buf = s_encode(copy, &len);
    cr_assert_lt(len, sizeof bytes);
    free(buf);
    fk_msg_destroy(&copy);
    fk_msg_destroy(&msg);
}

Test(fk_msg, decoded_message_owns_copies_of_its_input)
{
    /*  EVIDENCE-OF: R-MSG-018 the input is overwritten and freed before the
        message is read; ASan would report a pointer left into it. */
    fk_msg_t *msg = s_full_message(FK_MSG_DELTA);
    size_t len;
    char *buf = s_encode(msg, &len);
    char *input = malloc(len);
    cr_assert_not_null(input);
    memcpy(input, buf, len);
    fk_msg_t *copy = NULL;
    cr_assert_eq(fk_msg_decode(input, len, &copy), 0);
    memset(input, 0xa5, len);
    free(input);
    s_assert_same(msg, copy);
    free(buf);
    fk_msg_destroy(&copy);
    fk_msg_destroy(&msg);
}

/*  ---------------------------------------------------------------------
    The envelope: size, signature, version, one object. */

Test(fk_msg, rejects_every_strict_prefix)
{
    /*  EVIDENCE-OF: R-MSG-016 a message with every field in use, and
        strings, records and a body past the short forms (str8, bin16). */
    fk_msg_t *msg = s_full_message(FK_MSG_DELTA);
    char *key = s_filled(300, 'k');
    char *record = s_filled(300, 'r');
    cr_assert_eq(fk_msg_add_delta(msg, "node-b", key, record, 300), 0);
    cr_assert_eq(fk_msg_set_body(msg, record, 300), 0);
    size_t len;
    char *buf = s_encode(msg, &len);
    for (size_t n = 0; n < len; n++) {
        s_expect_fail(buf, n, FK_EPROTO_MALFORMED);
    }
    fk_msg_t *whole = s_expect_ok(buf, len);
    fk_msg_destroy(&whole);
    free(buf);
    free(record);
    free(key);
    fk_msg_destroy(&msg);
}

Test(fk_msg, rejects_empty_input)
{
    /*  EVIDENCE-OF: R-MSG-016 */
    fk_msg_t *msg = (fk_msg_t *)&msg;
    cr_assert_eq(fk_msg_decode(NULL, 0, &msg), FK_EPROTO_MALFORMED);
    cr_assert_null(msg);
    s_expect_fail("", 0, FK_EPROTO_MALFORMED);
}

Test(fk_msg, rejects_trailing_bytes)
{
    /*  EVIDENCE-OF: R-MSG-016 a nil, a zero, and a second whole message. */
    s_raw_t raw;
    s_raw_init(&raw);
    size_t len;
    unsigned char *one = s_raw_bytes(&raw, &len);
    unsigned char *two = malloc(2 * len);
    cr_assert_not_null(two);
    memcpy(two, one, len);
    memcpy(two + len, one, len);
    s_expect_fail(two, 2 * len, FK_EPROTO_MALFORMED);
    two[len] = 0xc0;
    s_expect_fail(two, len + 1, FK_EPROTO_MALFORMED);
    two[len] = 0x00;
    s_expect_fail(two, len + 1, FK_EPROTO_MALFORMED);
    fk_msg_t *msg = s_expect_ok(two, len);
    fk_msg_destroy(&msg);
    free(two);
    free(one);
    s_raw_fini(&raw);
}

Test(fk_msg, rejects_a_frame_over_the_size_limit_unread)
{
    /*  EVIDENCE-OF: R-MSG-002 FK_ETOOBIG before anything is parsed, so even
        garbage gets it. */
    size_t len = FK_MSG_MAX_SIZE + 1;
    unsigned char *bytes = malloc(len);
    cr_assert_not_null(bytes);
    memset(bytes, 0xc1, len);
    fk_msg_t *msg = (fk_msg_t *)&msg;
    cr_assert_eq(fk_msg_decode(bytes, len, &msg), FK_ETOOBIG);
    cr_assert_null(msg);
    free(bytes);
}

/*  The default raw message with five deltas whose records bring the whole
    encoding to exactly FK_MSG_MAX_SIZE + extra bytes (caller frees). */
static unsigned char *
s_message_of_max_size(size_t extra, size_t *len_p)
{
    static const size_t big = 1000000;
    char *record = s_filled(big + 300000, 'r');
    s_raw_t raw;
    s_raw_init(&raw);

    size_t last = 100000; /* first guess; every length here takes a bin32 */
    for (int pass = 0; pass < 2; pass++) {
        msgpack_packer *pk = s_raw_field(&raw, S_F_DELTAS);
        msgpack_pack_array(pk, 5);
        for (int i = 0; i < 5; i++) {
            msgpack_pack_array(pk, 3);
            char key[16];
            snprintf(key, sizeof key, "k%d", i);
            s_pk_str(pk, "node-a");
            s_pk_str(pk, key);
            msgpack_pack_bin_with_body(pk, record, i < 4 ? big : last);
        }
        size_t len;
        free(s_raw_bytes(&raw, &len));
        /*  The length is linear in `last` while it stays a bin32. */
        last = last + (FK_MSG_MAX_SIZE + extra) - len;
    }
    unsigned char *bytes = s_raw_bytes(&raw, len_p);
    cr_assert_eq(*len_p, FK_MSG_MAX_SIZE + extra);
    s_raw_fini(&raw);
    free(record);
    return bytes;
}

Test(fk_msg, accepts_a_message_of_exactly_the_size_limit, .timeout = 30)
{
    /*  EVIDENCE-OF: R-MSG-002 the limit is inclusive, and one more byte is
        too big. */
    size_t len;
    unsigned char *bytes = s_message_of_max_size(0, &len);
    fk_msg_t *msg = s_expect_ok(bytes, len);
    size_t n;
    fk_msg_deltas(msg, &n);
    cr_assert_eq(n, 5);
    fk_msg_destroy(&msg);
    free(bytes);

    bytes = s_message_of_max_size(1, &len);
    s_expect_fail(bytes, len, FK_ETOOBIG);
    free(bytes);
}

Test(fk_msg, a_message_at_the_limit_refuses_to_grow_past_it, .timeout = 30)
{
    /*  EVIDENCE-OF: R-MSG-002 the adders refuse, and encode refuses what
        the void setters lengthened. */
    size_t len;
    unsigned char *bytes = s_message_of_max_size(0, &len);
    fk_msg_t *msg = s_expect_ok(bytes, len);

    fk_msg_member_t member = {.name = "b", .addr = "h:1", .status = 0, .incarnation = 0};
    cr_assert_eq(fk_msg_add_member(msg, &member), FK_ETOOBIG);
    cr_assert_eq(fk_msg_add_digest(msg, "o", 1), FK_ETOOBIG);
    cr_assert_eq(fk_msg_add_delta(msg, "o", "k", "r", 1), FK_ETOOBIG);
    cr_assert_eq(fk_msg_set_body(msg, "b", 1), FK_ETOOBIG);
    cr_assert_eq(fk_msg_encoded_size(msg), FK_MSG_MAX_SIZE);

    /*  seq 9 takes one byte, UINT64_MAX nine. */
    fk_msg_set_seq(msg, UINT64_MAX);
    cr_assert_eq(fk_msg_encoded_size(msg), FK_MSG_MAX_SIZE + 8);
    char sentinel;
    char *buf = &sentinel;
    size_t buf_len = 1;
    cr_assert_eq(fk_msg_encode(msg, &buf, &buf_len), FK_ETOOBIG);
    cr_assert_null(buf);
    cr_assert_eq(buf_len, 0);

    /*  Back to the decoded value, it encodes to the very input: the raw
        writer is msgpack-c's packer, which is canonical too. */
    fk_msg_set_seq(msg, 9);
    buf = s_encode(msg, &buf_len);
    cr_assert_eq(buf_len, len);
    cr_assert_eq(memcmp(buf, bytes, len), 0);
    free(buf);
    fk_msg_destroy(&msg);
    free(bytes);
}

Test(fk_msg, rejects_a_wrong_signature)
{
    /*  EVIDENCE-OF: R-MSG-003 another magic, in any form; a magic that is
        not a uint; and outer objects that are not arrays or are empty. */
    s_raw_t raw;
    s_raw_init(&raw);
    msgpack_pack_uint64(s_raw_field(&raw, S_F_MAGIC), 0xFA4C);
    s_raw_expect_fail(&raw, FK_EPROTO_MAGIC);
    msgpack_pack_uint64(s_raw_field(&raw, S_F_MAGIC), 0);
    s_raw_expect_fail(&raw, FK_EPROTO_MAGIC);
    msgpack_pack_uint64(s_raw_field(&raw, S_F_MAGIC), 0x100000000000FA4Bull);
    s_raw_expect_fail(&raw, FK_EPROTO_MAGIC);
    s_pk_str(s_raw_field(&raw, S_F_MAGIC), "FA4B");
    s_raw_expect_fail(&raw, FK_EPROTO_MAGIC);
    msgpack_pack_int64(s_raw_field(&raw, S_F_MAGIC), -0xFA4B);
    s_raw_expect_fail(&raw, FK_EPROTO_MAGIC);
    msgpack_pack_array(s_raw_field(&raw, S_F_MAGIC), 0);
    s_raw_expect_fail(&raw, FK_EPROTO_MAGIC);
    s_raw_fini(&raw);

    s_expect_fail(S_BYTES(0x90), FK_EPROTO_MAGIC);
    s_expect_fail(S_BYTES(0x01), FK_EPROTO_MAGIC);
    s_expect_fail(S_BYTES(0xa2, 'h', 'i'), FK_EPROTO_MAGIC);
    s_expect_fail(S_BYTES(0xc4, 0x01, 0x9d), FK_EPROTO_MAGIC);
    s_expect_fail(S_BYTES(0x81, 0xcd, 0xfa, 0x4b, 0x01), FK_EPROTO_MAGIC);
    /*  The record envelope is not a message. */
    s_expect_fail(S_BYTES(0x94, 0x01, 0x00, 0x00, 0xc4, 0x00), FK_EPROTO_MAGIC);
    /*  A signature in any integer width is still the signature. */
    s_expect_fail(S_BYTES(0x91, 0xce, 0x00, 0x00, 0xfa, 0x4b), FK_EPROTO_MALFORMED);
}

Test(fk_msg, rejects_other_versions_before_the_rest_of_the_shape)
{
    /*  EVIDENCE-OF: R-MSG-004 */
    s_raw_t raw;
    s_raw_init(&raw);
    static const uint64_t versions[] = {0, 1, 3, 255, UINT32_MAX, UINT64_MAX};
    for (size_t i = 0; i < sizeof versions / sizeof versions[0]; i++) {
        msgpack_pack_uint64(s_raw_field(&raw, S_F_VERSION), versions[i]);
        s_raw_expect_fail(&raw, FK_EPROTO_VERSION);
    }
    /*  A later version may change everything after the version field: the
        answer is still "version", not "malformed". */
    msgpack_pack_uint64(s_raw_field(&raw, S_F_VERSION), 3);
    raw.fields = raw.written = 14;
    msgpack_pack_nil(s_raw_field(&raw, S_FIELDS));
    s_raw_expect_fail(&raw, FK_EPROTO_VERSION);
    raw.fields = raw.written = 3;
    s_raw_expect_fail(&raw, FK_EPROTO_VERSION);
    msgpack_pack_nil(s_raw_field(&raw, S_F_TYPE));
    s_raw_expect_fail(&raw, FK_EPROTO_VERSION);
    msgpack_pack_uint64(s_raw_field(&raw, S_F_TYPE), FK_MSG_PING);

    /*  A version that is not an unsigned integer, or none at all. */
    raw.fields = raw.written = S_FIELDS;
    msgpack_pack_int64(s_raw_field(&raw, S_F_VERSION), -1);
    s_raw_expect_fail(&raw, FK_EPROTO_MALFORMED);
    s_pk_str(s_raw_field(&raw, S_F_VERSION), "1");
    s_raw_expect_fail(&raw, FK_EPROTO_MALFORMED);
    raw.fields = raw.written = 1;
    s_raw_expect_fail(&raw, FK_EPROTO_MALFORMED);
    s_raw_fini(&raw);
}

Test(fk_msg, refuses_version_1_frames)
{
    /*  EVIDENCE-OF: R-MSG-004 a whole, valid version-1 message (the PING
        example of version 1, and one with the old four- and five-element
        member entries) is refused as a version, not decoded: version-1
        peers are refused, and every node upgrades together. */
    s_expect_fail(S_BYTES(0x9d, 0xcd, 0xfa, 0x4b, 0x01, 0x01, 0xa1, 0x61, 0xa3, 0x68, 0x3a, 0x31,
                          0x01, 0x02, 0x00, 0x90, 0x90, 0x90, 0x90, 0xc4, 0x00),
                  FK_EPROTO_VERSION);
    s_expect_fail(S_BYTES(0x9d, 0xcd, 0xfa, 0x4b, 0x01, 0x01, 0xa1, 0x61, 0xa3, 0x68, 0x3a, 0x31,
                          0x01, 0x05, 0x00, 0x90, 0x92, 0x94, 0xa1, 0x62, 0xa3, 0x68, 0x3a, 0x32,
                          0x00, 0x07, 0x95, 0xa1, 0x63, 0xa3, 0x68, 0x3a, 0x33, 0x01, 0x02, 0xa1,
                          0x62, 0x90, 0x90, 0xc4, 0x00),
                  FK_EPROTO_VERSION);
    /*  The same bytes as version 2 are malformed: the old entry shapes are
        gone (R-MSG-009). */
    s_expect_fail(S_BYTES(0x9d, 0xcd, 0xfa, 0x4b, 0x02, 0x01, 0xa1, 0x61, 0xa3, 0x68, 0x3a, 0x31,
                          0x01, 0x05, 0x00, 0x90, 0x92, 0x94, 0xa1, 0x62, 0xa3, 0x68, 0x3a, 0x32,
                          0x00, 0x07, 0x95, 0xa1, 0x63, 0xa3, 0x68, 0x3a, 0x33, 0x01, 0x02, 0xa1,
                          0x62, 0x90, 0x90, 0xc4, 0x00),
                  FK_EPROTO_MALFORMED);
    /*  And the encoder writes version 2. */
    cr_assert_eq(FK_MSG_VERSION, 2);
}

Test(fk_msg, rejects_unknown_types)
{
    /*  EVIDENCE-OF: R-MSG-005 */
    static const uint64_t types[] = {0, 11, 127, 255, 256, (uint64_t)1 << 32 | 1, UINT64_MAX};
    s_raw_t raw;
    s_raw_init(&raw);
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        msgpack_pack_uint64(s_raw_field(&raw, S_F_TYPE), types[i]);
        s_raw_expect_fail(&raw, FK_EPROTO_MALFORMED);
    }
    msgpack_pack_int64(s_raw_field(&raw, S_F_TYPE), -1);
    s_raw_expect_fail(&raw, FK_EPROTO_MALFORMED);
    /*  And each known one passes. */
    for (uint64_t t = 1; t <= 10; t++) {
        msgpack_pack_uint64(s_raw_field(&raw, S_F_TYPE), t);
        fk_msg_t *msg = s_raw_expect_ok(&raw);
        cr_assert_eq((uint64_t)fk_msg_type(msg), t);
        fk_msg_destroy(&msg);
    }
    s_raw_fini(&raw);
}

Test(fk_msg, rejects_the_allocation_bomb_inside_every_container, .timeout = 20)
{
    /*  EVIDENCE-OF: R-MSG-017 msgpack/msgpack-c#1013. If any of these
        reached msgpack-c it would ask for up to ~137 GB, which ASan
        reports as an error; the peak RSS shows nothing large was touched
        either. Each header is tried as the field itself, as a list entry,
        and as an element inside an entry. */
    const s_part_t bombs[] = {
        S_PART(0xdd, 0xdd, 0xdd, 0xdd, 0xdd),       S_PART(0xdd, 0xff, 0xff, 0xff, 0xff),
        S_PART(0xdf, 0xff, 0xff, 0xff, 0xff),       S_PART(0xdc, 0xff, 0xff),
        S_PART(0xdb, 0xff, 0xff, 0xff, 0xff),       S_PART(0xc6, 0xff, 0xff, 0xff, 0xff),
        S_PART(0xc9, 0xff, 0xff, 0xff, 0xff, 0x01),
    };
    long before = s_peak_rss_kib();
    s_raw_t raw;
    s_raw_init(&raw);
    for (size_t b = 0; b < sizeof bombs / sizeof bombs[0]; b++) {
        for (size_t f = S_F_TYPE; f < S_FIELDS; f++) {
            s_raw_t one;
            s_raw_init(&one);
            s_raw_put(&one, f, bombs[b].bytes, bombs[b].len);
            s_raw_expect_fail(&one, FK_EPROTO_MALFORMED);
            if (f >= S_F_MEMBERS && f <= S_F_DELTAS) {
                s_part_t entry = bombs[b];
                s_raw_entry(&one, f, 1, &entry, 1);
                s_raw_expect_fail(&one, FK_EPROTO_MALFORMED);
                /*  As the first element of an entry of the right size. */
                msgpack_packer *pk = s_raw_field(&one, f);
                msgpack_pack_array(pk, 1);
                msgpack_pack_array(pk, 3);
                s_raw_append(&one, f, bombs[b].bytes, bombs[b].len);
                s_raw_append(&one, f, "\xa1o\xa1k", 4);
                s_raw_expect_fail(&one, FK_EPROTO_MALFORMED);
            }
            s_raw_fini(&one);
        }
    }

    /*  The bomb followed by 1 MiB of nils: still a lie, and the nils are
        not enough to make it true. */
    size_t pad = (size_t)1 << 20;
    unsigned char *nils = malloc(pad);
    cr_assert_not_null(nils);
    memset(nils, 0xc0, pad);
    s_raw_put(&raw, S_F_MEMBERS, "\xdd\xdd\xdd\xdd\xdd", 5);
    s_raw_append(&raw, S_F_MEMBERS, nils, pad);
    s_raw_expect_fail(&raw, FK_EPROTO_MALFORMED);

    /*  Nested array16 headers, each claiming 0xffff elements. */
    msgpack_sbuffer_clear(&raw.field[S_F_MEMBERS]);
    for (int i = 0; i < 3; i++) {
        s_raw_append(&raw, S_F_MEMBERS, "\xdc\xff\xff", 3);
    }
    s_raw_expect_fail(&raw, FK_EPROTO_MALFORMED);
    free(nils);
    s_raw_fini(&raw);

    long grown = s_peak_rss_kib() - before;
    cr_assert_lt(grown, 32L * 1024, "peak RSS grew by %ld KiB", grown);
}

Test(fk_msg, bounds_what_msgpack_c_allocates_for_a_large_honest_list, .timeout = 20)
{
    /*  EVIDENCE-OF: R-MSG-017 four million nils in the members list: the
        pre-scan accepts them (each nil is one byte, all inside 4 MiB), but
        msgpack-c would spend 24 bytes on each, ~96 MB. The element budget
        refuses the list before msgpack-c runs. */
    size_t count = 4000000;
    unsigned char *list = malloc(5 + count);
    cr_assert_not_null(list);
    list[0] = 0xdd;
    list[1] = (unsigned char)(count >> 24);
    list[2] = (unsigned char)(count >> 16);
    list[3] = (unsigned char)(count >> 8);
    list[4] = (unsigned char)count;
    memset(list + 5, 0xc0, count);

    s_raw_t raw;
    s_raw_init(&raw);
    s_raw_put(&raw, S_F_MEMBERS, list, 5 + count);
    free(list);
    size_t len;
    unsigned char *bytes = s_raw_bytes(&raw, &len);
    s_raw_fini(&raw);
    cr_assert_leq(len, FK_MSG_MAX_SIZE);

    long before = s_peak_rss_kib();
    s_expect_fail(bytes, len, FK_EPROTO_MALFORMED);
    long grown = s_peak_rss_kib() - before;
    /*  The decode copies the input (4 MB); msgpack-c would add ~96 MB. */
    cr_assert_lt(grown, 32L * 1024, "peak RSS grew by %ld KiB", grown);
    free(bytes);
}

/*  ---------------------------------------------------------------------
    Strings. */

/*  Where a string can sit in a message. */
typedef enum {
    S_AT_FROM,
    S_AT_FROM_ADDR,
    S_AT_TARGET_NAME,
    S_AT_TARGET_ADDR,
    S_AT_MEMBER_NAME,
    S_AT_MEMBER_ADDR,
    S_AT_MEMBER_ACCUSER,
    S_AT_DIGEST_OWNER,
    S_AT_DELTA_OWNER,
    S_AT_DELTA_KEY,
    S_AT_COUNT
} s_at_t;

static const size_t s_at_max[S_AT_COUNT] = {
    FK_MSG_MAX_NAME, FK_MSG_MAX_ADDR, FK_MSG_MAX_NAME, FK_MSG_MAX_ADDR, FK_MSG_MAX_NAME,
    FK_MSG_MAX_ADDR, FK_MSG_MAX_NAME, FK_MSG_MAX_NAME, FK_MSG_MAX_NAME, FK_MSG_MAX_KEY,
};

/*  Put the len bytes at s in position `at` of the default raw message, as
    a str (or, with as_bin, a bin). */
static void
s_raw_put_string(s_raw_t *raw, s_at_t at, const char *s, size_t len, int as_bin)
{
    msgpack_sbuffer str;
    msgpack_sbuffer_init(&str);
    msgpack_packer spk;
    msgpack_packer_init(&spk, &str, msgpack_sbuffer_write);
    if (as_bin) {
        msgpack_pack_bin_with_body(&spk, s, len);
    } else {
        msgpack_pack_str_with_body(&spk, s, len);
    }
    s_part_t part = {(const unsigned char *)str.data, str.size};
    s_part_t parts[S_MEMBER_FIELDS];

    switch (at) {
    case S_AT_FROM:
        s_raw_put(raw, S_F_FROM, str.data, str.size);
        break;
    case S_AT_FROM_ADDR:
        s_raw_put(raw, S_F_FROM_ADDR, str.data, str.size);
        break;
    case S_AT_TARGET_NAME:
    case S_AT_TARGET_ADDR:
        memcpy(parts, s_target_parts, sizeof s_target_parts);
        parts[at - S_AT_TARGET_NAME] = part;
        s_raw_entry(raw, S_F_TARGET, 2, parts, 2);
        break;
    case S_AT_MEMBER_NAME:
    case S_AT_MEMBER_ADDR:
        memcpy(parts, s_member_parts, sizeof s_member_parts);
        parts[at - S_AT_MEMBER_NAME] = part;
        s_raw_entry(raw, S_F_MEMBERS, S_MEMBER_FIELDS, parts, S_MEMBER_FIELDS);
        break;
    case S_AT_MEMBER_ACCUSER:
        memcpy(parts, s_member_accuser_parts, sizeof s_member_accuser_parts);
        parts[4] = part;
        s_raw_entry(raw, S_F_MEMBERS, S_MEMBER_FIELDS, parts, S_MEMBER_FIELDS);
        break;
    case S_AT_DIGEST_OWNER:
        memcpy(parts, s_digest_parts, sizeof s_digest_parts);
        parts[0] = part;
        s_raw_entry(raw, S_F_DIGESTS, 2, parts, 2);
        break;
    case S_AT_DELTA_OWNER:
    case S_AT_DELTA_KEY:
        memcpy(parts, s_delta_parts, sizeof s_delta_parts);
        parts[at - S_AT_DELTA_OWNER] = part;
        s_raw_entry(raw, S_F_DELTAS, 3, parts, 3);
        break;
    default:
        cr_assert_fail("bad position");
    }
    msgpack_sbuffer_destroy(&str);
}

/*  The string at `at` of a decoded message. */
static const char *
s_string_at(const fk_msg_t *msg, s_at_t at)
{
    size_t n;
    switch (at) {
    case S_AT_FROM:
        return fk_msg_from(msg);
    case S_AT_FROM_ADDR:
        return fk_msg_from_addr(msg);
    case S_AT_TARGET_NAME:
        return fk_msg_target_name(msg);
    case S_AT_TARGET_ADDR:
        return fk_msg_target_addr(msg);
    case S_AT_MEMBER_NAME:
        return fk_msg_members(msg, &n)[0].name;
    case S_AT_MEMBER_ADDR:
        return fk_msg_members(msg, &n)[0].addr;
    case S_AT_MEMBER_ACCUSER:
        return fk_msg_members(msg, &n)[0].accuser;
    case S_AT_DIGEST_OWNER:
        return fk_msg_digests(msg, &n)[0].owner;
    case S_AT_DELTA_OWNER:
        return fk_msg_deltas(msg, &n)[0].owner;
    case S_AT_DELTA_KEY:
        return fk_msg_deltas(msg, &n)[0].key;
    default:
        cr_assert_fail("bad position");
        return NULL;
    }
}

Test(fk_msg, enforces_string_lengths_everywhere)
{
    /*  EVIDENCE-OF: R-MSG-006 EVIDENCE-OF: R-MSG-013 1 and the maximum pass,
        0 and the maximum + 1 fail, in every position. */
    char *s = s_filled(FK_MSG_MAX_KEY + 1, 's');
    for (int at = 0; at < S_AT_COUNT; at++) {
        size_t max = s_at_max[at];
        s_raw_t raw;
        s_raw_init(&raw);

        s_raw_put_string(&raw, (s_at_t)at, s, max, 0);
        fk_msg_t *msg = s_raw_expect_ok(&raw);
        cr_assert_eq(strlen(s_string_at(msg, (s_at_t)at)), max, "position %d", at);
        fk_msg_destroy(&msg);
        s_raw_put_string(&raw, (s_at_t)at, s, 1, 0);
        msg = s_raw_expect_ok(&raw);
        cr_assert_str_eq(s_string_at(msg, (s_at_t)at), "s");
        fk_msg_destroy(&msg);

        s_raw_put_string(&raw, (s_at_t)at, s, max + 1, 0);
        s_raw_expect_fail(&raw, FK_EPROTO_MALFORMED);
        s_raw_put_string(&raw, (s_at_t)at, s, 0, 0);
        if (at == S_AT_MEMBER_ACCUSER) {
            /*  EVIDENCE-OF: R-MSG-009 the one string that may be empty:
                an empty accuser is none. */
            msg = s_raw_expect_ok(&raw);
            cr_assert_null(s_string_at(msg, (s_at_t)at));
            fk_msg_destroy(&msg);
        } else {
            s_raw_expect_fail(&raw, FK_EPROTO_MALFORMED);
        }
        s_raw_fini(&raw);
    }
    free(s);
}

Test(fk_msg, rejects_nul_in_any_string)
{
    /*  EVIDENCE-OF: R-MSG-013 at the start, in the middle, at the end. */
    static const char *const with_nul[] = {"\0ab", "a\0b", "ab\0"};
    for (int at = 0; at < S_AT_COUNT; at++) {
        for (size_t i = 0; i < 3; i++) {
            s_raw_t raw;
            s_raw_init(&raw);
            s_raw_put_string(&raw, (s_at_t)at, with_nul[i], 3, 0);
            s_raw_expect_fail(&raw, FK_EPROTO_MALFORMED);
            s_raw_fini(&raw);
        }
    }
}

Test(fk_msg, strings_must_be_str_not_bin)
{
    /*  EVIDENCE-OF: R-MSG-013 */
    for (int at = 0; at < S_AT_COUNT; at++) {
        s_raw_t raw;
        s_raw_init(&raw);
        s_raw_put_string(&raw, (s_at_t)at, "abc", 3, 1);
        s_raw_expect_fail(&raw, FK_EPROTO_MALFORMED);
        s_raw_fini(&raw);
    }
}

/*  ---------------------------------------------------------------------
    Fields and entries. */

/*  One element of each MessagePack kind, for the wrong-type tests. */
typedef enum {
    S_K_NIL,
    S_K_BOOL,
    S_K_FLOAT,
    S_K_NEG,
    S_K_UINT,
    S_K_STR,
    S_K_BIN,
    S_K_EMPTY_ARRAY,
    S_K_ARRAY,
    S_K_MAP,
    S_K_EXT,
    S_K_COUNT
} s_kind_t;

static const s_part_t s_kinds[S_K_COUNT] = {
    S_PART(0xc0),
    S_PART(0xc3),
    S_PART(0xca, 0x3f, 0x80, 0x00, 0x00),
    S_PART(0xff),
    S_PART(0x01),
    S_PART(0xa1, 'x'),
    S_PART(0xc4, 0x01, 'x'),
    S_PART(0x90),
    S_PART(0x91, 0x01),
    S_PART(0x80),
    S_PART(0xd4, 0x01, 0x01),
};

Test(fk_msg, rejects_wrong_types_in_every_field)
{
    /*  EVIDENCE-OF: R-MSG-001 each field from type to body replaced by each
        kind of element except the one it holds (an empty array is a valid
        target and a valid list; 1 is a valid type). */
    static const s_kind_t own[S_FIELDS] = {
        [S_F_TYPE] = S_K_UINT,
        [S_F_FROM] = S_K_STR,
        [S_F_FROM_ADDR] = S_K_STR,
        [S_F_INCARNATION] = S_K_UINT,
        [S_F_SEQ] = S_K_UINT,
        [S_F_FLAGS] = S_K_UINT,
        [S_F_TARGET] = S_K_EMPTY_ARRAY,
        [S_F_MEMBERS] = S_K_EMPTY_ARRAY,
        [S_F_DIGESTS] = S_K_EMPTY_ARRAY,
        [S_F_DELTAS] = S_K_EMPTY_ARRAY,
        [S_F_BODY] = S_K_BIN,
    };
    for (size_t f = S_F_TYPE; f < S_FIELDS; f++) {
        for (int k = 0; k < S_K_COUNT; k++) {
            if (k == (int)own[f]) {
                continue;
            }
            s_raw_t raw;
            s_raw_init(&raw);
            s_raw_put(&raw, f, s_kinds[k].bytes, s_kinds[k].len);
            s_raw_expect_fail(&raw, FK_EPROTO_MALFORMED);
            s_raw_fini(&raw);
        }
    }
}

Test(fk_msg, rejects_wrong_types_inside_every_entry)
{
    /*  EVIDENCE-OF: R-MSG-008 EVIDENCE-OF: R-MSG-009 EVIDENCE-OF: R-MSG-010
        EVIDENCE-OF: R-MSG-011 each element of a target, member, digest and
        delta replaced by each other kind. */
    static const struct {
        size_t field;          /* where the entry goes */
        const s_part_t *parts; /* its valid elements */
        size_t count;          /* how many */
        s_kind_t own[6];       /* the kind each element has */
    } entries[] = {
        {S_F_TARGET, s_target_parts, 2, {S_K_STR, S_K_STR}},
        {S_F_MEMBERS,
         s_member_parts,
         S_MEMBER_FIELDS,
         {S_K_STR, S_K_STR, S_K_UINT, S_K_UINT, S_K_STR, S_K_BIN}},
        {S_F_MEMBERS,
         s_member_accuser_parts,
         S_MEMBER_FIELDS,
         {S_K_STR, S_K_STR, S_K_UINT, S_K_UINT, S_K_STR, S_K_BIN}},
        {S_F_DIGESTS, s_digest_parts, 2, {S_K_STR, S_K_UINT}},
        {S_F_DELTAS, s_delta_parts, 3, {S_K_STR, S_K_STR, S_K_BIN}},
    };
    for (size_t e = 0; e < sizeof entries / sizeof entries[0]; e++) {
        s_raw_t raw;
        s_raw_init(&raw);
        /*  The valid entry passes. */
        s_raw_entry(&raw, entries[e].field, entries[e].count, entries[e].parts, entries[e].count);
        fk_msg_t *msg = s_raw_expect_ok(&raw);
        fk_msg_destroy(&msg);

        for (size_t i = 0; i < entries[e].count; i++) {
            for (int k = 0; k < S_K_COUNT; k++) {
                if (k == (int)entries[e].own[i]) {
                    continue;
                }
                s_part_t parts[S_MEMBER_FIELDS];
                memcpy(parts, entries[e].parts, entries[e].count * sizeof parts[0]);
                parts[i] = s_kinds[k];
                s_raw_entry(&raw, entries[e].field, entries[e].count, parts, entries[e].count);
                s_raw_expect_fail(&raw, FK_EPROTO_MALFORMED);
            }
        }
        s_raw_fini(&raw);
    }
}

Test(fk_msg, rejects_wrong_array_lengths)
{
    /*  EVIDENCE-OF: R-MSG-001 the message array with 12 and 14 fields. */
    s_raw_t raw;
    s_raw_init(&raw);
    raw.fields = raw.written = S_FIELDS - 1;
    s_raw_expect_fail(&raw, FK_EPROTO_MALFORMED);
    raw.fields = raw.written = S_FIELDS + 1;
    msgpack_pack_bin(s_raw_field(&raw, S_FIELDS), 0);
    s_raw_expect_fail(&raw, FK_EPROTO_MALFORMED);
    s_raw_fini(&raw);

    /*  EVIDENCE-OF: R-MSG-008 ... R-MSG-011 each entry one element short
        and one long. */
    const s_part_t extra = S_PART(0x01);
    static const struct {
        size_t field;
        const s_part_t *parts;
        size_t count;
    } entries[] = {
        {S_F_TARGET, s_target_parts, 2},
        {S_F_MEMBERS, s_member_parts, S_MEMBER_FIELDS},
        {S_F_DIGESTS, s_digest_parts, 2},
        {S_F_DELTAS, s_delta_parts, 3},
    };
    for (size_t e = 0; e < sizeof entries / sizeof entries[0]; e++) {
        s_part_t parts[S_MEMBER_FIELDS + 1];
        memcpy(parts, entries[e].parts, entries[e].count * sizeof parts[0]);
        parts[entries[e].count] = extra;
        s_raw_init(&raw);
        s_raw_entry(&raw, entries[e].field, entries[e].count - 1, parts, entries[e].count - 1);
        s_raw_expect_fail(&raw, FK_EPROTO_MALFORMED);
        s_raw_entry(&raw, entries[e].field, entries[e].count + 1, parts, entries[e].count + 1);
        s_raw_expect_fail(&raw, FK_EPROTO_MALFORMED);
        s_raw_fini(&raw);
    }

    /*  A target of one string; an entry written as a map. */
    s_raw_init(&raw);
    s_raw_entry(&raw, S_F_TARGET, 1, s_target_parts, 1);
    s_raw_expect_fail(&raw, FK_EPROTO_MALFORMED);
    s_raw_put(&raw, S_F_DIGESTS, "\x91\x81\xa1o\x11", 5);
    s_raw_expect_fail(&raw, FK_EPROTO_MALFORMED);
    s_raw_fini(&raw);
}

Test(fk_msg, member_entries_have_exactly_six_elements)
{
    /*  EVIDENCE-OF: R-MSG-009 six elements; every other length, the four
        and five of version 1 included, is malformed. */
    s_part_t parts[8];
    memcpy(parts, s_member_accuser_parts, sizeof s_member_accuser_parts);
    parts[6] = (s_part_t)S_PART(0xa1, 'x');
    parts[7] = (s_part_t)S_PART(0xa1, 'y');
    for (size_t count = 0; count <= 8; count++) {
        s_raw_t raw;
        s_raw_init(&raw);
        s_raw_entry(&raw, S_F_MEMBERS, count, parts, count);
        if (count == S_MEMBER_FIELDS) {
            fk_msg_t *msg = s_raw_expect_ok(&raw);
            size_t n;
            const fk_msg_member_t *members = fk_msg_members(msg, &n);
            cr_assert_eq(n, 1);
            cr_assert_eq(members[0].status, FK_MSG_STATUS_SUSPECT);
            cr_assert_str_eq(members[0].accuser, "a");
            cr_assert_not(members[0].has_claim);
            fk_msg_t *copy = s_round_trip(msg);
            fk_msg_destroy(&copy);
            fk_msg_destroy(&msg);
        } else {
            s_raw_expect_fail(&raw, FK_EPROTO_MALFORMED);
        }
        s_raw_fini(&raw);
    }
}

Test(fk_msg, an_accuser_is_carried_with_any_status)
{
    /*  EVIDENCE-OF: R-MSG-009 the codec does not tie the accuser to the
        suspect status: it decodes, and survives a re-encoding, on every
        status; the cluster layer ignores it where it means nothing. */
    for (uint8_t status = 0; status <= FK_MSG_STATUS_LEFT; status++) {
        s_part_t parts[S_MEMBER_FIELDS];
        memcpy(parts, s_member_accuser_parts, sizeof s_member_accuser_parts);
        const unsigned char status_byte[] = {status};
        parts[2] = (s_part_t){status_byte, 1};
        s_raw_t raw;
        s_raw_init(&raw);
        s_raw_entry(&raw, S_F_MEMBERS, S_MEMBER_FIELDS, parts, S_MEMBER_FIELDS);
        fk_msg_t *msg = s_raw_expect_ok(&raw);
        size_t n;
        cr_assert_eq(fk_msg_members(msg, &n)[0].status, status);
        cr_assert_str_eq(fk_msg_members(msg, &n)[0].accuser, "a");
        fk_msg_t *copy = s_round_trip(msg);
        fk_msg_destroy(&copy);
        fk_msg_destroy(&msg);
        s_raw_fini(&raw);
    }
}

Test(fk_msg, no_accuser_travels_as_an_empty_str_and_decodes_to_null)
{
    /*  EVIDENCE-OF: R-MSG-009 NULL encodes as %xa0, and %xa0 (or an empty
        str 8/16/32) decodes to NULL. */
    fk_msg_t *msg = fk_msg_new(FK_MSG_PING, "a", "h:1", 1);
    fk_msg_member_t member = {.name = "b", .addr = "h:2", .status = 1, .incarnation = 3};
    cr_assert_eq(fk_msg_add_member(msg, &member), 0);
    size_t len;
    char *buf = s_encode(msg, &len);
    static const unsigned char entry[] = {0x96, 0xa1, 'b',  0xa3, 'h',  ':',
                                          '2',  0x01, 0x03, 0xa0, 0xc4, 0x00};
    cr_assert_eq(memcmp(buf + 17, entry, sizeof entry), 0);
    free(buf);
    fk_msg_t *copy = s_round_trip(msg);
    size_t n;
    cr_assert_null(fk_msg_members(copy, &n)[0].accuser);
    fk_msg_destroy(&copy);
    fk_msg_destroy(&msg);

    const s_part_t empties[] = {S_PART(0xa0), S_PART(0xd9, 0x00), S_PART(0xda, 0x00, 0x00),
                                S_PART(0xdb, 0x00, 0x00, 0x00, 0x00)};
    for (size_t i = 0; i < sizeof empties / sizeof empties[0]; i++) {
        s_part_t parts[S_MEMBER_FIELDS];
        memcpy(parts, s_member_accuser_parts, sizeof parts);
        parts[4] = empties[i];
        s_raw_t raw;
        s_raw_init(&raw);
        s_raw_entry(&raw, S_F_MEMBERS, S_MEMBER_FIELDS, parts, S_MEMBER_FIELDS);
        msg = s_raw_expect_ok(&raw);
        cr_assert_null(fk_msg_members(msg, &n)[0].accuser);
        fk_msg_destroy(&msg);
        s_raw_fini(&raw);
    }
}

/*  Put a member entry whose claim element is the given bytes. */
static void
s_raw_member_with_claim(s_raw_t *raw, const void *claim, size_t len)
{
    s_raw_entry(raw, S_F_MEMBERS, S_MEMBER_FIELDS, s_member_parts, S_MEMBER_FIELDS - 1);
    s_raw_append(raw, S_F_MEMBERS, claim, len);
}

Test(fk_msg, a_claim_is_an_empty_bin_or_exactly_one_signature)
{
    /*  EVIDENCE-OF: R-MSG-022 a bin of 0 or 64 octets, in any bin form;
        any other length, a str or any other kind is malformed. */
    unsigned char claim[5 + FK_SIGN_LEN + 1];
    for (size_t i = 0; i < sizeof claim; i++) {
        claim[i] = (unsigned char)(0x40 + i);
    }
    static const size_t ok_lens[] = {0, FK_SIGN_LEN};
    static const size_t bad_lens[] = {1, 32, FK_SIGN_LEN - 1, FK_SIGN_LEN + 1};
    s_raw_t raw;
    s_raw_init(&raw);
    for (int form = 0; form < 3; form++) {
        static const unsigned char heads[] = {0xc4, 0xc5, 0xc6};
        static const size_t head_lens[] = {2, 3, 5};
        for (size_t k = 0; k < 2 + 4; k++) {
            size_t len = k < 2 ? ok_lens[k] : bad_lens[k - 2];
            unsigned char bytes[5 + FK_SIGN_LEN + 1] = {heads[form]};
            for (size_t b = 1; b < head_lens[form]; b++) {
                bytes[b] = (unsigned char)(len >> (8 * (head_lens[form] - 1 - b)));
            }
            memcpy(bytes + head_lens[form], claim, len);
            s_raw_member_with_claim(&raw, bytes, head_lens[form] + len);
            if (k >= 2) {
                s_raw_expect_fail(&raw, FK_EPROTO_MALFORMED);
                continue;
            }
            fk_msg_t *msg = s_raw_expect_ok(&raw);
            size_t n;
            const fk_msg_member_t *member = &fk_msg_members(msg, &n)[0];
            cr_assert_eq(member->has_claim, len == FK_SIGN_LEN);
            if (len == FK_SIGN_LEN) {
                cr_assert_eq(memcmp(member->claim, claim, FK_SIGN_LEN), 0);
            } else {
                static const uint8_t zero[FK_SIGN_LEN];
                cr_assert_eq(memcmp(member->claim, zero, FK_SIGN_LEN), 0);
            }
            fk_msg_t *copy = s_round_trip(msg);
            fk_msg_destroy(&copy);
            fk_msg_destroy(&msg);
        }
    }
    /*  A str of 64 octets is not a claim. */
    unsigned char str[2 + FK_SIGN_LEN] = {0xd9, FK_SIGN_LEN};
    memcpy(str + 2, claim, FK_SIGN_LEN);
    s_raw_member_with_claim(&raw, str, sizeof str);
    s_raw_expect_fail(&raw, FK_EPROTO_MALFORMED);
    s_raw_fini(&raw);
}

Test(fk_msg, the_builder_copies_a_claim_only_when_there_is_one)
{
    /*  EVIDENCE-OF: R-MSG-022 has_claim false travels as an empty bin, and
        the caller's leftover bytes in claim[] are not kept. */
    fk_msg_t *msg = fk_msg_new(FK_MSG_JOIN, "a", "h:1", 1);
    fk_msg_member_t member = {.name = "b", .addr = "h:2"};
    memset(member.claim, 0xee, sizeof member.claim);
    cr_assert_eq(fk_msg_add_member(msg, &member), 0);
    member.has_claim = true;
    cr_assert_eq(fk_msg_add_member(msg, &member), 0);
    size_t n;
    const fk_msg_member_t *members = fk_msg_members(msg, &n);
    static const uint8_t zero[FK_SIGN_LEN];
    cr_assert_not(members[0].has_claim);
    cr_assert_eq(memcmp(members[0].claim, zero, FK_SIGN_LEN), 0);
    cr_assert(members[1].has_claim);
    cr_assert_eq(members[1].claim[0], 0xee);
    /*  66 more octets for the claim than for none (%xc4 %x40 and 64). */
    size_t before = fk_msg_encoded_size(msg);
    cr_assert_eq(fk_msg_add_member(msg, &member), 0);
    size_t with = fk_msg_encoded_size(msg) - before;
    member.has_claim = false;
    before = fk_msg_encoded_size(msg);
    cr_assert_eq(fk_msg_add_member(msg, &member), 0);
    cr_assert_eq(with - (fk_msg_encoded_size(msg) - before), FK_SIGN_LEN);
    fk_msg_t *copy = s_round_trip(msg);
    fk_msg_destroy(&copy);
    fk_msg_destroy(&msg);
}

/*  A signer from a fixed seed (caller destroys). */
static fk_sign_key_t *
s_signer(uint8_t seed_byte)
{
    uint8_t seed[FK_SIGN_SECRET_LEN];
    memset(seed, seed_byte, sizeof seed);
    fk_sign_key_t *key = NULL;
    cr_assert_eq(fk_sign_key_new(&key, seed), 0);
    return key;
}

Test(fk_msg, a_claim_verifies_for_exactly_what_was_signed)
{
    /*  EVIDENCE-OF: R-MSG-022 */
    fk_sign_key_t *key = s_signer(0x11);
    fk_sign_key_t *other = s_signer(0x22);
    const uint8_t *pub = fk_sign_key_public(key);
    uint8_t alive[FK_SIGN_LEN];
    uint8_t leaving[FK_SIGN_LEN];
    cr_assert_eq(fk_msg_claim_sign("node-b", "10.0.0.2:7946", 7, false, key, alive), 0);
    cr_assert_eq(fk_msg_claim_sign("node-b", "10.0.0.2:7946", 7, true, key, leaving), 0);
    cr_assert(fk_msg_claim_verify("node-b", "10.0.0.2:7946", 7, false, pub, alive));
    cr_assert(fk_msg_claim_verify("node-b", "10.0.0.2:7946", 7, true, pub, leaving));

    /*  Any other name, address, incarnation, intent or key: false. */
    cr_assert_not(fk_msg_claim_verify("node-c", "10.0.0.2:7946", 7, false, pub, alive));
    cr_assert_not(fk_msg_claim_verify("node-b", "10.0.0.9:7946", 7, false, pub, alive));
    cr_assert_not(fk_msg_claim_verify("node-b", "10.0.0.2:7946", 8, false, pub, alive));
    cr_assert_not(
        fk_msg_claim_verify("node-b", "10.0.0.2:7946", 7 + ((uint64_t)1 << 56), false, pub, alive));
    cr_assert_not(fk_msg_claim_verify("node-b", "10.0.0.2:7946", 7, true, pub, alive));
    cr_assert_not(fk_msg_claim_verify("node-b", "10.0.0.2:7946", 7, false, pub, leaving));
    cr_assert_not(
        fk_msg_claim_verify("node-b", "10.0.0.2:7946", 7, false, fk_sign_key_public(other), alive));
    /*  The NULs keep name and address apart. */
    uint8_t split[FK_SIGN_LEN];
    cr_assert_eq(fk_msg_claim_sign("ab", "c", 1, false, key, split), 0);
    cr_assert_not(fk_msg_claim_verify("a", "bc", 1, false, pub, split));
    /*  Any flipped bit of the signature: false. */
    for (size_t i = 0; i < FK_SIGN_LEN; i++) {
        uint8_t bad[FK_SIGN_LEN];
        memcpy(bad, alive, sizeof bad);
        bad[i] ^= 0x01;
        cr_assert_not(fk_msg_claim_verify("node-b", "10.0.0.2:7946", 7, false, pub, bad));
    }
    /*  Missing arguments are a failed verification, not a crash. */
    cr_assert_not(fk_msg_claim_verify(NULL, "10.0.0.2:7946", 7, false, pub, alive));
    cr_assert_not(fk_msg_claim_verify("node-b", NULL, 7, false, pub, alive));
    cr_assert_not(fk_msg_claim_verify("node-b", "10.0.0.2:7946", 7, false, NULL, alive));
    cr_assert_not(fk_msg_claim_verify("node-b", "10.0.0.2:7946", 7, false, pub, NULL));
    fk_sign_key_destroy(&other);
    fk_sign_key_destroy(&key);
}

Test(fk_msg, a_claim_signs_the_bytes_protocol_md_names)
{
    /*  EVIDENCE-OF: R-MSG-022 "fakts-node member claim v1" NUL, name NUL,
        addr NUL, incarnation as 8 octets big-endian, leaving as 1 octet,
        written out here by hand and checked with fk_sign_verify. */
    fk_sign_key_t *key = s_signer(0x33);
    for (int leaving = 0; leaving <= 1; leaving++) {
        uint8_t sig[FK_SIGN_LEN];
        cr_assert_eq(fk_msg_claim_sign("n", "h:1", 0x0102030405060708ull, leaving == 1, key, sig),
                     0);
        static const char context[] = "fakts-node member claim v1";
        unsigned char bytes[sizeof context + 2 + 4 + 8 + 1];
        memcpy(bytes, context, sizeof context);
        memcpy(bytes + sizeof context, "n\0h:1\0", 6);
        for (int i = 0; i < 8; i++) {
            bytes[sizeof context + 6 + i] = (unsigned char)(i + 1);
        }
        bytes[sizeof bytes - 1] = (unsigned char)leaving;
        cr_assert(fk_sign_verify(fk_sign_key_public(key), bytes, sizeof bytes, sig));
    }
    fk_sign_key_destroy(&key);
}

Test(fk_msg, a_real_claim_survives_the_wire)
{
    /*  EVIDENCE-OF: R-MSG-022 signed by the member, relayed in a message
        by another node, decoded, and verified by a third. */
    fk_sign_key_t *key = s_signer(0x44);
    fk_msg_member_t member = {
        .name = "node-b", .addr = "10.0.0.2:7946", .status = FK_MSG_STATUS_LEFT, .incarnation = 12};
    member.has_claim = true;
    cr_assert_eq(
        fk_msg_claim_sign(member.name, member.addr, member.incarnation, true, key, member.claim),
        0);
    fk_msg_t *msg = fk_msg_new(FK_MSG_PING, "node-a", "10.0.0.1:7946", 3);
    cr_assert_eq(fk_msg_add_member(msg, &member), 0);
    fk_msg_t *copy = s_round_trip(msg);
    size_t n;
    const fk_msg_member_t *got = &fk_msg_members(copy, &n)[0];
    cr_assert(got->has_claim);
    cr_assert(fk_msg_claim_verify(got->name, got->addr, got->incarnation,
                                  got->status == FK_MSG_STATUS_LEFT, fk_sign_key_public(key),
                                  got->claim));
    fk_msg_destroy(&copy);
    fk_msg_destroy(&msg);
    fk_sign_key_destroy(&key);
}

Test(fk_msg, rejects_statuses_above_left)
{
    /*  EVIDENCE-OF: R-MSG-009 */
    s_part_t parts[S_MEMBER_FIELDS];
    memcpy(parts, s_member_parts, sizeof parts);
    s_raw_t raw;
    s_raw_init(&raw);
    for (unsigned char status = 0; status <= 3; status++) {
        const unsigned char byte[] = {status};
        parts[2] = (s_part_t){byte, 1};
        s_raw_entry(&raw, S_F_MEMBERS, S_MEMBER_FIELDS, parts, S_MEMBER_FIELDS);
        fk_msg_t *msg = s_raw_expect_ok(&raw);
        size_t n;
        cr_assert_eq(fk_msg_members(msg, &n)[0].status, status);
        fk_msg_destroy(&msg);
    }
    const s_part_t bad[] = {S_PART(0x04), S_PART(0x7f), S_PART(0xcc, 0xff),
                            S_PART(0xcd, 0x01, 0x00), S_PART(0xff)};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        parts[2] = bad[i];
        s_raw_entry(&raw, S_F_MEMBERS, S_MEMBER_FIELDS, parts, S_MEMBER_FIELDS);
        s_raw_expect_fail(&raw, FK_EPROTO_MALFORMED);
    }
    s_raw_fini(&raw);
}

Test(fk_msg, flags_are_32_bits)
{
    /*  EVIDENCE-OF: R-MSG-007 */
    s_raw_t raw;
    s_raw_init(&raw);
    msgpack_pack_uint64(s_raw_field(&raw, S_F_FLAGS), UINT32_MAX);
    fk_msg_t *msg = s_raw_expect_ok(&raw);
    cr_assert_eq(fk_msg_flags(msg), UINT32_MAX);
    fk_msg_destroy(&msg);
    msgpack_pack_uint64(s_raw_field(&raw, S_F_FLAGS), (uint64_t)UINT32_MAX + 1);
    s_raw_expect_fail(&raw, FK_EPROTO_MALFORMED);
    s_raw_fini(&raw);
}

/*  Write a list of count entries into field: members, digests or deltas,
    each entry distinct and as small as it gets. */
static void
s_raw_list(s_raw_t *raw, size_t field, size_t count)
{
    msgpack_packer *pk = s_raw_field(raw, field);
    msgpack_pack_array(pk, count);
    for (size_t i = 0; i < count; i++) {
        char name[32];
        snprintf(name, sizeof name, "n%zu", i);
        if (field == S_F_MEMBERS) {
            /*  With an accuser and a claim, as large as an entry gets. */
            static const unsigned char claim[FK_SIGN_LEN] = {0x5a};
            msgpack_pack_array(pk, 6);
            s_pk_str(pk, name);
            s_pk_str(pk, "h:1");
            msgpack_pack_uint64(pk, i % 4);
            msgpack_pack_uint64(pk, i);
            s_pk_str(pk, "acc");
            msgpack_pack_bin_with_body(pk, claim, sizeof claim);
        } else if (field == S_F_DIGESTS) {
            msgpack_pack_array(pk, 2);
            s_pk_str(pk, name);
            msgpack_pack_uint64(pk, i);
        } else {
            msgpack_pack_array(pk, 3);
            s_pk_str(pk, "o");
            s_pk_str(pk, name);
            msgpack_pack_bin_with_body(pk, "r", 1);
        }
    }
}

Test(fk_msg, accepts_every_list_at_its_limit_at_once)
{
    /*  EVIDENCE-OF: R-MSG-009 ... R-MSG-011 and the element budget of
        R-MSG-017 is large enough for the largest valid message. */
    s_raw_t raw;
    s_raw_init(&raw);
    s_raw_entry(&raw, S_F_TARGET, 2, s_target_parts, 2);
    s_raw_list(&raw, S_F_MEMBERS, FK_MSG_MAX_MEMBERS);
    s_raw_list(&raw, S_F_DIGESTS, FK_MSG_MAX_DIGESTS);
    s_raw_list(&raw, S_F_DELTAS, FK_MSG_MAX_DELTAS);
    fk_msg_t *msg = s_raw_expect_ok(&raw);
    size_t n;
    const fk_msg_member_t *members = fk_msg_members(msg, &n);
    cr_assert_eq(n, FK_MSG_MAX_MEMBERS);
    cr_assert_str_eq(members[1023].name, "n1023");
    cr_assert_str_eq(members[1023].accuser, "acc");
    cr_assert(members[1023].has_claim);
    cr_assert_eq(members[1023].claim[0], 0x5a);
    const fk_msg_digest_t *digests = fk_msg_digests(msg, &n);
    cr_assert_eq(n, FK_MSG_MAX_DIGESTS);
    cr_assert_eq(digests[4095].version, 4095);
    const fk_msg_delta_t *deltas = fk_msg_deltas(msg, &n);
    cr_assert_eq(n, FK_MSG_MAX_DELTAS);
    cr_assert_str_eq(deltas[4095].key, "n4095");
    fk_msg_t *copy = s_round_trip(msg);
    fk_msg_destroy(&copy);
    fk_msg_destroy(&msg);
    s_raw_fini(&raw);
}

Test(fk_msg, the_element_budget_admits_the_largest_message_and_not_one_more)
{
    /*  EVIDENCE-OF: R-MSG-017 13 + 2 + 1024 x (1 + 6) + 4096 x 3 + 4096 x 4
        = 35855 elements: the largest valid message declares exactly that
        many (the test above decodes it), and the same message with one
        more element in its last member entry is refused. */
    cr_assert_eq(S_FIELDS + 2 + FK_MSG_MAX_MEMBERS * (1 + S_MEMBER_FIELDS) + FK_MSG_MAX_DIGESTS * 3
                     + FK_MSG_MAX_DELTAS * 4,
                 35855);
    s_raw_t raw;
    s_raw_init(&raw);
    s_raw_entry(&raw, S_F_TARGET, 2, s_target_parts, 2);
    s_raw_list(&raw, S_F_DIGESTS, FK_MSG_MAX_DIGESTS);
    s_raw_list(&raw, S_F_DELTAS, FK_MSG_MAX_DELTAS);
    msgpack_packer *pk = s_raw_field(&raw, S_F_MEMBERS);
    msgpack_pack_array(pk, FK_MSG_MAX_MEMBERS);
    for (size_t i = 0; i < FK_MSG_MAX_MEMBERS; i++) {
        int last = i + 1 == FK_MSG_MAX_MEMBERS;
        msgpack_pack_array(pk, S_MEMBER_FIELDS + (last ? 1 : 0));
        char name[32];
        snprintf(name, sizeof name, "n%zu", i);
        s_pk_str(pk, name);
        s_pk_str(pk, "h:1");
        msgpack_pack_uint64(pk, 0);
        msgpack_pack_uint64(pk, i);
        s_pk_str(pk, "");
        msgpack_pack_bin(pk, 0);
        if (last) {
            msgpack_pack_nil(pk);
        }
    }
    s_raw_expect_fail(&raw, FK_EPROTO_MALFORMED);
    s_raw_fini(&raw);
}

Test(fk_msg, rejects_a_list_one_entry_over_its_limit)
{
    /*  EVIDENCE-OF: R-MSG-009 EVIDENCE-OF: R-MSG-010 EVIDENCE-OF: R-MSG-011 */
    static const struct {
        size_t field;
        size_t max;
    } lists[] = {
        {S_F_MEMBERS, FK_MSG_MAX_MEMBERS},
        {S_F_DIGESTS, FK_MSG_MAX_DIGESTS},
        {S_F_DELTAS, FK_MSG_MAX_DELTAS},
    };
    for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++) {
        s_raw_t raw;
        s_raw_init(&raw);
        s_raw_list(&raw, lists[i].field, lists[i].max + 1);
        s_raw_expect_fail(&raw, FK_EPROTO_MALFORMED);
        s_raw_list(&raw, lists[i].field, lists[i].max);
        fk_msg_t *msg = s_raw_expect_ok(&raw);
        fk_msg_destroy(&msg);
        s_raw_fini(&raw);
    }
}

Test(fk_msg, enforces_record_and_body_sizes)
{
    /*  EVIDENCE-OF: R-MSG-011 a record of 1 .. FK_MSG_MAX_RECORD bytes;
        EVIDENCE-OF: R-MSG-012 a body of 0 .. FK_MSG_MAX_BODY bytes. */
    char *bytes = s_filled(FK_MSG_MAX_RECORD + 1, 'r');
    s_raw_t raw;
    s_raw_init(&raw);
    static const size_t ok_records[] = {1, FK_MSG_MAX_RECORD};
    for (size_t i = 0; i < 2; i++) {
        msgpack_packer *pk = s_raw_field(&raw, S_F_DELTAS);
        msgpack_pack_array(pk, 1);
        msgpack_pack_array(pk, 3);
        s_pk_str(pk, "o");
        s_pk_str(pk, "k");
        msgpack_pack_bin_with_body(pk, bytes, ok_records[i]);
        fk_msg_t *msg = s_raw_expect_ok(&raw);
        size_t n;
        cr_assert_eq(fk_msg_deltas(msg, &n)[0].record_len, ok_records[i]);
        fk_msg_destroy(&msg);
    }
    static const size_t bad_records[] = {0, FK_MSG_MAX_RECORD + 1};
    for (size_t i = 0; i < 2; i++) {
        msgpack_packer *pk = s_raw_field(&raw, S_F_DELTAS);
        msgpack_pack_array(pk, 1);
        msgpack_pack_array(pk, 3);
        s_pk_str(pk, "o");
        s_pk_str(pk, "k");
        msgpack_pack_bin_with_body(pk, bytes, bad_records[i]);
        s_raw_expect_fail(&raw, FK_EPROTO_MALFORMED);
    }
    s_raw_fini(&raw);

    s_raw_init(&raw);
    msgpack_pack_bin_with_body(s_raw_field(&raw, S_F_BODY), bytes, FK_MSG_MAX_BODY);
    fk_msg_t *msg = s_raw_expect_ok(&raw);
    size_t len;
    cr_assert_not_null(fk_msg_body(msg, &len));
    cr_assert_eq(len, FK_MSG_MAX_BODY);
    fk_msg_destroy(&msg);
    msgpack_pack_bin_with_body(s_raw_field(&raw, S_F_BODY), bytes, FK_MSG_MAX_BODY + 1);
    s_raw_expect_fail(&raw, FK_EPROTO_MALFORMED);
    s_pk_str(s_raw_field(&raw, S_F_BODY), "");
    s_raw_expect_fail(&raw, FK_EPROTO_MALFORMED);
    s_raw_fini(&raw);
    free(bytes);
}

Test(fk_msg, the_largest_signed_record_fits_a_delta, .timeout = 30)
{
    /*  EVIDENCE-OF: R-MSG-011 a signed record with the largest payload,
        canonical, and in the longest form a record decoder accepts
        (array 32, uint 64 fields, bin 32 signature and payload: the
        payload plus 106 octets), are both within FK_MSG_MAX_RECORD. */
    cr_assert_geq(FK_MSG_MAX_RECORD, FK_RECORD_MAX_PAYLOAD + 5 + 3 * 9 + 5 + FK_SIGN_LEN + 5);
    char *payload = s_filled(FK_RECORD_MAX_PAYLOAD, 'p');
    fk_record_t rec = {.version = UINT64_MAX,
                       .flags = 0,
                       .stamp_ms = INT64_MAX,
                       .payload = payload,
                       .payload_len = FK_RECORD_MAX_PAYLOAD};
    fk_sign_key_t *key = s_signer(0x77);
    cr_assert_eq(fk_record_sign(&rec, "node-a", "svc/big", key), 0);
    char *bytes;
    size_t len;
    cr_assert_eq(fk_record_encode(&rec, &bytes, &len), 0);
    cr_assert_leq(len, FK_MSG_MAX_RECORD);
    fk_msg_t *msg = fk_msg_new(FK_MSG_DELTA, "node-a", "h:1", 1);
    cr_assert_eq(fk_msg_add_delta(msg, "node-a", "svc/big", bytes, len), 0);
    fk_msg_t *copy = s_round_trip(msg);
    size_t n;
    const fk_msg_delta_t *delta = &fk_msg_deltas(copy, &n)[0];
    fk_record_t out;
    cr_assert_eq(fk_record_decode(delta->record, delta->record_len, &out), 0);
    cr_assert(fk_record_verify(&out, "node-a", "svc/big", fk_sign_key_public(key)));
    fk_msg_destroy(&copy);
    fk_msg_destroy(&msg);
    free(bytes);
    fk_sign_key_destroy(&key);
    free(payload);
}

Test(fk_msg, records_travel_opaque)
{
    /*  EVIDENCE-OF: R-MSG-011 the codec does not decode records: bytes that
        are no record at all pass through unchanged. */
    static const unsigned char junk[] = {0xc1, 0x00, 0xff, 0xdd, 0xdd, 0xdd, 0xdd, 0xdd};
    fk_msg_t *msg = fk_msg_new(FK_MSG_DELTA, "a", "h:1", 1);
    cr_assert_eq(fk_msg_add_delta(msg, "a", "k", junk, sizeof junk), 0);
    fk_msg_t *copy = s_round_trip(msg);
    size_t n;
    const fk_msg_delta_t *deltas = fk_msg_deltas(copy, &n);
    cr_assert_eq(deltas[0].record_len, sizeof junk);
    cr_assert_eq(memcmp(deltas[0].record, junk, sizeof junk), 0);
    fk_msg_destroy(&copy);
    fk_msg_destroy(&msg);
}

/*  ---------------------------------------------------------------------
    The builder. */

Test(fk_msg, add_delta_fills_up_to_the_chunk_target)
{
    /*  EVIDENCE-OF: R-MSG-021 */
    char *record = s_filled(1000, 'r');
    fk_msg_t *msg = fk_msg_new(FK_MSG_DELTA, "node-a", "10.0.0.1:7946", 1);
    size_t added = 0;
    int rc;
    for (;;) {
        char key[32];
        snprintf(key, sizeof key, "svc/%zu", added);
        size_t before = fk_msg_encoded_size(msg);
        /*  fixarray, fixstr owner, fixstr key, bin16 header, record. */
        size_t entry = 1 + 7 + 1 + strlen(key) + 3 + 1000;
        rc = fk_msg_add_delta(msg, "node-a", key, record, 1000);
        if (rc != 0) {
            /*  Refused only because it would pass the target, and the
                message is unchanged. */
            cr_assert_eq(rc, FK_ETOOBIG);
            cr_assert_eq(fk_msg_encoded_size(msg), before);
            cr_assert_gt(before + entry, FK_MSG_CHUNK_TARGET);
            break;
        }
        cr_assert_leq(fk_msg_encoded_size(msg), FK_MSG_CHUNK_TARGET);
        added++;
    }
    /*  256 KiB / ~1 KiB per delta. */
    cr_assert_geq(added, 250);
    cr_assert_leq(added, 262);
    size_t n;
    fk_msg_deltas(msg, &n);
    cr_assert_eq(n, added);

    /*  A smaller record may still fit in the room left. */
    size_t room = FK_MSG_CHUNK_TARGET - fk_msg_encoded_size(msg);
    if (room > 20) {
        cr_assert_eq(fk_msg_add_delta(msg, "node-a", "last", record, room - 16), 0);
    }
    cr_assert_leq(fk_msg_encoded_size(msg), FK_MSG_CHUNK_TARGET);
    fk_msg_t *copy = s_round_trip(msg);
    fk_msg_destroy(&copy);
    fk_msg_destroy(&msg);
    free(record);
}

Test(fk_msg, add_delta_reaches_the_chunk_target_exactly)
{
    /*  EVIDENCE-OF: R-MSG-021 "would pass" means "would exceed": a message
        of exactly FK_MSG_CHUNK_TARGET bytes is allowed, one more is not. */
    char *record = s_filled(FK_MSG_CHUNK_TARGET, 'r');
    for (size_t over = 0; over <= 1; over++) {
        fk_msg_t *msg = fk_msg_new(FK_MSG_DELTA, "a", "h:1", 1);
        cr_assert_eq(fk_msg_add_delta(msg, "a", "k0", record, 10), 0);
        /*  The entry: fixarray, fixstr "a", fixstr "k1", bin32 header. */
        size_t entry_overhead = 1 + 2 + 3 + 5;
        size_t len = FK_MSG_CHUNK_TARGET - fk_msg_encoded_size(msg) - entry_overhead + over;
        int rc = fk_msg_add_delta(msg, "a", "k1", record, len);
        if (over == 0) {
            cr_assert_eq(rc, 0);
            cr_assert_eq(fk_msg_encoded_size(msg), FK_MSG_CHUNK_TARGET);
        } else {
            cr_assert_eq(rc, FK_ETOOBIG);
        }
        fk_msg_destroy(&msg);
    }
    free(record);
}

Test(fk_msg, a_large_record_travels_alone)
{
    /*  EVIDENCE-OF: R-MSG-021 the first delta only has to fit the hard
        limit, and then nothing more is added. */
    char *record = s_filled(FK_MSG_MAX_RECORD, 'r');
    fk_msg_t *msg = fk_msg_new(FK_MSG_DELTA, "a", "h:1", 1);
    cr_assert_eq(fk_msg_add_delta(msg, "a", "big", record, FK_MSG_MAX_RECORD), 0);
    cr_assert_gt(fk_msg_encoded_size(msg), FK_MSG_CHUNK_TARGET);
    cr_assert_eq(fk_msg_add_delta(msg, "a", "small", "x", 1), FK_ETOOBIG);
    size_t n;
    fk_msg_deltas(msg, &n);
    cr_assert_eq(n, 1);
    /*  Members, digests and a body are not chunked: only deltas are. */
    cr_assert_eq(fk_msg_add_digest(msg, "a", 1), 0);
    fk_msg_t *copy = s_round_trip(msg);
    fk_msg_destroy(&copy);
    fk_msg_destroy(&msg);

    /*  A record over its own limit is too big even alone. */
    msg = fk_msg_new(FK_MSG_DELTA, "a", "h:1", 1);
    free(record);
    record = s_filled(FK_MSG_MAX_RECORD + 1, 'r');
    cr_assert_eq(fk_msg_add_delta(msg, "a", "big", record, FK_MSG_MAX_RECORD + 1), FK_ETOOBIG);
    fk_msg_deltas(msg, &n);
    cr_assert_eq(n, 0);
    fk_msg_destroy(&msg);
    free(record);
}

Test(fk_msg, the_chunk_target_counts_the_whole_message)
{
    /*  EVIDENCE-OF: R-MSG-021 a body already past the target leaves room
        for the first delta only. */
    char *body = s_filled(FK_MSG_MAX_BODY, 'b');
    fk_msg_t *msg = fk_msg_new(FK_MSG_REQUEST, "a", "h:1", 1);
    cr_assert_eq(fk_msg_set_body(msg, body, FK_MSG_MAX_BODY), 0);
    cr_assert_eq(fk_msg_add_delta(msg, "a", "k0", "r", 1), 0);
    cr_assert_eq(fk_msg_add_delta(msg, "a", "k1", "r", 1), FK_ETOOBIG);
    fk_msg_destroy(&msg);
    free(body);
}

Test(fk_msg, builder_refuses_invalid_fields_and_changes_nothing)
{
    /*  EVIDENCE-OF: R-MSG-020 */
    char *long_name = s_filled(FK_MSG_MAX_NAME + 1, 'n');
    char *long_addr = s_filled(FK_MSG_MAX_ADDR + 1, 'h');
    char *long_key = s_filled(FK_MSG_MAX_KEY + 1, 'k');
    fk_msg_t *msg = fk_msg_new(FK_MSG_JOIN, "a", "h:1", 1);
    size_t size = fk_msg_encoded_size(msg);

    const fk_msg_member_t bad_members[] = {
        {.name = NULL, .addr = "h:1", .status = 0},
        {.name = "", .addr = "h:1", .status = 0},
        {.name = long_name, .addr = "h:1", .status = 0},
        {.name = "b", .addr = NULL, .status = 0},
        {.name = "b", .addr = "", .status = 0},
        {.name = "b", .addr = long_addr, .status = 0},
        {.name = "b", .addr = "h:1", .status = FK_MSG_STATUS_LEFT + 1},
        {.name = "b", .addr = "h:1", .status = 255},
        {.name = "b", .addr = "h:1", .status = 1, .accuser = ""},
        {.name = "b", .addr = "h:1", .status = 1, .accuser = long_name},
    };
    for (size_t i = 0; i < sizeof bad_members / sizeof bad_members[0]; i++) {
        cr_assert_eq(fk_msg_add_member(msg, &bad_members[i]), FK_EINVAL_INPUT, "member %zu", i);
    }
    cr_assert_eq(fk_msg_add_digest(msg, NULL, 1), FK_EINVAL_INPUT);
    cr_assert_eq(fk_msg_add_digest(msg, "", 1), FK_EINVAL_INPUT);
    cr_assert_eq(fk_msg_add_digest(msg, long_name, 1), FK_EINVAL_INPUT);
    cr_assert_eq(fk_msg_add_delta(msg, NULL, "k", "r", 1), FK_EINVAL_INPUT);
    cr_assert_eq(fk_msg_add_delta(msg, "", "k", "r", 1), FK_EINVAL_INPUT);
    cr_assert_eq(fk_msg_add_delta(msg, long_name, "k", "r", 1), FK_EINVAL_INPUT);
    cr_assert_eq(fk_msg_add_delta(msg, "o", NULL, "r", 1), FK_EINVAL_INPUT);
    cr_assert_eq(fk_msg_add_delta(msg, "o", "", "r", 1), FK_EINVAL_INPUT);
    cr_assert_eq(fk_msg_add_delta(msg, "o", long_key, "r", 1), FK_EINVAL_INPUT);
    cr_assert_eq(fk_msg_add_delta(msg, "o", "k", NULL, 1), FK_EINVAL_INPUT);
    cr_assert_eq(fk_msg_add_delta(msg, "o", "k", "r", 0), FK_EINVAL_INPUT);
    /*  An invalid field wins over a size limit. */
    cr_assert_eq(fk_msg_add_delta(msg, "", "k", "r", FK_MSG_MAX_RECORD + 1), FK_EINVAL_INPUT);
    cr_assert_eq(fk_msg_set_body(msg, NULL, 5), FK_EINVAL_INPUT);

    cr_assert_eq(fk_msg_encoded_size(msg), size);
    size_t n;
    cr_assert_null(fk_msg_members(msg, &n));
    cr_assert_null(fk_msg_digests(msg, &n));
    cr_assert_null(fk_msg_deltas(msg, &n));

    /*  The limits themselves are accepted. */
    fk_msg_member_t member = {
        .name = long_name + 1, .addr = long_addr + 1, .status = FK_MSG_STATUS_LEFT};
    cr_assert_eq(fk_msg_add_member(msg, &member), 0);
    member.status = FK_MSG_STATUS_SUSPECT;
    member.accuser = long_name + 1;
    cr_assert_eq(fk_msg_add_member(msg, &member), 0);
    cr_assert_eq(fk_msg_add_delta(msg, long_name + 1, long_key + 1, "r", 1), 0);
    fk_msg_t *copy = s_round_trip(msg);
    fk_msg_destroy(&copy);

    fk_msg_destroy(&msg);
    free(long_key);
    free(long_addr);
    free(long_name);
}

Test(fk_msg, builder_refuses_entries_past_each_count_limit)
{
    /*  EVIDENCE-OF: R-MSG-020 */
    fk_msg_t *msg = fk_msg_new(FK_MSG_JOIN, "a", "h:1", 1);
    char name[32];
    for (size_t i = 0; i < FK_MSG_MAX_MEMBERS; i++) {
        snprintf(name, sizeof name, "n%zu", i);
        fk_msg_member_t member = {.name = name, .addr = "h:1", .status = 0, .incarnation = i};
        cr_assert_eq(fk_msg_add_member(msg, &member), 0);
    }
    fk_msg_member_t member = {.name = "x", .addr = "h:1"};
    cr_assert_eq(fk_msg_add_member(msg, &member), FK_ETOOBIG);
    /*  At the limit, an invalid entry is still reported as invalid. */
    member.status = 9;
    cr_assert_eq(fk_msg_add_member(msg, &member), FK_EINVAL_INPUT);

    for (size_t i = 0; i < FK_MSG_MAX_DIGESTS; i++) {
        snprintf(name, sizeof name, "n%zu", i);
        cr_assert_eq(fk_msg_add_digest(msg, name, i), 0);
    }
    cr_assert_eq(fk_msg_add_digest(msg, "x", 1), FK_ETOOBIG);

    for (size_t i = 0; i < FK_MSG_MAX_DELTAS; i++) {
        snprintf(name, sizeof name, "k%zu", i);
        cr_assert_eq(fk_msg_add_delta(msg, "o", name, "r", 1), 0);
    }
    cr_assert_eq(fk_msg_add_delta(msg, "o", "x", "r", 1), FK_ETOOBIG);

    size_t n;
    fk_msg_members(msg, &n);
    cr_assert_eq(n, FK_MSG_MAX_MEMBERS);
    fk_msg_digests(msg, &n);
    cr_assert_eq(n, FK_MSG_MAX_DIGESTS);
    fk_msg_deltas(msg, &n);
    cr_assert_eq(n, FK_MSG_MAX_DELTAS);
    fk_msg_t *copy = s_round_trip(msg);
    fk_msg_destroy(&copy);
    fk_msg_destroy(&msg);
}

Test(fk_msg, set_body_replaces_limits_and_empties)
{
    /*  EVIDENCE-OF: R-MSG-012 */
    char *body = s_filled(FK_MSG_MAX_BODY + 1, 'b');
    fk_msg_t *msg = fk_msg_new(FK_MSG_REPLY, "a", "h:1", 1);
    cr_assert_eq(fk_msg_set_body(msg, body, FK_MSG_MAX_BODY + 1), FK_ETOOBIG);
    size_t len = 7;
    cr_assert_null(fk_msg_body(msg, &len));
    cr_assert_eq(len, 0);

    cr_assert_eq(fk_msg_set_body(msg, body, FK_MSG_MAX_BODY), 0);
    static const char second[] = "second";
    cr_assert_eq(fk_msg_set_body(msg, second, 6), 0);
    const char *got = fk_msg_body(msg, &len);
    cr_assert_eq(len, 6);
    cr_assert_eq(memcmp(got, second, 6), 0);
    cr_assert_neq((const void *)got, (const void *)second, "the body is a copy");

    cr_assert_eq(fk_msg_set_body(msg, NULL, 0), 0);
    cr_assert_null(fk_msg_body(msg, &len));
    cr_assert_eq(len, 0);
    fk_msg_t *copy = s_round_trip(msg);
    fk_msg_destroy(&copy);
    fk_msg_destroy(&msg);
    free(body);
}

Test(fk_msg, target_can_be_set_replaced_and_cleared)
{
    /*  EVIDENCE-OF: R-MSG-008 */
    fk_msg_t *msg = fk_msg_new(FK_MSG_PING_REQ, "a", "h:1", 1);
    size_t bare = fk_msg_encoded_size(msg);
    fk_msg_set_target(msg, "node-c", "10.0.0.3:7946");
    const char *first = fk_msg_target_name(msg);
    cr_assert_str_eq(first, "node-c");
    cr_assert_eq(fk_msg_encoded_size(msg), bare + 7 + 14);
    fk_msg_t *copy = s_round_trip(msg);
    fk_msg_destroy(&copy);

    fk_msg_set_target(msg, "node-d", "10.0.0.4:7946");
    cr_assert_str_eq(fk_msg_target_name(msg), "node-d");
    /*  Borrowed strings stay valid while the message lives. */
    cr_assert_str_eq(first, "node-c");
    copy = s_round_trip(msg);
    fk_msg_destroy(&copy);

    fk_msg_set_target(msg, NULL, NULL);
    cr_assert_null(fk_msg_target_name(msg));
    cr_assert_null(fk_msg_target_addr(msg));
    cr_assert_eq(fk_msg_encoded_size(msg), bare);
    copy = s_round_trip(msg);
    fk_msg_destroy(&copy);
    fk_msg_destroy(&msg);
}

Test(fk_msg, borrowed_strings_survive_later_adds)
{
    /*  fk_msg.h: copies never move once made; only the entry arrays do. */
    fk_msg_t *msg = fk_msg_new(FK_MSG_JOIN, "a", "h:1", 1);
    const char *from = fk_msg_from(msg);
    fk_msg_member_t member = {.name = "first", .addr = "h:2"};
    cr_assert_eq(fk_msg_add_member(msg, &member), 0);
    size_t n;
    const char *first = fk_msg_members(msg, &n)[0].name;
    char *record = s_filled(10000, 'r');
    char name[32];
    for (size_t i = 0; i < 500; i++) {
        snprintf(name, sizeof name, "m%zu", i);
        member.name = name;
        cr_assert_eq(fk_msg_add_member(msg, &member), 0);
        cr_assert_eq(fk_msg_add_digest(msg, name, i), 0);
    }
    cr_assert_eq(fk_msg_add_delta(msg, "a", "k", record, 10000), 0);
    cr_assert_eq(fk_msg_from(msg), from);
    cr_assert_str_eq(from, "a");
    cr_assert_str_eq(first, "first");
    cr_assert_eq(fk_msg_members(msg, &n)[0].name, first);
    fk_msg_t *copy = s_round_trip(msg);
    fk_msg_destroy(&copy);
    fk_msg_destroy(&msg);
    free(record);
}

Test(fk_msg, encoded_size_is_exact_at_every_form_boundary)
{
    /*  EVIDENCE-OF: R-MSG-015 integers, strings, bins and list headers on
        both sides of each MessagePack size class. */
    static const uint64_t ints[] = {
        0, 127, 128, 255, 256, 65535, 65536, UINT32_MAX, (uint64_t)UINT32_MAX + 1, UINT64_MAX};
    static const size_t str_lens[] = {1, 31, 32, 128};
    static const size_t key_lens[] = {1, 31, 32, 255, 256, 480};
    static const size_t bin_lens[] = {1, 255, 256, 65535, 65536};
    char *s = s_filled(65536, 's');

    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        fk_msg_t *msg = fk_msg_new(FK_MSG_DIGEST, "a", "h:1", ints[i]);
        fk_msg_set_seq(msg, ints[i]);
        fk_msg_set_flags(msg, (uint32_t)ints[i]);
        cr_assert_eq(fk_msg_add_digest(msg, "o", ints[i]), 0);
        fk_msg_member_t member = {.name = "m", .addr = "h:1", .incarnation = ints[i]};
        cr_assert_eq(fk_msg_add_member(msg, &member), 0);
        fk_msg_t *copy = s_round_trip(msg);
        fk_msg_destroy(&copy);
        fk_msg_destroy(&msg);
    }
    for (size_t i = 0; i < sizeof str_lens / sizeof str_lens[0]; i++) {
        char *name = s_filled(str_lens[i], 'n');
        fk_msg_t *msg = fk_msg_new(FK_MSG_JOIN, name, "h:1", 1);
        fk_msg_set_target(msg, name, "h:2");
        fk_msg_member_t member = {.name = name, .addr = "h:1"};
        cr_assert_eq(fk_msg_add_member(msg, &member), 0);
        member.accuser = name;
        cr_assert_eq(fk_msg_add_member(msg, &member), 0);
        cr_assert_eq(fk_msg_add_digest(msg, name, 1), 0);
        cr_assert_eq(fk_msg_add_delta(msg, name, "k", "r", 1), 0);
        fk_msg_t *copy = s_round_trip(msg);
        fk_msg_destroy(&copy);
        fk_msg_destroy(&msg);
        free(name);
    }
    for (size_t i = 0; i < sizeof key_lens / sizeof key_lens[0]; i++) {
        char *key = s_filled(key_lens[i], 'k');
        char *addr = s_filled(key_lens[i] < FK_MSG_MAX_ADDR ? key_lens[i] : FK_MSG_MAX_ADDR, 'h');
        fk_msg_t *msg = fk_msg_new(FK_MSG_DELTA, "a", addr, 1);
        cr_assert_eq(fk_msg_add_delta(msg, "a", key, "r", 1), 0);
        fk_msg_t *copy = s_round_trip(msg);
        fk_msg_destroy(&copy);
        fk_msg_destroy(&msg);
        free(addr);
        free(key);
    }
    for (size_t i = 0; i < sizeof bin_lens / sizeof bin_lens[0]; i++) {
        fk_msg_t *msg = fk_msg_new(FK_MSG_REQUEST, "a", "h:1", 1);
        cr_assert_eq(fk_msg_add_delta(msg, "a", "k", s, bin_lens[i]), 0);
        cr_assert_eq(fk_msg_set_body(msg, s, bin_lens[i]), 0);
        fk_msg_t *copy = s_round_trip(msg);
        fk_msg_destroy(&copy);
        fk_msg_destroy(&msg);
    }
    /*  List headers: fixarray up to 15 entries, array16 from 16. */
    fk_msg_t *msg = fk_msg_new(FK_MSG_DIGEST, "a", "h:1", 1);
    for (size_t i = 0; i < 17; i++) {
        size_t before = fk_msg_encoded_size(msg);
        cr_assert_eq(fk_msg_add_digest(msg, "o", 1), 0);
        /*  An entry is 4 bytes; the header grows by 2 at the 16th. */
        cr_assert_eq(fk_msg_encoded_size(msg) - before, i == 15 ? 6 : 4, "entry %zu", i);
        fk_msg_t *copy = s_round_trip(msg);
        fk_msg_destroy(&copy);
    }
    fk_msg_destroy(&msg);
    free(s);
}

/*  ---------------------------------------------------------------------
    Names and lifetime. */

Test(fk_msg, type_names_come_from_the_table)
{
    cr_assert_str_eq(fk_msg_type_name(FK_MSG_PING), "PING");
    cr_assert_str_eq(fk_msg_type_name(FK_MSG_ACK), "ACK");
    cr_assert_str_eq(fk_msg_type_name(FK_MSG_PING_REQ), "PING_REQ");
    cr_assert_str_eq(fk_msg_type_name(FK_MSG_DIGEST), "DIGEST");
    cr_assert_str_eq(fk_msg_type_name(FK_MSG_DELTA), "DELTA");
    cr_assert_str_eq(fk_msg_type_name(FK_MSG_JOIN), "JOIN");
    cr_assert_str_eq(fk_msg_type_name(FK_MSG_LEAVE), "LEAVE");
    cr_assert_str_eq(fk_msg_type_name(FK_MSG_REQUEST), "REQUEST");
    cr_assert_str_eq(fk_msg_type_name(FK_MSG_REPLY), "REPLY");
    cr_assert_str_eq(fk_msg_type_name(FK_MSG_ADMIT), "ADMIT");
    cr_assert_str_eq(fk_msg_type_name((fk_msg_type_t)0), "UNKNOWN");
    cr_assert_str_eq(fk_msg_type_name((fk_msg_type_t)11), "UNKNOWN");
    /*  EVIDENCE-OF: R-MSG-005 the wire values. */
    cr_assert_eq(FK_MSG_PING, 1);
    cr_assert_eq(FK_MSG_REPLY, 9);
    cr_assert_eq(FK_MSG_ADMIT, 10);
}

Test(fk_msg, destroy_is_idempotent_and_nulls_the_pointer)
{
    fk_msg_t *msg = fk_msg_new(FK_MSG_PING, "a", "h:1", 1);
    fk_msg_destroy(&msg);
    cr_assert_null(msg);
    fk_msg_destroy(&msg);
    fk_msg_destroy(NULL);
}
