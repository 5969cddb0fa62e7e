/*  fk_origins - the public URLs a node answers under (see fk_origins.h).
    URLs are taken apart by libcurl's URL API, not by hand. */

#include "fk_origins.h"

#include "fk_err.h"
#include "fk_mem.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define S_MAX_ORIGINS 32 /* more names than any install uses; bounds a derived list */

typedef struct {
    fk_origin_t origin; /* what answers use; strings below */
    char *scheme;
    char *host;         /* as written, lower-cased; IPv6 in brackets */
    char *base;         /* scheme://host[:port][/path], no trailing slash */
    int match_port;     /* port, or the scheme's default when the URL has none */
} s_entry_t;

struct fk_origins {
    s_entry_t entries[S_MAX_ORIGINS];
    size_t count;
};

static void
s_lower(char *s)
{
    for (; *s; s++) {
        if (*s >= 'A' && *s <= 'Z') {
            *s = (char)(*s - 'A' + 'a');
        }
    }
}

/*  Add an origin unless one with the same base is there. */
static void
s_add(fk_origins_t *self, const char *scheme, const char *host, int port, const char *path)
{
    if (self->count == S_MAX_ORIGINS) {
        return;
    }
    char *lower = fk_strdup(host);
    s_lower(lower);
    char *base = port ? fk_asprintf("%s://%s:%d%s", scheme, lower, port, path)
                      : fk_asprintf("%s://%s%s", scheme, lower, path);
    for (size_t i = 0; i < self->count; i++) {
        if (strcmp(self->entries[i].base, base) == 0) {
            free(base);
            free(lower);
            return;
        }
    }
    s_entry_t *e = &self->entries[self->count++];
    e->scheme = fk_strdup(scheme);
    e->host = lower;
    e->base = base;
    e->match_port = port ? port : strcmp(scheme, "https") == 0 ? 443 : 80;
    e->origin = (fk_origin_t){.scheme = e->scheme, .host = e->host, .port = port, .base = e->base};
}

/*  One URL of the list into self, or a reason in err. */
static int
s_parse_one(fk_origins_t *self, const char *url, char *err, size_t errlen)
{
    int rc = FK_EINVAL_INPUT;
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL, *user = NULL, *query = NULL,
         *fragment = NULL;
    if (!u) {
        fk_oom("curl_url");
    }
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK
        || curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK
        || curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !*host) {
        snprintf(err, errlen, "public-url: '%s' is not an absolute URL", url);
    } else if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0) {
        snprintf(err, errlen, "public-url: '%s' must start with http:// or https://", url);
    } else if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK
               || curl_url_get(u, CURLUPART_QUERY, &query, 0) == CURLUE_OK
               || curl_url_get(u, CURLUPART_FRAGMENT, &fragment, 0) == CURLUE_OK) {
        snprintf(err, errlen, "public-url: '%s' must not hold user info, a query or a fragment",
                 url);
    } else {
        curl_url_get(u, CURLUPART_PORT, &port, 0);
        curl_url_get(u, CURLUPART_PATH, &path, 0);
        size_t len = path ? strlen(path) : 0;
        while (len > 0 && path[len - 1] == '/') {
            path[--len] = '\0';
        }
        if (self->count == S_MAX_ORIGINS) {
            snprintf(err, errlen, "public-url: more than %d URLs", S_MAX_ORIGINS);
        } else {
            s_add(self, scheme, host, port ? atoi(port) : 0, path ? path : "");
            rc = 0;
        }
    }
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_free(path);
    curl_free(user);
    curl_free(query);
    curl_free(fragment);
    curl_url_cleanup(u);
    return rc;
}

int
fk_origins_parse(fk_origins_t **self_p, const char *list, char *err, size_t errlen)
{
    *self_p = NULL;
    fk_origins_t *self = fk_calloc(1, sizeof *self);
    const char *p = list ? list : "";
    int rc = 0;
    while (rc == 0 && *p) {
        size_t skip = strspn(p, " \t,");
        p += skip;
        size_t len = strcspn(p, ",");
        while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t')) {
            len--;
        }
        if (len > 0) {
            char *url = fk_strndup(p, len);
            rc = s_parse_one(self, url, err, errlen);
            free(url);
        }
        p += strcspn(p, ",");
    }
    if (rc == 0 && self->count == 0) {
        snprintf(err, errlen, "public-url: no URL given");
        rc = FK_EINVAL_INPUT;
    }
    if (rc) {
        fk_origins_destroy(&self);
        return rc;
    }
    *self_p = self;
    return 0;
}

static bool
s_wildcard(const char *host)
{
    return !host || !*host || strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0
           || strcmp(host, "[::]") == 0;
}

/*  The machine's IPv4 addresses that are up, non-loopback first. */
static void
s_add_interfaces(fk_origins_t *self, const char *scheme, int port, bool loopback)
{
    struct ifaddrs *all = NULL;
    if (getifaddrs(&all) != 0) {
        return;
    }
    for (struct ifaddrs *it = all; it; it = it->ifa_next) {
        if (!it->ifa_addr || it->ifa_addr->sa_family != AF_INET || !(it->ifa_flags & IFF_UP)
            || !(it->ifa_flags & IFF_LOOPBACK) != !loopback) {
            continue;
        }
        char ip[INET_ADDRSTRLEN];
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)it->ifa_addr;
        if (inet_ntop(AF_INET, &in->sin_addr, ip, sizeof ip)) {
            s_add(self, scheme, ip, port, "");
        }
    }
    freeifaddrs(all);
}

/*  A host name usable in a URL as it is: letters, digits, '-' and '.'. */
static bool
s_plain_name(const char *name)
{
    return *name && strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.")
                        == strlen(name);
}

fk_origins_t *
fk_origins_derive(const char *scheme, const char *host, int port)
{
    fk_origins_t *self = fk_calloc(1, sizeof *self);
    if (s_wildcard(host)) {
        s_add_interfaces(self, scheme, port, false);
        char name[256] = "";
        if (gethostname(name, sizeof name - 1) == 0 && s_plain_name(name)) {
            s_add(self, scheme, name, port, "");
        }
        s_add_interfaces(self, scheme, port, true);
        s_add(self, scheme, "localhost", port, "");
        return self;
    }
    bool v6 = strchr(host, ':') != NULL;
    char *written = v6 && host[0] != '[' ? fk_asprintf("[%s]", host) : fk_strdup(host);
    s_add(self, scheme, written, port, "");
    free(written);
    if (fk_origins_loopback(host)) {
        s_add(self, scheme, "localhost", port, "");
    }
    return self;
}

bool
fk_origins_loopback(const char *host)
{
    struct in_addr v4;
    return host
           && ((inet_pton(AF_INET, host, &v4) == 1 && (ntohl(v4.s_addr) >> 24) == 127)
               || strcmp(host, "::1") == 0 || strcmp(host, "[::1]") == 0
               || strcmp(host, "localhost") == 0);
}

size_t
fk_origins_count(const fk_origins_t *self)
{
    return self->count;
}

const fk_origin_t *
fk_origins_get(const fk_origins_t *self, size_t i)
{
    return i < self->count ? &self->entries[i].origin : NULL;
}

/*  Split a Host header into host (lower-cased, brackets kept for IPv6)
    and port (0 when absent). False for anything that is not one. */
static bool
s_split_host(const char *text, char *host, size_t cap, int *port_p)
{
    size_t len = strlen(text);
    const char *colon = NULL;
    if (text[0] == '[') {
        const char *close = strchr(text, ']');
        if (!close || (close[1] != '\0' && close[1] != ':')) {
            return false;
        }
        colon = close[1] == ':' ? close + 1 : NULL;
    } else {
        colon = strchr(text, ':');
    }
    size_t host_len = colon ? (size_t)(colon - text) : len;
    if (host_len == 0 || host_len >= cap) {
        return false;
    }
    memcpy(host, text, host_len);
    host[host_len] = '\0';
    s_lower(host);
    *port_p = 0;
    if (colon) {
        const char *digits = colon + 1;
        if (!*digits || strlen(digits) > 5 || strspn(digits, "0123456789") != strlen(digits)) {
            return false;
        }
        *port_p = atoi(digits);
    }
    return true;
}

const fk_origin_t *
fk_origins_select(const fk_origins_t *self, const char *host)
{
    char name[256];
    int port = 0;
    if (host && s_split_host(host, name, sizeof name, &port)) {
        for (size_t i = 0; i < self->count; i++) {
            const s_entry_t *e = &self->entries[i];
            int want = port ? port : strcmp(e->scheme, "https") == 0 ? 443 : 80;
            if (strcmp(e->host, name) == 0 && e->match_port == want) {
                return &e->origin;
            }
        }
    }
    return &self->entries[0].origin;
}

char *
fk_origins_describe(const fk_origins_t *self)
{
    fk_buf_t out = {0};
    for (size_t i = 0; i < self->count; i++) {
        if (i) {
            fk_buf_add(&out, ", ", 2);
        }
        fk_buf_add(&out, self->entries[i].base, strlen(self->entries[i].base));
    }
    return fk_buf_take(&out);
}

void
fk_origins_destroy(fk_origins_t **self_p)
{
    if (!self_p || !*self_p) {
        return;
    }
    fk_origins_t *self = *self_p;
    for (size_t i = 0; i < self->count; i++) {
        free(self->entries[i].scheme);
        free(self->entries[i].host);
        free(self->entries[i].base);
    }
    free(self);
    *self_p = NULL;
}
