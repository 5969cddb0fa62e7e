/*  fk_cli - the operator commands of fakts-node: every command but "agent".

    Each command is a function that parses its own arguments with
    getopt_long, finds its agent and the admin token as docs/CLI.md says,
    makes one or two requests to the agent API (docs/API.md) through
    fk_client, prints a table or a line for a person (or, with --json, the
    agent's JSON answer as one pretty document) on stdout, and returns a
    sysexits(3) exit status:

      0               success
      1               the agent refused (HTTP status >= 400)
      EX_USAGE (64)   bad arguments
      EX_NOINPUT (66) unreadable FILE
      EX_UNAVAILABLE (69)
                      no agent answered at the address, or it did not answer
                      in JSON

    Failures print one line on stderr, "fakts-node: <reason>"; a usage error
    adds the command's usage line(s).

    Options every command accepts, before or after the command words:
      --http-addr HOST:PORT  the agent (else $FAKTS_HTTP_ADDR, else the "http"
                             of <data-dir>/agent.json, else 127.0.0.1:8520)
      --data-dir DIR         where agent.json and admin-token are (else
                             $FAKTS_DATA_DIR, else ./fakts-data)
      --ca-file FILE         the CA certificates (PEM) an https:// agent's
                             certificate must chain to (else $FAKTS_CA_FILE,
                             else the "ca_file" of the agent.json the address
                             came from, else the system's); always verified
      --json                 print the agent's JSON answer
      --help, -h             print the command's usage on stdout and exit 0
    The admin token is $FAKTS_ADMIN_TOKEN, else the content of
    <data-dir>/admin-token; with neither the request goes without one (the
    agent answers 401 and its message is printed).

    Threads: single-threaded; commands use getopt_long's global state and
    must run on the main thread, one per process. fk_client_global_init must
    have succeeded before a command runs. */

#ifndef FK_CLI_H_INCLUDED
#define FK_CLI_H_INCLUDED

#include <stdio.h>

typedef struct fk_cli_cmd fk_cli_cmd_t;

/*  A command. argv[0] is the command's name ("services list"), followed by
    every other word of the command line but the command words themselves,
    in their order (options and operands). Returns the process exit status.
    cmd is the table entry being run (for its usage line). */
typedef int fk_cli_fn(const fk_cli_cmd_t *cmd, int argc, char **argv);

/*  One entry of the command table (main.c). A transparent, constant
    descriptor. */
struct fk_cli_cmd {
    const char *name;     /* the command words, one or two: "codes", "services list" */
    fk_cli_fn *fn;        /* runs the command */
    const char *synopsis; /* its own options and operands, style(9) order; "" if none */
};

/*  The options every command but "agent" takes, as a usage fragment. */
#define FK_CLI_GLOBAL_SYNOPSIS \
    "[--http-addr HOST:PORT] [--data-dir DIR] [--ca-file FILE] [--json]"

/*  Find the command words in a full command line (argv[0] is the program).
    Words are the arguments that are not options, skipping the global
    options and, for --http-addr and --data-dir given as two words, their
    values; "--" ends the search. Stores the argv indexes of at most max
    words in index[] and returns how many were stored (0 when the line has
    no command word). */
int fk_cli_find_words(int argc, char **argv, int *index, int max);

/*  Print one usage entry: lead ("usage:" or "      "), the program name, the
    words of name, then the tokens of synopsis, wrapped before 80 columns;
    continuation lines start under the synopsis' first token, and a
    bracketed group ("[--decline KEY]...") is never split. synopsis may be
    empty. */
void fk_cli_print_usage(FILE *out, const char *lead, const char *name, const char *synopsis);

/*  The commands (see docs/CLI.md). Each follows fk_cli_fn. */

/*  "info": GET /v1/agent/info, printed as "key: value" lines. */
int fk_cli_info(const fk_cli_cmd_t *cmd, int argc, char **argv);

/*  "services list [--local]": GET /v1/services[?local], printed as a table
    NODE ID SERVICE ADDRESS TAGS (ADDRESS: the first alias, host:port/path). */
int fk_cli_services_list(const fk_cli_cmd_t *cmd, int argc, char **argv);

/*  "services register FILE": PUT /v1/services with FILE's bytes ("-" reads
    stdin), as application/json for a .json name (or content starting with
    '{'), application/yaml otherwise. The agent validates; its 400 message
    is printed after the file name. Prints "registered ID (SERVICE)". */
int fk_cli_services_register(const fk_cli_cmd_t *cmd, int argc, char **argv);

/*  "services deregister ID": DELETE /v1/services/ID. Prints
    "deregistered ID". */
int fk_cli_services_deregister(const fk_cli_cmd_t *cmd, int argc, char **argv);

/*  "codes": GET /v1/codes, printed as a table USER_CODE APP VERSION SCOPES
    EXPIRES_IN, each row followed by one indented line per requirement:
    "key -> service: status (instance)". */
int fk_cli_codes(const fk_cli_cmd_t *cmd, int argc, char **argv);

/*  "approve [--decline KEY]... USER_CODE": POST
    /v1/codes/USER_CODE/approve with {"declined":[KEY...]}. */
int fk_cli_approve(const fk_cli_cmd_t *cmd, int argc, char **argv);

/*  "deny USER_CODE": POST /v1/codes/USER_CODE/deny. */
int fk_cli_deny(const fk_cli_cmd_t *cmd, int argc, char **argv);

/*  "redeem-token create [--expires-in-days N] [--max-redemptions N]": POST
    /v1/redeem-tokens. Prints the token alone on a line, so that
    $(fakts-node redeem-token create) is the token. */
int fk_cli_redeem_token_create(const fk_cli_cmd_t *cmd, int argc, char **argv);

/*  "clients create MANIFEST_FILE": POST /v1/clients with the file's bytes
    (a v1 or v2 manifest, YAML or JSON; "-" reads stdin): the public
    client of its identifier and version, for {B}retrieve/. Prints the
    client_id and the client token. */
int fk_cli_clients_create(const fk_cli_cmd_t *cmd, int argc, char **argv);

/*  "clients list": GET /v1/clients as a table IDENTIFIER VERSION
    CLIENT_ID CLIENT_TOKEN NODE. */
int fk_cli_clients_list(const fk_cli_cmd_t *cmd, int argc, char **argv);

/*  "clients delete IDENTIFIER VERSION": DELETE
    /v1/clients/IDENTIFIER/VERSION (on the node that created it). */
int fk_cli_clients_delete(const fk_cli_cmd_t *cmd, int argc, char **argv);

/*  "apps list": GET /v1/apps, the approved apps, as a table IDENTIFIER
    VERSION DIALECT APPROVED_BY APPROVED_ON APPROVED LAST_EXCHANGE
    LAST_REPORT FAILING CLIENT_ID (times in UTC; FAILING the aliases the
    last report said the app could not reach, "alias@instance"). "apps
    revoke ID [VERSION]": POST /v1/apps/ID/revoke[?version=VERSION], ID an
    identifier or a client id; prints what was revoked. "apps create" and
    "apps delete", the old spellings of clients create and clients
    delete, run them after a note on stderr (fk_cli_apps.c). */
int fk_cli_apps_list(const fk_cli_cmd_t *cmd, int argc, char **argv);
int fk_cli_apps_revoke(const fk_cli_cmd_t *cmd, int argc, char **argv);
int fk_cli_apps_create_renamed(const fk_cli_cmd_t *cmd, int argc, char **argv);
int fk_cli_apps_delete_renamed(const fk_cli_cmd_t *cmd, int argc, char **argv);

/*  members: GET /v1/agent/members as a table (NAME ADDRESS STATUS
    INCARNATION KEY ADMITTED BY); warns on stderr when the node gossips in
    plaintext. */
int fk_cli_members(const fk_cli_cmd_t *cmd, int argc, char **argv);

/*  join [--token TOKEN] ADDR...: POST /v1/agent/join (the token, or
    FAKTS_JOIN_TOKEN, admits the agent to a cluster it is not a member
    of); succeeds when one address answered. */
int fk_cli_join(const fk_cli_cmd_t *cmd, int argc, char **argv);

/*  join-token create [--ttl DURATION] [--uses N]: POST /v1/join-tokens;
    prints the token alone on a line. join-token list: GET
    /v1/join-tokens (never the secrets). join-token revoke ID: DELETE
    /v1/join-tokens/ID. */
int fk_cli_join_token_create(const fk_cli_cmd_t *cmd, int argc, char **argv);
int fk_cli_join_token_list(const fk_cli_cmd_t *cmd, int argc, char **argv);
int fk_cli_join_token_revoke(const fk_cli_cmd_t *cmd, int argc, char **argv);

/*  keygen --cluster-secret FILE: write a fresh cluster secret to FILE
    (mode 0600, never over an existing file; "-" prints it). Needs no
    agent. */
int fk_cli_keygen(const fk_cli_cmd_t *cmd, int argc, char **argv);

/*  tls ca create [--dir DIR] [--days N] [--name CN], tls cert create
    --node NAME [--san HOST,IP,...]... [--days N] [--ca FILE] [--ca-key FILE]
    [--dir DIR]: make a private CA, and a server certificate it signs, as
    PEM files (fk_tls_issue.h; node/cli/fk_cli_tls.c). Need no agent and
    take none of the agent options: "create" is their operand. A bad value
    exits EX_USAGE, any other failure 1. */
int fk_cli_tls_ca(const fk_cli_cmd_t *cmd, int argc, char **argv);
int fk_cli_tls_cert(const fk_cli_cmd_t *cmd, int argc, char **argv);

/*  leave: POST /v1/agent/leave; the agent tells every member, then stops. */
int fk_cli_leave(const fk_cli_cmd_t *cmd, int argc, char **argv);

/*  force-leave [--ban] NAME: POST /v1/agent/force-leave/NAME (a failed
    member); with --ban its keys are refused by every node. */
int fk_cli_force_leave(const fk_cli_cmd_t *cmd, int argc, char **argv);

/*  services pass|warn|fail [--note TEXT] ID: PUT /v1/services/ID/health
    {"status", "note"}, the report of the local instance ID's ttl checks;
    prints "ID: reported STATUS; instance STATUS" (fk_cli_health.c). */
int fk_cli_services_pass(const fk_cli_cmd_t *cmd, int argc, char **argv);
int fk_cli_services_warn(const fk_cli_cmd_t *cmd, int argc, char **argv);
int fk_cli_services_fail(const fk_cli_cmd_t *cmd, int argc, char **argv);

/*  tokens create --name NAME --role ROLE[,ROLE]... [--ttl DURATION]: POST
    /v1/tokens; prints the token alone on the first line, then its
    accessor. tokens list: GET /v1/tokens (never a secret or its hash).
    tokens revoke ACCESSOR: DELETE /v1/tokens/ACCESSOR, on any node
    (fk_cli_tokens.c). */
int fk_cli_tokens_create(const fk_cli_cmd_t *cmd, int argc, char **argv);
int fk_cli_tokens_list(const fk_cli_cmd_t *cmd, int argc, char **argv);
int fk_cli_tokens_revoke(const fk_cli_cmd_t *cmd, int argc, char **argv);

/*  audit [--since T] [--limit N]: GET /v1/audit?since=T&limit=N (T: an
    RFC 3339 time, Unix ms or a duration such as 1h; N: 1 to 10000, the
    agent's default 100), printed oldest first as a table TIME (UTC) NODE
    ACTOR FROM ACTION SUBJECT, or with --json as one JSON entry per line
    (fk_cli_audit.c). */
int fk_cli_audit(const fk_cli_cmd_t *cmd, int argc, char **argv);

/*  watch services|members [--wait DUR] [--exec CMD]: print the services
    (GET /v1/services) or the members (GET /v1/agent/members) now and then
    each time they change, through blocking queries (?hash=H&wait=DUR,
    default 5m, 1s to 10m), as the table of services list / members or
    with --json as JSON; with --exec, run CMD through /bin/sh with each
    view as JSON on its stdin. Errors and 5xx are retried with backoff (1 s
    doubling to 30 s); a 4xx ends it with 1 (the agent refused).
    On a terminal a status line on stderr says what it waits for. SIGINT
    or SIGTERM ends the watch with 0 (fk_cli_watch.c). */
int fk_cli_watch_services(const fk_cli_cmd_t *cmd, int argc, char **argv);
int fk_cli_watch_members(const fk_cli_cmd_t *cmd, int argc, char **argv);

#endif
