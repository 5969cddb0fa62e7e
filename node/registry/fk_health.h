/*  fk_health - service health: durations, check statuses, and the state
    machine of one instance's checks.

    A service definition may carry checks (fk_service.h): http, tcp and ttl.
    The node that owns an instance runs its checks (node/health) and keeps,
    per check, a status, an output snippet and since when the status holds;
    the instance's status is the worst of its checks'. This module is the
    part of that which needs no I/O: it decides, from what a check reported
    and the time, what the instance's state becomes and whether the record
    must be written again, so every transition is testable with a fake
    clock.

    Transitions (docs/ARCHITECTURE.md, "Health checks"):
      - A new instance starts with every check critical, output
        "not checked yet" (Consul's choice: registered is not ready).
      - A report (http/tcp result, or a ttl pass/warn/fail) sets the
        check's status and output; since moves only when the status
        changes.
      - A ttl check that is not critical turns critical when its deadline
        (the last report + ttl) passes: fk_health_expire.
      - The instance is due for deregistration once one of its checks has
        been critical for at least its deregister_critical_after.
    Only a status change (of a check, hence possibly of the instance), and
    a check's first result, are changes worth a record write: outputs alone never are, so a check whose
    body carries a timestamp does not rewrite the record every interval.

    Record form ("health" in the svc/ record's payload):
        {"status": "passing"|"warning"|"critical", "since_ms": int,
         "checks": [{"status": ..., "output": str, "since_ms": int}, ...]}
    with one entry per check of the definition, in its order.

    Thread-safe: no global state; a fk_health_t is plain data the caller
    guards. Allocation failure aborts. */

#ifndef FK_HEALTH_H_INCLUDED
#define FK_HEALTH_H_INCLUDED

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*  Most checks one service definition may carry. */
#define FK_HEALTH_MAX_CHECKS 8

/*  Longest output snippet kept per check, in bytes (printable ASCII). */
#define FK_HEALTH_OUTPUT_MAX 200

/*  The output of a check that has not reported since its instance was
    registered. */
#define FK_HEALTH_UNCHECKED "not checked yet"

/*  The statuses, ordered: a larger one is worse. */
typedef enum {
    FK_HEALTH_PASSING = 0,
    FK_HEALTH_WARNING = 1,
    FK_HEALTH_CRITICAL = 2,
} fk_health_status_t;

/*  The kinds of checks. */
typedef enum {
    FK_HEALTH_HTTP = 0, /* GET a URL: 2xx passing, 429 warning, else critical */
    FK_HEALTH_TCP = 1,  /* connect to host:port */
    FK_HEALTH_TTL = 2,  /* the service reports; silence for ttl is critical */
} fk_health_kind_t;

/*  One check's state. */
typedef struct {
    fk_health_status_t status;            /* current status */
    int64_t since_ms;                     /* wall-clock ms the status began */
    int64_t deadline_ms;                  /* ttl checks: critical after this if not reported */
    int64_t ttl_ms;                       /* ttl checks: the ttl; else 0 */
    int64_t after_ms;                     /* deregister after this long critical; 0: never */
    bool reported;                        /* a report came since fk_health_init */
    char output[FK_HEALTH_OUTPUT_MAX + 1]; /* snippet of the last status change */
} fk_health_check_t;

/*  One instance's state. */
typedef struct {
    fk_health_status_t status;                      /* worst of the checks */
    int64_t since_ms;                               /* when status began */
    size_t nchecks;                                 /* checks in use */
    fk_health_check_t checks[FK_HEALTH_MAX_CHECKS]; /* in definition order */
} fk_health_t;

/*  What one canonical check asks for (fk_service.h). */
typedef struct {
    fk_health_kind_t kind; /* http, tcp or ttl */
    const char *target;    /* http: the URL; tcp: "host:port"; ttl: NULL. Borrowed */
    int64_t interval_ms;   /* http, tcp: time between two runs; ttl: 0 */
    int64_t timeout_ms;    /* http, tcp: longest a run may take; ttl: 0 */
    int64_t ttl_ms;        /* ttl: longest silence before critical; else 0 */
    int64_t after_ms;      /* deregister after this long critical (the check's
                              own, else the definition's); 0: never */
} fk_health_spec_t;

/*  Read check index of a canonical definition into *spec (target borrowed
    from definition). Returns 0, or FK_EINVAL_INPUT when there is no such
    check or it is not canonical. */
int fk_health_spec(const json_t *definition, size_t index, fk_health_spec_t *spec);

/*  The number of checks of a canonical definition (0 without "checks"). */
size_t fk_health_count(const json_t *definition);

/*  Parse a duration as Consul writes them ("500ms", "30s", "10m", "1h",
    "1m30s", "1.5s"): one or more numbers (digits, optionally a fraction)
    each followed by a unit ms, s, m or h. text need not be NUL-terminated.
    On success *ms_p holds whole milliseconds (a fraction of one is cut) and
    0 is returned; otherwise FK_EINVAL_INPUT (empty, a bare number, another
    unit, a sign, more than 100 days). */
int fk_health_duration_parse(const char *text, size_t len, int64_t *ms_p);

/*  Write ms (> 0) in canonical form into out (at least 24 bytes): in the
    largest of h, m, s, ms that divides it exactly ("90s", "10m", "1500ms"),
    so fk_health_duration_parse gives ms back. */
void fk_health_duration_format(int64_t ms, char *out, size_t outlen);

/*  "passing", "warning" or "critical". Never NULL. */
const char *fk_health_status_name(fk_health_status_t status);

/*  Read a status by name; also the CLI's words "pass", "warn" and "fail".
    Returns 0 or FK_EINVAL_INPUT. name may be NULL (then FK_EINVAL_INPUT). */
int fk_health_status_parse(const char *name, fk_health_status_t *status_p);

/*  An HTTP check's status from the response code: 2xx passing, 429
    warning, anything else (redirects included: they are never followed)
    critical. */
fk_health_status_t fk_health_http_status(long code);

/*  The status of a catalog instance (a JSON object, fk_catalog.h): its
    "health"."status", or passing when it has no "health" (no checks).
    A "health" that is not an object with a known status reads as
    critical: a record no node can judge is never offered. */
fk_health_status_t fk_health_of(const json_t *instance);

/*  Set up self for a definition's checks (canonical "checks" and
    "deregister_critical_after" of fk_service.h, given as the definition
    object) at time now_ms: every check critical, "not checked yet".
    Returns 0, or FK_EINVAL_INPUT when definition's checks are not
    canonical (then self is zeroed). */
int fk_health_init(fk_health_t *self, const json_t *definition, int64_t now_ms);

/*  Take the stored statuses of health (a record's "health" object) into
    self, already set up by fk_health_init for the same definition: statuses,
    outputs and since times as stored (a check whose output is
    FK_HEALTH_UNCHECKED still counts as not reported), the instance's status recomputed; a
    ttl check that is not critical gets a fresh deadline of now_ms + ttl.
    Returns 0, or FK_EINVAL_INPUT (self unchanged) when health does not
    have one well-formed entry per check. */
int fk_health_restore(fk_health_t *self, const json_t *health, int64_t now_ms);

/*  Check index reports status with output (NULL: none; copied, cut at
    FK_HEALTH_OUTPUT_MAX bytes, any byte outside printable ASCII shown as
    '?'). For a ttl check the deadline moves to now_ms + ttl. Returns true
    when the status of the check changed, or this is the check's first
    report since fk_health_init (its "not checked yet" gives way to what
    the check found): then the output is the new one and the record must be
    written. Otherwise the stored output stays (see the file comment). index must be < self->nchecks. */
bool fk_health_report(fk_health_t *self, size_t index, fk_health_status_t status,
                      const char *output, int64_t now_ms);

/*  Turn every ttl check whose deadline passed (and that is not critical
    yet) critical. Returns true when any changed. */
bool fk_health_expire(fk_health_t *self, int64_t now_ms);

/*  The earliest ttl deadline of a check that is not critical, or
    INT64_MAX: when fk_health_expire next has something to do. */
int64_t fk_health_next_expiry(const fk_health_t *self);

/*  Whether a check has been critical for at least its
    deregister_critical_after at now_ms. */
bool fk_health_deregister_due(const fk_health_t *self, int64_t now_ms);

/*  When fk_health_deregister_due next becomes true if nothing changes, or
    INT64_MAX. */
int64_t fk_health_next_deregister(const fk_health_t *self);

/*  The record form of self (file comment), a new object (caller
    decrefs). */
json_t *fk_health_to_json(const fk_health_t *self);

#endif
