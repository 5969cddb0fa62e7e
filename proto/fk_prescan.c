/*  fk_prescan - a non-allocating MessagePack validator; the contract is in
    fk_prescan.h.

    The scan reads every byte at most once. Besides the cursor it keeps two
    things: one running count of the elements still pending in all open
    containers, which is what stops a header from declaring more than the
    input could possibly hold, and a fixed stack of per-container counts,
    which exists only to measure nesting depth. Neither needs the heap. */

#include "fk_prescan.h"

#include <stdint.h>

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

/*  Consume one element at *cursor_p (which is before end): its lead byte,
    any length or count field, and, unless it is a container, its body.
    On success *children_p is the number of elements a container declares
    (a map declares two per entry: key and value) and *is_container_p says
    whether it was a container at all. Returns 0 or FK_EPROTO_MALFORMED;
    *cursor_p only moves on success. */
static int
s_consume(const unsigned char **cursor_p, const unsigned char *end, int *is_container_p,
          uint64_t *children_p)
{
    const unsigned char *p = *cursor_p;
    unsigned lead = *p++;
    uint64_t body = 0;      /* bytes after the header: payload, ext type byte */
    unsigned width = 0;     /* bytes of a big-endian length or count field */
    int container = 0;      /* array or map */
    uint64_t per_entry = 1; /* elements per counted entry: 2 for maps */
    uint64_t children = 0;  /* count carried in a fixarray/fixmap lead byte */

    if (lead <= 0x7f || lead >= 0xe0) {
        /*  Positive and negative fixints are complete in one byte. */
    } else if (lead <= 0x8f) {
        container = 1;
        per_entry = 2;
        children = lead & 0x0fu;
    } else if (lead <= 0x9f) {
        container = 1;
        children = lead & 0x0fu;
    } else if (lead <= 0xbf) {
        body = lead & 0x1fu;
    } else {
        switch (lead) {
        case 0xc0: /* nil */
        case 0xc2: /* false */
        case 0xc3: /* true */
            break;
        case 0xc4: /* bin 8/16/32 */
        case 0xd9: /* str 8 */
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
        case 0xc7: /* ext 8/16/32: length, then a type byte the length does not count */
            width = 1;
            body = 1;
            break;
        case 0xc8:
            width = 2;
            body = 1;
            break;
        case 0xc9:
            width = 4;
            body = 1;
            break;
        case 0xcc: /* uint 8 */
        case 0xd0: /* int 8 */
            body = 1;
            break;
        case 0xcd:
        case 0xd1:
            body = 2;
            break;
        case 0xca: /* float 32 */
        case 0xce:
        case 0xd2:
            body = 4;
            break;
        case 0xcb: /* float 64 */
        case 0xcf:
        case 0xd3:
            body = 8;
            break;
        case 0xd4: /* fixext 1/2/4/8/16: a type byte, then the data */
            body = 2;
            break;
        case 0xd5:
            body = 3;
            break;
        case 0xd6:
            body = 5;
            break;
        case 0xd7:
            body = 9;
            break;
        case 0xd8:
            body = 17;
            break;
        case 0xdc: /* array 16/32 */
            container = 1;
            width = 2;
            break;
        case 0xdd:
            container = 1;
            width = 4;
            break;
        case 0xde: /* map 16/32 */
            container = 1;
            per_entry = 2;
            width = 2;
            break;
        case 0xdf:
            container = 1;
            per_entry = 2;
            width = 4;
            break;
        default:
            /*  0xc1 is the only lead byte MessagePack never assigns. */
            return FK_EPROTO_MALFORMED;
        }
    }

    if (width > 0) {
        if (width > (size_t)(end - p)) {
            return FK_EPROTO_MALFORMED;
        }
        uint64_t field = s_read_be(p, width);
        p += width;
        if (container) {
            children = field;
        } else {
            body += field;
        }
    }
    if (!container) {
        /*  Written as a comparison against what remains, never as
            p + body > end, which would form an out-of-range pointer (UB)
            before comparing it. */
        if (body > (size_t)(end - p)) {
            return FK_EPROTO_MALFORMED;
        }
        p += (size_t)body;
    }

    *cursor_p = p;
    *is_container_p = container;
    *children_p = children * per_entry;
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
