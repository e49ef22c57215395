/*
 * hr.h — the httpr engine's public C API (for embedders and for the Python binding).
 *
 * The engine is pure C on top of libuv: it runs on whatever uv_loop_t it is given and never
 * starts threads of its own. Apart from hr_request_new()/hr_request_free() and the result
 * accessors, every function must be called on the loop's thread ("loop thread" below).
 *
 * Ownership:
 *   - hr_request_new() returns a request owned by the caller. hr_client_start() lends it to
 *     the engine until the completion callback runs; after that it belongs to the caller again,
 *     who reads the result and calls hr_request_free() (on any thread).
 *   - The request body given to hr_request_new() is NOT copied: it must stay valid and
 *     unchanged until the completion callback has run.
 *   - hr_client_close() hands the client back to the engine, which frees it once its last
 *     request and connection are gone.
 */
#ifndef HR_H
#define HR_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <uv.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hr_client_s hr_client_t;
typedef struct hr_request_s hr_request_t;
typedef struct hr_tls_s hr_tls_t;

/* Error codes: 0 is success, every failure is a negative HR_E* value. */
typedef enum {
    HR_OK = 0,
    HR_E_NOMEM = -1,
    HR_E_INVALID_URL = -2,          /* malformed URL */
    HR_E_UNSUPPORTED_SCHEME = -3,   /* not http:// or https:// */
    HR_E_INVALID_METHOD = -4,
    HR_E_INVALID_HEADER = -5,       /* bad header name, or CR/LF/NUL in a value */
    HR_E_CONNECT = -6,              /* DNS failure, refused, unreachable */
    HR_E_CONNECT_TIMEOUT = -7,      /* the connect phase alone exceeded the timeout */
    HR_E_READ_TIMEOUT = -8,         /* head or next body chunk not received in time */
    HR_E_WRITE = -9,
    HR_E_READ = -10,                /* reset or EOF in the middle of a response */
    HR_E_PROTOCOL = -11,            /* malformed response, limits exceeded */
    HR_E_CANCELLED = -12,
    HR_E_CLOSED = -13,              /* the client was closed before the request started */
    HR_E_TLS = -14,                 /* TLS handshake, certificate or record failure */
    HR_E_UNSUPPORTED = -15,         /* a feature this build does not have (e.g. https) */
    HR_E_DECODING = -16,            /* corrupt compressed body, or a decompression bomb */
    HR_E_TOO_MANY_REDIRECTS = -17,
    HR_E_BODY = -18,                /* the request body could not be read (file) */
    HR_E_TLS_CONFIG = -19,          /* unusable CA bundle or client identity */
} hr_err_t;

typedef struct {
    unsigned max_inflight;         /* requests running at once; 0 = no cap (others queue) */
    unsigned max_conns_per_origin; /* 0 = HR_DEFAULT_MAX_CONNS_PER_ORIGIN */
    uint64_t idle_timeout_ms;      /* pooled connection lifetime when idle; 0 = default */
    int follow_redirects;          /* follow 301/302/303/307/308 with a Location */
    unsigned max_redirects;
    int referer;                   /* send Referer on redirect hops (never https → http) */
    int cookie_store;              /* keep a cookie jar (RFC 6265) across requests */
    int https_only;                /* refuse http:// URLs, redirect hops included */
    hr_tls_t *tls;                 /* TLS configuration (the client takes a reference);
                                      NULL = the default (verify against the system store) */
} hr_client_config_t;

#define HR_DEFAULT_MAX_CONNS_PER_ORIGIN 512
#define HR_DEFAULT_IDLE_TIMEOUT_MS 90000
#define HR_MAX_HEADER_BYTES (64 * 1024)
#define HR_MAX_HEADERS 100
#define HR_MAX_INTERIM_RESPONSES 16

typedef struct {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
} hr_header_t;

/* Streaming: the body is handed over as it arrives instead of being buffered.
 * on_head runs once the final head (after redirects) is known; on_data gets decoded bytes and
 * returns non-zero to stop reading until hr_request_resume(), or a negative value when it
 * could not keep the bytes (out of memory): the request then fails with HR_E_NOMEM. The
 * completion callback still runs once at the end. Loop thread.
 *
 * get_buffer and put_buffer (optional, both or neither) let the body be read straight into
 * the consumer's memory, saving a copy per byte. When the next bytes the engine reads are body
 * bytes it passes on unchanged (no content coding, not chunked), it first asks get_buffer()
 * where they may land: memory for at most *len bytes (the callback may lower *len), or NULL
 * for the engine's own buffer. Then, before anything else happens on the loop, either
 * on_data() gets what was read there, at that very address, or, when the read brought
 * nothing (no data yet, the end of the stream, an error), put_buffer() gives the memory back.
 * In between, the memory is the engine's. */
typedef struct {
    void (*on_head)(hr_request_t *req);
    int (*on_data)(hr_request_t *req, const char *p, size_t n);
    char *(*get_buffer)(hr_request_t *req, size_t *len);
    void (*put_buffer)(hr_request_t *req);
} hr_stream_cb_t;

/* Called on the loop thread exactly once per started request, never from inside
 * hr_client_start() itself. The callback may start other requests. */
typedef void (*hr_complete_cb)(hr_request_t *req);

/* --- TLS configurations ----------------------------------------------------------------- */

/*
 * A TLS configuration is immutable and shared: hr_tls_get() returns a reference to the one
 * context of that configuration in this process (built on first use, cached by a fingerprint
 * of the fields below and of SSL_CERT_FILE / SSL_CERT_DIR as they are now), so creating many
 * clients with the same settings costs a lookup. Each context keeps its own bounded TLS
 * session cache, keyed by origin; connections are only ever shared within one client.
 */
typedef struct {
    int verify;              /* 1: verify the chain and the host name (default); 0: accept any */
    const char *ca_pem;      /* extra trust anchors (PEM), added to the system store; or NULL */
    size_t ca_pem_len;
    const char *identity_pem; /* client certificate chain + private key (PEM), or NULL */
    size_t identity_pem_len;
} hr_tls_config_t;

/* Any thread. NULL on failure with an HR_E* code in *err and the reason in errbuf. */
hr_tls_t *hr_tls_get(const hr_tls_config_t *config, int *err, char *errbuf, size_t errbuf_len);
hr_tls_t *hr_tls_ref(hr_tls_t *tls);
void hr_tls_release(hr_tls_t *tls);

/* --- clients ---------------------------------------------------------------------------- */

/* Any thread: allocates only; libuv handles are created lazily on the loop thread. */
hr_client_t *hr_client_new(uv_loop_t *loop, const hr_client_config_t *config);

/* Loop thread. Idle connections close now; requests in flight finish, later starts fail with
 * HR_E_CLOSED; the client frees itself when nothing is left. */
void hr_client_close(hr_client_t *client);

/* Loop thread. Number of open connections (idle + busy), for tests and stats. */
size_t hr_client_conn_count(const hr_client_t *client);

/* --- requests --------------------------------------------------------------------------- */

/*
 * Any thread. Validates the method, URL and headers and serialises the request head into one
 * buffer. Nothing is sent. `headers` are sent in order after Host; the engine adds Host
 * (unless given) and Content-Length (when a body is given or the method is POST/PUT/PATCH,
 * unless Content-Length or Transfer-Encoding is given). On failure returns NULL and stores an
 * HR_E* code in *err and a NUL-terminated reason in errbuf.
 */
hr_request_t *hr_request_new(const char *method, size_t method_len, const char *url,
                             size_t url_len, const hr_header_t *headers, size_t nheaders,
                             const void *body, size_t body_len, int *err, char *errbuf,
                             size_t errbuf_len);

/*
 * Any thread. A new request equal to what hr_request_new() made `tmpl` from, for callers that
 * send the same request again and again: nothing is validated or serialised again. `tmpl` must
 * be without a body, not started, and not changed since hr_request_new() (the setters below
 * are not copied). NULL when out of memory or when `tmpl` has a body.
 */
hr_request_t *hr_request_copy(const hr_request_t *tmpl);

/* Any thread, before the request is started. The callbacks must outlive the request. */
void hr_request_set_stream(hr_request_t *req, const hr_stream_cb_t *cbs);
/* Any thread, before the request is started: decode content codings (default on). */
void hr_request_set_decode(hr_request_t *req, int decode);
/* Any thread, before the request is started: JSON read ahead (default off). When the final
 * response of a buffered request says Content-Type application/json (or a "+json" type) and
 * its body is between HR_JSON_AHEAD_MIN and HR_JSON_AHEAD_MAX bytes, the body is parsed into a
 * tape (see hr_json_tape_parse) on the loop's thread pool before the request completes; take
 * it with hr_request_take_json_tape(). */
void hr_request_set_json_ahead(hr_request_t *req, int on);
#define HR_JSON_AHEAD_MIN (32u * 1024)
#define HR_JSON_AHEAD_MAX (16u * 1024 * 1024)
/*
 * Any thread, before the request is started: a streamed body of segments, sent with
 * Transfer-Encoding: chunked. Each segment is memory (borrowed like a plain body) or a file
 * path (copied; the file is read on the loop thread while sending). Replaces the plain body.
 */
int hr_request_add_part_mem(hr_request_t *req, const void *p, size_t n);
int hr_request_add_part_file(hr_request_t *req, const char *path);

/* Loop thread: streaming backpressure. */
void hr_request_pause(hr_request_t *req);
void hr_request_resume(hr_request_t *req);

/* Any thread, before the request is started. 0 disables the timeout. */
void hr_request_set_timeout(hr_request_t *req, uint64_t timeout_ms);
void hr_request_set_data(hr_request_t *req, void *data);
void *hr_request_get_data(const hr_request_t *req);

/* Loop thread. Returns 0, or a negative code (nothing started, the callback will not run). */
int hr_client_start(hr_client_t *client, hr_request_t *req, hr_complete_cb cb);

/* Loop thread. Aborts a started request: its connection is closed (never pooled) and the
 * callback runs with HR_E_CANCELLED (possibly before this returns). No-op once completed. */
void hr_request_cancel(hr_request_t *req);

/* Any thread, when the request is not (or no longer) in the engine. */
void hr_request_free(hr_request_t *req);

/* --- results (valid after the completion callback) --------------------------------------- */

int hr_request_error(const hr_request_t *req);            /* 0 or HR_E* */
const char *hr_request_error_message(const hr_request_t *req);
int hr_request_status(const hr_request_t *req);
int hr_request_http_minor(const hr_request_t *req);      /* 0 or 1 (HTTP/1.x) */
/* "name\0value\0" pairs in wire order; names lowercased. */
const char *hr_request_headers(const hr_request_t *req, size_t *len, size_t *count);
const char *hr_request_body(const hr_request_t *req, size_t *len);
/* Any thread, after the completion callback: moves the body out of the request, which then
 * has an empty one. Returns a buffer of *len bytes that the caller releases with
 * hr_body_free(), or NULL (and *len 0) when the body is empty. Saves a copy for a caller
 * that keeps the body beyond the request. */
char *hr_request_take_body(hr_request_t *req, size_t *len);
void hr_body_free(char *body);
/* Any thread, after the completion callback: the JSON tape made by the read ahead, which the
 * caller then owns (hr_json_tape_free), or NULL (not asked for, not a JSON body, its size out
 * of range, or not a document the tape takes: the caller parses the body itself). */
struct hr_json_tape_s *hr_request_take_json_tape(hr_request_t *req);
/* Final URL (the request URL until redirects are followed). */
const char *hr_request_url(const hr_request_t *req, size_t *len);
/* The serialised request head (valid for the request's lifetime). */
const char *hr_request_head(const hr_request_t *req, size_t *len);
/* Loop thread, in or after a stream callback: whether the last read of the request's socket
 * filled the engine's read buffer, i.e. more bytes are waiting and the loop reads them before
 * it sleeps (0 once a read came back short, or found nothing). */
int hr_request_input_pending(const hr_request_t *req);
/* Whether the response was read from a pooled (reused) connection. */
int hr_request_reused(const hr_request_t *req);
/* Over https: whether the connection's TLS session was resumed, and the negotiated protocol
 * version ("TLSv1.3"); 0 / NULL for plain http. */
int hr_request_tls_resumed(const hr_request_t *req);
const char *hr_request_tls_version(const hr_request_t *req);

const char *hr_strerror(int err);

/* --- JSON tapes --------------------------------------------------------------------------- */

/* A JSON document as a flat sequence of values, depth first: an array's or an object's entry
 * is followed by its children (an object's as key, value, key, value...). Strings and the
 * numbers the fast conversion cannot decide are given as byte ranges of the document, to be
 * decoded by the reader; a string's range is between its quotes, not yet unescaped or checked
 * as UTF-8. */
typedef enum {
    HR_JSON_NULL = 1,
    HR_JSON_FALSE,
    HR_JSON_TRUE,
    HR_JSON_INT,        /* v.i */
    HR_JSON_FLOAT,      /* v.d (infinite for Infinity, -Infinity) */
    HR_JSON_INT_TEXT,   /* an integer of more than 18 digits: text at v.u, len bytes */
    HR_JSON_FLOAT_TEXT, /* a float for the exact conversion: text at v.u, len bytes */
    HR_JSON_STR,        /* raw string bytes at v.u, len bytes */
    HR_JSON_ARRAY,      /* len items follow */
    HR_JSON_OBJECT,     /* len members follow, each a HR_JSON_STR key and a value */
} hr_json_kind_t;

typedef struct {
    uint32_t kind;
    uint32_t len;
    union {
        int64_t i;
        double d;
        uint64_t u;
    } v;
} hr_json_entry_t;

typedef struct hr_json_tape_s hr_json_tape_t;

/* Containers nested deeper than this make hr_json_tape_parse() give up. */
#define HR_JSON_TAPE_DEPTH 256

/* The tape of the JSON document buf[0..len), or NULL when the document is invalid, when it
 * nests deeper than HR_JSON_TAPE_DEPTH or holds NaN, or out of memory. Strings are delimited
 * but not checked: a reader that decodes them must still reject invalid ones. Any thread. */
hr_json_tape_t *hr_json_tape_parse(const char *buf, size_t len);
const hr_json_entry_t *hr_json_tape_entries(const hr_json_tape_t *t, size_t *n);
void hr_json_tape_free(hr_json_tape_t *t);

/* Process-wide counters of live engine objects, for leak checks. */
typedef struct {
    int64_t requests;
    int64_t conns;
    int64_t clients;
    int64_t mem_blocks; /* large buffers (bodies, tapes: 64 KiB and up) allocated, not freed */
    int64_t mem_kept;   /* bytes of freed large buffers kept for reuse (see hr_mem_purge) */
    int64_t mem_mapped; /* large buffers ever mapped afresh (not reused), a running total */
} hr_stats_t;
void hr_get_stats(hr_stats_t *out);

/*
 * Large buffers (bodies, decoded bodies, JSON tapes) are kept for reuse when freed, so the
 * next body does not fault in fresh pages: up to 256 MiB, and beyond the first 16 MiB only
 * until a buffer has gone 5 s without reuse. The engine releases aged buffers on the way
 * while it allocates; an embedder whose loop goes idle calls hr_mem_purge() from a timer
 * while hr_mem_purge_due() (any thread). hr_mem_trim() releases every kept buffer at once.
 */
bool hr_mem_purge(uint64_t now_ms); /* returns hr_mem_purge_due() afterwards */
bool hr_mem_purge_due(void);
uint64_t hr_mem_now_ms(void);       /* the clock hr_mem_purge() expects (monotonic, coarse) */
uint64_t hr_mem_age_ms(void);
/* Any thread: keep at most `max` bytes, and beyond `base` only for `age_ms` without reuse
 * (defaults: 256 MiB, 16 MiB, 5000 ms; max 0 keeps nothing). */
void hr_mem_set_policy(size_t max, size_t base, uint64_t age_ms);
void hr_mem_trim(void);
void hr_mem_stats(int64_t *blocks, int64_t *kept, int64_t *mapped); /* hr_stats_t's mem_ */

#ifdef __cplusplus
}
#endif
#endif /* HR_H */
