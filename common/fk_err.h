/*  fk_err - error codes shared by every fakts-node module.

    Every fallible function returns an int: 0 on success, or a negative code.
    A negative code is either -errno (system errors, as libuv does) or one of
    the FK_E* codes below, which live under -10000 so they never collide with
    errno values. Foreign codes (MDB_*, msgpack, libzmq) are translated at the
    module boundary that calls the foreign library. */

#ifndef FK_ERR_H_INCLUDED
#define FK_ERR_H_INCLUDED

/*  The error table: symbol, value, message. One list yields the enum,
    fk_strerror() and fk_err_name(), so they can never disagree. Values are
    never reused or renumbered: they travel between nodes (a forwarded
    request's reply carries its code), so a removed code leaves a gap
    (-10006 was FK_ESTALE, never returned).

    The grants plane's outcomes (FK_EPENDING ... FK_EUNSUPPORTED, and
    FK_EINVAL_INPUT, FK_ENOTFOUND, FK_EEXISTS, FK_EUSED, FK_EEXPIRED,
    FK_EDENIED, FK_EUNAVAILABLE) each map to one HTTP status and protocol
    error in one table (node/api/fk_api_util.c). */
#define FK_ERR_MAP(XX)                                                                             \
    XX(EPROTO_MAGIC, -10001, "wire message has a bad signature")                                   \
    XX(EPROTO_VERSION, -10002, "wire message has an unsupported version")                          \
    XX(EPROTO_MALFORMED, -10003, "malformed message")                                              \
    XX(ETOOBIG, -10004, "input exceeds its size limit")                                            \
    XX(ENOTFOUND, -10005, "not found")                                                             \
    XX(ESTORE, -10007, "storage failure")                                                          \
    XX(EINVAL_INPUT, -10008, "invalid input")                                                      \
    XX(EEXISTS, -10009, "already exists")                                                          \
    XX(EEXPIRED, -10010, "expired")                                                                \
    XX(EDENIED, -10011, "denied")                                                                  \
    XX(EPENDING, -10012, "pending")                                                                \
    XX(ECRYPTO, -10013, "cryptographic failure")                                                   \
    XX(ECONFIG, -10014, "invalid configuration")                                                   \
    XX(EUNAVAILABLE, -10015, "required service unavailable")                                       \
    XX(EUSED, -10016, "already used")                                                              \
    XX(ESLOWDOWN, -10017, "polling too fast")                                                      \
    XX(EGRANT, -10018, "invalid grant")                                                            \
    XX(ECLIENT, -10019, "unknown client")                                                          \
    XX(EWRONG_CLIENT, -10020, "belongs to another client")                                         \
    XX(EAUTH, -10021, "client authentication failed")                                              \
    XX(ETOKEN, -10022, "invalid access token")                                                     \
    XX(ESCOPE, -10023, "scope not granted")                                                        \
    XX(ETRYAGAIN, -10024, "temporarily unavailable")                                               \
    XX(EUNSUPPORTED, -10025, "unsupported")

typedef enum {
#define FK_ERR_ENUM(name, value, msg) FK_##name = (value),
    FK_ERR_MAP(FK_ERR_ENUM)
#undef FK_ERR_ENUM
} fk_err_t;

/*  Return a static, human-readable message for a code: an FK_E* code, a
    -errno value, or 0 ("success"). Never returns NULL; thread-safe. */
const char *fk_strerror(int code);

/*  Return the symbolic name of a code ("FK_ENOTFOUND", "ENOENT", "OK", or
    "UNKNOWN"). Never returns NULL; thread-safe. */
const char *fk_err_name(int code);

#endif
