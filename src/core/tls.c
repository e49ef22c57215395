/*
 * tls.c — TLS over libuv with OpenSSL memory BIOs.
 *
 * Two halves:
 *
 *  1. Configurations (any thread). hr_tls_get() maps a configuration — verify mode, extra CA
 *     PEM, client identity PEM, and SSL_CERT_FILE / SSL_CERT_DIR as they are at the call — to
 *     one shared hr_tls_t, found by a SHA-256 fingerprint in a small process-wide registry.
 *     The CA bundle and identity are parsed there (so a bad file fails when the client is
 *     made); the SSL_CTX itself, which loads the system trust store, is built the first time
 *     a connection needs it and never again. Each hr_tls_t owns a bounded session cache keyed
 *     by origin: sessions are only ever offered back under the configuration that verified
 *     them (curl CVE-2021-22901 and friends). TLS 1.3 tickets are taken out when used.
 *
 *  2. The pump (loop thread). Ciphertext read from the socket is fed into a memory BIO;
 *     SSL_read_ex yields plaintext for llhttp. Writes queue the caller's buffers, encrypt at
 *     most HR_TLS_INFLIGHT bytes ahead of the socket, and complete each caller write once its
 *     last ciphertext byte has been written, so large bodies never sit in memory twice.
 *
 * All OpenSSL error text is captured on the loop thread into the request's message; nothing
 * here touches Python. The thread's error queue is left empty after every failure (each error
 * path clears it), so the per-record SSL_read_ex / SSL_write_ex calls need no ERR_clear_error()
 * before them — in OpenSSL 3 that call costs more than a small record's crypto.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "internal.h"

#define HR_TLS_REGISTRY_MAX 16     /* distinct configurations kept alive by the registry */
#define HR_TLS_SESSIONS_MAX 256    /* cached sessions per configuration */
#define HR_TLS_SESSIONS_PER_KEY 4  /* per origin: enough for a burst of new connections */
#define HR_TLS_CHUNK (64 * 1024)   /* plaintext encrypted per step */
#define HR_TLS_INFLIGHT (512 * 1024) /* ciphertext queued on the socket before we wait */

typedef struct {
    hr_queue_t link; /* in hr_tls_t.sessions, most recently stored first */
    SSL_SESSION *sess;
    size_t key_len;
    char key[];
} hr_tls_sess_t;

struct hr_tls_s {
    atomic_int refs;
    unsigned char fp[32];
    int verify;
    STACK_OF(X509) *cas;   /* extra anchors */
    STACK_OF(X509) *chain; /* identity: leaf first */
    EVP_PKEY *key;
    char cert_file[512], cert_dir[512]; /* the env at creation, applied when ctx is built */
    SSL_CTX *ctx;          /* built once, lazily; then read-only */
    int ctx_err;
    char ctx_msg[200];
    hr_queue_t sessions;
    unsigned nsessions;
};

/* One lock for the registry, every lazy SSL_CTX build and every session cache: all are
 * touched once per new connection at most, never per byte. */
static pthread_mutex_t tls_lock = PTHREAD_MUTEX_INITIALIZER;
static hr_tls_t *registry[HR_TLS_REGISTRY_MAX]; /* most recently used first */
static unsigned nregistry;
static int conn_ex_index = -1;

static void tls_atfork_child(void) { pthread_mutex_init(&tls_lock, NULL); }

static void tls_once_init(void)
{
    pthread_atfork(NULL, NULL, tls_atfork_child);
    conn_ex_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}
static pthread_once_t tls_once = PTHREAD_ONCE_INIT;

/* Appends OpenSSL's queued error (the earliest, usually the root cause) to msg. */
static void openssl_reason(char *msg, size_t len, const char *fallback)
{
    unsigned long e = ERR_peek_error();
    const char *r = e ? ERR_reason_error_string(e) : NULL;
    if (r != NULL)
        snprintf(msg, len, "%s", r);
    else
        snprintf(msg, len, "%s", fallback);
    ERR_clear_error();
}

/* ---- configurations ---- */

static void tls_free(hr_tls_t *t)
{
    while (!hr_queue_empty(&t->sessions)) {
        hr_tls_sess_t *s = HR_CONTAINER_OF(t->sessions.next, hr_tls_sess_t, link);
        hr_queue_remove(&s->link);
        SSL_SESSION_free(s->sess);
        free(s);
    }
    if (t->ctx != NULL)
        SSL_CTX_free(t->ctx);
    sk_X509_pop_free(t->cas, X509_free);
    sk_X509_pop_free(t->chain, X509_free);
    EVP_PKEY_free(t->key);
    free(t);
}

hr_tls_t *hr_tls_ref(hr_tls_t *t)
{
    if (t != NULL)
        atomic_fetch_add(&t->refs, 1);
    return t;
}

void hr_tls_release(hr_tls_t *t)
{
    if (t != NULL && atomic_fetch_sub(&t->refs, 1) == 1)
        tls_free(t);
}

/* Reads every certificate of a PEM blob; returns how many (0 = none or garbage). */
static int read_certs(const char *pem, size_t len, STACK_OF(X509) *out)
{
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    if (bio == NULL)
        return -1;
    int n = 0;
    X509 *x;
    while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        if (!sk_X509_push(out, x)) {
            X509_free(x);
            n = -1;
            break;
        }
        n++;
    }
    ERR_clear_error(); /* the loop ends on "no start line" */
    BIO_free(bio);
    return n;
}

static int parse_config(hr_tls_t *t, const hr_tls_config_t *cfg, char *errbuf, size_t errlen)
{
    t->cas = sk_X509_new_null();
    t->chain = sk_X509_new_null();
    if (t->cas == NULL || t->chain == NULL)
        return HR_E_NOMEM;
    if (t->verify && cfg->ca_pem != NULL) {
        int n = read_certs(cfg->ca_pem, cfg->ca_pem_len, t->cas);
        if (n < 0)
            return HR_E_NOMEM;
        if (n == 0) {
            snprintf(errbuf, errlen, "the CA bundle contains no X.509 certificate");
            return HR_E_TLS_CONFIG;
        }
    }
    if (cfg->identity_pem != NULL) {
        int n = read_certs(cfg->identity_pem, cfg->identity_pem_len, t->chain);
        if (n < 0)
            return HR_E_NOMEM;
        BIO *bio = BIO_new_mem_buf(cfg->identity_pem, (int)cfg->identity_pem_len);
        if (bio == NULL)
            return HR_E_NOMEM;
        t->key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
        BIO_free(bio);
        ERR_clear_error();
        if (n == 0 || t->key == NULL) {
            snprintf(errbuf, errlen, "invalid client identity PEM: it must contain a "
                                     "certificate and an unencrypted private key");
            return HR_E_TLS_CONFIG;
        }
        if (X509_check_private_key(sk_X509_value(t->chain, 0), t->key) != 1) {
            ERR_clear_error();
            snprintf(errbuf, errlen, "invalid client identity PEM: the private key does not "
                                     "match the certificate");
            return HR_E_TLS_CONFIG;
        }
    }
    return 0;
}

static void fingerprint(const hr_tls_config_t *cfg, const char *file, const char *dir,
                        unsigned char out[32])
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned int n = 32;
    char head[80]; /* presence and length of each part: "" and NULL are not the same */
    int hl = snprintf(head, sizeof(head), "v%d/ca%d:%zu/id%d:%zu/", cfg->verify ? 1 : 0,
                      cfg->verify && cfg->ca_pem, cfg->verify && cfg->ca_pem ? cfg->ca_pem_len : 0,
                      cfg->identity_pem != NULL, cfg->identity_pem ? cfg->identity_pem_len : 0);
    if (md == NULL || !EVP_DigestInit_ex(md, EVP_sha256(), NULL)) {
        memset(out, 0, 32); /* cannot happen in practice; collapse onto a never-found key */
        EVP_MD_CTX_free(md);
        return;
    }
    EVP_DigestUpdate(md, head, (size_t)hl);
    if (cfg->verify && cfg->ca_pem)
        EVP_DigestUpdate(md, cfg->ca_pem, cfg->ca_pem_len);
    if (cfg->identity_pem)
        EVP_DigestUpdate(md, cfg->identity_pem, cfg->identity_pem_len);
    EVP_DigestUpdate(md, file, strlen(file) + 1);
    EVP_DigestUpdate(md, dir, strlen(dir) + 1);
    EVP_DigestFinal_ex(md, out, &n);
    EVP_MD_CTX_free(md);
}

hr_tls_t *hr_tls_get(const hr_tls_config_t *cfg, int *err, char *errbuf, size_t errlen)
{
    static const hr_tls_config_t defaults = {.verify = 1};
    if (cfg == NULL)
        cfg = &defaults;
    pthread_once(&tls_once, tls_once_init);
    const char *file = getenv("SSL_CERT_FILE"), *dir = getenv("SSL_CERT_DIR");
    file = file ? file : "";
    dir = dir ? dir : "";
    if (strlen(file) >= 512 || strlen(dir) >= 512) {
        *err = HR_E_TLS_CONFIG;
        snprintf(errbuf, errlen, "SSL_CERT_FILE / SSL_CERT_DIR is too long");
        return NULL;
    }
    unsigned char fp[32];
    fingerprint(cfg, file, dir, fp);

    pthread_mutex_lock(&tls_lock);
    for (unsigned i = 0; i < nregistry; i++) {
        hr_tls_t *t = registry[i];
        if (memcmp(t->fp, fp, 32) == 0) {
            memmove(&registry[1], &registry[0], i * sizeof(registry[0]));
            registry[0] = t;
            hr_tls_ref(t);
            pthread_mutex_unlock(&tls_lock);
            return t;
        }
    }
    pthread_mutex_unlock(&tls_lock);

    /* A new configuration: parse outside the lock (a large bundle takes a while). */
    hr_tls_t *t = calloc(1, sizeof(*t));
    if (t == NULL) {
        *err = HR_E_NOMEM;
        snprintf(errbuf, errlen, "out of memory");
        return NULL;
    }
    atomic_init(&t->refs, 1);
    memcpy(t->fp, fp, 32);
    t->verify = cfg->verify ? 1 : 0;
    snprintf(t->cert_file, sizeof(t->cert_file), "%s", file);
    snprintf(t->cert_dir, sizeof(t->cert_dir), "%s", dir);
    hr_queue_init(&t->sessions);
    int rc = parse_config(t, cfg, errbuf, errlen);
    if (rc != 0) {
        *err = rc;
        if (rc == HR_E_NOMEM)
            snprintf(errbuf, errlen, "out of memory");
        tls_free(t);
        return NULL;
    }

    pthread_mutex_lock(&tls_lock);
    for (unsigned i = 0; i < nregistry; i++) { /* another thread may have won the race */
        if (memcmp(registry[i]->fp, fp, 32) == 0) {
            hr_tls_t *won = hr_tls_ref(registry[i]);
            pthread_mutex_unlock(&tls_lock);
            tls_free(t);
            return won;
        }
    }
    hr_tls_t *evicted = NULL;
    if (nregistry == HR_TLS_REGISTRY_MAX)
        evicted = registry[--nregistry]; /* clients using it keep their references */
    memmove(&registry[1], &registry[0], nregistry * sizeof(registry[0]));
    registry[0] = hr_tls_ref(t); /* the registry's reference */
    nregistry++;
    pthread_mutex_unlock(&tls_lock);
    hr_tls_release(evicted);
    return t;
}

/* ---- the SSL_CTX (built on first use) ---- */

static int on_new_session(SSL *ssl, SSL_SESSION *sess);

static SSL_CTX *build_ctx(hr_tls_t *t, char *msg, size_t len)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL) {
        openssl_reason(msg, len, "cannot create an SSL context");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_AUTO_RETRY);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(ctx, on_new_session);
    if (t->verify) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
        /* SAN only (no CN fallback, as browsers, rustls and CPython since 3.7) and no
         * partial wildcards ("f*.example.com") */
        X509_VERIFY_PARAM_set_hostflags(SSL_CTX_get0_param(ctx),
                                        X509_CHECK_FLAG_NEVER_CHECK_SUBJECT |
                                            X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        /* The system store, as OpenSSL finds it: SSL_CERT_FILE / SSL_CERT_DIR as they were
         * when the configuration was made (they are part of its fingerprint), else the
         * compiled-in defaults. */
        X509_STORE *store = SSL_CTX_get_cert_store(ctx);
        const char *file = t->cert_file[0] ? t->cert_file : X509_get_default_cert_file();
        const char *dir = t->cert_dir[0] ? t->cert_dir : X509_get_default_cert_dir();
        X509_LOOKUP *lf = X509_STORE_add_lookup(store, X509_LOOKUP_file());
        if (lf != NULL)
            X509_LOOKUP_load_file(lf, file, X509_FILETYPE_PEM); /* a missing file is fine */
        X509_LOOKUP *ld = X509_STORE_add_lookup(store, X509_LOOKUP_hash_dir());
        if (ld != NULL)
            X509_LOOKUP_add_dir(ld, dir, X509_FILETYPE_PEM);
        ERR_clear_error();
        for (int i = 0; i < sk_X509_num(t->cas); i++)
            X509_STORE_add_cert(store, sk_X509_value(t->cas, i)); /* duplicates are fine */
        ERR_clear_error();
    } else {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    }
    if (t->key != NULL) {
        int ok = SSL_CTX_use_certificate(ctx, sk_X509_value(t->chain, 0)) == 1 &&
                 SSL_CTX_use_PrivateKey(ctx, t->key) == 1;
        for (int i = 1; ok && i < sk_X509_num(t->chain); i++)
            ok = SSL_CTX_add1_chain_cert(ctx, sk_X509_value(t->chain, i)) == 1;
        if (!ok) {
            openssl_reason(msg, len, "cannot use the client certificate");
            SSL_CTX_free(ctx);
            return NULL;
        }
    }
    return ctx;
}

static SSL_CTX *tls_ctx(hr_tls_t *t, char *msg, size_t len)
{
    pthread_mutex_lock(&tls_lock);
    if (t->ctx == NULL && t->ctx_err == 0) {
        t->ctx = build_ctx(t, t->ctx_msg, sizeof(t->ctx_msg));
        if (t->ctx == NULL)
            t->ctx_err = 1;
    }
    SSL_CTX *ctx = t->ctx;
    if (ctx == NULL)
        snprintf(msg, len, "%s", t->ctx_msg);
    pthread_mutex_unlock(&tls_lock);
    return ctx;
}

/* ---- session cache ---- */

static void sess_drop(hr_tls_t *t, hr_tls_sess_t *s)
{
    hr_queue_remove(&s->link);
    t->nsessions--;
    SSL_SESSION_free(s->sess);
    free(s);
}

/* Returns a reference to a session for `key`, or NULL. TLS 1.3 tickets leave the cache. */
static SSL_SESSION *sess_take(hr_tls_t *t, const char *key, size_t klen)
{
    SSL_SESSION *out = NULL;
    pthread_mutex_lock(&tls_lock);
    for (hr_queue_t *q = t->sessions.next; q != &t->sessions; q = q->next) {
        hr_tls_sess_t *s = HR_CONTAINER_OF(q, hr_tls_sess_t, link);
        if (s->key_len != klen || memcmp(s->key, key, klen) != 0)
            continue;
        out = s->sess;
        if (SSL_SESSION_get_protocol_version(out) >= TLS1_3_VERSION) {
            SSL_SESSION_up_ref(out);
            sess_drop(t, s); /* single use (RFC 8446 C.4) */
        } else {
            SSL_SESSION_up_ref(out);
        }
        break;
    }
    pthread_mutex_unlock(&tls_lock);
    return out;
}

static void sess_put(hr_tls_t *t, const char *key, size_t klen, SSL_SESSION *sess)
{
    hr_tls_sess_t *s = malloc(sizeof(*s) + klen);
    if (s == NULL) {
        SSL_SESSION_free(sess);
        return;
    }
    s->sess = sess;
    s->key_len = klen;
    memcpy(s->key, key, klen);
    pthread_mutex_lock(&tls_lock);
    unsigned same = 0;
    hr_tls_sess_t *oldest_same = NULL;
    for (hr_queue_t *q = t->sessions.next; q != &t->sessions; q = q->next) {
        hr_tls_sess_t *o = HR_CONTAINER_OF(q, hr_tls_sess_t, link);
        if (o->key_len == klen && memcmp(o->key, key, klen) == 0) {
            same++;
            oldest_same = o;
        }
    }
    if (same >= HR_TLS_SESSIONS_PER_KEY)
        sess_drop(t, oldest_same);
    else if (t->nsessions >= HR_TLS_SESSIONS_MAX)
        sess_drop(t, HR_CONTAINER_OF(t->sessions.prev, hr_tls_sess_t, link));
    hr_queue_insert_head(&t->sessions, &s->link);
    t->nsessions++;
    pthread_mutex_unlock(&tls_lock);
}

/* ---- per connection ---- */

typedef struct {
    hr_queue_t link;
    uv_write_t *w;
    uv_write_cb cb;
    uv_buf_t bufs[4];
    unsigned nbufs, i; /* next buffer to encrypt */
    size_t off;        /* offset in bufs[i] */
    uint64_t last_seq; /* the ciphertext write that carries our last byte; 0 = not yet */
    bool encrypted;
} tls_uw_t;

typedef struct {
    uv_write_t req;
    hr_conn_t *conn;
    uint64_t seq;
    size_t len;
    char data[];
} tls_cw_t;

struct hr_tls_conn_s {
    SSL *ssl;
    BIO *rbio, *wbio;
    hr_tls_t *tls;
    hr_queue_t writes; /* tls_uw_t, oldest first */
    uint64_t seq_issued;
    size_t inflight;   /* ciphertext bytes handed to uv_write, not yet written */
    bool handshake_done;
    bool fatal;        /* no more SSL calls except free */
    bool close_notify; /* the peer sent close_notify */
};

int hr__tls_conn_new(hr_conn_t *conn, hr_tls_t *tls, const char *host, char *msg, size_t len)
{
    pthread_once(&tls_once, tls_once_init);
    SSL_CTX *ctx = tls_ctx(tls, msg, len);
    if (ctx == NULL)
        return HR_E_TLS;
    if (host[0] == '\0' || host[0] == '.') {
        snprintf(msg, len, "invalid host name for TLS: '%s'", host);
        return HR_E_TLS;
    }
    hr_tls_conn_t *tc = calloc(1, sizeof(*tc));
    if (tc == NULL) {
        snprintf(msg, len, "out of memory");
        return HR_E_NOMEM;
    }
    hr_queue_init(&tc->writes);
    tc->tls = hr_tls_ref(tls);
    tc->ssl = SSL_new(ctx);
    tc->rbio = BIO_new(BIO_s_mem());
    tc->wbio = BIO_new(BIO_s_mem());
    if (tc->ssl == NULL || tc->rbio == NULL || tc->wbio == NULL) {
        BIO_free(tc->rbio);
        BIO_free(tc->wbio);
        SSL_free(tc->ssl);
        hr_tls_release(tc->tls);
        free(tc);
        snprintf(msg, len, "out of memory");
        return HR_E_NOMEM;
    }
    BIO_set_mem_eof_return(tc->rbio, -1); /* empty means "wait for more", not EOF */
    BIO_set_mem_eof_return(tc->wbio, -1);
    SSL_set_bio(tc->ssl, tc->rbio, tc->wbio);
    SSL_set_connect_state(tc->ssl);
    SSL_set_ex_data(tc->ssl, conn_ex_index, conn);
    conn->tls = tc;

    struct sockaddr_storage ip;
    bool is_ip = hr__parse_ip_literal(host, 443, &ip);
    int ok = 1;
    if (!is_ip)
        ok = SSL_set_tlsext_host_name(tc->ssl, host) == 1; /* SNI for names only */
    if (ok && tls->verify) {
        X509_VERIFY_PARAM *param = SSL_get0_param(tc->ssl);
        ok = is_ip ? X509_VERIFY_PARAM_set1_ip_asc(param, host) == 1
                   : X509_VERIFY_PARAM_set1_host(param, host, strlen(host)) == 1;
    }
    if (ok)
        ok = SSL_set_alpn_protos(tc->ssl, (const unsigned char *)"\x08http/1.1", 9) == 0;
    if (!ok) {
        openssl_reason(msg, len, "cannot configure the TLS connection");
        return HR_E_TLS; /* conn->tls is freed with the connection */
    }
    SSL_SESSION *sess = sess_take(tls, conn->origin->key, conn->origin->key_len);
    if (sess != NULL) {
        SSL_set_session(tc->ssl, sess);
        SSL_SESSION_free(sess);
    }
    return 0;
}

static int on_new_session(SSL *ssl, SSL_SESSION *sess)
{
    hr_conn_t *conn = SSL_get_ex_data(ssl, conn_ex_index);
    if (conn == NULL || conn->tls == NULL || !SSL_SESSION_is_resumable(sess))
        return 0;
    sess_put(conn->tls->tls, conn->origin->key, conn->origin->key_len, sess);
    return 1; /* we keep the reference */
}

void hr__tls_conn_free(hr_conn_t *conn)
{
    hr_tls_conn_t *tc = conn->tls;
    if (tc == NULL)
        return;
    conn->tls = NULL;
    SSL_free(tc->ssl); /* frees both BIOs */
    hr_tls_release(tc->tls);
    free(tc);
}

/* ---- writing ---- */

static void complete_writes(hr_tls_conn_t *tc, uint64_t upto, int status)
{
    while (!hr_queue_empty(&tc->writes)) {
        tls_uw_t *uw = HR_CONTAINER_OF(tc->writes.next, tls_uw_t, link);
        if (status == 0 && !(uw->encrypted && uw->last_seq != 0 && uw->last_seq <= upto))
            break;
        hr_queue_remove(&uw->link);
        uv_write_t *w = uw->w;
        uv_write_cb cb = uw->cb;
        free(uw);
        if (cb != NULL)
            cb(w, status);
    }
}

static void on_cipher_written(uv_write_t *req, int status);

/* Hands whatever ciphertext the write BIO holds to the socket. */
static int flush(hr_conn_t *conn)
{
    hr_tls_conn_t *tc = conn->tls;
    size_t n = (size_t)BIO_pending(tc->wbio);
    if (n == 0 || conn->tcp == NULL)
        return 0;
    tls_cw_t *cw = malloc(sizeof(*cw) + n);
    if (cw == NULL)
        return UV_ENOMEM;
    int got = BIO_read(tc->wbio, cw->data, (int)n);
    cw->len = got > 0 ? (size_t)got : 0;
    cw->conn = conn;
    cw->seq = ++tc->seq_issued;
    for (hr_queue_t *q = tc->writes.next; q != &tc->writes; q = q->next) {
        tls_uw_t *uw = HR_CONTAINER_OF(q, tls_uw_t, link);
        if (uw->encrypted && uw->last_seq == 0)
            uw->last_seq = cw->seq;
    }
    uv_buf_t b = uv_buf_init(cw->data, (unsigned)cw->len);
    int rc = uv_write(&cw->req, (uv_stream_t *)conn->tcp, &b, 1, on_cipher_written);
    if (rc < 0) {
        free(cw);
        return rc;
    }
    tc->inflight += cw->len;
    return 0;
}

/* Encrypts queued plaintext while the socket has room; flushes it. */
static int pump_out(hr_conn_t *conn)
{
    hr_tls_conn_t *tc = conn->tls;
    if (!tc->handshake_done || tc->fatal)
        return 0;
    for (hr_queue_t *q = tc->writes.next; q != &tc->writes; q = q->next) {
        tls_uw_t *uw = HR_CONTAINER_OF(q, tls_uw_t, link);
        if (uw->encrypted)
            continue;
        size_t queued = (size_t)BIO_pending(tc->wbio);
        while (uw->i < uw->nbufs && tc->inflight + queued < HR_TLS_INFLIGHT) {
            uv_buf_t *b = &uw->bufs[uw->i];
            size_t n = b->len - uw->off;
            if (n > HR_TLS_CHUNK)
                n = HR_TLS_CHUNK;
            size_t wrote = 0;
            if (n > 0 && SSL_write_ex(tc->ssl, b->base + uw->off, n, &wrote) != 1) {
                ERR_clear_error();
                tc->fatal = true;
                return UV_EPROTO;
            }
            uw->off += wrote;
            queued += wrote + 64; /* about what a record adds; flush() reads the real size */
            if (uw->off == b->len) {
                uw->i++;
                uw->off = 0;
            }
        }
        if (uw->i < uw->nbufs)
            break; /* the socket is full: continue when a write completes */
        uw->encrypted = true;
    }
    return flush(conn);
}

static void on_cipher_written(uv_write_t *req, int status)
{
    tls_cw_t *cw = (tls_cw_t *)req;
    hr_conn_t *conn = cw->conn;
    uint64_t seq = cw->seq;
    size_t len = cw->len;
    free(cw);
    hr_tls_conn_t *tc = conn->tls;
    if (tc == NULL)
        return;
    tc->inflight -= len;
    if (status < 0) {
        complete_writes(tc, 0, status);
        return;
    }
    complete_writes(tc, seq, 0);
    if (conn->tls != NULL && conn->tcp != NULL && !hr_queue_empty(&tc->writes)) {
        int rc = pump_out(conn);
        if (rc < 0)
            complete_writes(tc, 0, rc);
    }
}

int hr__tls_write(hr_conn_t *conn, uv_write_t *w, const uv_buf_t *bufs, unsigned nbufs,
                  uv_write_cb cb)
{
    hr_tls_conn_t *tc = conn->tls;
    if (tc->fatal)
        return UV_EPROTO;
    tls_uw_t *uw = calloc(1, sizeof(*uw));
    if (uw == NULL || nbufs > 4) {
        free(uw);
        return UV_ENOMEM;
    }
    memcpy(uw->bufs, bufs, nbufs * sizeof(*bufs));
    uw->nbufs = nbufs;
    uw->w = w;
    uw->cb = cb;
    hr_queue_insert_tail(&tc->writes, &uw->link);
    int rc = pump_out(conn);
    if (rc < 0) {
        hr_queue_remove(&uw->link);
        free(uw);
    }
    return rc;
}

/* The connection is closing: every queued write fails (like uv_write's after uv_close). */
void hr__tls_cancel_writes(hr_conn_t *conn)
{
    if (conn->tls != NULL)
        complete_writes(conn->tls, 0, UV_ECANCELED);
}

/* Best effort close_notify on a graceful close: one non-blocking write, no waiting. */
void hr__tls_shutdown(hr_conn_t *conn)
{
    hr_tls_conn_t *tc = conn->tls;
    if (tc == NULL || !tc->handshake_done || tc->fatal || conn->tcp == NULL)
        return;
    ERR_clear_error();
    SSL_shutdown(tc->ssl);
    ERR_clear_error();
    char buf[256];
    int n = BIO_read(tc->wbio, buf, sizeof(buf));
    if (n > 0) {
        uv_buf_t b = uv_buf_init(buf, (unsigned)n);
        uv_try_write((uv_stream_t *)conn->tcp, &b, 1);
    }
    tc->fatal = true;
}

/* ---- reading ---- */

int hr__tls_feed(hr_conn_t *conn, const char *p, size_t n)
{
    return BIO_write(conn->tls->rbio, p, (int)n) == (int)n ? 0 : HR_E_NOMEM;
}

void hr__tls_feed_eof(hr_conn_t *conn)
{
    BIO_set_mem_eof_return(conn->tls->rbio, 0); /* an empty BIO is now a real EOF */
}

/* Describes a failed handshake or record: the verify result when that is the cause. */
static void describe(hr_tls_conn_t *tc, char *msg, size_t len, const char *what)
{
    long vr = SSL_get_verify_result(tc->ssl);
    unsigned long e = ERR_peek_error();
    const char *sep = what != NULL ? ": " : "";
    what = what != NULL ? what : "";
    if (vr != X509_V_OK && e != 0 && ERR_GET_REASON(e) == SSL_R_CERTIFICATE_VERIFY_FAILED) {
        snprintf(msg, len, "%s%scertificate verify failed: %s", what, sep,
                 X509_verify_cert_error_string(vr));
        ERR_clear_error();
        return;
    }
    char reason[160];
    bool plain = e != 0 && ERR_GET_REASON(e) == SSL_R_WRONG_VERSION_NUMBER;
    openssl_reason(reason, sizeof(reason), "unexpected error");
    snprintf(msg, len, "%s%s%s%s", what, sep, reason,
             plain ? " (the server does not speak TLS here: plain HTTP on this port?)" : "");
}

int hr__tls_handshake(hr_conn_t *conn, char *msg, size_t len)
{
    hr_tls_conn_t *tc = conn->tls;
    ERR_clear_error();
    int r = SSL_do_handshake(tc->ssl);
    if (r == 1) {
        tc->handshake_done = true;
        const unsigned char *alpn = NULL;
        unsigned alen = 0;
        SSL_get0_alpn_selected(tc->ssl, &alpn, &alen);
        if (alen != 0 && !(alen == 8 && memcmp(alpn, "http/1.1", 8) == 0)) {
            snprintf(msg, len, "the server selected ALPN protocol '%.*s' (only http/1.1 was "
                               "offered)", (int)(alen > 32 ? 32 : alen),
                     (const char *)alpn);
            tc->fatal = true;
            return HR_E_TLS;
        }
        return 1;
    }
    int e = SSL_get_error(tc->ssl, r);
    if (e == SSL_ERROR_WANT_READ) {
        int rc = flush(conn);
        if (rc < 0) {
            snprintf(msg, len, "%s during the TLS handshake", uv_strerror(rc));
            return HR_E_CONNECT;
        }
        return 0;
    }
    if (e == SSL_ERROR_SYSCALL || (e == SSL_ERROR_SSL && ERR_GET_REASON(ERR_peek_error()) ==
                                                             SSL_R_UNEXPECTED_EOF_WHILE_READING)) {
        ERR_clear_error();
        snprintf(msg, len, "the server closed the connection");
    } else {
        describe(tc, msg, len, NULL);
    }
    flush(conn); /* let the server see our alert */
    tc->fatal = true;
    return HR_E_TLS;
}

/*
 * Decrypts into buf. Returns bytes (> 0), 0 when more ciphertext is needed, HR_TLS_EOF when
 * the stream ended (close_notify, or a TCP EOF: see hr__tls_clean_eof), or a negative HR_E*.
 */
int hr__tls_read(hr_conn_t *conn, char *buf, size_t cap, char *msg, size_t len)
{
    hr_tls_conn_t *tc = conn->tls;
    if (tc->fatal)
        return HR_TLS_EOF;
    size_t got = 0;
    if (SSL_read_ex(tc->ssl, buf, cap, &got) == 1)
        return (int)got;
    int e = SSL_get_error(tc->ssl, 0);
    switch (e) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
        if (flush(conn) < 0) { /* KeyUpdate replies and alerts */
            snprintf(msg, len, "cannot write to the connection");
            return HR_E_READ;
        }
        return 0;
    case SSL_ERROR_ZERO_RETURN:
        tc->close_notify = true;
        return HR_TLS_EOF;
    case SSL_ERROR_SYSCALL:
        ERR_clear_error();
        tc->fatal = true;
        return HR_TLS_EOF; /* the TCP stream ended without close_notify */
    default:
        if (ERR_GET_REASON(ERR_peek_error()) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
            ERR_clear_error();
            tc->fatal = true;
            return HR_TLS_EOF;
        }
        {
            /* An alert from the peer (e.g. TLS 1.3's "certificate required", which arrives
             * after our side of the handshake is done) is a TLS failure; anything else
             * (garbage in the record layer) is a read error. */
            int reason = ERR_GET_REASON(ERR_peek_error());
            bool alert = reason >= SSL_AD_REASON_OFFSET && reason < SSL_AD_REASON_OFFSET + 256;
            describe(tc, msg, len, alert ? "TLS alert from the server" : "TLS error");
            flush(conn);
            tc->fatal = true;
            return alert ? HR_E_TLS : HR_E_READ;
        }
    }
}

/* After HR_TLS_EOF: whether the peer said goodbye with close_notify. */
bool hr__tls_clean_eof(const hr_conn_t *conn) { return conn->tls->close_notify; }

/* Whether decrypted or undecrypted bytes are waiting (a stream paused mid-buffer). */
bool hr__tls_buffered(const hr_conn_t *conn)
{
    return SSL_pending(conn->tls->ssl) > 0 || BIO_pending(conn->tls->rbio) > 0;
}

/* Called at the end of a response: would more application data follow? (Bytes after the
 * message mean the connection cannot be pooled; session tickets and KeyUpdates are fine.) */
bool hr__tls_more_data(hr_conn_t *conn)
{
    hr_tls_conn_t *tc = conn->tls;
    if (tc->fatal)
        return true;
    if (SSL_pending(tc->ssl) > 0)
        return true;
    if (BIO_pending(tc->rbio) == 0)
        return false;
    char b;
    int r = hr__tls_read(conn, &b, 1, (char[8]){0}, 8);
    return r != 0;
}

bool hr__tls_resumed(const hr_conn_t *conn)
{
    return conn->tls != NULL && SSL_session_reused(conn->tls->ssl);
}

const char *hr__tls_version(const hr_conn_t *conn)
{
    return conn->tls != NULL ? SSL_get_version(conn->tls->ssl) : NULL;
}
