/*  Tests for the answers plane's per-address rate limits
    (fk__api_rate_ok): a fixed window per (bucket, address), and a table
    that a flood of addresses cannot empty of the clients still knocking. */

#include "fk_api_priv.h"

#include <criterion/criterion.h>
#include <stdio.h>

TestSuite(fk_api_rate);

static fk_api_t *
s_api(void)
{
    fk_api_opts_t opts = {.admin_token = "an-admin-token-of-at-least-32-chars"};
    return fk_api_new(&opts);
}

Test(fk_api_rate, a_limit_counts_per_bucket_and_address)
{
    fk_api_t *api = s_api();
    for (int i = 0; i < 3; i++) {
        cr_assert(fk__api_rate_ok(api, "v1", "198.18.0.1", 3), "request %d", i + 1);
    }
    cr_assert_not(fk__api_rate_ok(api, "v1", "198.18.0.1", 3), "the fourth in a minute");
    cr_assert(fk__api_rate_ok(api, "v1", "198.18.0.2", 3), "another address has its own count");
    cr_assert(fk__api_rate_ok(api, "token", "198.18.0.1", 3), "another door has its own count");
    cr_assert(fk__api_rate_ok(api, "v1", "198.18.0.1", 0), "0 is no limit");
    fk_api_destroy(&api);
}

Test(fk_api_rate, a_flood_of_addresses_neither_grows_the_table_nor_frees_a_knocking_client)
{
    fk_api_t *api = s_api();
    const char *abuser = "198.18.9.9";
    for (int i = 0; i < 5; i++) {
        fk__api_rate_ok(api, "ui-login", abuser, 5);
    }
    cr_assert_not(fk__api_rate_ok(api, "ui-login", abuser, 5));
    /*  25,000 addresses once each; the abuser keeps knocking. The old
        table forgot everyone at 10,000, the abuser included. */
    char peer[32];
    for (int i = 0; i < 25000; i++) {
        snprintf(peer, sizeof peer, "198.19.%d.%d", i / 250, i % 250);
        cr_assert(fk__api_rate_ok(api, "ui-login", peer, 5));
        cr_assert_leq(fk__api_rate_entries(api), 10000);
        if (i % 500 == 0) {
            cr_assert_not(fk__api_rate_ok(api, "ui-login", abuser, 5),
                          "the abuser was let in after %d other addresses", i + 1);
        }
    }
    fk_api_destroy(&api);
}
