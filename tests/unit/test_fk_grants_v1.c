/*  Tests for the pure derivations of the v1 dialect (fk_grants.h): the
    client secret of a client token and the client token of a redeem. */

#include "fk_grants.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

TestSuite(fk_grants_v1);

Test(fk_grants_v1, client_secret_is_stable_and_depends_on_the_token)
{
    const char *token = "435cb98a-4e3f-49c4-abfe-027745b179cf";
    char *a = fk_grants_v1_client_secret(token);
    char *b = fk_grants_v1_client_secret(token);
    char *other = fk_grants_v1_client_secret("435cb98a-4e3f-49c4-abfe-027745b179ce");
    cr_assert_str_eq(a, b, "the same token must give the same secret");
    cr_assert_str_neq(a, other, "different tokens must give different secrets");
    /*  base64url of 32 bytes without padding, as token_urlsafe(32). */
    cr_assert_eq(strlen(a), 43);
    cr_assert_eq(strspn(a, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"), 43);
    cr_assert(strstr(a, token) == NULL, "the secret must not contain the token");
    free(a);
    free(b);
    free(other);
}

Test(fk_grants_v1, redeem_client_token_is_a_stable_uuid4_per_token_and_client)
{
    const char *redeem = "0123456789abcdef0123456789abcdef";
    char *a = fk_grants_v1_redeem_client_token(redeem, "client-1");
    char *b = fk_grants_v1_redeem_client_token(redeem, "client-1");
    char *other_client = fk_grants_v1_redeem_client_token(redeem, "client-2");
    char *other_token =
        fk_grants_v1_redeem_client_token("fedcba9876543210fedcba9876543210", "client-1");
    cr_assert_str_eq(a, b);
    cr_assert_str_neq(a, other_client);
    cr_assert_str_neq(a, other_token);
    cr_assert_eq(strlen(a), 36);
    cr_assert_eq(a[14], '4', "version nibble: %s", a);
    cr_assert(strchr("89ab", a[19]) != NULL, "variant: %s", a);
    /*  The derived token's secret differs from the redeem-derived token. */
    char *secret = fk_grants_v1_client_secret(a);
    cr_assert_str_neq(secret, a);
    free(secret);
    free(a);
    free(b);
    free(other_client);
    free(other_token);
}
