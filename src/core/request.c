/*
 * request.c — the request record: URL parsing, validation and head serialisation (any
 * thread), result accessors, error strings and the small buffer helper.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"

atomic_int_fast64_t hr__stat_requests, hr__stat_conns, hr__stat_clients;

void hr_get_stats(hr_stats_t *out)
{
    out->requests = atomic_load(&hr__stat_requests);
    out->conns = atomic_load(&hr__stat_conns);
    out->clients = atomic_load(&hr__stat_clients);
    hr_mem_stats(&out->mem_blocks, &out->mem_kept, &out->mem_mapped);
}

/* ---- buffer ---- */

int hr_buf_reserve(hr_buf_t *b, size_t extra)
{
    if (b->cap - b->len >= extra)
        return 0;
    size_t need = b->len + extra;
    if (need < b->len)
        return HR_E_NOMEM;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap = cap * 2 > cap ? cap * 2 : need;
    char *p = hr_mem_grow(b->data, b->len, cap, &cap);
    if (p == NULL)
        return HR_E_NOMEM;
    b->data = p;
    b->cap = cap;
    return 0;
}

/* For a size known up front: an empty buffer gets exactly that much, not the 256-byte floor. */
int hr_buf_reserve_exact(hr_buf_t *b, size_t n)
{
    if (b->cap != 0 || n == 0)
        return hr_buf_reserve(b, n);
    b->data = hr_mem_alloc(n, &b->cap);
    return b->data != NULL ? 0 : HR_E_NOMEM;
}

int hr_buf_append(hr_buf_t *b, const void *p, size_t n)
{
    if (hr_buf_reserve(b, n) != 0)
        return HR_E_NOMEM;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

void hr_buf_free(hr_buf_t *b)
{
    hr_mem_free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

/* ---- errors ---- */

const char *hr_strerror(int err)
{
    switch (err) {
    case HR_OK: return "ok";
    case HR_E_NOMEM: return "out of memory";
    case HR_E_INVALID_URL: return "invalid URL";
    case HR_E_UNSUPPORTED_SCHEME: return "unsupported URL scheme";
    case HR_E_INVALID_METHOD: return "invalid method";
    case HR_E_INVALID_HEADER: return "invalid header";
    case HR_E_CONNECT: return "connect error";
    case HR_E_CONNECT_TIMEOUT: return "connect timeout";
    case HR_E_READ_TIMEOUT: return "read timeout";
    case HR_E_WRITE: return "write error";
    case HR_E_READ: return "read error";
    case HR_E_PROTOCOL: return "protocol error";
    case HR_E_CANCELLED: return "cancelled";
    case HR_E_CLOSED: return "client closed";
    case HR_E_TLS: return "TLS error";
    case HR_E_UNSUPPORTED: return "unsupported";
    case HR_E_DECODING: return "decoding error";
    case HR_E_TOO_MANY_REDIRECTS: return "too many redirects";
    case HR_E_BODY: return "request body error";
    }
    return "unknown error";
}

void hr__request_fail(hr_request_t *req, int err, const char *fmt, ...)
{
    if (req->err != 0)
        return; /* the first error is the cause; later ones are consequences */
    req->err = err;
    req->errmsg = malloc(HR_ERRMSG_SIZE);
    if (req->errmsg == NULL)
        return; /* the code alone; hr_request_error_message() falls back to hr_strerror() */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(req->errmsg, HR_ERRMSG_SIZE, fmt, ap);
    va_end(ap);
}

static void set_err(char *errbuf, size_t n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(char *errbuf, size_t n, const char *fmt, ...)
{
    if (errbuf == NULL || n == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errbuf, n, fmt, ap);
    va_end(ap);
}

/* ---- character classes (RFC 9110 token, RFC 3986) ---- */

/* Character classes as bit tables: every byte of every request's method, header names and
 * host goes through one of these. */
enum { CC_TCHAR = 1, CC_REGNAME = 2 };
static unsigned char cclass[256];

__attribute__((constructor)) static void cclass_init(void)
{
    for (int c = 0; c < 256; c++) {
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (alnum || (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL))
            cclass[c] |= CC_TCHAR; /* RFC 9110 token */
        if (alnum || (c != 0 && strchr("-._~!$&'()*+,;=%", c) != NULL))
            cclass[c] |= CC_REGNAME; /* RFC 3986 reg-name (plus pct-encoding) */
    }
}

static inline bool is_tchar(unsigned char c) { return cclass[c] & CC_TCHAR; }
static inline bool is_regname_char(unsigned char c) { return cclass[c] & CC_REGNAME; }

/* Writes v in decimal; returns the number of digits. */
static size_t put_uint(char *w, size_t v)
{
    char tmp[24];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    for (size_t i = 0; i < n; i++)
        w[i] = tmp[n - 1 - i];
    return n;
}

static char lower(char c) { return (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c; }

static bool ieq(const char *a, size_t alen, const char *b)
{
    size_t blen = strlen(b);
    if (alen != blen)
        return false;
    for (size_t i = 0; i < alen; i++)
        if (lower(a[i]) != b[i])
            return false;
    return true;
}

/* ---- URL ---- */

/*
 * Parses an absolute http(s) URL. The host is copied (lowercased) into t->host; the
 * request target (path + query, without the fragment) is [*path_off, *path_off + *path_len)
 * of `url` ("/" when empty: *path_len == 0). Userinfo is skipped: credentials in URLs are
 * turned into an Authorization header by the caller, never sent in the request line.
 */
int hr_url_parse(const char *url, size_t len, hr_target_t *t, size_t *path_off, size_t *path_len,
                 char *errbuf, size_t errbuf_len)
{
    memset(t, 0, sizeof(*t));
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)url[i];
        if (c <= 0x20 || c >= 0x7f) {
            set_err(errbuf, errbuf_len,
                    "invalid URL: character 0x%02x at position %zu is not allowed", c, i);
            return HR_E_INVALID_URL;
        }
    }
    const char *sep = NULL;
    for (size_t i = 0; i + 2 < len; i++) {
        if (url[i] == ':' && url[i + 1] == '/' && url[i + 2] == '/') {
            sep = url + i;
            break;
        }
        if (url[i] == '/' || url[i] == '?' || url[i] == '#')
            break;
    }
    if (sep == NULL) {
        set_err(errbuf, errbuf_len, "invalid URL: missing scheme (expected http:// or https://)");
        return HR_E_INVALID_URL;
    }
    size_t slen = (size_t)(sep - url);
    if (ieq(url, slen, "http")) {
        t->tls = false;
        t->port = 80;
    } else if (ieq(url, slen, "https")) {
        t->tls = true;
        t->port = 443;
    } else {
        set_err(errbuf, errbuf_len, "unsupported URL scheme '%.*s' (expected http or https)",
                (int)(slen > 32 ? 32 : slen), url);
        return HR_E_UNSUPPORTED_SCHEME;
    }
    const char *p = sep + 3;
    const char *end = url + len;
    const char *auth_end = p;
    while (auth_end < end && *auth_end != '/' && *auth_end != '?' && *auth_end != '#')
        auth_end++;
    /* skip userinfo: the last '@' of the authority ends it */
    for (const char *q = auth_end; q > p; q--) {
        if (q[-1] == '@') {
            p = q;
            break;
        }
    }
    const char *host = p, *host_end;
    const char *port_s = NULL;
    if (p < auth_end && *p == '[') {
        const char *rb = memchr(p, ']', (size_t)(auth_end - p));
        if (rb == NULL) {
            set_err(errbuf, errbuf_len, "invalid URL: unterminated IPv6 address");
            return HR_E_INVALID_URL;
        }
        host = p + 1;
        host_end = rb;
        t->host_is_ipv6 = true;
        if (rb + 1 < auth_end) {
            if (rb[1] != ':') {
                set_err(errbuf, errbuf_len, "invalid URL: unexpected character after ']'");
                return HR_E_INVALID_URL;
            }
            port_s = rb + 2;
        }
        for (const char *q = host; q < host_end; q++) {
            unsigned char c = (unsigned char)*q;
            if (!(c == ':' || c == '.' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
                  (c >= 'A' && c <= 'F'))) {
                set_err(errbuf, errbuf_len, "invalid URL: bad IPv6 address");
                return HR_E_INVALID_URL;
            }
        }
    } else {
        host_end = auth_end;
        const char *colon = memchr(p, ':', (size_t)(auth_end - p));
        if (colon != NULL) {
            host_end = colon;
            port_s = colon + 1;
        }
        for (const char *q = host; q < host_end; q++) {
            if (!is_regname_char((unsigned char)*q)) {
                set_err(errbuf, errbuf_len, "invalid URL: character '%c' not allowed in host",
                        *q);
                return HR_E_INVALID_URL;
            }
        }
    }
    if (host_end == host) {
        set_err(errbuf, errbuf_len, "invalid URL: empty host");
        return HR_E_INVALID_URL;
    }
    if (port_s != NULL) {
        if (port_s == auth_end) {
            /* "http://host:/" — an empty port means the default (RFC 3986 §3.2.3) */
        } else {
            unsigned long v = 0;
            for (const char *q = port_s; q < auth_end; q++) {
                if (*q < '0' || *q > '9' || q - port_s > 5) {
                    set_err(errbuf, errbuf_len, "invalid URL: invalid port");
                    return HR_E_INVALID_URL;
                }
                v = v * 10 + (unsigned long)(*q - '0');
            }
            if (v == 0 || v > 65535) {
                set_err(errbuf, errbuf_len, "invalid URL: port %lu out of range", v);
                return HR_E_INVALID_URL;
            }
            t->port = (uint16_t)v;
        }
    }
    t->host_len = (size_t)(host_end - host);
    t->host = malloc(t->host_len + 1);
    if (t->host == NULL)
        return HR_E_NOMEM;
    for (size_t i = 0; i < t->host_len; i++)
        t->host[i] = lower(host[i]);
    t->host[t->host_len] = '\0';

    const char *frag = memchr(auth_end, '#', (size_t)(end - auth_end));
    *path_off = (size_t)(auth_end - url);
    *path_len = (size_t)((frag ? frag : end) - auth_end);
    return 0;
}

/* ---- request construction ---- */

static const char *const METHODS[] = {"GET", "HEAD", "OPTIONS", "DELETE", "POST", "PUT",
                                      "PATCH", "TRACE", "CONNECT"};

/* Credentials that never cross to another origin (research/reliability.md §2.4). */
static bool is_credential(const char *name, size_t n)
{
    return ieq(name, n, "authorization") || ieq(name, n, "cookie") ||
           ieq(name, n, "proxy-authorization") || ieq(name, n, "www-authenticate");
}

/* Headers that describe the body: dropped when a redirect turns the request into a GET. */
static bool is_body_header(const char *name, size_t n)
{
    return ieq(name, n, "content-type") || ieq(name, n, "content-length") ||
           ieq(name, n, "content-encoding") || ieq(name, n, "transfer-encoding");
}

/*
 * (Re)serialises the head from the request's current URL, method, stored headers and the
 * engine's additions (Referer, jar cookies). Runs wherever the request is owned.
 */
int hr__request_build_head(hr_request_t *req, char *errbuf, size_t errbuf_len)
{
    size_t path_off, path_len;
    hr_target_t t;
    int rc = hr_url_parse(req->url, req->url_len, &t, &path_off, &path_len, errbuf, errbuf_len);
    if (rc != 0)
        return rc;
    free(req->target.host);
    req->target = t;
    req->path_off = path_off;
    req->path_len = path_len;

    size_t klen = t.host_len + 16;
    char *key = malloc(klen);
    if (key == NULL)
        return HR_E_NOMEM;
    free(req->origin_key);
    req->origin_key = key;
    char *k = key; /* "http(s)://host:port" */
    memcpy(k, t.tls ? "https://" : "http://", t.tls ? 8 : 7);
    k += t.tls ? 8 : 7;
    memcpy(k, t.host, t.host_len);
    k += t.host_len;
    *k++ = ':';
    k += put_uint(k, t.port);
    *k = '\0';
    req->origin_key_len = (size_t)(k - key);

    bool have_host = false, have_cookie = false;
    size_t total = req->method_len + path_len + 64 + t.host_len + req->hdrs.len * 2 +
                   req->referer.len + req->jar_cookie.len + 64;
    const char *p = req->hdrs.data, *end = p + req->hdrs.len;
    for (const char *q = p; q < end;) {
        size_t nl = strlen(q);
        const char *v = q + nl + 1;
        size_t vl = strlen(v);
        if (ieq(q, nl, "host"))
            have_host = true;
        if (ieq(q, nl, "cookie") && !req->strip_credentials)
            have_cookie = true;
        q = v + vl + 1;
    }
    char *head = malloc(total);
    if (head == NULL)
        return HR_E_NOMEM;
    char *w = head;
#define PUT(s, n)                                                                              \
    do {                                                                                       \
        memcpy(w, (s), (n));                                                                   \
        w += (n);                                                                              \
    } while (0)
    PUT(req->method, req->method_len);
    *w++ = ' ';
    if (path_len == 0 || req->url[path_off] == '?')
        *w++ = '/'; /* "http://h?q" → "/?q" */
    PUT(req->url + path_off, path_len);
    PUT(" HTTP/1.1\r\n", 11);
    if (!have_host || req->strip_credentials) {
        /* a redirect to another origin must not carry the old Host */
        bool default_port = t.port == (t.tls ? 443 : 80);
        PUT("Host: ", 6);
        if (t.host_is_ipv6)
            *w++ = '[';
        PUT(t.host, t.host_len);
        if (t.host_is_ipv6)
            *w++ = ']';
        if (!default_port)
        {
            *w++ = ':';
            w += put_uint(w, t.port);
        }
        PUT("\r\n", 2);
    }
    for (const char *q = p; q < end;) {
        size_t nl = strlen(q);
        const char *v = q + nl + 1;
        size_t vl = strlen(v);
        bool skip = (req->strip_credentials && (is_credential(q, nl) || ieq(q, nl, "host"))) ||
                    (req->body_dropped && is_body_header(q, nl)) ||
                    (req->referer.len && ieq(q, nl, "referer"));
        if (!skip) {
            PUT(q, nl);
            PUT(": ", 2);
            PUT(v, vl);
            PUT("\r\n", 2);
        }
        q = v + vl + 1;
    }
    if (req->referer.len) {
        PUT("Referer: ", 9);
        PUT(req->referer.data, req->referer.len);
        PUT("\r\n", 2);
    }
    if (req->jar_cookie.len && !have_cookie) {
        PUT("Cookie: ", 8);
        PUT(req->jar_cookie.data, req->jar_cookie.len);
        PUT("\r\n", 2);
    }
    if (req->parts != NULL)
        PUT("Transfer-Encoding: chunked\r\n", 28);
    else if (!req->user_cl && (req->body != NULL || req->is_upload))
    {
        PUT("Content-Length: ", 16);
        w += put_uint(w, req->body_len);
        PUT("\r\n", 2);
    }
    PUT("\r\n", 2);
#undef PUT
    free(req->head);
    req->head = head;
    req->head_len = (size_t)(w - head);
    return 0;
}

hr_request_t *hr_request_new(const char *method, size_t method_len, const char *url,
                             size_t url_len, const hr_header_t *headers, size_t nheaders,
                             const void *body, size_t body_len, int *err, char *errbuf,
                             size_t errbuf_len)
{
    int rc;
    hr_request_t *req = calloc(1, sizeof(*req));
    if (req == NULL) {
        *err = HR_E_NOMEM;
        set_err(errbuf, errbuf_len, "out of memory");
        return NULL;
    }
    atomic_fetch_add(&hr__stat_requests, 1);
    req->decode = true;

    if (method_len == 0 || method_len >= sizeof(req->method)) {
        rc = HR_E_INVALID_METHOD;
        set_err(errbuf, errbuf_len, "invalid HTTP method");
        goto error;
    }
    for (size_t i = 0; i < method_len; i++) {
        if (!is_tchar((unsigned char)method[i])) {
            rc = HR_E_INVALID_METHOD;
            set_err(errbuf, errbuf_len, "invalid HTTP method");
            goto error;
        }
    }
    memcpy(req->method, method, method_len);
    req->method_len = method_len;
    req->is_head = method_len == 4 && memcmp(method, "HEAD", 4) == 0;
    for (size_t i = 0; i < sizeof(METHODS) / sizeof(METHODS[0]); i++) {
        if (strlen(METHODS[i]) == method_len && memcmp(METHODS[i], method, method_len) == 0) {
            /* RFC 9110 §9.2.2: GET HEAD OPTIONS TRACE PUT DELETE are idempotent */
            req->idempotent = i != 4 && i != 6 && i != 8;
            break;
        }
    }
    req->is_upload = (method_len == 4 && memcmp(method, "POST", 4) == 0) ||
                     (method_len == 3 && memcmp(method, "PUT", 3) == 0) ||
                     (method_len == 5 && memcmp(method, "PATCH", 5) == 0);

    size_t hdrs_size = 0;
    for (size_t i = 0; i < nheaders; i++)
        hdrs_size += headers[i].name_len + headers[i].value_len + 2;
    if (hr_buf_reserve_exact(&req->hdrs, hdrs_size))
        goto nomem;
    for (size_t i = 0; i < nheaders; i++) {
        const hr_header_t *h = &headers[i];
        if (h->name_len == 0) {
            rc = HR_E_INVALID_HEADER;
            set_err(errbuf, errbuf_len, "Illegal header name: empty");
            goto error;
        }
        for (size_t j = 0; j < h->name_len; j++) {
            if (!is_tchar((unsigned char)h->name[j])) {
                rc = HR_E_INVALID_HEADER;
                set_err(errbuf, errbuf_len, "Illegal header name %.*s",
                        (int)(h->name_len > 64 ? 64 : h->name_len), h->name);
                goto error;
            }
        }
        for (size_t j = 0; j < h->value_len; j++) {
            unsigned char c = (unsigned char)h->value[j];
            /* RFC 9110 §5.5: no control characters but HTAB (CR, LF, NUL would split or
             * truncate the head; the others are rejected by strict servers) */
            if ((c < 0x20 && c != '\t') || c == 0x7f) {
                rc = HR_E_INVALID_HEADER;
                set_err(errbuf, errbuf_len,
                        "Illegal header value for %.*s: contains control character 0x%02x",
                        (int)(h->name_len > 64 ? 64 : h->name_len), h->name, c);
                goto error;
            }
        }
        if (ieq(h->name, h->name_len, "transfer-encoding")) {
            /* The engine frames the body itself; a hand-set framing header that disagrees
             * with it would desynchronise the connection (request smuggling). */
            rc = HR_E_INVALID_HEADER;
            set_err(errbuf, errbuf_len,
                    "Transfer-Encoding cannot be set by hand: httpr frames the body itself");
            goto error;
        } else if (ieq(h->name, h->name_len, "content-length")) {
            size_t v = 0, j = 0;
            for (; j < h->value_len && h->value[j] >= '0' && h->value[j] <= '9' && j < 19; j++)
                v = v * 10 + (size_t)(h->value[j] - '0');
            size_t actual = body != NULL ? body_len : 0;
            if (req->user_cl || j == 0 || j != h->value_len || v != actual) {
                rc = HR_E_INVALID_HEADER;
                set_err(errbuf, errbuf_len,
                        "Content-Length header (%.*s) does not match the body length (%zu)",
                        (int)(h->value_len > 24 ? 24 : h->value_len), h->value, actual);
                goto error;
            }
            req->user_cl = true;
        }
        /* stored as "name\0value\0" for rebuilding the head on redirects (reserved above) */
        hr_buf_append(&req->hdrs, h->name, h->name_len);
        hr_buf_append(&req->hdrs, "", 1);
        hr_buf_append(&req->hdrs, h->value, h->value_len);
        hr_buf_append(&req->hdrs, "", 1);
    }

    req->url = malloc(url_len + 1);
    if (req->url == NULL)
        goto nomem;
    memcpy(req->url, url, url_len);
    req->url[url_len] = '\0';
    req->url_len = url_len;
    req->body = body;
    req->body_len = body != NULL ? body_len : 0;
    req->has_body = body != NULL && body_len > 0;
    rc = hr__request_build_head(req, errbuf, errbuf_len);
    if (rc != 0) {
        if (rc == HR_E_NOMEM)
            set_err(errbuf, errbuf_len, "out of memory");
        goto error;
    }
    *err = 0;
    return req;

nomem:
    rc = HR_E_NOMEM;
    set_err(errbuf, errbuf_len, "out of memory");
error:
    *err = rc;
    hr_request_free(req);
    return NULL;
}

static void *memdup(const void *p, size_t n)
{
    void *d = malloc(n);
    if (d != NULL)
        memcpy(d, p, n);
    return d;
}

/* The fields hr_request_new() and hr__request_build_head() set, and nothing else. */
hr_request_t *hr_request_copy(const hr_request_t *t)
{
    if (t->body != NULL || t->parts != NULL)
        return NULL;
    hr_request_t *req = calloc(1, sizeof(*req));
    if (req == NULL)
        return NULL;
    atomic_fetch_add(&hr__stat_requests, 1);
    req->decode = true;
    memcpy(req->method, t->method, sizeof(req->method));
    req->method_len = t->method_len;
    req->is_head = t->is_head;
    req->idempotent = t->idempotent;
    req->is_upload = t->is_upload;
    req->user_cl = t->user_cl;
    req->url_len = t->url_len;
    req->path_off = t->path_off;
    req->path_len = t->path_len;
    req->target = t->target;
    req->origin_key_len = t->origin_key_len;
    req->head_len = t->head_len;
    req->url = memdup(t->url, t->url_len + 1);
    req->target.host = memdup(t->target.host, t->target.host_len + 1);
    req->origin_key = memdup(t->origin_key, t->origin_key_len + 1);
    req->head = memdup(t->head, t->head_len);
    if (req->url == NULL || req->target.host == NULL || req->origin_key == NULL ||
        req->head == NULL || hr_buf_reserve_exact(&req->hdrs, t->hdrs.len) != 0) {
        hr_request_free(req);
        return NULL;
    }
    if (t->hdrs.len != 0)
        hr_buf_append(&req->hdrs, t->hdrs.data, t->hdrs.len);
    return req;
}

void hr_request_set_timeout(hr_request_t *req, uint64_t timeout_ms) { req->timeout_ms = timeout_ms; }
void hr_request_set_stream(hr_request_t *req, const hr_stream_cb_t *cbs) { req->stream = cbs; }
void hr_request_set_decode(hr_request_t *req, int decode) { req->decode = decode != 0; }
void hr_request_set_json_ahead(hr_request_t *req, int on) { req->json_ahead = on != 0; }
void hr_request_set_data(hr_request_t *req, void *data) { req->data = data; }
void *hr_request_get_data(const hr_request_t *req) { return req->data; }

void hr_request_free(hr_request_t *req)
{
    if (req == NULL)
        return;
    free(req->errmsg);
    free(req->target.host);
    free(req->url);
    free(req->origin_key);
    free(req->head);
    hr_buf_free(&req->hdrs);
    hr_buf_free(&req->referer);
    hr_buf_free(&req->jar_cookie);
    hr_buf_free(&req->headers);
    hr_buf_free(&req->body_out);
    hr_json_tape_free(req->json_tape);
    hr__decoder_free(req->decoder);
    hr__parts_free(req->parts);
    free(req);
    atomic_fetch_sub(&hr__stat_requests, 1);
}

int hr_request_error(const hr_request_t *req) { return req->err; }
const char *hr_request_error_message(const hr_request_t *req)
{
    return req->errmsg != NULL && req->errmsg[0] ? req->errmsg : hr_strerror(req->err);
}
int hr_request_status(const hr_request_t *req) { return req->status; }
int hr_request_http_minor(const hr_request_t *req) { return req->http_minor; }
int hr_request_reused(const hr_request_t *req) { return req->reused; }
int hr_request_input_pending(const hr_request_t *req) { return req->input_pending; }
int hr_request_tls_resumed(const hr_request_t *req) { return req->tls_resumed; }
const char *hr_request_tls_version(const hr_request_t *req) { return req->tls_version; }

const char *hr_request_headers(const hr_request_t *req, size_t *len, size_t *count)
{
    *len = req->headers.len;
    *count = req->nheaders;
    return req->headers.data ? req->headers.data : "";
}

const char *hr_request_body(const hr_request_t *req, size_t *len)
{
    *len = req->body_out.len;
    return req->body_out.data ? req->body_out.data : "";
}

char *hr_request_take_body(hr_request_t *req, size_t *len)
{
    char *body = req->body_out.data;
    *len = req->body_out.len;
    if (*len == 0) {
        hr_buf_free(&req->body_out);
        return NULL;
    }
    req->body_out.data = NULL;
    req->body_out.len = req->body_out.cap = 0;
    return body;
}

void hr_body_free(char *body) { hr_mem_free(body); }

hr_json_tape_t *hr_request_take_json_tape(hr_request_t *req)
{
    hr_json_tape_t *t = req->json_tape;
    req->json_tape = NULL;
    return t;
}

const char *hr_request_head(const hr_request_t *req, size_t *len)
{
    *len = req->head_len;
    return req->head;
}

const char *hr_request_url(const hr_request_t *req, size_t *len)
{
    *len = req->url_len;
    return req->url;
}
