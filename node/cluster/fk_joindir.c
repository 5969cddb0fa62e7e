/*  fk_joindir - rendezvous on a shared filesystem. The format, and why
    each part of it is as it is, is in fk_joindir.h. */

#include "fk_joindir.h"

#include "fk_clock.h"
#include "fk_err.h"
#include "fk_log.h"
#include "fk_mem.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define S_SUFFIX ".json"
#define S_HOST_MAX 253u          /* a DNS name's longest text form */
#define S_FAST_MS 1000           /* heartbeat while the node is young */
#define S_FAST_FOR_MS 30000      /* how long it is young */
#define S_SLOW_MAX_MS 30000      /* the longest heartbeat */

bool
fk_joindir_name_ok(const char *name)
{
    size_t len = name ? strlen(name) : 0;
    if (len == 0 || len > FK_JOINDIR_NAME_MAX || name[0] == '.') {
        return false;
    }
    return strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-")
           == len;
}

/*  A plain "host:port": host of [A-Za-z0-9.-], port 1..65535 in decimal
    without sign or leading zero. Nothing a ZeroMQ endpoint would read as
    anything else (no '/', '*', ';', brackets or interface names). */
static bool
s_addr_ok(const char *addr)
{
    const char *colon = strrchr(addr, ':');
    if (!colon || colon == addr || (size_t)(colon - addr) > S_HOST_MAX) {
        return false;
    }
    size_t host_len = (size_t)(colon - addr);
    if (strspn(addr, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-")
        != host_len) {
        return false;
    }
    const char *port = colon + 1;
    size_t digits = strspn(port, "0123456789");
    if (digits == 0 || digits > 5 || port[digits] != '\0' || port[0] == '0') {
        return false;
    }
    long value = strtol(port, NULL, 10);
    return value >= 1 && value <= 65535;
}

int
fk_joindir_check(const char *dir, char *why, size_t whylen)
{
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        int rc = -errno;
        snprintf(why, whylen, "cannot create %s: %s", dir, fk_strerror(rc));
        return rc;
    }
    struct stat st;
    if (stat(dir, &st) != 0) {
        int rc = -errno;
        snprintf(why, whylen, "%s: %s", dir, fk_strerror(rc));
        return rc;
    }
    if (!S_ISDIR(st.st_mode)) {
        snprintf(why, whylen, "%s is not a directory", dir);
        return FK_ECONFIG;
    }
    if (st.st_uid != geteuid()) {
        snprintf(why, whylen,
                 "%s belongs to user %u, not to this node's user %u: whoever owns it may list "
                 "any address there; every node must run as its owner",
                 dir, (unsigned)st.st_uid, (unsigned)geteuid());
        return FK_ECONFIG;
    }
    if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
        snprintf(why, whylen,
                 "%s may be written by other users (mode %04o): they could list addresses "
                 "there or fill it. Fix it with:\n  chmod go-w %s",
                 dir, (unsigned)(st.st_mode & 07777), dir);
        return FK_ECONFIG;
    }
    return 0;
}

int
fk_joindir_publish(const char *dir, const char *name, const char *addr, int64_t *now_ms_p)
{
    if (!fk_joindir_name_ok(name) || !s_addr_ok(addr)) {
        return FK_EINVAL_INPUT;
    }
    json_t *doc = json_pack("{s:s, s:s}", "name", name, "addr", addr);
    char *text = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(doc);
    if (!text) {
        return FK_EINVAL_INPUT;
    }
    char *tmp = fk_asprintf("%s/.%s" S_SUFFIX ".tmp", dir, name);
    char *path = fk_asprintf("%s/%s" S_SUFFIX, dir, name);
    int rc = 0;
    /*  O_NOFOLLOW: a symlink planted at the temporary name is refused,
        never written through. O_TRUNC: what a killed predecessor left. */
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd == -1) {
        rc = -errno;
    } else {
        size_t len = strlen(text);
        ssize_t n = write(fd, text, len);
        if (n != (ssize_t)len) {
            rc = n < 0 ? -errno : -EIO;
        }
        /*  close() flushes to an NFS server (close-to-open consistency);
            its error is the write's. No fsync: a crash leaves at worst an
            empty or old entry, which readers skip or age out. */
        if (close(fd) != 0 && rc == 0) {
            rc = -errno;
        }
    }
    if (rc == 0 && rename(tmp, path) != 0) {
        rc = -errno;
    }
    struct stat st;
    if (rc == 0 && lstat(path, &st) != 0) {
        rc = -errno;
    }
    if (rc == 0) {
        *now_ms_p = (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
    } else {
        unlink(tmp);
    }
    free(text);
    free(tmp);
    free(path);
    return rc;
}

/*  Decode one entry's bytes strictly; on success *entry holds fresh
    strings. */
static bool
s_decode(const char *text, size_t len, const char *file_name, fk_joindir_entry_t *entry)
{
    json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
    const char *name = json_string_value(json_object_get(doc, "name"));
    const char *addr = json_string_value(json_object_get(doc, "addr"));
    bool ok = json_is_object(doc) && json_object_size(doc) == 2 && name && addr
              && strcmp(name, file_name) == 0 && s_addr_ok(addr);
    if (ok) {
        entry->name = fk_strdup(name);
        entry->addr = fk_strdup(addr);
    }
    json_decref(doc);
    return ok;
}

/*  Read the entry file called file (already known to be <name>.json) in
    the directory open as dir_fd, if it qualifies. */
static bool
s_read_entry(int dir_fd, const char *file, const char *name, int64_t now_ms, int64_t max_age_ms,
             fk_joindir_entry_t *entry)
{
    /*  O_NONBLOCK: a FIFO planted here must not hang the reader (the
        fstat below then refuses it); O_NOFOLLOW: nor may a symlink lead
        it to any other file. */
    int fd = openat(dir_fd, file, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd == -1) {
        return false;
    }
    bool ok = false;
    struct stat st;
    char buf[FK_JOINDIR_ENTRY_MAX + 1];
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0
        && (uint64_t)st.st_size <= FK_JOINDIR_ENTRY_MAX) {
        int64_t mtime_ms = (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
        int64_t age = now_ms - mtime_ms;
        /*  An mtime far in the future is as suspect as one far in the
            past: only a file server whose clock jumped, or a writer who
            set it by hand, makes one. */
        if (age <= max_age_ms && age >= -max_age_ms) {
            ssize_t n = read(fd, buf, sizeof buf);
            if (n > 0 && (size_t)n <= FK_JOINDIR_ENTRY_MAX
                && s_decode(buf, (size_t)n, name, entry)) {
                entry->age_ms = age > 0 ? age : 0;
                ok = true;
            }
        }
    }
    close(fd);
    return ok;
}

static int
s_by_name(const void *a, const void *b)
{
    return strcmp(((const fk_joindir_entry_t *)a)->name, ((const fk_joindir_entry_t *)b)->name);
}

int
fk_joindir_read(const char *dir, const char *self_name, int64_t now_ms, int64_t max_age_ms,
                fk_joindir_entry_t **entries_p, size_t *count_p)
{
    *entries_p = NULL;
    *count_p = 0;
    DIR *d = opendir(dir);
    if (!d) {
        return -errno;
    }
    fk_joindir_entry_t *entries = NULL;
    size_t count = 0;
    size_t scanned = 0;
    struct dirent *ent;
    while (scanned < FK_JOINDIR_SCAN_MAX && count < FK_JOINDIR_PEERS_MAX
           && (ent = readdir(d)) != NULL) {
        scanned++;
        size_t len = strlen(ent->d_name);
        size_t suffix = sizeof S_SUFFIX - 1;
        if (len <= suffix || strcmp(ent->d_name + len - suffix, S_SUFFIX) != 0) {
            continue;
        }
        char name[FK_JOINDIR_NAME_MAX + 1];
        if (len - suffix > FK_JOINDIR_NAME_MAX) {
            continue;
        }
        memcpy(name, ent->d_name, len - suffix);
        name[len - suffix] = '\0';
        if (!fk_joindir_name_ok(name) || (self_name && strcmp(name, self_name) == 0)) {
            continue;
        }
        fk_joindir_entry_t entry = {0};
        if (s_read_entry(dirfd(d), ent->d_name, name, now_ms, max_age_ms, &entry)) {
            entries = fk_realloc(entries, (count + 1) * sizeof *entries);
            entries[count++] = entry;
        }
    }
    closedir(d);
    if (count > 1) {
        qsort(entries, count, sizeof *entries, s_by_name);
    }
    *entries_p = entries;
    *count_p = count;
    return 0;
}

void
fk_joindir_entries_free(fk_joindir_entry_t **entries_p, size_t count)
{
    if (!entries_p || !*entries_p) {
        return;
    }
    for (size_t i = 0; i < count; i++) {
        free((*entries_p)[i].name);
        free((*entries_p)[i].addr);
    }
    free(*entries_p);
    *entries_p = NULL;
}

int
fk_joindir_remove(const char *dir, const char *name)
{
    if (!fk_joindir_name_ok(name)) {
        return FK_EINVAL_INPUT;
    }
    char *path = fk_asprintf("%s/%s" S_SUFFIX, dir, name);
    int rc = unlink(path) == 0 || errno == ENOENT ? 0 : -errno;
    free(path);
    return rc;
}

/*  ---- the heartbeat ---------------------------------------------------- */

struct fk_joindir {
    char *dir;              /* the shared directory */
    char *name;             /* this node's name */
    char *addr;             /* its advertised gossip address */
    int64_t max_age_ms;     /* entries older than this are ignored */
    fk_cluster_t *cluster;  /* gets the seeds (borrowed) */
    pthread_t thread;       /* the heartbeat */
    pthread_mutex_t lock;   /* guards stop */
    pthread_cond_t wake;    /* signalled on stop */
    bool stop;              /* the node is stopping */
    char *listed;           /* the names listed last time, for the log ("" at first) */
    int failing;            /* the error of the last failed write, or 0 */
};

/*  One round: heartbeat, read, hand the addresses to the cluster. */
static void
s_round(fk_joindir_t *self)
{
    int64_t now_ms = 0;
    int rc = fk_joindir_publish(self->dir, self->name, self->addr, &now_ms);
    if (rc != 0) {
        if (rc != self->failing) {
            fk_warn("join-file: cannot write %s/%s" S_SUFFIX ": %s (other nodes stop knocking "
                    "on this one once the entry is older than the reconnect timeout)",
                    self->dir, self->name, fk_strerror(rc));
            self->failing = rc;
        }
        return;
    }
    if (self->failing) {
        fk_info("join-file: %s/%s" S_SUFFIX " is written again", self->dir, self->name);
        self->failing = 0;
    }
    fk_joindir_entry_t *entries = NULL;
    size_t count = 0;
    if ((rc = fk_joindir_read(self->dir, self->name, now_ms, self->max_age_ms, &entries,
                              &count))
        != 0) {
        fk_warn("join-file: cannot read %s: %s", self->dir, fk_strerror(rc));
        return;
    }
    const char **addrs = fk_calloc(count + 1, sizeof *addrs);
    char *listed = fk_strdup("");
    for (size_t i = 0; i < count; i++) {
        addrs[i] = entries[i].addr;
        char *longer = fk_asprintf("%s %s=%s", listed, entries[i].name, entries[i].addr);
        free(listed);
        listed = longer;
    }
    if (!self->listed || strcmp(listed, self->listed) != 0) {
        fk_info("join-file: %zu other node(s) listed in %s:%s", count, self->dir,
                count ? listed : " none");
        free(self->listed);
        self->listed = listed;
        listed = NULL;
    }
    free(listed);
    if (fk_cluster_set_seeds(self->cluster, addrs, count) != 0) {
        fk_debug("join-file: the cluster did not take the listed addresses");
    }
    free(addrs);
    fk_joindir_entries_free(&entries, count);
}

static void *
s_run(void *arg)
{
    fk_joindir_t *self = arg;
    int64_t started = fk_clock_mono_ms();
    int64_t slow = self->max_age_ms / 3;
    slow = slow < S_FAST_MS ? S_FAST_MS : slow > S_SLOW_MAX_MS ? S_SLOW_MAX_MS : slow;
    pthread_mutex_lock(&self->lock);
    while (!self->stop) {
        pthread_mutex_unlock(&self->lock);
        s_round(self);
        int64_t now = fk_clock_mono_ms();
        int64_t period = now - started < S_FAST_FOR_MS ? S_FAST_MS : slow;
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += period / 1000;
        until.tv_nsec += (period % 1000) * 1000000;
        if (until.tv_nsec >= 1000000000) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000;
        }
        pthread_mutex_lock(&self->lock);
        while (!self->stop && pthread_cond_timedwait(&self->wake, &self->lock, &until) == 0) {
            /*  Woken without stop: wait out the period. */
        }
    }
    pthread_mutex_unlock(&self->lock);
    return NULL;
}

int
fk_joindir_start(fk_joindir_t **self_p, const fk_joindir_opts_t *opts, char *why, size_t whylen)
{
    *self_p = NULL;
    if (!fk_joindir_name_ok(opts->name)) {
        snprintf(why, whylen,
                 "the node name '%s' cannot be listed: use 1 to %u characters of A-Z a-z 0-9 . _ "
                 "- not starting with '.'",
                 opts->name, FK_JOINDIR_NAME_MAX);
        return FK_EINVAL_INPUT;
    }
    int rc = fk_joindir_check(opts->dir, why, whylen);
    if (rc != 0) {
        return rc;
    }
    int64_t now_ms;
    if ((rc = fk_joindir_publish(opts->dir, opts->name, opts->addr, &now_ms)) != 0) {
        snprintf(why, whylen, "cannot write this node's entry (%s) into %s: %s", opts->addr,
                 opts->dir, fk_strerror(rc));
        return rc;
    }
    fk_joindir_t *self = fk_calloc(1, sizeof *self);
    self->dir = fk_strdup(opts->dir);
    self->name = fk_strdup(opts->name);
    self->addr = fk_strdup(opts->addr);
    self->max_age_ms = opts->max_age_ms;
    self->cluster = opts->cluster;
    pthread_mutex_init(&self->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&self->wake, &attr);
    pthread_condattr_destroy(&attr);
    if ((rc = pthread_create(&self->thread, NULL, s_run, self)) != 0) {
        snprintf(why, whylen, "cannot start the join-file thread: %s", fk_strerror(-rc));
        fk_joindir_remove(self->dir, self->name);
        pthread_cond_destroy(&self->wake);
        pthread_mutex_destroy(&self->lock);
        free(self->dir);
        free(self->name);
        free(self->addr);
        free(self);
        return -rc;
    }
    *self_p = self;
    return 0;
}

void
fk_joindir_destroy(fk_joindir_t **self_p)
{
    if (!self_p || !*self_p) {
        return;
    }
    fk_joindir_t *self = *self_p;
    pthread_mutex_lock(&self->lock);
    self->stop = true;
    pthread_cond_signal(&self->wake);
    pthread_mutex_unlock(&self->lock);
    pthread_join(self->thread, NULL);
    int rc = fk_joindir_remove(self->dir, self->name);
    if (rc != 0) {
        fk_warn("join-file: cannot remove %s/%s" S_SUFFIX ": %s", self->dir, self->name,
                fk_strerror(rc));
    }
    pthread_cond_destroy(&self->wake);
    pthread_mutex_destroy(&self->lock);
    free(self->dir);
    free(self->name);
    free(self->addr);
    free(self->listed);
    free(self);
    *self_p = NULL;
}
