/*  fakts-node - the program: the command table, the top-level usage, and
    the dispatch from the command words to a command (node/cli/fk_cli.h) or
    to the agent (node/agent/fk_agent.h). */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include <jansson.h>

#include "fk_agent.h"
#include "fk_cli.h"
#include "fk_client.h"
#include "fk_mem.h"

#ifndef FK_VERSION
#define FK_VERSION "unknown"
#endif

static int s_agent(const fk_cli_cmd_t *cmd, int argc, char **argv);

/*  The commands, in the order the usage lists them. A name of two words
    ("services list") is matched against the first two command words. */
static const fk_cli_cmd_t s_commands[] = {
    {"agent", s_agent,
     "[--config FILE] [--data-dir DIR] [--node NAME] [--http HOST:PORT] [--public-url URL] "
     "[--services-dir DIR] [--deployment-name NAME] [--log-level debug|info|warn|error] "
     "[--max-body BYTES]"},
    {"info", fk_cli_info, ""},
    {"members", fk_cli_members, ""},
    {"join", fk_cli_join, "[--token TOKEN] ADDR..."},
    {"leave", fk_cli_leave, ""},
    {"force-leave", fk_cli_force_leave, "[--ban] NAME"},
    {"join-token create", fk_cli_join_token_create, "[--ttl DURATION] [--uses N]"},
    {"join-token list", fk_cli_join_token_list, ""},
    {"join-token revoke", fk_cli_join_token_revoke, "ID"},
    {"keygen", fk_cli_keygen, "--cluster-secret FILE"},
    {"tls ca", fk_cli_tls_ca, "create [--dir DIR] [--days N] [--name CN]"},
    {"tls cert", fk_cli_tls_cert,
     "create --node NAME [--san HOST,IP,...]... [--days N] [--ca FILE] [--ca-key FILE] "
     "[--dir DIR]"},
    {"services list", fk_cli_services_list, "[--local] [--all] [--consistent]"},
    {"services register", fk_cli_services_register, "[--wait quorum] FILE"},
    {"services deregister", fk_cli_services_deregister, "ID"},
    {"services pass", fk_cli_services_pass, "[--note TEXT] ID"},
    {"services warn", fk_cli_services_warn, "[--note TEXT] ID"},
    {"services fail", fk_cli_services_fail, "[--note TEXT] ID"},
    {"codes", fk_cli_codes, ""},
    {"approve", fk_cli_approve, "[--decline KEY]... USER_CODE"},
    {"deny", fk_cli_deny, "USER_CODE"},
    {"redeem-token create", fk_cli_redeem_token_create,
     "[--expires-in-days N] [--max-redemptions N]"},
    {"apps list", fk_cli_apps_list, ""},
    {"apps revoke", fk_cli_apps_revoke, "ID [VERSION]"},
    {"clients create", fk_cli_clients_create, "MANIFEST_FILE"},
    {"clients list", fk_cli_clients_list, ""},
    {"clients delete", fk_cli_clients_delete, "IDENTIFIER VERSION"},
    {"apps create", fk_cli_apps_create_renamed, "MANIFEST_FILE (now: clients create)"},
    {"apps delete", fk_cli_apps_delete_renamed, "IDENTIFIER VERSION (now: clients delete)"},
    {"tokens create", fk_cli_tokens_create, "--name NAME --role ROLE[,ROLE]... [--ttl DURATION]"},
    {"tokens list", fk_cli_tokens_list, ""},
    {"tokens revoke", fk_cli_tokens_revoke, "ACCESSOR"},
    {"audit", fk_cli_audit, "[--since T] [--limit N]"},
    {"watch services", fk_cli_watch_services, "[--wait DUR] [--exec CMD]"},
    {"watch members", fk_cli_watch_members, "[--wait DUR] [--exec CMD]"},
};

#define S_NCOMMANDS (sizeof(s_commands) / sizeof(s_commands[0]))

/*  "agent" is the long-running node, not a client of it: it gets the
    arguments as they are, with argv[0] "agent" (fk_agent.h). */
static int
s_agent(const fk_cli_cmd_t *cmd, int argc, char **argv)
{
    (void)cmd;
    return fk_agent_main(argc, argv);
}

/*  Print the usage of every command whose first word is group (NULL:
    all), then, for the full usage, the lines every command shares. */
static void
s_usage(FILE *out, const char *group)
{
    const char *lead = "usage:";
    for (size_t i = 0; i < S_NCOMMANDS; i++) {
        const char *name = s_commands[i].name;
        size_t len = strcspn(name, " ");
        if (group != NULL && (strlen(group) != len || strncmp(name, group, len) != 0)) {
            continue;
        }
        fk_cli_print_usage(out, lead, name, s_commands[i].synopsis);
        lead = "      ";
    }
    if (group == NULL) {
        fk_cli_print_usage(out, lead, "--version", "");
        fputs("Every command but agent and tls also takes " FK_CLI_GLOBAL_SYNOPSIS "\n"
              "and --help (see docs/CLI.md).\n",
              out);
    }
}

/*  Whether word is the first word of a two-word command ("services"). */
static int
s_is_group(const char *word)
{
    size_t len = strlen(word);
    for (size_t i = 0; i < S_NCOMMANDS; i++) {
        const char *name = s_commands[i].name;
        if (strncmp(name, word, len) == 0 && name[len] == ' ') {
            return 1;
        }
    }
    return 0;
}

/*  The command named by the words (second may be NULL); *nwords_p gets how
    many of them the name used. NULL when none matches. */
static const fk_cli_cmd_t *
s_lookup(const char *first, const char *second, int *nwords_p)
{
    for (size_t i = 0; i < S_NCOMMANDS; i++) {
        const char *name = s_commands[i].name;
        const char *space = strchr(name, ' ');
        if (space == NULL) {
            if (strcmp(name, first) == 0) {
                *nwords_p = 1;
                return &s_commands[i];
            }
        } else if (second != NULL && strlen(first) == (size_t)(space - name)
                   && strncmp(name, first, (size_t)(space - name)) == 0
                   && strcmp(space + 1, second) == 0) {
            *nwords_p = 2;
            return &s_commands[i];
        }
    }
    return NULL;
}

/*  The command line has no command word: only --help and --version make
    sense then. */
static int
s_no_command(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            s_usage(stdout, NULL);
            return EX_OK;
        }
        if (strcmp(argv[i], "--version") == 0) {
            printf("fakts-node %s\n", FK_VERSION);
            return EX_OK;
        }
    }
    fprintf(stderr, "fakts-node: %s\n", argc > 1 ? "missing command" : "no command given");
    s_usage(stderr, NULL);
    return EX_USAGE;
}

/*  Flush stdout and turn a failed write (a full disk, a closed pipe when
    SIGPIPE is ignored) into an error, so a script never takes a truncated
    answer for a complete one. */
static int
s_finish(int rc)
{
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fputs("fakts-node: cannot write to standard output\n", stderr);
        return rc == EX_OK ? EX_IOERR : rc;
    }
    return rc;
}

int
main(int argc, char **argv)
{
    /*  Before anything can build JSON, for every command and the agent
        alike: jansson then aborts on out-of-memory like the rest of the
        project (fk_mem.h), so a NULL from it means bad input, never OOM. */
    json_set_alloc_funcs(fk_malloc, free);
    int index[2];
    int nwords = fk_cli_find_words(argc, argv, index, 2);
    if (nwords == 0) {
        return s_finish(s_no_command(argc, argv));
    }
    const char *first = argv[index[0]];
    const char *second = nwords > 1 ? argv[index[1]] : NULL;
    int used = 0;
    const fk_cli_cmd_t *cmd = s_lookup(first, second, &used);
    if (cmd == NULL) {
        if (s_is_group(first)) {
            if (second != NULL) {
                fprintf(stderr, "fakts-node: unknown command '%s %s'\n", first, second);
            } else {
                fprintf(stderr, "fakts-node: %s: missing command\n", first);
            }
            s_usage(stderr, first);
        } else {
            fprintf(stderr, "fakts-node: unknown command '%s'\n", first);
            s_usage(stderr, NULL);
        }
        return EX_USAGE;
    }

    /* The command sees its name, then every other word in order: global
       options may come before the command words as well as after. */
    char **args = fk_calloc((size_t)argc + 1, sizeof(char *));
    char *name = fk_strdup(cmd->name); /* argv words are mutable; the table is not */
    int nargs = 0;
    args[nargs++] = name;
    for (int i = 1; i < argc; i++) {
        if (i == index[0] || (used == 2 && i == index[1])) {
            continue;
        }
        args[nargs++] = argv[i];
    }
    args[nargs] = NULL;

    int rc;
    if (cmd->fn == s_agent) {
        rc = cmd->fn(cmd, nargs, args);
    } else {
        if (fk_client_global_init() != 0) {
            fputs("fakts-node: cannot initialize libcurl\n", stderr);
            free(args);
            free(name);
            return EX_UNAVAILABLE;
        }
        rc = cmd->fn(cmd, nargs, args);
        fk_client_global_cleanup();
    }
    free(args);
    free(name);
    return s_finish(rc);
}
