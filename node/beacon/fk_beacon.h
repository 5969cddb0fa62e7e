/*  fk_beacon - LAN discovery: broadcasts the node's Fakts URL over UDP.

    Every interval, for every IPv4 interface that is up, running, can
    broadcast and is not loopback, the beacon sends two datagrams to that
    interface's broadcast address (protocol §9, §11.1):

        beacon-fakts_next{"url": "<url>"}   what fakts-next listens for
        beacon-fakts{"url": "<url>"}        fakts 1.0 and the orkestrator

    Both phrases go out because each listener generation drops the other's
    (protocol §10 quirk 4). The payload is the bytes the reference
    advertisers send (Python's json.dumps: ", " and ": " separators, ASCII
    only). Listeners use the URL as is, with no scheme guessing and no
    slash appending, so it always carries http:// or https:// and ends in
    "/": a client then GETs <url>.well-known/fakts.

    The URL is the one given at start, or, when none is given (an agent
    bound to 0.0.0.0), http(s)://<the interface's own address>:<port>/ on
    each interface, so every LAN hears an address it can reach.

    One CZMQ actor sends, on its own clock; interfaces are enumerated
    afresh each round, so one that comes up later is advertised on too.
    What is advertised is logged at start and whenever it changes; send
    errors are logged at most once a minute.

    Threads: fk_beacon_start and fk_beacon_destroy from one thread (the
    agent's main thread); the datagram helpers from any thread. */

#ifndef FK_BEACON_H_INCLUDED
#define FK_BEACON_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*  The UDP port every known listener binds (0.0.0.0:45678). */
#define FK_BEACON_PORT 45678

/*  The phrase fakts-next's FirstAdvertisedDiscovery requires. */
#define FK_BEACON_MAGIC_NEXT "beacon-fakts_next"

/*  The phrase fakts 1.0 and the orkestrator listen for. */
#define FK_BEACON_MAGIC "beacon-fakts"

/*  Seconds between rounds by default: the fakts 1.0 advertiser's. */
#define FK_BEACON_INTERVAL_S 5

/*  Longest URL a beacon carries (the datagram stays one small packet). */
#define FK_BEACON_URL_MAX 1024

typedef struct fk_beacon fk_beacon_t;

typedef struct {
    const char *url;    /* advertised on every interface, or NULL: http://<iface addr>:http_port/ */
    uint16_t http_port; /* the HTTP port, for URLs built from interface addresses */
    bool https;         /* and those URLs are https:// (the listener speaks TLS) */
    uint16_t port;      /* destination UDP port (0: FK_BEACON_PORT) */
    int64_t interval_ms; /* between rounds (0: FK_BEACON_INTERVAL_S seconds) */
} fk_beacon_opts_t;

/*  Check opts, send the first round at once, and start the actor, which
    sends a round every interval until fk_beacon_destroy. opts is copied.
    Returns 0 and sets *self_p (destroy it), or FK_EINVAL_INPUT (*self_p
    NULL) when opts->url is given but fk_beacon_url refuses it, or when
    neither a URL nor an HTTP port is given. */
int fk_beacon_start(fk_beacon_t **self_p, const fk_beacon_opts_t *opts);

/*  Stop the actor (it returns at once, even mid-interval) and free; sets
 *self_p to NULL. Safe on NULL. */
void fk_beacon_destroy(fk_beacon_t **self_p);

/*  The URL as listeners need it: url must start with http:// or https://
    (lower case), have a non-empty host, consist of printable ASCII
    without spaces, and be at most FK_BEACON_URL_MAX bytes; a "/" is
    appended when it does not end in one. Returns 0 and sets *normal_p (a
    fresh string, caller frees), or FK_EINVAL_INPUT with *normal_p NULL. */
int fk_beacon_url(const char *url, char **normal_p);

/*  One datagram: magic followed by {"url": "<normalised url>"} (built
    with jansson). Returns 0 and sets *data_p (fresh, NUL-terminated,
    caller frees) and *len_p (its length, without the NUL), or
    FK_EINVAL_INPUT when fk_beacon_url refuses url (*data_p NULL). */
int fk_beacon_datagram(const char *magic, const char *url, char **data_p, size_t *len_p);

#endif
