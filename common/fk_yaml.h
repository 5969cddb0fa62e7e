/*  fk_yaml - read one YAML (or JSON) document into a jansson value.

    Every configuration file fakts-node reads (service definitions, manifests,
    compose files) is YAML or JSON, and every consumer wants the same thing: a
    plain JSON tree. This module is the one place that turns untrusted text
    into that tree. It uses libyaml's event parser and jansson; it never
    asserts on its input and never crashes on it, whatever the bytes.

    Scalar typing follows the YAML 1.2 core schema, not YAML 1.1:
      - plain null, Null, NULL, ~ and the empty scalar    -> JSON null
      - plain true/True/TRUE, false/False/FALSE           -> JSON true/false
        (yes, no, on, off, y, n stay strings)
      - plain [-+]?[0-9]+, 0o[0-7]+, 0x[0-9a-fA-F]+       -> JSON integer,
        when the value fits an int64; otherwise a decimal becomes a real and
        an octal or hex scalar stays a string
      - plain core-schema floats (1.5, .5, 1e3, -2.5E-3)  -> JSON real
      - anything else, and every quoted or block scalar   -> JSON string
    The explicit tags !!str, !!int, !!float, !!bool and !!null (and !!seq,
    !!map on collections) force a type; a value that does not fit its tag is
    an error. Any other tag is an error rather than silently ignored.

    JSON has no infinity or NaN and jansson refuses to hold them, so .inf,
    .nan and a float that overflows a double (1e999) are FK_EINVAL_INPUT.

    Mapping keys must be scalars; a key becomes its text as written (8080: x
    gives the key "8080"). A duplicate key, and a key containing a NUL
    character, are errors. Object keys keep document order. The YAML 1.1
    merge key "<<" is not part of YAML 1.2 and is an ordinary key here.

    Anchors and aliases are supported; an alias inserts a deep copy of the
    anchored value. To stop "billion laughs" documents, the result is bounded
    with every alias counted at its expanded size (see the limits below).

    A text that is valid JSON (any value at the root) is read by jansson, so
    JSON keeps its exact meaning even where libyaml departs from "JSON is
    YAML" (surrogate-pair escapes such as "\ud83d\ude00", a raw U+2028 inside
    a string); the same limits and the duplicate-key rule apply. Anything
    else is read by libyaml.

    Thread-safe: no global state. Allocation failure aborts. */

#ifndef FK_YAML_H_INCLUDED
#define FK_YAML_H_INCLUDED

#include <stddef.h>

#include <jansson.h>

/*  Most nodes a result may hold: every scalar (mapping keys included),
    sequence and mapping counts one, and an alias counts as many nodes as the
    value it copies. Beyond this fk_yaml_parse returns FK_ETOOBIG. */
#define FK_YAML_MAX_NODES 100000

/*  Deepest nesting of sequences and mappings (the root collection is depth
    1; scalars add nothing), aliases counted at their expanded depth. Beyond
    this fk_yaml_parse returns FK_ETOOBIG. */
#define FK_YAML_MAX_DEPTH 64

/*  Most bytes of scalar text (keys and values, after unescaping) a result may
    hold, aliases counted at their expanded size. Bounds the memory an alias
    of a long string can claim. Beyond this fk_yaml_parse returns
    FK_ETOOBIG. */
#define FK_YAML_MAX_TEXT ((size_t)8 * 1024 * 1024)

/*  Parse exactly one YAML document from text[0..len) into a jansson value.

    text need not be NUL-terminated and may contain any bytes; it may be NULL
    only when len is 0. UTF-8, UTF-16LE and UTF-16BE (with BOM) are read.
    out_p must not be NULL. err may be NULL (then errlen is ignored);
    otherwise up to errlen bytes of a NUL-terminated message are written to
    it on failure, and err is left untouched on success.

    Returns:
      0                 *out_p owns a new reference (caller json_decref's).
                        An empty stream or empty document gives JSON null.
      FK_EINVAL_INPUT   *out_p is NULL. Malformed YAML, more than one
                        document, a duplicate or non-scalar mapping key, an
                        unknown alias, an unsupported tag or a value that
                        does not fit its tag, a non-finite float. err reads
                        "line L, column C: <problem>", 1-based, where C counts
                        characters from the start of the line.
      FK_ETOOBIG        *out_p is NULL. A limit above was exceeded; err reads
                        "line L, column C: <which limit>". */
int fk_yaml_parse(const char *text, size_t len, json_t **out_p, char *err, size_t errlen);

#endif
