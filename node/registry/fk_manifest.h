/*  fk_manifest - validate an app manifest and reduce it to one canonical form.

    An app presents a manifest when it asks for configuration (fakts-protocol.md
    section 2). Three client generations send three shapes: fakts-next 4.x (v1)
    sends every field of its model with nulls, fakts 6.x (v2) adds author,
    entrypoint and device_id, and the npm client sends only version, identifier
    and logo. fk_manifest_parse accepts all of them, ignores keys it does not
    know, and produces one canonical JSON object that the rest of the node
    stores, hashes and composes against (fk_compose.h).

    Everything here is a pure function of its arguments: no I/O, no global
    state. Inputs are only read (never increfed), so concurrent calls may share
    them. Allocation failure aborts (fk_mem.h). */

#ifndef FK_MANIFEST_H_INCLUDED
#define FK_MANIFEST_H_INCLUDED

#include <stddef.h>

#include <jansson.h>

#include "fk_crypto.h"

/*  Limits, in Unicode characters (code points) for strings. */
#define FK_MANIFEST_IDENTIFIER_MAX 255  /* identifier: 1..255, no '/' */
#define FK_MANIFEST_VERSION_MAX 100     /* version: 1..100 */
#define FK_MANIFEST_SCOPES_MAX 64       /* entries in scopes */
#define FK_MANIFEST_SCOPE_MAX 128       /* characters in one scope */
#define FK_MANIFEST_REQUIREMENTS_MAX 64 /* entries in requirements */
#define FK_MANIFEST_KEY_MAX 255         /* requirement key and service: 1..255 */
#define FK_MANIFEST_SOURCES_MAX 64      /* entries in public_sources */

/*  Validate a manifest and build its canonical form.

    Accepted input (a JSON object; any key not listed is ignored):
      identifier     string, 1..255 characters, no '/'            required
      version        string, 1..100 characters                    required
      title, description, logo, license, homepage, repo_url
                     string or null                               default null
      node_id        string or null; device_id is an alias. When both are
                     strings they must be equal.                  default null
      scopes         array of at most 64 unique non-empty strings of at most
                     128 characters, or null                      default []
      requirements   array of at most 64 entries, or null         default []
                     Each entry is either an object
                       {key: string, service: string, optional: bool|null,
                        description: string|null, match_tags: bool|null}
                     (key and service required, 1..255 characters; optional
                     and match_tags default to false), or a bare string s,
                     which stands for {key: s, service: s, optional: false,
                     description: null, match_tags: true}: it is satisfied by
                     instances of service s and by instances tagged s.
                     Keys are unique.
      public_sources array of at most 64 objects {kind, url} with kind
                     "github" or "website" and url a non-empty string, or null
                                                                  default null
    No string may contain a NUL character.

    The canonical form is a fresh object with exactly these keys in this order:
      {"identifier","version","title","description","logo","license","homepage",
       "repo_url","node_id","scopes","requirements","public_sources"}
    with each requirement as {"key","service","optional","description",
    "match_tags"} and each public source as {"kind","url"}. List order is kept
    as given. The canonical form is a fixed point: parsing it again yields an
    equal canonical form.

    On success returns 0 and *canonical_p owns the canonical object (caller
    decrefs). On invalid input returns FK_EINVAL_INPUT, sets *canonical_p to
    NULL and writes "<path>: <reason>" into err, e.g. "identifier: required",
    "scopes[1]: must be a string", "requirements[3].key: duplicate key
    'rekuest'", "manifest: must be a JSON object". err may be NULL when errlen
    is 0; it is truncated to errlen and set to "" on success. manifest may be
    NULL (reported as not an object); canonical_p must not be NULL. */
int fk_manifest_parse(const json_t *manifest, json_t **canonical_p, char *err, size_t errlen);

/*  Write the identity hash of a canonical manifest into out: the lowercase hex
    SHA-256 of its compact, key-sorted JSON dump, taken after sorting scopes,
    requirements (by key) and public_sources (by kind, then url) in byte order.
    Two manifests are "the same manifest" (fakts-protocol.md section 2) exactly
    when their hashes are equal: reordering a list keeps the hash, changing any
    recognised field changes it. canonical must come from fk_manifest_parse
    and is not modified; neither argument may be NULL. */
void fk_manifest_hash(const json_t *canonical, char out[FK_SHA256_HEX_LEN + 1]);

#endif
