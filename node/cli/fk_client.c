/*  fk_client - one HTTP exchange at a time with a fakts-node agent, over
    libcurl. Used by the command line only, on its one thread. */

#include "fk_client.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "fk_err.h"
#include "fk_mem.h"

struct fk_client {
    CURL *curl;                   /* one easy handle, reused so the connection is kept */
    char *url;                    /* base URL, no trailing '/': "http://127.0.0.1:8520" */
    char *auth;                   /* "Authorization: Bearer <token>", or NULL */
    char *ca_file;                /* CA certificates for https://, or NULL: the system's */
    char errbuf[CURL_ERROR_SIZE]; /* libcurl's detail for the last failure, or "" */
    fk_client_wait_fn *wait_fn;   /* called while a request waits, or NULL */
    void *wait_arg;               /* wait_fn's argument */
    long timeout_s;               /* the whole exchange's limit in seconds */
    const volatile sig_atomic_t *cancel; /* a request ends when it turns non-zero, or NULL */
};

/*  The body being received: grows by doubling, never past the limit. */
typedef struct {
    fk_buf_t buf; /* received bytes */
    int too_big;  /* set when the answer went past FK_CLIENT_MAX_REPLY */
} s_sink_t;

int
fk_client_global_init(void)
{
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : FK_EUNAVAILABLE;
}

void
fk_client_global_cleanup(void)
{
    curl_global_cleanup();
}

/*  Return a copy of s without leading and trailing white space. */
static char *
s_trimmed(const char *s)
{
    while (*s != '\0' && isspace((unsigned char)*s)) {
        s++;
    }
    size_t len = strlen(s);
    while (len > 0 && isspace((unsigned char)s[len - 1])) {
        len--;
    }
    return fk_strndup(s, len);
}

int
fk_client_new(fk_client_t **self_p, const char *addr, const char *token, const char *ca_file)
{
    *self_p = NULL;
    if (addr == NULL || addr[0] == '\0') {
        return FK_EINVAL_INPUT;
    }
    char *auth = NULL;
    if (token != NULL) {
        char *clean = s_trimmed(token);
        /* A CR or LF in the token would let it end the header and start
           another; refuse every control character rather than send it. */
        for (const char *p = clean; *p != '\0'; p++) {
            if (iscntrl((unsigned char)*p)) {
                free(clean);
                return FK_EINVAL_INPUT;
            }
        }
        if (clean[0] != '\0') {
            auth = fk_asprintf("Authorization: Bearer %s", clean);
        }
        free(clean);
    }
    CURL *curl = curl_easy_init();
    if (curl == NULL) {
        free(auth);
        return -ENOMEM;
    }

    fk_client_t *self = fk_calloc(1, sizeof(*self));
    self->curl = curl;
    self->auth = auth;
    self->ca_file = ca_file ? fk_strdup(ca_file) : NULL;
    self->timeout_s = FK_CLIENT_TOTAL_TIMEOUT;
    if (strncmp(addr, "http://", 7) == 0 || strncmp(addr, "https://", 8) == 0) {
        self->url = fk_strdup(addr);
    } else {
        self->url = fk_asprintf("http://%s", addr);
    }
    size_t len = strlen(self->url);
    while (len > 0 && self->url[len - 1] == '/') {
        self->url[--len] = '\0';
    }
    *self_p = self;
    return 0;
}

void
fk_client_destroy(fk_client_t **self_p)
{
    if (self_p == NULL || *self_p == NULL) {
        return;
    }
    fk_client_t *self = *self_p;
    curl_easy_cleanup(self->curl);
    free(self->url);
    free(self->auth);
    free(self->ca_file);
    free(self);
    *self_p = NULL;
}

/*  libcurl's write callback. Returning less than asked makes the transfer
    fail with CURLE_WRITE_ERROR, which is how the size limit stops it. */
static size_t
s_sink_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    s_sink_t *sink = userdata;
    size_t n = size * nmemb; /* libcurl guarantees size == 1 */
    if (n > FK_CLIENT_MAX_REPLY - sink->buf.len) {
        sink->too_big = 1;
        return 0;
    }
    fk_buf_add(&sink->buf, ptr, n);
    return n;
}

/*  Map a failed transfer to this module's codes. */
static int
s_transfer_error(CURLcode code, const s_sink_t *sink)
{
    if (sink->too_big || code == CURLE_FILESIZE_EXCEEDED) {
        return FK_ETOOBIG;
    }
    switch (code) {
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
        return FK_EINVAL_INPUT;
    case CURLE_ABORTED_BY_CALLBACK:
        return -EINTR;
    default:
        /* Refused, unresolved, timed out, reset, TLS failure: in every
           case there is no agent answering at that address. */
        return FK_EUNAVAILABLE;
    }
}

void
fk_client_set_timeout(fk_client_t *self, long seconds)
{
    assert(self != NULL && seconds > 0);
    self->timeout_s = seconds;
}

void
fk_client_set_cancel(fk_client_t *self, const volatile sig_atomic_t *flag)
{
    assert(self != NULL);
    self->cancel = flag;
}

void
fk_client_on_wait(fk_client_t *self, fk_client_wait_fn *fn, void *arg)
{
    assert(self != NULL);
    self->wait_fn = fn;
    self->wait_arg = arg;
}

/*  libcurl's progress callback, called at least once a second during a
    transfer: it lets a waiting command tick, and a non-zero return aborts
    a cancelled request (CURLE_ABORTED_BY_CALLBACK). */
static int
s_on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    const fk_client_t *self = arg;
    if (self->wait_fn != NULL) {
        self->wait_fn(self->wait_arg);
    }
    return self->cancel != NULL && *self->cancel != 0;
}

int
fk_client_request(fk_client_t *self, const char *method, const char *path, const char *content_type,
                  const char *body, size_t size, fk_client_reply_t *reply)
{
    assert(self != NULL && method != NULL && path != NULL && reply != NULL);
    fk_client_reply_clear(reply);
    self->errbuf[0] = '\0';

    /* A reset handle forgets the previous request's method and body but
       keeps its connection cache, so a command making two requests reuses
       one connection. */
    CURL *curl = self->curl;
    curl_easy_reset(curl);

    char *url = fk_asprintf("%s%s", self->url, path);
    s_sink_t sink = {0};
    struct curl_slist *headers = NULL;
    headers = curl_slist_append(headers, "Accept: application/json");
    /* libcurl sends "Expect: 100-continue" before large bodies and waits
       a second for an interim answer; the agent does not need it. */
    headers = curl_slist_append(headers, "Expect:");
    if (self->auth != NULL) {
        headers = curl_slist_append(headers, self->auth);
    }
    char *ctype = NULL;
    if (content_type != NULL && body != NULL) {
        ctype = fk_asprintf("Content-Type: %s", content_type);
        headers = curl_slist_append(headers, ctype);
    }
    if (headers == NULL) {
        abort(); /* curl_slist_append fails only when out of memory */
    }

    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_PROXY, "");
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, (long)FK_CLIENT_CONNECT_TIMEOUT);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, self->timeout_s);
    curl_easy_setopt(curl, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)FK_CLIENT_MAX_REPLY);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, self->errbuf);
    if (self->ca_file) {
        curl_easy_setopt(curl, CURLOPT_CAINFO, self->ca_file);
    }
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "fakts-node-cli");
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, s_sink_write);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &sink);

    if (body != NULL || strcmp(method, "POST") == 0) {
        /* POSTFIELDS makes a POST; CUSTOMREQUEST then renames it (PUT),
           which keeps the body from memory instead of a read callback. */
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(body != NULL ? size : 0));
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body != NULL ? body : "");
    } else {
        curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
    }
    if (strcmp(method, "GET") != 0 && strcmp(method, "POST") != 0) {
        curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    }

    if (self->wait_fn != NULL || self->cancel != NULL) {
        curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, s_on_progress);
        curl_easy_setopt(curl, CURLOPT_XFERINFODATA, self);
        curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
    }

    CURLcode code = curl_easy_perform(curl);
    int rc = 0;
    if (code != CURLE_OK) {
        if (self->errbuf[0] == '\0') {
            snprintf(self->errbuf, sizeof(self->errbuf), "%s", curl_easy_strerror(code));
        }
        rc = s_transfer_error(code, &sink);
        free(sink.buf.data);
        goto done;
    }

    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    reply->status = status;
    struct curl_header *index = NULL;
    if (curl_easy_header(curl, "X-Fakts-Index", 0, CURLH_HEADER, -1, &index) == CURLHE_OK) {
        reply->index = fk_strdup(index->value);
    }
    reply->body = sink.buf.data;
    reply->size = sink.buf.len;
    if (sink.buf.len > 0) {
        reply->json = json_loadb(sink.buf.data, sink.buf.len, JSON_DECODE_ANY, NULL);
    }

done:
    /* The handle keeps pointers to these until the next reset; clear them
       now so nothing dangles between requests. */
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, NULL);
    curl_slist_free_all(headers);
    free(ctype);
    free(url);
    return rc;
}

const char *
fk_client_error(const fk_client_t *self)
{
    return self->errbuf;
}

const char *
fk_client_url(const fk_client_t *self)
{
    return self->url;
}

char *
fk_client_escape(fk_client_t *self, const char *s)
{
    size_t len = strlen(s);
    if (len > (size_t)INT_MAX) {
        abort(); /* a command-line word cannot be this long */
    }
    char *escaped = curl_easy_escape(self->curl, s, (int)len);
    if (escaped == NULL) {
        abort(); /* curl_easy_escape fails only when out of memory */
    }
    /* Hand back memory the caller frees with free(), not curl_free(). */
    char *copy = fk_strdup(escaped);
    curl_free(escaped);
    return copy;
}

const char *
fk_client_reply_message(const fk_client_reply_t *reply)
{
    if (reply == NULL || !json_is_object(reply->json)) {
        return NULL;
    }
    static const char *const keys[] = {"message", "error_description", "error"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        const char *text = json_string_value(json_object_get(reply->json, keys[i]));
        if (text != NULL && text[0] != '\0') {
            return text;
        }
    }
    return NULL;
}

void
fk_client_reply_clear(fk_client_reply_t *reply)
{
    if (reply == NULL) {
        return;
    }
    json_decref(reply->json);
    free(reply->body);
    free(reply->index);
    reply->json = NULL;
    reply->body = NULL;
    reply->index = NULL;
    reply->size = 0;
    reply->status = 0;
}
