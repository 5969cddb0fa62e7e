/*  fk_health - durations, statuses and the state machine of an instance's
    checks. Pure: the time is always an argument. */

#include "fk_health.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "fk_err.h"
#include "fk_json.h"

/*  Longest duration accepted: 100 days, far past any interval, ttl or
    deregistration delay anyone means, and far from int64 overflow. */
#define S_DURATION_MAX ((int64_t)100 * 24 * 3600 * 1000)

static const char *const s_names[] = {"passing", "warning", "critical"};

int
fk_health_duration_parse(const char *text, size_t len, int64_t *ms_p)
{
    assert(ms_p);
    size_t i = 0;
    int64_t total = 0;
    if (!text || len == 0) {
        return FK_EINVAL_INPUT;
    }
    while (i < len) {
        /*  A number: digits, then optionally '.' and digits; kept as an
            integer over a power of ten so no float rounding is involved. */
        int64_t whole = 0;
        int64_t frac = 0;
        int64_t scale = 1;
        size_t digits = 0;
        while (i < len && text[i] >= '0' && text[i] <= '9') {
            whole = whole * 10 + (text[i++] - '0');
            digits++;
            if (whole > S_DURATION_MAX) {
                return FK_EINVAL_INPUT;
            }
        }
        if (i < len && text[i] == '.') {
            i++;
            while (i < len && text[i] >= '0' && text[i] <= '9') {
                if (scale < 1000000000) {
                    frac = frac * 10 + (text[i] - '0');
                    scale *= 10;
                }
                i++;
                digits++;
            }
        }
        if (digits == 0) {
            return FK_EINVAL_INPUT;
        }
        int64_t unit = 0;
        if (i + 1 < len && text[i] == 'm' && text[i + 1] == 's') {
            unit = 1;
            i += 2;
        } else if (i < len && text[i] == 's') {
            unit = 1000;
            i++;
        } else if (i < len && text[i] == 'm') {
            unit = 60 * 1000;
            i++;
        } else if (i < len && text[i] == 'h') {
            unit = 3600 * 1000;
            i++;
        } else {
            return FK_EINVAL_INPUT;
        }
        if (whole > S_DURATION_MAX / unit) {
            return FK_EINVAL_INPUT;
        }
        total += whole * unit + frac * unit / scale;
        if (total > S_DURATION_MAX) {
            return FK_EINVAL_INPUT;
        }
    }
    *ms_p = total;
    return 0;
}

void
fk_health_duration_format(int64_t ms, char *out, size_t outlen)
{
    static const struct {
        int64_t ms;
        const char *unit;
    } units[] = {{3600 * 1000, "h"}, {60 * 1000, "m"}, {1000, "s"}, {1, "ms"}};
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (ms % units[i].ms == 0) {
            snprintf(out, outlen, "%lld%s", (long long)(ms / units[i].ms), units[i].unit);
            return;
        }
    }
}

const char *
fk_health_status_name(fk_health_status_t status)
{
    return status <= FK_HEALTH_CRITICAL ? s_names[status] : "critical";
}

int
fk_health_status_parse(const char *name, fk_health_status_t *status_p)
{
    static const struct {
        const char *word;
        fk_health_status_t status;
    } words[] = {{"passing", FK_HEALTH_PASSING}, {"warning", FK_HEALTH_WARNING},
                 {"critical", FK_HEALTH_CRITICAL}, {"pass", FK_HEALTH_PASSING},
                 {"warn", FK_HEALTH_WARNING},      {"fail", FK_HEALTH_CRITICAL}};
    for (size_t i = 0; name && i < sizeof words / sizeof words[0]; i++) {
        if (strcmp(name, words[i].word) == 0) {
            *status_p = words[i].status;
            return 0;
        }
    }
    return FK_EINVAL_INPUT;
}

fk_health_status_t
fk_health_http_status(long code)
{
    if (code >= 200 && code <= 299) {
        return FK_HEALTH_PASSING;
    }
    return code == 429 ? FK_HEALTH_WARNING : FK_HEALTH_CRITICAL;
}

/*  A status by its record name; -1 when unknown. */
static int
s_status_of(const json_t *value)
{
    const char *name = json_string_value(value);
    for (int i = 0; name && i <= FK_HEALTH_CRITICAL; i++) {
        if (strcmp(name, s_names[i]) == 0) {
            return i;
        }
    }
    return -1;
}

fk_health_status_t
fk_health_of(const json_t *instance)
{
    const json_t *health = json_object_get(instance, "health");
    if (!health) {
        return FK_HEALTH_PASSING;
    }
    int status = s_status_of(json_object_get(health, "status"));
    return status < 0 ? FK_HEALTH_CRITICAL : (fk_health_status_t)status;
}

size_t
fk_health_count(const json_t *definition)
{
    return json_array_size(json_object_get(definition, "checks"));
}

/*  A canonical duration field: absent or null gives 0 (none). */
static int
s_duration(const json_t *value, int64_t *ms_p)
{
    *ms_p = 0;
    if (!value || json_is_null(value)) {
        return 0;
    }
    if (!json_is_string(value)) {
        return FK_EINVAL_INPUT;
    }
    return fk_health_duration_parse(json_string_value(value), json_string_length(value), ms_p);
}

int
fk_health_spec(const json_t *definition, size_t index, fk_health_spec_t *spec)
{
    assert(spec);
    memset(spec, 0, sizeof *spec);
    const json_t *check = json_array_get(json_object_get(definition, "checks"), index);
    if (!json_is_object(check)) {
        return FK_EINVAL_INPUT;
    }
    int rc = s_duration(json_object_get(check, "deregister_critical_after"), &spec->after_ms);
    if (rc == 0 && spec->after_ms == 0) {
        rc = s_duration(json_object_get(definition, "deregister_critical_after"),
                        &spec->after_ms);
    }
    if (rc != 0) {
        return rc;
    }
    if (json_object_get(check, "ttl")) {
        spec->kind = FK_HEALTH_TTL;
        rc = s_duration(json_object_get(check, "ttl"), &spec->ttl_ms);
        return rc == 0 && spec->ttl_ms > 0 ? 0 : FK_EINVAL_INPUT;
    }
    const json_t *target = json_object_get(check, "http");
    spec->kind = FK_HEALTH_HTTP;
    if (!target) {
        target = json_object_get(check, "tcp");
        spec->kind = FK_HEALTH_TCP;
    }
    spec->target = json_string_value(target);
    if (!spec->target) {
        return FK_EINVAL_INPUT;
    }
    rc = s_duration(json_object_get(check, "interval"), &spec->interval_ms);
    if (rc == 0) {
        rc = s_duration(json_object_get(check, "timeout"), &spec->timeout_ms);
    }
    return rc == 0 && spec->interval_ms > 0 && spec->timeout_ms > 0 ? 0 : FK_EINVAL_INPUT;
}

/*  Copy output into a check's snippet: printable ASCII only (line breaks
    and tabs become spaces, trailing ones dropped, any other byte '?'), so
    the record stays valid UTF-8 and a hostile body cannot put escapes or
    line breaks into logs and tables. */
static void
s_set_output(fk_health_check_t *check, const char *output)
{
    size_t n = 0;
    for (; output && output[n] && n < FK_HEALTH_OUTPUT_MAX; n++) {
        unsigned char c = (unsigned char)output[n];
        check->output[n] = c >= 0x20 && c < 0x7F ? (char)c : c == '\n' || c == '\r' || c == '\t' ? ' ' : '?';
    }
    while (n > 0 && check->output[n - 1] == ' ') {
        n--;
    }
    check->output[n] = '\0';
}

/*  Recompute the instance's status from its checks; since moves when it
    changes. */
static void
s_aggregate(fk_health_t *self, int64_t now_ms)
{
    fk_health_status_t worst = FK_HEALTH_PASSING;
    for (size_t i = 0; i < self->nchecks; i++) {
        if (self->checks[i].status > worst) {
            worst = self->checks[i].status;
        }
    }
    if (worst != self->status) {
        self->status = worst;
        self->since_ms = now_ms;
    }
}

int
fk_health_init(fk_health_t *self, const json_t *definition, int64_t now_ms)
{
    assert(self);
    memset(self, 0, sizeof *self);
    size_t n = fk_health_count(definition);
    if (n > FK_HEALTH_MAX_CHECKS) {
        return FK_EINVAL_INPUT;
    }
    for (size_t i = 0; i < n; i++) {
        fk_health_spec_t spec;
        if (fk_health_spec(definition, i, &spec) != 0) {
            memset(self, 0, sizeof *self);
            return FK_EINVAL_INPUT;
        }
        fk_health_check_t *check = &self->checks[i];
        check->status = FK_HEALTH_CRITICAL;
        check->since_ms = now_ms;
        check->ttl_ms = spec.ttl_ms;
        check->after_ms = spec.after_ms;
        s_set_output(check, FK_HEALTH_UNCHECKED);
    }
    self->nchecks = n;
    self->status = n > 0 ? FK_HEALTH_CRITICAL : FK_HEALTH_PASSING;
    self->since_ms = now_ms;
    return 0;
}

int
fk_health_restore(fk_health_t *self, const json_t *health, int64_t now_ms)
{
    assert(self);
    const json_t *checks = json_object_get(health, "checks");
    if (!json_is_array(checks) || json_array_size(checks) != self->nchecks
        || !json_is_integer(json_object_get(health, "since_ms"))
        || s_status_of(json_object_get(health, "status")) < 0) {
        return FK_EINVAL_INPUT;
    }
    for (size_t i = 0; i < self->nchecks; i++) {
        const json_t *entry = json_array_get(checks, i);
        if (s_status_of(json_object_get(entry, "status")) < 0
            || !json_is_integer(json_object_get(entry, "since_ms"))
            || !json_is_string(json_object_get(entry, "output"))) {
            return FK_EINVAL_INPUT;
        }
    }
    for (size_t i = 0; i < self->nchecks; i++) {
        const json_t *entry = json_array_get(checks, i);
        fk_health_check_t *check = &self->checks[i];
        check->status = (fk_health_status_t)s_status_of(json_object_get(entry, "status"));
        check->since_ms = json_integer_value(json_object_get(entry, "since_ms"));
        s_set_output(check, json_string_value(json_object_get(entry, "output")));
        check->reported = strcmp(check->output, FK_HEALTH_UNCHECKED) != 0;
        /*  The silence that counts began with this node's start, not with
            the stored report: the reporter may have reported while the
            node was down, and none of that reached it. */
        check->deadline_ms = check->ttl_ms ? now_ms + check->ttl_ms : 0;
    }
    self->status = (fk_health_status_t)s_status_of(json_object_get(health, "status"));
    self->since_ms = json_integer_value(json_object_get(health, "since_ms"));
    s_aggregate(self, now_ms);
    return 0;
}

bool
fk_health_report(fk_health_t *self, size_t index, fk_health_status_t status, const char *output,
                 int64_t now_ms)
{
    assert(self && index < self->nchecks);
    fk_health_check_t *check = &self->checks[index];
    if (check->ttl_ms) {
        check->deadline_ms = now_ms + check->ttl_ms;
    }
    if (check->status == status && check->reported) {
        return false;
    }
    check->reported = true;
    if (check->status != status) {
        check->status = status;
        check->since_ms = now_ms;
    }
    s_set_output(check, output);
    s_aggregate(self, now_ms);
    return true;
}

bool
fk_health_expire(fk_health_t *self, int64_t now_ms)
{
    assert(self);
    bool changed = false;
    for (size_t i = 0; i < self->nchecks; i++) {
        fk_health_check_t *check = &self->checks[i];
        if (check->ttl_ms && check->status != FK_HEALTH_CRITICAL && now_ms >= check->deadline_ms) {
            char why[64];
            char ttl[24];
            fk_health_duration_format(check->ttl_ms, ttl, sizeof ttl);
            snprintf(why, sizeof why, "TTL expired: no report for %s", ttl);
            check->status = FK_HEALTH_CRITICAL;
            check->since_ms = now_ms;
            s_set_output(check, why);
            changed = true;
        }
    }
    if (changed) {
        s_aggregate(self, now_ms);
    }
    return changed;
}

int64_t
fk_health_next_expiry(const fk_health_t *self)
{
    int64_t next = INT64_MAX;
    for (size_t i = 0; i < self->nchecks; i++) {
        const fk_health_check_t *check = &self->checks[i];
        if (check->ttl_ms && check->status != FK_HEALTH_CRITICAL && check->deadline_ms < next) {
            next = check->deadline_ms;
        }
    }
    return next;
}

int64_t
fk_health_next_deregister(const fk_health_t *self)
{
    int64_t next = INT64_MAX;
    for (size_t i = 0; i < self->nchecks; i++) {
        const fk_health_check_t *check = &self->checks[i];
        if (check->after_ms && check->status == FK_HEALTH_CRITICAL
            && check->since_ms + check->after_ms < next) {
            next = check->since_ms + check->after_ms;
        }
    }
    return next;
}

bool
fk_health_deregister_due(const fk_health_t *self, int64_t now_ms)
{
    return now_ms >= fk_health_next_deregister(self);
}

json_t *
fk_health_to_json(const fk_health_t *self)
{
    json_t *checks = fk_json_must(json_array());
    for (size_t i = 0; i < self->nchecks; i++) {
        const fk_health_check_t *check = &self->checks[i];
        fk_json_append(checks, json_pack("{s:s, s:s, s:I}", "status",
                                         fk_health_status_name(check->status), "output",
                                         check->output, "since_ms", (json_int_t)check->since_ms));
    }
    json_t *out = fk_json_must(json_object());
    fk_json_set(out, "status", json_string(fk_health_status_name(self->status)));
    fk_json_set(out, "since_ms", json_integer(self->since_ms));
    fk_json_set(out, "checks", checks);
    return out;
}
