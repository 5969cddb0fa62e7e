/*  fk_err - messages and names for fakts-node error codes. */

#include "fk_err.h"

#include <errno.h>
#include <string.h>

/*  strerror() is not thread-safe (concurrency-mt-unsafe), so the errno
    values this project can return get their own fixed strings. */
#define FK_ERRNO_MAP(XX)                                                                           \
    XX(ENOENT, "no such file or directory")                                                        \
    XX(EACCES, "permission denied")                                                                \
    XX(EEXIST, "file exists")                                                                      \
    XX(EINVAL, "invalid argument")                                                                 \
    XX(ENOMEM, "out of memory")                                                                    \
    XX(ENOSPC, "no space left on device")                                                          \
    XX(EIO, "input/output error")                                                                  \
    XX(EADDRINUSE, "address already in use")                                                       \
    XX(ECONNREFUSED, "connection refused")                                                         \
    XX(ETIMEDOUT, "timed out")                                                                     \
    XX(EAGAIN, "resource temporarily unavailable")                                                 \
    XX(EINTR, "interrupted system call")                                                           \
    XX(ENOTDIR, "not a directory")                                                                 \
    XX(EISDIR, "is a directory")                                                                   \
    XX(EPERM, "operation not permitted")                                                           \
    XX(EBUSY, "device or resource busy")

const char *
fk_strerror(int code)
{
    if (code == 0) {
        return "success";
    }
    switch (code) {
#define FK_ERR_MSG(name, value, msg)                                                               \
    case FK_##name:                                                                                \
        return msg;
        FK_ERR_MAP(FK_ERR_MSG)
#undef FK_ERR_MSG
#define FK_ERRNO_MSG(name, msg)                                                                    \
    case -name:                                                                                    \
        return msg;
        FK_ERRNO_MAP(FK_ERRNO_MSG)
#undef FK_ERRNO_MSG
    default:
        return "unknown error";
    }
}

const char *
fk_err_name(int code)
{
    if (code == 0) {
        return "OK";
    }
    switch (code) {
#define FK_ERR_NAME(name, value, msg)                                                              \
    case FK_##name:                                                                                \
        return "FK_" #name;
        FK_ERR_MAP(FK_ERR_NAME)
#undef FK_ERR_NAME
#define FK_ERRNO_NAME(name, msg)                                                                   \
    case -name:                                                                                    \
        return #name;
        FK_ERRNO_MAP(FK_ERRNO_NAME)
#undef FK_ERRNO_NAME
    default:
        return "UNKNOWN";
    }
}
