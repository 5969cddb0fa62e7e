/*  fk_prescan - a non-allocating MessagePack validator; the contract is in
    fk_prescan.h.

    The scan reads every byte at most once. Besides the cursor it keeps two
    things: one running count of the elements still pending in all open
    containers, which is what stops a header from declaring more than the
    input could possibly hold, and a fixed stack of per-container counts,
    which exists only to measure nesting depth. Neither needs the heap. */

#include "fk_prescan.h"

#include <stdint.h>
#include <string.h>

#include "fk_err.h"

/*  Read an n-byte big-endian unsigned integer (n <= 8). The caller has
    already checked that n bytes remain. */
static uint64_t
s_read_be(const unsigned char *p, unsigned n)
{
    uint64_t value = 0;
    for (unsigned i = 0; i < n; i++) {
        value = (value << 8) | p[i];
    }
    return value;
}

int
fk_prescan_head(const unsigned char *p, const unsigned char *end, fk_prescan_head_t *h)
{
    memset(h, 0, sizeof *h);
    if (p >= end) {
        return FK_EPROTO_MALFORMED;
    }
    unsigned lead = *p;
    size_t width = 0;   /* bytes of a big-endian field after the lead byte */
    int field_is = 0;   /* what that field is: 0 length, 1 count, 2 uint, 3 int */
    uint64_t per = 1;   /* elements per counted entry: 2 for maps */
    uint64_t extra = 0; /* body bytes the length field does not count: an ext's type */

    h->head = 1;
    if (lead <= 0x7f) {
        h->is_uint = 1;
        h->value = lead;
    } else if (lead <= 0x8f) {
        h->is_container = 1;
        h->children = 2u * (uint64_t)(lead & 0x0fu);
    } else if (lead <= 0x9f) {
        h->is_container = 1;
        h->is_array = 1;
        h->children = lead & 0x0fu;
    } else if (lead <= 0xbf) {
        h->body = lead & 0x1fu;
    } else if (lead >= 0xe0) {
        /*  Negative fixint: complete in one byte. */
    } else {
        switch (lead) {
        case 0xc0: /* nil, false, true */
        case 0xc2:
        case 0xc3:
            break;
        case 0xc4: /* bin 8/16/32, str 8/16/32 */
        case 0xd9:
            width = 1;
            break;
        case 0xc5:
        case 0xda:
            width = 2;
            break;
        case 0xc6:
        case 0xdb:
            width = 4;
            break;
        case 0xc7: /* ext 8/16/32 */
            width = 1;
            extra = 1;
            break;
        case 0xc8:
            width = 2;
            extra = 1;
            break;
        case 0xc9:
            width = 4;
            extra = 1;
            break;
        case 0xca: /* float 32/64 */
            h->body = 4;
            break;
        case 0xcb:
            h->body = 8;
            break;
        case 0xcc: /* uint 8/16/32/64 */
        case 0xcd:
        case 0xce:
        case 0xcf:
            width = (size_t)1 << (lead - 0xccu);
            field_is = 2;
            break;
        case 0xd0: /* int 8/16/32/64 */
        case 0xd1:
        case 0xd2:
        case 0xd3:
            width = (size_t)1 << (lead - 0xd0u);
            field_is = 3;
            break;
        case 0xd4: /* fixext 1/2/4/8/16: a type byte, then the data */
        case 0xd5:
        case 0xd6:
        case 0xd7:
        case 0xd8:
            h->body = 1 + ((uint64_t)1 << (lead - 0xd4u));
            break;
        case 0xdc: /* array 16/32 */
            width = 2;
            field_is = 1;
            h->is_container = 1;
            h->is_array = 1;
            break;
        case 0xdd:
            width = 4;
            field_is = 1;
            h->is_container = 1;
            h->is_array = 1;
            break;
        case 0xde: /* map 16/32 */
            width = 2;
            field_is = 1;
            h->is_container = 1;
            per = 2;
            break;
        case 0xdf:
            width = 4;
            field_is = 1;
            h->is_container = 1;
            per = 2;
            break;
        default:
            return FK_EPROTO_MALFORMED; /* 0xc1 */
        }
    }

    size_t room = (size_t)(end - p) - 1;
    if (width > room) {
        return FK_EPROTO_MALFORMED;
    }
    if (width > 0) {
        uint64_t field = s_read_be(p + 1, (unsigned)width);
        h->head += width;
        room -= width;
        switch (field_is) {
        case 0:
            h->body = field + extra;
            break;
        case 1:
            h->children = field * per;
            break;
        case 2:
            h->is_uint = 1;
            h->value = field;
            break;
        default:
            /*  A signed format holding a non-negative value is a uint too
                (R-MSG-014): its top bit is clear. */
            if ((field >> (8 * width - 1)) == 0) {
                h->is_uint = 1;
                h->value = field;
            }
            break;
        }
    }
    if (h->body > room) {
        return FK_EPROTO_MALFORMED;
    }
    return 0;
}

/*  Consume one element at *cursor_p (which is before end): its head and,
    unless it is a container, its body. On success *children_p is the
    number of elements a container declares (a map declares two per entry:
    key and value) and *is_container_p says whether it was a container at
    all. Returns 0 or FK_EPROTO_MALFORMED; *cursor_p only moves on success. */
static int
s_consume(const unsigned char **cursor_p, const unsigned char *end, int *is_container_p,
          uint64_t *children_p)
{
    fk_prescan_head_t h;
    if (fk_prescan_head(*cursor_p, end, &h) != 0) {
        return FK_EPROTO_MALFORMED;
    }
    /*  fk_prescan_head checked that head + body fit before end. */
    *cursor_p += h.head + (size_t)h.body;
    *is_container_p = h.is_container;
    *children_p = h.children;
    return 0;
}

int
fk_prescan(const void *data, size_t len, unsigned max_depth)
{
    if (data == NULL || len == 0) {
        return FK_EPROTO_MALFORMED;
    }
    if (max_depth > FK_PRESCAN_MAX_DEPTH) {
        max_depth = FK_PRESCAN_MAX_DEPTH;
    }

    const unsigned char *p = data;
    const unsigned char *end = p + len;
    uint64_t open[FK_PRESCAN_MAX_DEPTH]; /* elements left in each open container */
    unsigned depth = 0;                  /* containers open around the cursor */
    uint64_t pending = 1;                /* elements still to read, all levels */

    while (pending > 0) {
        if (p == end) {
            return FK_EPROTO_MALFORMED; /* truncated */
        }
        pending--;
        if (depth > 0) {
            open[depth - 1]--;
        }

        int is_container;
        uint64_t children;
        if (s_consume(&p, end, &is_container, &children) != 0) {
            return FK_EPROTO_MALFORMED;
        }

        if (is_container) {
            /*  Empty containers count too: depth is a property of the
                encoding, not of how much it happens to hold, and msgpack-c
                checks its stack before it looks at the count. */
            if (depth >= max_depth) {
                return FK_EPROTO_MALFORMED;
            }
            /*  Every pending element needs at least one byte, so a header
                whose count, added to what the enclosing containers still
                owe, exceeds the bytes left can only be a lie. Testing the
                sum rather than the header alone is what defeats nested
                bombs: N headers of 0xffff each would otherwise be allowed
                N * 0xffff elements in the same 0xffff bytes. pending <= room
                is tested first so that room - pending cannot wrap. */
            uint64_t room = (uint64_t)(end - p);
            if (pending > room || children > room - pending) {
                return FK_EPROTO_MALFORMED;
            }
            pending += children;
            if (children > 0) {
                open[depth++] = children;
            }
        }

        /*  Close every container whose last element has just been read. */
        while (depth > 0 && open[depth - 1] == 0) {
            depth--;
        }
    }

    /*  Exactly one object: anything after it is an error, not a second
        message to be silently ignored. */
    return p == end ? 0 : FK_EPROTO_MALFORMED;
}
