/*
 * internal.h — engine-private types. Everything declared here runs on the loop thread unless
 * its comment says otherwise.
 */
#ifndef HR_INTERNAL_H
#define HR_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "hr.h"
#include "llhttp.h"

#define HR_READ_BUF_SIZE (64 * 1024)
#define HR_CONN_MAX_ADDRS 8
#define HR_ERRMSG_SIZE 256
#define HR_CONTAINER_OF(ptr, type, field) ((type *)((char *)(ptr) - offsetof(type, field)))
#define HR_SWAP(type, a, b)                                                                   \
    do {                                                                                      \
        type swap_tmp_ = (a);                                                                 \
        (a) = (b);                                                                            \
        (b) = swap_tmp_;                                                                      \
    } while (0)
#define HR_LIKELY(x) __builtin_expect(!!(x), 1)
#define HR_UNLIKELY(x) __builtin_expect(!!(x), 0)

/* ---- intrusive doubly linked list (circular, with a sentinel head) ---- */

typedef struct hr_queue_s {
    struct hr_queue_s *next, *prev;
} hr_queue_t;

static inline void hr_queue_init(hr_queue_t *q) { q->next = q->prev = q; }
static inline int hr_queue_empty(const hr_queue_t *q) { return q->next == q; }
static inline void hr_queue_insert_tail(hr_queue_t *h, hr_queue_t *q)
{
    q->next = h;
    q->prev = h->prev;
    q->prev->next = q;
    h->prev = q;
}
static inline void hr_queue_insert_head(hr_queue_t *h, hr_queue_t *q)
{
    q->next = h->next;
    q->prev = h;
    q->next->prev = q;
    h->next = q;
}
static inline void hr_queue_remove(hr_queue_t *q)
{
    q->prev->next = q->next;
    q->next->prev = q->prev;
    q->next = q->prev = q;
}
/* Moves every element of `from` to the empty list `to`. */
static inline void hr_queue_move(hr_queue_t *from, hr_queue_t *to)
{
    if (hr_queue_empty(from)) {
        hr_queue_init(to);
        return;
    }
    to->next = from->next;
    to->prev = from->prev;
    to->next->prev = to;
    to->prev->next = to;
    hr_queue_init(from);
}

/* ---- growable byte buffer ---- */

typedef struct {
    char *data;
    size_t len;
    size_t cap;
} hr_buf_t;

/* ---- memory (mem.c) ---- */

/* Buffers of HR_MEM_BIG bytes and more are blocks of HR_MEM_CLASSES power-of-two sizes
 * (HR_MEM_BIG << k), kept for reuse when freed: up to HR_MEM_KEEP_MAX bytes in all, and what
 * is beyond HR_MEM_KEEP_BASE only until it has gone HR_MEM_AGE_MS without reuse. */
#define HR_MEM_BIG (64 * 1024)
#define HR_MEM_CLASSES 10
#define HR_MEM_KEEP_MAX ((size_t)256 << 20)
#define HR_MEM_KEEP_BASE ((size_t)16 << 20)
#define HR_MEM_AGE_MS 5000

/* Any thread. At least n bytes (16-byte aligned); *cap = the usable size. NULL: no memory. */
void *hr_mem_alloc(size_t n, size_t *cap);
/* Like realloc() for a buffer whose first `used` bytes matter; NULL leaves p as it was. */
void *hr_mem_grow(void *p, size_t used, size_t n, size_t *cap);
void hr_mem_free(void *p);

/* hr_buf_t's data is always hr_mem memory: free it with hr_buf_free() or hr_mem_free(). */
int hr_buf_reserve(hr_buf_t *b, size_t extra);
int hr_buf_reserve_exact(hr_buf_t *b, size_t n);
int hr_buf_append(hr_buf_t *b, const void *p, size_t n);
void hr_buf_free(hr_buf_t *b);

/* ---- stats ---- */

extern atomic_int_fast64_t hr__stat_requests, hr__stat_conns, hr__stat_clients;

/* ---- parsed URL (offsets into the request's url copy) ---- */

typedef struct {
    bool tls;
    uint16_t port;
    char *host;     /* NUL-terminated, without IPv6 brackets */
    size_t host_len;
    bool host_is_ipv6;
} hr_target_t;

int hr_url_parse(const char *url, size_t len, hr_target_t *t, size_t *path_off, size_t *path_len,
                 char *errbuf, size_t errbuf_len);

/* decode.c */
#define HR_MAX_CODINGS 4
typedef struct hr_decoder_s hr_decoder_t;
typedef int (*hr_decode_sink_t)(void *ctx, const char *p, size_t n);
hr_decoder_t *hr__decoder_new(const char *value, size_t len, int *err);
int hr__decoder_feed(hr_decoder_t *dec, const char *p, size_t n, hr_decode_sink_t sink,
                     void *ctx, char *err, size_t errlen);
int hr__decoder_finish(hr_decoder_t *dec, char *err, size_t errlen);
void hr__decoder_free(hr_decoder_t *dec);
typedef struct hr_decode_job_s hr_decode_job_t;
struct hr_request_s;
void hr__request_decode(struct hr_request_s *req);
void hr__request_decode_cancel(struct hr_request_s *req);

struct hr_parts_s;
void hr__parts_free(struct hr_parts_s *parts);
int hr__request_build_head(hr_request_t *req, char *errbuf, size_t errbuf_len);

/* ---- requests ---- */

typedef enum {
    HR_REQ_NEW = 0,
    HR_REQ_QUEUED_CLIENT, /* waiting for the client's max_inflight */
    HR_REQ_QUEUED_ORIGIN, /* waiting for a connection of its origin */
    HR_REQ_ON_CONN,       /* attached to a connection */
    HR_REQ_DEFERRED,      /* failed inside hr_client_start; completes on the next tick */
    HR_REQ_DECODING,      /* response read, its body being decoded on the thread pool */
    HR_REQ_DONE,
} hr_req_state_t;

struct hr_conn_s;
struct hr_origin_s;

struct hr_request_s {
    hr_queue_t link; /* in a wait queue while QUEUED_* */
    hr_client_t *client;
    struct hr_conn_s *conn;
    hr_complete_cb cb;
    void *data;
    hr_req_state_t state;

    /* request */
    char method[24];
    size_t method_len;
    hr_buf_t hdrs;       /* the caller's headers, "name\0value\0" */
    hr_buf_t referer;    /* set on redirect hops */
    hr_buf_t jar_cookie; /* cookies from the jar for the current URL */
    bool strip_credentials; /* the chain left the first origin: never send credentials */
    bool body_dropped;      /* a 301/302/303 turned it into a GET */
    bool user_cl;
    bool is_upload;
    bool decode;
    bool json_ahead; /* hr_request_set_json_ahead() */
    struct hr_parts_s *parts; /* streamed body (files), NULL for a plain body */
    char *url; /* NUL-terminated copy: the current URL (changes on redirects) */
    size_t url_len;
    size_t path_off, path_len; /* request target within url */
    hr_target_t target;
    char *origin_key; /* "http://host:port", NUL-terminated */
    size_t origin_key_len;
    char *head; /* serialised request head */
    size_t head_len;
    const char *body; /* borrowed, see hr.h */
    size_t body_len;
    bool has_body;
    bool is_head;
    bool idempotent;
    uint64_t timeout_ms;
    uint64_t deadline; /* uv_now() based, while queued */
    uint8_t retries;
    uint8_t redirects;
    bool redirecting;   /* the current response is a redirect being followed */
    const hr_stream_cb_t *stream;
    bool paused;        /* stream consumer asked to stop reading */
    hr_decoder_t *decoder;
    hr_decode_job_t *job; /* while HR_REQ_DECODING */

    /* response */
    int status;
    int http_minor;
    bool tls_resumed;
    const char *tls_version; /* static string, or NULL for http */
    bool got_bytes; /* any response byte received on the current attempt */
    bool input_pending; /* the last socket read filled the read buffer: more is waiting */
    bool reused;
    hr_buf_t headers; /* "name\0value\0" */
    size_t nheaders;
    uint8_t seen; /* HR_SEEN_*: headers of the current response worth a lookup */
    hr_buf_t body_out;
    struct hr_json_tape_s *json_tape; /* made by the read ahead */

    int err;
    char *errmsg; /* HR_ERRMSG_SIZE bytes, allocated by the first failure (most requests
                     never fail: 256 bytes less per request in flight) */
};

#define HR_SEEN_SET_COOKIE 1
#define HR_SEEN_CONTENT_ENCODING 2
#define HR_SEEN_LOCATION 4
#define HR_SEEN_JSON 8 /* Content-Type says JSON (only looked at with json_ahead) */

void hr__request_fail(hr_request_t *req, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- connections and pool ---- */

typedef enum {
    HR_CONN_RESOLVING = 1,
    HR_CONN_CONNECTING,
    HR_CONN_HANDSHAKING, /* TCP is up, TLS is not yet */
    HR_CONN_ACTIVE, /* a request is being written / its response read */
    HR_CONN_IDLE,   /* in the pool */
    HR_CONN_CLOSING,
} hr_conn_state_t;

typedef struct hr_origin_s {
    struct hr_origin_s *hnext; /* hash chain */
    char *key;
    size_t key_len;
    uint32_t hash;
    hr_queue_t idle;    /* idle conns, most recently used first */
    hr_queue_t waiting; /* requests waiting for a connection */
    unsigned nconns;    /* open conns incl. connecting */
} hr_origin_t;

typedef struct hr_upload_s hr_upload_t;
typedef struct hr_tls_conn_s hr_tls_conn_t;

typedef struct hr_conn_s {
    uv_tcp_t *tcp; /* one per connect attempt; freed in its close callback */
    uv_timer_t timer;
    uv_getaddrinfo_t *gai; /* only while resolving (freed in on_resolved) */
    union { /* never both pending: the first write follows the connect's callback */
        uv_connect_t connect_req;
        uv_write_t write_req;
    };
    hr_client_t *client;
    hr_origin_t *origin;
    hr_queue_t link; /* in origin->idle while idle */
    hr_request_t *req;
    hr_conn_state_t state;
    llhttp_t parser;
    hr_upload_t *upload;  /* streamed body being sent, or NULL */
    hr_tls_conn_t *tls;   /* https: the TLS state (tls.c), created once TCP connects */
    char *lent;           /* a stream consumer's memory the current read lands in (get_buffer) */
    bool is_tls;
    int cb_err;           /* an llhttp callback failed the request with this (HPE_USER) */

    /* resolved addresses (copied) and the next one to try */
    struct sockaddr_storage *addrs; /* naddrs of them while connecting; freed once up */
    int naddrs;
    int next_addr;
    int last_connect_err;

    unsigned handles_open; /* tcp/timer handles not yet closed */
    bool gai_pending;
    bool reading;
    bool write_pending;
    bool keep_alive;     /* llhttp said so at message complete */
    bool leftover;       /* bytes after the message: never pool */
    bool headers_done;
    bool in_trailers;
    bool te_seen;
    bool msg_done;
    bool reused;
    size_t head_bytes;  /* bytes of status line + headers of the current message */
    size_t ext_bytes;   /* chunk-extension bytes of the current chunk */
    uint8_t interim;    /* 1xx responses skipped */
    unsigned ntrailers;
    hr_buf_t field;     /* current header name while it is split across reads */
    hr_buf_t value;     /* current header value while it is split across reads */
} hr_conn_t;

struct hr_client_s {
    uv_loop_t *loop;
    hr_client_config_t config;
    bool closing;
    bool timer_inited;
    bool timer_closing;
    unsigned inflight;   /* started requests not yet completed (excl. client-queued) */
    hr_queue_t queued;   /* requests waiting for max_inflight */
    size_t nconns;       /* all conns incl. closing ones */
    uv_timer_t sweep;    /* deadlines of queued requests, deferred completions */
    hr_queue_t deferred; /* requests that failed before reaching a connection */
    char *rbuf;          /* read buffer shared by this client's connections */
    hr_queue_t jar;      /* cookies (cookies.c) */
    hr_tls_t *tls;       /* our reference; NULL until the first https connection if the
                            config gave none (then the default configuration) */
    size_t njar;
    uint64_t sweep_due;
    hr_origin_t **buckets;
    unsigned nbuckets;
    unsigned norigins;
};

/* cookies.c */
void hr__jar_store_from(hr_client_t *c, hr_request_t *req);
int hr__jar_header_for(hr_client_t *c, hr_request_t *req);
void hr__jar_free(hr_client_t *c);

/* h1.c */
const char *hr__header_find(const hr_buf_t *block, const char *name, size_t *vlen);

/* pool.c */
void hr__request_follow(hr_request_t *req);
void hr__client_request_done(hr_client_t *c, hr_request_t *req);
void hr__complete_later(hr_client_t *c, hr_request_t *req);
void hr__request_retry(hr_request_t *req);
void hr__conn_released(hr_conn_t *conn, bool reusable);
void hr__conn_freed(hr_client_t *c);
void hr__origin_dispatch(hr_client_t *c, hr_origin_t *o, hr_request_t *req);

/* tls.c (loop thread except where noted) */
#define HR_TLS_EOF (-1000)
int hr__tls_conn_new(hr_conn_t *conn, hr_tls_t *tls, const char *host, char *msg, size_t len);
void hr__tls_conn_free(hr_conn_t *conn);
int hr__tls_handshake(hr_conn_t *conn, char *msg, size_t len);
int hr__tls_write(hr_conn_t *conn, uv_write_t *w, const uv_buf_t *bufs, unsigned nbufs,
                  uv_write_cb cb);
void hr__tls_cancel_writes(hr_conn_t *conn);
void hr__tls_shutdown(hr_conn_t *conn);
int hr__tls_feed(hr_conn_t *conn, const char *p, size_t n);
void hr__tls_feed_eof(hr_conn_t *conn);
int hr__tls_read(hr_conn_t *conn, char *buf, size_t cap, char *msg, size_t len);
bool hr__tls_clean_eof(const hr_conn_t *conn);
bool hr__tls_buffered(const hr_conn_t *conn);
bool hr__tls_more_data(hr_conn_t *conn);
bool hr__tls_resumed(const hr_conn_t *conn);
const char *hr__tls_version(const hr_conn_t *conn);

/* body.c */
int hr__upload_start(hr_conn_t *conn, hr_request_t *req);
void hr__upload_abandon(hr_upload_t *up);

/* conn.c */
void hr__conn_upload_written(hr_conn_t *conn, int status);
void hr__conn_upload_failed(hr_conn_t *conn, int err, const char *msg);
hr_conn_t *hr__conn_new(hr_client_t *c, hr_origin_t *o);
void hr__conn_connect(hr_conn_t *conn, hr_request_t *req);
void hr__conn_send(hr_conn_t *conn, hr_request_t *req);
void hr__conn_park(hr_conn_t *conn);
void hr__conn_close(hr_conn_t *conn);
int hr__conn_write(hr_conn_t *conn, uv_write_t *w, const uv_buf_t *bufs, unsigned nbufs,
                   uv_write_cb cb);

/* dns.c */
int hr__dns_cache_get(const char *host, uint16_t port, struct sockaddr_storage *out, int max,
                      uint64_t now_ms);
void hr__dns_cache_put(const char *host, uint16_t port, const struct sockaddr_storage *addrs,
                       int n, uint64_t now_ms);
int hr__parse_ip_literal(const char *host, uint16_t port, struct sockaddr_storage *out);

/* h1.c */
extern const llhttp_settings_t hr__h1_settings;
void hr__h1_begin(hr_conn_t *conn);

#endif /* HR_INTERNAL_H */
