/*  stress_grants - many threads against one grants plane, for
    ThreadSanitizer (`make tsan`) and as a short smoke run in `make test`.

    A plain main(), not Criterion: Criterion cannot run under TSan
    (style.md §2.4). Two nodes over temporary stores (fk_testgrants);
    every thread works against node-a: device flows (authorize, approve,
    exchange), refresh rotations, revocations, redeems, bearer checks and
    the operators' listing, and flows whose code node-b owns, so node-a
    forwards through the fake forwarder into node-b's grants while other
    threads use both. Rules that must hold under contention are asserted:
    a refresh token raced by every thread rotates exactly once, a code is
    exchanged exactly once, a revoked bearer is refused.

    usage: stress_grants [ROUNDS]   (default 20 rounds per thread) */

#include "fk_err.h"
#include "fk_grants.h"
#include "fk_json.h"
#include "fk_log.h"
#include "fk_mem.h"
#include "fk_testgrants.h"

#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_THREADS 8

static fk_testgrants_t *s_set;
static json_t *s_manifest; /* shared, read-only */

/*  A barrier-started race: every thread refreshes the same token. */
static pthread_barrier_t s_race;
static char s_race_token[128];
static char s_race_client[64];
static atomic_int s_race_wins;

static void
s_check(bool ok, const char *what, const fk_grants_why_t *why)
{
    if (!ok) {
        fprintf(stderr, "stress_grants: %s (%s)\n", what, why ? why->text : "");
        abort();
    }
}

/*  A device flow whose code node `owner` holds, polled on node-a. */
static json_t *
s_device_flow(int owner)
{
    fk_grants_t *a = s_set->nodes[0].grants;
    fk_grants_t *g = s_set->nodes[owner].grants;
    json_t *request = json_object();
    json_t *auth = NULL;
    fk_grants_why_t why;
    s_check(fk_grants_authorize(g, s_manifest, request, &auth, &why) == 0, "authorize", &why);
    json_decref(request);
    if (owner != 0) {
        fk_testgrants_replicate(s_set, owner, 0);
    }
    json_t *answer = NULL;
    s_check(fk_grants_decide(a, fk_json_str(auth, "user_code"), true, NULL, "tester", &answer,
                             &why) == 0,
            "approve", &why);
    json_decref(answer);
    if (owner != 0) {
        fk_testgrants_replicate(s_set, 0, owner);
    }
    json_t *tokens = NULL;
    int rc = fk_grants_exchange_device_code(a, fk_json_str(auth, "device_code"),
                                            fk_json_str(auth, "client_id"), &fk_testgrants_origin,
                                            &tokens, &why);
    s_check(rc == 0, "exchange", &why);
    /*  Single use, whoever asks. */
    json_t *again = NULL;
    rc = fk_grants_exchange_device_code(a, fk_json_str(auth, "device_code"), NULL,
                                        &fk_testgrants_origin, &again, &why);
    s_check(rc == FK_EINVAL_INPUT && !again, "a burnt code was exchanged again", &why);
    json_decref(auth);
    return tokens;
}

static void
s_round(int thread, int round)
{
    fk_grants_t *a = s_set->nodes[0].grants;
    fk_grants_why_t why;
    /*  Every third flow has its code on node-b: forwarded. */
    int owner = (thread + round) % 3 == 0 ? 1 : 0;
    json_t *tokens = s_device_flow(owner);
    if (owner != 0) {
        fk_testgrants_replicate(s_set, owner, 0);
    }
    const char *client_id = fk_json_str(tokens, "client_id");
    json_t *fresh = NULL;
    s_check(fk_grants_exchange_refresh(a, fk_json_str(tokens, "refresh_token"), client_id,
                                       &fk_testgrants_origin, &fresh, &why)
                == 0,
            "refresh", &why);
    json_t *claims = NULL;
    s_check(fk_grants_check_bearer(a, fk_json_str(fresh, "access_token"), &claims, &why) == 0,
            "bearer", &why);
    json_decref(claims);
    s_check(fk_grants_revoke(a, fk_json_str(fresh, "access_token"), "access_token", client_id, &why)
                == 0,
            "revoke access", &why);
    s_check(fk_grants_check_bearer(a, fk_json_str(fresh, "access_token"), &claims, &why)
                == FK_ETOKEN,
            "a revoked bearer was accepted", &why);
    s_check(
        fk_grants_revoke(a, fk_json_str(fresh, "refresh_token"), "refresh_token", client_id, &why)
            == 0,
        "revoke refresh", &why);
    json_decref(fresh);
    json_decref(tokens);

    json_t *minted = NULL;
    s_check(fk_grants_mint_redeem(a, 1, 0, &minted, &why) == 0, "mint", &why);
    json_t *redeemed = NULL;
    s_check(fk_grants_exchange_redeem(a, fk_json_str(minted, "token"), s_manifest,
                                      &fk_testgrants_origin, &redeemed, &why)
                == 0,
            "redeem", &why);
    json_decref(redeemed);
    json_decref(minted);
    json_decref(fk_grants_pending(a));
    json_decref(fk_grants_jwks(a));
    if (round % 5 == 0) {
        fk_grants_sweep(a);
    }
}

typedef struct {
    int index;  /* thread number */
    int rounds; /* rounds to run */
} s_worker_t;

static void *
s_worker(void *arg)
{
    s_worker_t *worker = arg;
    for (int round = 0; round < worker->rounds; round++) {
        s_round(worker->index, round);
    }
    /*  Everyone refreshes the same token at once: one rotation wins. */
    pthread_barrier_wait(&s_race);
    json_t *answer = NULL;
    fk_grants_why_t why;
    int rc = fk_grants_exchange_refresh(s_set->nodes[0].grants, s_race_token, s_race_client,
                                        &fk_testgrants_origin, &answer, &why);
    if (rc == 0) {
        atomic_fetch_add(&s_race_wins, 1);
    } else {
        s_check(rc == FK_EGRANT, "a lost race must be invalid_grant", &why);
    }
    json_decref(answer);
    return NULL;
}

int
main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 20;
    if (rounds < 1) {
        fprintf(stderr, "usage: stress_grants [ROUNDS]\n");
        return 64;
    }
    json_set_alloc_funcs(fk_malloc, free);
    fk_log_set_level(FK_LOG_ERROR);
    s_set = fk_testgrants_new(2, "stress_grants");
    s_manifest = fk_testgrants_manifest("org.example.stress", "1.0");
    json_t *race = s_device_flow(0);
    snprintf(s_race_token, sizeof s_race_token, "%s", fk_json_str(race, "refresh_token"));
    snprintf(s_race_client, sizeof s_race_client, "%s", fk_json_str(race, "client_id"));
    json_decref(race);
    atomic_init(&s_race_wins, 0);
    pthread_barrier_init(&s_race, NULL, S_THREADS);

    pthread_t threads[S_THREADS];
    s_worker_t workers[S_THREADS];
    for (int i = 0; i < S_THREADS; i++) {
        workers[i] = (s_worker_t){.index = i, .rounds = rounds};
        if (pthread_create(&threads[i], NULL, s_worker, &workers[i]) != 0) {
            perror("pthread_create");
            return 1;
        }
    }
    for (int i = 0; i < S_THREADS; i++) {
        pthread_join(threads[i], NULL);
    }
    int wins = atomic_load(&s_race_wins);
    int forwarded = atomic_load(&s_set->nodes[1].forwarded);
    pthread_barrier_destroy(&s_race);
    json_decref(s_manifest);
    fk_testgrants_destroy(&s_set);
    if (wins != 1) {
        fprintf(stderr, "stress_grants: %d threads rotated the same refresh token\n", wins);
        return 1;
    }
    /*  The plain closing line CI reads. */
    printf("stress_grants: %d threads x %d rounds, %d requests forwarded\n", S_THREADS, rounds,
           forwarded);
    printf("1 passed, 0 failed\n");
    return 0;
}
