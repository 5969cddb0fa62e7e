/*  fk_tls_issue - a private CA and the certificates it signs, with
    OpenSSL 3's C API. Runs once per command, on the caller's thread. */

#include "fk_tls_issue.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "fk_crypto.h"
#include "fk_err.h"
#include "fk_mem.h"

/*  RFC 5280's upper bound on a CN (ub-common-name), and RFC 1035's on a
    host name and on one of its labels. */
#define S_MAX_CN 64
#define S_MAX_HOST 253
#define S_MAX_LABEL 63

/*  How far notBefore is set back: clocks across a cluster disagree a
    little, and a certificate "not yet valid" on a node that is a few
    seconds behind would fail every handshake there until it caught up. */
#define S_BACKDATE_SECONDS 60

/*  Bytes of the serial number: 128 random bits (RFC 5280 4.1.2.2 asks for
    a positive number of at most 20 octets; CA/B Forum for 64 random bits
    at least). */
#define S_SERIAL_BYTES 16

/* ------------------------------------------------------------------------ */
/*  Messages                                                                */

static int s_fail(char **err_p, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/*  Set *err_p to the message and return rc. */
static int
s_fail(char **err_p, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = NULL;
    int len = vasprintf(&msg, fmt, ap);
    va_end(ap);
    if (len < 0) {
        fk_oom("s_fail");
    }
    *err_p = msg;
    return rc;
}

/*  OpenSSL's reason for the failure just seen (a static string), and an
    empty error queue for the next call. */
static const char *
s_ssl_reason(void)
{
    unsigned long code = ERR_peek_last_error();
    const char *reason = code != 0 ? ERR_reason_error_string(code) : NULL;
    ERR_clear_error();
    return reason != NULL ? reason : "unknown OpenSSL error";
}

/* ------------------------------------------------------------------------ */
/*  Names                                                                   */

/*  Whether s is a host name: dot-separated labels of letters, digits, '-'
    and '_' (1..63 bytes each, 253 in all), none starting or ending with
    '-'. With wildcard, the first label may be "*" (a certificate for every
    name one level under the rest, as X509_check_host matches it). */
static bool
s_is_host(const char *s, bool wildcard)
{
    size_t len = strlen(s);
    if (len == 0 || len > S_MAX_HOST) {
        return false;
    }
    if (wildcard && strncmp(s, "*.", 2) == 0) {
        s += 2;
    }
    for (;;) {
        size_t label =
            strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_");
        if (label == 0 || label > S_MAX_LABEL || s[0] == '-' || s[label - 1] == '-') {
            return false;
        }
        s += label;
        if (*s == '\0') {
            return true;
        }
        if (*s != '.') {
            return false;
        }
        s++;
    }
}

/*  One subjectAltName entry: an IP address (4 or 16 octets) or a host name. */
typedef struct {
    bool ip;                /* an iPAddress, else a dNSName */
    unsigned char addr[16]; /* the address octets when ip */
    int addr_len;           /* 4 or 16 when ip */
    const char *text;       /* the name as given; borrowed */
} s_name_t;

/*  Read one --san entry into *name. Anything of digits and dots, or with a
    ':', is meant as an address and must parse as one; the rest must be a
    host name. Returns 0 or FK_EINVAL_INPUT with the message. */
static int
s_name_parse(const char *text, s_name_t *name, char **err_p)
{
    memset(name, 0, sizeof(*name));
    name->text = text;
    ASN1_OCTET_STRING *ip = a2i_IPADDRESS(text);
    if (ip != NULL) {
        name->ip = true;
        name->addr_len = ASN1_STRING_length(ip);
        memcpy(name->addr, ASN1_STRING_get0_data(ip), (size_t)name->addr_len);
        ASN1_OCTET_STRING_free(ip);
        return 0;
    }
    ERR_clear_error();
    if (text[0] == '\0') {
        return s_fail(err_p, FK_EINVAL_INPUT, "--san: an empty name");
    }
    if (strchr(text, ':') != NULL || text[strspn(text, "0123456789.")] == '\0') {
        return s_fail(err_p, FK_EINVAL_INPUT, "--san: '%s' is not an IP address", text);
    }
    if (!s_is_host(text, true)) {
        return s_fail(err_p, FK_EINVAL_INPUT,
                      "--san: '%s' is neither an IP address nor a host name", text);
    }
    return 0;
}

/*  Whether two entries name the same thing (host names without case). */
static bool
s_name_equal(const s_name_t *a, const s_name_t *b)
{
    if (a->ip != b->ip) {
        return false;
    }
    if (a->ip) {
        return a->addr_len == b->addr_len && memcmp(a->addr, b->addr, (size_t)a->addr_len) == 0;
    }
    return strcasecmp(a->text, b->text) == 0;
}

/*  Append name to the GENERAL_NAMES and to the printed list, unless an
    equal one is in seen[0..nseen). Returns whether it was added. */
static bool
s_name_add(GENERAL_NAMES *names, fk_buf_t *shown, const s_name_t *name, const s_name_t *seen,
           size_t nseen)
{
    for (size_t i = 0; i < nseen; i++) {
        if (s_name_equal(&seen[i], name)) {
            return false;
        }
    }
    GENERAL_NAME *gen = GENERAL_NAME_new();
    if (gen == NULL) {
        fk_oom("GENERAL_NAME_new");
    }
    if (name->ip) {
        ASN1_OCTET_STRING *octets = ASN1_OCTET_STRING_new();
        if (octets == NULL || ASN1_OCTET_STRING_set(octets, name->addr, name->addr_len) != 1) {
            fk_oom("ASN1_OCTET_STRING_set");
        }
        GENERAL_NAME_set0_value(gen, GEN_IPADD, octets);
    } else {
        ASN1_IA5STRING *dns = ASN1_IA5STRING_new();
        if (dns == NULL || ASN1_STRING_set(dns, name->text, -1) != 1) {
            fk_oom("ASN1_STRING_set");
        }
        GENERAL_NAME_set0_value(gen, GEN_DNS, dns);
    }
    if (sk_GENERAL_NAME_push(names, gen) == 0) {
        fk_oom("sk_GENERAL_NAME_push");
    }
    if (shown->len > 0) {
        fk_buf_add(shown, ", ", 2);
    }
    fk_buf_add(shown, name->ip ? "IP:" : "DNS:", name->ip ? 3 : 4);
    fk_buf_add(shown, name->text, strlen(name->text));
    return true;
}

/* ------------------------------------------------------------------------ */
/*  Files                                                                   */

/*  dir joined with file; dir NULL is ".". */
static char *
s_path(const char *dir, const char *file)
{
    if (dir == NULL) {
        dir = ".";
    }
    size_t len = strlen(dir);
    return fk_asprintf("%s%s%s", dir, len > 0 && dir[len - 1] == '/' ? "" : "/", file);
}

/*  Check that dir (NULL: ".") is a directory, so a missing one is named
    as such rather than through the first file in it. */
static int
s_check_dir(const char *dir, char **err_p)
{
    struct stat st;
    if (dir == NULL) {
        return 0;
    }
    if (stat(dir, &st) != 0) {
        return s_fail(err_p, -errno, "--dir %s: %s", dir, fk_strerror(-errno));
    }
    if (!S_ISDIR(st.st_mode)) {
        return s_fail(err_p, -ENOTDIR, "--dir %s: %s", dir, fk_strerror(-ENOTDIR));
    }
    return 0;
}

/*  Write all of len bytes and make them durable. Returns 0 or -errno. */
static int
s_write_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -errno;
        }
        data += n;
        len -= (size_t)n;
    }
    return fsync(fd) == 0 ? 0 : -errno;
}

/*  The bytes a memory BIO holds. */
static size_t
s_bio_bytes(BIO *bio, const char **data_p)
{
    char *data = NULL;
    long len = BIO_get_mem_data(bio, &data);
    *data_p = data;
    return len > 0 ? (size_t)len : 0;
}

/*  Create the key file (0600) and the certificate file (0644), both with
    O_EXCL, and only then write them, so an existing file stops the run
    before anything is written; any failure removes what this run created.
    cert and key are memory BIOs holding the PEM text. */
static int
s_write_pair(const char *cert_path, BIO *cert, const char *key_path, BIO *key, char **err_p)
{
    const char *paths[2] = {key_path, cert_path};
    const mode_t modes[2] = {0600, 0644};
    BIO *bios[2] = {key, cert};
    int fds[2] = {-1, -1};
    int rc = 0;
    for (int i = 0; i < 2 && rc == 0; i++) {
        fds[i] = open(paths[i], O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, modes[i]);
        if (fds[i] == -1) {
            rc = errno == EEXIST ? s_fail(err_p, FK_EEXISTS,
                                          "%s: exists already (nothing is overwritten: "
                                          "remove it or pick another --dir)",
                                          paths[i])
                                 : s_fail(err_p, -errno, "%s: %s", paths[i], fk_strerror(-errno));
        }
    }
    for (int i = 0; i < 2 && rc == 0; i++) {
        const char *data;
        size_t len = s_bio_bytes(bios[i], &data);
        int wrc = s_write_all(fds[i], data, len);
        if (wrc != 0) {
            rc = s_fail(err_p, wrc, "%s: %s", paths[i], fk_strerror(wrc));
        }
    }
    for (int i = 0; i < 2; i++) {
        if (fds[i] == -1) {
            continue;
        }
        close(fds[i]);
        if (rc != 0) {
            unlink(paths[i]); /* ours: O_EXCL created it */
        }
    }
    return rc;
}

/*  A PEM callback that never supplies a passphrase: without it OpenSSL
    would prompt on the terminal for an encrypted key. */
static int
s_no_passphrase(char *buf, int size, int rwflag, void *arg)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)arg;
    return 0;
}

/*  Read the first PEM certificate of path. */
static int
s_read_cert(const char *path, X509 **cert_p, char **err_p)
{
    *cert_p = NULL;
    FILE *file = fopen(path, "re");
    if (file == NULL) {
        return s_fail(err_p, -errno, "%s: %s", path, fk_strerror(-errno));
    }
    *cert_p = PEM_read_X509(file, NULL, s_no_passphrase, NULL);
    fclose(file);
    if (*cert_p == NULL) {
        return s_fail(err_p, FK_ECONFIG, "%s: no PEM certificate in it (%s)", path, s_ssl_reason());
    }
    return 0;
}

/*  Read the PEM private key of path. */
static int
s_read_key(const char *path, EVP_PKEY **key_p, char **err_p)
{
    *key_p = NULL;
    FILE *file = fopen(path, "re");
    if (file == NULL) {
        return s_fail(err_p, -errno, "%s: %s", path, fk_strerror(-errno));
    }
    *key_p = PEM_read_PrivateKey(file, NULL, s_no_passphrase, NULL);
    fclose(file);
    if (*key_p == NULL) {
        return s_fail(err_p, FK_ECONFIG,
                      "%s: no PEM private key in it (encrypted keys are not supported: %s)", path,
                      s_ssl_reason());
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/*  Certificates                                                            */

/*  A time as "YYYY-MM-DD HH:MM:SS UTC". */
static char *
s_time_text(const ASN1_TIME *when)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    char text[32] = "?";
    if (ASN1_TIME_to_tm(when, &tm) == 1) {
        strftime(text, sizeof(text), "%Y-%m-%d %H:%M:%S UTC", &tm);
    }
    return fk_strdup(text);
}

/*  A new certificate with a fresh P-256 key: version 3, a random serial,
    the subject CN, validity from a minute ago for days. *key_p receives
    the key. */
static int
s_new_cert(const char *cn, int days, X509 **cert_p, EVP_PKEY **key_p, char **err_p)
{
    *cert_p = NULL;
    *key_p = EVP_EC_gen("P-256");
    if (*key_p == NULL) {
        return s_fail(err_p, FK_ECRYPTO, "cannot make an EC P-256 key: %s", s_ssl_reason());
    }
    X509 *cert = X509_new();
    if (cert == NULL) {
        fk_oom("X509_new");
    }
    /*  All 128 bits random: BN_to_ASN1_INTEGER encodes a positive
        number, with a leading zero octet when the top bit is set (17
        octets; RFC 5280 allows 20). Zero, one chance in 2^128, is drawn
        again, since a serial must be positive. */
    unsigned char serial[S_SERIAL_BYTES];
    unsigned char any = 0;
    while (any == 0) {
        if (RAND_bytes(serial, (int)sizeof(serial)) != 1) {
            X509_free(cert);
            return s_fail(err_p, FK_ECRYPTO, "cannot draw a serial number: %s", s_ssl_reason());
        }
        for (size_t i = 0; i < sizeof(serial); i++) {
            any |= serial[i];
        }
    }
    BIGNUM *bn = BN_bin2bn(serial, (int)sizeof(serial), NULL);
    ASN1_INTEGER *number = bn != NULL ? BN_to_ASN1_INTEGER(bn, NULL) : NULL;
    X509_NAME *subject = X509_NAME_new();
    time_t now = time(NULL); /* one reading for both ends of the validity */
    int ok = number != NULL && subject != NULL && X509_set_version(cert, X509_VERSION_3) == 1
             && X509_set_serialNumber(cert, number) == 1
             && X509_time_adj_ex(X509_getm_notBefore(cert), 0, -S_BACKDATE_SECONDS, &now) != NULL
             && X509_time_adj_ex(X509_getm_notAfter(cert), days, 0, &now) != NULL
             && X509_set_pubkey(cert, *key_p) == 1;
    /*  MBSTRING_UTF8: the CN goes in as UTF8String, checked for encoding. */
    int name_ok = ok
                  && X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_UTF8,
                                                (const unsigned char *)cn, -1, -1, 0)
                         == 1;
    BN_free(bn);
    ASN1_INTEGER_free(number);
    if (!ok) {
        X509_NAME_free(subject);
        X509_free(cert);
        return s_fail(err_p, FK_ECRYPTO, "cannot build the certificate: %s", s_ssl_reason());
    }
    if (!name_ok || X509_set_subject_name(cert, subject) != 1) {
        X509_NAME_free(subject);
        X509_free(cert);
        return s_fail(err_p, FK_EINVAL_INPUT, "'%s' cannot be a certificate's name: %s", cn,
                      s_ssl_reason());
    }
    X509_NAME_free(subject);
    *cert_p = cert;
    return 0;
}

/*  An extension as openssl-x509v3(5) writes its value. */
typedef struct {
    int nid;           /* NID_basic_constraints, ... */
    const char *value; /* "critical,CA:TRUE", ... */
} s_ext_t;

/*  Add the extensions; ctx names the subject and issuer for the key
    identifiers. */
static int
s_add_exts(X509 *cert, X509V3_CTX *ctx, const s_ext_t *exts, size_t nexts, char **err_p)
{
    for (size_t i = 0; i < nexts; i++) {
        X509_EXTENSION *ext = X509V3_EXT_nconf_nid(NULL, ctx, exts[i].nid, exts[i].value);
        int ok = ext != NULL && X509_add_ext(cert, ext, -1) == 1;
        X509_EXTENSION_free(ext);
        if (!ok) {
            return s_fail(err_p, FK_ECRYPTO, "cannot add %s %s: %s", OBJ_nid2sn(exts[i].nid),
                          exts[i].value, s_ssl_reason());
        }
    }
    return 0;
}

/*  Sign cert with key, PEM-encode the certificate (then extra, when not
    NULL) and the key into fresh memory BIOs (the key's a secure one,
    cleared when freed), and write both files. Fills out's paths and
    not_after. */
static int
s_sign_and_write(X509 *cert, EVP_PKEY *signer, EVP_PKEY *key, X509 *extra, const char *cert_path,
                 const char *key_path, fk_tls_issued_t *out, char **err_p)
{
    if (X509_sign(cert, signer, EVP_sha256()) == 0) {
        return s_fail(err_p, FK_ECRYPTO, "cannot sign the certificate: %s", s_ssl_reason());
    }
    BIO *cert_pem = BIO_new(BIO_s_mem());
    BIO *key_pem = BIO_new(BIO_s_secmem());
    if (cert_pem == NULL || key_pem == NULL) {
        fk_oom("BIO_new");
    }
    int rc = 0;
    if (PEM_write_bio_X509(cert_pem, cert) != 1
        || (extra != NULL && PEM_write_bio_X509(cert_pem, extra) != 1)
        || PEM_write_bio_PrivateKey(key_pem, key, NULL, NULL, 0, NULL, NULL) != 1) {
        rc = s_fail(err_p, FK_ECRYPTO, "cannot encode PEM: %s", s_ssl_reason());
    } else {
        rc = s_write_pair(cert_path, cert_pem, key_path, key_pem, err_p);
    }
    BIO_free(cert_pem);
    BIO_free(key_pem);
    if (rc == 0) {
        out->cert_path = fk_strdup(cert_path);
        out->key_path = fk_strdup(key_path);
        out->not_after = s_time_text(X509_get0_notAfter(cert));
    }
    return rc;
}

/*  days, or dflt when 0, within 1..FK_TLS_MAX_DAYS. */
static int
s_days(int days, int dflt, int *out_p, char **err_p)
{
    *out_p = days == 0 ? dflt : days;
    if (*out_p < 1 || *out_p > FK_TLS_MAX_DAYS) {
        return s_fail(err_p, FK_EINVAL_INPUT, "--days: %d is not from 1 to %d", days,
                      FK_TLS_MAX_DAYS);
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/*  The CA                                                                  */

int
fk_tls_ca_create(const fk_tls_ca_opts_t *opts, fk_tls_issued_t *out, char **err_p)
{
    memset(out, 0, sizeof(*out));
    *err_p = NULL;
    ERR_clear_error();
    int days;
    int rc = s_days(opts->days, FK_TLS_CA_DAYS, &days, err_p);
    if (rc == 0) {
        rc = s_check_dir(opts->dir, err_p);
    }
    if (rc != 0) {
        return rc;
    }
    char *cn;
    if (opts->name != NULL) {
        size_t len = strlen(opts->name);
        if (len == 0 || len > S_MAX_CN) {
            return s_fail(err_p, FK_EINVAL_INPUT, "--name: a CN has 1 to %d bytes, not %zu",
                          S_MAX_CN, len);
        }
        cn = fk_strdup(opts->name);
    } else {
        char *tag = fk_random_hex(8);
        cn = fk_asprintf("fakts-node CA %s", tag);
        free(tag);
    }

    X509 *cert = NULL;
    EVP_PKEY *key = NULL;
    char *cert_path = s_path(opts->dir, FK_TLS_CA_CERT_FILE);
    char *key_path = s_path(opts->dir, FK_TLS_CA_KEY_FILE);
    rc = s_new_cert(cn, days, &cert, &key, err_p);
    if (rc == 0 && X509_set_issuer_name(cert, X509_get_subject_name(cert)) != 1) {
        rc = s_fail(err_p, FK_ECRYPTO, "cannot set the issuer: %s", s_ssl_reason());
    }
    if (rc == 0) {
        /*  digitalSignature besides the two a CA needs: Consul's CA has it,
            and it lets the CA key sign OCSP answers or a TLS handshake
            should anyone want that; it widens nothing a leaf can do. */
        static const s_ext_t exts[] = {
            {NID_basic_constraints, "critical,CA:TRUE"},
            {NID_key_usage, "critical,keyCertSign,cRLSign,digitalSignature"},
            {NID_subject_key_identifier, "hash"},
        };
        X509V3_CTX ctx;
        X509V3_set_ctx(&ctx, cert, cert, NULL, NULL, 0);
        rc = s_add_exts(cert, &ctx, exts, sizeof(exts) / sizeof(exts[0]), err_p);
    }
    if (rc == 0) {
        rc = s_sign_and_write(cert, key, key, NULL, cert_path, key_path, out, err_p);
    }
    if (rc == 0) {
        out->subject = cn;
        cn = NULL;
    }
    free(cn);
    free(cert_path);
    free(key_path);
    X509_free(cert);
    EVP_PKEY_free(key);
    return rc;
}

/* ------------------------------------------------------------------------ */
/*  A certificate                                                           */

/*  Check that ca is a CA certificate valid now, that key is its key, and
    that a certificate valid for days more would not outlive it. */
static int
s_check_ca(X509 *ca, EVP_PKEY *key, int days, const char *ca_path, const char *key_path,
           char **err_p)
{
    /*  X509_check_ca is 1 only for basicConstraints CA:TRUE with a
        keyUsage (if any) that allows keyCertSign; a v1 root (3), a Netscape
        cert type (4/5) or an end entity (0) would be refused by every
        verifier as the issuer of our leaf anyway. */
    if (X509_check_ca(ca) != 1) {
        return s_fail(err_p, FK_ECONFIG,
                      "%s: not a CA certificate (it needs basicConstraints CA:TRUE and, with a "
                      "keyUsage, keyCertSign)",
                      ca_path);
    }
    if (X509_check_private_key(ca, key) != 1) {
        ERR_clear_error();
        return s_fail(err_p, FK_ECONFIG, "%s: not the key of the CA certificate %s", key_path,
                      ca_path);
    }
    time_t now = time(NULL);
    if (X509_cmp_time(X509_get0_notBefore(ca), &now) > 0) {
        char *when = s_time_text(X509_get0_notBefore(ca));
        int rc = s_fail(err_p, FK_ECONFIG, "%s: the CA is not valid before %s", ca_path, when);
        free(when);
        return rc;
    }
    int left_days = 0;
    int left_secs = 0;
    if (ASN1_TIME_diff(&left_days, &left_secs, NULL, X509_get0_notAfter(ca)) != 1) {
        return s_fail(err_p, FK_ECONFIG, "%s: unreadable validity: %s", ca_path, s_ssl_reason());
    }
    if (left_days < 0 || (left_days == 0 && left_secs <= 0)) {
        char *when = s_time_text(X509_get0_notAfter(ca));
        int rc = s_fail(err_p, FK_ECONFIG, "%s: the CA expired on %s", ca_path, when);
        free(when);
        return rc;
    }
    if (days > left_days) {
        char *when = s_time_text(X509_get0_notAfter(ca));
        int rc = left_days < 1
                     ? s_fail(err_p, FK_ECONFIG, "%s: the CA expires on %s, in less than a day",
                              ca_path, when)
                     : s_fail(err_p, FK_EINVAL_INPUT,
                              "--days %d: the certificate would outlive the CA (valid until "
                              "%s); give --days %d or fewer",
                              days, when, left_days);
        free(when);
        return rc;
    }
    return 0;
}

/*  The subjectAltName: DNS:node, the extra names, DNS:localhost,
    IP:127.0.0.1, each once. *shown_p gets them as printed text. */
static int
s_sans(const fk_tls_cert_opts_t *opts, GENERAL_NAMES **names_p, char **shown_p, char **err_p)
{
    *names_p = NULL;
    *shown_p = NULL;
    size_t total = opts->nsans + 3;
    s_name_t *all = fk_calloc(total, sizeof(*all));
    size_t n = 0;
    all[n++] = (s_name_t){.text = opts->node}; /* a host name: checked by the caller */
    int rc = 0;
    for (size_t i = 0; i < opts->nsans && rc == 0; i++) {
        rc = s_name_parse(opts->sans[i], &all[n++], err_p);
    }
    if (rc == 0) {
        rc = s_name_parse("localhost", &all[n++], err_p);
    }
    if (rc == 0) {
        rc = s_name_parse("127.0.0.1", &all[n++], err_p);
    }
    if (rc != 0) {
        free(all);
        return rc;
    }
    GENERAL_NAMES *names = sk_GENERAL_NAME_new_null();
    if (names == NULL) {
        fk_oom("sk_GENERAL_NAME_new_null");
    }
    fk_buf_t shown = {0};
    for (size_t i = 0; i < n; i++) {
        s_name_add(names, &shown, &all[i], all, i);
    }
    free(all);
    *names_p = names;
    *shown_p = fk_buf_take(&shown);
    return 0;
}

int
fk_tls_cert_create(const fk_tls_cert_opts_t *opts, fk_tls_issued_t *out, char **err_p)
{
    memset(out, 0, sizeof(*out));
    *err_p = NULL;
    ERR_clear_error();
    int days;
    int rc = s_days(opts->days, FK_TLS_CERT_DAYS, &days, err_p);
    if (rc != 0) {
        return rc;
    }
    const char *node = opts->node != NULL ? opts->node : "";
    if (node[0] == '\0') {
        return s_fail(err_p, FK_EINVAL_INPUT, "--node: an empty name");
    }
    if (strchr(node, '/') != NULL) {
        return s_fail(err_p, FK_EINVAL_INPUT, "--node: '%s' has a '/' (it names files)", node);
    }
    if (!s_is_host(node, false) || strlen(node) > S_MAX_CN) {
        return s_fail(err_p, FK_EINVAL_INPUT,
                      "--node: '%s' is not a host name (letters, digits, '-', '_' and dots; "
                      "at most 64 bytes)",
                      node);
    }
    rc = s_check_dir(opts->dir, err_p);
    if (rc != 0) {
        return rc;
    }
    GENERAL_NAMES *names = NULL;
    char *shown = NULL;
    rc = s_sans(opts, &names, &shown, err_p);
    if (rc != 0) {
        return rc;
    }

    char *ca_path =
        opts->ca_cert != NULL ? fk_strdup(opts->ca_cert) : s_path(opts->dir, FK_TLS_CA_CERT_FILE);
    char *ca_key_path =
        opts->ca_key != NULL ? fk_strdup(opts->ca_key) : s_path(opts->dir, FK_TLS_CA_KEY_FILE);
    char *file = fk_asprintf("%s.pem", node);
    char *cert_path = s_path(opts->dir, file);
    free(file);
    file = fk_asprintf("%s-key.pem", node);
    char *key_path = s_path(opts->dir, file);
    free(file);

    X509 *ca = NULL;
    EVP_PKEY *ca_key = NULL;
    X509 *cert = NULL;
    EVP_PKEY *key = NULL;
    rc = s_read_cert(ca_path, &ca, err_p);
    if (rc == 0) {
        rc = s_read_key(ca_key_path, &ca_key, err_p);
    }
    if (rc == 0) {
        rc = s_check_ca(ca, ca_key, days, ca_path, ca_key_path, err_p);
    }
    if (rc == 0) {
        rc = s_new_cert(node, days, &cert, &key, err_p);
    }
    if (rc == 0 && X509_set_issuer_name(cert, X509_get_subject_name(ca)) != 1) {
        rc = s_fail(err_p, FK_ECRYPTO, "cannot set the issuer: %s", s_ssl_reason());
    }
    if (rc == 0
        && X509_add1_ext_i2d(cert, NID_subject_alt_name, names, 0, X509V3_ADD_DEFAULT) != 1) {
        rc = s_fail(err_p, FK_ECRYPTO, "cannot add the subjectAltName: %s", s_ssl_reason());
    }
    if (rc == 0) {
        /*  No keyEncipherment: an EC key never encrypts a premaster secret
            (that is RSA key exchange), so ECDHE with ECDSA needs only
            digitalSignature. keyid,issuer: the CA's subjectKeyIdentifier
            when it has one (ours always do), its name and serial otherwise. */
        static const s_ext_t exts[] = {
            {NID_basic_constraints, "critical,CA:FALSE"},
            {NID_key_usage, "critical,digitalSignature"},
            {NID_ext_key_usage, "serverAuth,clientAuth"},
            {NID_subject_key_identifier, "hash"},
            {NID_authority_key_identifier, "keyid,issuer"},
        };
        X509V3_CTX ctx;
        X509V3_set_ctx(&ctx, ca, cert, NULL, NULL, 0);
        rc = s_add_exts(cert, &ctx, exts, sizeof(exts) / sizeof(exts[0]), err_p);
    }
    if (rc == 0) {
        rc = s_sign_and_write(cert, ca_key, key, ca, cert_path, key_path, out, err_p);
    }
    if (rc == 0) {
        out->subject = fk_strdup(node);
        out->names = shown;
        shown = NULL;
    }
    free(shown);
    GENERAL_NAMES_free(names);
    free(ca_path);
    free(ca_key_path);
    free(cert_path);
    free(key_path);
    X509_free(ca);
    EVP_PKEY_free(ca_key);
    X509_free(cert);
    EVP_PKEY_free(key);
    return rc;
}

void
fk_tls_issued_fini(fk_tls_issued_t *issued)
{
    free(issued->cert_path);
    free(issued->key_path);
    free(issued->subject);
    free(issued->names);
    free(issued->not_after);
    memset(issued, 0, sizeof(*issued));
}
