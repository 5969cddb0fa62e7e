/*  fk_beacon - LAN discovery: broadcasts the node's Fakts URL over UDP.

    The actor owns everything it sends with; the agent's thread only starts
    and stops it. A round opens one UDP socket per interface, bound to the
    interface's own address with SO_BROADCAST, as the reference advertisers
    do (protocol §9): bound to its address, a datagram to a subnet's
    broadcast address leaves through that subnet's interface with that
    address as its source, without SO_BINDTODEVICE (which needs
    CAP_NET_RAW) or per-packet IP_PKTINFO. */

#include "fk_beacon.h"

#include "fk_clock.h"
#include "fk_err.h"
#include "fk_json.h"
#include "fk_log.h"
#include "fk_mem.h"

#include <arpa/inet.h>
#include <czmq.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/*  A failing send is logged at most this often: a beacon runs for the
    agent's lifetime, and one line per tick would flood the log. */
#define S_ERROR_LOG_EVERY_MS 60000

struct fk_beacon {
    zactor_t *actor; /* the sending thread */
    void *state;     /* its s_actor_t, freed once the actor has stopped */
};

/*  The actor's state: only its thread touches it while it runs. */
typedef struct {
    char *url;                /* normalised URL for every interface, or NULL */
    uint16_t http_port;       /* for URLs built from interface addresses */
    const char *scheme;       /* and their scheme, "http" or "https" */
    uint16_t port;            /* destination UDP port */
    int64_t interval_ms;      /* between rounds */
    char *advertised;         /* what the last round advertised, to log changes only */
    fk_log_limit_t error_log; /* send errors are logged once a minute at most */
} s_actor_t;

int
fk_beacon_url(const char *url, char **normal_p)
{
    *normal_p = NULL;
    size_t scheme = strncmp(url, "http://", 7) == 0 ? 7 : strncmp(url, "https://", 8) == 0 ? 8 : 0;
    if (scheme == 0 || url[scheme] == '\0' || strchr("/?#", url[scheme])) {
        return FK_EINVAL_INPUT;
    }
    size_t len = strlen(url);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)url[i];
        if (c <= ' ' || c >= 0x7f) {
            return FK_EINVAL_INPUT;
        }
    }
    bool slash = url[len - 1] == '/';
    if (len + (slash ? 0 : 1) > FK_BEACON_URL_MAX) {
        return FK_EINVAL_INPUT;
    }
    *normal_p = slash ? fk_strdup(url) : fk_asprintf("%s/", url);
    return 0;
}

int
fk_beacon_datagram(const char *magic, const char *url, char **data_p, size_t *len_p)
{
    *data_p = NULL;
    *len_p = 0;
    char *normal;
    int rc = fk_beacon_url(url, &normal);
    if (rc) {
        return rc;
    }
    json_t *doc = fk_json_must(json_object());
    fk_json_set(doc, "url", fk_json_must(json_string(normal)));
    /*  Not compact: the reference advertisers send json.dumps() output,
        whose separators are ", " and ": ", and listeners have only ever
        been tried against those bytes. */
    char *json = json_dumps(doc, JSON_ENSURE_ASCII);
    if (!json) {
        abort();
    }
    json_decref(doc);
    free(normal);
    *data_p = fk_asprintf("%s%s", magic, json);
    *len_p = strlen(*data_p);
    free(json);
    return 0;
}

/*  Count a send error; log it when none was logged for a minute, with how
    many went unlogged since the last line. */
static void
s_send_error(s_actor_t *self, const char *ifname, const char *what, int err)
{
    uint64_t held = 0;
    if (!fk_log_limit_pass(&self->error_log, fk_clock_mono_ms(), S_ERROR_LOG_EVERY_MS, &held)) {
        return;
    }
    if (held > 0) {
        fk_warn("beacon: %s on %s failed: %s (and %llu more errors since the last report; they "
                "are reported at most once a minute)",
                what, ifname, fk_strerror(err), (unsigned long long)held);
    } else {
        fk_warn("beacon: %s on %s failed: %s", what, ifname, fk_strerror(err));
    }
}

/*  Send both datagrams on one interface: from its own address to its
    broadcast address. */
static void
s_send(s_actor_t *self, const char *ifname, struct in_addr addr, struct in_addr broadcast,
       const char *url)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd == -1) {
        s_send_error(self, ifname, "socket", -errno);
        return;
    }
    int on = 1;
    struct sockaddr_in from = {.sin_family = AF_INET, .sin_port = 0, .sin_addr = addr};
    if (setsockopt(fd, SOL_SOCKET, SO_BROADCAST, &on, sizeof on) == -1) {
        s_send_error(self, ifname, "SO_BROADCAST", -errno);
    } else if (bind(fd, (const struct sockaddr *)&from, sizeof from) == -1) {
        s_send_error(self, ifname, "bind", -errno);
    } else {
        struct sockaddr_in to = {
            .sin_family = AF_INET, .sin_port = htons(self->port), .sin_addr = broadcast};
        const char *const magics[] = {FK_BEACON_MAGIC_NEXT, FK_BEACON_MAGIC};
        for (size_t i = 0; i < sizeof magics / sizeof magics[0]; i++) {
            char *data;
            size_t len;
            int rc = fk_beacon_datagram(magics[i], url, &data, &len);
            if (rc) {
                s_send_error(self, ifname, "building the datagram", rc);
                continue;
            }
            if (sendto(fd, data, len, 0, (const struct sockaddr *)&to, sizeof to) == -1) {
                s_send_error(self, ifname, "sendto", -errno);
            }
            free(data);
        }
    }
    close(fd);
}

/*  One round: both datagrams on every IPv4 interface that is up, running,
    can broadcast and is not loopback. getifaddrs runs every round, so
    interfaces (and DHCP addresses) that change while the agent runs are
    followed. */
static void
s_round(s_actor_t *self)
{
    struct ifaddrs *list = NULL;
    if (getifaddrs(&list) == -1) {
        s_send_error(self, "any interface", "getifaddrs", -errno);
        return;
    }
    char *advertised = fk_strdup("");
    for (struct ifaddrs *ifa = list; ifa; ifa = ifa->ifa_next) {
        unsigned wanted = IFF_UP | IFF_RUNNING | IFF_BROADCAST;
        if (!ifa->ifa_addr || ifa->ifa_addr->sa_family != AF_INET || !ifa->ifa_netmask
            || (ifa->ifa_flags & wanted) != wanted || (ifa->ifa_flags & IFF_LOOPBACK)) {
            continue;
        }
        struct sockaddr_in sin;
        memcpy(&sin, ifa->ifa_addr, sizeof sin);
        struct in_addr addr = sin.sin_addr;
        memcpy(&sin, ifa->ifa_netmask, sizeof sin);
        uint32_t mask = sin.sin_addr.s_addr;
        /*  The configured broadcast address, else the subnet's all-ones
            address: "ip addr add A/24 dev X" without "brd +" configures
            none (glibc then reports the address itself, or 0), but the
            kernel still routes the subnet's broadcast. */
        struct in_addr broadcast = {.s_addr = addr.s_addr | ~mask};
        if (ifa->ifa_broadaddr && ifa->ifa_broadaddr->sa_family == AF_INET) {
            memcpy(&sin, ifa->ifa_broadaddr, sizeof sin);
            if (sin.sin_addr.s_addr != 0 && sin.sin_addr.s_addr != addr.s_addr) {
                broadcast = sin.sin_addr;
            }
        }
        if (broadcast.s_addr == addr.s_addr) {
            continue; /* a /32 has no one else to hear it */
        }
        char host[INET_ADDRSTRLEN];
        char target[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &addr, host, sizeof host);
        inet_ntop(AF_INET, &broadcast, target, sizeof target);
        char *url =
            self->url ? fk_strdup(self->url)
                      : fk_asprintf("%s://%s:%u/", self->scheme, host, self->http_port);
        s_send(self, ifa->ifa_name, addr, broadcast, url);
        char *more = fk_asprintf("%s%s%s on %s (to %s:%u)", advertised, *advertised ? ", " : "",
                                 url, ifa->ifa_name, target, (unsigned)self->port);
        free(advertised);
        advertised = more;
        free(url);
    }
    freeifaddrs(list);
    if (!self->advertised || strcmp(advertised, self->advertised) != 0) {
        if (*advertised) {
            fk_info("beacon: advertising %s every %lld s", advertised,
                    (long long)(self->interval_ms / 1000));
        } else {
            fk_warn("beacon: no IPv4 interface is up and can broadcast; nothing is advertised "
                    "until one is");
        }
    }
    free(self->advertised);
    self->advertised = advertised;
}

static int
s_on_tick(zloop_t *loop, int timer_id, void *arg)
{
    (void)loop;
    (void)timer_id;
    s_round(arg);
    return 0;
}

static int
s_on_pipe(zloop_t *loop, zsock_t *pipe, void *arg)
{
    (void)loop;
    (void)arg;
    char *command = zstr_recv(pipe);
    /*  $TERM (from zactor_destroy), or anything else: the pipe carries no
        other command, so stop either way. */
    zstr_free(&command);
    return -1;
}

static void
s_actor(zsock_t *pipe, void *arg)
{
    s_actor_t *self = arg;
    zloop_t *loop = zloop_new();
    zloop_reader(loop, pipe, s_on_pipe, self);
    zloop_timer(loop, (size_t)self->interval_ms, 0, s_on_tick, self);
    zsock_signal(pipe, 0);
    /*  The first round goes out at once: a client listening now should
        not wait an interval to hear of us. */
    s_round(self);
    zloop_start(loop);
    zloop_destroy(&loop);
}

int
fk_beacon_start(fk_beacon_t **self_p, const fk_beacon_opts_t *opts)
{
    *self_p = NULL;
    char *url = NULL;
    if (opts->url) {
        int rc = fk_beacon_url(opts->url, &url);
        if (rc) {
            fk_error("beacon: cannot advertise '%s': it must start with http:// or https://, "
                     "name a host and hold no spaces",
                     opts->url);
            return rc;
        }
    } else if (opts->http_port == 0) {
        return FK_EINVAL_INPUT;
    }
    s_actor_t *state = fk_calloc(1, sizeof *state);
    state->url = url;
    state->http_port = opts->http_port;
    fk_log_limit_init(&state->error_log);
    state->scheme = opts->https ? "https" : "http";
    state->port = opts->port ? opts->port : FK_BEACON_PORT;
    state->interval_ms = opts->interval_ms > 0 ? opts->interval_ms : FK_BEACON_INTERVAL_S * 1000;
    /*  CZMQ must not install signal handlers: the agent's main thread
        takes every signal with sigtimedwait. */
    zsys_handler_set(NULL);
    fk_beacon_t *self = fk_calloc(1, sizeof *self);
    self->state = state;
    self->actor = zactor_new(s_actor, state);
    *self_p = self;
    return 0;
}

void
fk_beacon_destroy(fk_beacon_t **self_p)
{
    if (!self_p || !*self_p) {
        return;
    }
    fk_beacon_t *self = *self_p;
    /*  Sends $TERM and waits for the actor: its loop wakes on the pipe at
        once, whatever is left of the interval. */
    zactor_destroy(&self->actor);
    s_actor_t *state = self->state;
    free(state->url);
    free(state->advertised);
    fk_log_limit_fini(&state->error_log);
    free(state);
    free(self);
    *self_p = NULL;
}
