/*  fk_cli_watch - "watch services|members [--wait DUR] [--exec CMD]":
    print each new view of the services or the members as it changes, as
    Consul's "consul watch" does, over the agent's blocking queries
    (GET ...?hash=H&wait=DUR, docs/API.md). The first view is printed at
    once; after that a view is printed (and CMD run with it as JSON on its
    stdin) only when its X-Fakts-Index differs from the last one. */

#include "fk_cli_priv.h"

#include "fk_health.h"
#include "fk_json.h"
#include "fk_mem.h"
#include "fk_progress.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

/*  Backoff after a failed request: doubles from the first to the last. */
#define S_BACKOFF_FIRST_MS 1000
#define S_BACKOFF_MAX_MS 30000

/*  Seconds allowed beyond the wait: the agent adds up to wait/16 of
    jitter, and the answer must still travel. */
#define S_SLACK_S 10

enum { S_OPT_EXEC = FK__CLI_OPT_FIRST, S_OPT_WAIT };

/*  Set by SIGINT or SIGTERM: the watch ends. */
static volatile sig_atomic_t s_stop;

static void
s_on_signal(int signo)
{
    (void)signo;
    s_stop = 1;
}

/*  The options of "watch". */
typedef struct {
    const char *exec; /* --exec CMD, or NULL */
    const char *wait; /* --wait DUR as given (default "5m") */
    int64_t wait_ms;  /* and in ms */
} s_watch_opts_t;

static int
s_watch_option(fk__cli_ctx_t *ctx, int opt, const char *arg, void *data)
{
    s_watch_opts_t *opts = data;
    if (opt == S_OPT_EXEC) {
        opts->exec = arg;
        return 0;
    }
    int64_t ms = 0;
    if (fk_health_duration_parse(arg, strlen(arg), &ms) != 0 || ms < 1000 || ms > 600000) {
        return fk__cli_usage_error(ctx, "--wait: '%s' is not a duration from 1s to 10m", arg);
    }
    opts->wait = arg;
    opts->wait_ms = ms;
    return 0;
}

/*  Sleep ms, or less when a signal ends the watch. */
static void
s_pause(int64_t ms)
{
    while (ms > 0 && !s_stop) {
        int64_t step = ms < 100 ? ms : 100;
        struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)step * 1000000L};
        nanosleep(&ts, NULL);
        ms -= step;
    }
}

/*  Run cmd through /bin/sh with view (JSON) on its stdin, as consul
    watch hands its handler the watch's data. A command that fails is
    reported and the watch goes on. */
static void
s_exec(const char *cmd, const json_t *view)
{
    fflush(stdout);
    char *text = json_dumps(view, JSON_COMPACT | JSON_ENCODE_ANY);
    FILE *pipe = popen(cmd, "w");
    if (pipe == NULL) {
        fk__cli_fail("--exec: cannot start /bin/sh: %s", strerror(errno));
        free(text);
        return;
    }
    /*  A command that does not read its stdin closes the pipe early:
        SIGPIPE is ignored for the whole watch, so that is an EPIPE here. */
    if (text != NULL) {
        fputs(text, pipe);
        fputc('\n', pipe);
    }
    free(text);
    int status = pclose(pipe);
    if (status == -1) {
        fk__cli_fail("--exec: %s", strerror(errno));
    } else if (WIFEXITED(status) && WEXITSTATUS(status) != 0) {
        fk__cli_fail("--exec: '%s' exited with %d", cmd, WEXITSTATUS(status));
    } else if (WIFSIGNALED(status)) {
        fk__cli_fail("--exec: '%s' was killed by signal %d", cmd, WTERMSIG(status));
    }
}

/*  Print a view as "services list" or "members" do, or as JSON. */
static int
s_print(const fk__cli_ctx_t *ctx, bool services, const json_t *view)
{
    int rc = 0;
    if (ctx->json) {
        rc = fk__cli_print_json(view);
    } else if (services) {
        fk__cli_services_table(view);
    } else {
        fk__cli_members_table(view);
    }
    fflush(stdout);
    return rc;
}

static void
s_on_wait(void *arg)
{
    fk_progress_tick(arg);
}

static int
s_watch(const fk_cli_cmd_t *cmd, int argc, char **argv, bool services)
{
    static const struct option options[] = {
        {"exec", required_argument, NULL, S_OPT_EXEC},
        {"wait", required_argument, NULL, S_OPT_WAIT},
        {NULL, 0, NULL, 0},
    };
    fk__cli_ctx_t ctx;
    s_watch_opts_t opts = {.wait = "5m", .wait_ms = 300000};
    int rc = fk__cli_parse(&ctx, cmd, argc, argv, options, NULL, s_watch_option, &opts);
    if (rc != FK__CLI_CONTINUE) {
        return rc;
    }
    if ((rc = fk__cli_connect(&ctx)) != 0) {
        fk__cli_ctx_fini(&ctx);
        return rc;
    }
    struct sigaction act = {.sa_handler = s_on_signal};
    sigemptyset(&act.sa_mask);
    sigaction(SIGINT, &act, NULL);
    sigaction(SIGTERM, &act, NULL);
    signal(SIGPIPE, SIG_IGN);
    fk_client_set_cancel(ctx.client, &s_stop);
    long timeout_s = (long)(opts.wait_ms / 1000 + opts.wait_ms / 16000 + S_SLACK_S);
    fk_client_set_timeout(ctx.client, timeout_s);

    const char *what = services ? "services" : "members";
    const char *base = services ? "/v1/services" : "/v1/agent/members";
    /*  On a terminal, a line says what the watch waits for while a request
        is out (fk_progress); it is erased before a view prints. */
    fk_progress_t progress;
    memset(&progress, 0, sizeof progress);
    fk_client_on_wait(ctx.client, s_on_wait, &progress);
    char *hash = NULL;
    int64_t backoff = 0;
    fk_client_reply_t reply = {0};
    while (!s_stop) {
        char *path = hash ? fk_asprintf("%s?hash=%s&wait=%s", base, hash, opts.wait)
                          : fk_strdup(base);
        if (hash) {
            fk_progress_begin(&progress,
                              "watching %s at %s: waiting for a change (up to %s, Ctrl-C ends)",
                              what, fk_client_url(ctx.client), opts.wait);
        } else {
            fk_progress_begin(&progress, "watching %s at %s: reading the current view", what,
                              fk_client_url(ctx.client));
        }
        int sent = fk_client_request(ctx.client, "GET", path, NULL, NULL, 0, &reply);
        free(path);
        fk_progress_end(&progress);
        if (sent == -EINTR || s_stop) {
            break;
        }
        if (sent == 0 && reply.status >= 400 && reply.status < 500) {
            /*  A wrong token, a missing role, a bad --wait: retrying will
                not mend it. */
            const char *why = fk_client_reply_message(&reply);
            fk__cli_fail("the agent at %s refused the watch (%ld): %s", ctx.addr, reply.status,
                         why ? why : "no reason given");
            rc = 1; /* the agent refused, as for every command (fk_cli.h) */
            break;
        }
        if (sent != 0 || reply.status != 200 || reply.index == NULL || reply.json == NULL) {
            backoff = backoff ? backoff * 2 : S_BACKOFF_FIRST_MS;
            backoff = backoff > S_BACKOFF_MAX_MS ? S_BACKOFF_MAX_MS : backoff;
            if (sent != 0) {
                fk__cli_fail("no answer from %s: %s; again in %lld s", ctx.addr,
                             fk_client_error(ctx.client), (long long)(backoff / 1000));
            } else {
                fk__cli_fail("the agent at %s answered %ld; again in %lld s", ctx.addr,
                             reply.status, (long long)(backoff / 1000));
            }
            s_pause(backoff);
            continue;
        }
        backoff = 0;
        if (hash == NULL || strcmp(hash, reply.index) != 0) {
            if (hash != NULL && !ctx.json) {
                putchar('\n'); /* tables one after another stay apart */
            }
            free(hash);
            hash = fk_strdup(reply.index);
            if ((rc = s_print(&ctx, services, reply.json)) != 0) {
                break;
            }
            if (opts.exec != NULL) {
                s_exec(opts.exec, reply.json);
            }
        }
    }
    fk_client_on_wait(ctx.client, NULL, NULL);
    fk_client_reply_clear(&reply);
    free(hash);
    fk__cli_ctx_fini(&ctx);
    return rc;
}

int
fk_cli_watch_services(const fk_cli_cmd_t *cmd, int argc, char **argv)
{
    return s_watch(cmd, argc, argv, true);
}

int
fk_cli_watch_members(const fk_cli_cmd_t *cmd, int argc, char **argv)
{
    return s_watch(cmd, argc, argv, false);
}
