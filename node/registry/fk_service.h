/*  fk_service - validate a service definition and give its canonical form.

    A service definition tells the node that an instance of a service can be
    reached at one or more aliases (architecture.md, "A service definition";
    the alias fields follow fakts-protocol.md section 4). It arrives as YAML
    or JSON from the services directory or from `services register`, and is
    untrusted: every field is checked, unknown fields are errors (a typo such
    as "alais:" must not be silently dropped), and the result is rebuilt from
    scratch in one canonical shape.

    Canonical form. Every key present, in exactly this order:

        {"id": str, "service": str,
         "aliases": [{"id": str, "host": str, "port": int|null, "path": str|null,
                      "ssl": bool, "challenge": str, "public": bool,
                      "kind": "absolute"|"mesh"|"docker"}, ...],
         "tags": [str, ...], "meta": {str: str, ...},
         "challenge_key": {"kind": str, "key": str}|null,
         "checks": [{"http": str, "interval": D, "timeout": D,
                     "deregister_critical_after": D|null}
                    | {"tcp": str, "interval": D, "timeout": D,
                       "deregister_critical_after": D|null}
                    | {"ttl": D, "deregister_critical_after": D|null}, ...],
         "deregister_critical_after": D|null}

    where D is a duration in canonical text (fk_health_duration_format:
    "10s", "1500ms", "10m"). "checks" and "deregister_critical_after" are
    present only when the definition has at least one check, so a
    definition without checks has the form (and stored bytes) it had before
    checks existed.

    Aliases and tags keep their input order; meta keys are sorted bytewise,
    so two definitions that are json_equal() dump (json_dumps, same flags) to
    identical bytes. The canonical form is a fixed point: parsing it again
    yields an equal value.

    Field rules ("characters" are Unicode code points; no string anywhere may
    hold a control character, U+0000-U+001F or U+007F-U+009F; for every
    optional field, null means the same as leaving the field out):

      id             required; 1-128 of [A-Za-z0-9._-], first a letter or digit
      service        required; 1-255 of [A-Za-z0-9._-], dot-separated, at least
                     two non-empty labels (live.arkitekt.rekuest)
      aliases        required; array of 1-FK_SERVICE_MAX_ALIASES objects:
        host         required; 1-253 characters, no whitespace, no '/'
        port         integer 0-65535; default null
        path         string, leading '/'s stripped, then empty -> null; at
                     most 1024 characters, no whitespace; default null
        ssl          true or false; default false
        challenge    string of 0-1024 characters, no whitespace; default "ht"
        id           1-160 of [A-Za-z0-9._-], first a letter or digit; default
                     "<service id>-<index>"; unique within the definition
        public       true or false; default false
        kind         "absolute", "mesh" or "docker"; default "absolute"
      tags           array of at most FK_SERVICE_MAX_TAGS unique strings of
                     1-128 characters; default []
      meta           object of at most FK_SERVICE_MAX_META entries, keys of
                     1-128 characters, values strings of 0-1024 characters
                     (a YAML number must be quoted); default {}
      challenge_key  {"kind": 1-64 characters, "key": 1-1024 characters}, no
                     other fields; default null
      checks         array of at most FK_HEALTH_MAX_CHECKS (8) objects, each
                     with exactly one of (no script checks: a definition
                     never runs code on the node):
        http         an http:// or https:// URL with a host, at most 1024
                     characters, no whitespace
        tcp          "host:port" ("[v6]:port"), port 1-65535
        ttl          a duration from 100ms to 7 days
                     and, for http and tcp only:
        interval     a duration from 100ms to 24h; default 10s
        timeout      a duration from 10ms to 5m, at most the interval;
                     default 2s (or the interval when shorter)
                     and for any kind:
        deregister_critical_after  a duration from 100ms to 30 days, or
                     null: this check's own, else the definition's
      deregister_critical_after  a duration from 100ms to 30 days, or null
                     (default): deregister the instance once a check has
                     been critical that long; only with checks
                     Durations are strings as Consul writes them: numbers
                     each with a unit ms, s, m or h ("500ms", "1m30s");
                     a bare number is an error.

    Types are never coerced: port: "8090" is an error, and so is ssl: yes,
    because YAML 1.2 (fk_yaml) reads yes/no/on/off as strings.

    Errors read "<field path>: <reason>", for example
        aliases[0].port: must be an integer from 0 to 65535, got a string
        id: required
    The first problem found is reported: unknown fields first, then fields in
    canonical order.

    Thread-safe: no global state. Allocation failure aborts. */

#ifndef FK_SERVICE_H_INCLUDED
#define FK_SERVICE_H_INCLUDED

#include <stddef.h>

#include <jansson.h>

/*  Largest definition text fk_service_load accepts, in bytes. */
#define FK_SERVICE_MAX_BYTES ((size_t)64 * 1024)

/*  Most aliases one definition may list. */
#define FK_SERVICE_MAX_ALIASES 32

/*  Most tags one definition may carry. */
#define FK_SERVICE_MAX_TAGS 64

/*  Most meta entries one definition may carry. */
#define FK_SERVICE_MAX_META 64

/*  Validate an already-parsed definition and build its canonical form.

    def is borrowed and never modified; it must not be NULL (any JSON value
    is accepted and judged). canonical_p must not be NULL. err may be NULL
    (then errlen is ignored); otherwise, on failure, up to errlen bytes of a
    NUL-terminated message "<field path>: <reason>" are written there.

    Returns:
      0                 *canonical_p owns a new object (caller json_decref's).
                        Its json_dumps text, with flags 0 or JSON_COMPACT, is
                        at most FK_SERVICE_MAX_BYTES, so fk_service_load
                        always accepts it again.
      FK_EINVAL_INPUT   *canonical_p is NULL; err names the field.
      FK_ETOOBIG        *canonical_p is NULL; the canonical text would pass
                        FK_SERVICE_MAX_BYTES (err "definition: ..."). */
int fk_service_parse(const json_t *def, json_t **canonical_p, char *err, size_t errlen);

/*  Read a definition from YAML or JSON text (one document, see fk_yaml.h)
    and validate it as fk_service_parse does.

    text need not be NUL-terminated; it may be NULL only when len is 0.
    canonical_p, err and errlen as for fk_service_parse.

    Returns:
      0                 *canonical_p owns a new object (caller json_decref's).
      FK_ETOOBIG        *canonical_p is NULL. len > FK_SERVICE_MAX_BYTES or
                        the canonical text would be (err "definition: ..."),
                        or the document passes one of fk_yaml's limits (err
                        "line L, column C: ...").
      FK_EINVAL_INPUT   *canonical_p is NULL. The text is not one valid YAML
                        document (err "line L, column C: <problem>"), or the
                        definition is invalid (err "<field path>: <reason>"). */
int fk_service_load(const char *text, size_t len, json_t **canonical_p, char *err, size_t errlen);

#endif
