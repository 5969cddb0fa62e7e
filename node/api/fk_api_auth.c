/*  fk_api_auth - who sent a request (fk_api_priv.h): the node's admin
    token or an operator token, and the per-request record of who passed
    the role check, which the audit of a request names. */

#include "fk_api_priv.h"

#include "fk_clock.h"
#include "fk_crypto.h"
#include "fk_err.h"
#include "fk_optokens.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/*  The bootstrap credential's name in sessions, listings and the audit. */
#define S_ADMIN_NAME "admin-token"

const char *
fk__api_credential(fk_http_req_t *req)
{
    const char *auth = fk_http_header(req, "Authorization");
    if (auth && strncasecmp(auth, "Bearer ", 7) == 0) {
        return auth + 7;
    }
    return fk_http_header(req, "X-Fakts-Token");
}

int
fk__api_authenticate(fk_api_t *self, const char *secret, fk__api_caller_t *caller)
{
    memset(caller, 0, sizeof *caller);
    /*  Always compared, so the time taken does not say whether the secret
        looked like an operator token. */
    if (fk_secret_equal(secret, self->admin_token)) {
        caller->roles = FK_ROLE_OPERATOR;
        snprintf(caller->name, sizeof caller->name, "%s", S_ADMIN_NAME);
        return 0;
    }
    if (!secret) {
        return FK_EDENIED;
    }
    fk_store_txn_t *txn;
    int rc = fk_store_read_begin(self->store, &txn);
    if (rc != 0) {
        return rc;
    }
    fk_optoken_t token;
    rc = fk_optokens_verify(txn, secret, fk_clock_wall_ms(), &token);
    fk_store_txn_end(&txn);
    if (rc == 0) {
        caller->roles = token.roles;
        memcpy(caller->name, token.name, sizeof caller->name);
        memcpy(caller->accessor, token.accessor, sizeof caller->accessor);
    }
    return rc;
}

bool
fk__api_caller_live(fk_api_t *self, const fk__api_caller_t *caller)
{
    if (caller->accessor[0] == '\0') {
        return true;
    }
    fk_store_txn_t *txn;
    if (fk_store_read_begin(self->store, &txn) != 0) {
        return false;
    }
    int rc = fk_optokens_live(txn, caller->accessor, fk_clock_wall_ms());
    fk_store_txn_end(&txn);
    return rc == 0;
}

void
fk__api_set_caller(fk_http_req_t *req, const fk__api_caller_t *caller)
{
    fk_http_set_user(req, caller);
}

const char *
fk__api_actor(fk_http_req_t *req)
{
    const fk__api_caller_t *caller = fk_http_user(req);
    return caller ? caller->name : NULL;
}

void
fk__api_roles_text(unsigned roles, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (unsigned bit = 1; bit <= FK_ROLE_OPERATOR; bit <<= 1) {
        const char *name = (roles & bit) ? fk_optokens_role_name(bit) : NULL;
        if (name && used < size) {
            int n = snprintf(buf + used, size - used, "%s%s", used ? ", " : "", name);
            used += n > 0 ? (size_t)n : 0;
        }
    }
    if (used == 0) {
        snprintf(buf, size, "none");
    }
}
