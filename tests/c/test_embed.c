/*
 * test_embed.c — the engine embedded in a caller's own uv_loop_t, as a C program would use it.
 *
 * One loop runs both a scripted HTTP server (libuv TCP, canned bytes per path) and the httpr
 * client; the cases run one after another from the completion callbacks. Covers the llhttp
 * glue (framing, limits, interim responses) and the pool (reuse, poisoning, retry) through
 * the public API only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "hr.h"

static uv_loop_t loop;
static uv_tcp_t server;
static int port;
static hr_client_t *client;
static int failures;
static int accepted; /* connections the server accepted */
/* /gzip-large's body: random letters (compresses to ~3/4), filled in by main() */
static char large_text[96 * 1024 + 1];

/* ---- scripted server ---- */

typedef struct {
    uv_tcp_t tcp;
    char buf[8192];
    size_t len;
    int id;
    char req_head[2048];
    int want_upload;
} sconn_t;

static void s_on_close(uv_handle_t *h) { free(h->data); }
static void s_on_write(uv_write_t *w, int status)
{
    (void)status;
    free(w->data);
    free(w);
}

static void s_send(sconn_t *c, const char *data, size_t n)
{
    uv_write_t *w = malloc(sizeof(*w));
    char *copy = malloc(n);
    memcpy(copy, data, n);
    w->data = copy;
    uv_buf_t b = uv_buf_init(copy, (unsigned)n);
    uv_write(w, (uv_stream_t *)&c->tcp, &b, 1, s_on_write);
}

static void s_close(sconn_t *c)
{
    if (!uv_is_closing((uv_handle_t *)&c->tcp))
        uv_close((uv_handle_t *)&c->tcp, s_on_close);
}

#define LIT(s) s, sizeof(s) - 1

static void s_respond(sconn_t *c, const char *path)
{
    if (strcmp(path, "/hello") == 0) {
        s_send(c, LIT("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: 1\r\n\r\nhello"));
    } else if (strcmp(path, "/chunked") == 0) {
        s_send(c, LIT("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                      "3\r\nabc\r\n4;ext=1\r\ndefg\r\n0\r\nTrailer: x\r\n\r\n"));
    } else if (strcmp(path, "/close") == 0) {
        s_send(c, LIT("HTTP/1.1 200 OK\r\n\r\nuntil-eof"));
        s_close(c);
    } else if (strcmp(path, "/head") == 0) {
        s_send(c, LIT("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"));
    } else if (strcmp(path, "/interim") == 0) {
        s_send(c, LIT("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
                      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"));
    } else if (strcmp(path, "/bad-status") == 0) {
        s_send(c, LIT("HTTP/1.1 abc\r\n\r\n"));
    } else if (strcmp(path, "/te-gzip") == 0) {
        s_send(c, LIT("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nxx"));
    } else if (strcmp(path, "/cl-te") == 0) {
        s_send(c, LIT("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
                      "3\r\nabc\r\n0\r\n\r\n"));
    } else if (strcmp(path, "/many-headers") == 0) {
        char big[8192];
        size_t n = (size_t)sprintf(big, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n");
        for (int i = 0; i < 101; i++)
            n += (size_t)sprintf(big + n, "X-%d: v\r\n", i);
        n += (size_t)sprintf(big + n, "\r\n");
        s_send(c, big, n);
    } else if (strcmp(path, "/poison") == 0) {
        /* a 204 "with a body": the bytes after it must not be parsed as the next response */
        s_send(c, LIT("HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nHTTP/"));
    } else if (strcmp(path, "/reset-mid-body") == 0) {
        s_send(c, LIT("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial"));
        s_close(c);
    } else if (strcmp(path, "/empty-close") == 0) {
        s_close(c);
    } else if (strcmp(path, "/redirect") == 0) {
        s_send(c, LIT("HTTP/1.1 302 Found\r\nLocation: hello\r\nSet-Cookie: sid=42; Path=/\r\n"
                      "Content-Length: 3\r\n\r\nbye"));
    } else if (strcmp(path, "/cookie") == 0) {
        /* echoes the Cookie header the client sent */
        const char *ck = strstr(c->req_head, "\r\nCookie: ");
        char body[256] = "none";
        if (ck != NULL)
            sscanf(ck + 10, "%255[^\r]", body);
        char out[512];
        int n = snprintf(out, sizeof(out), "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n%s",
                         strlen(body), body);
        s_send(c, out, (size_t)n);
    } else if (strcmp(path, "/gzip") == 0) {
        char gz[256];
        z_stream z = {0};
        deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
        z.next_in = (Bytef *)"compressed hello";
        z.avail_in = 16;
        z.next_out = (Bytef *)gz;
        z.avail_out = sizeof(gz);
        deflate(&z, Z_FINISH);
        size_t n = sizeof(gz) - z.avail_out;
        deflateEnd(&z);
        char out[512];
        int hl = snprintf(out, sizeof(out),
                          "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %zu\r\n\r\n", n);
        memcpy(out + hl, gz, n);
        s_send(c, out, (size_t)hl + n);
    } else if (strcmp(path, "/gzip-large") == 0) {
        /* encoded in more than 32 KiB: decoded on the loop's thread pool */
        size_t cap = compressBound(sizeof(large_text)) + 64;
        char *out = malloc(cap + 128);
        z_stream z = {0};
        deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
        z.next_in = (Bytef *)large_text;
        z.avail_in = (uInt)strlen(large_text);
        z.next_out = (Bytef *)out + 128;
        z.avail_out = (uInt)cap;
        deflate(&z, Z_FINISH);
        size_t n = cap - z.avail_out;
        deflateEnd(&z);
        char head[128];
        int hl = snprintf(head, sizeof(head),
                          "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %zu\r\n\r\n", n);
        memcpy(out + 128 - hl, head, (size_t)hl);
        s_send(c, out + 128 - hl, (size_t)hl + n);
        free(out);
    } else if (strcmp(path, "/big") == 0 || strcmp(path, "/big-then-more") == 0) {
        /* -then-more: bytes nobody asked for right behind the body, in the same write */
        static const char more[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
        size_t n = strlen(large_text);
        char *out = malloc(n + 128 + sizeof(more));
        int hl = snprintf(out, 128, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", n);
        memcpy(out + hl, large_text, n);
        n += (size_t)hl;
        if (path[4] != '\0') {
            memcpy(out + n, more, sizeof(more) - 1);
            n += sizeof(more) - 1;
        }
        s_send(c, out, n);
        free(out);
    } else if (strcmp(path, "/upload") == 0) {
        /* the head said chunked; the chunked body follows in this buffer or the next reads:
         * answer once the terminating chunk arrived (checked in s_on_read) */
        c->want_upload = 1;
    } else if (strcmp(path, "/stall") == 0) {
        /* say nothing */
    } else {
        s_send(c, LIT("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"));
    }
}

static void s_alloc(uv_handle_t *h, size_t sz, uv_buf_t *b)
{
    sconn_t *c = h->data;
    (void)sz;
    b->base = c->buf + c->len;
    b->len = sizeof(c->buf) - c->len;
}

static void s_on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    sconn_t *c = s->data;
    (void)b;
    if (n < 0) {
        s_close(c);
        return;
    }
    c->len += (size_t)n;
    for (;;) {
        if (c->want_upload) {
            char *fin = memmem(c->buf, c->len, "\r\n0\r\n\r\n", 7);
            if (fin == NULL)
                return;
            int ok = memmem(c->buf, c->len, "abc", 3) != NULL && memmem(c->buf, c->len, "defgh", 5);
            size_t used = (size_t)(fin + 7 - c->buf);
            memmove(c->buf, c->buf + used, c->len - used);
            c->len -= used;
            c->want_upload = 0;
            if (ok)
                s_send(c, LIT("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nup"));
            else
                s_send(c, LIT("HTTP/1.1 400 Bad\r\nContent-Length: 0\r\n\r\n"));
            continue;
        }
        char *end = memmem(c->buf, c->len, "\r\n\r\n", 4);
        if (end == NULL)
            return;
        char path[256] = {0};
        sscanf(c->buf, "%*s %255s", path);
        size_t used = (size_t)(end + 4 - c->buf);
        snprintf(c->req_head, sizeof(c->req_head), "%.*s", (int)used, c->buf);
        memmove(c->buf, c->buf + used, c->len - used);
        c->len -= used;
        s_respond(c, path);
        if (uv_is_closing((uv_handle_t *)&c->tcp))
            return;
    }
}

static void s_on_conn(uv_stream_t *srv, int status)
{
    if (status < 0)
        return;
    sconn_t *c = calloc(1, sizeof(*c));
    uv_tcp_init(&loop, &c->tcp);
    c->tcp.data = c;
    c->id = ++accepted;
    if (uv_accept(srv, (uv_stream_t *)&c->tcp) == 0)
        uv_read_start((uv_stream_t *)&c->tcp, s_alloc, s_on_read);
    else
        s_close(c);
}

/* ---- cases ---- */

typedef struct {
    const char *method;
    const char *path;
    int want_err;          /* 0 or HR_E_* */
    int want_status;
    const char *want_body; /* NULL: don't check */
    int want_new_conn;     /* -1: don't check, 0: reused, 1: a new connection */
    uint64_t timeout_ms;
    int cancel;            /* cancel right after starting */
    int upload;            /* send a streamed (chunked) body of two memory parts */
    int https;             /* https:// to this plain server: the handshake never completes */
    int stream;            /* streamed (get_buffer): one of the STREAM_* below */
} tcase_t;

enum {
    STREAM_IN_PLACE = 1, /* some bytes are read where get_buffer() said */
    STREAM_GIVEN_BACK,   /* memory is lent, and given back (the read found the end) */
    STREAM_ANY,          /* the body came with the head: whether memory is lent is not checked */
    STREAM_NEVER_LENT,   /* chunked or encoded: the bytes on the wire are not the body's */
};

static const tcase_t cases[] = {
    {"GET", "/hello", 0, 200, "hello", 1, 0, 0, 0, 0, 0},
    {"GET", "/hello", 0, 200, "hello", 0, 0, 0, 0, 0, 0},
    {"GET", "/chunked", 0, 200, "abcdefg", 0, 0, 0, 0, 0, 0},
    {"HEAD", "/head", 0, 200, "", 0, 0, 0, 0, 0, 0},
    {"GET", "/interim", 0, 200, "ok", 0, 0, 0, 0, 0, 0},
    {"GET", "/close", 0, 200, "until-eof", 0, 0, 0, 0, 0, 0},
    {"GET", "/hello", 0, 200, "hello", 1, 0, 0, 0, 0, 0}, /* the close-delimited conn was not pooled */
    {"GET", "/poison", 0, 204, "", 0, 0, 0, 0, 0, 0},
    {"GET", "/hello", 0, 200, "hello", 1, 0, 0, 0, 0, 0}, /* poisoned conn was not pooled */
    {"GET", "/bad-status", HR_E_PROTOCOL, 0, NULL, -1, 0, 0, 0, 0, 0},
    {"GET", "/te-gzip", HR_E_PROTOCOL, 0, NULL, -1, 0, 0, 0, 0, 0},
    {"GET", "/cl-te", HR_E_PROTOCOL, 0, NULL, -1, 0, 0, 0, 0, 0},
    {"GET", "/many-headers", HR_E_PROTOCOL, 0, NULL, -1, 0, 0, 0, 0, 0},
    {"GET", "/reset-mid-body", HR_E_READ, 0, NULL, -1, 0, 0, 0, 0, 0},
    {"POST", "/empty-close", HR_E_PROTOCOL, 0, NULL, -1, 0, 0, 0, 0, 0},
    {"GET", "/stall", HR_E_READ_TIMEOUT, 0, NULL, -1, 200, 0, 0, 0, 0},
    {"GET", "/stall", HR_E_CANCELLED, 0, NULL, -1, 0, 1, 0, 0, 0},
    {"GET", "/hello", 0, 200, "hello", -1, 0, 0, 0, 0, 0},
    {"GET", "/cookie", 0, 200, "none", -1, 0, 0, 0, 0, 0},
    {"GET", "/redirect", 0, 200, "hello", -1, 0, 0, 0, 0, 0}, /* followed; sets sid=42 */
    {"GET", "/cookie", 0, 200, "sid=42", -1, 0, 0, 0, 0, 0},  /* the jar sends it back */
    {"GET", "/gzip", 0, 200, "compressed hello", -1, 0, 0, 0, 0, 0},
    {"GET", "/gzip-large", 0, 200, large_text, -1, 0, 0, 0, 0, 0},
    {"GET", "/gzip-large", HR_E_CANCELLED, 0, NULL, -1, 0, 1, 0, 0, 0},
    {"POST", "/upload", 0, 200, "up", -1, 0, 0, 1, 0, 0},
    /* TLS state is torn down cleanly on a handshake timeout and on a cancel (valgrind) */
    {"GET", "/tls-stall", HR_E_CONNECT_TIMEOUT, 0, NULL, 1, 200, 0, 0, 1, 0},
    {"GET", "/tls-cancel", HR_E_CANCELLED, 0, NULL, -1, 0, 1, 0, 1, 0},
    {"GET", "/hello", 0, 200, "hello", -1, 0, 0, 0, 0, 0},
    /* streamed: a body of known length or ended by the close lands in the consumer's memory,
     * never past its end; chunked or encoded ones are copied (the bytes differ on the wire) */
    {.method = "GET", .path = "/big", .want_status = 200, .want_body = large_text,
     .want_new_conn = -1, .stream = STREAM_IN_PLACE},
    /* the read stops at the body's end: the bytes after it, still in the socket, are seen
     * all the same, and the next request (started from on_done) gets a new connection */
    {.method = "GET", .path = "/big-then-more", .want_status = 200, .want_body = large_text,
     .want_new_conn = 0, .stream = STREAM_IN_PLACE},
    {.method = "GET", .path = "/hello", .want_status = 200, .want_body = "hello",
     .want_new_conn = 1, .stream = STREAM_ANY},
    /* the same when the body is buffered (read in place into the body's buffer) */
    {"GET", "/big-then-more", 0, 200, large_text, 0, 0, 0, 0, 0, 0},
    {"GET", "/hello", 0, 200, "hello", 1, 0, 0, 0, 0, 0},
    {.method = "GET", .path = "/close", .want_status = 200, .want_body = "until-eof",
     .want_new_conn = -1, .stream = STREAM_GIVEN_BACK},
    {.method = "GET", .path = "/chunked", .want_status = 200, .want_body = "abcdefg",
     .want_new_conn = -1, .stream = STREAM_NEVER_LENT},
    {.method = "GET", .path = "/gzip-large", .want_status = 200, .want_body = large_text,
     .want_new_conn = -1, .stream = STREAM_NEVER_LENT},
    {.method = "GET", .path = "/reset-mid-body", .want_err = HR_E_READ, .want_new_conn = -1,
     .stream = STREAM_GIVEN_BACK},
};
#define NCASES (sizeof(cases) / sizeof(cases[0]))

static size_t current;
static int accepted_before;

static void start_case(void);

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "FAIL case %zu (%s %s): %s\n", current, cases[current].method,
                cases[current].path, what);
        failures++;
    }
}

/* ---- a streaming consumer that lends the engine its memory ---- */

static struct {
    char buf[sizeof(large_text) + 64];
    size_t len;   /* bytes of the body so far */
    char *lent;   /* what get_buffer() gave, until on_data() or put_buffer() */
    size_t lent_len;
    int gets, puts, heads;
    size_t in_place; /* bytes on_data() found where get_buffer() said */
} sink;

static void sink_head(hr_request_t *req)
{
    (void)req;
    sink.heads++;
}

#define CANARY 0xA5

/* The lent memory past the first n bytes is as it was lent. */
static int untouched_after(size_t n)
{
    for (size_t i = n; i < sink.lent_len; i++)
        if ((unsigned char)sink.lent[i] != CANARY)
            return 0;
    return 1;
}

static char *sink_get_buffer(hr_request_t *req, size_t *len)
{
    (void)req;
    check(sink.lent == NULL, "get_buffer() again before on_data() or put_buffer()");
    size_t room = sizeof(sink.buf) - sink.len;
    if (room == 0)
        return NULL;
    if (*len > 7000)
        *len = 7000; /* lowered: the engine must read no more than this */
    if (*len > room)
        *len = room;
    sink.gets++;
    sink.lent = sink.buf + sink.len;
    sink.lent_len = *len;
    memset(sink.lent, CANARY, sink.lent_len); /* what the engine must not write stays so */
    return sink.lent;
}

static void sink_put_buffer(hr_request_t *req)
{
    (void)req;
    check(sink.lent != NULL, "put_buffer() with nothing lent");
    check(sink.lent == NULL || untouched_after(0), "memory given back was written");
    sink.lent = NULL;
    sink.puts++;
}

static int sink_data(hr_request_t *req, const char *p, size_t n)
{
    (void)req;
    check(sink.heads == 1, "on_data() before on_head()");
    if (sink.lent != NULL) {
        check(p == sink.lent && n <= sink.lent_len, "bytes read in place not where they were lent");
        check(untouched_after(n), "written past the body's bytes (the next message's?)");
        sink.in_place += n;
    } else if (sink.len + n <= sizeof(sink.buf)) {
        memcpy(sink.buf + sink.len, p, n);
    } else {
        check(0, "more body than expected");
        return -1;
    }
    sink.lent = NULL;
    sink.len += n;
    return 0;
}

static const hr_stream_cb_t sink_cbs = {sink_head, sink_data, sink_get_buffer, sink_put_buffer};

static void on_done(hr_request_t *req)
{
    const tcase_t *t = &cases[current];
    int err = hr_request_error(req);
    if (t->stream) {
        check(sink.lent == NULL, "memory still lent at the end");
        check(sink.puts <= sink.gets, "more put_buffer() than get_buffer()");
        if (t->stream == STREAM_NEVER_LENT)
            check(sink.gets == 0 && sink.in_place == 0, "a chunked or encoded body was lent memory");
        else if (t->stream == STREAM_IN_PLACE)
            check(sink.in_place > 0, "nothing was read in place");
        else if (t->stream == STREAM_GIVEN_BACK)
            check(sink.puts > 0, "the read that found the end did not give the memory back");
        if (err == 0)
            check(hr_request_status(req) == t->want_status, "status");
        if (err == 0 && t->want_body)
            check(sink.len == strlen(t->want_body) && memcmp(sink.buf, t->want_body, sink.len) == 0,
                  "streamed body");
    }
    if (err != t->want_err) {
        fprintf(stderr, "  got error %d (%s), want %d\n", err, hr_request_error_message(req),
                t->want_err);
        check(0, "error code");
    } else if (err == 0 && !t->stream) {
        size_t len;
        const char *body = hr_request_body(req, &len);
        check(hr_request_status(req) == t->want_status, "status");
        if (t->want_body)
            check(len == strlen(t->want_body) && memcmp(body, t->want_body, len) == 0, "body");
        /* the body moved out: the caller owns it, the request's is then empty */
        size_t tlen, after;
        char *taken = hr_request_take_body(req, &tlen);
        check(tlen == len && (taken == NULL) == (len == 0), "taken body length");
        if (t->want_body)
            check(tlen == strlen(t->want_body) &&
                      (tlen == 0 || memcmp(taken, t->want_body, tlen) == 0),
                  "taken body content");
        hr_request_body(req, &after);
        check(after == 0, "body empty after take");
        hr_body_free(taken);
    }
    if (t->want_new_conn >= 0)
        check((accepted > accepted_before) == t->want_new_conn, "connection reuse");
    hr_request_free(req);
    current++;
    start_case();
}

static void on_stopped(uv_handle_t *h) { (void)h; }

static void start_case(void)
{
    if (current == NCASES) {
        hr_client_close(client); /* frees itself once its connections are closed */
        uv_close((uv_handle_t *)&server, on_stopped);
        return;
    }
    const tcase_t *t = &cases[current];
    char url[128];
    snprintf(url, sizeof(url), "%s://127.0.0.1:%d%s", t->https ? "https" : "http", port,
             t->path);
    hr_header_t hs[] = {{"accept", 6, "*/*", 3}};
    int err;
    char ebuf[256];
    hr_request_t *req = hr_request_new(t->method, strlen(t->method), url, strlen(url), hs, 1,
                                       NULL, 0, &err, ebuf, sizeof(ebuf));
    if (req == NULL) {
        fprintf(stderr, "hr_request_new: %s\n", ebuf);
        exit(2);
    }
    hr_request_set_timeout(req, t->timeout_ms ? t->timeout_ms : 5000);
    if (t->stream) {
        memset(&sink, 0, sizeof(sink));
        hr_request_set_stream(req, &sink_cbs);
    }
    if (t->upload) {
        hr_request_add_part_mem(req, "abc", 3);
        hr_request_add_part_mem(req, "defgh", 5);
    }
    accepted_before = accepted;
    if (hr_client_start(client, req, on_done) != 0) {
        fprintf(stderr, "hr_client_start failed\n");
        exit(2);
    }
    if (t->cancel)
        hr_request_cancel(req);
}

int main(void)
{
    uint32_t x = 12345;
    for (size_t i = 0; i + 1 < sizeof(large_text); i++) {
        x = x * 1103515245u + 12345u;
        large_text[i] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"[x >> 26];
    }
    uv_loop_init(&loop);
    uv_tcp_init(&loop, &server);
    struct sockaddr_in addr;
    uv_ip4_addr("127.0.0.1", 0, &addr);
    uv_tcp_bind(&server, (const struct sockaddr *)&addr, 0);
    if (uv_listen((uv_stream_t *)&server, 128, s_on_conn) != 0)
        return 2;
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    uv_tcp_getsockname(&server, (struct sockaddr *)&ss, &len);
    port = ntohs(((struct sockaddr_in *)&ss)->sin_port);

    hr_client_config_t cfg = {0};
    cfg.follow_redirects = 1;
    cfg.max_redirects = 5;
    cfg.cookie_store = 1;
    client = hr_client_new(&loop, &cfg);
    start_case();
    uv_run(&loop, UV_RUN_DEFAULT);

    hr_stats_t st;
    hr_get_stats(&st);
    if (st.requests != 0 || st.conns != 0 || st.clients != 0) {
        fprintf(stderr, "FAIL leak: requests=%lld conns=%lld clients=%lld\n",
                (long long)st.requests, (long long)st.conns, (long long)st.clients);
        failures++;
    }
    if (uv_loop_close(&loop) != 0) {
        fprintf(stderr, "FAIL: handles left open on the loop\n");
        failures++;
    }
    printf("%zu cases, %d failures\n", NCASES, failures);
    return failures ? 1 : 0;
}
