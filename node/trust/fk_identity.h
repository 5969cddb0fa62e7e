/*  fk_identity - this node's keys: who it is to the rest of the cluster.

    A node has two keypairs, made at its first start and kept in
    <data-dir>/node.key (mode 0600, refused when others may read it):
    - a Curve25519 keypair for CurveZMQ (RFC 26): every gossip connection
      is encrypted to it and authenticated with it, so a peer's key, not a
      name it claims, says who is talking;
    - an Ed25519 keypair (common/fk_sign) that signs what the node says in
      the cluster: the records it owns and the claims it makes about itself.
    An admission (node/trust) binds a node name to both public keys.

    The file is JSON: {"curve_public": Z85, "curve_secret": Z85,
    "sign_secret": base64url}. It is created next to a temporary name and
    linked into place, so two agents started on one data directory never
    write each other's key, and a crash never leaves half a key behind.

    Threads: load once at start; the getters are read-only and safe from
    any thread afterwards. */

#ifndef FK_IDENTITY_H_INCLUDED
#define FK_IDENTITY_H_INCLUDED

#include "fk_sign.h"

#include <stddef.h>
#include <stdint.h>

#define FK_CURVE_KEY_LEN 32         /* bytes of a Curve25519 key */
#define FK_IDENTITY_FINGERPRINT 16  /* hex characters of a key fingerprint */
#define FK_IDENTITY_KEY_ID 64       /* hex characters of a key id */

typedef struct fk_identity fk_identity_t;

/*  Load <dir>/node.key, creating it when absent. Returns 0 and sets
    *self_p (caller destroys), FK_ECONFIG (the file is readable by group
    or others, malformed, or holds keys of the wrong size; the log says
    which and how to fix it), or -errno. */
int fk_identity_load(fk_identity_t **self_p, const char *dir);

/*  Free, wiping the secrets; sets *self_p to NULL. Safe on NULL. */
void fk_identity_destroy(fk_identity_t **self_p);

/*  The keys. Borrowed, valid while the identity lives. */
const uint8_t *fk_identity_curve_public(const fk_identity_t *self);
const uint8_t *fk_identity_curve_secret(const fk_identity_t *self);
const fk_sign_key_t *fk_identity_sign_key(const fk_identity_t *self);
const uint8_t *fk_identity_sign_public(const fk_identity_t *self);

/*  A key pair's id: lowercase hex SHA-256 of the Curve25519 public key
    followed by the Ed25519 public key (out: FK_IDENTITY_KEY_ID + 1 bytes).
    What a ban names. */
void fk_identity_key_id(const uint8_t curve[FK_CURVE_KEY_LEN],
                        const uint8_t sign[FK_SIGN_PUBLIC_LEN], char *out);

/*  The first FK_IDENTITY_FINGERPRINT characters of the key id (out:
    FK_IDENTITY_FINGERPRINT + 1 bytes): what `members` shows, enough for an
    operator to compare two nodes' keys by eye. */
void fk_identity_fingerprint(const uint8_t curve[FK_CURVE_KEY_LEN],
                             const uint8_t sign[FK_SIGN_PUBLIC_LEN], char *out);

/*  The cluster secret: 32 random bytes every node of an automated install
    holds, so they admit each other with no token typed by hand. Its file
    holds one line, "fks1." and the bytes in base64url.
    fk_cluster_secret_new returns that line (with its newline) for a fresh
    secret (caller frees). fk_cluster_secret_read reads path into secret:
    0, FK_ECONFIG (readable by group or others, or not a cluster secret:
    the log says which and how to fix it) or -errno. */
#define FK_CLUSTER_SECRET_LEN 32
#define FK_CLUSTER_SECRET_PREFIX "fks1."
char *fk_cluster_secret_new(void);
int fk_cluster_secret_read(const char *path, uint8_t secret[FK_CLUSTER_SECRET_LEN]);

/*  Z85 text (RFC 32) of a Curve25519 key into out (41 bytes) and back.
    fk_curve_from_z85 returns 0, or FK_EINVAL_INPUT for anything but 40
    valid Z85 characters. */
void fk_curve_to_z85(const uint8_t key[FK_CURVE_KEY_LEN], char out[41]);
int fk_curve_from_z85(const char *text, uint8_t key[FK_CURVE_KEY_LEN]);

#endif
