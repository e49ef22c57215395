/*
 * h1.c — llhttp glue for HTTP/1.x responses (loop thread).
 *
 * llhttp runs strict (no lenient flags). On top of it the glue enforces what llhttp leaves to
 * its user (research/reliability.md §1.5): header byte and count limits across reads, the only
 * acceptable Transfer-Encoding is a single "chunked", HTTP/1.0 or 1.1 only, status >= 100,
 * no control bytes in the reason phrase, bounded chunk extensions and interim responses, no
 * body for HEAD/1xx/204/304, and a pause at the end of each message so that bytes after it
 * are seen (and poison the connection) instead of being parsed as a next response.
 */
#include <stdio.h>

#include "internal.h"

#define HR_MAX_CHUNK_EXT_BYTES 4096

static hr_conn_t *conn_of(llhttp_t *p) { return (hr_conn_t *)p->data; }

static int fail(llhttp_t *p, const char *reason)
{
    llhttp_set_error_reason(p, reason);
    return HPE_USER;
}

/* A failure that is not a protocol error (decoding, memory): code and message kept. */
static int fail_code(llhttp_t *p, int code, const char *msg)
{
    hr_conn_t *c = conn_of(p);
    c->cb_err = code;
    hr__request_fail(c->req, code, "%s", msg); /* recorded now: the connection keeps no copy */
    llhttp_set_error_reason(p, "see the request's error");
    return HPE_USER;
}

/* Finds a header in a "name\0value\0" block; names are lowercase. */
const char *hr__header_find(const hr_buf_t *block, const char *name, size_t *vlen)
{
    const char *p = block->data, *end = p + block->len;
    size_t n = strlen(name);
    while (p != NULL && p < end) {
        size_t nl = strlen(p);
        const char *v = p + nl + 1;
        size_t vl = strlen(v);
        if (nl == n && memcmp(p, name, n) == 0) {
            *vlen = vl;
            return v;
        }
        p = v + vl + 1;
    }
    return NULL;
}

/* Removes every header called `name` from the block. */
static void header_remove(hr_buf_t *block, size_t *count, const char *name)
{
    char *p = block->data, *end = p + block->len, *w = p;
    size_t n = strlen(name);
    while (p != NULL && p < end) {
        size_t nl = strlen(p);
        char *v = p + nl + 1;
        size_t vl = strlen(v);
        size_t total = nl + vl + 2;
        if (nl == n && memcmp(p, name, n) == 0) {
            (*count)--;
        } else {
            memmove(w, p, total);
            w += total;
        }
        p += total;
    }
    if (block->data != NULL)
        block->len = (size_t)(w - block->data);
}

static int sink(void *ctx, const char *p, size_t n)
{
    hr_request_t *req = ctx;
    if (req->stream != NULL) {
        int rc = req->stream->on_data(req, p, n);
        if (rc < 0)
            return HR_E_NOMEM;
        if (rc > 0)
            req->paused = true;
        return 0;
    }
    hr_buf_t *b = &req->body_out;
    if (b->data != NULL) {
        uintptr_t at = (uintptr_t)p, free_start = (uintptr_t)(b->data + b->len);
        if (at >= free_start && at < (uintptr_t)(b->data + b->cap)) {
            /* read straight into the buffer (conn.c's alloc_cb): already there, or close by */
            if (at != free_start)
                memmove(b->data + b->len, p, n);
            b->len += n;
            return 0;
        }
    }
    return hr_buf_append(b, p, n);
}

static int count_head(llhttp_t *p, size_t n)
{
    hr_conn_t *c = conn_of(p);
    c->head_bytes += n;
    if (c->head_bytes > HR_MAX_HEADER_BYTES)
        return fail(p, "response header section exceeds 65536 bytes");
    return 0;
}

static int on_message_begin(llhttp_t *p)
{
    hr_conn_t *c = conn_of(p);
    c->head_bytes = 0;
    c->headers_done = false;
    c->in_trailers = false;
    c->te_seen = false;
    c->ntrailers = 0;
    c->field.len = 0;
    c->value.len = 0;
    return 0;
}

static int on_status(llhttp_t *p, const char *at, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)at[i];
        if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
            return fail(p, "control character in the reason phrase");
    }
    return count_head(p, n);
}

static int on_header_field(llhttp_t *p, const char *at, size_t n)
{
    hr_conn_t *c = conn_of(p);
    if (count_head(p, n))
        return HPE_USER;
    if (c->in_trailers)
        return 0; /* trailers are counted, not kept */
    return hr_buf_append(&c->field, at, n) ? fail(p, "out of memory") : 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t n)
{
    hr_conn_t *c = conn_of(p);
    if (count_head(p, n))
        return HPE_USER;
    if (c->in_trailers)
        return 0;
    return hr_buf_append(&c->value, at, n) ? fail(p, "out of memory") : 0;
}

static bool ieq_lit(const char *a, size_t n, const char *lit)
{
    size_t m = strlen(lit);
    if (n != m)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = a[i];
        if (ch >= 'A' && ch <= 'Z')
            ch = (char)(ch + 32);
        if (ch != lit[i])
            return false;
    }
    return true;
}

/* A Content-Type value naming JSON: application/json, or any type/subtype+json (RFC 6839),
 * letters in any case, parameters after ';' ignored. */
static bool is_json_type(const char *v, size_t n)
{
    size_t end = 0;
    while (end < n && v[end] != ';' && v[end] != ' ' && v[end] != '\t')
        end++;
    const char *slash = memchr(v, '/', end);
    if (slash == NULL)
        return false;
    return ieq_lit(v, end, "application/json") ||
           (end - (size_t)(slash - v) > 5 && ieq_lit(v + end - 5, 5, "+json"));
}

static int on_header_value_complete(llhttp_t *p)
{
    hr_conn_t *c = conn_of(p);
    hr_request_t *req = c->req;
    if (c->in_trailers) {
        if (++c->ntrailers > HR_MAX_HEADERS)
            return fail(p, "too many trailer fields");
        return 0;
    }
    if (req->nheaders >= HR_MAX_HEADERS)
        return fail(p, "more than 100 response header fields");
    /* lowercase the name in place */
    for (size_t i = 0; i < c->field.len; i++) {
        char ch = c->field.data[i];
        if (ch >= 'A' && ch <= 'Z')
            c->field.data[i] = (char)(ch + 32);
    }
    /* RFC 9110 §5.5: the field value excludes trailing whitespace (llhttp drops the
     * leading OWS itself) */
    while (c->value.len > 0 &&
           (c->value.data[c->value.len - 1] == ' ' || c->value.data[c->value.len - 1] == '\t'))
        c->value.len--;
    /* remember the few headers looked up later, so responses without them skip the scans */
    if (c->field.len == 10 && memcmp(c->field.data, "set-cookie", 10) == 0)
        req->seen |= HR_SEEN_SET_COOKIE;
    else if (c->field.len == 16 && memcmp(c->field.data, "content-encoding", 16) == 0)
        req->seen |= HR_SEEN_CONTENT_ENCODING;
    else if (c->field.len == 8 && memcmp(c->field.data, "location", 8) == 0)
        req->seen |= HR_SEEN_LOCATION;
    else if (req->json_ahead && c->field.len == 12 &&
             memcmp(c->field.data, "content-type", 12) == 0 &&
             is_json_type(c->value.data ? c->value.data : "", c->value.len))
        req->seen |= HR_SEEN_JSON;
    if (c->field.len == 17 && memcmp(c->field.data, "transfer-encoding", 17) == 0) {
        /* We never send TE, so anything but one "chunked" is unsolicited framing. */
        if (c->te_seen || !ieq_lit(c->value.data ? c->value.data : "", c->value.len, "chunked"))
            return fail(p, "unsupported Transfer-Encoding in response");
        c->te_seen = true;
    }
    hr_buf_t *h = &req->headers;
    if (hr_buf_reserve(h, c->field.len + c->value.len + 2))
        return fail(p, "out of memory");
    memcpy(h->data + h->len, c->field.data, c->field.len);
    h->len += c->field.len;
    h->data[h->len++] = '\0';
    if (c->value.len)
        memcpy(h->data + h->len, c->value.data, c->value.len);
    h->len += c->value.len;
    h->data[h->len++] = '\0';
    req->nheaders++;
    c->field.len = 0;
    c->value.len = 0;
    return 0;
}

static int on_headers_complete(llhttp_t *p)
{
    hr_conn_t *c = conn_of(p);
    hr_request_t *req = c->req;
    int status = llhttp_get_status_code(p);
    int major = llhttp_get_http_major(p), minor = llhttp_get_http_minor(p);
    if (major != 1 || minor > 1)
        return fail(p, "unsupported HTTP version in response");
    if (status < 100 || status > 999)
        return fail(p, "invalid status code");
    if (c->te_seen && minor == 0)
        return fail(p, "Transfer-Encoding in an HTTP/1.0 response");
    if (status == 101)
        return fail(p, "unexpected 101 Switching Protocols");
    req->status = status;
    req->http_minor = minor;
    c->headers_done = true;
    c->in_trailers = true; /* header callbacks from now on are trailers */
    if (status < 200)
        return 1; /* interim: no body; the final response follows */
    hr_client_t *client = c->client;
    if (client->config.cookie_store && (req->seen & HR_SEEN_SET_COOKIE))
        hr__jar_store_from(client, req);
    bool no_body = req->is_head || status == 204 || status == 304;
    size_t loc_len;
    req->redirecting = false;
    if (client->config.follow_redirects &&
        (status == 301 || status == 302 || status == 303 || status == 307 || status == 308) &&
        (req->seen & HR_SEEN_LOCATION) &&
        hr__header_find(&req->headers, "location", &loc_len) != NULL &&
        !((status == 307 || status == 308) && req->parts != NULL)) {
        /* followed: the body of the 3xx is read (to keep the connection) and dropped */
        req->redirecting = true;
        return no_body ? 1 : 0;
    }
    if (req->decode && !no_body && (req->seen & HR_SEEN_CONTENT_ENCODING)) {
        size_t ce_len;
        const char *ce = hr__header_find(&req->headers, "content-encoding", &ce_len);
        if (ce != NULL) {
            int err;
            req->decoder = hr__decoder_new(ce, ce_len, &err);
            if (err)
                return fail_code(p, err, err == HR_E_DECODING
                                             ? "too many content codings in the response"
                                             : "out of memory");
            if (req->decoder != NULL) {
                /* as the original (reqwest): the decoded body has neither */
                header_remove(&req->headers, &req->nheaders, "content-encoding");
                header_remove(&req->headers, &req->nheaders, "content-length");
            }
        }
    }
    if (req->stream != NULL)
        req->stream->on_head(req);
    if (no_body)
        return 1; /* RFC 9112 §6.3: no body, whatever the headers say */
    uint64_t cl = p->content_length;
    if (!c->te_seen && (p->flags & F_CONTENT_LENGTH) && cl > 0 && req->stream == NULL) {
        /* Pre-size the body, but never trust the peer with more than 1 MiB up front. */
        size_t want = cl < (1u << 20) ? (size_t)cl : (1u << 20);
        if (hr_buf_reserve_exact(&req->body_out, want))
            return fail(p, "out of memory");
    }
    return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t n)
{
    hr_conn_t *c = conn_of(p);
    hr_request_t *req = c->req;
    if (req->redirecting)
        return 0;
    if (req->decoder != NULL && req->stream != NULL) {
        /* streamed: decoded as it comes; a buffered body is decoded whole at the end */
        char msg[160] = "out of memory"; /* what a failing sink leaves unsaid */
        int rc = hr__decoder_feed(req->decoder, at, n, sink, req, msg, sizeof(msg));
        return rc ? fail_code(p, rc, msg) : 0;
    }
    return sink(req, at, n) ? fail_code(p, HR_E_NOMEM, "out of memory") : 0;
}

static int on_chunk_ext(llhttp_t *p, const char *at, size_t n)
{
    hr_conn_t *c = conn_of(p);
    (void)at;
    c->ext_bytes += n;
    if (c->ext_bytes > HR_MAX_CHUNK_EXT_BYTES)
        return fail(p, "chunk extension too long");
    return 0;
}

static int on_chunk_header(llhttp_t *p)
{
    conn_of(p)->ext_bytes = 0;
    return 0;
}

static int on_message_complete(llhttp_t *p)
{
    hr_conn_t *c = conn_of(p);
    hr_request_t *req = c->req;
    if (req->status < 200) {
        /* skip the interim response and parse the next one on the same connection */
        if (++c->interim > HR_MAX_INTERIM_RESPONSES)
            return fail(p, "too many interim (1xx) responses");
        req->status = 0;
        req->headers.len = 0;
        req->nheaders = 0;
        req->seen = 0;
        return 0;
    }
    if (req->decoder != NULL && req->stream != NULL && !req->redirecting) {
        char msg[160];
        int rc = hr__decoder_finish(req->decoder, msg, sizeof(msg));
        if (rc)
            return fail_code(p, rc, msg);
    }
    c->keep_alive = llhttp_should_keep_alive(p) != 0;
    c->msg_done = true;
    return HPE_PAUSED; /* stop here: what follows is not part of this response */
}

const llhttp_settings_t hr__h1_settings = {
    .on_message_begin = on_message_begin,
    .on_status = on_status,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_header_value_complete = on_header_value_complete,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_chunk_extension_name = on_chunk_ext,
    .on_chunk_extension_value = on_chunk_ext,
    .on_chunk_header = on_chunk_header,
    .on_message_complete = on_message_complete,
};

/* Prepares the connection's parser for the response to conn->req. */
void hr__h1_begin(hr_conn_t *conn)
{
    llhttp_init(&conn->parser, HTTP_RESPONSE, &hr__h1_settings);
    conn->parser.data = conn;
    conn->msg_done = false;
    conn->keep_alive = false;
    conn->leftover = false;
    conn->interim = 0;
    conn->ext_bytes = 0;
    conn->cb_err = 0;
}
