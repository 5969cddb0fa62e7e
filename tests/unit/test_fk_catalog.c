/*  Tests for fk_catalog: registration, per-node ids, candidates, and the
    services dir rule that a bad file never drops a good service. */

#include "fk_catalog.h"
#include "fk_err.h"
#include "fk_health.h"
#include "fk_json.h"
#include "fk_log.h"
#include "fk_service.h"
#include "fk_testdir.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char *s_dir;
static char *s_services;
static fk_store_t *s_store;

static void
s_setup(void)
{
    fk_log_set_level(FK_LOG_OFF);
    s_dir = fk_testdir_make("fk_catalog");
    cr_assert(asprintf(&s_services, "%s/services.d", s_dir) > 0);
    cr_assert_eq(mkdir(s_services, 0700), 0);
    cr_assert_eq(fk_store_open(&s_store, s_dir, "node-a", 64u << 20, FK_STORE_SYNC_NONE), 0);
}

static void
s_teardown(void)
{
    fk_store_destroy(&s_store);
    free(s_services);
    fk_testdir_remove(&s_dir);
}

TestSuite(fk_catalog, .init = s_setup, .fini = s_teardown);

static json_t *
s_service(const char *id, const char *service, const char *tag)
{
    char text[512];
    snprintf(text, sizeof text,
             "{\"id\":\"%s\",\"service\":\"%s\",\"aliases\":[{\"host\":\"10.0.0.5\"}],"
             "\"tags\":[\"%s\"]}",
             id, service, tag);
    json_t *canonical = NULL;
    char err[256];
    cr_assert_eq(fk_service_load(text, strlen(text), &canonical, err, sizeof err), 0, "%s", err);
    return canonical;
}

static json_t *
s_list(bool local_only)
{
    fk_store_txn_t *txn;
    cr_assert_eq(fk_store_read_begin(s_store, &txn), 0);
    json_t *list = fk_catalog_list(s_store, txn, local_only, false);
    fk_store_txn_end(&txn);
    return list;
}

static char *
s_ids(json_t *list)
{
    char *out = calloc(1, 1024);
    size_t i;
    json_t *item;
    json_array_foreach(list, i, item)
    {
        strcat(out, fk_json_str(item, "id"));
        strcat(out, ";");
    }
    json_decref(list);
    return out;
}

static void
s_write(const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", s_services, name);
    FILE *file = fopen(path, "w");
    cr_assert_not_null(file);
    fputs(text, file);
    fclose(file);
}

Test(fk_catalog, register_lists_with_node_and_source)
{
    json_t *svc = s_service("rekuest-1", "live.arkitekt.rekuest", "cuda");
    cr_assert_eq(fk_catalog_register(s_store, svc, "api"), 0);
    json_decref(svc);
    json_t *list = s_list(false);
    cr_assert_eq(json_array_size(list), 1);
    json_t *first = json_array_get(list, 0);
    cr_assert_str_eq(fk_json_str(first, "node"), "node-a");
    cr_assert_str_eq(fk_json_str(first, "source"), "api");
    cr_assert_str_eq(fk_json_str(first, "service"), "live.arkitekt.rekuest");
    json_decref(list);
}

Test(fk_catalog, reregistering_an_id_under_another_service_replaces_it)
{
    json_t *a = s_service("one", "live.arkitekt.rekuest", "x");
    json_t *b = s_service("one", "live.arkitekt.mikro", "x");
    cr_assert_eq(fk_catalog_register(s_store, a, "api"), 0);
    cr_assert_eq(fk_catalog_register(s_store, b, "api"), 0);
    json_t *list = s_list(true);
    cr_assert_eq(json_array_size(list), 1);
    cr_assert_str_eq(fk_json_str(json_array_get(list, 0), "service"), "live.arkitekt.mikro");
    json_decref(list);
    json_decref(a);
    json_decref(b);
}

Test(fk_catalog, unchanged_registration_writes_nothing)
{
    json_t *a = s_service("one", "live.arkitekt.rekuest", "x");
    cr_assert_eq(fk_catalog_register(s_store, a, "api"), 0);
    fk_store_txn_t *txn;
    cr_assert_eq(fk_store_read_begin(s_store, &txn), 0);
    uint64_t before = fk_store_owner_version(txn, "node-a");
    fk_store_txn_end(&txn);
    cr_assert_eq(fk_catalog_register(s_store, a, "api"), 0);
    cr_assert_eq(fk_store_read_begin(s_store, &txn), 0);
    cr_assert_eq(fk_store_owner_version(txn, "node-a"), before);
    fk_store_txn_end(&txn);
    json_decref(a);
}

Test(fk_catalog, deregister_removes_and_reports_unknown_ids)
{
    json_t *a = s_service("one", "live.arkitekt.rekuest", "x");
    cr_assert_eq(fk_catalog_register(s_store, a, "api"), 0);
    cr_assert_eq(fk_catalog_deregister(s_store, "one"), 0);
    cr_assert_eq(fk_catalog_deregister(s_store, "one"), FK_ENOTFOUND);
    json_t *list = s_list(false);
    cr_assert_eq(json_array_size(list), 0);
    json_decref(list);
    json_decref(a);
}

Test(fk_catalog, candidates_are_the_named_services_and_tagged_ones_for_bare_strings)
{
    json_t *a = s_service("r1", "live.arkitekt.rekuest", "gpu");
    json_t *b = s_service("m1", "live.arkitekt.mikro", "cuda");
    json_t *c = s_service("k1", "live.arkitekt.kabinet", "none");
    fk_catalog_register(s_store, a, "api");
    fk_catalog_register(s_store, b, "api");
    fk_catalog_register(s_store, c, "api");
    json_t *manifest = json_pack("{s:[{s:s, s:s, s:b}, {s:s, s:s, s:b}]}", "requirements", "key",
                                 "rekuest", "service", "live.arkitekt.rekuest", "match_tags", 0,
                                 "key", "cuda", "service", "cuda", "match_tags", 1);
    fk_store_txn_t *txn;
    cr_assert_eq(fk_store_read_begin(s_store, &txn), 0);
    char *ids = s_ids(fk_catalog_candidates(txn, manifest));
    fk_store_txn_end(&txn);
    cr_assert_str_eq(ids, "r1;m1;");
    free(ids);
    json_decref(manifest);
    json_decref(a);
    json_decref(b);
    json_decref(c);
}

static const char s_good[] = "id: rekuest-1\n"
                             "service: live.arkitekt.rekuest\n"
                             "aliases:\n"
                             "  - host: 10.0.0.5\n"
                             "    port: 8090\n";

Test(fk_catalog, sync_dir_registers_good_files_and_skips_bad_ones)
{
    s_write("rekuest.yaml", s_good);
    s_write("bad.yaml", "id: broken\nservice: live.arkitekt.mikro\naliases:\n  - port: 1\n");
    s_write("notes.txt", "ignored: not a definition file\n");
    cr_assert_eq(fk_catalog_sync_dir(s_store, s_services, NULL), 1, "one file failed");
    char *ids = s_ids(s_list(true));
    cr_assert_str_eq(ids, "rekuest-1;");
    free(ids);
}

Test(fk_catalog, a_bad_edit_keeps_the_service_its_file_defined)
{
    s_write("rekuest.yaml", s_good);
    cr_assert_eq(fk_catalog_sync_dir(s_store, s_services, NULL), 0);
    s_write("rekuest.yaml", "id: rekuest-1\nservice: [oops\n");
    cr_assert_eq(fk_catalog_sync_dir(s_store, s_services, NULL), 1);
    char *ids = s_ids(s_list(true));
    cr_assert_str_eq(ids, "rekuest-1;", "a bad edit must not drop the good service");
    free(ids);
}

Test(fk_catalog, removed_file_deregisters_and_api_services_stay)
{
    s_write("rekuest.yaml", s_good);
    json_t *api = s_service("api-1", "live.arkitekt.mikro", "x");
    cr_assert_eq(fk_catalog_register(s_store, api, "api"), 0);
    json_decref(api);
    cr_assert_eq(fk_catalog_sync_dir(s_store, s_services, NULL), 0);
    char path[512];
    snprintf(path, sizeof path, "%s/rekuest.yaml", s_services);
    cr_assert_eq(unlink(path), 0);
    cr_assert_eq(fk_catalog_sync_dir(s_store, s_services, NULL), 0);
    char *ids = s_ids(s_list(true));
    cr_assert_str_eq(ids, "api-1;");
    free(ids);
}

Test(fk_catalog, file_that_changes_its_id_replaces_the_old_service)
{
    s_write("svc.yaml", s_good);
    cr_assert_eq(fk_catalog_sync_dir(s_store, s_services, NULL), 0);
    s_write("svc.yaml", "id: rekuest-2\nservice: live.arkitekt.rekuest\naliases:\n"
                        "  - host: 10.0.0.6\n");
    cr_assert_eq(fk_catalog_sync_dir(s_store, s_services, NULL), 0);
    char *ids = s_ids(s_list(true));
    cr_assert_str_eq(ids, "rekuest-2;");
    free(ids);
}

Test(fk_catalog, missing_directory_counts_as_empty)
{
    cr_assert_eq(fk_catalog_sync_dir(s_store, "/nonexistent/services.d", NULL), 0);
}

/*  The actions of the audit entries in store, in order, as "a;b;". */
static char *
s_audit_actions(fk_audit_t *audit)
{
    json_t *entries = NULL;
    cr_assert_eq(fk_audit_list(audit, 0, 0, &entries), 0);
    char *out = strdup("");
    size_t i;
    json_t *entry;
    json_array_foreach(entries, i, entry)
    {
        cr_assert_str_eq(fk_json_str(entry, "actor"), "services-dir");
        char *next = NULL;
        cr_assert(asprintf(&next, "%s%s:%s;", out, fk_json_str(entry, "action"),
                           fk_json_str(entry, "subject"))
                  > 0);
        free(out);
        out = next;
    }
    json_decref(entries);
    return out;
}

Test(fk_catalog, the_services_dir_records_its_changes_and_only_them_in_the_audit_log)
{
    fk_audit_t *audit = fk_audit_new(&(fk_audit_opts_t){.store = s_store});
    s_write("rekuest.yaml", s_good);
    cr_assert_eq(fk_catalog_sync_dir(s_store, s_services, audit), 0);
    cr_assert_eq(fk_catalog_sync_dir(s_store, s_services, audit), 0);
    char path[512];
    snprintf(path, sizeof path, "%s/rekuest.yaml", s_services);
    cr_assert_eq(unlink(path), 0);
    cr_assert_eq(fk_catalog_sync_dir(s_store, s_services, audit), 0);
    char *actions = s_audit_actions(audit);
    cr_assert_str_eq(actions, "service.register:rekuest-1;service.deregister:rekuest-1;",
                     "an unchanged reload records nothing");
    free(actions);
    fk_audit_destroy(&audit);
}

/*  ---------------------------------------------------------------------
    Health in the record (fk_catalog_set_health) and in candidates.
    --------------------------------------------------------------------- */

/*  A definition of live.arkitekt.rekuest with one ttl check. */
static json_t *
s_checked(const char *id)
{
    char text[256];
    snprintf(text, sizeof text,
             "{\"id\":\"%s\",\"service\":\"live.arkitekt.rekuest\",\"aliases\":[{\"host\":\"h\"}],"
             "\"checks\":[{\"ttl\":\"10s\"}]}",
             id);
    json_t *canonical = NULL;
    char err[256];
    cr_assert_eq(fk_service_load(text, strlen(text), &canonical, err, sizeof err), 0, "%s", err);
    return canonical;
}

/*  Set the one check of def to status. */
static int
s_set(const json_t *def, fk_health_status_t status)
{
    fk_health_t health;
    cr_assert_eq(fk_health_init(&health, def, 1), 0);
    fk_health_report(&health, 0, status, "test", 2);
    json_t *json = fk_health_to_json(&health);
    int rc = fk_catalog_set_health(s_store, def, json);
    json_decref(json);
    return rc;
}

static char *
s_candidates(void)
{
    json_t *manifest = json_pack("{s:[{s:s, s:s, s:b}]}", "requirements", "key", "rekuest",
                                 "service", "live.arkitekt.rekuest", "match_tags", 0);
    fk_store_txn_t *txn;
    cr_assert_eq(fk_store_read_begin(s_store, &txn), 0);
    char *ids = s_ids(fk_catalog_candidates(txn, manifest));
    fk_store_txn_end(&txn);
    json_decref(manifest);
    return ids;
}

Test(fk_catalog, a_definition_with_checks_starts_critical_and_keeps_health_on_reregistration)
{
    json_t *def = s_checked("r1");
    cr_assert_eq(fk_catalog_register(s_store, def, "api"), 0);
    json_t *list = s_list(true);
    const json_t *health = json_object_get(json_array_get(list, 0), "health");
    cr_expect_str_eq(fk_json_str(health, "status"), "critical");
    json_decref(list);
    cr_assert_eq(s_set(def, FK_HEALTH_PASSING), 0);
    /*  The same definition again keeps the health its checks earned. */
    cr_assert_eq(fk_catalog_register(s_store, def, "api"), 0);
    list = s_list(true);
    health = json_object_get(json_array_get(list, 0), "health");
    cr_expect_str_eq(fk_json_str(health, "status"), "passing");
    json_decref(list);
    json_decref(def);
}

Test(fk_catalog, health_for_checks_that_changed_meanwhile_is_refused)
{
    json_t *def = s_checked("r1");
    cr_assert_eq(fk_catalog_register(s_store, def, "api"), 0);
    json_t *other = json_deep_copy(def);
    json_object_set_new(other, "checks", json_pack("[{s:s, s:n}]", "ttl", "20s",
                                                   "deregister_critical_after"));
    cr_expect_eq(s_set(other, FK_HEALTH_PASSING), FK_ENOTFOUND);
    json_object_set_new(other, "id", json_string("r9"));
    cr_expect_eq(s_set(other, FK_HEALTH_PASSING), FK_ENOTFOUND);
    json_decref(other);
    json_decref(def);
}

Test(fk_catalog, candidates_prefer_passing_then_warning_and_never_critical)
{
    json_t *a = s_checked("a1");
    json_t *b = s_checked("b1");
    json_t *c = s_checked("c1");
    fk_catalog_register(s_store, a, "api");
    fk_catalog_register(s_store, b, "api");
    fk_catalog_register(s_store, c, "api");
    char *ids = s_candidates();
    cr_expect_str_eq(ids, "", "all start critical");
    free(ids);
    cr_assert_eq(s_set(b, FK_HEALTH_WARNING), 0);
    ids = s_candidates();
    cr_expect_str_eq(ids, "b1;");
    free(ids);
    cr_assert_eq(s_set(c, FK_HEALTH_PASSING), 0);
    ids = s_candidates();
    cr_expect_str_eq(ids, "c1;", "passing before warning, whatever the id");
    free(ids);
    cr_assert_eq(s_set(a, FK_HEALTH_PASSING), 0);
    ids = s_candidates();
    cr_expect_str_eq(ids, "a1;", "then the smallest id");
    free(ids);
    json_decref(a);
    json_decref(b);
    json_decref(c);
}
