/*  Tests for fk_tls_issue: the CA and certificates it makes, checked with
    OpenSSL's own verifier and in TLS handshakes over a BIO pair. */

#include "fk_err.h"
#include "fk_mem.h"
#include "fk_testdir.h"
#include "fk_tls_issue.h"

#include <criterion/criterion.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char *s_dir; /* this test's directory */

static void
s_setup(void)
{
    s_dir = fk_testdir_make("tls");
}

static void
s_teardown(void)
{
    fk_testdir_remove(&s_dir);
}

TestSuite(fk_tls_issue, .init = s_setup, .fini = s_teardown);

/* ------------------------------------------------------------------------ */
/*  Helpers                                                                 */

/*  <s_dir>/<name>, fresh. */
static char *
s_path(const char *name)
{
    return fk_asprintf("%s/%s", s_dir, name);
}

/*  Whether <s_dir>/<name> exists. */
static bool
s_exists(const char *name)
{
    char *path = s_path(name);
    bool found = access(path, F_OK) == 0;
    free(path);
    return found;
}

/*  The permission bits of <s_dir>/<name>. */
static mode_t
s_mode(const char *name)
{
    char *path = s_path(name);
    struct stat st;
    cr_assert_eq(stat(path, &st), 0, "%s", path);
    free(path);
    return st.st_mode & 07777;
}

/*  Make a CA in dir (NULL: s_dir) and assert it worked. */
static void
s_make_ca(const char *dir, int days)
{
    fk_tls_ca_opts_t opts = {.dir = dir != NULL ? dir : s_dir, .days = days};
    fk_tls_issued_t issued;
    char *msg = NULL;
    int rc = fk_tls_ca_create(&opts, &issued, &msg);
    cr_assert_eq(rc, 0, "%s", msg);
    cr_assert_null(msg);
    fk_tls_issued_fini(&issued);
}

/*  Make a certificate for node with the extra names (NULL-terminated list)
    from the CA in s_dir, into s_dir. Returns the code; *msg_p the message. */
static int
s_try_cert(const char *node, const char *const *sans, int days, char **msg_p)
{
    size_t nsans = 0;
    while (sans != NULL && sans[nsans] != NULL) {
        nsans++;
    }
    fk_tls_cert_opts_t opts = {
        .node = node, .sans = sans, .nsans = nsans, .days = days, .dir = s_dir};
    fk_tls_issued_t issued;
    int rc = fk_tls_cert_create(&opts, &issued, msg_p);
    fk_tls_issued_fini(&issued);
    return rc;
}

static void
s_make_cert(const char *node, const char *const *sans)
{
    char *msg = NULL;
    int rc = s_try_cert(node, sans, 0, &msg);
    cr_assert_eq(rc, 0, "%s", msg);
}

/*  Every certificate of the PEM file <s_dir>/<name>, in order. */
static STACK_OF(X509) * s_read_certs(const char *name)
{
    char *path = s_path(name);
    FILE *file = fopen(path, "r");
    cr_assert_not_null(file, "%s", path);
    free(path);
    STACK_OF(X509) *certs = sk_X509_new_null();
    X509 *cert;
    while ((cert = PEM_read_X509(file, NULL, NULL, NULL)) != NULL) {
        sk_X509_push(certs, cert);
    }
    ERR_clear_error();
    fclose(file);
    return certs;
}

/*  The first certificate of <s_dir>/<name>. */
static X509 *
s_read_cert(const char *name)
{
    STACK_OF(X509) *certs = s_read_certs(name);
    cr_assert_geq(sk_X509_num(certs), 1);
    X509 *cert = sk_X509_shift(certs);
    sk_X509_pop_free(certs, X509_free);
    return cert;
}

static EVP_PKEY *
s_read_key(const char *name)
{
    char *path = s_path(name);
    FILE *file = fopen(path, "r");
    cr_assert_not_null(file, "%s", path);
    free(path);
    EVP_PKEY *key = PEM_read_PrivateKey(file, NULL, NULL, NULL);
    fclose(file);
    cr_assert_not_null(key);
    return key;
}

/*  The whole file's bytes, fresh. */
static char *
s_slurp(const char *name)
{
    char *path = s_path(name);
    FILE *file = fopen(path, "r");
    cr_assert_not_null(file, "%s", path);
    free(path);
    char *data = fk_calloc(1, 65536);
    size_t n = fread(data, 1, 65535, file);
    cr_assert_gt(n, 0);
    fclose(file);
    return data;
}

/*  Verify <s_dir>/<leaf> against the CA file with X509_verify_cert, for
    host (when not NULL) or ip (when not NULL) and the given purpose.
    Returns the verify result (X509_V_OK when it passes). */
static int
s_verify(const char *leaf_name, const char *ca_name, const char *host, const char *ip, int purpose)
{
    X509 *ca = s_read_cert(ca_name);
    X509 *leaf = s_read_cert(leaf_name);
    X509_STORE *store = X509_STORE_new();
    cr_assert_eq(X509_STORE_add_cert(store, ca), 1);
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    cr_assert_eq(X509_STORE_CTX_init(ctx, store, leaf, NULL), 1);
    X509_VERIFY_PARAM *param = X509_STORE_CTX_get0_param(ctx);
    if (host != NULL) {
        cr_assert_eq(X509_VERIFY_PARAM_set1_host(param, host, 0), 1);
    }
    if (ip != NULL) {
        cr_assert_eq(X509_VERIFY_PARAM_set1_ip_asc(param, ip), 1);
    }
    cr_assert_eq(X509_VERIFY_PARAM_set_purpose(param, purpose), 1);
    int ok = X509_verify_cert(ctx);
    int result = X509_STORE_CTX_get_error(ctx);
    cr_assert_eq(ok == 1, result == X509_V_OK);
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    X509_free(leaf);
    X509_free(ca);
    ERR_clear_error();
    return result;
}

/*  Seconds from notBefore to notAfter. */
static long
s_lifetime(const X509 *cert)
{
    int days = 0;
    int secs = 0;
    cr_assert_eq(ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(cert), X509_get0_notAfter(cert)),
                 1);
    return (long)days * 86400 + secs;
}

/*  The extension nid of cert, and whether it is critical. */
static void *
s_ext(X509 *cert, int nid, int *critical_p)
{
    int critical = -1;
    void *ext = X509_get_ext_d2i(cert, nid, &critical, NULL);
    cr_assert_not_null(ext, "extension %s missing", OBJ_nid2sn(nid));
    if (critical_p != NULL) {
        *critical_p = critical;
    }
    return ext;
}

static void
s_assert_p256(EVP_PKEY *key)
{
    char group[64] = "";
    size_t len = 0;
    cr_assert_eq(EVP_PKEY_get_base_id(key), EVP_PKEY_EC);
    cr_assert_eq(EVP_PKEY_get_utf8_string_param(key, "group", group, sizeof(group), &len), 1);
    cr_assert_str_eq(group, "prime256v1");
}

/* ------------------------------------------------------------------------ */
/*  The CA                                                                  */

Test(fk_tls_issue, ca_is_a_self_signed_p256_ca_with_the_consul_extensions)
{
    s_make_ca(NULL, 0);
    X509 *ca = s_read_cert(FK_TLS_CA_CERT_FILE);
    EVP_PKEY *key = s_read_key(FK_TLS_CA_KEY_FILE);
    s_assert_p256(key);
    cr_assert_eq(X509_check_private_key(ca, key), 1);
    cr_assert_eq(X509_verify(ca, key), 1, "self-signed");
    cr_assert_eq(X509_get_version(ca), X509_VERSION_3);
    cr_assert_eq(X509_check_ca(ca), 1);

    int critical = 0;
    BASIC_CONSTRAINTS *bc = s_ext(ca, NID_basic_constraints, &critical);
    cr_assert(bc->ca);
    cr_assert_eq(critical, 1);
    BASIC_CONSTRAINTS_free(bc);
    ASN1_BIT_STRING *ku = s_ext(ca, NID_key_usage, &critical);
    cr_assert_eq(critical, 1);
    cr_assert_eq(X509_get_key_usage(ca), KU_KEY_CERT_SIGN | KU_CRL_SIGN | KU_DIGITAL_SIGNATURE);
    ASN1_BIT_STRING_free(ku);
    cr_assert_not_null(X509_get0_subject_key_id(ca));

    /* Serial: positive, and of 128 random bits (so above 2^64 but for one
       chance in 2^64). */
    BIGNUM *serial = ASN1_INTEGER_to_BN(X509_get0_serialNumber(ca), NULL);
    cr_assert(!BN_is_negative(serial) && !BN_is_zero(serial));
    cr_assert_gt(BN_num_bits(serial), 64);
    cr_assert_leq(BN_num_bits(serial), 128);
    BN_free(serial);

    /* 1825 days, plus the minute notBefore is set back. */
    cr_assert_eq(s_lifetime(ca), 1825L * 86400 + 60);

    char cn[128] = "";
    X509_NAME_get_text_by_NID(X509_get_subject_name(ca), NID_commonName, cn, sizeof(cn));
    cr_assert_eq(strlen(cn), strlen("fakts-node CA ") + 8, "%s", cn);
    cr_assert_eq(strncmp(cn, "fakts-node CA ", 14), 0, "%s", cn);
    cr_assert_eq(strspn(cn + 14, "0123456789abcdef"), 8, "%s", cn);
    X509_free(ca);
    EVP_PKEY_free(key);
}

Test(fk_tls_issue, two_cas_get_different_serials_and_names)
{
    char *other = fk_testdir_make("tls-other");
    s_make_ca(NULL, 0);
    s_make_ca(other, 0);
    X509 *a = s_read_cert(FK_TLS_CA_CERT_FILE);
    char *path = fk_asprintf("%s/%s", other, FK_TLS_CA_CERT_FILE);
    FILE *file = fopen(path, "r");
    X509 *b = PEM_read_X509(file, NULL, NULL, NULL);
    fclose(file);
    free(path);
    cr_assert_neq(ASN1_INTEGER_cmp(X509_get0_serialNumber(a), X509_get0_serialNumber(b)), 0);
    cr_assert_neq(X509_NAME_cmp(X509_get_subject_name(a), X509_get_subject_name(b)), 0);
    X509_free(a);
    X509_free(b);
    fk_testdir_remove(&other);
}

Test(fk_tls_issue, ca_takes_its_name_and_days)
{
    fk_tls_ca_opts_t opts = {.dir = s_dir, .days = 30, .name = "Lab CA"};
    fk_tls_issued_t issued;
    char *msg = NULL;
    cr_assert_eq(fk_tls_ca_create(&opts, &issued, &msg), 0, "%s", msg);
    cr_assert_str_eq(issued.subject, "Lab CA");
    cr_assert_null(issued.names);
    char *want = s_path(FK_TLS_CA_CERT_FILE);
    cr_assert_str_eq(issued.cert_path, want);
    free(want);
    fk_tls_issued_fini(&issued);
    X509 *ca = s_read_cert(FK_TLS_CA_CERT_FILE);
    cr_assert_eq(s_lifetime(ca), 30L * 86400 + 60);
    char cn[64] = "";
    X509_NAME_get_text_by_NID(X509_get_subject_name(ca), NID_commonName, cn, sizeof(cn));
    cr_assert_str_eq(cn, "Lab CA");
    X509_free(ca);
}

/* ------------------------------------------------------------------------ */
/*  Certificates                                                            */

Test(fk_tls_issue, chain_verifies_for_every_name_given_and_localhost_and_no_other)
{
    s_make_ca(NULL, 0);
    const char *sans[] = {"fakts.example.com", "10.1.2.3", "fd00::5", "*.svc.example", NULL};
    s_make_cert("node1", sans);
    const char *good_hosts[] = {"node1", "fakts.example.com", "localhost", "a.svc.example",
                                "NODE1"};
    for (size_t i = 0; i < sizeof(good_hosts) / sizeof(good_hosts[0]); i++) {
        cr_assert_eq(s_verify("node1.pem", FK_TLS_CA_CERT_FILE, good_hosts[i], NULL,
                              X509_PURPOSE_SSL_SERVER),
                     X509_V_OK, "%s", good_hosts[i]);
    }
    const char *good_ips[] = {"127.0.0.1", "10.1.2.3", "fd00::5", "fd00:0:0::5"};
    for (size_t i = 0; i < sizeof(good_ips) / sizeof(good_ips[0]); i++) {
        cr_assert_eq(
            s_verify("node1.pem", FK_TLS_CA_CERT_FILE, NULL, good_ips[i], X509_PURPOSE_SSL_SERVER),
            X509_V_OK, "%s", good_ips[i]);
    }
    /* clientAuth too: the nodes may present it as clients. */
    cr_assert_eq(s_verify("node1.pem", FK_TLS_CA_CERT_FILE, "node1", NULL, X509_PURPOSE_SSL_CLIENT),
                 X509_V_OK);

    const char *bad_hosts[] = {"node2", "other.example.com", "example.com", "b.a.svc.example",
                               "10.1.2.3"};
    for (size_t i = 0; i < sizeof(bad_hosts) / sizeof(bad_hosts[0]); i++) {
        cr_assert_eq(
            s_verify("node1.pem", FK_TLS_CA_CERT_FILE, bad_hosts[i], NULL, X509_PURPOSE_SSL_SERVER),
            X509_V_ERR_HOSTNAME_MISMATCH, "%s", bad_hosts[i]);
    }
    const char *bad_ips[] = {"127.0.0.2", "10.1.2.4", "::1"};
    for (size_t i = 0; i < sizeof(bad_ips) / sizeof(bad_ips[0]); i++) {
        cr_assert_eq(
            s_verify("node1.pem", FK_TLS_CA_CERT_FILE, NULL, bad_ips[i], X509_PURPOSE_SSL_SERVER),
            X509_V_ERR_IP_ADDRESS_MISMATCH, "%s", bad_ips[i]);
    }
}

Test(fk_tls_issue, chain_does_not_verify_against_another_ca)
{
    char *other = fk_testdir_make("tls-other");
    s_make_ca(NULL, 0);
    s_make_ca(other, 0);
    s_make_cert("node1", NULL);
    char *other_ca = fk_asprintf("%s/%s", other, FK_TLS_CA_CERT_FILE);
    char *copy = fk_asprintf("cp %s %s/other-ca.pem", other_ca, s_dir);
    cr_assert_eq(system(copy), 0);
    cr_assert_eq(s_verify("node1.pem", "other-ca.pem", "node1", NULL, X509_PURPOSE_SSL_SERVER),
                 X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
    free(copy);
    free(other_ca);
    fk_testdir_remove(&other);
}

Test(fk_tls_issue, cert_has_the_leaf_extensions_and_names_each_once)
{
    s_make_ca(NULL, 0);
    /* Given again, in other forms: none is added twice. */
    const char *sans[] = {"LOCALHOST", "127.0.0.1", "node1", "10.0.0.1", "10.0.0.1", NULL};
    fk_tls_cert_opts_t opts = {.node = "node1", .sans = sans, .nsans = 5, .dir = s_dir};
    fk_tls_issued_t issued;
    char *msg = NULL;
    cr_assert_eq(fk_tls_cert_create(&opts, &issued, &msg), 0, "%s", msg);
    cr_assert_str_eq(issued.names, "DNS:node1, DNS:LOCALHOST, IP:127.0.0.1, IP:10.0.0.1");
    cr_assert_str_eq(issued.subject, "node1");
    fk_tls_issued_fini(&issued);

    X509 *leaf = s_read_cert("node1.pem");
    X509 *ca = s_read_cert(FK_TLS_CA_CERT_FILE);
    EVP_PKEY *key = s_read_key("node1-key.pem");
    s_assert_p256(key);
    cr_assert_eq(X509_check_private_key(leaf, key), 1);
    cr_assert_eq(X509_check_issued(ca, leaf), X509_V_OK);

    GENERAL_NAMES *names = s_ext(leaf, NID_subject_alt_name, NULL);
    cr_assert_eq(sk_GENERAL_NAME_num(names), 4);
    GENERAL_NAMES_free(names);

    int critical = 0;
    BASIC_CONSTRAINTS *bc = s_ext(leaf, NID_basic_constraints, &critical);
    cr_assert(!bc->ca);
    BASIC_CONSTRAINTS_free(bc);
    cr_assert_eq(X509_check_ca(leaf), 0);
    ASN1_BIT_STRING *ku = s_ext(leaf, NID_key_usage, &critical);
    cr_assert_eq(critical, 1);
    ASN1_BIT_STRING_free(ku);
    cr_assert_eq(X509_get_key_usage(leaf), KU_DIGITAL_SIGNATURE);
    EXTENDED_KEY_USAGE *eku = s_ext(leaf, NID_ext_key_usage, &critical);
    cr_assert_eq(critical, 0);
    EXTENDED_KEY_USAGE_free(eku);
    cr_assert_eq(X509_get_extended_key_usage(leaf), XKU_SSL_SERVER | XKU_SSL_CLIENT);

    const ASN1_OCTET_STRING *ski = X509_get0_subject_key_id(leaf);
    const ASN1_OCTET_STRING *aki = X509_get0_authority_key_id(leaf);
    cr_assert_not_null(ski);
    cr_assert_not_null(aki);
    cr_assert_eq(ASN1_OCTET_STRING_cmp(aki, X509_get0_subject_key_id(ca)), 0);
    cr_assert_neq(ASN1_OCTET_STRING_cmp(ski, aki), 0);

    cr_assert_eq(s_lifetime(leaf), 365L * 86400 + 60);
    cr_assert_neq(ASN1_INTEGER_cmp(X509_get0_serialNumber(leaf), X509_get0_serialNumber(ca)), 0);
    X509_free(leaf);
    X509_free(ca);
    EVP_PKEY_free(key);
}

Test(fk_tls_issue, cert_file_holds_the_leaf_then_the_ca)
{
    s_make_ca(NULL, 0);
    s_make_cert("node1", NULL);
    STACK_OF(X509) *chain = s_read_certs("node1.pem");
    cr_assert_eq(sk_X509_num(chain), 2);
    X509 *ca = s_read_cert(FK_TLS_CA_CERT_FILE);
    cr_assert_eq(X509_cmp(sk_X509_value(chain, 1), ca), 0);
    char cn[64] = "";
    X509_NAME_get_text_by_NID(X509_get_subject_name(sk_X509_value(chain, 0)), NID_commonName, cn,
                              sizeof(cn));
    cr_assert_str_eq(cn, "node1");
    sk_X509_pop_free(chain, X509_free);
    X509_free(ca);
}

Test(fk_tls_issue, keys_are_0600_and_certificates_0644)
{
    mode_t old = umask(022);
    s_make_ca(NULL, 0);
    s_make_cert("node1", NULL);
    umask(old);
    cr_assert_eq(s_mode(FK_TLS_CA_KEY_FILE), 0600);
    cr_assert_eq(s_mode("node1-key.pem"), 0600);
    cr_assert_eq(s_mode(FK_TLS_CA_CERT_FILE), 0644);
    cr_assert_eq(s_mode("node1.pem"), 0644);
}

/* ------------------------------------------------------------------------ */
/*  Refusals                                                                */

Test(fk_tls_issue, existing_files_are_never_overwritten)
{
    s_make_ca(NULL, 0);
    s_make_cert("node1", NULL);
    char *ca_before = s_slurp(FK_TLS_CA_CERT_FILE);
    char *ca_key_before = s_slurp(FK_TLS_CA_KEY_FILE);
    char *cert_before = s_slurp("node1.pem");

    fk_tls_ca_opts_t opts = {.dir = s_dir};
    fk_tls_issued_t issued;
    char *msg = NULL;
    cr_assert_eq(fk_tls_ca_create(&opts, &issued, &msg), FK_EEXISTS);
    cr_assert_not_null(strstr(msg, FK_TLS_CA_KEY_FILE), "%s", msg);
    cr_assert_not_null(strstr(msg, "exists"), "%s", msg);
    cr_assert_null(issued.cert_path);
    free(msg);
    msg = NULL;
    cr_assert_eq(s_try_cert("node1", NULL, 0, &msg), FK_EEXISTS);
    cr_assert_not_null(strstr(msg, "node1-key.pem"), "%s", msg);
    free(msg);

    char *ca_after = s_slurp(FK_TLS_CA_CERT_FILE);
    char *ca_key_after = s_slurp(FK_TLS_CA_KEY_FILE);
    char *cert_after = s_slurp("node1.pem");
    cr_assert_str_eq(ca_after, ca_before);
    cr_assert_str_eq(ca_key_after, ca_key_before);
    cr_assert_str_eq(cert_after, cert_before);
    free(ca_before);
    free(ca_key_before);
    free(cert_before);
    free(ca_after);
    free(ca_key_after);
    free(cert_after);
}

Test(fk_tls_issue, one_existing_file_leaves_no_half_pair_behind)
{
    s_make_ca(NULL, 0);
    /* Only the certificate's name is taken (a symbolic link to nowhere
       counts: O_EXCL never follows one). */
    char *taken = s_path("node1.pem");
    cr_assert_eq(symlink("/nonexistent/target", taken), 0);
    free(taken);
    char *msg = NULL;
    cr_assert_eq(s_try_cert("node1", NULL, 0, &msg), FK_EEXISTS);
    cr_assert_not_null(strstr(msg, "node1.pem"), "%s", msg);
    free(msg);
    cr_assert(!s_exists("node1-key.pem"), "the key made before the refusal was removed");
    cr_assert_eq(access("/nonexistent/target", F_OK), -1);
}

Test(fk_tls_issue, a_key_that_is_not_the_cas_is_refused)
{
    char *other = fk_testdir_make("tls-other");
    s_make_ca(NULL, 0);
    s_make_ca(other, 0);
    char *other_key = fk_asprintf("%s/%s", other, FK_TLS_CA_KEY_FILE);
    fk_tls_cert_opts_t opts = {.node = "node1", .dir = s_dir, .ca_key = other_key};
    fk_tls_issued_t issued;
    char *msg = NULL;
    cr_assert_eq(fk_tls_cert_create(&opts, &issued, &msg), FK_ECONFIG);
    cr_assert_not_null(strstr(msg, "not the key"), "%s", msg);
    cr_assert_not_null(strstr(msg, other_key), "%s", msg);
    free(msg);
    cr_assert(!s_exists("node1.pem"));
    cr_assert(!s_exists("node1-key.pem"));
    free(other_key);
    fk_testdir_remove(&other);
}

Test(fk_tls_issue, a_certificate_that_is_not_a_ca_is_refused)
{
    s_make_ca(NULL, 0);
    s_make_cert("leaf", NULL);
    char *leaf = s_path("leaf.pem");
    char *leaf_key = s_path("leaf-key.pem");
    fk_tls_cert_opts_t opts = {.node = "node1", .dir = s_dir, .ca_cert = leaf, .ca_key = leaf_key};
    fk_tls_issued_t issued;
    char *msg = NULL;
    cr_assert_eq(fk_tls_cert_create(&opts, &issued, &msg), FK_ECONFIG);
    cr_assert_not_null(strstr(msg, "not a CA certificate"), "%s", msg);
    free(msg);
    cr_assert(!s_exists("node1.pem"));
    cr_assert(!s_exists("node1-key.pem"));
    free(leaf);
    free(leaf_key);
}

Test(fk_tls_issue, an_encrypted_ca_key_is_refused_without_a_prompt)
{
    s_make_ca(NULL, 0);
    EVP_PKEY *key = s_read_key(FK_TLS_CA_KEY_FILE);
    char *path = s_path("enc-key.pem");
    FILE *file = fopen(path, "w");
    static const unsigned char pass[] = "secret";
    cr_assert_eq(PEM_write_PrivateKey(file, key, EVP_aes_256_cbc(), pass, 6, NULL, NULL), 1);
    fclose(file);
    EVP_PKEY_free(key);
    fk_tls_cert_opts_t opts = {.node = "node1", .dir = s_dir, .ca_key = path};
    fk_tls_issued_t issued;
    char *msg = NULL;
    cr_assert_eq(fk_tls_cert_create(&opts, &issued, &msg), FK_ECONFIG);
    cr_assert_not_null(strstr(msg, "encrypted"), "%s", msg);
    free(msg);
    free(path);
}

Test(fk_tls_issue, missing_ca_files_are_named)
{
    char *msg = NULL;
    cr_assert_eq(s_try_cert("node1", NULL, 0, &msg), -ENOENT);
    cr_assert_not_null(strstr(msg, FK_TLS_CA_CERT_FILE), "%s", msg);
    free(msg);
    fk_tls_ca_opts_t opts = {.dir = "/nonexistent/dir"};
    fk_tls_issued_t issued;
    cr_assert_eq(fk_tls_ca_create(&opts, &issued, &msg), -ENOENT);
    cr_assert_not_null(strstr(msg, "--dir /nonexistent/dir"), "%s", msg);
    free(msg);
}

Test(fk_tls_issue, a_certificate_may_not_outlive_its_ca)
{
    s_make_ca(NULL, 10);
    char *msg = NULL;
    cr_assert_eq(s_try_cert("node1", NULL, 0, &msg), FK_EINVAL_INPUT);
    cr_assert_not_null(strstr(msg, "would outlive the CA"), "%s", msg);
    free(msg);
    msg = NULL;
    cr_assert_eq(s_try_cert("node1", NULL, 11, &msg), FK_EINVAL_INPUT);
    /* 10 days less the time since the CA was made: 9 or 10 whole days. */
    cr_assert(strstr(msg, "--days 9 or fewer") != NULL || strstr(msg, "--days 10 or fewer") != NULL,
              "%s", msg);
    free(msg);
    cr_assert(!s_exists("node1.pem"));
    msg = NULL;
    cr_assert_eq(s_try_cert("node1", NULL, 9, &msg), 0, "%s", msg);
}

Test(fk_tls_issue, bad_names_and_days_are_refused)
{
    s_make_ca(NULL, 0);
    const char *nodes[] = {"", "a/b", "../x", "a b", "-x", "a..b", "a.", "*.x", "n\n"};
    for (size_t i = 0; i < sizeof(nodes) / sizeof(nodes[0]); i++) {
        char *msg = NULL;
        cr_assert_eq(s_try_cert(nodes[i], NULL, 0, &msg), FK_EINVAL_INPUT, "'%s'", nodes[i]);
        cr_assert_not_null(strstr(msg, "--node"), "%s", msg);
        free(msg);
    }
    const char *bad_sans[] = {"",         "1.2.3", "256.1.1.1", "fe80::1%eth0",
                              "exa mple", "a:b",   "x/y",       "a.*.b"};
    for (size_t i = 0; i < sizeof(bad_sans) / sizeof(bad_sans[0]); i++) {
        const char *sans[] = {"ok.example", bad_sans[i], NULL};
        char *msg = NULL;
        cr_assert_eq(s_try_cert("node1", sans, 0, &msg), FK_EINVAL_INPUT, "'%s'", bad_sans[i]);
        cr_assert_not_null(strstr(msg, "--san"), "%s", msg);
        free(msg);
    }
    const int days[] = {-1, FK_TLS_MAX_DAYS + 1};
    for (size_t i = 0; i < 2; i++) {
        char *msg = NULL;
        cr_assert_eq(s_try_cert("node1", NULL, days[i], &msg), FK_EINVAL_INPUT);
        free(msg);
    }
    cr_assert(!s_exists("node1.pem"));
    char long_cn[66];
    memset(long_cn, 'x', 65); /* one byte more than RFC 5280's ub-common-name */
    long_cn[65] = '\0';
    fk_tls_ca_opts_t opts = {.dir = s_dir, .name = long_cn};
    fk_tls_issued_t issued;
    char *msg = NULL;
    cr_assert_eq(fk_tls_ca_create(&opts, &issued, &msg), FK_EINVAL_INPUT);
    free(msg);
}

/* ------------------------------------------------------------------------ */
/*  TLS handshakes                                                          */

/*  A server and a client SSL joined by a BIO pair, in memory. The server
    sends <s_dir>/node1.pem with node1-key.pem; the client trusts only
    <s_dir>/<trust> and checks the name host. With mutual, the server asks
    for the client's certificate too (the same one) and checks it against
    fakts-ca.pem. Returns whether both ends completed the handshake;
    *verify_p gets the client's verify result. */
static bool
s_handshake(const char *trust, const char *host, bool mutual, long *verify_p)
{
    char *chain = s_path("node1.pem");
    char *key = s_path("node1-key.pem");
    char *ca = s_path(trust);
    char *own_ca = s_path(FK_TLS_CA_CERT_FILE);

    SSL_CTX *server_ctx = SSL_CTX_new(TLS_server_method());
    cr_assert_eq(SSL_CTX_use_certificate_chain_file(server_ctx, chain), 1);
    cr_assert_eq(SSL_CTX_use_PrivateKey_file(server_ctx, key, SSL_FILETYPE_PEM), 1);
    cr_assert_eq(SSL_CTX_check_private_key(server_ctx), 1);
    if (mutual) {
        cr_assert_eq(SSL_CTX_load_verify_locations(server_ctx, own_ca, NULL), 1);
        SSL_CTX_set_verify(server_ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    }
    SSL_CTX *client_ctx = SSL_CTX_new(TLS_client_method());
    cr_assert_eq(SSL_CTX_load_verify_locations(client_ctx, ca, NULL), 1);
    SSL_CTX_set_verify(client_ctx, SSL_VERIFY_PEER, NULL);
    if (mutual) {
        cr_assert_eq(SSL_CTX_use_certificate_chain_file(client_ctx, chain), 1);
        cr_assert_eq(SSL_CTX_use_PrivateKey_file(client_ctx, key, SSL_FILETYPE_PEM), 1);
    }

    SSL *server = SSL_new(server_ctx);
    SSL *client = SSL_new(client_ctx);
    /* An IP address here is checked as one (OpenSSL 3's SSL_set1_host). */
    cr_assert_eq(SSL_set1_host(client, host), 1);
    BIO *client_bio = NULL;
    BIO *server_bio = NULL;
    cr_assert_eq(BIO_new_bio_pair(&client_bio, 0, &server_bio, 0), 1);
    SSL_set_bio(client, client_bio, client_bio);
    SSL_set_bio(server, server_bio, server_bio);
    SSL_set_connect_state(client);
    SSL_set_accept_state(server);

    /* Each side runs until it waits for the other; a side that failed
       stops the loop. TLS 1.3 with a client certificate takes three
       flights, so 16 rounds are plenty. */
    bool client_done = false;
    bool server_done = false;
    bool failed = false;
    for (int round = 0; round < 16 && !failed && !(client_done && server_done); round++) {
        if (!client_done) {
            int rc = SSL_do_handshake(client);
            client_done = rc == 1;
            failed = rc != 1 && SSL_get_error(client, rc) != SSL_ERROR_WANT_READ;
        }
        if (!server_done && !failed) {
            int rc = SSL_do_handshake(server);
            server_done = rc == 1;
            failed = rc != 1 && SSL_get_error(server, rc) != SSL_ERROR_WANT_READ;
        }
    }
    /* A server that completed TLS 1.3 may still have a client alert
       pending; the client's own view decides. */
    *verify_p = SSL_get_verify_result(client);
    bool ok = client_done && server_done;
    if (ok && mutual) {
        cr_assert_eq(SSL_get_verify_result(server), X509_V_OK);
        X509 *peer = SSL_get1_peer_certificate(server);
        cr_assert_not_null(peer);
        X509_free(peer);
    }
    ERR_clear_error();
    SSL_free(client);
    SSL_free(server);
    SSL_CTX_free(client_ctx);
    SSL_CTX_free(server_ctx);
    free(chain);
    free(key);
    free(ca);
    free(own_ca);
    return ok;
}

Test(fk_tls_issue, tls_handshake_completes_for_a_client_trusting_only_the_ca)
{
    s_make_ca(NULL, 0);
    const char *sans[] = {"fakts.example.com", NULL};
    s_make_cert("node1", sans);
    const char *hosts[] = {"node1", "fakts.example.com", "localhost", "127.0.0.1"};
    for (size_t i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++) {
        long verify = -1;
        cr_assert(s_handshake(FK_TLS_CA_CERT_FILE, hosts[i], false, &verify), "%s", hosts[i]);
        cr_assert_eq(verify, X509_V_OK);
    }
    long verify = -1;
    cr_assert(s_handshake(FK_TLS_CA_CERT_FILE, "node1", true, &verify), "mutual TLS");
    cr_assert_eq(verify, X509_V_OK);
}

Test(fk_tls_issue, tls_handshake_fails_for_another_ca_or_another_name)
{
    char *other = fk_testdir_make("tls-other");
    s_make_ca(NULL, 0);
    s_make_ca(other, 0);
    s_make_cert("node1", NULL);
    char *copy = fk_asprintf("cp %s/%s %s/other-ca.pem", other, FK_TLS_CA_CERT_FILE, s_dir);
    cr_assert_eq(system(copy), 0);
    free(copy);
    long verify = -1;
    cr_assert(!s_handshake("other-ca.pem", "node1", false, &verify));
    /* The server sends our CA after the leaf: a root the client does not
       trust. */
    cr_assert_eq(verify, X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN);
    verify = -1;
    cr_assert(!s_handshake(FK_TLS_CA_CERT_FILE, "node2", false, &verify));
    cr_assert_eq(verify, X509_V_ERR_HOSTNAME_MISMATCH);
    fk_testdir_remove(&other);
}
