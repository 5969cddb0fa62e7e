/*  Tests for fk_config: flags beat the environment, which beats the file,
    which beats the defaults; bad values are refused with the setting named. */

#include "fk_config.h"
#include "fk_err.h"
#include "fk_testdir.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *s_dir;

static const char *const s_env[] = {"FAKTS_CONFIG",
                                    "FAKTS_METRICS_LOOPBACK_OPEN",
                                    "FAKTS_DATA_DIR",
                                    "FAKTS_NODE",
                                    "FAKTS_HTTP",
                                    "FAKTS_PUBLIC_URL",
                                    "FAKTS_SERVICES_DIR",
                                    "FAKTS_DEPLOYMENT_NAME",
                                    "FAKTS_LOG_LEVEL",
                                    "FAKTS_MAX_BODY",
                                    "FAKTS_RATE_AUTHORIZE",
                                    "FAKTS_RATE_TOKEN",
                                    "FAKTS_BEACON",
                                    "FAKTS_BEACON_INTERVAL",
                                    "FAKTS_BEACON_PORT",
                                    "FAKTS_UI_PASSWORD_FILE",
                                    "FAKTS_MAP_SIZE",
                                    "FAKTS_HTTP_CONNECTIONS",
                                    "FAKTS_HTTP_PER_IP",
                                    "FAKTS_AUDIT_RETENTION",
                                    "FAKTS_AUDIT_MAX_ENTRIES",
                                    "FAKTS_JOIN_FILE",
                                    "FAKTS_CLUSTER_SECRET_FILE",
                                    "FAKTS_JOIN_TOKEN",
                                    "FAKTS_INSECURE_GOSSIP",
                                    "FAKTS_TLS_CERT",
                                    "FAKTS_TLS_KEY",
                                    "FAKTS_HTTP_IDLE_TIMEOUT",
                                    "FAKTS_HTTP_WORKERS",
                                    "FAKTS_RATE_CODE_MISSES"};

static void
s_setup(void)
{
    s_dir = fk_testdir_make("fk_config");
    for (size_t i = 0; i < sizeof s_env / sizeof s_env[0]; i++) {
        unsetenv(s_env[i]);
    }
}

static void
s_teardown(void)
{
    fk_testdir_remove(&s_dir);
}

TestSuite(fk_config, .init = s_setup, .fini = s_teardown);

static char *
s_write_config(const char *text)
{
    char *path = NULL;
    cr_assert(asprintf(&path, "%s/config.yaml", s_dir) > 0);
    FILE *file = fopen(path, "w");
    cr_assert_not_null(file);
    fputs(text, file);
    fclose(file);
    return path;
}

/*  getopt wants mutable strings; the cases are literals. */
static int
s_load(fk_config_t *cfg, char *err, size_t errlen, int argc, const char *const *argv)
{
    char **copy = calloc((size_t)argc + 1, sizeof *copy);
    for (int i = 0; i < argc; i++) {
        copy[i] = strdup(argv[i]);
    }
    int rc = fk_config_load(cfg, argc, copy, err, errlen);
    for (int i = 0; i < argc; i++) {
        free(copy[i]);
    }
    free(copy);
    return rc;
}

Test(fk_config, defaults_are_documented_values)
{
    fk_config_t cfg;
    char err[256];
    const char *argv[] = {"agent", NULL};
    cr_assert_eq(s_load(&cfg, err, sizeof err, 1, argv), 0);
    cr_assert_str_eq(cfg.data_dir, "./fakts-data");
    cr_assert_str_eq(cfg.http_host, "127.0.0.1");
    cr_assert_eq(cfg.http_port, 8520);
    cr_assert_str_eq(cfg.services_dir, "./fakts-data/services.d");
    cr_assert_eq(cfg.max_body, 65536);
    cr_assert_eq(cfg.authorize_per_min, 30);
    cr_assert_eq(cfg.token_per_min, 240);
    cr_assert_eq(cfg.v1_per_min, 120);
    cr_assert_null(cfg.public_url);
    cr_assert_not_null(cfg.node);
    cr_assert(!cfg.beacon, "the LAN beacon is off by default");
    cr_assert_eq(cfg.beacon_interval_s, 5);
    cr_assert_eq(cfg.beacon_port, 45678);
    cr_assert_eq(cfg.audit_retention_s, 30 * 86400);
    cr_assert_eq(cfg.audit_max_entries, 10000);
    fk_config_clear(&cfg);
}

Test(fk_config, audit_retention_takes_a_duration_and_max_entries_a_count)
{
    fk_config_t cfg;
    char err[256];
    const char *argv[] = {"agent", "--audit-retention", "7d", "--audit-max-entries", "500", NULL};
    cr_assert_eq(s_load(&cfg, err, sizeof err, 5, argv), 0, "%s", err);
    cr_assert_eq(cfg.audit_retention_s, 7 * 86400);
    cr_assert_eq(cfg.audit_max_entries, 500);
    fk_config_clear(&cfg);
    cr_assert_eq(setenv("FAKTS_AUDIT_RETENTION", "90m", 1), 0);
    cr_assert_eq(s_load(&cfg, err, sizeof err, 1, argv), 0, "%s", err);
    cr_assert_eq(cfg.audit_retention_s, 90 * 60);
    fk_config_clear(&cfg);
}

Test(fk_config, flag_beats_environment_beats_file)
{
    char *path = s_write_config("node: from-file\n"
                                "deployment_name: file-deploy\n"
                                "http: 127.0.0.3:9000\n"
                                "max_body: 1000\n");
    setenv("FAKTS_NODE", "from-env", 1);
    setenv("FAKTS_HTTP", "127.0.0.2:8000", 1);
    fk_config_t cfg;
    char err[256];
    const char *argv[] = {"agent", "--config", path, "--node", "from-flag", NULL};
    cr_assert_eq(s_load(&cfg, err, sizeof err, 5, argv), 0, "%s", err);
    cr_assert_str_eq(cfg.node, "from-flag");
    cr_assert_str_eq(cfg.http_host, "127.0.0.2", "the environment beats the file");
    cr_assert_eq(cfg.http_port, 8000);
    cr_assert_str_eq(cfg.deployment_name, "file-deploy", "the file beats the default");
    cr_assert_eq(cfg.max_body, 1000);
    cr_assert_str_eq(cfg.config_file, path);
    fk_config_clear(&cfg);
    free(path);
}

Test(fk_config, ui_password_file_from_each_source)
{
    char *path = s_write_config("ui_password_file: /from/file\n");
    fk_config_t cfg;
    char err[256];
    const char *plain[] = {"agent", NULL};
    cr_assert_eq(s_load(&cfg, err, sizeof err, 1, plain), 0, "%s", err);
    cr_assert_null(cfg.ui_password_file, "no password file unless one is set");
    fk_config_clear(&cfg);
    const char *with_file[] = {"agent", "--config", path, NULL};
    cr_assert_eq(s_load(&cfg, err, sizeof err, 3, with_file), 0, "%s", err);
    cr_assert_str_eq(cfg.ui_password_file, "/from/file");
    fk_config_clear(&cfg);
    setenv("FAKTS_UI_PASSWORD_FILE", "/from/env", 1);
    cr_assert_eq(s_load(&cfg, err, sizeof err, 3, with_file), 0, "%s", err);
    cr_assert_str_eq(cfg.ui_password_file, "/from/env", "the environment beats the file");
    fk_config_clear(&cfg);
    const char *with_flag[] = {"agent", "--config", path, "--ui-password-file", "/from/flag", NULL};
    cr_assert_eq(s_load(&cfg, err, sizeof err, 5, with_flag), 0, "%s", err);
    cr_assert_str_eq(cfg.ui_password_file, "/from/flag", "the flag beats the environment");
    fk_config_clear(&cfg);
    free(path);
}

Test(fk_config, metrics_loopback_open_from_each_source)
{
    char *path = s_write_config("metrics_loopback_open: true\n");
    fk_config_t cfg;
    char err[256];
    const char *plain[] = {"agent", NULL};
    cr_assert_eq(s_load(&cfg, err, sizeof err, 1, plain), 0, "%s", err);
    cr_assert_not(cfg.metrics_loopback_open, "/metrics is guarded unless asked");
    fk_config_clear(&cfg);
    const char *with_file[] = {"agent", "--config", path, NULL};
    cr_assert_eq(s_load(&cfg, err, sizeof err, 3, with_file), 0, "%s", err);
    cr_assert(cfg.metrics_loopback_open);
    fk_config_clear(&cfg);
    setenv("FAKTS_METRICS_LOOPBACK_OPEN", "false", 1);
    cr_assert_eq(s_load(&cfg, err, sizeof err, 3, with_file), 0, "%s", err);
    cr_assert_not(cfg.metrics_loopback_open, "the environment beats the file");
    fk_config_clear(&cfg);
    const char *with_flag[] = {"agent", "--config", path, "--metrics-loopback-open", NULL};
    cr_assert_eq(s_load(&cfg, err, sizeof err, 4, with_flag), 0, "%s", err);
    cr_assert(cfg.metrics_loopback_open, "the bare flag turns it on over the environment");
    fk_config_clear(&cfg);
    const char *bad[] = {"agent", "--metrics-loopback-open=yes", NULL};
    cr_assert_neq(s_load(&cfg, err, sizeof err, 2, bad), 0);
    cr_assert(strstr(err, "metrics-loopback-open"), "%s", err);
    free(path);
}

Test(fk_config, join_file_from_each_source_and_only_with_a_way_to_be_admitted)
{
    char *path = s_write_config("join_file: /shared/file\ncluster_secret_file: /s\n");
    fk_config_t cfg;
    char err[256];
    const char *plain[] = {"agent", NULL};
    cr_assert_eq(s_load(&cfg, err, sizeof err, 1, plain), 0, "%s", err);
    cr_assert_null(cfg.join_file, "no rendezvous unless one is set");
    fk_config_clear(&cfg);
    const char *with_file[] = {"agent", "--config", path, NULL};
    cr_assert_eq(s_load(&cfg, err, sizeof err, 3, with_file), 0, "%s", err);
    cr_assert_str_eq(cfg.join_file, "/shared/file");
    fk_config_clear(&cfg);
    setenv("FAKTS_JOIN_FILE", "/shared/env", 1);
    cr_assert_eq(s_load(&cfg, err, sizeof err, 3, with_file), 0, "%s", err);
    cr_assert_str_eq(cfg.join_file, "/shared/env", "the environment beats the file");
    fk_config_clear(&cfg);
    const char *with_flag[] = {"agent", "--config", path, "--join-file", "/shared/flag", NULL};
    cr_assert_eq(s_load(&cfg, err, sizeof err, 5, with_flag), 0, "%s", err);
    cr_assert_str_eq(cfg.join_file, "/shared/flag", "the flag beats the environment");
    fk_config_clear(&cfg);
    /*  Listed strangers are admitted by the secret: without one (or a
        join token) in the secure mode, the setting is refused. */
    const char *alone[] = {"agent", "--join-file", "/shared/flag", NULL};
    cr_assert_eq(s_load(&cfg, err, sizeof err, 3, alone), FK_EINVAL_INPUT);
    cr_assert(strstr(err, "join-file") && strstr(err, "cluster-secret-file"), "%s", err);
    const char *insecure[] = {"agent", "--join-file", "/shared/flag", "--insecure-gossip", NULL};
    cr_assert_eq(s_load(&cfg, err, sizeof err, 4, insecure), 0, "%s", err);
    fk_config_clear(&cfg);
    free(path);
}

Test(fk_config, config_file_from_environment)
{
    char *path = s_write_config("data_dir: /srv/fakts\n");
    setenv("FAKTS_CONFIG", path, 1);
    fk_config_t cfg;
    char err[256];
    const char *argv[] = {"agent", NULL};
    cr_assert_eq(s_load(&cfg, err, sizeof err, 1, argv), 0, "%s", err);
    cr_assert_str_eq(cfg.data_dir, "/srv/fakts");
    cr_assert_str_eq(cfg.services_dir, "/srv/fakts/services.d");
    fk_config_clear(&cfg);
    free(path);
}

Test(fk_config, unknown_file_key_is_named)
{
    char *path = s_write_config("nodee: typo\n");
    fk_config_t cfg;
    char err[256];
    const char *argv[] = {"agent", "--config", path, NULL};
    cr_assert_eq(s_load(&cfg, err, sizeof err, 3, argv), FK_ECONFIG);
    cr_assert(strstr(err, "nodee") != NULL, "%s", err);
    cr_assert(strstr(err, path) != NULL, "%s", err);
    free(path);
}

Test(fk_config, malformed_yaml_reports_the_file)
{
    char *path = s_write_config("node: [unclosed\n");
    fk_config_t cfg;
    char err[256];
    const char *argv[] = {"agent", "--config", path, NULL};
    cr_assert_eq(s_load(&cfg, err, sizeof err, 3, argv), FK_ECONFIG);
    cr_assert(strstr(err, path) != NULL, "%s", err);
    free(path);
}

Test(fk_config, missing_config_file_is_an_error)
{
    fk_config_t cfg;
    char err[256];
    const char *argv[] = {"agent", "--config", "/nonexistent/fakts.yaml", NULL};
    cr_assert_eq(s_load(&cfg, err, sizeof err, 3, argv), FK_ECONFIG);
    cr_assert(strstr(err, "/nonexistent/fakts.yaml") != NULL);
}

Test(fk_config, bad_values_name_the_setting)
{
    struct {
        const char *flag;
        const char *value;
        const char *named;
    } cases[] = {
        {"--http", "nohostport", "http"},          {"--http", "127.0.0.1:99999", "http"},
        {"--log-level", "loud", "log-level"},      {"--max-body", "-5", "max-body"},
        {"--public-url", "ftp://x", "public-url"},
        {"--public-url", "https://fakts.example,http://user@evil.example", "user info"},
        {"--audit-retention", "0", "audit-retention"},
        {"--audit-retention", "3w", "audit-retention"},
        {"--audit-retention", "4000d", "audit-retention"},
        {"--audit-max-entries", "0", "audit-max-entries"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fk_config_t cfg;
        char err[256] = "";
        const char *argv[] = {"agent", cases[i].flag, cases[i].value, NULL};
        cr_assert_eq(s_load(&cfg, err, sizeof err, 3, argv), FK_EINVAL_INPUT, "%s %s",
                     cases[i].flag, cases[i].value);
        cr_assert(strstr(err, cases[i].named) != NULL, "%s", err);
    }
}

Test(fk_config, unknown_flag_and_stray_argument_are_refused)
{
    fk_config_t cfg;
    char err[256];
    const char *argv[] = {"agent", "--bogus", NULL};
    cr_assert_eq(s_load(&cfg, err, sizeof err, 2, argv), FK_EINVAL_INPUT);
    const char *argv2[] = {"agent", "stray", NULL};
    cr_assert_eq(s_load(&cfg, err, sizeof err, 2, argv2), FK_EINVAL_INPUT);
    cr_assert(strstr(err, "stray") != NULL);
}

Test(fk_config, port_zero_means_any_free_port)
{
    fk_config_t cfg;
    char err[256];
    const char *argv[] = {"agent", "--http", "127.0.0.5:0", NULL};
    cr_assert_eq(s_load(&cfg, err, sizeof err, 3, argv), 0);
    cr_assert_eq(cfg.http_port, 0);
    cr_assert_str_eq(cfg.http_host, "127.0.0.5");
    fk_config_clear(&cfg);
}

Test(fk_config, beacon_switch_from_flag_environment_and_file)
{
    fk_config_t cfg;
    char err[256];
    const char *on[] = {"agent", "--http", "0.0.0.0:8520", "--beacon", NULL};
    cr_assert_eq(s_load(&cfg, err, sizeof err, 4, on), 0, "%s", err);
    cr_assert(cfg.beacon, "--beacon alone turns it on");
    fk_config_clear(&cfg);

    setenv("FAKTS_BEACON", "true", 1);
    const char *off[] = {"agent", "--beacon=false", NULL};
    cr_assert_eq(s_load(&cfg, err, sizeof err, 2, off), 0, "%s", err);
    cr_assert(!cfg.beacon, "--beacon=false beats FAKTS_BEACON=true");
    fk_config_clear(&cfg);
    unsetenv("FAKTS_BEACON");

    char *path = s_write_config("beacon: true\n"
                                "beacon_interval: 2\n"
                                "beacon_port: 45679\n"
                                "http: 198.18.7.1:8520\n");
    const char *file[] = {"agent", "--config", path, NULL};
    cr_assert_eq(s_load(&cfg, err, sizeof err, 3, file), 0, "%s", err);
    cr_assert(cfg.beacon, "a YAML boolean is read");
    cr_assert_eq(cfg.beacon_interval_s, 2);
    cr_assert_eq(cfg.beacon_port, 45679);
    fk_config_clear(&cfg);
    free(path);
}

Test(fk_config, bad_beacon_values_name_the_setting)
{
    struct {
        const char *flag;
        const char *value;
        const char *named;
    } cases[] = {
        {"--beacon-interval", "0", "beacon-interval"},
        {"--beacon-interval", "3601", "beacon-interval"},
        {"--beacon-interval", "1.5", "beacon-interval"},
        {"--beacon-port", "0", "beacon-port"},
        {"--beacon-port", "65536", "beacon-port"},
        {"--beacon=maybe", NULL, "beacon"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fk_config_t cfg;
        char err[256] = "";
        const char *argv[] = {"agent", cases[i].flag, cases[i].value, NULL};
        int argc = cases[i].value ? 3 : 2;
        cr_assert_eq(s_load(&cfg, err, sizeof err, argc, argv), FK_EINVAL_INPUT, "%s %s",
                     cases[i].flag, cases[i].value ? cases[i].value : "");
        cr_assert(strstr(err, cases[i].named) != NULL, "%s", err);
    }
}

Test(fk_config, beacon_refuses_a_loopback_only_listener)
{
    /*  Advertising 127.0.0.1 on the LAN would send every listener to itself. */
    fk_config_t cfg;
    char err[256] = "";
    const char *argv[] = {"agent", "--beacon", NULL};
    cr_assert_eq(s_load(&cfg, err, sizeof err, 2, argv), FK_EINVAL_INPUT);
    cr_assert(strstr(err, "beacon") != NULL && strstr(err, "127.0.0.1") != NULL, "%s", err);
    const char *with_url[] = {"agent", "--beacon", "--public-url", "http://fakts.lan:8520", NULL};
    cr_assert_eq(s_load(&cfg, err, sizeof err, 4, with_url), 0, "%s", err);
    cr_assert(cfg.beacon);
    fk_config_clear(&cfg);
}

Test(fk_config, map_size_http_connections_and_per_ip_from_each_source)
{
    fk_config_t cfg;
    char err[256];
    const char *plain[] = {"agent", NULL};
    cr_assert_eq(s_load(&cfg, err, sizeof err, 1, plain), 0, "%s", err);
    cr_assert_eq(cfg.map_size, (size_t)8 << 30, "8 GiB by default");
    cr_assert_eq(cfg.http_connections, 512);
    cr_assert_eq(cfg.http_per_ip, 64);
    cr_assert_eq(cfg.http_workers, 16);
    fk_config_clear(&cfg);

    char *path =
        s_write_config("map_size: 64M\nhttp_connections: 3\nhttp_per_ip: 0\nhttp_workers: 4\n");
    setenv("FAKTS_HTTP_CONNECTIONS", "5", 1);
    const char *argv[] = {"agent", "--config", path, "--map-size", "2GiB", NULL};
    cr_assert_eq(s_load(&cfg, err, sizeof err, 5, argv), 0, "%s", err);
    cr_assert_eq(cfg.map_size, (size_t)2 << 30, "the flag beats the file");
    cr_assert_eq(cfg.http_connections, 5, "the environment beats the file");
    cr_assert_eq(cfg.http_per_ip, 0, "0 turns the per-address limit off");
    cr_assert_eq(cfg.http_workers, 4);
    fk_config_clear(&cfg);
    unsetenv("FAKTS_HTTP_CONNECTIONS");

    static const char *const bad[][2] = {{"--map-size", "12"},    {"--map-size", "2X"},
                                         {"--map-size", "-1G"},   {"--map-size", "2T"},
                                         {"--http-connections", "0"}, {"--http-connections", "x"},
                                         {"--http-per-ip", "-3"},     {"--http-workers", "0"},
                                         {"--http-workers", "257"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *args[] = {"agent", bad[i][0], bad[i][1], NULL};
        cr_assert_eq(s_load(&cfg, err, sizeof err, 3, args), FK_EINVAL_INPUT, "%s %s", bad[i][0],
                     bad[i][1]);
        cr_assert(strstr(err, bad[i][0] + 2) != NULL, "the setting is named: %s", err);
    }
    free(path);
}
