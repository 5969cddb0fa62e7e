/*  fk_cli - the operator commands of fakts-node. Each runs once per process,
    on the main thread: parse, find the agent, ask it, print, exit. */

#include "fk_cli.h"
#include "fk_cli_priv.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>
#include <unistd.h>

#include <jansson.h>

#include "fk_client.h"
#include "fk_err.h"
#include "fk_identity.h"
#include "fk_json.h"
#include "fk_mem.h"

#include <openssl/crypto.h>

/*  Where a command looks when nothing else says (docs/CLI.md). */
#define S_DEFAULT_DATA_DIR "./fakts-data"
#define S_DEFAULT_ADDR "127.0.0.1:8520"

/*  Size limits for what a command reads from disk: a service definition
    (the agent refuses anything over its --max-body anyway, but the limit
    is the agent's to state), and the agent's small files. */
#define S_MAX_FILE ((size_t)16 * 1024 * 1024)
#define S_MAX_SMALL ((size_t)64 * 1024)

#define S_MAX_OPERANDS FK__CLI_MAX_OPERANDS
#define S_CONTINUE FK__CLI_CONTINUE

/*  Columns a usage line is wrapped before. */
#define S_USAGE_WIDTH 80

/*  getopt_long values of the long options; above any character. */
enum {
    S_OPT_HTTP_ADDR = 256,
    S_OPT_DATA_DIR,
    S_OPT_CA_FILE,
    S_OPT_JSON,
    S_OPT_LOCAL,
    S_OPT_ALL,
    S_OPT_WAIT,
    S_OPT_CONSISTENT,
    S_OPT_DECLINE,
    S_OPT_EXPIRES_IN_DAYS,
    S_OPT_MAX_REDEMPTIONS,
    S_OPT_TOKEN,
    S_OPT_BAN,
    S_OPT_TTL,
    S_OPT_USES,
    S_OPT_CLUSTER_SECRET
};

/*  The options every command takes (docs/CLI.md); s_parse adds each
    command's own after them. */
static const struct option s_global_options[] = {
    {"http-addr", required_argument, NULL, S_OPT_HTTP_ADDR},
    {"data-dir", required_argument, NULL, S_OPT_DATA_DIR},
    {"ca-file", required_argument, NULL, S_OPT_CA_FILE},
    {"json", no_argument, NULL, S_OPT_JSON},
    {"help", no_argument, NULL, 'h'},
};

/*  Room for the global options, a command's own, and the terminator. */
#define S_MAX_OPTIONS 16

/*  One command's run and its option handler (fk_cli_priv.h). */
typedef fk__cli_ctx_t s_ctx_t;
typedef fk__cli_opt_fn s_opt_fn;

/*  A table printed with aligned columns, each row optionally followed by
    free lines (the requirement lines of "codes"). */
typedef struct {
    size_t ncols; /* cells per row */
    size_t nrows; /* rows stored, header included */
    size_t cap;   /* rows allocated */
    char **cells; /* nrows * ncols strings, row-major; owned */
    char **after; /* per row: text printed after it, or NULL; owned */
} s_table_t;

/* ------------------------------------------------------------------------ */
/*  Messages and usage                                                      */

static void s_vfail(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

/*  Print "fakts-node: <reason>" on stderr. */
static void
s_vfail(const char *fmt, va_list ap)
{
    fputs("fakts-node: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

static void s_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
s_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    s_vfail(fmt, ap);
    va_end(ap);
}

/*  Length of the usage token starting at s: up to the next space outside
    brackets, so "[--decline KEY]..." is one token. */
static size_t
s_token_len(const char *s)
{
    size_t len = 0;
    int depth = 0;
    for (; s[len] != '\0'; len++) {
        if (s[len] == '[') {
            depth++;
        } else if (s[len] == ']' && depth > 0) {
            depth--;
        } else if (s[len] == ' ' && depth == 0) {
            break;
        }
    }
    return len;
}

/*  Print the tokens of words after column *col, wrapping to indent. */
static void
s_print_tokens(FILE *out, const char *words, size_t *col, size_t indent)
{
    const char *p = words;
    for (;;) {
        while (*p == ' ') {
            p++;
        }
        if (*p == '\0') {
            return;
        }
        size_t len = s_token_len(p);
        if (*col > indent && *col + 1 + len > S_USAGE_WIDTH) {
            fprintf(out, "\n%*s", (int)indent, "");
            *col = indent;
        } else {
            fputc(' ', out);
            (*col)++;
        }
        fprintf(out, "%.*s", (int)len, p);
        *col += len;
        p += len;
    }
}

void
fk_cli_print_usage(FILE *out, const char *lead, const char *name, const char *synopsis)
{
    fprintf(out, "%s fakts-node", lead);
    size_t col = strlen(lead) + strlen(" fakts-node");
    s_print_tokens(out, name, &col, col + 1);
    /* Continuation lines start under the synopsis' first token. */
    size_t indent = col + 1;
    s_print_tokens(out, synopsis, &col, indent);
    fputc('\n', out);
}

/*  A command's own usage: its name, the global options, its synopsis. */
static void
s_print_cmd_usage(FILE *out, const fk_cli_cmd_t *cmd)
{
    char *synopsis = fk_asprintf("%s %s", FK_CLI_GLOBAL_SYNOPSIS, cmd->synopsis);
    fk_cli_print_usage(out, "usage:", cmd->name, synopsis);
    free(synopsis);
}

static int s_usage_error(const s_ctx_t *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int s_vusage_error(const s_ctx_t *ctx, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

/*  Print the reason and the command's usage on stderr; return EX_USAGE. */
static int
s_vusage_error(const s_ctx_t *ctx, const char *fmt, va_list ap)
{
    s_vfail(fmt, ap);
    s_print_cmd_usage(stderr, ctx->cmd);
    return EX_USAGE;
}

static int
s_usage_error(const s_ctx_t *ctx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = s_vusage_error(ctx, fmt, ap);
    va_end(ap);
    return rc;
}

/* ------------------------------------------------------------------------ */
/*  Arguments                                                               */

/*  Whether arg names --http-addr, --data-dir or --ca-file, whole or abbreviated as
    getopt_long accepts, without "=value": then the next word is its value. */
static int
s_takes_value(const char *arg)
{
    static const char *const names[] = {"--http-addr", "--data-dir", "--ca-file"};
    size_t len = strlen(arg);
    if (len <= 2 || strchr(arg, '=') != NULL) {
        return 0;
    }
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strncmp(names[i], arg, len) == 0) {
            return 1;
        }
    }
    return 0;
}

int
fk_cli_find_words(int argc, char **argv, int *index, int max)
{
    int n = 0;
    for (int i = 1; i < argc && n < max; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--") == 0) {
            break;
        }
        if (arg[0] == '-' && arg[1] != '\0') {
            if (s_takes_value(arg)) {
                i++;
            }
            continue;
        }
        index[n++] = i;
    }
    return n;
}

/*  Parse a command's arguments: the global options, the command's own
    (own_options, NULL-terminated or NULL; each one found is passed to own), and the operands
   named by operand (NULL: none; "A B": two; "A [B]": one or two; "X...": one or more). Returns S_CONTINUE to run the
   command, or an exit status (after printing the usage for --help or a usage error). Allocates
   nothing. */
static int
s_parse(s_ctx_t *ctx, const fk_cli_cmd_t *cmd, int argc, char **argv,
        const struct option *own_options, const char *operand, s_opt_fn *own, void *data)
{
    memset(ctx, 0, sizeof(*ctx));
    ctx->cmd = cmd;

    struct option options[S_MAX_OPTIONS];
    size_t n = 0;
    for (size_t i = 0; i < sizeof(s_global_options) / sizeof(s_global_options[0]); i++) {
        options[n++] = s_global_options[i];
    }
    for (size_t i = 0; own_options != NULL && own_options[i].name != NULL; i++) {
        assert(n < S_MAX_OPTIONS - 1); /* a command with too many options is a bug */
        options[n++] = own_options[i];
    }
    memset(&options[n], 0, sizeof(options[n]));

    /* "-" first: operands come back in order as option 1, so operands and
       options mix freely whatever POSIXLY_CORRECT says; ":" next: we print
       the errors ourselves, since getopt would name argv[0], which is the
       command's name here and not the program's. */
    opterr = 0;
    optind = 0; /* glibc: 0 starts a fresh scan */
    for (;;) {
        int opt = getopt_long(argc, argv, "-:h", options, NULL);
        if (opt == -1) {
            break;
        }
        switch (opt) {
        case 1:
            if (ctx->noperands < S_MAX_OPERANDS) {
                ctx->operands[ctx->noperands] = optarg;
            }
            ctx->noperands++;
            break;
        case 'h':
            s_print_cmd_usage(stdout, cmd);
            return EX_OK;
        case S_OPT_HTTP_ADDR:
            ctx->http_addr = optarg;
            break;
        case S_OPT_DATA_DIR:
            ctx->data_dir = optarg;
            break;
        case S_OPT_CA_FILE:
            ctx->ca_file = optarg;
            break;
        case S_OPT_JSON:
            ctx->json = 1;
            break;
        case ':':
            return s_usage_error(ctx, "option '%s' needs a value", argv[optind - 1]);
        case '?':
            /* A bad long option is the word just consumed; a bad short one
               may sit inside a cluster ("-xh"), so name it by optopt. */
            if (strncmp(argv[optind - 1], "--", 2) == 0 || optopt == 0) {
                return s_usage_error(ctx, "invalid option '%s'", argv[optind - 1]);
            }
            return s_usage_error(ctx, "invalid option '-%c'", optopt);
        default: {
            int rc = own != NULL ? own(ctx, opt, optarg, data) : 0;
            if (rc != 0) {
                return rc;
            }
            break;
        }
        }
    }
    /* After "--" everything left is an operand, even "-x". */
    for (; optind < argc; optind++) {
        if (ctx->noperands < S_MAX_OPERANDS) {
            ctx->operands[ctx->noperands] = argv[optind];
        }
        ctx->noperands++;
    }

    /*  "A B" names two operands, both required; "A [B]" one or two. */
    int want = 0;
    int required = 0;
    for (const char *p = operand; p != NULL; p = strchr(p + 1, ' ')) {
        want++;
        required += p[p == operand ? 0 : 1] != '[';
    }
    /*  An operand named "X..." takes one or more. */
    bool many = operand != NULL && strstr(operand, "...") != NULL;
    if (operand != NULL && ctx->noperands < required) {
        /* operand != NULL is implied by want > 0; saying it lets GCC 12 at -O3
           see that "%s" never receives NULL (-Wformat-overflow). */
        return s_usage_error(ctx, "missing %s", operand);
    }
    if (many && ctx->noperands > S_MAX_OPERANDS) {
        return s_usage_error(ctx, "at most %d %s", S_MAX_OPERANDS, operand);
    }
    if (!many && ctx->noperands > want) {
        return s_usage_error(ctx, "unexpected argument '%s'", ctx->operands[want]);
    }
    return S_CONTINUE;
}

/*  Parse a count given to option name: a decimal integer, 1..INT_MAX. */
static int
s_parse_count(const s_ctx_t *ctx, const char *name, const char *arg, long long *value)
{
    char *end = NULL;
    errno = 0;
    long long n = strtoll(arg, &end, 10);
    if (arg[0] == '\0' || *end != '\0' || errno != 0 || n < 1 || n > INT_MAX) {
        return s_usage_error(ctx, "%s: '%s' is not a positive whole number", name, arg);
    }
    *value = n;
    return 0;
}

/* ------------------------------------------------------------------------ */
/*  Finding the agent and the token                                         */

/*  Read at most max bytes of the file at path ("-": stdin) into a fresh
    NUL-terminated buffer. Returns 0, -errno, or FK_ETOOBIG. */
static int
s_read_file(const char *path, size_t max, char **data_p, size_t *size_p)
{
    *data_p = NULL;
    *size_p = 0;
    int fd = strcmp(path, "-") == 0 ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        return -errno;
    }
    size_t cap = 4096;
    size_t size = 0;
    char *data = fk_malloc(cap);
    int rc = 0;
    for (;;) {
        if (size == cap - 1) {
            if (cap - 1 > max) {
                rc = FK_ETOOBIG;
                break;
            }
            cap *= 2;
            data = fk_realloc(data, cap);
        }
        ssize_t n = read(fd, data + size, cap - 1 - size);
        if (n == -1) {
            if (errno == EINTR) {
                continue;
            }
            rc = -errno;
            break;
        }
        if (n == 0) {
            break;
        }
        size += (size_t)n;
    }
    if (rc == 0 && size > max) {
        rc = FK_ETOOBIG;
    }
    if (fd != STDIN_FILENO) {
        close(fd);
    }
    if (rc != 0) {
        free(data);
        return rc;
    }
    data[size] = '\0';
    *data_p = data;
    *size_p = size;
    return 0;
}

/*  getenv, with an empty value counted as unset. */
static const char *
s_env(const char *name)
{
    const char *value = getenv(name);
    return value != NULL && value[0] != '\0' ? value : NULL;
}

/*  The "url" (else the "http") of <dir>/agent.json as a fresh string, or
    NULL when the file is absent, unreadable or says nothing usable: then
    the default applies, and an agent that is not there is reported with
    the address tried. *ca_file_p is its "ca_file" (the CA of an agent whose
    certificate a private CA signed), or NULL. */
static char *
s_agent_json_addr(const char *dir, char **ca_file_p)
{
    char *path = fk_asprintf("%s/agent.json", dir);
    char *data = NULL;
    size_t size = 0;
    char *addr = NULL;
    *ca_file_p = NULL;
    if (s_read_file(path, S_MAX_SMALL, &data, &size) == 0) {
        json_t *root = json_loadb(data, size, 0, NULL);
        const char *http = json_string_value(json_object_get(root, "url"));
        if (http == NULL) {
            http = json_string_value(json_object_get(root, "http"));
        }
        const char *ca_file = json_string_value(json_object_get(root, "ca_file"));
        if (http != NULL && http[0] != '\0') {
            addr = fk_strdup(http);
            *ca_file_p = ca_file != NULL && ca_file[0] != '\0' ? fk_strdup(ca_file) : NULL;
        }
        json_decref(root);
    }
    free(data);
    free(path);
    return addr;
}

/*  Resolve the agent's address and the admin token as docs/CLI.md says and
    create ctx->client. Returns 0, or an exit status after printing why. */
static int
s_connect(s_ctx_t *ctx)
{
    const char *dir = ctx->data_dir;
    if (dir == NULL) {
        dir = s_env("FAKTS_DATA_DIR");
    }
    if (dir == NULL) {
        dir = S_DEFAULT_DATA_DIR;
    }

    /* The agent's own CA (agent.json) counts only for the agent that
       file names. */
    char *agent_ca = NULL;
    if (ctx->http_addr != NULL) {
        ctx->addr = fk_strdup(ctx->http_addr);
    } else if (s_env("FAKTS_HTTP_ADDR") != NULL) {
        ctx->addr = fk_strdup(s_env("FAKTS_HTTP_ADDR"));
    } else {
        ctx->addr = s_agent_json_addr(dir, &agent_ca);
        if (ctx->addr == NULL) {
            ctx->addr = fk_strdup(S_DEFAULT_ADDR);
        }
    }
    const char *ca_file = ctx->ca_file != NULL              ? ctx->ca_file
                          : s_env("FAKTS_CA_FILE") != NULL ? s_env("FAKTS_CA_FILE")
                                                            : agent_ca;

    /* A token that cannot be found is not an error here: the agent decides,
       and its 401 message gets this note so the operator knows why. */
    char *token = NULL;
    const char *source = "FAKTS_ADMIN_TOKEN";
    char *path = fk_asprintf("%s/admin-token", dir);
    if (s_env("FAKTS_ADMIN_TOKEN") != NULL) {
        token = fk_strdup(s_env("FAKTS_ADMIN_TOKEN"));
    } else {
        size_t size = 0;
        int rc = s_read_file(path, S_MAX_SMALL, &token, &size);
        source = path;
        if (rc != 0) {
            ctx->token_note = fk_asprintf("no admin token: FAKTS_ADMIN_TOKEN is unset and %s: %s",
                                          path, fk_strerror(rc));
        } else if (strspn(token, " \t\r\n") == size) {
            ctx->token_note = fk_asprintf("no admin token: %s is empty", path);
            free(token);
            token = NULL;
        }
    }

    int rc = fk_client_new(&ctx->client, ctx->addr, token, ca_file);
    free(token);
    free(agent_ca);
    if (rc == FK_EINVAL_INPUT) {
        rc = ctx->addr[0] == '\0'
                 ? s_usage_error(ctx, "the agent address is empty")
                 : s_usage_error(ctx, "the admin token from %s holds a control character", source);
    } else if (rc != 0) {
        s_fail("cannot start an HTTP client: %s", fk_strerror(rc));
        rc = EX_UNAVAILABLE;
    }
    free(path);
    return rc;
}

static void
s_ctx_fini(s_ctx_t *ctx)
{
    fk_client_destroy(&ctx->client);
    free(ctx->addr);
    ctx->addr = NULL;
    free(ctx->token_note);
    ctx->token_note = NULL;
}

/*  Make one request. Returns 0 when the agent accepted it (2xx) and
    answered JSON, now in reply->json. Otherwise prints the reason and
    returns the exit status: 1 when the agent refused, its message prefixed
    by "<prefix>: " for a 400 or 413 when prefix is not NULL (the file whose
    content the agent judged); EX_UNAVAILABLE when no agent answered or the
    answer was not the agent API's. */
static int s_call(s_ctx_t *ctx, const char *method, const char *path, const char *content_type,
                  const char *body, size_t size, const char *prefix, fk_client_reply_t *reply);

/*  Connect to the agent and make one call: what every command does. */
static int
s_request(s_ctx_t *ctx, const char *method, const char *path, const char *content_type,
          const char *body, size_t size, const char *prefix, fk_client_reply_t *reply)
{
    int rc = s_connect(ctx);
    return rc ? rc : s_call(ctx, method, path, content_type, body, size, prefix, reply);
}

static void
s_on_wait(void *arg)
{
    fk_progress_tick(arg);
}

/*  s_request for a request the agent may take seconds to answer (a join,
    a quorum): on a terminal, says what the command waits for (the
    agent's address, then what) until the answer comes (fk_progress);
    elsewhere it is s_request. */
static int
s_request_waiting(s_ctx_t *ctx, const char *what, const char *method, const char *path,
                  const char *content_type, const char *body, size_t size, const char *prefix,
                  fk_client_reply_t *reply)
{
    int rc = s_connect(ctx);
    if (rc != 0) {
        return rc;
    }
    fk_progress_t progress;
    fk_progress_begin(&progress, "%s (agent at %s)", what, ctx->addr);
    fk_client_on_wait(ctx->client, s_on_wait, &progress);
    ctx->waiting = &progress; /* s_call ends it before it prints anything */
    rc = s_call(ctx, method, path, content_type, body, size, prefix, reply);
    ctx->waiting = NULL;
    fk_client_on_wait(ctx->client, NULL, NULL);
    return rc;
}

static int
s_call(s_ctx_t *ctx, const char *method, const char *path, const char *content_type,
       const char *body, size_t size, const char *prefix, fk_client_reply_t *reply)
{
    int rc = fk_client_request(ctx->client, method, path, content_type, body, size, reply);
    if (ctx->waiting != NULL) {
        fk_progress_end(ctx->waiting); /* erased before any answer or error is printed */
    }
    if (rc == FK_EUNAVAILABLE) {
        s_fail("cannot reach the agent at %s: %s", ctx->addr, fk_client_error(ctx->client));
        return EX_UNAVAILABLE;
    }
    if (rc == FK_ETOOBIG) {
        s_fail("the agent at %s answered more than %zu MiB", ctx->addr,
               FK_CLIENT_MAX_REPLY / (1024 * 1024));
        return EX_UNAVAILABLE;
    }
    if (rc != 0) {
        return s_usage_error(ctx, "invalid agent address '%s': %s", ctx->addr,
                             fk_client_error(ctx->client));
    }

    if (reply->status >= 400) {
        const char *message = fk_client_reply_message(reply);
        char *fallback = NULL;
        if (message == NULL) {
            fallback = fk_asprintf("the agent at %s answered HTTP %ld", ctx->addr, reply->status);
            message = fallback;
        }
        if ((reply->status == 400 || reply->status == 413) && prefix != NULL) {
            s_fail("%s: %s", prefix, message);
        } else if (reply->status == 401 && ctx->token_note != NULL) {
            s_fail("%s (%s)", message, ctx->token_note);
        } else {
            s_fail("%s", message);
        }
        free(fallback);
        return 1;
    }
    if (reply->status < 200 || reply->status >= 300 || reply->json == NULL) {
        s_fail("the agent at %s gave an unexpected answer (HTTP %ld%s)", ctx->addr, reply->status,
               reply->json == NULL ? ", not JSON" : "");
        return EX_UNAVAILABLE;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/*  Output                                                                  */

/*  Print a JSON answer as one pretty document. */
static int
s_print_json(const json_t *json)
{
    if (json_dumpf(json, stdout, JSON_INDENT(2) | JSON_ENCODE_ANY) != 0) {
        return EX_IOERR;
    }
    fputc('\n', stdout);
    return 0;
}

/*  A scalar JSON value as text for a person: strings bare, null and absent
    as "-", containers in compact JSON. Returns a fresh string. */
static char *
s_text(const json_t *value)
{
    if (value == NULL || json_is_null(value)) {
        return fk_strdup("-");
    }
    if (json_is_string(value)) {
        const char *s = json_string_value(value);
        return fk_strdup(s[0] != '\0' ? s : "-");
    }
    char *dumped = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
    if (dumped == NULL) {
        return fk_strdup("?");
    }
    char *text = fk_strdup(dumped);
    free(dumped);
    return text;
}

/*  The items of a JSON array joined by ",", or "-" when there are none. */
static char *
s_join(const json_t *array)
{
    if (!json_is_array(array) || json_array_size(array) == 0) {
        return fk_strdup("-");
    }
    char *out = fk_strdup("");
    size_t i;
    const json_t *item;
    json_array_foreach(array, i, item)
    {
        char *text = s_text(item);
        char *joined = fk_asprintf("%s%s%s", out, i > 0 ? "," : "", text);
        free(text);
        free(out);
        out = joined;
    }
    return out;
}

static void s_appendf(char **buf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*  Append formatted text to the fresh string *buf (NULL: empty). */
static void
s_appendf(char **buf, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        abort(); /* only a bad format string fails here */
    }
    size_t old = *buf != NULL ? strlen(*buf) : 0;
    *buf = fk_realloc(*buf, old + (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(*buf + old, (size_t)n + 1, fmt, ap);
    va_end(ap);
}

static void
s_table_init(s_table_t *table, size_t ncols)
{
    memset(table, 0, sizeof(*table));
    table->ncols = ncols;
}

/*  Add a row of table->ncols fresh strings (taken) and the text printed
    after it (taken; NULL for none). */
static void
s_table_add(s_table_t *table, char **cells, char *after)
{
    if (table->nrows == table->cap) {
        table->cap = table->cap == 0 ? 16 : table->cap * 2;
        table->cells = fk_realloc(table->cells, table->cap * table->ncols * sizeof(char *));
        table->after = fk_realloc(table->after, table->cap * sizeof(char *));
    }
    memcpy(table->cells + table->nrows * table->ncols, cells, table->ncols * sizeof(char *));
    table->after[table->nrows] = after;
    table->nrows++;
}

/*  Add the header row from constant names. */
static void
s_table_header(s_table_t *table, const char *const *names)
{
    char **cells = fk_calloc(table->ncols, sizeof(char *));
    for (size_t c = 0; c < table->ncols; c++) {
        cells[c] = fk_strdup(names[c]);
    }
    s_table_add(table, cells, NULL);
    free(cells);
}

/*  Print the rows, columns two spaces apart, no trailing blanks. */
static void
s_table_print(const s_table_t *table)
{
    size_t *width = fk_calloc(table->ncols, sizeof(size_t));
    for (size_t r = 0; r < table->nrows; r++) {
        for (size_t c = 0; c < table->ncols; c++) {
            size_t len = strlen(table->cells[r * table->ncols + c]);
            width[c] = len > width[c] ? len : width[c];
        }
    }
    for (size_t r = 0; r < table->nrows; r++) {
        for (size_t c = 0; c < table->ncols; c++) {
            const char *cell = table->cells[r * table->ncols + c];
            if (c + 1 < table->ncols) {
                printf("%-*s  ", (int)width[c], cell);
            } else {
                printf("%s\n", cell);
            }
        }
        if (table->after[r] != NULL) {
            fputs(table->after[r], stdout);
        }
    }
    free(width);
}

static void
s_table_fini(s_table_t *table)
{
    for (size_t i = 0; i < table->nrows * table->ncols; i++) {
        free(table->cells[i]);
    }
    for (size_t r = 0; r < table->nrows; r++) {
        free(table->after[r]);
    }
    free(table->cells);
    free(table->after);
    memset(table, 0, sizeof(*table));
}

/* ------------------------------------------------------------------------ */
/*  Commands                                                                */

/*  The info object as aligned "key: value" lines, in the agent's order. */
static void
s_print_info(json_t *info)
{
    if (!json_is_object(info)) {
        s_print_json(info);
        return;
    }
    size_t width = 0;
    const char *key;
    const json_t *value;
    json_object_foreach(info, key, value)
    {
        width = strlen(key) > width ? strlen(key) : width;
    }
    json_object_foreach(info, key, value)
    {
        char *text = s_text(value);
        printf("%s:%*s %s\n", key, (int)(width - strlen(key)), "", text);
        free(text);
    }
}

int
fk_cli_info(const fk_cli_cmd_t *cmd, int argc, char **argv)
{
    s_ctx_t ctx;
    int rc = s_parse(&ctx, cmd, argc, argv, NULL, NULL, NULL, NULL);
    if (rc != S_CONTINUE) {
        return rc;
    }
    fk_client_reply_t reply = {0};
    rc = s_request(&ctx, "GET", "/v1/agent/info", NULL, NULL, 0, NULL, &reply);
    if (rc == 0 && ctx.json) {
        rc = s_print_json(reply.json);
    } else if (rc == 0) {
        s_print_info(reply.json);
    }
    fk_client_reply_clear(&reply);
    s_ctx_fini(&ctx);
    return rc;
}

/*  An alias' address as host:port/path, IPv6 hosts in brackets. */
static char *
s_alias_address(const json_t *alias)
{
    const char *host = json_string_value(json_object_get(alias, "host"));
    const json_t *port = json_object_get(alias, "port");
    const char *path = json_string_value(json_object_get(alias, "path"));
    if (host == NULL || host[0] == '\0') {
        return fk_strdup("-");
    }
    char *out = NULL;
    s_appendf(&out, strchr(host, ':') != NULL ? "[%s]" : "%s", host);
    if (json_is_integer(port)) {
        s_appendf(&out, ":%" JSON_INTEGER_FORMAT, json_integer_value(port));
    }
    if (path != NULL && path[0] != '\0') {
        s_appendf(&out, "%s%s", path[0] == '/' ? "" : "/", path);
    }
    return out;
}

static int
s_list_option(s_ctx_t *ctx, int opt, const char *arg, void *data)
{
    (void)ctx;
    (void)arg;
    int *flags = data;
    if (opt == S_OPT_LOCAL) {
        flags[0] = 1;
    } else if (opt == S_OPT_ALL) {
        flags[1] = 1;
    } else if (opt == S_OPT_CONSISTENT) {
        flags[2] = 1;
    }
    return 0;
}

void
fk__cli_services_table(const json_t *services)
{
    static const char *const header[] = {"NODE", "ID", "SERVICE", "ADDRESS", "HEALTH", "TAGS"};
    s_table_t table;
    s_table_init(&table, 6);
    s_table_header(&table, header);
    size_t i;
    const json_t *svc;
    json_array_foreach(services, i, svc)
    {
        char *cells[6];
        const char *node_status = json_string_value(json_object_get(svc, "node_status"));
        cells[0] = node_status != NULL && strcmp(node_status, "alive") != 0
                       ? fk_asprintf("%s (%s)", json_string_value(json_object_get(svc, "node")),
                                     node_status)
                       : s_text(json_object_get(svc, "node"));
        cells[1] = s_text(json_object_get(svc, "id"));
        cells[2] = s_text(json_object_get(svc, "service"));
        const json_t *alias = json_array_get(json_object_get(svc, "aliases"), 0);
        cells[3] = alias != NULL ? s_alias_address(alias) : fk_strdup("-");
        /*  No checks: nothing to say ("-"); else the status the
            owner's checks last wrote. */
        const char *health =
            json_string_value(json_object_get(json_object_get(svc, "health"), "status"));
        cells[4] = fk_strdup(health != NULL ? health : "-");
        cells[5] = s_join(json_object_get(svc, "tags"));
        s_table_add(&table, cells, NULL);
    }
    s_table_print(&table);
    s_table_fini(&table);
}

int
fk_cli_services_list(const fk_cli_cmd_t *cmd, int argc, char **argv)
{
    static const struct option options[] = {
        {"local", no_argument, NULL, S_OPT_LOCAL},
        {"all", no_argument, NULL, S_OPT_ALL},
        {"consistent", no_argument, NULL, S_OPT_CONSISTENT},
        {NULL, 0, NULL, 0},
    };
    s_ctx_t ctx;
    int flags[3] = {0, 0, 0};
    int rc = s_parse(&ctx, cmd, argc, argv, options, NULL, s_list_option, flags);
    int local = flags[0];
    int all = flags[1];
    if (rc != S_CONTINUE) {
        return rc;
    }
    fk_client_reply_t reply = {0};
    rc = s_connect(&ctx);
    if (rc == 0) {
        char *path = fk_asprintf("/v1/services?%s%s%s", local ? "local&" : "", all ? "all&" : "",
                                 flags[2] ? "consistent" : "");
        rc = s_call(&ctx, "GET", path, NULL, NULL, 0, NULL, &reply);
        free(path);
    }
    if (rc == 0 && ctx.json) {
        rc = s_print_json(reply.json);
    } else if (rc == 0) {
        fk__cli_services_table(reply.json);
    }
    fk_client_reply_clear(&reply);
    s_ctx_fini(&ctx);
    return rc;
}

/*  The Content-Type of a definition: by the file's extension, else by its
    first character (JSON is an object; everything else is taken as YAML,
    of which JSON is a subset anyway). */
static const char *
s_definition_type(const char *path, const char *data)
{
    const char *dot = strrchr(path, '.');
    if (dot != NULL && strchr(dot, '/') == NULL) {
        if (strcasecmp(dot, ".json") == 0) {
            return "application/json";
        }
        if (strcasecmp(dot, ".yaml") == 0 || strcasecmp(dot, ".yml") == 0) {
            return "application/yaml";
        }
    }
    data += strspn(data, " \t\r\n");
    return data[0] == '{' ? "application/json" : "application/yaml";
}

static int
s_wait_option(s_ctx_t *ctx, int opt, const char *arg, void *data)
{
    if (opt == S_OPT_WAIT) {
        if (strcmp(arg, "quorum") != 0) {
            return s_usage_error(ctx, "--wait takes 'quorum', not '%s'", arg);
        }
        *(const char **)data = arg;
    }
    return 0;
}

int
fk_cli_services_register(const fk_cli_cmd_t *cmd, int argc, char **argv)
{
    s_ctx_t ctx;
    static const struct option options[] = {
        {"wait", required_argument, NULL, S_OPT_WAIT},
        {NULL, 0, NULL, 0},
    };
    const char *wait = NULL;
    int rc = s_parse(&ctx, cmd, argc, argv, options, "FILE", s_wait_option, &wait);
    if (rc != S_CONTINUE) {
        return rc;
    }
    const char *file = ctx.operands[0];
    const char *name = strcmp(file, "-") == 0 ? "stdin" : file;

    /* Read the file before looking for the agent: an unreadable file is
       the operator's first problem, whatever the agent's state. */
    char *data = NULL;
    size_t size = 0;
    int err = s_read_file(file, S_MAX_FILE, &data, &size);
    if (err != 0) {
        s_fail("%s: %s", name, fk_strerror(err));
        return EX_NOINPUT;
    }

    fk_client_reply_t reply = {0};
    if (wait) {
        rc = s_request_waiting(&ctx, "registering; waiting for a quorum of the members to hold it",
                               "PUT", "/v1/services?wait=quorum", s_definition_type(file, data),
                               data, size, name, &reply);
    } else {
        rc = s_request(&ctx, "PUT", "/v1/services", s_definition_type(file, data), data, size, name,
                       &reply);
    }
    if (rc == 0 && ctx.json) {
        rc = s_print_json(reply.json);
    } else if (rc == 0) {
        char *id = s_text(json_object_get(reply.json, "id"));
        char *service = s_text(json_object_get(reply.json, "service"));
        printf("registered %s (%s)\n", id, service);
        free(id);
        free(service);
    }
    fk_client_reply_clear(&reply);
    s_ctx_fini(&ctx);
    free(data);
    return rc;
}

int
fk_cli_services_deregister(const fk_cli_cmd_t *cmd, int argc, char **argv)
{
    s_ctx_t ctx;
    int rc = s_parse(&ctx, cmd, argc, argv, NULL, "ID", NULL, NULL);
    if (rc != S_CONTINUE) {
        return rc;
    }
    const char *id = ctx.operands[0];
    fk_client_reply_t reply = {0};
    rc = s_connect(&ctx);
    if (rc == 0) {
        char *escaped = fk_client_escape(ctx.client, id);
        char *path = fk_asprintf("/v1/services/%s", escaped);
        rc = s_call(&ctx, "DELETE", path, NULL, NULL, 0, NULL, &reply);
        free(path);
        free(escaped);
    }
    if (rc == 0 && ctx.json) {
        rc = s_print_json(reply.json);
    } else if (rc == 0) {
        const char *gone = json_string_value(json_object_get(reply.json, "deregistered"));
        printf("deregistered %s\n", gone != NULL ? gone : id);
    }
    fk_client_reply_clear(&reply);
    s_ctx_fini(&ctx);
    return rc;
}

/*  The requirement lines printed under a code's row:
    "    key -> service: status (instance)". */
static char *
s_code_requirements(const json_t *code)
{
    const json_t *statuses = json_object_get(code, "statuses");
    const json_t *instances = json_object_get(code, "instances");
    char *out = NULL;
    size_t i;
    const json_t *req;
    json_array_foreach(json_object_get(code, "requirements"), i, req)
    {
        /* A bare string requirement is {key: s, service: s}. */
        const char *key = json_is_string(req) ? json_string_value(req)
                                              : json_string_value(json_object_get(req, "key"));
        const char *service =
            json_is_string(req) ? key : json_string_value(json_object_get(req, "service"));
        if (key == NULL) {
            continue;
        }
        const char *status = json_string_value(json_object_get(statuses, key));
        const char *instance = json_string_value(json_object_get(instances, key));
        s_appendf(&out, "    %s -> %s: %s (%s)%s\n", key, service != NULL ? service : key,
                  status != NULL ? status : "-", instance != NULL ? instance : "no instance",
                  json_is_true(json_object_get(req, "optional")) ? " [optional]" : "");
    }
    return out;
}

int
fk_cli_codes(const fk_cli_cmd_t *cmd, int argc, char **argv)
{
    static const char *const header[] = {"USER_CODE", "APP", "VERSION", "SCOPES", "EXPIRES_IN"};

    s_ctx_t ctx;
    int rc = s_parse(&ctx, cmd, argc, argv, NULL, NULL, NULL, NULL);
    if (rc != S_CONTINUE) {
        return rc;
    }
    fk_client_reply_t reply = {0};
    rc = s_request(&ctx, "GET", "/v1/codes", NULL, NULL, 0, NULL, &reply);
    if (rc == 0 && ctx.json) {
        rc = s_print_json(reply.json);
    } else if (rc == 0) {
        s_table_t table;
        s_table_init(&table, 6);
        s_table_header(&table, header);
        size_t i;
        const json_t *code;
        json_array_foreach(reply.json, i, code)
        {
            char *cells[5];
            cells[0] = s_text(json_object_get(code, "user_code"));
            cells[1] = s_text(json_object_get(code, "identifier"));
            cells[2] = s_text(json_object_get(code, "version"));
            cells[3] = s_join(json_object_get(code, "scopes"));
            const json_t *expires = json_object_get(code, "expires_in");
            cells[4] = json_is_integer(expires)
                           ? fk_asprintf("%" JSON_INTEGER_FORMAT "s", json_integer_value(expires))
                           : s_text(expires);
            s_table_add(&table, cells, s_code_requirements(code));
        }
        s_table_print(&table);
        s_table_fini(&table);
    }
    fk_client_reply_clear(&reply);
    s_ctx_fini(&ctx);
    return rc;
}

/*  POST /v1/codes/<user_code>/<verb> with body (NULL: none). */
static int
s_code_decision(s_ctx_t *ctx, const char *verb, const char *body, fk_client_reply_t *reply)
{
    char *escaped = fk_client_escape(ctx->client, ctx->operands[0]);
    char *path = fk_asprintf("/v1/codes/%s/%s", escaped, verb);
    int rc = s_call(ctx, "POST", path, body != NULL ? "application/json" : NULL, body,
                    body != NULL ? strlen(body) : 0, NULL, reply);
    free(path);
    free(escaped);
    return rc;
}

static int
s_approve_option(s_ctx_t *ctx, int opt, const char *arg, void *data)
{
    if (opt != S_OPT_DECLINE) {
        return 0;
    }
    /* json_string refuses bytes that are not UTF-8 (and jansson's
       allocator aborts on OOM), so NULL means a bad key. */
    json_t *key = json_string(arg);
    if (key == NULL) {
        return s_usage_error(ctx, "--decline: the key is not valid UTF-8");
    }
    json_array_append_new(data, key);
    return 0;
}

int
fk_cli_approve(const fk_cli_cmd_t *cmd, int argc, char **argv)
{
    static const struct option options[] = {
        {"decline", required_argument, NULL, S_OPT_DECLINE},
        {NULL, 0, NULL, 0},
    };

    s_ctx_t ctx;
    json_t *declined = json_array();
    int rc = s_parse(&ctx, cmd, argc, argv, options, "USER_CODE", s_approve_option, declined);
    if (rc != S_CONTINUE) {
        json_decref(declined);
        return rc;
    }
    json_t *request = json_object();
    json_object_set_new(request, "declined", declined);
    char *body = json_dumps(request, JSON_COMPACT);
    json_decref(request);
    if (body == NULL) {
        abort(); /* the request holds only valid strings: OOM only */
    }

    fk_client_reply_t reply = {0};
    rc = s_connect(&ctx);
    if (rc == 0) {
        rc = s_code_decision(&ctx, "approve", body, &reply);
    }
    if (rc == 0 && ctx.json) {
        rc = s_print_json(reply.json);
    } else if (rc == 0) {
        const char *code = json_string_value(json_object_get(reply.json, "user_code"));
        char *line = fk_asprintf("approved %s", code != NULL ? code : ctx.operands[0]);
        json_t *statuses = json_object_get(reply.json, "statuses");
        const char *key;
        const json_t *status;
        const char *sep = " (";
        json_object_foreach(statuses, key, status)
        {
            char *text = s_text(status);
            s_appendf(&line, "%s%s: %s", sep, key, text);
            free(text);
            sep = ", ";
        }
        printf("%s%s\n", line, json_object_size(statuses) > 0 ? ")" : "");
        free(line);
    }
    fk_client_reply_clear(&reply);
    s_ctx_fini(&ctx);
    free(body);
    return rc;
}

int
fk_cli_deny(const fk_cli_cmd_t *cmd, int argc, char **argv)
{
    s_ctx_t ctx;
    int rc = s_parse(&ctx, cmd, argc, argv, NULL, "USER_CODE", NULL, NULL);
    if (rc != S_CONTINUE) {
        return rc;
    }
    fk_client_reply_t reply = {0};
    rc = s_connect(&ctx);
    if (rc == 0) {
        rc = s_code_decision(&ctx, "deny", NULL, &reply);
    }
    if (rc == 0 && ctx.json) {
        rc = s_print_json(reply.json);
    } else if (rc == 0) {
        const char *code = json_string_value(json_object_get(reply.json, "user_code"));
        printf("denied %s\n", code != NULL ? code : ctx.operands[0]);
    }
    fk_client_reply_clear(&reply);
    s_ctx_fini(&ctx);
    return rc;
}

/*  The options of "redeem-token create"; -1 when not given. */
typedef struct {
    long long expires_in_days; /* --expires-in-days */
    long long max_redemptions; /* --max-redemptions */
} s_redeem_opts_t;

static int
s_redeem_option(s_ctx_t *ctx, int opt, const char *arg, void *data)
{
    s_redeem_opts_t *opts = data;
    if (opt == S_OPT_EXPIRES_IN_DAYS) {
        return s_parse_count(ctx, "--expires-in-days", arg, &opts->expires_in_days);
    }
    if (opt == S_OPT_MAX_REDEMPTIONS) {
        return s_parse_count(ctx, "--max-redemptions", arg, &opts->max_redemptions);
    }
    return 0;
}

int
fk_cli_redeem_token_create(const fk_cli_cmd_t *cmd, int argc, char **argv)
{
    static const struct option options[] = {
        {"expires-in-days", required_argument, NULL, S_OPT_EXPIRES_IN_DAYS},
        {"max-redemptions", required_argument, NULL, S_OPT_MAX_REDEMPTIONS},
        {NULL, 0, NULL, 0},
    };

    s_ctx_t ctx;
    s_redeem_opts_t opts = {-1, -1};
    int rc = s_parse(&ctx, cmd, argc, argv, options, NULL, s_redeem_option, &opts);
    if (rc != S_CONTINUE) {
        return rc;
    }
    json_t *request = json_object();
    if (opts.expires_in_days > 0) {
        json_object_set_new(request, "expires_in_days", json_integer(opts.expires_in_days));
    }
    if (opts.max_redemptions > 0) {
        json_object_set_new(request, "max_redemptions", json_integer(opts.max_redemptions));
    }
    char *body = json_dumps(request, JSON_COMPACT);
    json_decref(request);
    if (body == NULL) {
        abort(); /* integers only: OOM only */
    }

    fk_client_reply_t reply = {0};
    rc = s_request(&ctx, "POST", "/v1/redeem-tokens", "application/json", body, strlen(body), NULL,
                   &reply);
    if (rc == 0 && ctx.json) {
        rc = s_print_json(reply.json);
    } else if (rc == 0) {
        const char *token = json_string_value(json_object_get(reply.json, "token"));
        if (token == NULL) {
            s_fail("the agent at %s answered without a token", ctx.addr);
            rc = EX_UNAVAILABLE;
        } else {
            printf("%s\n", token);
        }
    }
    fk_client_reply_clear(&reply);
    s_ctx_fini(&ctx);
    free(body);
    return rc;
}

/*  Print an array of objects as a table of the keys (ncols of them)
    under header; an array value prints as its items joined by ",". */
static void
s_rows_print(const json_t *rows, const char *const *header, const char *const *keys,
             size_t ncols)
{
    s_table_t table;
    s_table_init(&table, ncols);
    s_table_header(&table, header);
    size_t i;
    const json_t *row;
    json_array_foreach(rows, i, row)
    {
        char **cells = fk_calloc(ncols, sizeof *cells);
        for (size_t c = 0; c < ncols; c++) {
            const json_t *value = json_object_get(row, keys[c]);
            cells[c] = json_is_array(value) ? s_join(value) : s_text(value);
        }
        s_table_add(&table, cells, NULL);
        free(cells);
    }
    s_table_print(&table);
    s_table_fini(&table);
}

/*  GET path and print the array of objects it answers: as JSON with
    --json, else s_rows_print's table. */
static int
s_list(s_ctx_t *ctx, const char *path, const char *const *header, const char *const *keys,
       size_t ncols)
{
    fk_client_reply_t reply = {0};
    int rc = s_request(ctx, "GET", path, NULL, NULL, 0, NULL, &reply);
    if (rc == 0 && ctx->json) {
        rc = s_print_json(reply.json);
    } else if (rc == 0) {
        s_rows_print(reply.json, header, keys, ncols);
    }
    fk_client_reply_clear(&reply);
    return rc;
}

/*  The columns of "members" and "watch members". */
static const char *const s_member_header[] = {"NAME", "ADDRESS", "STATUS", "INCARNATION", "KEY",
                                              "ADMITTED BY"};
static const char *const s_member_keys[] = {"name", "addr", "status", "incarnation", "key",
                                            "admitted_by"};

void
fk__cli_members_table(const json_t *members)
{
    s_rows_print(members, s_member_header, s_member_keys, 6);
}

int
fk_cli_members(const fk_cli_cmd_t *cmd, int argc, char **argv)
{
    s_ctx_t ctx;
    int rc = s_parse(&ctx, cmd, argc, argv, NULL, NULL, NULL, NULL);
    if (rc != S_CONTINUE) {
        return rc;
    }
    rc = s_list(&ctx, "/v1/agent/members", s_member_header, s_member_keys, 6);
    if (rc == 0 && !ctx.json) {
        /*  Say so when anyone on the network can speak for the cluster. */
        fk_client_reply_t info = {0};
        if (s_request(&ctx, "GET", "/v1/agent/info", NULL, NULL, 0, NULL, &info) == 0) {
            const char *security =
                json_string_value(json_object_get(info.json, "gossip_security"));
            if (security && strcmp(security, "insecure") == 0) {
                fprintf(stderr,
                        "warning: this node gossips in PLAINTEXT (--insecure-gossip): anyone who "
                        "reaches its gossip port is believed\n");
            }
        }
        fk_client_reply_clear(&info);
    }
    s_ctx_fini(&ctx);
    return rc;
}

static int
s_token_option(s_ctx_t *ctx, int opt, const char *arg, void *data)
{
    (void)ctx;
    if (opt == S_OPT_TOKEN) {
        *(const char **)data = arg;
    }
    return 0;
}

int
fk_cli_join(const fk_cli_cmd_t *cmd, int argc, char **argv)
{
    static const struct option options[] = {
        {"token", required_argument, NULL, S_OPT_TOKEN},
        {NULL, 0, NULL, 0},
    };
    s_ctx_t ctx;
    const char *token = s_env("FAKTS_JOIN_TOKEN");
    int rc = s_parse(&ctx, cmd, argc, argv, options, "ADDR...", s_token_option, &token);
    if (rc != S_CONTINUE) {
        return rc;
    }
    json_t *addrs = json_array();
    for (int i = 0; i < ctx.noperands; i++) {
        json_array_append_new(addrs, json_string(ctx.operands[i]));
    }
    json_t *body = json_pack("{s:o, s:s*}", "addrs", addrs, "token", token);
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    fk_client_reply_t reply = {0};
    char *what = fk_asprintf("joining the cluster through %s%s", ctx.operands[0],
                             ctx.noperands > 1 ? " and the other addresses" : "");
    rc = s_request_waiting(&ctx, what, "POST", "/v1/agent/join", "application/json", text,
                           strlen(text), NULL, &reply);
    free(what);
    free(text);
    if (rc == 0 && ctx.json) {
        rc = s_print_json(reply.json);
    } else if (rc == 0) {
        printf("joined through %zu of %d address(es)\n",
               json_array_size(json_object_get(reply.json, "joined")), ctx.noperands);
    }
    fk_client_reply_clear(&reply);
    s_ctx_fini(&ctx);
    return rc;
}

int
fk_cli_leave(const fk_cli_cmd_t *cmd, int argc, char **argv)
{
    s_ctx_t ctx;
    int rc = s_parse(&ctx, cmd, argc, argv, NULL, NULL, NULL, NULL);
    if (rc != S_CONTINUE) {
        return rc;
    }
    fk_client_reply_t reply = {0};
    rc = s_request(&ctx, "POST", "/v1/agent/leave", NULL, NULL, 0, NULL, &reply);
    if (rc == 0 && ctx.json) {
        rc = s_print_json(reply.json);
    } else if (rc == 0) {
        printf("left the cluster; the agent is stopping\n");
    }
    fk_client_reply_clear(&reply);
    s_ctx_fini(&ctx);
    return rc;
}

/*  For commands whose one option is a flag: data is the bool it sets. */
static int
s_flag_option(s_ctx_t *ctx, int opt, const char *arg, void *data)
{
    (void)ctx;
    (void)opt;
    (void)arg;
    *(bool *)data = true;
    return 0;
}

int
fk_cli_force_leave(const fk_cli_cmd_t *cmd, int argc, char **argv)
{
    static const struct option options[] = {
        {"ban", no_argument, NULL, S_OPT_BAN},
        {NULL, 0, NULL, 0},
    };
    s_ctx_t ctx;
    bool ban = false;
    int rc = s_parse(&ctx, cmd, argc, argv, options, "NAME", s_flag_option, &ban);
    if (rc != S_CONTINUE) {
        return rc;
    }
    fk_client_reply_t reply = {0};
    rc = s_connect(&ctx);
    if (rc == 0) {
        char *escaped = fk_client_escape(ctx.client, ctx.operands[0]);
        char *path = fk_asprintf("/v1/agent/force-leave/%s%s", escaped, ban ? "?ban" : "");
        rc = s_call(&ctx, "POST", path, NULL, NULL, 0, NULL, &reply);
        free(path);
        free(escaped);
    }
    if (rc == 0 && ctx.json) {
        rc = s_print_json(reply.json);
    } else if (rc == 0) {
        printf(ban ? "%s banned: its key is refused on every node\n" : "%s marked as left\n",
               ctx.operands[0]);
    }
    fk_client_reply_clear(&reply);
    s_ctx_fini(&ctx);
    return rc;
}

int
fk_cli_clients_create(const fk_cli_cmd_t *cmd, int argc, char **argv)
{
    s_ctx_t ctx;
    int rc = s_parse(&ctx, cmd, argc, argv, NULL, "MANIFEST_FILE", NULL, NULL);
    if (rc != S_CONTINUE) {
        return rc;
    }
    const char *file = ctx.operands[0];
    const char *name = strcmp(file, "-") == 0 ? "stdin" : file;
    char *data = NULL;
    size_t size = 0;
    int err = s_read_file(file, S_MAX_FILE, &data, &size);
    if (err != 0) {
        s_fail("%s: %s", name, fk_strerror(err));
        return EX_NOINPUT;
    }
    fk_client_reply_t reply = {0};
    rc = s_request(&ctx, "POST", "/v1/clients", s_definition_type(file, data), data, size, name,
                   &reply);
    if (rc == 0 && ctx.json) {
        rc = s_print_json(reply.json);
    } else if (rc == 0) {
        char *identifier = s_text(json_object_get(reply.json, "identifier"));
        char *version = s_text(json_object_get(reply.json, "version"));
        char *client_id = s_text(json_object_get(reply.json, "client_id"));
        char *token = s_text(json_object_get(reply.json, "client_token"));
        printf("created public client of %s %s\nclient_id:    %s\nclient_token: %s\n", identifier,
               version, client_id, token);
        free(identifier);
        free(version);
        free(client_id);
        free(token);
    }
    fk_client_reply_clear(&reply);
    s_ctx_fini(&ctx);
    free(data);
    return rc;
}

int
fk_cli_clients_list(const fk_cli_cmd_t *cmd, int argc, char **argv)
{
    static const char *const header[] = {"IDENTIFIER", "VERSION", "CLIENT_ID", "CLIENT_TOKEN",
                                         "NODE"};
    static const char *const keys[] = {"identifier", "version", "client_id", "client_token",
                                       "node"};
    s_ctx_t ctx;
    int rc = s_parse(&ctx, cmd, argc, argv, NULL, NULL, NULL, NULL);
    if (rc != S_CONTINUE) {
        return rc;
    }
    rc = s_list(&ctx, "/v1/clients", header, keys, 5);
    s_ctx_fini(&ctx);
    return rc;
}

int
fk_cli_clients_delete(const fk_cli_cmd_t *cmd, int argc, char **argv)
{
    s_ctx_t ctx;
    int rc = s_parse(&ctx, cmd, argc, argv, NULL, "IDENTIFIER VERSION", NULL, NULL);
    if (rc != S_CONTINUE) {
        return rc;
    }
    fk_client_reply_t reply = {0};
    rc = s_connect(&ctx);
    if (rc == 0) {
        char *identifier = fk_client_escape(ctx.client, ctx.operands[0]);
        char *version = fk_client_escape(ctx.client, ctx.operands[1]);
        char *path = fk_asprintf("/v1/clients/%s/%s", identifier, version);
        rc = s_call(&ctx, "DELETE", path, NULL, NULL, 0, NULL, &reply);
        free(path);
        free(version);
        free(identifier);
    }
    if (rc == 0 && ctx.json) {
        rc = s_print_json(reply.json);
    } else if (rc == 0) {
        printf("deleted the public client of %s %s\n", ctx.operands[0], ctx.operands[1]);
    }
    fk_client_reply_clear(&reply);
    s_ctx_fini(&ctx);
    return rc;
}

/*  A duration as Consul writes them in its CLI: a whole number with a unit
    (s, m, h, d), or bare seconds. Returns seconds, or -1. */
static long long
s_duration(const char *text)
{
    char *end = NULL;
    errno = 0;
    long long n = strtoll(text, &end, 10);
    if (end == text || errno || n <= 0) {
        return -1;
    }
    long long unit = *end == '\0' || strcmp(end, "s") == 0 ? 1
                     : strcmp(end, "m") == 0             ? 60
                     : strcmp(end, "h") == 0             ? 3600
                     : strcmp(end, "d") == 0             ? 86400
                                                         : -1;
    return unit < 0 || n > INT_MAX / unit ? -1 : n * unit;
}

/*  The options of "join-token create". */
typedef struct {
    long long ttl_s; /* --ttl */
    long long uses;  /* --uses */
} s_join_token_opts_t;

static int
s_join_token_option(s_ctx_t *ctx, int opt, const char *arg, void *data)
{
    s_join_token_opts_t *opts = data;
    if (opt == S_OPT_TTL && (opts->ttl_s = s_duration(arg)) < 0) {
        return s_usage_error(ctx, "--ttl: '%s' is not a duration like 30m, 24h or 7d", arg);
    }
    if (opt == S_OPT_USES) {
        return s_parse_count(ctx, "--uses", arg, &opts->uses);
    }
    return 0;
}

int
fk_cli_join_token_create(const fk_cli_cmd_t *cmd, int argc, char **argv)
{
    static const struct option options[] = {
        {"ttl", required_argument, NULL, S_OPT_TTL},
        {"uses", required_argument, NULL, S_OPT_USES},
        {NULL, 0, NULL, 0},
    };
    s_ctx_t ctx;
    s_join_token_opts_t opts = {.ttl_s = 86400, .uses = 1};
    int rc = s_parse(&ctx, cmd, argc, argv, options, NULL, s_join_token_option, &opts);
    if (rc != S_CONTINUE) {
        return rc;
    }
    json_t *request = fk_json_must(
        json_pack("{s:I, s:I}", "ttl_s", (json_int_t)opts.ttl_s, "uses", (json_int_t)opts.uses));
    char *body = fk_json_dump(request);
    json_decref(request);
    fk_client_reply_t reply = {0};
    rc = s_request(&ctx, "POST", "/v1/join-tokens", "application/json", body, strlen(body), NULL,
                   &reply);
    free(body);
    if (rc == 0 && ctx.json) {
        rc = s_print_json(reply.json);
    } else if (rc == 0) {
        const char *token = json_string_value(json_object_get(reply.json, "token"));
        if (token == NULL) {
            s_fail("the agent at %s answered without a token", ctx.addr);
            rc = EX_UNAVAILABLE;
        } else {
            printf("%s\n", token);
        }
    }
    fk_client_reply_clear(&reply);
    s_ctx_fini(&ctx);
    return rc;
}

int
fk_cli_join_token_list(const fk_cli_cmd_t *cmd, int argc, char **argv)
{
    static const char *const header[] = {"ID", "CREATED_MS", "EXPIRES_MS", "USES"};
    static const char *const keys[] = {"id", "created_ms", "expires_ms", "uses"};
    s_ctx_t ctx;
    int rc = s_parse(&ctx, cmd, argc, argv, NULL, NULL, NULL, NULL);
    if (rc != S_CONTINUE) {
        return rc;
    }
    rc = s_list(&ctx, "/v1/join-tokens", header, keys, 4);
    s_ctx_fini(&ctx);
    return rc;
}

int
fk_cli_join_token_revoke(const fk_cli_cmd_t *cmd, int argc, char **argv)
{
    s_ctx_t ctx;
    int rc = s_parse(&ctx, cmd, argc, argv, NULL, "ID", NULL, NULL);
    if (rc != S_CONTINUE) {
        return rc;
    }
    fk_client_reply_t reply = {0};
    rc = s_connect(&ctx);
    if (rc == 0) {
        char *escaped = fk_client_escape(ctx.client, ctx.operands[0]);
        char *path = fk_asprintf("/v1/join-tokens/%s", escaped);
        rc = s_call(&ctx, "DELETE", path, NULL, NULL, 0, NULL, &reply);
        free(path);
        free(escaped);
    }
    if (rc == 0 && ctx.json) {
        rc = s_print_json(reply.json);
    } else if (rc == 0) {
        printf("join token %s revoked\n", ctx.operands[0]);
    }
    fk_client_reply_clear(&reply);
    s_ctx_fini(&ctx);
    return rc;
}

int
fk_cli_keygen(const fk_cli_cmd_t *cmd, int argc, char **argv)
{
    static const struct option options[] = {
        {"cluster-secret", no_argument, NULL, S_OPT_CLUSTER_SECRET},
        {NULL, 0, NULL, 0},
    };
    s_ctx_t ctx;
    bool cluster_secret = false;
    int rc = s_parse(&ctx, cmd, argc, argv, options, "FILE", s_flag_option, &cluster_secret);
    if (rc != S_CONTINUE) {
        return rc;
    }
    if (!cluster_secret) {
        return s_usage_error(&ctx, "say what to make: --cluster-secret");
    }
    const char *path = ctx.operands[0];
    char *secret = fk_cluster_secret_new();
    if (strcmp(path, "-") == 0) {
        fputs(secret, stdout);
    } else {
        /*  Never over an existing secret: every node holding the old one
            would be locked out of new admissions. */
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        size_t len = strlen(secret);
        if (fd == -1 || write(fd, secret, len) != (ssize_t)len || fsync(fd) != 0) {
            s_fail("%s: %s", path,
                   errno == EEXIST ? "exists already (remove it to make a new secret)"
                                   : fk_strerror(-errno));
            rc = EX_CANTCREAT;
        } else {
            printf("wrote a cluster secret to %s (mode 0600); give every node a copy and start "
                   "it with --cluster-secret-file %s\n",
                   path, path);
            rc = EX_OK;
        }
        if (fd != -1) {
            close(fd);
        }
    }
    OPENSSL_cleanse(secret, strlen(secret));
    free(secret);
    s_ctx_fini(&ctx);
    return rc == S_CONTINUE ? EX_OK : rc;
}

/* ------------------------------------------------------------------------ */
/*  For the command files beside this one (fk_cli_priv.h)                   */

void
fk__cli_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    s_vfail(fmt, ap);
    va_end(ap);
}

int
fk__cli_usage_error(const fk__cli_ctx_t *ctx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = s_vusage_error(ctx, fmt, ap);
    va_end(ap);
    return rc;
}

int
fk__cli_parse(fk__cli_ctx_t *ctx, const fk_cli_cmd_t *cmd, int argc, char **argv,
              const struct option *own_options, const char *operand, fk__cli_opt_fn *own,
              void *data)
{
    return s_parse(ctx, cmd, argc, argv, own_options, operand, own, data);
}

int
fk__cli_connect(fk__cli_ctx_t *ctx)
{
    return s_connect(ctx);
}

int
fk__cli_call(fk__cli_ctx_t *ctx, const char *method, const char *path, const char *content_type,
             const char *body, size_t size, const char *prefix, fk_client_reply_t *reply)
{
    return s_call(ctx, method, path, content_type, body, size, prefix, reply);
}

int
fk__cli_request_waiting(fk__cli_ctx_t *ctx, const char *what, const char *method, const char *path,
                        const char *content_type, const char *body, size_t size, const char *prefix,
                        fk_client_reply_t *reply)
{
    return s_request_waiting(ctx, what, method, path, content_type, body, size, prefix, reply);
}

int
fk__cli_request(fk__cli_ctx_t *ctx, const char *method, const char *path,
                const char *content_type, const char *body, size_t size, const char *prefix,
                fk_client_reply_t *reply)
{
    return s_request(ctx, method, path, content_type, body, size, prefix, reply);
}

void
fk__cli_ctx_fini(fk__cli_ctx_t *ctx)
{
    s_ctx_fini(ctx);
}

int
fk__cli_print_json(const json_t *json)
{
    return s_print_json(json);
}

int
fk__cli_list(fk__cli_ctx_t *ctx, const char *path, const char *const *header,
             const char *const *keys, size_t ncols)
{
    return s_list(ctx, path, header, keys, ncols);
}

long long
fk__cli_duration(const char *text)
{
    return s_duration(text);
}

void
fk__cli_table(const char *const *header, size_t ncols, const json_t *rows)
{
    s_table_t table;
    s_table_init(&table, ncols);
    s_table_header(&table, header);
    size_t i;
    const json_t *row;
    json_array_foreach(rows, i, row)
    {
        char **cells = fk_calloc(ncols, sizeof(*cells));
        for (size_t c = 0; c < ncols; c++) {
            cells[c] = s_text(json_array_get(row, c));
        }
        s_table_add(&table, cells, NULL);
        free(cells);
    }
    s_table_print(&table);
    s_table_fini(&table);
}
