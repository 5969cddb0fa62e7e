/*  fk_config - the agent's settings from flags, environment and a YAML
    file, in that order of precedence (docs/CLI.md lists them all). */

#ifndef FK_CONFIG_H_INCLUDED
#define FK_CONFIG_H_INCLUDED

#include "fk_log.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*  Resolved settings. Strings are owned by the struct (fk_config_clear);
    optional ones are NULL when unset. Transparent on purpose: it is a
    plain bag of values that the agent reads once. */
typedef struct {
    char *config_file;           /* the YAML file read, or NULL */
    char *data_dir;              /* data directory */
    char *node;                  /* node name */
    char *http_host;             /* HTTP bind address (IPv4) */
    uint16_t http_port;          /* HTTP port (0: any free port) */
    char *public_url;            /* base URL of answers, or NULL */
    char *services_dir;          /* service definitions directory */
    char *deployment_name;       /* the deployment's name in discovery */
    fk_log_level_t log_level;    /* log threshold */
    size_t max_body;             /* request body limit in bytes */
    unsigned authorize_per_min;  /* app-authorization requests per minute per IP (0: off) */
    unsigned token_per_min;      /* token requests per minute per IP (0: off) */
    unsigned v1_per_min;         /* v1 requests per minute per IP (0: off) */
    unsigned code_misses_per_min; /* unknown v1 codes per minute per IP (0: off) */
    int64_t max_pending_codes;   /* pending codes this node holds at most */
    int64_t max_pending_bytes;   /* and their bytes */
    char *gossip;                /* gossip bind address "host:port" (port 0: any) */
    char *advertise;             /* host others reach our gossip at, or NULL */
    char **join;                 /* --join addresses (NULL-terminated) */
    size_t join_count;           /* entries in join */
    char **retry_join;           /* --retry-join addresses (NULL-terminated) */
    size_t retry_join_count;     /* entries in retry_join */
    char *join_file;             /* rendezvous directory shared by the nodes (fk_joindir), or NULL */
    int64_t reconnect_timeout_s; /* a failed or departed node's records are purged after this */
    int64_t refresh_reuse_grace_s; /* a rotated refresh token used again after this revokes its chain */
    int64_t tombstone_ttl_s;     /* deletes are forgotten after this (the reset rule covers them) */
    int64_t audit_retention_s;   /* this node's audit entries are swept after this */
    int64_t audit_max_entries;   /* and beyond this many, oldest first */
    bool consistent_answers;     /* reconcile with a majority before every token answer */
    bool fsync_always;           /* fdatasync every commit instead of once a second */
    bool beacon;                 /* broadcast the Fakts URL on the LAN (fk_beacon) */
    unsigned beacon_interval_s;  /* seconds between two beacon rounds */
    uint16_t beacon_port;        /* UDP port the beacon broadcasts to */
    char *ui_password_file;      /* file holding the web pages' operator password, or NULL */
    char *join_token;            /* a join token for --join/--retry-join, or NULL */
    char *cluster_secret_file;   /* file holding the cluster secret, or NULL */
    bool insecure_gossip;        /* plaintext gossip that believes every peer */
    bool metrics_loopback_open;  /* GET /metrics needs no token from a loopback peer */
    size_t map_size;             /* largest the store may grow, bytes (LMDB map size) */
    unsigned http_connections;   /* HTTP connections at once, a thread each */
    unsigned http_per_ip;        /* open HTTP connections per client address (0: no limit) */
    unsigned http_idle_timeout_s; /* an HTTP connection silent this long is closed */
    unsigned http_workers;        /* threads running HTTP handlers */
    char *tls_cert;              /* PEM certificate chain: the listener speaks HTTPS, or NULL */
    char *tls_key;               /* its PEM private key (set exactly when tls_cert is) */
} fk_config_t;

/*  Resolve settings from argv (argv[0] is the command name), the FAKTS_*
    environment and the config file, in that precedence. Returns 0; 1 when
    --help was asked (usage printed); FK_EINVAL_INPUT for bad flags or
    values (err says which, cfg cleared); FK_ECONFIG for an unreadable or
    invalid config file (err names the file, the key and the reason). */
int fk_config_load(fk_config_t *cfg, int argc, char **argv, char *err, size_t errlen);

/*  Free every string of cfg and zero it. Safe to call twice. */
void fk_config_clear(fk_config_t *cfg);

/*  The agent's usage text. */
extern const char fk_config_usage[];

#endif
