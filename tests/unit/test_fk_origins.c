/*  Tests for fk_origins: the public URLs a node answers under. A request's
    Host header may only pick one of them; nothing it says reaches an
    answer. */

#include "fk_err.h"
#include "fk_origins.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

TestSuite(fk_origins);

static fk_origins_t *
s_parse(const char *list)
{
    fk_origins_t *origins = NULL;
    char err[300] = "";
    cr_assert_eq(fk_origins_parse(&origins, list, err, sizeof err), 0, "%s: %s", list, err);
    return origins;
}

Test(fk_origins, a_list_keeps_its_order_and_drops_trailing_slashes)
{
    fk_origins_t *o = s_parse(" https://Fakts.Lab.example/ , http://198.18.0.5:8520,"
                              "https://198.18.0.5:8443/fakts/");
    cr_assert_eq(fk_origins_count(o), 3);
    cr_assert_str_eq(fk_origins_get(o, 0)->base, "https://fakts.lab.example");
    cr_assert_str_eq(fk_origins_get(o, 0)->host, "fakts.lab.example");
    cr_assert_eq(fk_origins_get(o, 0)->port, 0);
    cr_assert_str_eq(fk_origins_get(o, 1)->base, "http://198.18.0.5:8520");
    cr_assert_eq(fk_origins_get(o, 1)->port, 8520);
    cr_assert_str_eq(fk_origins_get(o, 2)->base, "https://198.18.0.5:8443/fakts");
    cr_assert_str_eq(fk_origins_get(o, 2)->scheme, "https");
    cr_assert_null(fk_origins_get(o, 3));
    fk_origins_destroy(&o);
    cr_assert_null(o);
}

Test(fk_origins, what_is_not_a_plain_public_url_is_refused_with_its_reason)
{
    const struct {
        const char *list;
        const char *reason;
    } bad[] = {
        {"ftp://fakts.example", "http:// or https://"},
        {"fakts.example:8520", "absolute URL"},
        {"http://user:pw@fakts.example", "user info"},
        {"http://fakts.example/?x=1", "query"},
        {"http://fakts.example/#top", "fragment"},
        {"http://", "absolute URL"},
        {" , ,", "no URL"},
        {"", "no URL"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fk_origins_t *origins = (fk_origins_t *)1;
        char err[300] = "";
        cr_assert_eq(fk_origins_parse(&origins, bad[i].list, err, sizeof err), FK_EINVAL_INPUT,
                     "'%s' was taken", bad[i].list);
        cr_assert_null(origins);
        cr_assert(strstr(err, bad[i].reason), "'%s': %s", bad[i].list, err);
    }
}

Test(fk_origins, the_host_header_picks_a_url_and_never_makes_one)
{
    fk_origins_t *o = s_parse("https://fakts.lab.example,http://198.18.0.5:8520,"
                              "http://[2001:db8::5]:8520");
    /*  A matching name (any case, default port implied or written). */
    cr_assert_str_eq(fk_origins_select(o, "198.18.0.5:8520")->base, "http://198.18.0.5:8520");
    cr_assert_str_eq(fk_origins_select(o, "FAKTS.lab.example")->base,
                     "https://fakts.lab.example");
    cr_assert_str_eq(fk_origins_select(o, "fakts.lab.example:443")->base,
                     "https://fakts.lab.example");
    cr_assert_str_eq(fk_origins_select(o, "[2001:DB8::5]:8520")->base,
                     "http://[2001:db8::5]:8520");
    /*  Anything else gets the first: spoofs, wrong ports, garbage. */
    const char *others[] = {"user@evil.example",
                            "evil.example",
                            "198.18.0.5",
                            "198.18.0.5:80",
                            "fakts.lab.example:8443",
                            "198.18.0.5:8520/../x",
                            "fakts.lab.example:",
                            "[2001:db8::5]x",
                            "",
                            NULL};
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
        cr_assert_str_eq(fk_origins_select(o, others[i])->base, "https://fakts.lab.example",
                         "Host %s", others[i] ? others[i] : "(none)");
    }
    fk_origins_destroy(&o);
}

Test(fk_origins, a_loopback_address_also_answers_as_localhost)
{
    fk_origins_t *o = fk_origins_derive("http", "127.0.0.2", 8520);
    cr_assert_eq(fk_origins_count(o), 2);
    cr_assert_str_eq(fk_origins_get(o, 0)->base, "http://127.0.0.2:8520");
    cr_assert_str_eq(fk_origins_select(o, "localhost:8520")->base, "http://localhost:8520");
    cr_assert_str_eq(fk_origins_select(o, "evil.example")->base, "http://127.0.0.2:8520");
    fk_origins_destroy(&o);

    o = fk_origins_derive("http", "198.18.0.9", 80);
    cr_assert_eq(fk_origins_count(o), 1);
    cr_assert_str_eq(fk_origins_get(o, 0)->base, "http://198.18.0.9:80");
    cr_assert_str_eq(fk_origins_select(o, "198.18.0.9")->base, "http://198.18.0.9:80");
    fk_origins_destroy(&o);

    /*  An HTTPS listener's origins are https: the port then is explicit too. */
    o = fk_origins_derive("https", "127.0.0.2", 8443);
    cr_assert_str_eq(fk_origins_get(o, 0)->base, "https://127.0.0.2:8443");
    cr_assert_str_eq(fk_origins_get(o, 0)->scheme, "https");
    cr_assert_str_eq(fk_origins_select(o, "localhost:8443")->base, "https://localhost:8443");
    fk_origins_destroy(&o);
}

Test(fk_origins, a_wildcard_address_answers_as_every_interface_and_localhost)
{
    fk_origins_t *o = fk_origins_derive("http", "0.0.0.0", 8520);
    cr_assert_geq(fk_origins_count(o), 2);
    cr_assert_str_eq(fk_origins_select(o, "127.0.0.1:8520")->base, "http://127.0.0.1:8520");
    cr_assert_str_eq(fk_origins_select(o, "localhost:8520")->base, "http://localhost:8520");
    /*  Loopback comes after every other address: the first origin is what
        an unknown name gets, and another machine cannot use 127.0.0.1. */
    size_t loopback = fk_origins_count(o);
    for (size_t i = 0; i < fk_origins_count(o); i++) {
        const char *base = fk_origins_get(o, i)->base;
        bool local = strncmp(base, "http://127.", 11) == 0
                     || strcmp(base, "http://localhost:8520") == 0;
        if (local && loopback == fk_origins_count(o)) {
            loopback = i;
        }
        cr_assert(local || i < loopback, "%s comes after a loopback origin", base);
    }
    cr_assert_lt(loopback, fk_origins_count(o));
    char *all = fk_origins_describe(o);
    cr_assert(strstr(all, "http://localhost:8520"), "%s", all);
    free(all);
    fk_origins_destroy(&o);
}
