/*
 * pool.c — the client: request admission (max_inflight), the connection pool keyed by origin,
 * wait queues with deadlines, deferred completions and the client's own teardown.
 * Everything here runs on the loop thread, except hr_client_new().
 *
 * Checkout is O(1): each origin keeps its idle connections most-recently-used first, and
 * idle connections that the server closed have already removed themselves (conn.c reads
 * idle sockets), so the head of the list is always usable.
 */
#include <stdlib.h>

#include "internal.h"

static void sweep_cb(uv_timer_t *t);
static void client_maybe_free(hr_client_t *c);

hr_client_t *hr_client_new(uv_loop_t *loop, const hr_client_config_t *config)
{
    hr_client_t *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->loop = loop;
    if (config != NULL)
        c->config = *config;
    c->tls = hr_tls_ref(c->config.tls);
    c->config.tls = NULL; /* c->tls is the client's own reference */
    if (c->config.max_conns_per_origin == 0)
        c->config.max_conns_per_origin = HR_DEFAULT_MAX_CONNS_PER_ORIGIN;
    hr_queue_init(&c->queued);
    hr_queue_init(&c->deferred);
    hr_queue_init(&c->jar);
    c->nbuckets = 16;
    c->buckets = calloc(c->nbuckets, sizeof(*c->buckets));
    if (c->buckets == NULL) {
        free(c);
        return NULL;
    }
    atomic_fetch_add(&hr__stat_clients, 1);
    return c;
}

size_t hr_client_conn_count(const hr_client_t *c) { return c->nconns; }

static uint32_t hash_key(const char *s, size_t n)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h;
}

static hr_origin_t *origin_get(hr_client_t *c, const char *key, size_t n)
{
    uint32_t h = hash_key(key, n);
    hr_origin_t **slot = &c->buckets[h & (c->nbuckets - 1)];
    for (hr_origin_t *o = *slot; o != NULL; o = o->hnext)
        if (o->hash == h && o->key_len == n && memcmp(o->key, key, n) == 0)
            return o;
    hr_origin_t *o = calloc(1, sizeof(*o));
    if (o == NULL)
        return NULL;
    o->key = malloc(n + 1);
    if (o->key == NULL) {
        free(o);
        return NULL;
    }
    memcpy(o->key, key, n);
    o->key[n] = '\0';
    o->key_len = n;
    o->hash = h;
    hr_queue_init(&o->idle);
    hr_queue_init(&o->waiting);
    o->hnext = *slot;
    *slot = o;
    c->norigins++;
    return o;
}

/* ---- deadlines of queued requests, deferred completions ---- */

static void sweep_arm(hr_client_t *c, uint64_t due)
{
    if (!c->timer_inited || c->timer_closing)
        return;
    if (uv_is_active((uv_handle_t *)&c->sweep) && c->sweep_due <= due)
        return;
    uint64_t now = uv_now(c->loop);
    c->sweep_due = due;
    uv_timer_start(&c->sweep, sweep_cb, due > now ? due - now : 0, 0);
}

static void queue_wait(hr_client_t *c, hr_queue_t *q, hr_request_t *req, hr_req_state_t st)
{
    req->state = st;
    hr_queue_insert_tail(q, &req->link);
    if (req->timeout_ms)
        sweep_arm(c, req->deadline);
}

void hr__complete_later(hr_client_t *c, hr_request_t *req)
{
    req->state = HR_REQ_DEFERRED;
    hr_queue_insert_tail(&c->deferred, &req->link);
    sweep_arm(c, 0);
}

static void expire(hr_client_t *c, hr_request_t *req)
{
    hr_queue_remove(&req->link);
    hr__request_fail(req, HR_E_READ_TIMEOUT,
                     "timed out after %g s waiting for the response headers",
                     (double)req->timeout_ms / 1000.0);
    hr__client_request_done(c, req);
}

/* Scans a wait queue: expires what is due, returns the earliest remaining deadline. */
static uint64_t sweep_queue(hr_client_t *c, hr_queue_t *q, uint64_t now, uint64_t next)
{
    hr_queue_t *it = q->next;
    while (it != q) {
        hr_request_t *req = HR_CONTAINER_OF(it, hr_request_t, link);
        it = it->next;
        if (!req->timeout_ms)
            continue;
        if (req->deadline <= now)
            expire(c, req); /* may start others; `it` stays valid: only req left q */
        else if (req->deadline < next)
            next = req->deadline;
    }
    return next;
}

static void sweep_cb(uv_timer_t *t)
{
    hr_client_t *c = t->data;
    hr_queue_t done;
    hr_queue_move(&c->deferred, &done);
    while (!hr_queue_empty(&done)) {
        hr_request_t *req = HR_CONTAINER_OF(done.next, hr_request_t, link);
        hr_queue_remove(&req->link);
        hr__client_request_done(c, req);
    }
    uint64_t now = uv_now(c->loop), next = UINT64_MAX;
    next = sweep_queue(c, &c->queued, now, next);
    for (unsigned b = 0; b < c->nbuckets; b++)
        for (hr_origin_t *o = c->buckets[b]; o != NULL; o = o->hnext)
            next = sweep_queue(c, &o->waiting, now, next);
    if (next != UINT64_MAX)
        sweep_arm(c, next);
    client_maybe_free(c);
}

/* ---- dispatch ---- */

/* Gives the request a connection of its origin: an idle one, a new one, or a place in line. */
void hr__origin_dispatch(hr_client_t *c, hr_origin_t *o, hr_request_t *req)
{
    if (req->retries == 0 && !hr_queue_empty(&o->idle)) {
        hr_conn_t *conn = HR_CONTAINER_OF(o->idle.next, hr_conn_t, link);
        hr_queue_remove(&conn->link);
        uv_timer_stop(&conn->timer);
        hr__conn_send(conn, req);
        return;
    }
    /* A retry always gets a fresh connection, even above the cap (once per request). */
    if (o->nconns < c->config.max_conns_per_origin || req->retries > 0) {
        hr_conn_t *conn = hr__conn_new(c, o);
        if (conn == NULL) {
            hr__request_fail(req, HR_E_NOMEM, "out of memory");
            hr__complete_later(c, req);
            return;
        }
        hr__conn_connect(conn, req);
        return;
    }
    queue_wait(c, &o->waiting, req, HR_REQ_QUEUED_ORIGIN);
}

/* Sends an admitted request towards its origin; `later` defers a failure to the next tick
 * (inside hr_client_start the callback must not run yet). */
static void dispatch(hr_client_t *c, hr_request_t *req, bool later)
{
    hr_origin_t *o = origin_get(c, req->origin_key, req->origin_key_len);
    if (o == NULL) {
        hr__request_fail(req, HR_E_NOMEM, "out of memory");
        if (later)
            hr__complete_later(c, req);
        else
            hr__client_request_done(c, req);
        return;
    }
    hr__origin_dispatch(c, o, req);
}

static void admit(hr_client_t *c, hr_request_t *req)
{
    c->inflight++;
    dispatch(c, req, true);
}

int hr_client_start(hr_client_t *c, hr_request_t *req, hr_complete_cb cb)
{
    if (c->closing)
        return HR_E_CLOSED;
    if (req->state != HR_REQ_NEW)
        return HR_E_INVALID_METHOD;
    if (!c->timer_inited) {
        c->rbuf = malloc(HR_READ_BUF_SIZE);
        if (c->rbuf == NULL)
            return HR_E_NOMEM;
        uv_timer_init(c->loop, &c->sweep);
        c->sweep.data = c;
        c->timer_inited = true;
    }
    req->client = c;
    req->cb = cb;
    req->deadline = req->timeout_ms ? uv_now(c->loop) + req->timeout_ms : UINT64_MAX;
    if (c->config.https_only && !req->target.tls) {
        hr__request_fail(req, HR_E_INVALID_URL, "https_only is set: refusing %.200s",
                         req->url);
        c->inflight++;
        hr__complete_later(c, req);
        return 0;
    }
    if (c->config.cookie_store && hr__jar_header_for(c, req) != 0) {
        hr__request_fail(req, HR_E_NOMEM, "out of memory");
        c->inflight++;
        hr__complete_later(c, req);
        return 0;
    }
    if (c->config.max_inflight && c->inflight >= c->config.max_inflight) {
        queue_wait(c, &c->queued, req, HR_REQ_QUEUED_CLIENT);
        return 0;
    }
    admit(c, req);
    return 0;
}

/* ---- redirects ---- */

static bool has_scheme(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (ch == ':')
            return i > 0;
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
              (i > 0 && ((ch >= '0' && ch <= '9') || ch == '+' || ch == '-' || ch == '.'))))
            return false;
    }
    return false;
}

/* RFC 3986 §5.2.4, in place on a NUL-terminated path (no query). */
static void remove_dot_segments(char *path)
{
    char *out = path, *in = path;
    while (*in) {
        if (strncmp(in, "../", 3) == 0)
            in += 3;
        else if (strncmp(in, "./", 2) == 0)
            in += 2;
        else if (strncmp(in, "/./", 3) == 0)
            in += 2;
        else if (strcmp(in, "/.") == 0)
            in[1] = '\0';
        else if (strncmp(in, "/../", 4) == 0 || strcmp(in, "/..") == 0) {
            in += 3;
            if (*in == '\0') {
                in--;
                *in = '/';
            }
            while (out > path && *--out != '/')
                ;
        } else if (strcmp(in, ".") == 0 || strcmp(in, "..") == 0) {
            break;
        } else {
            do
                *out++ = *in++;
            while (*in && *in != '/');
        }
    }
    *out = '\0';
}

static char *resolve_encoded(const char *base, const char *loc, size_t ll);

/* Percent-encodes what servers put raw in Location but a request line can't carry: spaces,
 * a few delimiters and non-ASCII bytes (WHATWG URL rules). Control bytes stay, and the URL
 * parser then refuses them. Returns malloc'd or NULL. */
static char *encode_location(const char *loc, size_t ll, size_t *out_len)
{
    static const char hex[] = "0123456789ABCDEF";
    char *out = malloc(ll * 3 + 1);
    if (out == NULL)
        return NULL;
    size_t n = 0;
    for (size_t i = 0; i < ll; i++) {
        unsigned char c = (unsigned char)loc[i];
        if (c == ' ' || c >= 0x80 || c == '"' || c == '<' || c == '>' || c == '`' ||
            c == '{' || c == '}' || c == '|' || c == '\\' || c == '^') {
            out[n++] = '%';
            out[n++] = hex[c >> 4];
            out[n++] = hex[c & 15];
        } else {
            out[n++] = (char)c;
        }
    }
    out[n] = '\0';
    *out_len = n;
    return out;
}

/* Resolves a Location against the current URL (RFC 3986 §5.2). Returns malloc'd or NULL. */
static char *resolve_location(const char *base, const char *raw, size_t raw_len)
{
    size_t ll;
    char *enc = encode_location(raw, raw_len, &ll);
    if (enc == NULL)
        return NULL;
    char *res = resolve_encoded(base, enc, ll);
    free(enc);
    return res;
}

static char *resolve_encoded(const char *base, const char *loc, size_t ll)
{
    const char *hash = memchr(loc, '#', ll);
    if (hash)
        ll = (size_t)(hash - loc);
    const char *sep = strstr(base, "://");
    if (sep == NULL)
        return NULL;
    size_t scheme_len = (size_t)(sep - base);
    const char *auth = sep + 3;
    size_t auth_len = strcspn(auth, "/?#");
    const char *bpath = auth + auth_len;
    size_t bpath_len = strcspn(bpath, "?#");
    size_t cap = strlen(base) + ll + 8;
    char *out = malloc(cap);
    if (out == NULL)
        return NULL;
    if (has_scheme(loc, ll)) {
        memcpy(out, loc, ll);
        out[ll] = '\0';
        return out;
    }
    if (ll >= 2 && loc[0] == '/' && loc[1] == '/') {
        snprintf(out, cap, "%.*s:%.*s", (int)scheme_len, base, (int)ll, loc);
        return out;
    }
    int n = snprintf(out, cap, "%.*s://%.*s", (int)scheme_len, base, (int)auth_len, auth);
    char *path = out + n;
    size_t room = cap - (size_t)n;
    if (ll == 0) {
        snprintf(path, room, "%.*s", (int)(strlen(bpath) - strcspn(bpath, "#")), bpath);
        return out;
    }
    if (loc[0] == '?') {
        snprintf(path, room, "%.*s%.*s", (int)bpath_len, bpath, (int)ll, loc);
        return out;
    }
    const char *q = memchr(loc, '?', ll);
    size_t lp = q ? (size_t)(q - loc) : ll;
    if (loc[0] == '/') {
        snprintf(path, room, "%.*s", (int)lp, loc);
    } else {
        /* merge: the base path up to its last '/', then the reference */
        size_t dir = 0;
        for (size_t i = 0; i < bpath_len; i++)
            if (bpath[i] == '/')
                dir = i + 1;
        if (dir == 0)
            snprintf(path, room, "/%.*s", (int)lp, loc);
        else
            snprintf(path, room, "%.*s%.*s", (int)dir, bpath, (int)lp, loc);
    }
    remove_dot_segments(path);
    if (q)
        strncat(out, q, ll - lp);
    return out;
}

/* Referer for a hop: the previous URL without its fragment and userinfo. */
static int set_referer(hr_request_t *req, const char *url)
{
    req->referer.len = 0;
    const char *sep = strstr(url, "://");
    const char *auth = sep ? sep + 3 : url;
    size_t auth_len = strcspn(auth, "/?#");
    const char *at = NULL;
    for (size_t i = 0; i < auth_len; i++)
        if (auth[i] == '@')
            at = auth + i;
    size_t end = strcspn(url, "#");
    if (at != NULL) {
        if (hr_buf_append(&req->referer, url, (size_t)(auth - url)))
            return HR_E_NOMEM;
        return hr_buf_append(&req->referer, at + 1, end - (size_t)(at + 1 - url));
    }
    return hr_buf_append(&req->referer, url, end);
}

/*
 * The response just read is a redirect we follow: turn the request into its next hop and
 * dispatch it again. Credentials never cross to another origin, and stay off for the rest of
 * the chain once stripped. Loop thread.
 */
void hr__request_follow(hr_request_t *req)
{
    hr_client_t *c = req->client;
    size_t loc_len;
    const char *loc = hr__header_find(&req->headers, "location", &loc_len);
    req->redirecting = false;
    if (++req->redirects > c->config.max_redirects) {
        hr__request_fail(req, HR_E_TOO_MANY_REDIRECTS, "Exceeded maximum allowed redirects.");
        hr__client_request_done(c, req);
        return;
    }
    char *next = loc ? resolve_location(req->url, loc, loc_len) : NULL;
    if (next == NULL) {
        hr__request_fail(req, HR_E_NOMEM, "out of memory");
        hr__client_request_done(c, req);
        return;
    }
    hr_target_t old = req->target;
    req->target.host = NULL; /* keep the old host alive for the comparison below */
    char *old_url = req->url;
    int status = req->status;

    if ((status == 301 || status == 302 || status == 303) && !req->is_head) {
        memcpy(req->method, "GET", 3);
        req->method_len = 3;
        req->body = NULL;
        req->body_len = 0;
        req->has_body = false;
        req->is_upload = false;
        req->user_cl = false;
        req->body_dropped = true;
        req->idempotent = true;
        hr__parts_free(req->parts);
        req->parts = NULL;
    }
    req->url = next;
    req->url_len = strlen(next);
    char errbuf[256] = "";
    int rc = hr__request_build_head(req, errbuf, sizeof(errbuf));
    if (rc == 0) {
        bool cross = old.tls != req->target.tls || old.port != req->target.port ||
                     strcmp(old.host, req->target.host) != 0;
        if (cross)
            req->strip_credentials = true;
        if (c->config.https_only && !req->target.tls) {
            rc = HR_E_INVALID_URL;
            snprintf(errbuf, sizeof(errbuf), "https_only is set: refusing to follow a redirect to %.180s",
                     req->url);
        } else if (c->config.referer && !(old.tls && !req->target.tls)) {
            rc = set_referer(req, old_url);
        } else {
            req->referer.len = 0;
        }
    } else {
        char reason[256];
        snprintf(reason, sizeof(reason), "invalid redirect location: %s", errbuf);
        memcpy(errbuf, reason, sizeof(errbuf));
    }
    free(old.host);
    free(old_url);
    if (rc == 0 && c->config.cookie_store)
        rc = hr__jar_header_for(c, req);
    if (rc == 0)
        rc = hr__request_build_head(req, errbuf, sizeof(errbuf));
    if (rc != 0) {
        hr__request_fail(req, rc, "%s", errbuf[0] ? errbuf : hr_strerror(rc));
        hr__client_request_done(c, req);
        return;
    }
    /* a fresh response for the next hop; its head gets a fresh per-wait timeout */
    req->status = 0;
    req->headers.len = 0;
    req->nheaders = 0;
    req->seen = 0;
    req->body_out.len = 0;
    req->retries = 0;
    hr__decoder_free(req->decoder);
    req->decoder = NULL;
    req->deadline = req->timeout_ms ? uv_now(c->loop) + req->timeout_ms : UINT64_MAX;
    dispatch(c, req, false);
}

void hr__request_retry(hr_request_t *req)
{
    hr_client_t *c = req->client;
    req->retries++;
    req->status = 0;
    req->headers.len = 0;
    req->nheaders = 0;
    req->seen = 0;
    req->body_out.len = 0;
    dispatch(c, req, false);
}

/* The request is finished (result or error set): hand it back to its owner. */
void hr__client_request_done(hr_client_t *c, hr_request_t *req)
{
    if (req->state != HR_REQ_QUEUED_CLIENT)
        c->inflight--;
    req->state = HR_REQ_DONE;
    req->conn = NULL;
    /* admit the next queued request before running the callback (FIFO fairness) */
    while (!hr_queue_empty(&c->queued) &&
           (c->config.max_inflight == 0 || c->inflight < c->config.max_inflight)) {
        hr_request_t *next = HR_CONTAINER_OF(c->queued.next, hr_request_t, link);
        hr_queue_remove(&next->link);
        admit(c, next);
    }
    req->cb(req);
    client_maybe_free(c);
}

/* A connection finished its request; give it to the next waiter, park it, or close it. */
void hr__conn_released(hr_conn_t *conn, bool reusable)
{
    hr_client_t *c = conn->client;
    hr_origin_t *o = conn->origin;
    if (reusable) {
        conn->reused = true;
        if (!hr_queue_empty(&o->waiting)) {
            hr_request_t *next = HR_CONTAINER_OF(o->waiting.next, hr_request_t, link);
            hr_queue_remove(&next->link);
            hr__conn_send(conn, next);
            return;
        }
        if (!c->closing) {
            hr__conn_park(conn);
            return;
        }
    }
    hr__conn_close(conn);
    if (!hr_queue_empty(&o->waiting) && o->nconns < c->config.max_conns_per_origin) {
        hr_request_t *next = HR_CONTAINER_OF(o->waiting.next, hr_request_t, link);
        hr_queue_remove(&next->link);
        hr__origin_dispatch(c, o, next);
    }
}

void hr_request_cancel(hr_request_t *req)
{
    hr_client_t *c = req->client;
    switch (req->state) {
    case HR_REQ_QUEUED_CLIENT:
    case HR_REQ_QUEUED_ORIGIN:
        hr_queue_remove(&req->link);
        hr__request_fail(req, HR_E_CANCELLED, "request cancelled");
        hr__client_request_done(c, req);
        return;
    case HR_REQ_ON_CONN: {
        hr_conn_t *conn = req->conn;
        conn->req = NULL;
        req->conn = NULL;
        hr__conn_close(conn); /* half-done exchange: never pooled */
        hr__request_fail(req, HR_E_CANCELLED, "request cancelled");
        hr__client_request_done(c, req);
        return;
    }
    case HR_REQ_DECODING:
        hr__request_decode_cancel(req); /* completes, cancelled, when the job is back */
        return;
    default:
        return; /* not started, deferred (completes anyway) or done */
    }
}

/* ---- teardown ---- */

void hr__conn_freed(hr_client_t *c)
{
    c->nconns--;
    client_maybe_free(c);
}

static void client_free(hr_client_t *c)
{
    for (unsigned b = 0; b < c->nbuckets; b++) {
        hr_origin_t *o = c->buckets[b];
        while (o != NULL) {
            hr_origin_t *next = o->hnext;
            free(o->key);
            free(o);
            o = next;
        }
    }
    hr__jar_free(c);
    hr_tls_release(c->tls);
    free(c->buckets);
    free(c->rbuf);
    free(c);
    atomic_fetch_sub(&hr__stat_clients, 1);
}

static void on_sweep_closed(uv_handle_t *h)
{
    hr_client_t *c = h->data;
    c->timer_inited = false;
    client_free(c);
}

static void client_maybe_free(hr_client_t *c)
{
    if (!c->closing || c->inflight > 0 || !hr_queue_empty(&c->queued) ||
        !hr_queue_empty(&c->deferred) || c->nconns > 0 || c->timer_closing)
        return;
    if (c->timer_inited) {
        c->timer_closing = true;
        uv_close((uv_handle_t *)&c->sweep, on_sweep_closed);
        return;
    }
    client_free(c);
}

void hr_client_close(hr_client_t *c)
{
    if (c->closing)
        return;
    c->closing = true;
    for (unsigned b = 0; b < c->nbuckets; b++)
        for (hr_origin_t *o = c->buckets[b]; o != NULL; o = o->hnext)
            while (!hr_queue_empty(&o->idle))
                hr__conn_close(HR_CONTAINER_OF(o->idle.next, hr_conn_t, link));
    client_maybe_free(c);
}
