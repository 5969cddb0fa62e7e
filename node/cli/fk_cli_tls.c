/*  fk_cli_tls - "tls ca create" and "tls cert create": the arguments and
    the messages around fk_tls_issue, which makes the keys and
    certificates. Runs once per process, on the main thread; needs no
    agent. */

#include "fk_cli.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "fk_err.h"
#include "fk_mem.h"
#include "fk_tls_issue.h"

/*  getopt_long values of the long options; above any character. */
enum { S_OPT_DIR = 256, S_OPT_DAYS, S_OPT_NAME, S_OPT_NODE, S_OPT_SAN, S_OPT_CA, S_OPT_CA_KEY };

/*  The only verb of both commands: "tls ca" and "tls cert" are the table's
    command words (main.c matches two), "create" their operand. */
#define S_VERB "create"

/*  What the command line said; strings borrowed from argv, except sans. */
typedef struct {
    const fk_cli_cmd_t *cmd; /* the command being run, for its usage */
    const char *dir;         /* --dir */
    int days;                /* --days; 0 when not given */
    const char *name;        /* --name (ca) */
    const char *node;        /* --node (cert) */
    const char *ca;          /* --ca (cert) */
    const char *ca_key;      /* --ca-key (cert) */
    char **sans;             /* --san values split at commas; owned array, each owned */
    size_t nsans;            /* entries in sans */
} s_args_t;

static int s_usage_error(const s_args_t *args, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*  Print "fakts-node: <reason>" and the command's usage on stderr; return
    EX_USAGE, as every command does (fk_cli.h). */
static int
s_usage_error(const s_args_t *args, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("fakts-node: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    fk_cli_print_usage(stderr, "usage:", args->cmd->name, args->cmd->synopsis);
    return EX_USAGE;
}

/*  --days N: a whole number from 1 to FK_TLS_MAX_DAYS. */
static int
s_parse_days(const s_args_t *args, const char *arg, int *days_p)
{
    char *end = NULL;
    errno = 0;
    long n = strtol(arg, &end, 10);
    if (arg[0] == '\0' || *end != '\0' || errno != 0 || n < 1 || n > FK_TLS_MAX_DAYS) {
        return s_usage_error(args, "--days: '%s' is not a whole number from 1 to %d", arg,
                             FK_TLS_MAX_DAYS);
    }
    *days_p = (int)n;
    return 0;
}

/*  Append each comma-separated entry of value (empty ones too, which
    fk_tls_issue refuses by name) to args->sans. */
static void
s_add_sans(s_args_t *args, const char *value)
{
    for (const char *p = value;;) {
        size_t len = strcspn(p, ",");
        args->sans = fk_realloc(args->sans, (args->nsans + 1) * sizeof(*args->sans));
        args->sans[args->nsans++] = fk_strndup(p, len);
        if (p[len] == '\0') {
            return;
        }
        p += len + 1;
    }
}

/*  Parse the options (those of options only) and the one operand,
    "create". Returns -1 to run the command, or an exit status after
    printing the usage (--help) or the usage error. */
static int
s_parse(s_args_t *args, const fk_cli_cmd_t *cmd, int argc, char **argv,
        const struct option *options)
{
    memset(args, 0, sizeof(*args));
    args->cmd = cmd;
    int noperands = 0;
    /* As fk_cli.c's parser: "-" returns operands in order, ":" lets us
       word the errors (getopt would name argv[0], the command's name). */
    opterr = 0;
    optind = 0;
    for (;;) {
        int opt = getopt_long(argc, argv, "-:h", options, NULL);
        if (opt == -1) {
            break;
        }
        int rc = 0;
        switch (opt) {
        case 1:
            if (noperands++ == 0 && strcmp(optarg, S_VERB) != 0) {
                return s_usage_error(args, "unknown command '%s %s'", cmd->name, optarg);
            }
            break;
        case 'h':
            fk_cli_print_usage(stdout, "usage:", cmd->name, cmd->synopsis);
            return EX_OK;
        case S_OPT_DIR:
            args->dir = optarg;
            break;
        case S_OPT_DAYS:
            rc = s_parse_days(args, optarg, &args->days);
            break;
        case S_OPT_NAME:
            args->name = optarg;
            break;
        case S_OPT_NODE:
            args->node = optarg;
            break;
        case S_OPT_SAN:
            s_add_sans(args, optarg);
            break;
        case S_OPT_CA:
            args->ca = optarg;
            break;
        case S_OPT_CA_KEY:
            args->ca_key = optarg;
            break;
        case ':':
            return s_usage_error(args, "option '%s' needs a value", argv[optind - 1]);
        default:
            if (strncmp(argv[optind - 1], "--", 2) == 0 || optopt == 0) {
                return s_usage_error(args, "invalid option '%s'", argv[optind - 1]);
            }
            return s_usage_error(args, "invalid option '-%c'", optopt);
        }
        if (rc != 0) {
            return rc;
        }
    }
    if (optind < argc) { /* after "--" */
        return s_usage_error(args, "unexpected argument '%s'", argv[optind]);
    }
    if (noperands == 0) {
        return s_usage_error(args, "missing '%s'", S_VERB);
    }
    if (noperands > 1) {
        return s_usage_error(args, "one operand, '%s', and no more", S_VERB);
    }
    return -1;
}

static void
s_args_fini(s_args_t *args)
{
    fk_strv_free(args->sans, args->nsans);
    memset(args, 0, sizeof(*args));
}

/*  The exit status of a failed fk_tls_* call, after printing its message:
    a bad value is a usage error (without the usage: the message names the
    value), anything else a failure. */
static int
s_failed(int rc, char *msg)
{
    fprintf(stderr, "fakts-node: %s\n", msg);
    free(msg);
    return rc == FK_EINVAL_INPUT ? EX_USAGE : 1;
}

int
fk_cli_tls_ca(const fk_cli_cmd_t *cmd, int argc, char **argv)
{
    static const struct option options[] = {
        {"dir", required_argument, NULL, S_OPT_DIR},
        {"days", required_argument, NULL, S_OPT_DAYS},
        {"name", required_argument, NULL, S_OPT_NAME},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    s_args_t args;
    int rc = s_parse(&args, cmd, argc, argv, options);
    if (rc != -1) {
        s_args_fini(&args);
        return rc;
    }
    fk_tls_ca_opts_t opts = {.dir = args.dir, .days = args.days, .name = args.name};
    fk_tls_issued_t issued;
    char *msg = NULL;
    rc = fk_tls_ca_create(&opts, &issued, &msg);
    s_args_fini(&args);
    if (rc != 0) {
        return s_failed(rc, msg);
    }
    printf("wrote %s: the CA certificate \"%s\", valid until %s\n", issued.cert_path,
           issued.subject, issued.not_after);
    printf("wrote %s: its private key (mode 0600); keep it where you make certificates, "
           "not on the nodes\n",
           issued.key_path);
    fk_tls_issued_fini(&issued);
    return EX_OK;
}

int
fk_cli_tls_cert(const fk_cli_cmd_t *cmd, int argc, char **argv)
{
    static const struct option options[] = {
        {"node", required_argument, NULL, S_OPT_NODE},
        {"san", required_argument, NULL, S_OPT_SAN},
        {"days", required_argument, NULL, S_OPT_DAYS},
        {"ca", required_argument, NULL, S_OPT_CA},
        {"ca-key", required_argument, NULL, S_OPT_CA_KEY},
        {"dir", required_argument, NULL, S_OPT_DIR},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    s_args_t args;
    int rc = s_parse(&args, cmd, argc, argv, options);
    if (rc == -1 && args.node == NULL) {
        rc = s_usage_error(&args, "missing --node NAME");
    }
    if (rc != -1) {
        s_args_fini(&args);
        return rc;
    }
    fk_tls_cert_opts_t opts = {
        .node = args.node,
        .sans = (const char *const *)args.sans,
        .nsans = args.nsans,
        .days = args.days,
        .dir = args.dir,
        .ca_cert = args.ca,
        .ca_key = args.ca_key,
    };
    fk_tls_issued_t issued;
    char *msg = NULL;
    rc = fk_tls_cert_create(&opts, &issued, &msg);
    s_args_fini(&args);
    if (rc != 0) {
        return s_failed(rc, msg);
    }
    printf("wrote %s: the certificate of %s (%s), valid until %s, then the CA certificate\n",
           issued.cert_path, issued.subject, issued.names, issued.not_after);
    printf("wrote %s: its private key (mode 0600)\n", issued.key_path);
    fk_tls_issued_fini(&issued);
    return EX_OK;
}
