/*  fk_ui_session - the web pages' login sessions: a bounded table in
    memory, per node (docs/ARCHITECTURE.md, "Sessions in memory"). A
    session is 256 random bits (the cookie) and a CSRF token bound to it;
    lookups compare every live slot in constant time. One mutex guards the
    table; callers get copies, so no lock is held while a page is built. */

#include "fk_api_priv.h"

#include "fk_clock.h"
#include "fk_crypto.h"
#include "fk_mem.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

/*  The table holds this many sessions; a login with the table full ends
    the session closest to its end. */
#define S_SESSIONS_MAX 64

typedef struct {
    char id[FK__UI_SECRET_HEX + 1];   /* the cookie's value */
    char csrf[FK__UI_SECRET_HEX + 1]; /* the token its forms carry */
    int64_t expires_ms;               /* monotonic; 0 for a free slot */
    fk__api_caller_t caller;          /* who logged in */
} s_session_t;

struct fk__ui {
    char *password;                       /* operator password, or NULL */
    pthread_mutex_t lock;                 /* guards sessions */
    s_session_t sessions[S_SESSIONS_MAX]; /* live sessions */
};

fk__ui_t *
fk__ui_new(const char *password)
{
    fk__ui_t *ui = fk_calloc(1, sizeof *ui);
    ui->password = password && *password ? fk_strdup(password) : NULL;
    pthread_mutex_init(&ui->lock, NULL);
    return ui;
}

void
fk__ui_destroy(fk__ui_t **ui_p)
{
    if (!ui_p || !*ui_p) {
        return;
    }
    fk__ui_t *ui = *ui_p;
    if (ui->password) {
        OPENSSL_cleanse(ui->password, strlen(ui->password));
    }
    free(ui->password);
    OPENSSL_cleanse(ui->sessions, sizeof ui->sessions);
    pthread_mutex_destroy(&ui->lock);
    free(ui);
    *ui_p = NULL;
}

void
fk__ui_session_open(fk__ui_t *ui, const fk__api_caller_t *caller, fk__ui_auth_t *auth)
{
    char *id = fk_random_hex(FK__UI_SECRET_HEX);
    char *csrf = fk_random_hex(FK__UI_SECRET_HEX);
    int64_t now = fk_clock_mono_ms();
    pthread_mutex_lock(&ui->lock);
    s_session_t *slot = &ui->sessions[0];
    for (int i = 0; i < S_SESSIONS_MAX; i++) {
        s_session_t *s = &ui->sessions[i];
        if (s->expires_ms <= now) {
            slot = s;
            break;
        }
        if (s->expires_ms < slot->expires_ms) {
            slot = s;
        }
    }
    memcpy(slot->id, id, sizeof slot->id);
    memcpy(slot->csrf, csrf, sizeof slot->csrf);
    slot->expires_ms = now + FK__UI_SESSION_TTL_MS;
    slot->caller = *caller;
    pthread_mutex_unlock(&ui->lock);
    auth->valid = true;
    auth->caller = *caller;
    memcpy(auth->id, id, sizeof auth->id);
    memcpy(auth->csrf, csrf, sizeof auth->csrf);
    free(id);
    free(csrf);
}

/*  Find the request's session. Every live slot is compared in constant
    time, so the answer's timing says nothing about near misses. */
void
fk__ui_session_find(fk__ui_t *ui, fk_http_req_t *req, fk__ui_auth_t *auth)
{
    memset(auth, 0, sizeof *auth);
    const char *cookie = fk_http_cookie(req, FK__UI_COOKIE);
    if (!cookie || strlen(cookie) != FK__UI_SECRET_HEX) {
        return;
    }
    int64_t now = fk_clock_mono_ms();
    pthread_mutex_lock(&ui->lock);
    for (int i = 0; i < S_SESSIONS_MAX; i++) {
        s_session_t *s = &ui->sessions[i];
        if (s->expires_ms > now && fk_secret_equal(cookie, s->id)) {
            auth->valid = true;
            memcpy(auth->id, s->id, sizeof auth->id);
            memcpy(auth->csrf, s->csrf, sizeof auth->csrf);
            auth->caller = s->caller;
        }
    }
    pthread_mutex_unlock(&ui->lock);
}

void
fk__ui_session_close(fk__ui_t *ui, const fk__ui_auth_t *auth)
{
    pthread_mutex_lock(&ui->lock);
    for (int i = 0; i < S_SESSIONS_MAX; i++) {
        s_session_t *s = &ui->sessions[i];
        if (s->expires_ms && fk_secret_equal(auth->id, s->id)) {
            OPENSSL_cleanse(s, sizeof *s);
        }
    }
    pthread_mutex_unlock(&ui->lock);
}

const char *
fk__ui_password(const fk__ui_t *ui)
{
    return ui->password;
}
