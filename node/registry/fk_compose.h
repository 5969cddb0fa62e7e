/*  fk_compose - bind a manifest's requirements to live service instances.

    Composition follows fakts-protocol.md section 3, with the cluster registry
    as the composition: each requirement is granted the matching live
    instance, reported unavailable, or denied because the user declined it.
    The choice among several matching instances depends only on their (id,
    node) pairs, never on the order of the instance list, so every node that
    sees the same registry renders the same configuration.

    Everything here is a pure function of its arguments: no I/O, no global
    state. Inputs are only read (never increfed), so concurrent calls may share
    them. Allocation failure aborts (fk_mem.h). */

#ifndef FK_COMPOSE_H_INCLUDED
#define FK_COMPOSE_H_INCLUDED

#include <stddef.h>

#include <jansson.h>

/*  Flag for fk_compose: never fail on a missing service. A required
    requirement without a live instance reports status "unavailable" instead,
    which is what an approval page shows before the user decides. */
#define FK_COMPOSE_PREVIEW 1u

/*  Compose a canonical manifest against the live instances.

    manifest   a canonical manifest from fk_manifest_parse (fk_manifest.h).
    instances  a JSON array of live instances, each a canonical service
               definition plus its owning node:
                 {"id","service","aliases":[{"id","host","port","path","ssl",
                  "challenge","public","kind"}...],"tags":[...],"meta":{...},
                  "challenge_key":null|{"kind","key"},"node":"node-a"}
               id, service and node must be strings, aliases an array of
               objects; tags (array) and challenge_key (null or object) may
               be absent; health (fk_health.h record form) may be absent,
               meaning passing, else must be an object. Other keys are
               ignored.
    declined   NULL, JSON null, or an array of requirement keys the user
               declined. Only optional requirements can be declined.
    flags      0 or FK_COMPOSE_PREVIEW; other bits are reserved and must be 0.

    For each requirement, in manifest order: a declined key gets status
    "denied". Otherwise the matching instances are those whose service equals
    the requirement's service or, for a requirement with match_tags (a bare
    string in the manifest), whose tags contain that string, and whose health
    (fk_health_of) is not critical; of these a passing one before a warning
    one, and then the one with the smallest (id, node) in byte order is
    granted (status "granted"),
    ties between identical pairs broken by the instance's sorted-key JSON. With
    no match an optional requirement is "unavailable", and a required one fails
    the composition unless FK_COMPOSE_PREVIEW is set.

    On success returns 0 and *result_p owns a fresh object (caller decrefs):
      {"instances":{KEY:{"service","identifier":"<id>@<node>","aliases":[...],
                         "challenge_key"}...},
       "statuses":{KEY:"granted"|"denied"|"unavailable"...}}
    instances holds only granted keys; both objects follow requirement order.
    aliases are copies of the instance's alias objects in their order;
    challenge_key is present only when the instance's is non-null. Equal inputs
    give byte-identical json_dumps output whatever the order of instances.

    Errors (*result_p is NULL, err holds a message; err may be NULL when
    errlen is 0, and is set to "" on success):
      FK_EUNAVAILABLE  a required requirement has no instance (not in preview):
                       "requirement 'KEY' needs service 'SERVICE', which has no
                       live instance that is not critical"
      FK_EINVAL_INPUT  "cannot decline required requirement 'KEY'", "unknown
                       requirement 'KEY'", or a malformed argument named by its
                       path ("instances[2].node: must be a string").
    result_p must not be NULL. */
int fk_compose(const json_t *manifest, const json_t *instances, const json_t *declined,
               unsigned flags, json_t **result_p, char *err, size_t errlen);

/*  The JWT audience for a composition: a fresh array (caller decrefs) holding
    "lok" followed by the identifier of each granted instance in requirement
    order, each identifier once. result comes from fk_compose and must not be
    NULL. */
json_t *fk_compose_aud(const json_t *result);

#endif
