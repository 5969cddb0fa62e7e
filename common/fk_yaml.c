/*  fk_yaml - read one YAML (or JSON) document into a jansson value.

    The YAML path drives libyaml's event parser and builds the jansson tree
    with an explicit stack of open collections, so nothing here recurses on
    the input. Every node is counted as it is produced, and an alias is
    charged the full size of the value it copies before it is copied: the
    limits are enforced before memory is spent, which is what defeats the
    "billion laughs" document (each level aliasing the previous one ten
    times). */

#include "fk_yaml.h"

#include <assert.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <yaml.h>

#include "fk_err.h"
#include "fk_mem.h"

/*  Longest excerpt of a key or alias name quoted in an error message. */
#define FK_YAML_EXCERPT 64

/*  One collection that has been opened and not yet closed. */
struct fk_yaml_frame {
    json_t *value;   /* the array or object being filled (owned) */
    char *key;       /* mapping: pending key text, NULL while a key is due */
    size_t key_len;  /* bytes in key (keys never contain NUL) */
    char *anchor;    /* anchor to record when the collection closes, or NULL */
    size_t nodes_at; /* builder node count before this collection opened */
    size_t text_at;  /* builder text count before this collection opened */
    size_t height;   /* nesting height: 1 + height of the tallest child */
};

/*  A value recorded under an anchor, for later aliases to copy. */
struct fk_yaml_anchor {
    json_t *value;   /* the anchored value (one reference held) */
    char *text;      /* the scalar's text, for use as a key; NULL if a collection */
    size_t text_len; /* bytes in text */
    size_t nodes;    /* nodes in value, its own aliases expanded */
    size_t bytes;    /* scalar bytes in value, its own aliases expanded */
    size_t height;   /* nesting height of value: 0 for a scalar */
};

/*  State of one fk_yaml_parse call on the YAML path. */
struct fk_yaml_builder {
    struct fk_yaml_frame stack[FK_YAML_MAX_DEPTH]; /* open collections, outermost 1st */
    size_t depth;                                  /* entries of stack in use */
    json_t *root;                                  /* the finished value, or NULL */
    int documents;                                 /* DOCUMENT-START events seen */
    json_t *anchor_index;                          /* anchor name -> index in anchors */
    struct fk_yaml_anchor *anchors;                /* every anchor definition, in order */
    size_t anchor_count;                           /* entries of anchors in use */
    size_t anchor_cap;                             /* entries allocated */
    size_t nodes;                                  /* nodes so far, aliases expanded */
    size_t text;                                   /* scalar bytes so far, aliases expanded */
    char *err;                                     /* caller's message buffer, or NULL */
    size_t errlen;                                 /* its size */
};

/*  What a scalar's tag asks for. */
enum fk_yaml_kind {
    FK_YAML_CORE,  /* untagged plain scalar: resolve by the core schema */
    FK_YAML_STR,   /* !!str, "!", or any quoted/block scalar without a tag */
    FK_YAML_INT,   /* !!int */
    FK_YAML_FLOAT, /* !!float */
    FK_YAML_BOOL,  /* !!bool */
    FK_YAML_NULL,  /* !!null */
    FK_YAML_OTHER  /* any other tag: refused */
};

/*  Write at most FK_YAML_EXCERPT bytes of text into out (which holds
    FK_YAML_EXCERPT + 4 bytes), cut at a UTF-8 character boundary, with
    control characters shown as '?' so an error message can be logged as
    is. Appends "..." when text was cut. */
static void
s_excerpt(char *out, const char *text, size_t len)
{
    size_t n = len;
    if (n > FK_YAML_EXCERPT) {
        n = FK_YAML_EXCERPT;
        while (n > 0 && ((unsigned char)text[n] & 0xC0) == 0x80) {
            n--;
        }
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)text[i];
        out[i] = (c < 0x20 || c == 0x7F) ? '?' : (char)c;
    }
    if (n < len) {
        memcpy(out + n, "...", 4);
    } else {
        out[n] = '\0';
    }
}

/*  Record an error "line L, column C: <message>" from a 0-based libyaml
    mark and return code. */
static int s_fail(struct fk_yaml_builder *self, int code, yaml_mark_t mark, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
s_fail(struct fk_yaml_builder *self, int code, yaml_mark_t mark, const char *fmt, ...)
{
    if (self->err && self->errlen > 0) {
        int n = snprintf(self->err, self->errlen, "line %zu, column %zu: ", mark.line + 1,
                         mark.column + 1);
        if (n >= 0 && (size_t)n < self->errlen) {
            va_list args;
            va_start(args, fmt);
            vsnprintf(self->err + n, self->errlen - (size_t)n, fmt, args);
            va_end(args);
        }
    }
    return code;
}

/*  Charge nodes and bytes of scalar text to the document, or refuse with
    FK_ETOOBIG when a limit would be passed. Written as subtractions so the
    test itself cannot overflow. */
static int
s_charge(struct fk_yaml_builder *self, size_t nodes, size_t bytes, yaml_mark_t mark)
{
    if (nodes > FK_YAML_MAX_NODES - self->nodes) {
        return s_fail(self, FK_ETOOBIG, mark, "document has more than %d nodes (aliases expanded)",
                      FK_YAML_MAX_NODES);
    }
    if (bytes > FK_YAML_MAX_TEXT - self->text) {
        return s_fail(self, FK_ETOOBIG, mark,
                      "document has more than %zu bytes of text (aliases expanded)",
                      FK_YAML_MAX_TEXT);
    }
    self->nodes += nodes;
    self->text += bytes;
    return 0;
}

/* ------------------------------------------------------------------------ */
/*  Scalars: the YAML 1.2 core schema (spec 1.2.2, section 10.3.2).          */

static enum fk_yaml_kind
s_kind(const char *tag, yaml_scalar_style_t style)
{
    if (!tag) {
        /*  Only plain scalars are resolved; quoting or a block scalar is the
            author's way of saying "this is text". */
        return style == YAML_PLAIN_SCALAR_STYLE ? FK_YAML_CORE : FK_YAML_STR;
    }
    /*  The non-specific tag "!" forces a string (spec 6.9.1). */
    if (strcmp(tag, "!") == 0 || strcmp(tag, YAML_STR_TAG) == 0) {
        return FK_YAML_STR;
    }
    if (strcmp(tag, YAML_INT_TAG) == 0) {
        return FK_YAML_INT;
    }
    if (strcmp(tag, YAML_FLOAT_TAG) == 0) {
        return FK_YAML_FLOAT;
    }
    if (strcmp(tag, YAML_BOOL_TAG) == 0) {
        return FK_YAML_BOOL;
    }
    if (strcmp(tag, YAML_NULL_TAG) == 0) {
        return FK_YAML_NULL;
    }
    return FK_YAML_OTHER;
}

static int
s_equals(const char *s, size_t n, const char *word)
{
    return strlen(word) == n && memcmp(s, word, n) == 0;
}

static int
s_is_null(const char *s, size_t n)
{
    return n == 0 || s_equals(s, n, "~") || s_equals(s, n, "null") || s_equals(s, n, "Null")
           || s_equals(s, n, "NULL");
}

/*  1 for true, 0 for false, -1 when s is not a core-schema boolean. */
static int
s_bool(const char *s, size_t n)
{
    if (s_equals(s, n, "true") || s_equals(s, n, "True") || s_equals(s, n, "TRUE")) {
        return 1;
    }
    if (s_equals(s, n, "false") || s_equals(s, n, "False") || s_equals(s, n, "FALSE")) {
        return 0;
    }
    return -1;
}

static int
s_digit_value(char c, unsigned base)
{
    int v = -1;
    if (c >= '0' && c <= '9') {
        v = c - '0';
    } else if (c >= 'a' && c <= 'f') {
        v = c - 'a' + 10;
    } else if (c >= 'A' && c <= 'F') {
        v = c - 'A' + 10;
    }
    return v >= 0 && (unsigned)v < base ? v : -1;
}

/*  Match a core-schema integer: [-+]?[0-9]+, 0o[0-7]+ or 0x[0-9a-fA-F]+.
    Returns 1 and sets *out when it fits an int64, 0 when s is not integer
    syntax, -1 when it is a hex or octal integer too large, and -2 when it is
    a decimal integer too large (the caller reads that one as a float). */
static int
s_int(const char *s, size_t n, int64_t *out)
{
    unsigned base = 10;
    size_t i = 0;
    int negative = 0;
    if (n > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'o')) {
        base = s[1] == 'x' ? 16 : 8;
        i = 2;
    } else if (n > 0 && (s[0] == '-' || s[0] == '+')) {
        negative = s[0] == '-';
        i = 1;
    }
    if (i == n) {
        return 0;
    }
    /*  The magnitude may reach 2^63 only for a negative decimal. */
    uint64_t limit = negative ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    uint64_t value = 0;
    int overflow = 0;
    for (; i < n; i++) {
        int d = s_digit_value(s[i], base);
        if (d < 0) {
            return 0;
        }
        if (!overflow) {
            if (value > (limit - (uint64_t)d) / base) {
                overflow = 1;
            } else {
                value = value * base + (uint64_t)d;
            }
        }
    }
    if (overflow) {
        return base == 10 ? -2 : -1;
    }
    if (negative) {
        /*  -(2^63) is representable; compute it without signed overflow. */
        *out = value == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)value;
    } else {
        *out = (int64_t)value;
    }
    return 1;
}

static size_t
s_skip_digits(const char *s, size_t n, size_t i)
{
    while (i < n && s[i] >= '0' && s[i] <= '9') {
        i++;
    }
    return i;
}

/*  Match a core-schema float:
        [-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )?
        [-+]? ( \.inf | \.Inf | \.INF )      \.nan | \.NaN | \.NAN
    Returns 1 and sets *out for a finite value, 0 when s is not float syntax,
    -1 for infinity, NaN, or a value that overflows a double: JSON cannot
    carry those. */
static int
s_float(const char *s, size_t n, double *out)
{
    if (s_equals(s, n, ".nan") || s_equals(s, n, ".NaN") || s_equals(s, n, ".NAN")) {
        return -1;
    }
    size_t i = 0;
    if (n > 0 && (s[0] == '-' || s[0] == '+')) {
        i = 1;
    }
    const char *rest = s + i;
    size_t rest_n = n - i;
    if (s_equals(rest, rest_n, ".inf") || s_equals(rest, rest_n, ".Inf")
        || s_equals(rest, rest_n, ".INF")) {
        return -1;
    }
    if (i < n && s[i] == '.') {
        size_t j = s_skip_digits(s, n, i + 1);
        if (j == i + 1) {
            return 0;
        }
        i = j;
    } else {
        size_t j = s_skip_digits(s, n, i);
        if (j == i) {
            return 0;
        }
        i = j;
        if (i < n && s[i] == '.') {
            i = s_skip_digits(s, n, i + 1);
        }
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '-' || s[i] == '+')) {
            i++;
        }
        size_t j = s_skip_digits(s, n, i);
        if (j == i) {
            return 0;
        }
        i = j;
    }
    if (i != n) {
        return 0;
    }
    /*  The syntax is now a subset of what strtod accepts, so strtod reads
        all of it. It needs a terminated copy: the scalar may be followed by
        anything. The process never changes LC_NUMERIC from "C". */
    char *copy = fk_strndup(s, n);
    double value = strtod(copy, NULL);
    free(copy);
    if (!isfinite(value)) {
        return -1;
    }
    *out = value;
    return 1;
}

/*  A jansson string of exactly n bytes (NUL allowed). NULL only when the
    bytes are not UTF-8, which libyaml's own decoding should already rule
    out. */
static json_t *
s_string(const char *s, size_t n)
{
    return json_stringn(s, n);
}

/*  Turn one scalar event into a JSON value, in *value_p. */
static int
s_resolve(struct fk_yaml_builder *self, const yaml_event_t *event, json_t **value_p)
{
    const char *s = (const char *)event->data.scalar.value;
    size_t n = event->data.scalar.length;
    const char *tag = (const char *)event->data.scalar.tag;
    yaml_mark_t mark = event->start_mark;
    int64_t i = 0;
    double d = 0.0;
    json_t *value = NULL;

    switch (s_kind(tag, event->data.scalar.style)) {
    case FK_YAML_CORE:
        if (s_is_null(s, n)) {
            value = json_null();
        } else if (s_bool(s, n) >= 0) {
            value = json_boolean(s_bool(s, n));
        } else {
            int r = s_int(s, n, &i);
            if (r == 1) {
                value = json_integer((json_int_t)i);
            } else if (r == -1) {
                /*  0x/0o beyond int64 match nothing else in the schema. */
                value = s_string(s, n);
            } else {
                int f = s_float(s, n, &d);
                if (f == 1) {
                    value = json_real(d);
                } else if (f == -1) {
                    return s_fail(self, FK_EINVAL_INPUT, mark,
                                  "float is infinite, NaN or out of range, which JSON cannot "
                                  "represent");
                } else {
                    value = s_string(s, n);
                }
            }
        }
        break;
    case FK_YAML_STR:
        value = s_string(s, n);
        break;
    case FK_YAML_INT: {
        int r = s_int(s, n, &i);
        if (r == 0) {
            return s_fail(self, FK_EINVAL_INPUT, mark, "value is not a valid !!int");
        }
        if (r < 0) {
            return s_fail(self, FK_EINVAL_INPUT, mark, "!!int value does not fit 64 bits");
        }
        value = json_integer((json_int_t)i);
        break;
    }
    case FK_YAML_FLOAT: {
        int f = s_float(s, n, &d);
        if (f == 0) {
            return s_fail(self, FK_EINVAL_INPUT, mark, "value is not a valid !!float");
        }
        if (f < 0) {
            return s_fail(self, FK_EINVAL_INPUT, mark,
                          "float is infinite, NaN or out of range, which JSON cannot represent");
        }
        value = json_real(d);
        break;
    }
    case FK_YAML_BOOL:
        if (s_bool(s, n) < 0) {
            return s_fail(self, FK_EINVAL_INPUT, mark,
                          "value is not a valid !!bool (true or false)");
        }
        value = json_boolean(s_bool(s, n));
        break;
    case FK_YAML_NULL:
        if (!s_is_null(s, n)) {
            return s_fail(self, FK_EINVAL_INPUT, mark, "value is not a valid !!null");
        }
        value = json_null();
        break;
    case FK_YAML_OTHER:
    default: {
        char shown[FK_YAML_EXCERPT + 4];
        s_excerpt(shown, tag, strlen(tag));
        return s_fail(self, FK_EINVAL_INPUT, mark, "unsupported tag '%s'", shown);
    }
    }
    if (!value) {
        /*  json_null and json_boolean cannot fail, json_integer and
            json_real only for want of memory, and json_stringn also when the
            bytes are not UTF-8. libyaml decodes and re-encodes everything it
            reads, so that should not happen; if it does, it is the input's
            fault and not a reason to abort. */
        return s_fail(self, FK_EINVAL_INPUT, mark, "scalar cannot be stored as UTF-8 text");
    }
    *value_p = value;
    return 0;
}

/* ------------------------------------------------------------------------ */
/*  Building the tree.                                                       */

/*  The innermost open collection, or NULL at the document level. */
static struct fk_yaml_frame *
s_top(struct fk_yaml_builder *self)
{
    return self->depth > 0 ? &self->stack[self->depth - 1] : NULL;
}

/*  True when the next node is a mapping key. */
static int
s_key_due(struct fk_yaml_builder *self)
{
    struct fk_yaml_frame *top = s_top(self);
    return top && json_is_object(top->value) && !top->key;
}

/*  Place a finished value (stolen) where the document expects it next. */
static int
s_place(struct fk_yaml_builder *self, json_t *value, yaml_mark_t mark)
{
    struct fk_yaml_frame *top = s_top(self);
    if (!top) {
        /*  libyaml emits one root node per document and we accept one
            document, so a second root cannot happen; stay safe anyway. */
        if (self->root) {
            json_decref(value);
            return s_fail(self, FK_EINVAL_INPUT, mark, "more than one root node");
        }
        self->root = value;
        return 0;
    }
    if (json_is_array(top->value)) {
        if (json_array_append_new(top->value, value) != 0) {
            fk_oom("fk_yaml (array)");
        }
        return 0;
    }
    int rc = json_object_setn_new(top->value, top->key, top->key_len, value);
    free(top->key);
    top->key = NULL;
    if (rc != 0) {
        return s_fail(self, FK_EINVAL_INPUT, mark, "mapping key is not valid UTF-8");
    }
    return 0;
}

/*  Accept text as the pending key of the innermost mapping. */
static int
s_take_key(struct fk_yaml_builder *self, const char *text, size_t len, yaml_mark_t mark)
{
    struct fk_yaml_frame *top = s_top(self);
    char shown[FK_YAML_EXCERPT + 4];
    if (memchr(text, '\0', len)) {
        return s_fail(self, FK_EINVAL_INPUT, mark, "mapping key contains a NUL character");
    }
    if (json_object_getn(top->value, text, len)) {
        s_excerpt(shown, text, len);
        return s_fail(self, FK_EINVAL_INPUT, mark, "duplicate mapping key \"%s\"", shown);
    }
    top->key = fk_strndup(text, len);
    top->key_len = len;
    return 0;
}

/*  Record value under an anchor name; a later definition of the same name
    replaces the earlier one for the aliases that follow (spec 3.2.2.2). */
static void
s_record_anchor(struct fk_yaml_builder *self, const char *name, json_t *value, const char *text,
                size_t text_len, size_t nodes, size_t bytes, size_t height)
{
    if (self->anchor_count == self->anchor_cap) {
        self->anchor_cap = self->anchor_cap ? self->anchor_cap * 2 : 8;
        self->anchors = fk_realloc(self->anchors, self->anchor_cap * sizeof *self->anchors);
    }
    struct fk_yaml_anchor *a = &self->anchors[self->anchor_count];
    a->value = json_incref(value);
    a->text = text ? fk_strndup(text, text_len) : NULL;
    a->text_len = text_len;
    a->nodes = nodes;
    a->bytes = bytes;
    a->height = height;
    json_t *index = json_integer((json_int_t)self->anchor_count);
    if (!index || json_object_set_new(self->anchor_index, name, index) != 0) {
        fk_oom("fk_yaml (anchor)");
    }
    self->anchor_count++;
}

static int
s_on_scalar(struct fk_yaml_builder *self, const yaml_event_t *event)
{
    yaml_mark_t mark = event->start_mark;
    const char *text = (const char *)event->data.scalar.value;
    size_t len = event->data.scalar.length;
    int rc = s_charge(self, 1, len, mark);
    if (rc != 0) {
        return rc;
    }
    json_t *value = NULL;
    rc = s_resolve(self, event, &value);
    if (rc != 0) {
        return rc;
    }
    if (event->data.scalar.anchor) {
        s_record_anchor(self, (const char *)event->data.scalar.anchor, value, text, len, 1, len, 0);
    }
    if (s_key_due(self)) {
        /*  A key is its text as written: "8080: x" keys "8080", not 8080. */
        json_decref(value);
        return s_take_key(self, text, len, mark);
    }
    return s_place(self, value, mark);
}

static int
s_on_open(struct fk_yaml_builder *self, const yaml_event_t *event)
{
    yaml_mark_t mark = event->start_mark;
    int is_map = event->type == YAML_MAPPING_START_EVENT;
    const char *tag =
        (const char *)(is_map ? event->data.mapping_start.tag : event->data.sequence_start.tag);
    const char *anchor = (const char *)(is_map ? event->data.mapping_start.anchor
                                               : event->data.sequence_start.anchor);
    if (s_key_due(self)) {
        return s_fail(self, FK_EINVAL_INPUT, mark, "mapping key must be a scalar, not a %s",
                      is_map ? "mapping" : "sequence");
    }
    if (tag && strcmp(tag, "!") != 0 && strcmp(tag, is_map ? YAML_MAP_TAG : YAML_SEQ_TAG) != 0) {
        char shown[FK_YAML_EXCERPT + 4];
        s_excerpt(shown, tag, strlen(tag));
        return s_fail(self, FK_EINVAL_INPUT, mark, "unsupported tag '%s' on a %s", shown,
                      is_map ? "mapping" : "sequence");
    }
    if (self->depth == FK_YAML_MAX_DEPTH) {
        return s_fail(self, FK_ETOOBIG, mark, "nesting is deeper than %d levels",
                      FK_YAML_MAX_DEPTH);
    }
    size_t nodes_at = self->nodes;
    size_t text_at = self->text;
    int rc = s_charge(self, 1, 0, mark);
    if (rc != 0) {
        return rc;
    }
    json_t *value = is_map ? json_object() : json_array();
    if (!value) {
        fk_oom("fk_yaml (collection)");
    }
    struct fk_yaml_frame *frame = &self->stack[self->depth++];
    frame->value = value;
    frame->key = NULL;
    frame->key_len = 0;
    frame->anchor = anchor ? fk_strdup(anchor) : NULL;
    frame->nodes_at = nodes_at;
    frame->text_at = text_at;
    frame->height = 1;
    return 0;
}

static int
s_on_close(struct fk_yaml_builder *self, const yaml_event_t *event)
{
    yaml_mark_t mark = event->start_mark;
    if (self->depth == 0) {
        return s_fail(self, FK_EINVAL_INPUT, mark, "unbalanced end of collection");
    }
    struct fk_yaml_frame frame = self->stack[--self->depth];
    if (frame.key) {
        /*  libyaml gives every key a value (an empty scalar if need be). */
        free(frame.key);
        free(frame.anchor);
        json_decref(frame.value);
        return s_fail(self, FK_EINVAL_INPUT, mark, "mapping key without a value");
    }
    if (frame.anchor) {
        s_record_anchor(self, frame.anchor, frame.value, NULL, 0, self->nodes - frame.nodes_at,
                        self->text - frame.text_at, frame.height);
        free(frame.anchor);
    }
    struct fk_yaml_frame *parent = s_top(self);
    if (parent && parent->height < frame.height + 1) {
        parent->height = frame.height + 1;
    }
    return s_place(self, frame.value, mark);
}

static int
s_on_alias(struct fk_yaml_builder *self, const yaml_event_t *event)
{
    yaml_mark_t mark = event->start_mark;
    const char *name = (const char *)event->data.alias.anchor;
    json_t *index = json_object_get(self->anchor_index, name);
    if (!index) {
        char shown[FK_YAML_EXCERPT + 4];
        s_excerpt(shown, name, strlen(name));
        /*  Anchors are recorded when their node is complete, so an alias
            inside its own anchored collection lands here too: a cycle, which
            JSON cannot hold. */
        return s_fail(self, FK_EINVAL_INPUT, mark,
                      "alias *%s does not refer to an earlier, complete anchor", shown);
    }
    const struct fk_yaml_anchor *a = &self->anchors[(size_t)json_integer_value(index)];
    if (s_key_due(self)) {
        if (!a->text) {
            char shown[FK_YAML_EXCERPT + 4];
            s_excerpt(shown, name, strlen(name));
            return s_fail(self, FK_EINVAL_INPUT, mark,
                          "mapping key must be a scalar, but alias *%s is a collection", shown);
        }
        int rc = s_charge(self, 1, a->text_len, mark);
        return rc != 0 ? rc : s_take_key(self, a->text, a->text_len, mark);
    }
    /*  Charge the whole expansion before copying anything. */
    if (a->height > FK_YAML_MAX_DEPTH - self->depth) {
        return s_fail(self, FK_ETOOBIG, mark, "nesting is deeper than %d levels (aliases expanded)",
                      FK_YAML_MAX_DEPTH);
    }
    int rc = s_charge(self, a->nodes, a->bytes, mark);
    if (rc != 0) {
        return rc;
    }
    /*  A deep copy, so the caller may edit one occurrence without changing
        the others; the limits above bound what it costs. */
    json_t *copy = json_deep_copy(a->value);
    if (!copy) {
        fk_oom("fk_yaml (alias)");
    }
    struct fk_yaml_frame *top = s_top(self);
    if (top && top->height < a->height + 1) {
        top->height = a->height + 1;
    }
    return s_place(self, copy, mark);
}

static int
s_on_event(struct fk_yaml_builder *self, const yaml_event_t *event)
{
    switch (event->type) {
    case YAML_DOCUMENT_START_EVENT:
        if (++self->documents > 1) {
            return s_fail(self, FK_EINVAL_INPUT, event->start_mark,
                          "more than one YAML document; expected exactly one");
        }
        return 0;
    case YAML_SCALAR_EVENT:
        return s_on_scalar(self, event);
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT:
        return s_on_open(self, event);
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        return s_on_close(self, event);
    case YAML_ALIAS_EVENT:
        return s_on_alias(self, event);
    case YAML_NO_EVENT:
    case YAML_STREAM_START_EVENT:
    case YAML_STREAM_END_EVENT:
    case YAML_DOCUMENT_END_EVENT:
    default:
        return 0;
    }
}

/*  Translate libyaml's failure into our message. Reader errors (bad
    encoding) carry a byte offset instead of a mark, so the line and column
    are counted here. */
static int
s_parser_error(struct fk_yaml_builder *self, const yaml_parser_t *parser, const char *text,
               size_t len)
{
    const char *problem = parser->problem ? parser->problem : "unknown parser error";
    yaml_mark_t mark = parser->problem_mark;
    switch (parser->error) {
    case YAML_MEMORY_ERROR:
        fk_oom("fk_yaml (libyaml)");
        break;
    case YAML_READER_ERROR: {
        mark.line = 0;
        mark.column = 0;
        size_t end = parser->problem_offset < len ? parser->problem_offset : len;
        for (size_t i = 0; i < end; i++) {
            if (text[i] == '\n') {
                mark.line++;
                mark.column = 0;
            } else if (((unsigned char)text[i] & 0xC0) != 0x80) {
                mark.column++;
            }
        }
        break;
    }
    case YAML_NO_ERROR:
    case YAML_SCANNER_ERROR:
    case YAML_PARSER_ERROR:
    case YAML_COMPOSER_ERROR:
    case YAML_WRITER_ERROR:
    case YAML_EMITTER_ERROR:
    default:
        break;
    }
    return s_fail(self, FK_EINVAL_INPUT, mark, "%s", problem);
}

static int
s_parse_yaml(const char *text, size_t len, json_t **out_p, char *err, size_t errlen)
{
    struct fk_yaml_builder self;
    memset(&self, 0, sizeof self);
    self.err = err;
    self.errlen = errlen;
    self.anchor_index = json_object();
    if (!self.anchor_index) {
        fk_oom("fk_yaml (anchors)");
    }
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) {
        fk_oom("fk_yaml (parser)");
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);

    int rc = 0;
    int done = 0;
    while (!done) {
        yaml_event_t event;
        if (!yaml_parser_parse(&parser, &event)) {
            rc = s_parser_error(&self, &parser, text, len);
            break;
        }
        rc = s_on_event(&self, &event);
        done = event.type == YAML_STREAM_END_EVENT;
        yaml_event_delete(&event);
        if (rc != 0) {
            break;
        }
    }

    if (rc == 0) {
        /*  No document at all (empty text, only comments) reads as null. */
        *out_p = self.root ? self.root : json_null();
        self.root = NULL;
    }
    while (self.depth > 0) {
        struct fk_yaml_frame *frame = &self.stack[--self.depth];
        json_decref(frame->value);
        free(frame->key);
        free(frame->anchor);
    }
    json_decref(self.root);
    for (size_t i = 0; i < self.anchor_count; i++) {
        json_decref(self.anchors[i].value);
        free(self.anchors[i].text);
    }
    free(self.anchors);
    json_decref(self.anchor_index);
    yaml_parser_delete(&parser);
    return rc;
}

/* ------------------------------------------------------------------------ */
/*  The JSON path.                                                           */

/*  Measure a jansson tree the way the YAML path counts it. Returns 0 while
    within every limit, -1 as soon as one is passed. depth is the number of
    collections around value. */
static int
s_measure(const json_t *value, size_t depth, size_t *nodes, size_t *bytes)
{
    if (++*nodes > FK_YAML_MAX_NODES) {
        return -1;
    }
    if (json_is_string(value)) {
        *bytes += json_string_length(value);
        return *bytes > FK_YAML_MAX_TEXT ? -1 : 0;
    }
    if (!json_is_object(value) && !json_is_array(value)) {
        return 0;
    }
    if (depth + 1 > FK_YAML_MAX_DEPTH) {
        return -1;
    }
    if (json_is_array(value)) {
        for (size_t i = 0; i < json_array_size(value); i++) {
            if (s_measure(json_array_get(value, i), depth + 1, nodes, bytes) != 0) {
                return -1;
            }
        }
        return 0;
    }
    const char *key;
    const json_t *member;
    /*  jansson's iteration macro needs a non-const object. */
    json_t *object = (json_t *)(uintptr_t)value;
    json_object_foreach(object, key, member)
    {
        *bytes += strlen(key);
        if (++*nodes > FK_YAML_MAX_NODES || *bytes > FK_YAML_MAX_TEXT) {
            return -1;
        }
        if (s_measure(member, depth + 1, nodes, bytes) != 0) {
            return -1;
        }
    }
    return 0;
}

/*  Read text as strict JSON. NULL when it is not JSON or passes a limit: the
    YAML path then reads it and reports the problem with a position. */
static json_t *
s_parse_json(const char *text, size_t len)
{
    json_error_t error;
    json_t *value =
        json_loadb(text, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &error);
    if (!value) {
        return NULL;
    }
    size_t nodes = 0;
    size_t bytes = 0;
    if (s_measure(value, 0, &nodes, &bytes) != 0) {
        json_decref(value);
        return NULL;
    }
    return value;
}

/* ------------------------------------------------------------------------ */

int
fk_yaml_parse(const char *text, size_t len, json_t **out_p, char *err, size_t errlen)
{
    assert(out_p);
    assert(text || len == 0);
    *out_p = NULL;
    if (!text) {
        text = "";
    }
    json_t *value = s_parse_json(text, len);
    if (value) {
        *out_p = value;
        return 0;
    }
    return s_parse_yaml(text, len, out_p, err, errlen);
}
