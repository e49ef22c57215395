/*
 * json_tape.c — JSON read ahead: a body is checked against JSON's grammar and its numbers
 * are converted on the engine's side (a thread-pool thread), into a flat "tape" of values.
 * A binding then builds its objects from the tape without scanning a byte again; the
 * Python binding's Response.json() does, in src/py/json.c.
 *
 * The tape is an optimisation only, never the authority: parsing gives up (NULL) on
 * anything invalid *and* on what it does not handle (NaN, nesting deeper than
 * HR_JSON_TAPE_DEPTH), and the binding then parses the body itself as before. Strings are
 * only delimited here: the builder decodes them (escapes, UTF-8) with its own exact code and
 * gives up in turn if one is invalid. So a document is accepted through the tape exactly
 * when it is valid JSON.
 *
 * Shape: one loop with a stack of open containers; a container's entry is written when it
 * opens and its count patched when it closes, and its children follow it (depth first).
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "json_num.h"

struct hr_json_tape_s {
    hr_json_entry_t *e; /* hr_mem memory */
    size_t n, cap;      /* entries */
};

typedef struct {
    hr_json_tape_t *t;
    const unsigned char *start, *p, *end;
    size_t open[HR_JSON_TAPE_DEPTH]; /* the open containers' entries, innermost last */
    int depth;
} tape_parser_t;

static hr_json_entry_t *put(tape_parser_t *tp, uint32_t kind)
{
    hr_json_tape_t *t = tp->t;
    if (t->n == t->cap) {
        size_t bytes;
        hr_json_entry_t *e = hr_mem_grow(t->e, t->n * sizeof(*e), t->cap * 2 * sizeof(*e), &bytes);
        if (e == NULL)
            return NULL;
        t->e = e;
        t->cap = bytes / sizeof(*e);
    }
    hr_json_entry_t *e = &t->e[t->n++];
    e->kind = kind;
    e->len = 0;
    e->v.u = 0;
    return e;
}

static inline void skip_ws(tape_parser_t *tp)
{
    tp->p = hr__json_skip_ws(tp->p, tp->end);
}

/* A string at tp->p (just past its opening quote): delimited, not decoded. A backslash
 * takes the next byte with it, as every JSON escape starts with one character after it;
 * the builder's decoder checks the rest. */
static bool put_string(tape_parser_t *tp)
{
    const unsigned char *s = tp->p, *p = s, *end = tp->end;
    for (;;) {
        const unsigned char *q = memchr(p, '"', (size_t)(end - p));
        if (q == NULL)
            return false;
        /* the quote ends the string unless an odd run of backslashes precedes it */
        const unsigned char *b = q;
        while (b > s && b[-1] == '\\')
            b--;
        if (((q - b) & 1) == 0) {
            if ((size_t)(q - s) > UINT32_MAX)
                return false;
            hr_json_entry_t *e = put(tp, HR_JSON_STR);
            if (e == NULL)
                return false;
            e->len = (uint32_t)(q - s);
            e->v.u = (uint64_t)(s - tp->start);
            tp->p = q + 1;
            return true;
        }
        p = q + 1;
    }
}

static bool word(tape_parser_t *tp, const char *w, size_t n)
{
    if ((size_t)(tp->end - tp->p) < n || memcmp(tp->p, w, n) != 0)
        return false;
    tp->p += n;
    return true;
}

/* Any value but an array or an object, at tp->p (not at the end). */
static bool put_scalar(tape_parser_t *tp)
{
    hr_json_entry_t *e;
    switch (*tp->p) {
    case '"':
        tp->p++;
        return put_string(tp);
    case '-':
    case '0': case '1': case '2': case '3': case '4':
    case '5': case '6': case '7': case '8': case '9': {
        const unsigned char *s = tp->p, *ne;
        int64_t i = 0;
        double d = 0;
        hr_jnum_kind_t k = hr__json_number(s, tp->end, &ne, &i, &d);
        if (k == HR_JNUM_INVALID || (e = put(tp, HR_JSON_INT)) == NULL)
            return false;
        tp->p = ne;
        if (k == HR_JNUM_INT) {
            e->v.i = i;
        } else if (k == HR_JNUM_FLOAT) {
            e->kind = HR_JSON_FLOAT;
            e->v.d = d;
        } else {
            if ((size_t)(ne - s) > UINT32_MAX)
                return false;
            e->kind = k == HR_JNUM_SLOW_INT ? HR_JSON_INT_TEXT : HR_JSON_FLOAT_TEXT;
            e->len = (uint32_t)(ne - s);
            e->v.u = (uint64_t)(s - tp->start);
        }
        return true;
    }
    case 't':
        return word(tp, "true", 4) && put(tp, HR_JSON_TRUE) != NULL;
    case 'f':
        return word(tp, "false", 5) && put(tp, HR_JSON_FALSE) != NULL;
    case 'n':
        return word(tp, "null", 4) && put(tp, HR_JSON_NULL) != NULL;
    case 'I':
        if (!word(tp, "Infinity", 8) || (e = put(tp, HR_JSON_FLOAT)) == NULL)
            return false;
        e->v.d = HUGE_VAL;
        return true;
    default:
        return false; /* invalid, or NaN: left to the binding */
    }
}

/* After '{' or ',' in an object: whitespace, a key, whitespace, ':'. */
static bool put_member_head(tape_parser_t *tp)
{
    skip_ws(tp);
    if (tp->p == tp->end || *tp->p != '"')
        return false;
    tp->p++;
    if (!put_string(tp))
        return false;
    skip_ws(tp);
    if (tp->p == tp->end || *tp->p != ':')
        return false;
    tp->p++;
    return true;
}

static bool open_container(tape_parser_t *tp, uint32_t kind)
{
    if (tp->depth == HR_JSON_TAPE_DEPTH || put(tp, kind) == NULL)
        return false;
    tp->open[tp->depth++] = tp->t->n - 1;
    return true;
}

static bool parse_document(tape_parser_t *tp)
{
    for (;;) {
        /* a value starts here: a scalar, or a container that is opened (or empty) */
        skip_ws(tp);
        if (tp->p == tp->end)
            return false;
        unsigned char c = *tp->p;
        if (c == '[' || c == '{') {
            tp->p++;
            if (!open_container(tp, c == '[' ? HR_JSON_ARRAY : HR_JSON_OBJECT))
                return false;
            skip_ws(tp);
            if (tp->p < tp->end && *tp->p == (c == '[' ? ']' : '}')) {
                tp->p++;
                tp->depth--; /* empty: complete, count 0 */
            } else {
                if (c == '{' && !put_member_head(tp))
                    return false;
                continue;
            }
        } else if (!put_scalar(tp)) {
            return false;
        }

        /* a complete value: count it in its container, closing every container it ends */
        for (;;) {
            if (tp->depth == 0) {
                skip_ws(tp);
                return tp->p == tp->end; /* else "Extra data" */
            }
            hr_json_entry_t *f = &tp->t->e[tp->open[tp->depth - 1]];
            f->len++;
            if (f->len == 0)
                return false; /* 2^32 items: beyond what a body here can hold */
            bool is_array = f->kind == HR_JSON_ARRAY;
            skip_ws(tp);
            if (tp->p < tp->end && *tp->p == ',') {
                tp->p++;
                if (!is_array && !put_member_head(tp))
                    return false;
                break;
            }
            if (tp->p == tp->end || *tp->p != (is_array ? ']' : '}'))
                return false;
            tp->p++;
            tp->depth--;
        }
    }
}

hr_json_tape_t *hr_json_tape_parse(const char *buf, size_t len)
{
    hr_json_tape_t *t = calloc(1, sizeof(*t));
    tape_parser_t *tp = malloc(sizeof(*tp));
    if (t == NULL || tp == NULL)
        goto fail;
    /* one entry (16 bytes) per 16 bytes of document: a number with its comma takes 2 and
     * up, typical ones 10 to 20, and strings more; put() doubles from there */
    size_t bytes;
    t->e = hr_mem_alloc((len / 16 + 16) * sizeof(*t->e), &bytes);
    if (t->e == NULL)
        goto fail;
    t->cap = bytes / sizeof(*t->e);
    tp->t = t;
    tp->start = tp->p = (const unsigned char *)buf;
    tp->end = tp->start + len;
    tp->depth = 0;
    if (!parse_document(tp))
        goto fail;
    free(tp);
    return t;
fail:
    free(tp);
    hr_json_tape_free(t);
    return NULL;
}

const hr_json_entry_t *hr_json_tape_entries(const hr_json_tape_t *t, size_t *n)
{
    *n = t->n;
    return t->e;
}

void hr_json_tape_free(hr_json_tape_t *t)
{
    if (t == NULL)
        return;
    hr_mem_free(t->e);
    free(t);
}
