/*  fk_cli_priv - what fk_cli.c shares with the command files of node/cli
    (fk_cli_<topic>.c): a command's run from its arguments to the agent's
    JSON answer, and the table printer, so a new command file holds only
    what is its own. Nothing else may use it.

    Threads: as fk_cli.h (the main thread, one command per process). */

#ifndef FK_CLI_PRIV_H_INCLUDED
#define FK_CLI_PRIV_H_INCLUDED

#include "fk_cli.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/*  fk__cli_parse's "go on": every exit status is >= 0. */
#define FK__CLI_CONTINUE (-1)

/*  One command's run: its parsed arguments, its connection, its answer. */
typedef struct fk__cli fk__cli_t;

/*  One of a command's own options, each taking a value. */
typedef struct {
    const char *name;  /* the long option without "--" ("since"); NULL ends a list */
    const char *value; /* the value given (borrowed from argv), else left as it was */
} fk__cli_flag_t;

/*  Parse a command's arguments: the global options (fk_cli.h), its own
    flags (a list ended by a NULL name; their values are filled in) and no
    operand. Returns FK__CLI_CONTINUE with *cli_p set (caller destroys),
    or an exit status after printing the usage (--help, or a usage error)
    with *cli_p NULL. */
int fk__cli_parse(fk__cli_t **cli_p, const fk_cli_cmd_t *cmd, int argc, char **argv,
                  fk__cli_flag_t *flags);

/*  Whether --json was given. */
bool fk__cli_json(const fk__cli_t *cli);

/*  Print "fakts-node: <reason>" and the command's usage on stderr;
    returns EX_USAGE. */
int fk__cli_usage_error(const fk__cli_t *cli, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*  Find the agent and the admin token as every command does, and GET
    path with the query (name, value pairs, a NULL name ends it; a pair
    whose value is NULL is left out; values are percent-encoded). Returns
    0 with *json_p the answer (borrowed from cli, valid until it is
    destroyed), or an exit status after printing why (fk_cli.h). */
int fk__cli_get(fk__cli_t *cli, const char *path, const char *const *query, const json_t **json_p);

/*  Print rows (an array of arrays of ncols strings) under header (ncols
    names) as columns two spaces apart, as every table command does. */
void fk__cli_table(const char *const *header, size_t ncols, const json_t *rows);

/*  Free; sets *cli_p to NULL. Safe on NULL. */
void fk__cli_destroy(fk__cli_t **cli_p);

#endif
