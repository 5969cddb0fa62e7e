/*  fk_cli_priv - what fk_cli.c shares with the command files beside it
    (fk_cli_<topic>.c) and nothing else may use: a command's run, argument
    parsing, the request to the agent, and the printers. Each function is
    the one fk_cli.c's own commands use, with the same contract.

    Threads: as fk_cli.h (main thread, one command per process). */

#ifndef FK_CLI_PRIV_H_INCLUDED
#define FK_CLI_PRIV_H_INCLUDED

#include "fk_cli.h"
#include "fk_client.h"
#include "fk_progress.h"

#include <getopt.h>
#include <jansson.h>
#include <stddef.h>

/*  No command takes more than one operand; a few more slots let the
    "unexpected argument" message name the first extra one. */
#define FK__CLI_MAX_OPERANDS 16

/*  fk__cli_parse's "keep going": every exit status is >= 0. */
#define FK__CLI_CONTINUE (-1)

/*  getopt_long values from here up are free for a command file's own
    options (fk_cli.c's own stay below). */
#define FK__CLI_OPT_FIRST 1024

/*  One command's run: what its arguments said, and its connection. */
typedef struct {
    const fk_cli_cmd_t *cmd;                    /* the command being run */
    const char *http_addr;                      /* --http-addr, or NULL; borrowed from argv */
    const char *data_dir;                       /* --data-dir, or NULL; borrowed from argv */
    const char *ca_file;                        /* --ca-file, or NULL; borrowed from argv */
    int json;                                   /* --json was given */
    const char *operands[FK__CLI_MAX_OPERANDS]; /* operands in order; borrowed from argv */
    int noperands;                              /* operands seen (may exceed the array) */
    char *addr;                                 /* the agent address used; owned */
    char *token_note;                           /* why no token is sent, or NULL; owned */
    fk_client_t *client;                        /* connection to the agent; owned */
    fk_progress_t *waiting; /* the wait shown while a request is out, or NULL; borrowed */
} fk__cli_ctx_t;

/*  A command's handler for its own options: returns 0, or an exit status
    after printing why. */
typedef int fk__cli_opt_fn(fk__cli_ctx_t *ctx, int opt, const char *arg, void *data);

/*  Parse a command's arguments: the global options, the command's own
    (own_options, NULL-terminated or NULL; each one found is passed to
    own), and the operands named by operand (NULL: none; "A B": two;
    "A [B]": one or two; "X...": one or more). Returns FK__CLI_CONTINUE to run the command, or
    an exit status (after printing the usage for --help or a usage error).
    Allocates nothing. */
int fk__cli_parse(fk__cli_ctx_t *ctx, const fk_cli_cmd_t *cmd, int argc, char **argv,
                  const struct option *own_options, const char *operand, fk__cli_opt_fn *own,
                  void *data);

/*  Print "fakts-node: <reason>" on stderr. */
void fk__cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*  Print the reason and the command's usage on stderr; returns EX_USAGE. */
int fk__cli_usage_error(const fk__cli_ctx_t *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*  Find the agent and the admin token as docs/CLI.md says and create
    ctx->client. Returns 0, or an exit status after printing why. */
int fk__cli_connect(fk__cli_ctx_t *ctx);

/*  One request through ctx->client. Returns 0 when the agent accepted it
    (2xx) and answered JSON, now in reply->json; otherwise prints why and
    returns the exit status (fk_cli.h). prefix names the file a 400 or 413
    judged, or is NULL. */
int fk__cli_call(fk__cli_ctx_t *ctx, const char *method, const char *path,
                 const char *content_type, const char *body, size_t size, const char *prefix,
                 fk_client_reply_t *reply);

/*  fk__cli_connect, then fk__cli_call. */
int fk__cli_request(fk__cli_ctx_t *ctx, const char *method, const char *path,
                    const char *content_type, const char *body, size_t size, const char *prefix,
                    fk_client_reply_t *reply);

/*  fk__cli_request for a request the agent may take seconds to answer: on
    a terminal (stderr), a line says what the command waits for ("what",
    then the agent's address) and for how long, and is erased when the
    answer comes; elsewhere nothing more is printed (fk_progress). */
int fk__cli_request_waiting(fk__cli_ctx_t *ctx, const char *what, const char *method,
                            const char *path, const char *content_type, const char *body,
                            size_t size, const char *prefix, fk_client_reply_t *reply);

/*  Free what the run holds (its client, address and note). */
void fk__cli_ctx_fini(fk__cli_ctx_t *ctx);

/*  Print a JSON answer as one pretty document. Returns 0 or EX_IOERR. */
int fk__cli_print_json(const json_t *json);

/*  GET path and print the array of objects it answers: as JSON with
    --json, else a table of the keys (ncols of them) under header. A value
    that is an array prints as its items joined by ",". Returns 0 or an
    exit status. */
int fk__cli_list(fk__cli_ctx_t *ctx, const char *path, const char *const *header,
                 const char *const *keys, size_t ncols);

/*  Print rows (an array of arrays of ncols JSON values) as an aligned
    table under header; a value that is an array prints as its items
    joined by ",". */
void fk__cli_table(const char *const *header, size_t ncols, const json_t *rows);

/*  Print the services an agent answers (GET /v1/services) as the table
    of "services list". */
void fk__cli_services_table(const json_t *services);

/*  Print the members an agent answers (GET /v1/agent/members) as the
    table of "members". */
void fk__cli_members_table(const json_t *members);

/*  A duration as Consul writes them in its CLI: a whole number with a unit
    (s, m, h, d), or bare seconds. Returns seconds, or -1. */
long long fk__cli_duration(const char *text);

#endif
