/*  fk_identity - the node's keypairs in <data-dir>/node.key. */

#include "fk_identity.h"

#include "fk_crypto.h"
#include "fk_err.h"
#include "fk_json.h"
#include "fk_log.h"
#include "fk_mem.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#define S_FILE "node.key"
#define S_MAX_FILE 4096 /* a key file is about 200 bytes */

struct fk_identity {
    uint8_t curve_public[FK_CURVE_KEY_LEN]; /* CurveZMQ public key */
    uint8_t curve_secret[FK_CURVE_KEY_LEN]; /* CurveZMQ secret key */
    fk_sign_key_t *sign_key;                /* Ed25519 key */
};

void
fk_curve_to_z85(const uint8_t key[FK_CURVE_KEY_LEN], char out[41])
{
    zmq_z85_encode(out, key, FK_CURVE_KEY_LEN);
}

int
fk_curve_from_z85(const char *text, uint8_t key[FK_CURVE_KEY_LEN])
{
    if (!text || strlen(text) != 40 || !zmq_z85_decode(key, text)) {
        return FK_EINVAL_INPUT;
    }
    return 0;
}

void
fk_identity_key_id(const uint8_t curve[FK_CURVE_KEY_LEN], const uint8_t sign[FK_SIGN_PUBLIC_LEN],
                   char *out)
{
    uint8_t both[FK_CURVE_KEY_LEN + FK_SIGN_PUBLIC_LEN];
    memcpy(both, curve, FK_CURVE_KEY_LEN);
    memcpy(both + FK_CURVE_KEY_LEN, sign, FK_SIGN_PUBLIC_LEN);
    fk_sha256_hex(both, sizeof both, out);
}

void
fk_identity_fingerprint(const uint8_t curve[FK_CURVE_KEY_LEN],
                        const uint8_t sign[FK_SIGN_PUBLIC_LEN], char *out)
{
    char id[FK_IDENTITY_KEY_ID + 1];
    fk_identity_key_id(curve, sign, id);
    memcpy(out, id, FK_IDENTITY_FINGERPRINT);
    out[FK_IDENTITY_FINGERPRINT] = '\0';
}

/*  Write a new key file at path: to a temporary name first, then link()
    into place, which fails when path exists, so a concurrent start of a
    second agent on the same directory keeps the first one's key. Returns
    0, -EEXIST (someone else made it first), or -errno. */
static int
s_create(const char *path, const char *text)
{
    char *tmp = fk_asprintf("%s.%ld.tmp", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd == -1) {
        int err = -errno;
        free(tmp);
        return err;
    }
    size_t len = strlen(text);
    int rc = write(fd, text, len) == (ssize_t)len && fsync(fd) == 0 ? 0 : -EIO;
    if (close(fd) == -1 && rc == 0) {
        rc = -errno;
    }
    if (rc == 0 && link(tmp, path) == -1) {
        rc = -errno;
    }
    unlink(tmp);
    free(tmp);
    return rc;
}

static char *
s_new_key_text(void)
{
    char curve_public[41];
    char curve_secret[41];
    if (zmq_curve_keypair(curve_public, curve_secret) != 0) {
        /*  libzmq without CURVE: Debian's links libsodium, so this is a
            broken installation, not something a caller can work around. */
        fk_error("identity: libzmq cannot make a CURVE keypair: %s", zmq_strerror(errno));
        return NULL;
    }
    uint8_t sign_secret[FK_SIGN_SECRET_LEN];
    fk_sign_key_generate(sign_secret);
    char *sign_b64 = fk_b64url_encode(sign_secret, sizeof sign_secret);
    OPENSSL_cleanse(sign_secret, sizeof sign_secret);
    json_t *doc = fk_json_must(json_pack("{s:s, s:s, s:s}", "curve_public", curve_public,
                                         "curve_secret", curve_secret, "sign_secret", sign_b64));
    char *text = fk_json_dump(doc);
    json_decref(doc);
    OPENSSL_cleanse(curve_secret, sizeof curve_secret);
    OPENSSL_cleanse(sign_b64, strlen(sign_b64));
    free(sign_b64);
    return text;
}

/*  Read the whole key file (it is small); refuse one others may read. */
static int
s_read(const char *path, char **text_p)
{
    *text_p = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd == -1) {
        return -errno;
    }
    struct stat st;
    if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
        close(fd);
        fk_error("identity: %s is not a regular file", path);
        return FK_ECONFIG;
    }
    if (st.st_mode & 077) {
        close(fd);
        fk_error("identity: %s may be read by others; run: chmod 600 %s", path, path);
        return FK_ECONFIG;
    }
    char *text = fk_malloc(S_MAX_FILE + 1);
    ssize_t got = read(fd, text, S_MAX_FILE + 1);
    close(fd);
    if (got < 0 || got > S_MAX_FILE) {
        free(text);
        fk_error("identity: cannot read %s", path);
        return FK_ECONFIG;
    }
    text[got] = '\0';
    *text_p = text;
    return 0;
}

static int
s_parse(const char *path, const char *text, fk_identity_t *self)
{
    json_t *doc = NULL;
    char err[160];
    int rc = fk_json_parse_object(text, strlen(text), &doc, err, sizeof err);
    uint8_t *sign_secret = NULL;
    size_t sign_len = 0;
    const char *sign_b64 = rc == 0 ? fk_json_str(doc, "sign_secret") : NULL;
    if (rc == 0
        && (fk_curve_from_z85(fk_json_str(doc, "curve_public"), self->curve_public) != 0
            || fk_curve_from_z85(fk_json_str(doc, "curve_secret"), self->curve_secret) != 0
            || !sign_b64
            || fk_b64url_decode(sign_b64, strlen(sign_b64), &sign_secret, &sign_len) != 0
            || sign_len != FK_SIGN_SECRET_LEN)) {
        rc = FK_ECONFIG;
    }
    if (rc == 0 && fk_sign_key_new(&self->sign_key, sign_secret) != 0) {
        rc = FK_ECONFIG;
    }
    /*  The public Curve key must be the secret one's: a hand-edited file
        that mixes two keypairs would make every peer refuse us with no
        clue why. */
    char derived[41];
    char secret_z85[41];
    fk_curve_to_z85(self->curve_secret, secret_z85);
    uint8_t public_key[FK_CURVE_KEY_LEN];
    if (rc == 0
        && (zmq_curve_public(derived, secret_z85) != 0
            || fk_curve_from_z85(derived, public_key) != 0
            || CRYPTO_memcmp(public_key, self->curve_public, FK_CURVE_KEY_LEN) != 0)) {
        rc = FK_ECONFIG;
    }
    OPENSSL_cleanse(secret_z85, sizeof secret_z85);
    if (sign_secret) {
        OPENSSL_cleanse(sign_secret, sign_len);
    }
    free(sign_secret);
    json_decref(doc);
    if (rc) {
        fk_error("identity: %s is not a valid key file (remove it to make a new key; the node "
                 "then needs a new admission)",
                 path);
        return FK_ECONFIG;
    }
    return 0;
}

int
fk_identity_load(fk_identity_t **self_p, const char *dir)
{
    *self_p = NULL;
    char *path = fk_asprintf("%s/%s", dir, S_FILE);
    char *text = NULL;
    int rc = s_read(path, &text);
    if (rc == -ENOENT) {
        char *fresh = s_new_key_text();
        rc = fresh ? s_create(path, fresh) : FK_ECONFIG;
        if (fresh) {
            OPENSSL_cleanse(fresh, strlen(fresh));
        }
        free(fresh);
        if (rc == 0) {
            fk_info("identity: made a new node key in %s", path);
        }
        if (rc == 0 || rc == -EEXIST) {
            rc = s_read(path, &text);
        }
    }
    fk_identity_t *self = fk_calloc(1, sizeof *self);
    if (rc == 0) {
        rc = s_parse(path, text, self);
    } else if (rc != FK_ECONFIG) {
        fk_error("identity: cannot use %s: %s", path, fk_strerror(rc));
    }
    if (text) {
        OPENSSL_cleanse(text, strlen(text));
    }
    free(text);
    free(path);
    if (rc) {
        fk_identity_destroy(&self);
        return rc;
    }
    *self_p = self;
    return 0;
}

void
fk_identity_destroy(fk_identity_t **self_p)
{
    if (!self_p || !*self_p) {
        return;
    }
    fk_identity_t *self = *self_p;
    OPENSSL_cleanse(self->curve_secret, sizeof self->curve_secret);
    fk_sign_key_destroy(&self->sign_key);
    free(self);
    *self_p = NULL;
}

const uint8_t *
fk_identity_curve_public(const fk_identity_t *self)
{
    return self->curve_public;
}

const uint8_t *
fk_identity_curve_secret(const fk_identity_t *self)
{
    return self->curve_secret;
}

const fk_sign_key_t *
fk_identity_sign_key(const fk_identity_t *self)
{
    return self->sign_key;
}

const uint8_t *
fk_identity_sign_public(const fk_identity_t *self)
{
    return fk_sign_key_public(self->sign_key);
}

char *
fk_cluster_secret_new(void)
{
    uint8_t secret[FK_CLUSTER_SECRET_LEN];
    /*  The Ed25519 seed generator is the CSPRNG draw we need. */
    fk_sign_key_generate(secret);
    char *b64 = fk_b64url_encode(secret, sizeof secret);
    char *line = fk_asprintf(FK_CLUSTER_SECRET_PREFIX "%s\n", b64);
    OPENSSL_cleanse(secret, sizeof secret);
    OPENSSL_cleanse(b64, strlen(b64));
    free(b64);
    return line;
}

int
fk_cluster_secret_read(const char *path, uint8_t secret[FK_CLUSTER_SECRET_LEN])
{
    char *text = NULL;
    int rc = s_read(path, &text);
    if (rc) {
        if (rc != FK_ECONFIG) {
            fk_error("identity: cannot read the cluster secret %s: %s", path, fk_strerror(rc));
        }
        return rc;
    }
    size_t len = strcspn(text, "\r\n");
    size_t prefix = strlen(FK_CLUSTER_SECRET_PREFIX);
    uint8_t *bytes = NULL;
    size_t bytes_len = 0;
    rc = len > prefix && strncmp(text, FK_CLUSTER_SECRET_PREFIX, prefix) == 0
                 && fk_b64url_decode(text + prefix, len - prefix, &bytes, &bytes_len) == 0
                 && bytes_len == FK_CLUSTER_SECRET_LEN
             ? 0
             : FK_ECONFIG;
    if (rc == 0) {
        memcpy(secret, bytes, FK_CLUSTER_SECRET_LEN);
    } else {
        fk_error("identity: %s is not a cluster secret (make one with `fakts-node keygen "
                 "--cluster-secret FILE`)",
                 path);
    }
    if (bytes) {
        OPENSSL_cleanse(bytes, bytes_len);
    }
    free(bytes);
    OPENSSL_cleanse(text, strlen(text));
    free(text);
    return rc;
}
