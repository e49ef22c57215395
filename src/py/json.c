/*
 * json.c — a JSON decoder for Response.json(): UTF-8 bytes in, Python objects out.
 *
 * The contract is json.JSONDecoder().decode(body.decode("utf-8", "surrogatepass")): every
 * document accepted here gives a value equal to json's, of the same types, floats bit for
 * bit. Anything else raises ValueError, and the Python layer then runs json itself, which
 * raises today's exception with today's message. So this file never words an error, and
 * it may refuse what it is unsure about (very deep nesting) at the cost of speed only.
 *
 * Shape: one loop with an explicit stack of open containers (no C recursion). Array items
 * wait on a value stack until their ']' so that the list is created at its final size;
 * objects are dicts filled as their members arrive. ASCII keys without escapes are memoised
 * per document by their bytes, so a key repeated in every record is one str, hashed once.
 *
 * Numbers are scanned and converted by src/core/json_num.h (shared with the engine's
 * json_tape.c): integers of up to 18 digits directly, floats by Clinger's exact fast path
 * and then Eisel-Lemire. Longer integers go to PyLong_FromString (which enforces Python's
 * digit limit), floats those cannot decide to PyOS_string_to_double -- what float() uses.
 *
 * Nothing here runs Python code: only str, int, float, list and dict objects are created
 * and compared, and the cyclic GC (whose finalizers could run) is paused for the parse, so
 * no callback can re-enter this parser or see a half-built container.
 */
#include "json.h"

#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "json_num.h"

#define ITEMS_INLINE 64         /* pending array items before the value stack goes to the heap */
#define FRAMES_INLINE 16        /* open containers before the frame stack goes to the heap */
#define KEY_CACHE_SLOTS 256     /* direct-mapped key memo; a power of two */
#define KEY_CACHE_MAX_LEN 64    /* longer keys are rarely repeated: not memoised */

/* ---------------------------------------------------------------------------------------- */
/* parser state                                                                             */

/* An open container. For an array, its items are items[base..nitems); for an object, dict
 * is the (owned) dict being filled and key the (owned) key whose value is being parsed. */
typedef struct {
    PyObject *dict; /* NULL for an array */
    PyObject *key;
    Py_ssize_t base;
} frame_t;

typedef struct {
    PyObject *str;            /* owned; NULL for an empty slot */
    const unsigned char *raw; /* the key's bytes in the input, between the quotes */
    Py_ssize_t len;
    uint64_t a, b;            /* key_words() of raw */
} key_slot_t;

typedef struct {
    const unsigned char *start, *p, *end;
    PyObject **items; /* owned references: items of the open arrays, innermost last */
    Py_ssize_t nitems, items_cap;
    frame_t *frames;
    Py_ssize_t frames_cap;
    int depth;
    Py_UCS4 *chars; /* scratch for strings with escapes or non-ASCII characters */
    Py_ssize_t chars_cap;
    key_slot_t keys[KEY_CACHE_SLOTS];
    PyObject *items_inline[ITEMS_INLINE];
    frame_t frames_inline[FRAMES_INLINE];
} parser_t;

static void parser_init(parser_t *ps, const char *buf, Py_ssize_t len)
{
    ps->start = ps->p = (const unsigned char *)buf;
    ps->end = ps->start + len;
    ps->items = ps->items_inline;
    ps->nitems = 0;
    ps->items_cap = ITEMS_INLINE;
    ps->frames = ps->frames_inline;
    ps->depth = 0;
    ps->frames_cap = FRAMES_INLINE;
    ps->chars = NULL;
    ps->chars_cap = 0;
    memset(ps->keys, 0, sizeof(ps->keys));
}

/* Releases everything a parse still owns: on success only the key memo and scratch; after
 * an error also the pending items and the open containers. */
static void parser_free(parser_t *ps)
{
    for (Py_ssize_t i = 0; i < ps->nitems; i++)
        Py_DECREF(ps->items[i]);
    for (int i = 0; i < ps->depth; i++) {
        Py_XDECREF(ps->frames[i].dict);
        Py_XDECREF(ps->frames[i].key);
    }
    for (int i = 0; i < KEY_CACHE_SLOTS; i++)
        Py_XDECREF(ps->keys[i].str);
    if (ps->items != ps->items_inline)
        PyMem_Free(ps->items);
    if (ps->frames != ps->frames_inline)
        PyMem_Free(ps->frames);
    PyMem_Free(ps->chars);
}

/* Grows a stack that starts in an inline array: returns a heap array of twice *cap elements
 * holding the old contents (*cap updated; the old heap array freed), or NULL with
 * MemoryError set (the old array kept). */
static void *stack_grow(void *arr, const void *inline_arr, Py_ssize_t *cap, size_t elem_size)
{
    if ((size_t)*cap > (size_t)PY_SSIZE_T_MAX / 2 / elem_size)
        return PyErr_NoMemory();
    Py_ssize_t new_cap = *cap * 2;
    void *grown;
    if (arr == inline_arr) {
        grown = PyMem_Malloc((size_t)new_cap * elem_size);
        if (grown != NULL)
            memcpy(grown, arr, (size_t)*cap * elem_size);
    } else {
        grown = PyMem_Realloc(arr, (size_t)new_cap * elem_size);
    }
    if (grown == NULL)
        return PyErr_NoMemory();
    *cap = new_cap;
    return grown;
}

/* Takes ownership of item (released on failure too). */
static inline int push_item(parser_t *ps, PyObject *item)
{
    if (ps->nitems == ps->items_cap) {
        PyObject **grown = stack_grow(ps->items, ps->items_inline, &ps->items_cap, sizeof(*grown));
        if (grown == NULL) {
            Py_DECREF(item);
            return -1;
        }
        ps->items = grown;
    }
    ps->items[ps->nitems++] = item;
    return 0;
}

/* Opens a container; takes ownership of dict (NULL for an array), released on failure. */
static int push_frame(parser_t *ps, PyObject *dict)
{
    if (ps->depth == ps->frames_cap) {
        frame_t *grown = stack_grow(ps->frames, ps->frames_inline, &ps->frames_cap, sizeof(*grown));
        if (grown == NULL) {
            Py_XDECREF(dict);
            return -1;
        }
        ps->frames = grown;
    }
    frame_t *f = &ps->frames[ps->depth++];
    f->dict = dict;
    f->key = NULL;
    f->base = ps->nitems;
    return 0;
}

/* Closes the innermost array: its pending items become a list of exactly that size. */
static PyObject *pop_array(parser_t *ps)
{
    frame_t *f = &ps->frames[ps->depth - 1];
    Py_ssize_t n = ps->nitems - f->base;
    PyObject *list = PyList_New(n);
    if (list == NULL)
        return NULL; /* the items stay on the stack; parser_free releases them */
    PyObject **src = ps->items + f->base;
    for (Py_ssize_t i = 0; i < n; i++)
        PyList_SET_ITEM(list, i, src[i]);
    ps->nitems = f->base;
    ps->depth--;
    return list;
}

static inline void skip_ws(parser_t *ps)
{
    ps->p = hr__json_skip_ws(ps->p, ps->end);
}

/* ---------------------------------------------------------------------------------------- */
/* strings                                                                                  */

/* Bytes that end the fast scan of a string: the quote, the backslash, control characters
 * (json rejects them raw) and every non-ASCII byte (UTF-8 to validate). */
static const bool STR_PLAIN[256] = {
#define R8(v) v, v, v, v, v, v, v, v
    R8(0), R8(0), R8(0), R8(0),                          /* 0x00-0x1f */
    1, 1, 0, 1, 1, 1, 1, 1, R8(1),                       /* 0x20-0x2f: '"' */
    R8(1), R8(1),                                        /* 0x30-0x3f */
    R8(1), R8(1), R8(1), 1, 1, 1, 1, 0, 1, 1, 1,         /* 0x40-0x5f: '\\' */
    R8(1), R8(1), R8(1), R8(1),                          /* 0x60-0x7f (DEL is allowed) */
    R8(0), R8(0), R8(0), R8(0), R8(0), R8(0), R8(0), R8(0),
    R8(0), R8(0), R8(0), R8(0), R8(0), R8(0), R8(0), R8(0), /* 0x80-0xff */
#undef R8
};

/* The first byte at or after p that ends a plain run (see STR_PLAIN), or end. */
static inline const unsigned char *scan_plain(const unsigned char *p, const unsigned char *end)
{
#ifdef HR_JSON_SWAR
    /* eight bytes at a time: a byte is flagged when it is '"' or '\\' (x ^ c has a zero
     * byte), below 0x20, or from 0x80 up. The borrows of the subtractions can flag bytes
     * after a flagged one, never before it, so the lowest flag is exact. */
    const uint64_t ones = UINT64_C(0x0101010101010101), tops = UINT64_C(0x8080808080808080);
    while (end - p >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        uint64_t xq = v ^ (ones * '"'), xb = v ^ (ones * '\\');
        uint64_t flags = ((xq - ones) & ~xq) | ((xb - ones) & ~xb) |
                         ((v - ones * 0x20) & ~v) | v;
        flags &= tops;
        if (flags != 0)
            return p + ctz64(flags) / 8;
        p += 8;
    }
#endif
    while (p < end && STR_PLAIN[*p])
        p++;
    return p;
}

/* An ASCII string without escapes: its bytes are its characters. */
static PyObject *ascii_str(const unsigned char *s, Py_ssize_t n)
{
    PyObject *str = PyUnicode_New(n, 127);
    if (str != NULL)
        memcpy(PyUnicode_1BYTE_DATA(str), s, (size_t)n);
    return str;
}

static int hex4(const unsigned char *s)
{
    int v = 0;
    for (int i = 0; i < 4; i++) {
        int c = s[i], d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
            d = (c | 0x20) - 'a' + 10;
        else
            return -1;
        v = v << 4 | d;
    }
    return v;
}

/* One backslash escape at *ps (just past the backslash). A \uXXXX high surrogate followed by
 * a \uXXXX low surrogate is one code point, as json does; any other surrogate escape stays a
 * lone surrogate. Returns the code point, or -1. */
static long parse_escape(const unsigned char **ps, const unsigned char *end)
{
    const unsigned char *s = *ps;
    if (s == end)
        return -1;
    long cp;
    switch (*s++) {
    case '"': cp = '"'; break;
    case '\\': cp = '\\'; break;
    case '/': cp = '/'; break;
    case 'b': cp = '\b'; break;
    case 'f': cp = '\f'; break;
    case 'n': cp = '\n'; break;
    case 'r': cp = '\r'; break;
    case 't': cp = '\t'; break;
    case 'u':
        if (end - s < 4 || (cp = hex4(s)) < 0)
            return -1;
        s += 4;
        if (cp >= 0xD800 && cp <= 0xDBFF && end - s >= 6 && s[0] == '\\' && s[1] == 'u') {
            long lo = hex4(s + 2);
            if (lo < 0)
                return -1; /* json rejects a bad second escape here too */
            if (lo >= 0xDC00 && lo <= 0xDFFF) {
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                s += 6;
            }
        }
        break;
    default:
        return -1;
    }
    *ps = s;
    return cp;
}

/* One UTF-8 sequence at *ps (first byte >= 0x80), as the "surrogatepass" decoder accepts
 * it: shortest form only, at most U+10FFFF, and ED A0..BF xx (an encoded surrogate) is
 * allowed. Returns the code point, or -1. */
static long parse_utf8(const unsigned char **ps, const unsigned char *end)
{
    const unsigned char *s = *ps;
    unsigned c = s[0];
    int n;
    unsigned lo = 0x80, hi = 0xBF; /* the range of the second byte */
    long cp;
    if (c < 0xC2) {
        return -1; /* a continuation byte, or an overlong 2-byte form */
    } else if (c < 0xE0) {
        n = 2;
        cp = c & 0x1F;
    } else if (c < 0xF0) {
        n = 3;
        cp = c & 0x0F;
        if (c == 0xE0)
            lo = 0xA0; /* overlong below */
    } else if (c < 0xF5) {
        n = 4;
        cp = c & 0x07;
        if (c == 0xF0)
            lo = 0x90; /* overlong below */
        else if (c == 0xF4)
            hi = 0x8F; /* past U+10FFFF above */
    } else {
        return -1;
    }
    if (end - s < n || s[1] < lo || s[1] > hi)
        return -1;
    cp = cp << 6 | (s[1] & 0x3F);
    for (int i = 2; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return -1;
        cp = cp << 6 | (s[i] & 0x3F);
    }
    *ps = s + n;
    return cp;
}

/* Builds a str from code points, in the narrowest kind that holds maxchar. */
static PyObject *str_from_ucs4(const Py_UCS4 *chars, Py_ssize_t n, Py_UCS4 maxchar)
{
    PyObject *str = PyUnicode_New(n, maxchar);
    if (str == NULL)
        return NULL;
    switch (PyUnicode_KIND(str)) {
    case PyUnicode_1BYTE_KIND: {
        Py_UCS1 *out = PyUnicode_1BYTE_DATA(str);
        for (Py_ssize_t i = 0; i < n; i++)
            out[i] = (Py_UCS1)chars[i];
        break;
    }
    case PyUnicode_2BYTE_KIND: {
        Py_UCS2 *out = PyUnicode_2BYTE_DATA(str);
        for (Py_ssize_t i = 0; i < n; i++)
            out[i] = (Py_UCS2)chars[i];
        break;
    }
    default:
        memcpy(PyUnicode_4BYTE_DATA(str), chars, (size_t)n * sizeof(Py_UCS4));
        break;
    }
    return str;
}

/* A string with escapes or non-ASCII characters, from s (just past the opening quote):
 * decoded into the scratch buffer, then copied into a str of the right kind. On success
 * ps->p is past the closing quote. NULL without an exception means invalid. */
static PyObject *parse_string_slow(parser_t *ps, const unsigned char *s)
{
    const unsigned char *end = ps->end;
    Py_ssize_t n = 0;
    Py_UCS4 maxchar = 0;
    for (;;) {
        if (s == end)
            return NULL;
        if (n == ps->chars_cap) {
            /* every character takes at least one input byte: the rest of the input bounds
             * what this string can still need */
            Py_ssize_t cap = ps->chars_cap ? ps->chars_cap * 2 : 256;
            if (cap > n + (end - s))
                cap = n + (end - s);
            Py_UCS4 *grown = PyMem_Realloc(ps->chars, (size_t)cap * sizeof(Py_UCS4));
            if (grown == NULL)
                return PyErr_NoMemory();
            ps->chars = grown;
            ps->chars_cap = cap;
        }
        unsigned c = *s;
        long cp;
        if (STR_PLAIN[c]) {
            cp = c;
            s++;
        } else if (c == '"') {
            break;
        } else if (c == '\\') {
            s++;
            if ((cp = parse_escape(&s, end)) < 0)
                return NULL;
        } else if (c < 0x20) {
            return NULL; /* json's strict mode: no raw control characters */
        } else if ((cp = parse_utf8(&s, end)) < 0) {
            return NULL;
        }
        ps->chars[n++] = (Py_UCS4)cp;
        if ((Py_UCS4)cp > maxchar)
            maxchar = (Py_UCS4)cp;
    }
    ps->p = s + 1;
    return str_from_ucs4(ps->chars, n, maxchar);
}

/* A string value at ps->p (just past the opening quote). NULL without an exception means
 * invalid. */
static inline PyObject *parse_string(parser_t *ps)
{
    const unsigned char *s = ps->p, *end = ps->end;
    const unsigned char *q = scan_plain(s, end);
    if (q < end && *q == '"') {
        ps->p = q + 1;
        return ascii_str(s, q - s);
    }
    return parse_string_slow(ps, s);
}

/* A key's fingerprint: its length and two words that together hold every byte of a key of
 * up to 16 bytes (the first and last 8, 4 or single bytes, overlapping), so that for those
 * keys equal fingerprints mean equal bytes. */
static inline void key_words(const unsigned char *s, Py_ssize_t n, uint64_t *a, uint64_t *b)
{
    if (n >= 8) {
        memcpy(a, s, 8);
        memcpy(b, s + n - 8, 8);
    } else if (n >= 4) {
        uint32_t x, y;
        memcpy(&x, s, 4);
        memcpy(&y, s + n - 4, 4);
        *a = x;
        *b = y;
    } else {
        *a = n > 0 ? (uint64_t)s[0] | (uint64_t)s[n / 2] << 8 | (uint64_t)s[n - 1] << 16 : 0;
        *b = 0;
    }
}

/* An object key at ps->p (just past the opening quote). ASCII keys without escapes are
 * memoised by their bytes: a key repeated in every record is one str, hashed once. */
static PyObject *parse_key(parser_t *ps)
{
    const unsigned char *s = ps->p, *end = ps->end;
    const unsigned char *q = scan_plain(s, end);
    if (q == end || *q != '"')
        return parse_string_slow(ps, s); /* escapes or non-ASCII: rarer, not memoised */
    ps->p = q + 1;
    Py_ssize_t n = q - s;
    if (n > KEY_CACHE_MAX_LEN)
        return ascii_str(s, n);
    uint64_t a, b;
    key_words(s, n, &a, &b);
    /* one multiplication mixes every input bit into the top byte; a collision only costs a
     * miss */
    uint64_t h = (a ^ (b << 1) ^ (uint64_t)n) * UINT64_C(0x9E3779B97F4A7C15);
    key_slot_t *slot = &ps->keys[h >> 56 & (KEY_CACHE_SLOTS - 1)];
    if (slot->str != NULL && slot->len == n && slot->a == a && slot->b == b &&
        (n <= 16 || memcmp(slot->raw, s, (size_t)n) == 0))
        return Py_NewRef(slot->str);
    PyObject *str = ascii_str(s, n);
    if (str == NULL)
        return NULL;
    Py_XSETREF(slot->str, Py_NewRef(str));
    slot->raw = s;
    slot->len = n;
    slot->a = a;
    slot->b = b;
    return str;
}

/* ---------------------------------------------------------------------------------------- */
/* numbers                                                                                  */

/* The number text [s, e) as a NUL-terminated string for the C API's parsers; *heap is set
 * when it had to be allocated (the caller frees it). NULL with MemoryError set on failure. */
static char *number_text(const unsigned char *s, const unsigned char *e, char *local,
                         size_t local_size, char **heap)
{
    size_t n = (size_t)(e - s);
    char *buf = local;
    *heap = NULL;
    if (n + 1 > local_size) {
        buf = *heap = PyMem_Malloc(n + 1);
        if (buf == NULL) {
            PyErr_NoMemory();
            return NULL;
        }
    }
    memcpy(buf, s, n);
    buf[n] = '\0';
    return buf;
}

/* The exact slow paths, on the text of a number already checked against the grammar. */
static PyObject *number_from_text(const unsigned char *s, const unsigned char *e, bool is_float)
{
    char local[64], *heap;
    char *text = number_text(s, e, local, sizeof local, &heap);
    if (text == NULL)
        return NULL;
    PyObject *res;
    if (is_float) {
        /* what float() and json use: David Gay's correctly rounded strtod; overflow -> inf */
        double d = PyOS_string_to_double(text, NULL, NULL);
        res = d == -1.0 && PyErr_Occurred() ? NULL : PyFloat_FromDouble(d);
    } else {
        /* raises ValueError past sys.get_int_max_str_digits(), exactly as json then does */
        res = PyLong_FromString(text, NULL, 10);
    }
    PyMem_Free(heap);
    return res;
}


/* A number at ps->p: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?, or -Infinity. NULL
 * without an exception means invalid. */
static PyObject *parse_number(parser_t *ps)
{
    const unsigned char *start = ps->p, *e;
    int64_t i;
    double d;
    switch (hr__json_number(start, ps->end, &e, &i, &d)) {
    case HR_JNUM_INT:
        ps->p = e;
        return PyLong_FromLongLong(i);
    case HR_JNUM_FLOAT:
        ps->p = e;
        return PyFloat_FromDouble(d);
    case HR_JNUM_SLOW_INT:
        ps->p = e;
        return number_from_text(start, e, false);
    case HR_JNUM_SLOW_FLOAT:
        ps->p = e;
        return number_from_text(start, e, true);
    default:
        return NULL;
    }
}

/* ---------------------------------------------------------------------------------------- */
/* values                                                                                   */

static inline bool match_word(parser_t *ps, const char *word, Py_ssize_t n)
{
    if (ps->end - ps->p < n || memcmp(ps->p, word, (size_t)n) != 0)
        return false;
    ps->p += n;
    return true;
}

/* Any value but an array or an object, at ps->p (not at the end). NULL without an
 * exception means invalid. */
static PyObject *parse_scalar(parser_t *ps)
{
    switch (*ps->p) {
    case '"':
        ps->p++;
        return parse_string(ps);
    case '-':
    case '0': case '1': case '2': case '3': case '4':
    case '5': case '6': case '7': case '8': case '9':
        return parse_number(ps);
    case 't':
        return match_word(ps, "true", 4) ? Py_NewRef(Py_True) : NULL;
    case 'f':
        return match_word(ps, "false", 5) ? Py_NewRef(Py_False) : NULL;
    case 'n':
        return match_word(ps, "null", 4) ? Py_NewRef(Py_None) : NULL;
    case 'N':
        /* fabs: float("nan") is positive, and Py_NAN is inf * 0 (negative on x86) in 3.10 */
        return match_word(ps, "NaN", 3) ? PyFloat_FromDouble(fabs(Py_NAN)) : NULL;
    case 'I':
        return match_word(ps, "Infinity", 8) ? PyFloat_FromDouble(Py_HUGE_VAL) : NULL;
    default:
        return NULL;
    }
}

/* After '{' or ',' in an object: whitespace, a key, whitespace, ':'. The key goes to the
 * innermost frame. Returns 0, or -1 (invalid, or an exception set). */
static int parse_member_head(parser_t *ps)
{
    skip_ws(ps);
    if (ps->p == ps->end || *ps->p != '"')
        return -1;
    ps->p++;
    PyObject *key = parse_key(ps);
    if (key == NULL)
        return -1;
    ps->frames[ps->depth - 1].key = key;
    skip_ws(ps);
    if (ps->p == ps->end || *ps->p != ':')
        return -1;
    ps->p++;
    return 0;
}

/* The whole document. NULL on failure, with or without an exception set. */
static PyObject *parse_document(parser_t *ps)
{
    PyObject *value;
    for (;;) {
        /* a value starts here: a scalar, or a container that is opened (or empty) */
        skip_ws(ps);
        if (ps->p == ps->end)
            return NULL;
        unsigned char c = *ps->p;
        if ((c == '[' || c == '{') && ps->depth >= HR_JSON_MAX_DEPTH)
            return NULL; /* an empty container counts too, as in json's recursion */
        if (c == '[') {
            ps->p++;
            skip_ws(ps);
            if (ps->p < ps->end && *ps->p == ']') {
                ps->p++;
                value = PyList_New(0);
            } else {
                if (push_frame(ps, NULL) < 0)
                    return NULL;
                continue;
            }
        } else if (c == '{') {
            ps->p++;
            PyObject *dict = PyDict_New();
            if (dict == NULL)
                return NULL;
            skip_ws(ps);
            if (ps->p < ps->end && *ps->p == '}') {
                ps->p++;
                value = dict;
            } else {
                if (push_frame(ps, dict) < 0 || parse_member_head(ps) < 0)
                    return NULL;
                continue;
            }
        } else {
            value = parse_scalar(ps);
        }
        if (value == NULL)
            return NULL;

        /* a complete value: store it in its container, closing every container it ends */
        for (;;) {
            if (ps->depth == 0) {
                skip_ws(ps);
                if (ps->p != ps->end) {
                    Py_DECREF(value); /* "Extra data" */
                    return NULL;
                }
                return value;
            }
            frame_t *f = &ps->frames[ps->depth - 1];
            if (f->dict == NULL) {
                if (push_item(ps, value) < 0)
                    return NULL;
                skip_ws(ps);
                if (ps->p < ps->end && *ps->p == ',') {
                    ps->p++;
                    break;
                }
                if (ps->p == ps->end || *ps->p != ']')
                    return NULL;
                ps->p++;
                if ((value = pop_array(ps)) == NULL)
                    return NULL;
            } else {
                /* duplicate keys: the last value wins, at the first one's position (json) */
                int rc = PyDict_SetItem(f->dict, f->key, value);
                Py_DECREF(value);
                Py_CLEAR(f->key);
                if (rc < 0)
                    return NULL;
                skip_ws(ps);
                if (ps->p < ps->end && *ps->p == ',') {
                    ps->p++;
                    if (parse_member_head(ps) < 0)
                        return NULL;
                    break;
                }
                if (ps->p == ps->end || *ps->p != '}')
                    return NULL;
                ps->p++;
                value = f->dict;
                f->dict = NULL;
                ps->depth--;
            }
        }
    }
}

PyObject *hr_json_loads(const char *buf, Py_ssize_t len)
{
    parser_t ps;
    parser_init(&ps, buf, len);
    /* The collector would only traverse the young containers being built (json's records
     * can be thousands of dicts), and could run finalizers -- Python code -- mid-parse.
     * The allocations still count: a collection due runs at the next allocation after. */
    int gc_was_enabled = PyGC_Disable();
    PyObject *result = parse_document(&ps);
    if (gc_was_enabled)
        PyGC_Enable();
    if (result == NULL && !PyErr_Occurred())
        PyErr_Format(PyExc_ValueError, "invalid JSON near byte %zd (httpr's native decoder)",
                     (Py_ssize_t)(ps.p - ps.start));
    parser_free(&ps);
    return result;
}

/* ---------------------------------------------------------------------------------------- */
/* from a tape                                                                              */

/* An open container while a tape is built: a list being filled at idx, or a dict and the
 * key of the value that comes next (NULL while a key is due). */
typedef struct {
    PyObject *c;
    PyObject *key;
    Py_ssize_t idx;
    uint32_t left; /* children still to come */
} tframe_t;

/* A string or key from its raw bytes: the tape gives where it lies, this file's decoder
 * checks and decodes it, and must end exactly at the tape's closing quote. */
static PyObject *tape_string(parser_t *ps, const hr_json_entry_t *e, bool key)
{
    const unsigned char *s = ps->start + e->v.u;
    ps->p = s;
    PyObject *str = key ? parse_key(ps) : parse_string(ps);
    if (str != NULL && ps->p != s + e->len + 1)
        Py_CLEAR(str); /* cannot happen: the tape and this decoder delimit strings alike */
    return str;
}

static PyObject *tape_scalar(parser_t *ps, const hr_json_entry_t *e)
{
    switch (e->kind) {
    case HR_JSON_NULL:
        return Py_NewRef(Py_None);
    case HR_JSON_FALSE:
        return Py_NewRef(Py_False);
    case HR_JSON_TRUE:
        return Py_NewRef(Py_True);
    case HR_JSON_INT:
        return PyLong_FromLongLong(e->v.i);
    case HR_JSON_FLOAT:
        return PyFloat_FromDouble(e->v.d);
    case HR_JSON_INT_TEXT:
    case HR_JSON_FLOAT_TEXT: {
        const unsigned char *s = ps->start + e->v.u;
        return number_from_text(s, s + e->len, e->kind == HR_JSON_FLOAT_TEXT);
    }
    case HR_JSON_STR:
        return tape_string(ps, e, false);
    default:
        return NULL;
    }
}

static PyObject *build_tape(parser_t *ps, const hr_json_entry_t *e, size_t n)
{
    tframe_t frames[HR_JSON_TAPE_DEPTH];
    int depth = 0;
    PyObject *value = NULL;
    size_t i = 0;
    while (i < n) {
        tframe_t *top = depth > 0 ? &frames[depth - 1] : NULL;
        const hr_json_entry_t *x = &e[i++];
        if (top != NULL && top->key == NULL && PyDict_CheckExact(top->c)) {
            if (x->kind != HR_JSON_STR || (top->key = tape_string(ps, x, true)) == NULL)
                goto fail;
            continue;
        }
        if (x->kind == HR_JSON_ARRAY || x->kind == HR_JSON_OBJECT) {
            PyObject *c = x->kind == HR_JSON_ARRAY ? PyList_New(x->len) : PyDict_New();
            if (c == NULL)
                goto fail;
            if (x->len > 0) {
                if (depth == HR_JSON_TAPE_DEPTH) {
                    Py_DECREF(c);
                    goto fail;
                }
                frames[depth++] = (tframe_t){.c = c, .key = NULL, .idx = 0, .left = x->len};
                continue;
            }
            value = c;
        } else if ((value = tape_scalar(ps, x)) == NULL) {
            goto fail;
        }
        /* a complete value: into its container, closing each container it completes */
        for (;;) {
            if (depth == 0)
                return i == n ? value : (Py_DECREF(value), NULL);
            tframe_t *f = &frames[depth - 1];
            if (f->key == NULL) {
                PyList_SET_ITEM(f->c, f->idx++, value);
            } else {
                int rc = PyDict_SetItem(f->c, f->key, value);
                Py_DECREF(value);
                Py_CLEAR(f->key);
                if (rc < 0)
                    goto fail;
            }
            value = NULL;
            if (--f->left > 0)
                break;
            value = f->c;
            depth--;
        }
    }
fail:
    /* a list's unfilled slots are NULL, which its deallocation skips */
    while (depth > 0) {
        depth--;
        Py_DECREF(frames[depth].c);
        Py_XDECREF(frames[depth].key);
    }
    return NULL;
}

PyObject *hr_json_from_tape(const hr_json_tape_t *tape, const char *buf, Py_ssize_t len)
{
    size_t n;
    const hr_json_entry_t *e = hr_json_tape_entries(tape, &n);
    parser_t ps;
    parser_init(&ps, buf, len);
    int gc_was_enabled = PyGC_Disable();
    PyObject *result = build_tape(&ps, e, n);
    if (gc_was_enabled)
        PyGC_Enable();
    if (result == NULL && !PyErr_Occurred())
        PyErr_SetString(PyExc_ValueError, "invalid JSON (httpr's native decoder, from a tape)");
    parser_free(&ps);
    return result;
}
