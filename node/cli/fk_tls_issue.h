/*  fk_tls_issue - a private certificate authority and the server
    certificates it signs, for installs without a public CA ("fakts-node tls
    ca create", "fakts-node tls cert create"; docs/CLI.md).

    Both functions make a fresh EC P-256 key, build an X.509 v3 certificate
    with OpenSSL 3 (a random positive 128-bit serial, SHA-256 signature,
    valid from one minute ago, so a node whose clock is a little behind
    already accepts it), and write two PEM files into a directory:

      fk_tls_ca_create    <dir>/fakts-ca.pem      the self-signed CA
                          <dir>/fakts-ca-key.pem  its key (PKCS#8, unencrypted)
                          basicConstraints critical CA:TRUE; keyUsage critical
                          keyCertSign, cRLSign, digitalSignature;
                          subjectKeyIdentifier.
      fk_tls_cert_create  <dir>/<node>.pem        the certificate, then the CA
                                                  certificate (a chain a server
                                                  sends as it is)
                          <dir>/<node>-key.pem    its key
                          CN <node>; subjectAltName DNS:<node>, each extra
                          name (IPv4 and IPv6 addresses as iPAddress, host
                          names as dNSName), DNS:localhost, IP:127.0.0.1 (no
                          name twice); extendedKeyUsage serverAuth,
                          clientAuth; keyUsage critical digitalSignature;
                          basicConstraints critical CA:FALSE;
                          subjectKeyIdentifier; authorityKeyIdentifier.

    Files. Both files of a run are created with O_CREAT | O_EXCL (so an
    existing file, or a symbolic link, is never written through) before
    either is written; the key file with mode 0600, the certificate with
    0644 (both less the umask). A run that fails removes the files it
    created and leaves every other file alone. The directory must exist.

    Errors. Each function returns 0, or a negative code with *err_p set to
    a fresh one-line message for a person that names the file or value at
    fault (the caller frees it; *err_p is NULL on success):
      FK_EINVAL_INPUT  a bad option value: days outside 1..FK_TLS_MAX_DAYS,
                       an empty or over-long CN, a node name that is not a
                       host name (empty, '/', spaces, ...), an extra name
                       that is neither an IP address nor a host name; or a
                       certificate that would outlive its CA
      FK_EEXISTS       an output file exists already (the message names it)
      FK_ECONFIG       the CA files do not make a usable CA: the certificate
                       is not a CA's (no CA:TRUE, or keyUsage without
                       keyCertSign), has expired, expires within a day
                       or is not valid yet, the
                       key does not belong to it, or a file holds no PEM
                       certificate or key (an encrypted key counts as none:
                       nothing ever prompts for a passphrase)
      -errno           a file could not be opened, read or written (-ENOENT
                       for a missing CA file or directory, -EACCES, -ENOSPC)
      FK_ECRYPTO       OpenSSL failed to make a key or sign
    Allocation failure aborts (fk_mem.h).

    Threads: the functions keep no state of their own; OpenSSL 3 is
    thread-safe, so they may run on any thread, but two runs writing into
    the same directory race for the file names (one gets FK_EEXISTS). */

#ifndef FK_TLS_ISSUE_H_INCLUDED
#define FK_TLS_ISSUE_H_INCLUDED

#include <stddef.h>

/*  File names inside the directory. */
#define FK_TLS_CA_CERT_FILE "fakts-ca.pem"
#define FK_TLS_CA_KEY_FILE "fakts-ca-key.pem"

/*  Default validity in days: a CA (five years, as Consul's), a certificate. */
#define FK_TLS_CA_DAYS 1825
#define FK_TLS_CERT_DAYS 365

/*  The longest validity accepted, in days (100 years). */
#define FK_TLS_MAX_DAYS 36500

/*  What fk_tls_ca_create makes. Zero-initialise and set what you need;
    every field may be left 0/NULL. */
typedef struct {
    const char *dir;  /* where the files go; NULL: "." */
    int days;         /* validity; 0: FK_TLS_CA_DAYS */
    const char *name; /* subject CN (UTF-8, 1..64 bytes); NULL: "fakts-node CA <8 random hex>" */
} fk_tls_ca_opts_t;

/*  What fk_tls_cert_create makes. node is required; the rest may be 0/NULL. */
typedef struct {
    const char *node;        /* CN, first DNS name and file name prefix: a host name */
    const char *const *sans; /* extra names, nsans of them; NULL when nsans is 0 */
    size_t nsans;            /* how many in sans */
    int days;                /* validity; 0: FK_TLS_CERT_DAYS */
    const char *dir;         /* where the files go; NULL: "." */
    const char *ca_cert;     /* the CA certificate (its first PEM certificate);
                                NULL: <dir>/fakts-ca.pem */
    const char *ca_key;      /* the CA's private key; NULL: <dir>/fakts-ca-key.pem */
} fk_tls_cert_opts_t;

/*  What a run wrote, for the caller to print. Every string is owned;
    fk_tls_issued_fini frees them. */
typedef struct {
    char *cert_path; /* the certificate file as written ("DIR/NAME.pem") */
    char *key_path;  /* the key file */
    char *subject;   /* the subject CN */
    char *names;     /* the subjectAltName, "DNS:a, IP:127.0.0.1"; NULL for a CA */
    char *not_after; /* end of validity, "YYYY-MM-DD HH:MM:SS UTC" */
} fk_tls_issued_t;

/*  Make a CA key and its self-signed certificate (see above). opts and
    out must not be NULL; on success *out is filled (the caller calls
    fk_tls_issued_fini), on failure it is zeroed. */
int fk_tls_ca_create(const fk_tls_ca_opts_t *opts, fk_tls_issued_t *out, char **err_p);

/*  Make a key and a certificate signed by the CA of opts->ca_cert and
    opts->ca_key (see above). The CA files are checked before anything is
    written. Same out and err_p contract as fk_tls_ca_create. */
int fk_tls_cert_create(const fk_tls_cert_opts_t *opts, fk_tls_issued_t *out, char **err_p);

/*  Free what *issued owns and zero it. Safe on a zeroed struct. */
void fk_tls_issued_fini(fk_tls_issued_t *issued);

#endif
