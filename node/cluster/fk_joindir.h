/*  fk_joindir - rendezvous on a shared filesystem (--join-file DIR).

    Every node of a cluster that shares a directory (NFS, Lustre, GPFS, or
    a local one) records its advertised gossip address there and knocks
    on the addresses the others recorded, so nodes that come and go with
    batch jobs find each other with no address typed by hand.

    The format: one file per node, <DIR>/<node name>.json, holding exactly
    {"name": <the node name>, "addr": "<host>:<port>"} (at most
    FK_JOINDIR_ENTRY_MAX bytes). A node writes its file to the temporary
    name <DIR>/.<node name>.json.tmp and renames it over the real one:
    rename within a directory is atomic on every one of these file systems
    (O_EXCL and locks are not, over NFS), so a reader sees the old entry or
    the new one, never half of one, and no node ever writes another's file.
    A file per node rather than one shared file, because a shared file
    needs a read-modify-write that two nodes racing would clobber.

    Freshness: a node rewrites its file every heartbeat, and a reader
    ignores a file whose mtime is more than max_age_ms away from the file
    system's own "now". That "now" is the mtime of the reader's own entry,
    just rewritten: both mtimes are set by the same file server, so clocks
    that differ between hosts do not matter. (An NFS client may cache a
    file's attributes for up to a minute, acregmax: keep max_age_ms, the
    agent's --reconnect-timeout, well above that on NFS.)

    Every byte of the directory is hostile: a file is read only when its
    name is <valid node name>.json, it is a regular file (not a symlink,
    FIFO or device: opened with O_NOFOLLOW | O_NONBLOCK and checked with
    fstat), at most FK_JOINDIR_ENTRY_MAX bytes, fresh, and decodes
    strictly (one JSON object, exactly the two keys, the name matching the
    file's, the address a plain host:port); anything else is skipped. At
    most FK_JOINDIR_SCAN_MAX directory entries are looked at per read and
    at most FK_JOINDIR_PEERS_MAX returned. A listed address is only where
    a node knocks: admission (the cluster secret or a join token) decides
    who becomes a member.

    Threads: the functions hold no state and may run on any thread; the
    heartbeat object (fk_joindir_start) runs its own thread. */

#ifndef FK_JOINDIR_H_INCLUDED
#define FK_JOINDIR_H_INCLUDED

#include "fk_cluster.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FK_JOINDIR_ENTRY_MAX 1024u /* bytes of one entry file */
#define FK_JOINDIR_SCAN_MAX 4096u  /* directory entries looked at per read */
#define FK_JOINDIR_PEERS_MAX 512u  /* entries one read returns at most */
#define FK_JOINDIR_NAME_MAX 64u    /* bytes of a node name that may be listed */

/*  One listed node. */
typedef struct {
    char *name;     /* its node name (owned) */
    char *addr;     /* its advertised gossip address "host:port" (owned) */
    int64_t age_ms; /* how old its entry was at the read (0 when from the future) */
} fk_joindir_entry_t;

/*  True when name may be listed: 1 .. FK_JOINDIR_NAME_MAX bytes of
    [A-Za-z0-9._-], not starting with '.' (a file name on every file
    system, never a hidden or temporary one). */
bool fk_joindir_name_ok(const char *name);

/*  Make sure dir is fit to rendezvous in: create it (mode 0700) when it
    does not exist (its parent must), and refuse it unless it is a
    directory owned by this process's user that no one else may write to
    (any other writer could list addresses, or fill it). Returns 0, or
    FK_ECONFIG with why saying what is wrong and the command that fixes
    it, or -errno when it cannot be created or examined. */
int fk_joindir_check(const char *dir, char *why, size_t whylen);

/*  Write name's entry (addr) into dir atomically (temporary file, then
    rename) and set *now_ms_p to its mtime in Unix milliseconds: the file
    system's notion of now. Returns 0, FK_EINVAL_INPUT when name is not
    fk_joindir_name_ok or addr is not a host:port, or -errno. */
int fk_joindir_publish(const char *dir, const char *name, const char *addr, int64_t *now_ms_p);

/*  Read the fresh entries of dir other than self_name's: those whose
    mtime is within max_age_ms of now_ms (Unix milliseconds, from
    fk_joindir_publish), sorted by name. On success *entries_p owns a
    fresh array of *count_p entries (free with fk_joindir_entries_free;
    NULL when there are none). Returns 0, or -errno when dir cannot be
    read; files that do not qualify are skipped, never an error. */
int fk_joindir_read(const char *dir, const char *self_name, int64_t now_ms, int64_t max_age_ms,
                    fk_joindir_entry_t **entries_p, size_t *count_p);

/*  Free what fk_joindir_read returned and set *entries_p to NULL. Safe on
    NULL. */
void fk_joindir_entries_free(fk_joindir_entry_t **entries_p, size_t count);

/*  Remove name's entry from dir (on a clean stop). Returns 0 (also when
    there was none), FK_EINVAL_INPUT for a name that cannot be listed, or
    -errno. */
int fk_joindir_remove(const char *dir, const char *name);

/*  ---- the heartbeat ---------------------------------------------------- */

typedef struct fk_joindir fk_joindir_t;

typedef struct {
    const char *dir;        /* the shared directory (copied) */
    const char *name;       /* this node's name (copied) */
    const char *addr;       /* its advertised gossip address (copied) */
    int64_t max_age_ms;     /* entries older than this are ignored (> 0) */
    fk_cluster_t *cluster;  /* gets the listed addresses (borrowed; outlives the object) */
} fk_joindir_opts_t;

/*  Check the directory (fk_joindir_check), publish this node's entry once
    (so a start that cannot write it fails now, not silently later), and
    start the heartbeat thread: it rewrites the entry, reads the others'
    and hands their addresses to fk_cluster_set_seeds, every second for
    the first 30 s after start (nodes starting together find each other
    at once) and then every max_age_ms / 3 (at least 1 s, at most 30 s),
    so a live node's entry never looks stale. It logs each change of the
    set of listed nodes, and failures to write (once, and once when it
    works again). Returns 0, FK_ECONFIG / FK_EINVAL_INPUT (why says
    what), or -errno. */
int fk_joindir_start(fk_joindir_t **self_p, const fk_joindir_opts_t *opts, char *why,
                     size_t whylen);

/*  Stop the thread and remove this node's entry (a clean stop: the node
    stops being knocked on at once); sets *self_p to NULL. Safe on NULL. */
void fk_joindir_destroy(fk_joindir_t **self_p);

#endif
