/*  fk_config - flags > environment > YAML file > defaults. */

#include "fk_config.h"

#include "fk_beacon.h"
#include "fk_err.h"
#include "fk_json.h"
#include "fk_mem.h"
#include "fk_origins.h"
#include "fk_yaml.h"

#include <errno.h>
#include <getopt.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char fk_config_usage[] =
    "usage: fakts-node agent [--config FILE] [--data-dir DIR] [--node NAME]\n"
    "                        [--http HOST:PORT] [--public-url URL[,URL...]]\n"
    "                        [--services-dir DIR] [--refresh-reuse-grace SECONDS]\n"
    "                        [--deployment-name NAME] [--log-level LEVEL] [--max-body BYTES]\n"
    "                        [--rate-authorize N] [--rate-token N] [--rate-v1 N]\n"
    "                        [--rate-code-misses N]\n"
    "                        [--max-pending-codes N] [--max-pending-bytes BYTES]\n"
    "                        [--fsync always|periodic]\n"
    "                        [--gossip HOST:PORT] [--advertise HOST]\n"
    "                        [--join ADDR]... [--retry-join ADDR]... [--join-file DIR]\n"
    "                        [--reconnect-timeout SECONDS] [--tombstone-ttl SECONDS]\n"
    "                        [--consistent-answers true|false] [--ui-password-file FILE]\n"
    "                        [--beacon[=true|false]] [--beacon-interval SECONDS]\n"
    "                        [--beacon-port PORT] [--map-size BYTES]\n"
    "                        [--http-connections N] [--http-per-ip N]\n"
    "                        [--http-idle-timeout SECONDS] [--http-workers N]\n"
    "                        [--tls-cert FILE --tls-key FILE]\n"
    "                        [--join-token TOKEN] [--cluster-secret-file FILE]\n"
    "                        [--insecure-gossip[=true|false]]\n"
    "                        [--metrics-loopback-open[=true|false]]\n"
    "                        [--audit-retention DURATION] [--audit-max-entries N]\n";

/*  One setting: its flag, environment variable and config key. The table
    is the single list the three sources are read from. */
typedef enum {
    S_DATA_DIR,
    S_NODE,
    S_HTTP,
    S_PUBLIC_URL,
    S_SERVICES_DIR,
    S_DEPLOYMENT_NAME,
    S_LOG_LEVEL,
    S_MAX_BODY,
    S_RATE_AUTHORIZE,
    S_RATE_TOKEN,
    S_RATE_V1,
    S_RATE_CODE_MISSES,
    S_MAX_PENDING_CODES,
    S_MAX_PENDING_BYTES,
    S_FSYNC,
    S_GOSSIP,
    S_ADVERTISE,
    S_JOIN,
    S_RETRY_JOIN,
    S_JOIN_FILE,
    S_RECONNECT_TIMEOUT,
    S_TOMBSTONE_TTL,
    S_CONSISTENT_ANSWERS,
    S_BEACON,
    S_BEACON_INTERVAL,
    S_BEACON_PORT,
    S_UI_PASSWORD_FILE,
    S_JOIN_TOKEN,
    S_CLUSTER_SECRET_FILE,
    S_INSECURE_GOSSIP,
    S_METRICS_LOOPBACK_OPEN,
    S_MAP_SIZE,
    S_HTTP_CONNECTIONS,
    S_HTTP_PER_IP,
    S_HTTP_IDLE_TIMEOUT,
    S_HTTP_WORKERS,
    S_TLS_CERT,
    S_TLS_KEY,
    S_REFRESH_REUSE_GRACE,
    S_AUDIT_RETENTION,
    S_AUDIT_MAX_ENTRIES,
    S_COUNT
} s_setting_t;

static const struct {
    const char *flag; /* long option */
    const char *env;  /* environment variable */
    const char *key;  /* YAML key */
} s_settings[S_COUNT] = {
    [S_DATA_DIR] = {"data-dir", "FAKTS_DATA_DIR", "data_dir"},
    [S_NODE] = {"node", "FAKTS_NODE", "node"},
    [S_HTTP] = {"http", "FAKTS_HTTP", "http"},
    [S_PUBLIC_URL] = {"public-url", "FAKTS_PUBLIC_URL", "public_url"},
    [S_SERVICES_DIR] = {"services-dir", "FAKTS_SERVICES_DIR", "services_dir"},
    [S_DEPLOYMENT_NAME] = {"deployment-name", "FAKTS_DEPLOYMENT_NAME", "deployment_name"},
    [S_LOG_LEVEL] = {"log-level", "FAKTS_LOG_LEVEL", "log_level"},
    [S_MAX_BODY] = {"max-body", "FAKTS_MAX_BODY", "max_body"},
    [S_RATE_AUTHORIZE] = {"rate-authorize", "FAKTS_RATE_AUTHORIZE", "rate_authorize"},
    [S_RATE_TOKEN] = {"rate-token", "FAKTS_RATE_TOKEN", "rate_token"},
    [S_RATE_V1] = {"rate-v1", "FAKTS_RATE_V1", "rate_v1"},
    [S_RATE_CODE_MISSES] = {"rate-code-misses", "FAKTS_RATE_CODE_MISSES", "rate_code_misses"},
    [S_MAX_PENDING_CODES] = {"max-pending-codes", "FAKTS_MAX_PENDING_CODES", "max_pending_codes"},
    [S_MAX_PENDING_BYTES] = {"max-pending-bytes", "FAKTS_MAX_PENDING_BYTES", "max_pending_bytes"},
    [S_FSYNC] = {"fsync", "FAKTS_FSYNC", "fsync"},
    [S_GOSSIP] = {"gossip", "FAKTS_GOSSIP", "gossip"},
    [S_ADVERTISE] = {"advertise", "FAKTS_ADVERTISE", "advertise"},
    [S_JOIN] = {"join", "FAKTS_JOIN", "join"},
    [S_RETRY_JOIN] = {"retry-join", "FAKTS_RETRY_JOIN", "retry_join"},
    [S_JOIN_FILE] = {"join-file", "FAKTS_JOIN_FILE", "join_file"},
    [S_RECONNECT_TIMEOUT] = {"reconnect-timeout", "FAKTS_RECONNECT_TIMEOUT", "reconnect_timeout"},
    [S_REFRESH_REUSE_GRACE] = {"refresh-reuse-grace", "FAKTS_REFRESH_REUSE_GRACE",
                               "refresh_reuse_grace"},
    [S_TOMBSTONE_TTL] = {"tombstone-ttl", "FAKTS_TOMBSTONE_TTL", "tombstone_ttl"},
    [S_CONSISTENT_ANSWERS] = {"consistent-answers", "FAKTS_CONSISTENT_ANSWERS",
                              "consistent_answers"},
    [S_BEACON] = {"beacon", "FAKTS_BEACON", "beacon"},
    [S_BEACON_INTERVAL] = {"beacon-interval", "FAKTS_BEACON_INTERVAL", "beacon_interval"},
    [S_BEACON_PORT] = {"beacon-port", "FAKTS_BEACON_PORT", "beacon_port"},
    [S_UI_PASSWORD_FILE] = {"ui-password-file", "FAKTS_UI_PASSWORD_FILE", "ui_password_file"},
    [S_JOIN_TOKEN] = {"join-token", "FAKTS_JOIN_TOKEN", "join_token"},
    [S_CLUSTER_SECRET_FILE] = {"cluster-secret-file", "FAKTS_CLUSTER_SECRET_FILE",
                               "cluster_secret_file"},
    [S_INSECURE_GOSSIP] = {"insecure-gossip", "FAKTS_INSECURE_GOSSIP", "insecure_gossip"},
    [S_METRICS_LOOPBACK_OPEN] = {"metrics-loopback-open", "FAKTS_METRICS_LOOPBACK_OPEN",
                                 "metrics_loopback_open"},
    [S_MAP_SIZE] = {"map-size", "FAKTS_MAP_SIZE", "map_size"},
    [S_HTTP_CONNECTIONS] = {"http-connections", "FAKTS_HTTP_CONNECTIONS", "http_connections"},
    [S_HTTP_PER_IP] = {"http-per-ip", "FAKTS_HTTP_PER_IP", "http_per_ip"},
    [S_HTTP_IDLE_TIMEOUT] = {"http-idle-timeout", "FAKTS_HTTP_IDLE_TIMEOUT", "http_idle_timeout"},
    [S_HTTP_WORKERS] = {"http-workers", "FAKTS_HTTP_WORKERS", "http_workers"},
    [S_TLS_CERT] = {"tls-cert", "FAKTS_TLS_CERT", "tls_cert"},
    [S_TLS_KEY] = {"tls-key", "FAKTS_TLS_KEY", "tls_key"},
    [S_AUDIT_RETENTION] = {"audit-retention", "FAKTS_AUDIT_RETENTION", "audit_retention"},
    [S_AUDIT_MAX_ENTRIES] = {"audit-max-entries", "FAKTS_AUDIT_MAX_ENTRIES", "audit_max_entries"},
};

/*  A byte count: digits with an optional binary suffix K, M, G or T (KiB,
    MiB, GiB, TiB), e.g. "512M". */
static int
s_parse_bytes(const char *text, unsigned long long *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long long value = strtoull(text, &end, 10);
    if (errno || end == text || text[0] == '-') {
        return FK_EINVAL_INPUT;
    }
    static const char units[] = "KMGT";
    const char *unit = *end ? strchr(units, end[0] & ~0x20) : NULL;
    if (*end && (!unit || !*unit)) {
        return FK_EINVAL_INPUT;
    }
    if (unit) {
        const char *rest = end + 1;
        if (*rest && strcmp(rest, "iB") != 0 && strcmp(rest, "B") != 0) {
            return FK_EINVAL_INPUT;
        }
        for (const char *u = units; u <= unit; u++) {
            if (value > (~0ull >> 10)) {
                return FK_EINVAL_INPUT;
            }
            value <<= 10;
        }
    }
    *out = value;
    return 0;
}

/*  A duration in seconds: digits with an optional unit s, m, h or d
    ("30d"), at most max seconds. */
static int
s_parse_duration(const char *text, unsigned long long max, unsigned long long *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long long value = strtoull(text, &end, 10);
    if (errno || end == text || text[0] == '-') {
        return FK_EINVAL_INPUT;
    }
    static const struct {
        const char *unit;
        unsigned long long seconds;
    } units[] = {{"", 1}, {"s", 1}, {"m", 60}, {"h", 3600}, {"d", 86400}};
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcmp(end, units[i].unit) == 0) {
            if (value > max / units[i].seconds) {
                return FK_EINVAL_INPUT;
            }
            *out = value * units[i].seconds;
            return 0;
        }
    }
    return FK_EINVAL_INPUT;
}

/*  Read the YAML config file into values[] (fresh strings). */
static int
s_read_file(const char *path, char *values[S_COUNT], char *err, size_t errlen)
{
    FILE *file = fopen(path, "rb");
    if (!file) {
        snprintf(err, errlen, "%s: cannot open: %s", path, fk_strerror(-errno));
        return FK_ECONFIG;
    }
    size_t limit = 1 << 20;
    char *text = fk_malloc(limit + 1);
    size_t len = fread(text, 1, limit + 1, file);
    fclose(file);
    if (len > limit) {
        free(text);
        snprintf(err, errlen, "%s: larger than 1 MiB", path);
        return FK_ECONFIG;
    }
    json_t *doc = NULL;
    char reason[200];
    int rc = fk_yaml_parse(text, len, &doc, reason, sizeof reason);
    free(text);
    if (rc) {
        snprintf(err, errlen, "%s: %s", path, reason);
        return FK_ECONFIG;
    }
    if (json_is_null(doc)) {
        json_decref(doc);
        return 0; /* an empty file sets nothing */
    }
    if (!json_is_object(doc)) {
        json_decref(doc);
        snprintf(err, errlen, "%s: must be a mapping of settings", path);
        return FK_ECONFIG;
    }
    const char *key;
    json_t *value;
    json_object_foreach(doc, key, value)
    {
        int found = -1;
        for (int i = 0; i < S_COUNT; i++) {
            if (strcmp(key, s_settings[i].key) == 0) {
                found = i;
            }
        }
        if (found < 0) {
            snprintf(err, errlen, "%s: %s: unknown setting", path, key);
            json_decref(doc);
            return FK_ECONFIG;
        }
        if (json_is_array(value) && (found == S_JOIN || found == S_RETRY_JOIN)) {
            /*  Lists travel as comma-separated text, like the environment. */
            size_t i;
            json_t *item;
            json_array_foreach(value, i, item)
            {
                if (!json_is_string(item)) {
                    snprintf(err, errlen, "%s: %s[%zu]: must be a string", path, key, i);
                    json_decref(doc);
                    return FK_ECONFIG;
                }
                char *joined = values[found]
                                   ? fk_asprintf("%s,%s", values[found], json_string_value(item))
                                   : fk_strdup(json_string_value(item));
                free(values[found]);
                values[found] = joined;
            }
        } else if (json_is_string(value)) {
            values[found] = fk_strdup(json_string_value(value));
        } else if (json_is_integer(value)) {
            values[found] = fk_asprintf("%lld", (long long)json_integer_value(value));
        } else if (json_is_boolean(value)) {
            /*  "beacon: true" reads as YAML's boolean, not as text. */
            values[found] = fk_strdup(json_is_true(value) ? "true" : "false");
        } else {
            snprintf(err, errlen, "%s: %s: must be a string, a number or a boolean", path, key);
            json_decref(doc);
            return FK_ECONFIG;
        }
    }
    json_decref(doc);
    return 0;
}

static int
s_parse_uint(const char *text, unsigned long long max, unsigned long long *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long long value = strtoull(text, &end, 10);
    if (errno || !*text || *end || text[0] == '-' || value > max) {
        return FK_EINVAL_INPUT;
    }
    *out = value;
    return 0;
}

static int
s_parse_http(const char *text, fk_config_t *cfg)
{
    const char *colon = strrchr(text, ':');
    unsigned long long port = 0;
    if (!colon || colon == text || s_parse_uint(colon + 1, 65535, &port) != 0) {
        return FK_EINVAL_INPUT;
    }
    cfg->http_host = fk_strndup(text, (size_t)(colon - text));
    cfg->http_port = (uint16_t)port;
    return 0;
}

static char *
s_default_node(void)
{
    char host[256];
    if (gethostname(host, sizeof host) != 0 || !*host) {
        return fk_strdup("node");
    }
    host[sizeof host - 1] = '\0';
    return fk_strdup(host);
}

/*  Split comma-separated text into a NULL-terminated array of trimmed,
    non-empty strings (caller frees with fk_strv_free). */
static char **
s_split(const char *text, size_t *count_p)
{
    char **list = fk_calloc(1, sizeof *list);
    size_t count = 0;
    const char *p = text;
    while (p && *p) {
        size_t len = strcspn(p, ",");
        const char *start = p;
        size_t n = len;
        while (n > 0 && (*start == ' ' || *start == '\t')) {
            start++;
            n--;
        }
        while (n > 0 && (start[n - 1] == ' ' || start[n - 1] == '\t')) {
            n--;
        }
        if (n > 0) {
            list = fk_realloc(list, (count + 2) * sizeof *list);
            list[count++] = fk_strndup(start, n);
            list[count] = NULL;
        }
        p += len;
        if (*p == ',') {
            p++;
        }
    }
    *count_p = count;
    return list;
}

int
fk_config_load(fk_config_t *cfg, int argc, char **argv, char *err, size_t errlen)
{
    memset(cfg, 0, sizeof *cfg);
    char *flags[S_COUNT] = {0};
    char *file[S_COUNT] = {0};
    char *config = NULL;
    int rc = 0;

    struct option options[S_COUNT + 3];
    for (int i = 0; i < S_COUNT; i++) {
        options[i] = (struct option){s_settings[i].flag, required_argument, NULL, i};
    }
    /*  Switches: "--beacon" alone turns it on, "--beacon=false" off. */
    options[S_BEACON].has_arg = optional_argument;
    options[S_INSECURE_GOSSIP].has_arg = optional_argument;
    options[S_METRICS_LOOPBACK_OPEN].has_arg = optional_argument;
    options[S_COUNT] = (struct option){"config", required_argument, NULL, 'c'};
    options[S_COUNT + 1] = (struct option){"help", no_argument, NULL, 'h'};
    options[S_COUNT + 2] = (struct option){NULL, 0, NULL, 0};
    optind = 1;
    opterr = 0;
    int opt;
    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        if (opt == 'h') {
            fputs(fk_config_usage, stdout);
            rc = 1;
            goto done;
        }
        if (opt == 'c') {
            free(config);
            config = fk_strdup(optarg);
        } else if ((opt == S_JOIN || opt == S_RETRY_JOIN) && flags[opt]) {
            /*  Repeatable: --join A --join B. */
            char *joined = fk_asprintf("%s,%s", flags[opt], optarg);
            free(flags[opt]);
            flags[opt] = joined;
        } else if (opt >= 0 && opt < S_COUNT) {
            free(flags[opt]);
            flags[opt] = fk_strdup(optarg ? optarg : "true");
        } else {
            snprintf(err, errlen, "unknown or incomplete option '%s'",
                     optind > 0 && optind <= argc ? argv[optind - 1] : "?");
            rc = FK_EINVAL_INPUT;
            goto done;
        }
    }
    if (optind < argc) {
        snprintf(err, errlen, "unexpected argument '%s'", argv[optind]);
        rc = FK_EINVAL_INPUT;
        goto done;
    }
    if (!config && getenv("FAKTS_CONFIG") && *getenv("FAKTS_CONFIG")) {
        config = fk_strdup(getenv("FAKTS_CONFIG"));
    }
    if (config && (rc = s_read_file(config, file, err, errlen)) != 0) {
        goto done;
    }
    cfg->config_file = config;
    config = NULL;

    const char *value[S_COUNT];
    for (int i = 0; i < S_COUNT; i++) {
        const char *env = getenv(s_settings[i].env);
        value[i] = flags[i] ? flags[i] : env && *env ? env : file[i];
    }
    cfg->data_dir = fk_strdup(value[S_DATA_DIR] ? value[S_DATA_DIR] : "./fakts-data");
    cfg->node = value[S_NODE] ? fk_strdup(value[S_NODE]) : s_default_node();
    if (s_parse_http(value[S_HTTP] ? value[S_HTTP] : "127.0.0.1:8520", cfg) != 0) {
        snprintf(err, errlen, "http: '%s' is not HOST:PORT", value[S_HTTP]);
        rc = FK_EINVAL_INPUT;
        goto done;
    }
    cfg->public_url = value[S_PUBLIC_URL] ? fk_strdup(value[S_PUBLIC_URL]) : NULL;
    fk_origins_t *origins = NULL;
    if (cfg->public_url
        && (rc = fk_origins_parse(&origins, cfg->public_url, err, errlen)) != 0) {
        goto done;
    }
    fk_origins_destroy(&origins);
    cfg->services_dir = value[S_SERVICES_DIR] ? fk_strdup(value[S_SERVICES_DIR])
                                              : fk_asprintf("%s/services.d", cfg->data_dir);
    cfg->deployment_name =
        fk_strdup(value[S_DEPLOYMENT_NAME] ? value[S_DEPLOYMENT_NAME] : "fakts-node");
    cfg->log_level = FK_LOG_INFO;
    if (value[S_LOG_LEVEL] && fk_log_parse_level(value[S_LOG_LEVEL], &cfg->log_level) != 0) {
        snprintf(err, errlen, "log-level: '%s' is not debug, info, warn, error or off",
                 value[S_LOG_LEVEL]);
        rc = FK_EINVAL_INPUT;
        goto done;
    }
    unsigned long long number = 65536;
    if (value[S_MAX_BODY] && s_parse_uint(value[S_MAX_BODY], 64ull << 20, &number) != 0) {
        snprintf(err, errlen, "max-body: '%s' is not a byte count up to 64 MiB", value[S_MAX_BODY]);
        rc = FK_EINVAL_INPUT;
        goto done;
    }
    cfg->max_body = (size_t)number;
    /*  The v2 server's limits (protocol §7): 30 a minute per address for
        authorizations, 240 for the token endpoint. */
    number = 30;
    if (value[S_RATE_AUTHORIZE] && s_parse_uint(value[S_RATE_AUTHORIZE], 1000000, &number) != 0) {
        snprintf(err, errlen, "rate-authorize: '%s' is not a count", value[S_RATE_AUTHORIZE]);
        rc = FK_EINVAL_INPUT;
        goto done;
    }
    cfg->authorize_per_min = (unsigned)number;
    number = 240;
    if (value[S_RATE_TOKEN] && s_parse_uint(value[S_RATE_TOKEN], 1000000, &number) != 0) {
        snprintf(err, errlen, "rate-token: '%s' is not a count", value[S_RATE_TOKEN]);
        rc = FK_EINVAL_INPUT;
        goto done;
    }
    cfg->token_per_min = (unsigned)number;
    number = 120;
    if (value[S_RATE_V1] && s_parse_uint(value[S_RATE_V1], 1000000, &number) != 0) {
        snprintf(err, errlen, "rate-v1: '%s' is not a count", value[S_RATE_V1]);
        rc = FK_EINVAL_INPUT;
        goto done;
    }
    cfg->v1_per_min = (unsigned)number;
    number = 10;
    if (value[S_RATE_CODE_MISSES] && s_parse_uint(value[S_RATE_CODE_MISSES], 1000000, &number) != 0) {
        snprintf(err, errlen, "rate-code-misses: '%s' is not a count", value[S_RATE_CODE_MISSES]);
        rc = FK_EINVAL_INPUT;
        goto done;
    }
    cfg->code_misses_per_min = (unsigned)number;
    const char *fsync = value[S_FSYNC] ? value[S_FSYNC] : "periodic";
    if (strcmp(fsync, "always") != 0 && strcmp(fsync, "periodic") != 0) {
        snprintf(err, errlen, "fsync: '%s' is not always or periodic", fsync);
        rc = FK_EINVAL_INPUT;
        goto done;
    }
    cfg->fsync_always = strcmp(fsync, "always") == 0;
    cfg->gossip = fk_strdup(value[S_GOSSIP] ? value[S_GOSSIP] : "127.0.0.1:8521");
    const char *colon = strrchr(cfg->gossip, ':');
    unsigned long long gossip_port = 0;
    if (!colon || colon == cfg->gossip || s_parse_uint(colon + 1, 65535, &gossip_port) != 0) {
        snprintf(err, errlen, "gossip: '%s' is not HOST:PORT", cfg->gossip);
        rc = FK_EINVAL_INPUT;
        goto done;
    }
    cfg->advertise = value[S_ADVERTISE] ? fk_strdup(value[S_ADVERTISE]) : NULL;
    number = 72 * 3600;
    if (value[S_RECONNECT_TIMEOUT]
        && s_parse_uint(value[S_RECONNECT_TIMEOUT], 365ull * 86400, &number) != 0) {
        snprintf(err, errlen, "reconnect-timeout: '%s' is not a number of seconds",
                 value[S_RECONNECT_TIMEOUT]);
        rc = FK_EINVAL_INPUT;
        goto done;
    }
    cfg->reconnect_timeout_s = (int64_t)number;
    number = 30;
    if (value[S_REFRESH_REUSE_GRACE]
        && s_parse_uint(value[S_REFRESH_REUSE_GRACE], 3600, &number) != 0) {
        snprintf(err, errlen, "refresh-reuse-grace: '%s' is not a number of seconds (0 to 3600)",
                 value[S_REFRESH_REUSE_GRACE]);
        rc = FK_EINVAL_INPUT;
        goto done;
    }
    cfg->refresh_reuse_grace_s = (int64_t)number;
    number = 3600;
    if (value[S_TOMBSTONE_TTL]
        && s_parse_uint(value[S_TOMBSTONE_TTL], 365ull * 86400, &number) != 0) {
        snprintf(err, errlen, "tombstone-ttl: '%s' is not a number of seconds",
                 value[S_TOMBSTONE_TTL]);
        rc = FK_EINVAL_INPUT;
        goto done;
    }
    cfg->tombstone_ttl_s = (int64_t)number;
    number = 30 * 86400;
    if (value[S_AUDIT_RETENTION]
        && (s_parse_duration(value[S_AUDIT_RETENTION], 10ull * 365 * 86400, &number) != 0
            || number == 0)) {
        snprintf(err, errlen,
                 "audit-retention: '%s' is not a duration from 1 s to 10 years (seconds, or with "
                 "s, m, h or d)",
                 value[S_AUDIT_RETENTION]);
        rc = FK_EINVAL_INPUT;
        goto done;
    }
    cfg->audit_retention_s = (int64_t)number;
    number = 10000;
    if (value[S_AUDIT_MAX_ENTRIES]
        && (s_parse_uint(value[S_AUDIT_MAX_ENTRIES], 10000000, &number) != 0 || number == 0)) {
        snprintf(err, errlen, "audit-max-entries: '%s' is not a count from 1 to 10000000",
                 value[S_AUDIT_MAX_ENTRIES]);
        rc = FK_EINVAL_INPUT;
        goto done;
    }
    cfg->audit_max_entries = (int64_t)number;
    const char *consistent = value[S_CONSISTENT_ANSWERS] ? value[S_CONSISTENT_ANSWERS] : "false";
    if (strcmp(consistent, "true") != 0 && strcmp(consistent, "false") != 0) {
        snprintf(err, errlen, "consistent-answers: '%s' is not true or false", consistent);
        rc = FK_EINVAL_INPUT;
        goto done;
    }
    cfg->consistent_answers = strcmp(consistent, "true") == 0;
    const char *beacon = value[S_BEACON] ? value[S_BEACON] : "false";
    if (strcmp(beacon, "true") != 0 && strcmp(beacon, "false") != 0) {
        snprintf(err, errlen, "beacon: '%s' is not true or false", beacon);
        rc = FK_EINVAL_INPUT;
        goto done;
    }
    cfg->beacon = strcmp(beacon, "true") == 0;
    number = FK_BEACON_INTERVAL_S;
    if (value[S_BEACON_INTERVAL]
        && (s_parse_uint(value[S_BEACON_INTERVAL], 3600, &number) != 0 || number == 0)) {
        snprintf(err, errlen, "beacon-interval: '%s' is not a number of seconds from 1 to 3600",
                 value[S_BEACON_INTERVAL]);
        rc = FK_EINVAL_INPUT;
        goto done;
    }
    cfg->beacon_interval_s = (unsigned)number;
    number = FK_BEACON_PORT;
    if (value[S_BEACON_PORT]
        && (s_parse_uint(value[S_BEACON_PORT], 65535, &number) != 0 || number == 0)) {
        snprintf(err, errlen, "beacon-port: '%s' is not a port from 1 to 65535",
                 value[S_BEACON_PORT]);
        rc = FK_EINVAL_INPUT;
        goto done;
    }
    cfg->beacon_port = (uint16_t)number;
    /*  A loopback URL on the LAN would send every listener to itself. */
    if (cfg->beacon && !cfg->public_url
        && (strncmp(cfg->http_host, "127.", 4) == 0 || strcmp(cfg->http_host, "localhost") == 0)) {
        snprintf(err, errlen,
                 "beacon: HTTP listens on %s, which no other machine reaches; set --http to "
                 "0.0.0.0:PORT or a LAN address, or --public-url",
                 cfg->http_host);
        rc = FK_EINVAL_INPUT;
        goto done;
    }
    /*  8 GiB by default: the file is sparse, so the map costs no disk;
        at least 1 MiB, at most 1 TiB. */
    number = 8ull << 30;
    if (value[S_MAP_SIZE]
        && (s_parse_bytes(value[S_MAP_SIZE], &number) != 0 || number < (1ull << 20)
            || number > (1ull << 40))) {
        snprintf(err, errlen,
                 "map-size: '%s' is not a size from 1M to 1T (bytes, or with K, M, G or T)",
                 value[S_MAP_SIZE]);
        rc = FK_EINVAL_INPUT;
        goto done;
    }
    cfg->map_size = (size_t)number;
    number = 10000;
    if (value[S_MAX_PENDING_CODES]
        && (s_parse_uint(value[S_MAX_PENDING_CODES], 10000000, &number) != 0 || number == 0)) {
        snprintf(err, errlen, "max-pending-codes: '%s' is not a count from 1 to 10000000",
                 value[S_MAX_PENDING_CODES]);
        rc = FK_EINVAL_INPUT;
        goto done;
    }
    cfg->max_pending_codes = (int64_t)number;
    number = 64ull << 20;
    if (value[S_MAX_PENDING_BYTES]
        && (s_parse_bytes(value[S_MAX_PENDING_BYTES], &number) != 0 || number < (64ull << 10))) {
        snprintf(err, errlen, "max-pending-bytes: '%s' is not a size of 64K or more",
                 value[S_MAX_PENDING_BYTES]);
        rc = FK_EINVAL_INPUT;
        goto done;
    }
    cfg->max_pending_bytes = (int64_t)number;
    number = 512;
    if (value[S_HTTP_CONNECTIONS]
        && (s_parse_uint(value[S_HTTP_CONNECTIONS], 4096, &number) != 0 || number == 0)) {
        snprintf(err, errlen, "http-connections: '%s' is not a count from 1 to 4096",
                 value[S_HTTP_CONNECTIONS]);
        rc = FK_EINVAL_INPUT;
        goto done;
    }
    cfg->http_connections = (unsigned)number;
    number = 64;
    if (value[S_HTTP_PER_IP] && s_parse_uint(value[S_HTTP_PER_IP], 100000, &number) != 0) {
        snprintf(err, errlen, "http-per-ip: '%s' is not a count (0: no limit)",
                 value[S_HTTP_PER_IP]);
        rc = FK_EINVAL_INPUT;
        goto done;
    }
    cfg->http_per_ip = (unsigned)number;
    number = 30;
    if (value[S_HTTP_IDLE_TIMEOUT]
        && (s_parse_uint(value[S_HTTP_IDLE_TIMEOUT], 3600, &number) != 0 || number == 0)) {
        snprintf(err, errlen, "http-idle-timeout: '%s' is not a count of seconds from 1 to 3600",
                 value[S_HTTP_IDLE_TIMEOUT]);
        rc = FK_EINVAL_INPUT;
        goto done;
    }
    cfg->http_idle_timeout_s = (unsigned)number;
    number = 16;
    if (value[S_HTTP_WORKERS]
        && (s_parse_uint(value[S_HTTP_WORKERS], 256, &number) != 0 || number == 0)) {
        snprintf(err, errlen, "http-workers: '%s' is not a count from 1 to 256",
                 value[S_HTTP_WORKERS]);
        rc = FK_EINVAL_INPUT;
        goto done;
    }
    cfg->http_workers = (unsigned)number;
    cfg->tls_cert = value[S_TLS_CERT] && *value[S_TLS_CERT] ? fk_strdup(value[S_TLS_CERT]) : NULL;
    cfg->tls_key = value[S_TLS_KEY] && *value[S_TLS_KEY] ? fk_strdup(value[S_TLS_KEY]) : NULL;
    if (!cfg->tls_cert != !cfg->tls_key) {
        snprintf(err, errlen, "tls-cert and tls-key go together: give both or neither");
        rc = FK_EINVAL_INPUT;
        goto done;
    }
    cfg->join = s_split(value[S_JOIN], &cfg->join_count);
    cfg->retry_join = s_split(value[S_RETRY_JOIN], &cfg->retry_join_count);
    cfg->ui_password_file = value[S_UI_PASSWORD_FILE] && *value[S_UI_PASSWORD_FILE]
                                ? fk_strdup(value[S_UI_PASSWORD_FILE])
                                : NULL;
    cfg->join_token =
        value[S_JOIN_TOKEN] && *value[S_JOIN_TOKEN] ? fk_strdup(value[S_JOIN_TOKEN]) : NULL;
    cfg->cluster_secret_file = value[S_CLUSTER_SECRET_FILE] && *value[S_CLUSTER_SECRET_FILE]
                                   ? fk_strdup(value[S_CLUSTER_SECRET_FILE])
                                   : NULL;
    const char *insecure = value[S_INSECURE_GOSSIP] ? value[S_INSECURE_GOSSIP] : "false";
    if (strcmp(insecure, "true") != 0 && strcmp(insecure, "false") != 0) {
        snprintf(err, errlen, "insecure-gossip: '%s' is not true or false", insecure);
        rc = FK_EINVAL_INPUT;
        goto done;
    }
    cfg->insecure_gossip = strcmp(insecure, "true") == 0;
    const char *metrics_open =
        value[S_METRICS_LOOPBACK_OPEN] ? value[S_METRICS_LOOPBACK_OPEN] : "false";
    if (strcmp(metrics_open, "true") != 0 && strcmp(metrics_open, "false") != 0) {
        snprintf(err, errlen, "metrics-loopback-open: '%s' is not true or false", metrics_open);
        rc = FK_EINVAL_INPUT;
        goto done;
    }
    cfg->metrics_loopback_open = strcmp(metrics_open, "true") == 0;
    cfg->join_file =
        value[S_JOIN_FILE] && *value[S_JOIN_FILE] ? fk_strdup(value[S_JOIN_FILE]) : NULL;
    if (cfg->join_file && !cfg->insecure_gossip && !cfg->cluster_secret_file
        && !cfg->join_token) {
        /*  Listed nodes are admitted by the secret: without it (or a
            token) every knock on a stranger would be refused. */
        snprintf(err, errlen,
                 "join-file: nodes found there admit each other through the cluster secret; "
                 "give cluster-secret-file too (make one with `fakts-node keygen "
                 "--cluster-secret FILE`)");
        rc = FK_EINVAL_INPUT;
        goto done;
    }
    if (cfg->insecure_gossip && (cfg->join_token || cfg->cluster_secret_file)) {
        snprintf(err, errlen,
                 "insecure-gossip: admissions (join-token, cluster-secret-file) need the secure "
                 "gossip; drop one or the other");
        rc = FK_EINVAL_INPUT;
        goto done;
    }

done:
    for (int i = 0; i < S_COUNT; i++) {
        free(flags[i]);
        free(file[i]);
    }
    free(config);
    if (rc && rc != 1) {
        fk_config_clear(cfg);
    }
    return rc;
}

void
fk_config_clear(fk_config_t *cfg)
{
    free(cfg->config_file);
    free(cfg->data_dir);
    free(cfg->node);
    free(cfg->http_host);
    free(cfg->public_url);
    free(cfg->services_dir);
    free(cfg->deployment_name);
    free(cfg->gossip);
    free(cfg->advertise);
    free(cfg->ui_password_file);
    if (cfg->join_token) {
        OPENSSL_cleanse(cfg->join_token, strlen(cfg->join_token));
    }
    free(cfg->join_token);
    free(cfg->cluster_secret_file);
    free(cfg->join_file);
    free(cfg->tls_cert);
    free(cfg->tls_key);
    fk_strv_free(cfg->join, cfg->join_count);
    fk_strv_free(cfg->retry_join, cfg->retry_join_count);
    memset(cfg, 0, sizeof *cfg);
}
