/*
 * decode.c — content codings (gzip, deflate, br, zstd). A streamed body is decoded
 * incrementally on the loop thread, as it arrives. A buffered body is kept encoded until its
 * last byte and then decoded in one go: inline when it is small, otherwise on the loop's thread
 * pool (uv_queue_work), so that the loop thread goes on with other connections and large
 * bodies are decoded on several cores at once; a single gzip member is undone by libdeflate in
 * one call (about twice zlib's speed), with zlib as the fallback for anything it refuses.
 * A chain ("gzip, br") is undone in reverse order. Guards: at most HR_MAX_CODINGS codings, and
 * a decompression-bomb check on the decoded size against the encoded size.
 *
 * The same thread-pool job also reads JSON ahead (json_tape.c) when the request asked for it
 * and the response is JSON: after decoding, or alone for a body without content codings.
 */
#include <stdio.h>
#include <stdlib.h>

#include <brotli/decode.h>
#include <libdeflate.h>
#include <pthread.h>
#include <zlib.h>
#include <zstd.h>

#include "internal.h"

#define OUT_CHUNK (64 * 1024)
#define BOMB_MIN_BYTES (64u * 1024 * 1024)
#define BOMB_RATIO 200
/* a buffered body encoded in fewer bytes is decoded on the loop thread: the hand-off to the
 * thread pool and back costs more than decoding it */
#define INLINE_MAX_BYTES (32u * 1024)

typedef enum { CODING_GZIP = 1, CODING_DEFLATE, CODING_BR, CODING_ZSTD } coding_t;

typedef struct {
    coding_t kind;
    bool done;          /* the coding's end-of-stream marker was seen */
    bool deflate_raw;   /* "deflate" sent without its zlib wrapper (common server bug) */
    bool started;
    bool zstd_frame_end;
    union {
        z_stream z;
        BrotliDecoderState *br;
        ZSTD_DStream *zs;
    } u;
} decoder_t;

struct hr_decoder_s {
    int n;
    decoder_t d[HR_MAX_CODINGS];
    uint64_t in_total, out_total;
    /* Each stage's output (OUT_CHUNK bytes; the last one's goes to the sink), and each
     * coding's own state, are made on first use: a buffered gzip body that libdeflate undoes
     * in one call (gzip_oneshot) never needs them. */
    char *out[HR_MAX_CODINGS];
};

static bool token_eq(const char *a, size_t n, const char *lit)
{
    size_t m = strlen(lit);
    if (n != m)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = a[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c + 32);
        if (c != lit[i])
            return false;
    }
    return true;
}

static int init_one(decoder_t *d)
{
    switch (d->kind) {
    case CODING_GZIP:
    case CODING_DEFLATE:
        memset(&d->u.z, 0, sizeof(d->u.z));
        /* gzip: 16+MAX_WBITS; deflate: zlib wrapper (raw deflate is detected on the fly) */
        if (inflateInit2(&d->u.z, d->kind == CODING_GZIP ? 16 + MAX_WBITS : MAX_WBITS) != Z_OK)
            return HR_E_NOMEM;
        break;
    case CODING_BR:
        d->u.br = BrotliDecoderCreateInstance(NULL, NULL, NULL);
        if (d->u.br == NULL)
            return HR_E_NOMEM;
        break;
    case CODING_ZSTD:
        d->u.zs = ZSTD_createDStream();
        if (d->u.zs == NULL || ZSTD_isError(ZSTD_initDStream(d->u.zs))) {
            ZSTD_freeDStream(d->u.zs); /* (NULL is fine) */
            return HR_E_NOMEM;
        }
        break;
    }
    d->started = true;
    return 0;
}

/*
 * Parses a Content-Encoding value. Returns NULL (no decoding) for an empty value, "identity",
 * or any coding we do not know (the body is then passed on untouched, header kept);
 * *err is set for a chain longer than HR_MAX_CODINGS.
 */
hr_decoder_t *hr__decoder_new(const char *value, size_t len, int *err)
{
    coding_t kinds[HR_MAX_CODINGS + 1];
    int n = 0;
    *err = 0;
    size_t i = 0;
    while (i < len) {
        while (i < len && (value[i] == ' ' || value[i] == '\t' || value[i] == ','))
            i++;
        size_t s = i;
        while (i < len && value[i] != ',' && value[i] != ' ' && value[i] != '\t')
            i++;
        if (i == s)
            break;
        const char *t = value + s;
        size_t tl = i - s;
        if (token_eq(t, tl, "identity"))
            continue;
        if (n == HR_MAX_CODINGS) {
            *err = HR_E_DECODING;
            return NULL;
        }
        if (token_eq(t, tl, "gzip") || token_eq(t, tl, "x-gzip"))
            kinds[n++] = CODING_GZIP;
        else if (token_eq(t, tl, "deflate"))
            kinds[n++] = CODING_DEFLATE;
        else if (token_eq(t, tl, "br"))
            kinds[n++] = CODING_BR;
        else if (token_eq(t, tl, "zstd"))
            kinds[n++] = CODING_ZSTD;
        else
            return NULL; /* unknown coding: hand the body over as it is */
    }
    if (n == 0)
        return NULL;
    hr_decoder_t *dec = calloc(1, sizeof(*dec));
    if (dec == NULL) {
        *err = HR_E_NOMEM;
        return NULL;
    }
    /* the last coding applied is undone first */
    for (int k = 0; k < n; k++)
        dec->d[k].kind = kinds[n - 1 - k];
    dec->n = n;
    return dec;
}

void hr__decoder_free(hr_decoder_t *dec)
{
    if (dec == NULL)
        return;
    for (int k = 0; k < dec->n; k++) {
        decoder_t *d = &dec->d[k];
        if (!d->started)
            continue;
        switch (d->kind) {
        case CODING_GZIP:
        case CODING_DEFLATE:
            inflateEnd(&d->u.z);
            break;
        case CODING_BR:
            BrotliDecoderDestroyInstance(d->u.br);
            break;
        case CODING_ZSTD:
            ZSTD_freeDStream(d->u.zs);
            break;
        }
    }
    for (int k = 0; k < HR_MAX_CODINGS; k++)
        free(dec->out[k]);
    free(dec);
}

typedef struct {
    hr_decoder_t *dec;
    hr_decode_sink_t sink;
    void *ctx;
    char *err;
    size_t errlen;
} run_t;

static int stage(run_t *r, int k, const char *in, size_t n);

/* Passes `n` decoded bytes of stage k on to stage k+1, or to the sink after the last. */
static int emit(run_t *r, int k, const char *p, size_t n)
{
    if (n == 0)
        return 0;
    if (k + 1 < r->dec->n)
        return stage(r, k + 1, p, n);
    r->dec->out_total += n;
    if (r->dec->out_total > BOMB_MIN_BYTES &&
        r->dec->out_total / BOMB_RATIO > r->dec->in_total) {
        snprintf(r->err, r->errlen,
                 "decoded body exceeds %u MiB at more than %u:1 compression: refusing a "
                 "possible decompression bomb",
                 BOMB_MIN_BYTES >> 20, BOMB_RATIO);
        return HR_E_DECODING;
    }
    return r->sink(r->ctx, p, n);
}

static int zfail(run_t *r, decoder_t *d, int zrc)
{
    snprintf(r->err, r->errlen, "error decoding %s body: %s",
             d->kind == CODING_GZIP ? "gzip" : "deflate",
             d->u.z.msg ? d->u.z.msg : zrc == Z_DATA_ERROR ? "invalid data" : "zlib error");
    return HR_E_DECODING;
}

static int stage(run_t *r, int k, const char *in, size_t n)
{
    decoder_t *d = &r->dec->d[k];
    int rc;
    if (!d->started && (rc = init_one(d)) != 0) {
        snprintf(r->err, r->errlen, "out of memory");
        return rc;
    }
    if (r->dec->out[k] == NULL && (r->dec->out[k] = malloc(OUT_CHUNK)) == NULL) {
        snprintf(r->err, r->errlen, "out of memory");
        return HR_E_NOMEM;
    }
    char *out = r->dec->out[k];
    if (d->done && d->kind != CODING_ZSTD) {
        if (n == 0)
            return 0;
        snprintf(r->err, r->errlen, "data after the end of the compressed body");
        return HR_E_DECODING;
    }
    switch (d->kind) {
    case CODING_GZIP:
    case CODING_DEFLATE: {
        z_stream *z = &d->u.z;
        z->next_in = (Bytef *)in;
        z->avail_in = (uInt)n;
        for (;;) {
            z->next_out = (Bytef *)out;
            z->avail_out = OUT_CHUNK;
            int zr = inflate(z, Z_NO_FLUSH);
            if (zr == Z_DATA_ERROR && d->kind == CODING_DEFLATE && !d->deflate_raw &&
                z->total_out == 0) {
                /* "deflate" without the zlib header: retry the same bytes as raw deflate */
                inflateEnd(z);
                memset(z, 0, sizeof(*z));
                if (inflateInit2(z, -MAX_WBITS) != Z_OK)
                    return HR_E_NOMEM;
                d->deflate_raw = true;
                z->next_in = (Bytef *)in;
                z->avail_in = (uInt)n;
                continue;
            }
            if (zr != Z_OK && zr != Z_STREAM_END && zr != Z_BUF_ERROR)
                return zfail(r, d, zr);
            if ((rc = emit(r, k, out, OUT_CHUNK - z->avail_out)) != 0)
                return rc;
            if (zr == Z_STREAM_END) {
                if (z->avail_in == 0) {
                    d->done = true;
                    return 0;
                }
                if (d->kind != CODING_GZIP) {
                    snprintf(r->err, r->errlen, "data after the end of the compressed body");
                    return HR_E_DECODING;
                }
                inflateReset(z); /* concatenated gzip members (RFC 1952 §2.2) */
                continue;
            }
            if (z->avail_out != 0)
                return 0; /* all input consumed and all output flushed */
        }
    }
    case CODING_BR: {
        const uint8_t *next_in = (const uint8_t *)in;
        size_t avail_in = n;
        for (;;) {
            uint8_t *next_out = (uint8_t *)out;
            size_t avail_out = OUT_CHUNK;
            BrotliDecoderResult br = BrotliDecoderDecompressStream(
                d->u.br, &avail_in, &next_in, &avail_out, &next_out, NULL);
            if (br == BROTLI_DECODER_RESULT_ERROR) {
                snprintf(r->err, r->errlen, "error decoding br body: %s",
                         BrotliDecoderErrorString(BrotliDecoderGetErrorCode(d->u.br)));
                return HR_E_DECODING;
            }
            if ((rc = emit(r, k, out, OUT_CHUNK - avail_out)) != 0)
                return rc;
            if (br == BROTLI_DECODER_RESULT_SUCCESS) {
                d->done = true;
                if (avail_in > 0) {
                    snprintf(r->err, r->errlen, "data after the end of the compressed body");
                    return HR_E_DECODING;
                }
                return 0;
            }
            if (br == BROTLI_DECODER_RESULT_NEEDS_MORE_INPUT)
                return 0;
            /* NEEDS_MORE_OUTPUT: loop */
        }
    }
    case CODING_ZSTD: {
        ZSTD_inBuffer ib = {in, n, 0};
        for (;;) {
            ZSTD_outBuffer ob = {out, OUT_CHUNK, 0};
            size_t in_before = ib.pos;
            size_t zr = ZSTD_decompressStream(d->u.zs, &ob, &ib);
            if (ZSTD_isError(zr)) {
                snprintf(r->err, r->errlen, "error decoding zstd body: %s",
                         ZSTD_getErrorName(zr));
                return HR_E_DECODING;
            }
            if ((rc = emit(r, k, out, ob.pos)) != 0)
                return rc;
            /* several frames may follow each other; a call that moved nothing (after a frame
             * ended exactly at the end of the output buffer) says nothing about the end */
            if (zr == 0)
                d->zstd_frame_end = true;
            else if (ib.pos > in_before || ob.pos > 0)
                d->zstd_frame_end = false;
            if (ib.pos == ib.size && ob.pos < ob.size)
                return 0;
        }
    }
    }
    return 0;
}

int hr__decoder_feed(hr_decoder_t *dec, const char *p, size_t n, hr_decode_sink_t sink,
                     void *ctx, char *err, size_t errlen)
{
    run_t r = {dec, sink, ctx, err, errlen};
    dec->in_total += n;
    return stage(&r, 0, p, n);
}

/* At the end of the body: every coding must have reached its end-of-stream marker. */
int hr__decoder_finish(hr_decoder_t *dec, char *err, size_t errlen)
{
    for (int k = 0; k < dec->n; k++) {
        if (dec->d[k].kind == CODING_ZSTD ? !dec->d[k].zstd_frame_end : !dec->d[k].done) {
            if (dec->d[k].kind == CODING_DEFLATE && dec->d[k].deflate_raw)
                continue; /* raw deflate has no trailer to wait for */
            snprintf(err, errlen, "compressed body ended before the end of the stream");
            return HR_E_DECODING;
        }
    }
    return 0;
}

/* ---- buffered bodies: decoded whole, once the last byte is in ---- */

static bool is_bomb(uint64_t out, uint64_t in)
{
    return out > BOMB_MIN_BYTES && out / BOMB_RATIO > in;
}

/* One libdeflate decompressor per thread that decodes (the loop's, the pool's), made on first
 * use and freed when the thread exits: making one per body cost a fresh ~32 KiB of tables
 * (page faults) every time. */
static pthread_key_t deflater_key;
static pthread_once_t deflater_once = PTHREAD_ONCE_INIT;

static void deflater_free(void *d) { libdeflate_free_decompressor(d); }
static void deflater_init(void) { pthread_key_create(&deflater_key, deflater_free); }

static struct libdeflate_decompressor *thread_decompressor(void)
{
    pthread_once(&deflater_once, deflater_init);
    struct libdeflate_decompressor *d = pthread_getspecific(deflater_key);
    if (d == NULL && (d = libdeflate_alloc_decompressor()) != NULL &&
        pthread_setspecific(deflater_key, d) != 0) {
        libdeflate_free_decompressor(d);
        d = NULL;
    }
    return d;
}

/*
 * One gzip member, undone by libdeflate into a buffer of the size the trailer announces.
 * Returns false, with `out` empty, when that does not apply or fails (several members, a
 * lying trailer, corrupt data): zlib then decodes it and names the error.
 */
static bool gzip_oneshot(const char *in, size_t n, hr_buf_t *out)
{
    const unsigned char *u = (const unsigned char *)in;
    if (n < 18 || u[0] != 0x1f || u[1] != 0x8b)
        return false;
    size_t isize = (size_t)u[n - 4] | (size_t)u[n - 3] << 8 | (size_t)u[n - 2] << 16 |
                   (size_t)u[n - 1] << 24; /* the member's size mod 2^32 */
    if (isize == 0 || is_bomb(isize, n) || hr_buf_reserve_exact(out, isize) != 0)
        return false;
    struct libdeflate_decompressor *d = thread_decompressor();
    if (d == NULL)
        return false;
    size_t used = 0, got = 0;
    enum libdeflate_result r =
        libdeflate_gzip_decompress_ex(d, in, n, out->data, isize, &used, &got);
    if (r != LIBDEFLATE_SUCCESS || used != n || got != isize)
        return false;
    out->len = got;
    return true;
}

static int append_sink(void *ctx, const char *p, size_t n)
{
    return hr_buf_append(ctx, p, n);
}

/* Decodes a whole encoded body into `out` (empty). Any thread: touches nothing shared. */
static int decode_whole(hr_decoder_t *dec, const char *in, size_t n, hr_buf_t *out, char *err,
                        size_t errlen)
{
    if (dec->n == 1 && dec->d[0].kind == CODING_GZIP && gzip_oneshot(in, n, out))
        return 0;
    out->len = 0;
    int rc = hr__decoder_feed(dec, in, n, append_sink, out, err, errlen);
    if (rc == 0)
        rc = hr__decoder_finish(dec, err, errlen);
    if (rc == HR_E_NOMEM)
        snprintf(err, errlen, "out of memory");
    return rc;
}

struct hr_decode_job_s {
    uv_work_t work;
    hr_request_t *req;
    hr_buf_t in;  /* the body as received, taken from the request */
    hr_buf_t out; /* decoded (when the request has a decoder) */
    bool tape;    /* also read the JSON ahead */
    hr_json_tape_t *json_tape;
    bool cancelled;
    int rc;
    char msg[160];
};

static bool tape_size_ok(size_t n)
{
    return n >= HR_JSON_AHEAD_MIN && n <= HR_JSON_AHEAD_MAX;
}

/* A buffered body read with JSON read ahead asked for, labelled JSON: whether its size
 * (as received: before content codings are undone) calls for a job. */
static bool wants_tape(const hr_request_t *req)
{
    return req->json_ahead && (req->seen & HR_SEEN_JSON) &&
           (req->decoder != NULL || tape_size_ok(req->body_out.len));
}

static void job_run(uv_work_t *w)
{
    hr_decode_job_t *j = HR_CONTAINER_OF(w, hr_decode_job_t, work);
    hr_buf_t *body = &j->in;
    if (j->req->decoder != NULL) {
        j->rc = decode_whole(j->req->decoder, j->in.data, j->in.len, &j->out, j->msg,
                             sizeof(j->msg));
        if (j->rc != 0)
            return;
        body = &j->out;
    }
    if (j->tape && tape_size_ok(body->len))
        j->json_tape = hr_json_tape_parse(body->data, body->len);
}

/* Back on the loop thread: the decoded body replaces the encoded one. */
static void job_done(uv_work_t *w, int status)
{
    hr_decode_job_t *j = HR_CONTAINER_OF(w, hr_decode_job_t, work);
    hr_request_t *req = j->req;
    req->job = NULL;
    if (status == UV_ECANCELED || j->cancelled) {
        hr__request_fail(req, HR_E_CANCELLED, "request cancelled");
    } else if (j->rc != 0) {
        hr__request_fail(req, j->rc, "%s", j->msg);
    } else {
        if (req->decoder != NULL)
            HR_SWAP(hr_buf_t, req->body_out, j->out);
        else
            HR_SWAP(hr_buf_t, req->body_out, j->in);
        req->json_tape = j->json_tape;
        j->json_tape = NULL;
    }
    hr_json_tape_free(j->json_tape);
    hr_buf_free(&j->in);
    hr_buf_free(&j->out);
    free(j);
    hr__client_request_done(req->client, req);
}

/*
 * The buffered body of `req` (a final response, fully read, its connection released):
 * decodes it when it is encoded and reads it ahead when it is JSON to read ahead
 * (wants_tape), then completes the request; a body with neither completes at once. The work
 * goes to the thread pool unless it is small: an encoded body under INLINE_MAX_BYTES is
 * decoded here (and not read ahead).
 */
void hr__request_decode(hr_request_t *req)
{
    hr_client_t *c = req->client;
    bool tape = wants_tape(req);
    if (req->decoder != NULL ? req->body_out.len >= INLINE_MAX_BYTES : tape) {
        hr_decode_job_t *j = calloc(1, sizeof(*j));
        if (j != NULL) {
            j->req = req;
            j->tape = tape;
            HR_SWAP(hr_buf_t, j->in, req->body_out);
            if (uv_queue_work(c->loop, &j->work, job_run, job_done) == 0) {
                req->job = j;
                req->state = HR_REQ_DECODING;
                return;
            }
            HR_SWAP(hr_buf_t, j->in, req->body_out);
            free(j);
        }
        /* no job: decode here, without the read ahead */
    }
    if (req->decoder == NULL) {
        hr__client_request_done(c, req);
        return;
    }
    hr_buf_t out = {0};
    char msg[160];
    int rc = decode_whole(req->decoder, req->body_out.data, req->body_out.len, &out, msg,
                          sizeof(msg));
    if (rc != 0)
        hr__request_fail(req, rc, "%s", msg);
    else
        HR_SWAP(hr_buf_t, req->body_out, out);
    hr_buf_free(&out);
    hr__client_request_done(c, req);
}

/* hr_request_cancel on a body being decoded: the job is dropped or its result ignored. */
void hr__request_decode_cancel(hr_request_t *req)
{
    hr_decode_job_t *j = req->job;
    j->cancelled = true;
    uv_cancel((uv_req_t *)&j->work); /* fails once the job runs: then job_done sees the flag */
}
