/*
 * conn.c — one HTTP/1.1 connection (loop thread).
 *
 *   RESOLVING → CONNECTING → [HANDSHAKING →] ACTIVE ⇄ IDLE
 *        any state → CLOSING → freed (when its handles' close callbacks have run)
 *
 * Over https the socket carries TLS (tls.c): bytes read are fed to OpenSSL and the plaintext
 * it yields takes the same path as plain http bytes (on_plain); writes go through
 * hr__conn_write, which encrypts.
 *
 * A connection carries at most one request at a time (conn->req). It owns a timer (the
 * request's per-wait timeout while ACTIVE/connecting, the idle expiry while IDLE) and one TCP
 * handle per connect attempt. Idle connections keep reading, so a server that closes them is
 * noticed at once and they are never handed out again.
 *
 * Errors on a request are captured here as a code plus message (hr__request_fail) before the
 * request is handed back; a connection that saw an error is closed, never pooled.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "internal.h"

static void conn_timer_cb(uv_timer_t *t);
static void start_connect(hr_conn_t *conn);

/* ---- lifetime ---- */

hr_conn_t *hr__conn_new(hr_client_t *c, hr_origin_t *o)
{
    hr_conn_t *conn = calloc(1, sizeof(*conn));
    if (conn == NULL)
        return NULL;
    conn->client = c;
    conn->origin = o;
    hr_queue_init(&conn->link);
    uv_timer_init(c->loop, &conn->timer);
    conn->timer.data = conn;
    conn->handles_open = 1;
    c->nconns++;
    o->nconns++;
    atomic_fetch_add(&hr__stat_conns, 1);
    return conn;
}

static void conn_maybe_free(hr_conn_t *conn)
{
    if (conn->handles_open > 0)
        return;
    hr_client_t *c = conn->client;
    hr__tls_conn_free(conn);
    free(conn->addrs);
    hr_buf_free(&conn->field);
    hr_buf_free(&conn->value);
    free(conn);
    atomic_fetch_sub(&hr__stat_conns, 1);
    hr__conn_freed(c);
}

static void on_handle_closed(uv_handle_t *h)
{
    hr_conn_t *conn = h->data;
    if (h->type == UV_TCP)
        free(h);
    conn->handles_open--;
    conn_maybe_free(conn);
}

static void close_tcp(hr_conn_t *conn)
{
    if (conn->upload != NULL) {
        hr__upload_abandon(conn->upload);
        conn->upload = NULL;
    }
    if (conn->tcp != NULL) {
        uv_close((uv_handle_t *)conn->tcp, on_handle_closed);
        conn->tcp = NULL;
        conn->write_pending = false; /* its callback runs with UV_ECANCELED */
        hr__tls_cancel_writes(conn); /* likewise for writes TLS had not handed over yet */
    }
}

/* Closes the connection. Its request, if any, must have been detached first. */
void hr__conn_close(hr_conn_t *conn)
{
    if (conn->state == HR_CONN_CLOSING)
        return;
    if (conn->state == HR_CONN_IDLE)
        hr_queue_remove(&conn->link);
    if (conn->tls != NULL && (conn->state == HR_CONN_IDLE ||
                              (conn->state == HR_CONN_ACTIVE && conn->msg_done)))
        hr__tls_shutdown(conn); /* a graceful close: close_notify, best effort */
    conn->state = HR_CONN_CLOSING;
    conn->origin->nconns--;
    uv_timer_stop(&conn->timer);
    uv_close((uv_handle_t *)&conn->timer, on_handle_closed);
    close_tcp(conn);
    if (conn->gai_pending)
        uv_cancel((uv_req_t *)conn->gai); /* on_resolved still runs and drops its ref */
}

/* Detaches the request from the connection. */
static hr_request_t *detach(hr_conn_t *conn)
{
    hr_request_t *req = conn->req;
    conn->req = NULL;
    if (req != NULL)
        req->conn = NULL;
    return req;
}

/* Error path: the request (which has its error set) completes, the connection closes. */
static void conn_abort(hr_conn_t *conn)
{
    hr_request_t *req = detach(conn);
    hr__conn_close(conn);
    if (req != NULL)
        hr__client_request_done(conn->client, req);
}

/*
 * A failure before any response byte on a reused connection: the server most likely closed
 * the idle connection as we reused it. Idempotent requests get one more try on a new
 * connection; others fail with the given error.
 */
static void conn_fail_or_retry(hr_conn_t *conn, int err, const char *msg)
{
    hr_request_t *req = conn->req;
    if (req != NULL && conn->reused && !req->got_bytes && req->idempotent && req->retries == 0) {
        detach(conn);
        hr__conn_close(conn);
        hr__request_retry(req);
        return;
    }
    if (req != NULL)
        hr__request_fail(req, err, "%s", msg);
    conn_abort(conn);
}

/* ---- timers ---- */

static void arm_request_timer(hr_conn_t *conn, uint64_t ms)
{
    uv_timer_start(&conn->timer, conn_timer_cb, ms, 0);
}

/* Per-wait timeout before the head: whatever remains until the request's deadline. */
static void arm_head_timer(hr_conn_t *conn, hr_request_t *req)
{
    if (req->timeout_ms == 0) {
        uv_timer_stop(&conn->timer);
        return;
    }
    uint64_t now = uv_now(conn->client->loop);
    arm_request_timer(conn, req->deadline > now ? req->deadline - now : 0);
}

static void conn_timer_cb(uv_timer_t *t)
{
    hr_conn_t *conn = t->data;
    hr_request_t *req = conn->req;
    if (conn->state == HR_CONN_IDLE || req == NULL) {
        hr__conn_close(conn); /* idle expiry */
        return;
    }
    double s = (double)req->timeout_ms / 1000.0;
    if (conn->state == HR_CONN_RESOLVING || conn->state == HR_CONN_CONNECTING)
        hr__request_fail(req, HR_E_CONNECT_TIMEOUT, "timed out after %g s connecting to %s:%u",
                         s, req->target.host, (unsigned)req->target.port);
    else if (conn->state == HR_CONN_HANDSHAKING)
        hr__request_fail(req, HR_E_CONNECT_TIMEOUT,
                         "timed out after %g s in the TLS handshake with %s:%u", s,
                         req->target.host, (unsigned)req->target.port);
    else if (!conn->headers_done)
        hr__request_fail(req, HR_E_READ_TIMEOUT,
                         "timed out after %g s waiting for the response headers", s);
    else
        hr__request_fail(req, HR_E_READ_TIMEOUT,
                         "timed out after %g s waiting for the next chunk of the response body",
                         s);
    conn_abort(conn);
}

/* ---- resolve and connect ---- */

static void on_resolved(uv_getaddrinfo_t *gai, int status, struct addrinfo *res)
{
    hr_conn_t *conn = gai->data;
    free(gai);
    conn->gai = NULL;
    conn->gai_pending = false;
    conn->handles_open--;
    if (conn->state == HR_CONN_CLOSING) {
        uv_freeaddrinfo(res);
        conn_maybe_free(conn);
        return;
    }
    hr_request_t *req = conn->req;
    if (status < 0) {
        hr__request_fail(req, HR_E_CONNECT,
                         "dns error: failed to lookup address information for %s: %s",
                         req->target.host, uv_strerror(status));
        conn_abort(conn);
        return;
    }
    conn->naddrs = 0;
    for (struct addrinfo *ai = res; ai != NULL && conn->naddrs < HR_CONN_MAX_ADDRS; ai = ai->ai_next) {
        if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
            continue;
        memcpy(&conn->addrs[conn->naddrs++], ai->ai_addr, ai->ai_addrlen);
    }
    uv_freeaddrinfo(res);
    if (conn->naddrs == 0) {
        hr__request_fail(req, HR_E_CONNECT, "dns error: no address for %s", req->target.host);
        conn_abort(conn);
        return;
    }
    hr__dns_cache_put(req->target.host, req->target.port, conn->addrs, conn->naddrs,
                      uv_now(conn->client->loop));
    start_connect(conn);
}

/* Starts resolving and connecting for `req`, which is bound to this new connection. */
void hr__conn_connect(hr_conn_t *conn, hr_request_t *req)
{
    hr_client_t *c = conn->client;
    conn->req = req;
    req->conn = conn;
    req->state = HR_REQ_ON_CONN;
    req->reused = false;
    conn->headers_done = false;
    conn->is_tls = req->target.tls;
    arm_head_timer(conn, req);
    conn->next_addr = 0;
    /* The addresses matter only until TCP is up, and are sized to what is known: an IP
     * literal or a cached name takes one or a few, a lookup HR_CONN_MAX_ADDRS (10,000
     * connections opening at once: no 1 KiB each). */
    struct sockaddr_storage known[HR_CONN_MAX_ADDRS];
    int n = 0;
    if (hr__parse_ip_literal(req->target.host, req->target.port, &known[0]))
        n = 1;
    else
        n = hr__dns_cache_get(req->target.host, req->target.port, known, HR_CONN_MAX_ADDRS,
                              uv_now(c->loop));
    conn->addrs = malloc((size_t)(n > 0 ? n : HR_CONN_MAX_ADDRS) * sizeof(*conn->addrs));
    if (conn->addrs == NULL) {
        hr__request_fail(req, HR_E_NOMEM, "out of memory");
        conn_abort(conn);
        return;
    }
    if (n > 0) {
        memcpy(conn->addrs, known, (size_t)n * sizeof(*conn->addrs));
        conn->naddrs = n;
        start_connect(conn);
        return;
    }
    conn->state = HR_CONN_RESOLVING;
    char port[8];
    snprintf(port, sizeof(port), "%u", (unsigned)req->target.port);
    struct addrinfo hints;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_ADDRCONFIG;
    conn->gai = malloc(sizeof(*conn->gai));
    if (conn->gai == NULL) {
        hr__request_fail(req, HR_E_NOMEM, "out of memory");
        conn_abort(conn);
        return;
    }
    conn->gai->data = conn;
    int rc = uv_getaddrinfo(c->loop, conn->gai, on_resolved, req->target.host, port, &hints);
    if (rc < 0) {
        free(conn->gai);
        conn->gai = NULL;
        hr__request_fail(req, HR_E_CONNECT, "dns error: %s", uv_strerror(rc));
        conn_abort(conn);
        return;
    }
    conn->gai_pending = true;
    conn->handles_open++;
}

static void on_connect(uv_connect_t *creq, int status);
static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
/* One read syscall's worth of memory lent by a stream's consumer. */
#define HR_LEND_READ_MAX (256 * 1024)

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf);

static void connect_failed(hr_conn_t *conn, int status)
{
    conn->last_connect_err = status;
    close_tcp(conn);
    if (conn->next_addr < conn->naddrs) {
        start_connect(conn); /* try the next address (e.g. ::1 refused, 127.0.0.1 listening) */
        return;
    }
    hr_request_t *req = conn->req;
    hr__request_fail(req, HR_E_CONNECT, "%s connecting to %s:%u",
                     status == UV_ECONNREFUSED ? "connection refused" : uv_strerror(status),
                     req->target.host, (unsigned)req->target.port);
    conn_abort(conn);
}

/* The handshake (or setting it up) failed with code `rc` and message `msg`. */
static void handshake_failed(hr_conn_t *conn, int rc, const char *msg)
{
    hr_request_t *req = conn->req;
    hr__request_fail(req, rc, "TLS handshake with %s:%u failed: %s", req->target.host,
                     (unsigned)req->target.port, msg);
    conn_abort(conn);
}

/* TCP is up on an https connection: the ClientHello goes out, the handshake runs in on_read. */
static void start_tls(hr_conn_t *conn)
{
    hr_client_t *c = conn->client;
    hr_request_t *req = conn->req;
    char msg[200];
    int rc = 0;
    if (c->tls == NULL) {
        c->tls = hr_tls_get(NULL, &rc, msg, sizeof(msg));
        if (c->tls == NULL)
            goto fail;
    }
    rc = hr__tls_conn_new(conn, c->tls, req->target.host, msg, sizeof(msg));
    if (rc != 0)
        goto fail;
    conn->state = HR_CONN_HANDSHAKING;
    uv_read_start((uv_stream_t *)conn->tcp, alloc_cb, on_read);
    conn->reading = true;
    rc = hr__tls_handshake(conn, msg, sizeof(msg)); /* writes the ClientHello */
    if (rc >= 0)
        return;
fail:
    handshake_failed(conn, rc == HR_E_NOMEM ? HR_E_NOMEM : HR_E_TLS, msg);
}

static void start_connect(hr_conn_t *conn)
{
    hr_client_t *c = conn->client;
    conn->state = HR_CONN_CONNECTING;
    const struct sockaddr *addr = (const struct sockaddr *)&conn->addrs[conn->next_addr++];
    conn->tcp = malloc(sizeof(*conn->tcp));
    if (conn->tcp == NULL) {
        hr__request_fail(conn->req, HR_E_NOMEM, "out of memory");
        conn_abort(conn);
        return;
    }
    uv_tcp_init(c->loop, conn->tcp);
    conn->tcp->data = conn;
    conn->reading = false;
    conn->handles_open++;
    uv_tcp_nodelay(conn->tcp, 1);
    conn->connect_req.data = conn;
    int rc = uv_tcp_connect(&conn->connect_req, conn->tcp, addr, on_connect);
    if (rc < 0)
        connect_failed(conn, rc);
}

static void on_connect(uv_connect_t *creq, int status)
{
    hr_conn_t *conn = creq->data;
    if (status == UV_ECANCELED || conn->state == HR_CONN_CLOSING)
        return;
    if (creq->handle != (uv_stream_t *)conn->tcp)
        return; /* a stale attempt whose handle is closing */
    if (status < 0) {
        connect_failed(conn, status);
        return;
    }
    free(conn->addrs);
    conn->addrs = NULL;
    if (conn->is_tls) {
        start_tls(conn);
        return;
    }
    hr__conn_send(conn, conn->req);
}

/* ---- request / response ---- */

/*
 * Whether the next bytes read will all be bytes of the final response's body, framed by its
 * Content-Length or by the close (not chunked). Then *len is lowered to what is left of a body
 * of known length, so that the next message can't land where they are read.
 */
static bool body_bytes_next(hr_conn_t *conn, size_t *len)
{
    hr_request_t *req = conn->req;
    if (req == NULL || conn->state != HR_CONN_ACTIVE || !conn->headers_done || conn->msg_done ||
        req->status < 200 || req->redirecting || conn->te_seen)
        return false;
    if (conn->parser.flags & F_CONTENT_LENGTH) {
        if (conn->parser.content_length == 0)
            return false;
        if (conn->parser.content_length < *len)
            *len = (size_t)conn->parser.content_length;
        return true;
    }
    return llhttp_message_needs_eof(&conn->parser);
}

/*
 * A streamed response whose body is passed on unchanged (not decoded): memory of the
 * consumer's (hr_stream_cb_t.get_buffer) for the next at most *len bytes read. NULL: read
 * into the engine's own buffer.
 */
static char *lend_buffer(hr_conn_t *conn, size_t *len)
{
    hr_request_t *req = conn->req;
    if (req == NULL || req->stream == NULL || req->stream->get_buffer == NULL ||
        req->decoder != NULL || req->paused || !body_bytes_next(conn, len))
        return NULL;
    char *p = req->stream->get_buffer(req, len);
    if (p != NULL && *len == 0) {
        req->stream->put_buffer(req);
        p = NULL;
    }
    conn->lent = p;
    return p;
}

/* The read into lent memory brought nothing: give it back (see hr_stream_cb_t). */
static void unlend(hr_conn_t *conn)
{
    if (conn->lent == NULL)
        return;
    conn->lent = NULL;
    conn->req->stream->put_buffer(conn->req);
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    hr_conn_t *conn = h->data;
    hr_request_t *req = conn->req;
    (void)suggested;
    if (conn->tls == NULL && req != NULL) {
        /* A streamed body goes where its consumer says (lend_buffer); the rest of a buffered
         * body of known length straight into the body's buffer. One copy less per byte (the
         * sink sees its bytes already in place), never past the body's end. */
        size_t len = HR_LEND_READ_MAX; /* the consumer may lower it */
        char *p = lend_buffer(conn, &len);
        if (p != NULL) {
            *buf = uv_buf_init(p, (unsigned)len);
            return;
        }
        len = req->body_out.cap - req->body_out.len;
        if (req->stream == NULL && len >= 4096 && (conn->parser.flags & F_CONTENT_LENGTH) &&
            body_bytes_next(conn, &len)) {
            *buf = uv_buf_init(req->body_out.data + req->body_out.len, (unsigned)len);
            return;
        }
    }
    /* One buffer per client is enough: libuv hands it back to read_cb before the next
     * alloc_cb, and each client's connections live on a single loop thread. */
    buf->base = conn->client->rbuf;
    buf->len = HR_READ_BUF_SIZE;
}

static void finish_response(hr_conn_t *conn)
{
    hr_request_t *req = detach(conn);
    hr_client_t *c = conn->client;
    uv_timer_stop(&conn->timer);
    /* Pool only when the framing is certain: keep-alive, nothing after the message, and
     * the whole request written (a server that answered early may not have read it). */
    bool reusable = conn->keep_alive && !conn->leftover && !conn->write_pending;
    hr__conn_released(conn, reusable);
    if (req->redirecting)
        hr__request_follow(req); /* the next hop, without a trip back to the caller */
    else if (req->stream == NULL)
        hr__request_decode(req); /* decodes / reads ahead if needed, then completes it */
    else
        hr__client_request_done(c, req);
}

/*
 * The response ended exactly where a plain read that filled its buffer ended: reads of a body
 * of known length stop at its end (alloc_cb), so whatever the server sent after it is still
 * in the socket, where neither llhttp nor the idle connection's read has seen it, and a
 * request waiting for a connection would take this one at once. Looks without reading (one
 * syscall, only in this case): bytes there mean the connection is poisoned (they must never
 * be read as the next request's response), the end of the stream that it is closing.
 */
static bool more_in_socket(hr_conn_t *conn)
{
    uv_os_fd_t fd;
    if (uv_fileno((const uv_handle_t *)conn->tcp, &fd) != 0)
        return true; /* can't tell: don't reuse */
    char b;
    ssize_t r;
    do
        r = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    while (r < 0 && errno == EINTR);
    return !(r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
}

/*
 * Response bytes (plaintext). Returns true when the caller must stop feeding this request:
 * it finished (the connection may already serve another), failed, or was paused.
 */
static bool on_plain(hr_conn_t *conn, const char *p, size_t n)
{
    hr_request_t *req = conn->req;
    req->got_bytes = true;
    llhttp_errno_t err = llhttp_execute(&conn->parser, p, n);
    if (err == HPE_PAUSED && conn->msg_done) {
        const char *pos = llhttp_get_error_pos(&conn->parser);
        if (pos != NULL && pos < p + n)
            conn->leftover = true;
        else if (conn->tls != NULL && hr__tls_more_data(conn))
            conn->leftover = true; /* more application data in TLS records already read */
        else if (req->input_pending && conn->keep_alive &&
                 (conn->tls != NULL || more_in_socket(conn)))
            /* the read that ended the response filled its buffer: there may be more behind
             * it. (TLS: a session ticket can't be told from a stray response without reading
             * it, and a read ending exactly where the response does is rare: don't reuse.) */
            conn->leftover = true;
        finish_response(conn);
        return true;
    }
    if (err != HPE_OK) {
        /* a callback's own failure (HPE_USER, HPE_CB_MESSAGE_COMPLETE…) is recorded already */
        if (conn->cb_err == 0)
            hr__request_fail(req, HR_E_PROTOCOL, "invalid HTTP response: %s",
                             llhttp_get_error_reason(&conn->parser));
        conn_abort(conn);
        return true;
    }
    if (req->paused) {
        /* backpressure: the stream's consumer is behind; no timeout while we wait */
        uv_read_stop((uv_stream_t *)conn->tcp);
        conn->reading = false;
        uv_timer_stop(&conn->timer);
        return true;
    }
    /* per-wait timeout: each chunk of the body resets it */
    if (conn->headers_done && req->timeout_ms)
        arm_request_timer(conn, req->timeout_ms);
    return false;
}

/* The response stream ended. `truncated_tls`: a TLS peer closed TCP without close_notify. */
static void on_eof(hr_conn_t *conn, bool truncated_tls)
{
    hr_request_t *req = conn->req;
    if (req->got_bytes) {
        if (truncated_tls && conn->headers_done && !conn->msg_done &&
            llhttp_message_needs_eof(&conn->parser)) {
            /* a read-until-close body: without close_notify, truncation is indistinguishable
             * from the end */
            hr__request_fail(req, HR_E_READ,
                             "peer closed the TLS connection without close_notify: the "
                             "response body may be truncated");
            conn_abort(conn);
            return;
        }
        llhttp_errno_t err = llhttp_finish(&conn->parser);
        if (conn->msg_done && (err == HPE_OK || err == HPE_PAUSED)) {
            conn->keep_alive = false; /* close-delimited */
            finish_response(conn);
            return;
        }
        if (conn->cb_err != 0) { /* the callback recorded the error */
            conn_abort(conn);
            return;
        }
        if (conn->headers_done)
            hr__request_fail(req, HR_E_READ,
                             "peer closed connection without sending complete message body");
        else
            hr__request_fail(req, HR_E_PROTOCOL,
                             "peer closed connection in the middle of the response head");
        conn_abort(conn);
        return;
    }
    conn_fail_or_retry(conn, HR_E_PROTOCOL, "server disconnected without sending a response");
}

static void on_read_error(hr_conn_t *conn, ssize_t nread)
{
    hr_request_t *req = conn->req;
    char msg[128];
    snprintf(msg, sizeof(msg), "%s while reading the response",
             nread == UV_ECONNRESET ? "connection reset by peer" : uv_strerror((int)nread));
    if (!req->got_bytes) {
        conn_fail_or_retry(conn, HR_E_READ, msg);
        return;
    }
    hr__request_fail(req, HR_E_READ, "%s", msg);
    conn_abort(conn);
}

/* TLS: steps the handshake, then decrypts what has been read and feeds it to the parser. */
static void tls_drain(hr_conn_t *conn)
{
    hr_client_t *c = conn->client;
    char msg[200];
    if (conn->state == HR_CONN_HANDSHAKING) {
        hr_request_t *req = conn->req;
        int rc = hr__tls_handshake(conn, msg, sizeof(msg));
        if (rc == 0)
            return; /* more of the server's flight to come */
        if (rc < 0) {
            handshake_failed(conn, rc, msg);
            return;
        }
        hr__conn_send(conn, req); /* our Finished and the request leave together */
    }
    for (;;) {
        if (conn->state == HR_CONN_IDLE) {
            /* only session tickets or a KeyUpdate may arrive on an idle connection */
            int r = hr__tls_read(conn, c->rbuf, HR_READ_BUF_SIZE, msg, sizeof(msg));
            if (r != 0)
                hr__conn_close(conn);
            return;
        }
        if (conn->state != HR_CONN_ACTIVE || conn->req == NULL)
            return;
        hr_request_t *req = conn->req;
        if (req->paused)
            return;
        size_t len = HR_READ_BUF_SIZE;
        char *dst = lend_buffer(conn, &len);
        if (dst == NULL)
            dst = c->rbuf;
        int r = hr__tls_read(conn, dst, len, msg, sizeof(msg));
        if (r > 0) {
            conn->lent = NULL; /* on_plain() hands the bytes to on_data() where they are */
            on_plain(conn, dst, (size_t)r);
            continue; /* the loop re-checks what became of the connection */
        }
        unlend(conn);
        if (r == 0)
            return;
        if (r == HR_TLS_EOF) {
            on_eof(conn, !hr__tls_clean_eof(conn));
            return;
        }
        char full[256];
        snprintf(full, sizeof(full), "%s while reading the response", msg);
        if (r == HR_E_TLS && req->got_bytes)
            r = HR_E_READ; /* the response had begun: report it as the read it broke */
        if (!req->got_bytes) {
            conn_fail_or_retry(conn, r, full);
            return;
        }
        hr__request_fail(req, r, "%s", full);
        conn_abort(conn);
        return;
    }
}

static void on_read_tls(hr_conn_t *conn, ssize_t nread, const uv_buf_t *buf)
{
    if (nread < 0 && nread != UV_EOF) {
        if (conn->state == HR_CONN_IDLE) {
            hr__conn_close(conn);
        } else if (conn->state == HR_CONN_HANDSHAKING) {
            hr_request_t *req = conn->req;
            hr__request_fail(req, HR_E_CONNECT, "%s in the TLS handshake with %s:%u",
                             nread == UV_ECONNRESET ? "connection reset by peer"
                                                    : uv_strerror((int)nread),
                             req->target.host, (unsigned)req->target.port);
            conn_abort(conn);
        } else if (conn->state == HR_CONN_ACTIVE && conn->req != NULL) {
            on_read_error(conn, nread);
        }
        return;
    }
    if (nread > 0) {
        if (hr__tls_feed(conn, buf->base, (size_t)nread) != 0) {
            if (conn->req != NULL) {
                hr__request_fail(conn->req, HR_E_NOMEM, "out of memory");
                conn_abort(conn);
            } else {
                hr__conn_close(conn);
            }
            return;
        }
    } else {
        hr__tls_feed_eof(conn);
    }
    tls_drain(conn);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    hr_conn_t *conn = s->data;
    if (conn->req != NULL) /* 0: libuv's read loop met EAGAIN; short: the socket is drained */
        conn->req->input_pending = nread == (ssize_t)buf->len;
    if (nread > 0)
        conn->lent = NULL; /* on_plain() hands the bytes to on_data() where they are */
    else
        unlend(conn);
    if (nread == 0)
        return;
    if (conn->tls != NULL) {
        on_read_tls(conn, nread, buf);
        return;
    }
    if (conn->state == HR_CONN_IDLE) {
        /* the server closed (or wrote to) an idle connection: it can't be reused */
        hr__conn_close(conn);
        return;
    }
    if (conn->state != HR_CONN_ACTIVE || conn->req == NULL)
        return;
    if (nread > 0)
        on_plain(conn, buf->base, (size_t)nread);
    else if (nread == UV_EOF)
        on_eof(conn, false);
    else
        on_read_error(conn, nread);
}

static void on_write(uv_write_t *w, int status)
{
    hr_conn_t *conn = w->data;
    if (status == UV_ECANCELED || conn->state == HR_CONN_CLOSING)
        return;
    if (status >= 0 && conn->upload != NULL)
        return; /* the head is out; the streamed body follows (body.c) */
    conn->write_pending = false;
    if (status < 0 && conn->req != NULL) {
        char msg[128];
        snprintf(msg, sizeof(msg), "%s while sending the request", uv_strerror(status));
        conn_fail_or_retry(conn, HR_E_WRITE, msg);
    }
}

/* Writes what the socket takes now of `bufs` (one non-blocking writev) and drops it from
 * the front of `bufs`, leaving *nbufs at what is left (0 = all written). 0 or a libuv error;
 * the socket being full is not one. */
static int try_write_all(hr_conn_t *conn, uv_buf_t *bufs, unsigned *nbufs)
{
    int n = uv_try_write((uv_stream_t *)conn->tcp, bufs, *nbufs);
    if (n == UV_EAGAIN)
        return 0;
    if (n < 0)
        return n;
    size_t left = (size_t)n;
    unsigned i = 0;
    while (i < *nbufs && left >= bufs[i].len)
        left -= bufs[i++].len;
    if (i < *nbufs) {
        bufs[i].base += left;
        bufs[i].len -= left;
    }
    memmove(bufs, bufs + i, (*nbufs - i) * sizeof(*bufs));
    *nbufs -= i;
    return 0;
}

/* Sends `req` on a connected (new or pooled) connection. */
void hr__conn_send(hr_conn_t *conn, hr_request_t *req)
{
    conn->req = req;
    req->conn = conn;
    req->state = HR_REQ_ON_CONN;
    req->reused = conn->reused;
    req->got_bytes = false;
    req->tls_resumed = hr__tls_resumed(conn);
    req->tls_version = hr__tls_version(conn);
    conn->state = HR_CONN_ACTIVE;
    conn->headers_done = false;
    hr__h1_begin(conn);
    arm_head_timer(conn, req);

    uv_buf_t bufs[2];
    unsigned nbufs = 1;
    bufs[0] = uv_buf_init(req->head, (unsigned)req->head_len);
    if (req->has_body) {
        bufs[1] = uv_buf_init((char *)req->body, (unsigned)req->body_len);
        nbufs = 2;
    }
    conn->write_req.data = conn;
    int rc = 0;
    if (conn->tls == NULL && req->parts == NULL) {
        /* Plain and whole: write straight away. A uv_write that completes at once still costs
         * an epoll_ctl (libuv re-arms the watcher when its write queue drains) and a pending
         * callback; most requests fit the socket's buffer, and only what is left is queued. */
        rc = try_write_all(conn, bufs, &nbufs);
    }
    if (rc == 0 && nbufs > 0)
        rc = hr__conn_write(conn, &conn->write_req, bufs, nbufs, on_write);
    if (rc < 0) {
        char msg[128];
        snprintf(msg, sizeof(msg), "%s while sending the request", uv_strerror(rc));
        conn_fail_or_retry(conn, HR_E_WRITE, msg);
        return;
    }
    conn->write_pending = nbufs > 0;
    if (req->parts != NULL && hr__upload_start(conn, req) != 0) {
        hr__request_fail(req, HR_E_NOMEM, "out of memory");
        conn_abort(conn);
        return;
    }
    if (!conn->reading && !req->paused) {
        uv_read_start((uv_stream_t *)conn->tcp, alloc_cb, on_read);
        conn->reading = true;
    }
}

/* Writes on the connection: plain, or encrypted first over https. Same contract as uv_write. */
int hr__conn_write(hr_conn_t *conn, uv_write_t *w, const uv_buf_t *bufs, unsigned nbufs,
                   uv_write_cb cb)
{
    if (conn->tls != NULL)
        return hr__tls_write(conn, w, bufs, nbufs, cb);
    return uv_write(w, (uv_stream_t *)conn->tcp, bufs, nbufs, cb);
}

/* body.c: the streamed body is fully written (status 0) or its write failed. */
void hr__conn_upload_written(hr_conn_t *conn, int status)
{
    hr__upload_abandon(conn->upload);
    conn->upload = NULL;
    conn->write_pending = false;
    if (status < 0 && conn->req != NULL) {
        char msg[128];
        snprintf(msg, sizeof(msg), "%s while sending the request body", uv_strerror(status));
        conn_fail_or_retry(conn, HR_E_WRITE, msg);
    }
}

/* body.c: a file of the streamed body could not be read. */
void hr__conn_upload_failed(hr_conn_t *conn, int err, const char *msg)
{
    if (conn->req != NULL)
        hr__request_fail(conn->req, err, "%s", msg);
    conn_abort(conn);
}

void hr_request_pause(hr_request_t *req) { req->paused = true; }

void hr_request_resume(hr_request_t *req)
{
    if (!req->paused)
        return;
    req->paused = false;
    hr_conn_t *conn = req->conn;
    if (conn == NULL || conn->state != HR_CONN_ACTIVE || conn->reading)
        return;
    if (conn->tls != NULL && hr__tls_buffered(conn)) {
        tls_drain(conn); /* records read before the pause come first */
        if (conn->state != HR_CONN_ACTIVE || conn->req != req || req->paused || conn->reading)
            return; /* finished (req may be gone: compare pointers only), or paused again */
    }
    uv_read_start((uv_stream_t *)conn->tcp, alloc_cb, on_read);
    conn->reading = true;
    if (req->timeout_ms)
        arm_request_timer(conn, req->timeout_ms);
}

/* Puts a connection whose response is complete into its origin's idle list. */
void hr__conn_park(hr_conn_t *conn)
{
    hr_client_t *c = conn->client;
    conn->state = HR_CONN_IDLE;
    conn->reused = true;
    hr_queue_insert_head(&conn->origin->idle, &conn->link);
    uint64_t idle = c->config.idle_timeout_ms ? c->config.idle_timeout_ms
                                              : HR_DEFAULT_IDLE_TIMEOUT_MS;
    uv_timer_start(&conn->timer, conn_timer_cb, idle, 0);
}
