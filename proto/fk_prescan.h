/*  fk_prescan - a non-allocating MessagePack validator for untrusted bytes.

    msgpack-c 4.0.0 trusts the element counts it reads: the five bytes
    dd dd dd dd dd declare an array of 0xdddddddd elements, and
    msgpack_unpack_next() asks its zone for ~137 GB before it has read a
    single element (msgpack/msgpack-c#1013, open upstream). Every decoder
    that hands untrusted bytes to msgpack-c therefore runs fk_prescan()
    first. After a successful pre-scan the number of objects msgpack-c can be
    asked to allocate is at most the input length, and its nesting depth is
    bounded, so its memory use grows linearly with the input.

    The module holds no state: every function is reentrant and thread-safe. */

#ifndef FK_PRESCAN_H_INCLUDED
#define FK_PRESCAN_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

/*  The deepest container nesting fk_prescan() will ever accept. Larger
    max_depth arguments are clamped to it, because msgpack-c's unpacker keeps
    a fixed stack of 32 levels (MSGPACK_EMBED_STACK_SIZE) and fails deeper
    input anyway. */
#define FK_PRESCAN_MAX_DEPTH 32

/*  Check that [data, data + len) is exactly one complete, well-formed
    MessagePack object whose containers nest at most max_depth deep.

    Depth counts containers: a lone scalar has depth 0, an array or map of
    scalars (even an empty one) has depth 1, an array holding a map has
    depth 2, and so on. max_depth is clamped to FK_PRESCAN_MAX_DEPTH.

    Every MessagePack format is understood: nil, bool, fixints, uint/int 8-64,
    float 32/64, str, bin, ext and fixext, array and map. The input is
    rejected when
      - a byte is 0xc1 (never used by MessagePack);
      - it ends inside an object (truncated), or is empty;
      - bytes follow the first object (trailing bytes);
      - a str, bin or ext length exceeds the bytes that remain;
      - an array or map header, added to every element still pending in the
        enclosing containers, declares more elements than bytes remain (each
        element needs at least one byte, so such input is truncated; keeping
        one running count stops nested headers from multiplying);
      - containers nest deeper than max_depth.

    data may be NULL only when len is 0. Nothing is allocated; the scan is
    linear in len and reads no byte outside the range.

    Returns 0 if the input is acceptable, or FK_EPROTO_MALFORMED. */
int fk_prescan(const void *data, size_t len, unsigned max_depth);

/*  What the head of one MessagePack object says: the lead byte and the
    length, count or value field after it. */
typedef struct {
    size_t head;       /* bytes of the lead byte plus its length, count or value field */
    uint64_t body;     /* bytes after the head: str/bin data, a float, an ext's type byte and
                          data; 0 for containers, whose elements follow */
    uint64_t children; /* elements a container declares (two per map entry), else 0 */
    int is_container;  /* an array or a map, even an empty one */
    int is_array;      /* an array: children is its count */
    int is_uint;       /* a non-negative integer in any width (a signed format holding a
                          value >= 0 too): value holds it */
    uint64_t value;    /* the value, when is_uint */
} fk_prescan_head_t;

/*  Read the head of the object at p (p < end, else malformed) into *h.
    Returns 0, or FK_EPROTO_MALFORMED when the lead byte is 0xc1 or the head
    or the body it declares does not fit before end. Reads nothing outside
    [p, end); the one head reader behind fk_prescan() and the message
    codec's envelope pre-check. */
int fk_prescan_head(const unsigned char *p, const unsigned char *end, fk_prescan_head_t *h);

#endif
