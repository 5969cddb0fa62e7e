/*  fk_pack - MessagePack writing shared by the proto encoders (private to
    proto/). */

#ifndef FK_PACK_H_INCLUDED
#define FK_PACK_H_INCLUDED

#include <msgpack.h>
#include <stddef.h>

/*  Pack len bytes as a bin without handing msgpack-c a NULL pointer for an
    empty one (bytes may be NULL when len is 0). Returns msgpack-c's
    nonzero on failure. */
static inline int
fk_pack_bin(msgpack_packer *pk, const void *bytes, size_t len)
{
    int failed = msgpack_pack_bin(pk, len);
    if (len > 0) {
        failed |= msgpack_pack_bin_body(pk, bytes, len);
    }
    return failed;
}

#endif
