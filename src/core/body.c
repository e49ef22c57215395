/*
 * body.c — streamed request bodies: a list of segments (borrowed memory, or files read on the
 * loop through libuv's fs requests), sent with Transfer-Encoding: chunked after the head.
 * One segment piece is in flight at a time, so memory stays at one 64 KiB buffer per upload.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"

#define PIECE (64 * 1024)

typedef struct part_s {
    struct part_s *next;
    const char *mem; /* borrowed */
    size_t len;
    char *path;      /* owned; NULL for memory */
} part_t;

struct hr_parts_s {
    part_t *first, *last;
};

/* The upload in progress on a connection (one per send; parts stay immutable for retries). */
struct hr_upload_s {
    hr_conn_t *conn;
    part_t *part;
    uv_fs_t fs;
    uv_file file;
    bool file_open;
    bool fs_busy;     /* an fs request is running: the upload is freed from its callback */
    bool write_busy;  /* a uv_write of ours is pending: likewise */
    bool abandoned;   /* the connection went away while fs_busy or write_busy */
    uv_write_t write_req;
    bool sent_last;
    char size_line[24];
    char buf[PIECE];
};

static int add_part(hr_request_t *req, const void *p, size_t n, const char *path)
{
    if (req->parts == NULL) {
        req->parts = calloc(1, sizeof(*req->parts));
        if (req->parts == NULL)
            return HR_E_NOMEM;
    }
    part_t *pt = calloc(1, sizeof(*pt));
    if (pt == NULL)
        return HR_E_NOMEM;
    if (path != NULL) {
        pt->path = strdup(path);
        if (pt->path == NULL) {
            free(pt);
            return HR_E_NOMEM;
        }
    } else {
        pt->mem = p;
        pt->len = n;
    }
    bool first = req->parts->last == NULL;
    if (req->parts->last)
        req->parts->last->next = pt;
    else
        req->parts->first = pt;
    req->parts->last = pt;
    if (!first)
        return 0; /* the head already announces chunked framing */
    req->body = NULL;
    req->body_len = 0;
    req->has_body = true;
    return hr__request_build_head(req, NULL, 0); /* chunked instead of a Content-Length */
}

int hr_request_add_part_mem(hr_request_t *req, const void *p, size_t n)
{
    return add_part(req, p, n, NULL);
}

int hr_request_add_part_file(hr_request_t *req, const char *path)
{
    return add_part(req, NULL, 0, path);
}

void hr__parts_free(struct hr_parts_s *parts)
{
    if (parts == NULL)
        return;
    part_t *p = parts->first;
    while (p != NULL) {
        part_t *next = p->next;
        free(p->path);
        free(p);
        p = next;
    }
    free(parts);
}

static void pump(hr_upload_t *up);

static void upload_free(hr_upload_t *up)
{
    if (up->file_open) {
        uv_fs_t close_req;
        uv_fs_close(NULL, &close_req, up->file, NULL); /* synchronous: a local file */
        uv_fs_req_cleanup(&close_req);
    }
    free(up);
}

/* Loop thread: the connection is closing; free now, or when the running fs request ends. */
void hr__upload_abandon(hr_upload_t *up)
{
    if (up == NULL)
        return;
    if (up->fs_busy || up->write_busy) {
        up->abandoned = true;
        return;
    }
    upload_free(up);
}

static void fail(hr_upload_t *up, const char *what, int err)
{
    hr_conn_t *conn = up->conn;
    char msg[512];
    snprintf(msg, sizeof(msg), "cannot read upload file %s: %s (%s)", up->part->path,
             uv_strerror(err), what);
    hr__conn_upload_failed(conn, HR_E_BODY, msg);
}

static void on_piece_written(uv_write_t *w, int status)
{
    hr_upload_t *up = w->data;
    up->write_busy = false;
    if (up->abandoned) {
        upload_free(up);
        return;
    }
    if (status < 0) {
        hr__conn_upload_written(up->conn, status);
        return;
    }
    if (up->part == NULL && !up->file_open && up->sent_last) {
        hr__conn_upload_written(up->conn, 0); /* the whole body is on the wire */
        return;
    }
    pump(up);
}

static void write_piece(hr_upload_t *up, const char *p, size_t n, bool last)
{
    uv_buf_t bufs[3];
    unsigned nb = 0;
    if (n > 0) {
        int l = snprintf(up->size_line, sizeof(up->size_line), "%zx\r\n", n);
        bufs[nb++] = uv_buf_init(up->size_line, (unsigned)l);
        bufs[nb++] = uv_buf_init((char *)p, (unsigned)n);
        bufs[nb++] = uv_buf_init("\r\n", 2);
    }
    if (last)
        bufs[nb++] = uv_buf_init("0\r\n\r\n", 5);
    up->write_req.data = up;
    up->sent_last = last;
    int rc = hr__conn_write(up->conn, &up->write_req, bufs, nb, on_piece_written);
    if (rc < 0) {
        hr__conn_upload_written(up->conn, rc);
        return;
    }
    up->write_busy = true;
}

static void on_read(uv_fs_t *fs)
{
    hr_upload_t *up = fs->data;
    ssize_t n = fs->result;
    uv_fs_req_cleanup(fs);
    up->fs_busy = false;
    if (up->abandoned) {
        upload_free(up);
        return;
    }
    if (n < 0) {
        fail(up, "read", (int)n);
        return;
    }
    if (n == 0) {
        uv_fs_t close_req;
        uv_fs_close(NULL, &close_req, up->file, NULL);
        uv_fs_req_cleanup(&close_req);
        up->file_open = false;
        up->part = up->part->next;
        pump(up);
        return;
    }
    write_piece(up, up->buf, (size_t)n, false);
}

static void read_more(hr_upload_t *up)
{
    uv_buf_t b = uv_buf_init(up->buf, PIECE);
    up->fs.data = up;
    up->fs_busy = true;
    int rc = uv_fs_read(up->conn->client->loop, &up->fs, up->file, &b, 1, -1, on_read);
    if (rc < 0) {
        up->fs_busy = false;
        fail(up, "read", rc);
    }
}

static void on_open(uv_fs_t *fs)
{
    hr_upload_t *up = fs->data;
    ssize_t fd = fs->result;
    uv_fs_req_cleanup(fs);
    up->fs_busy = false;
    if (up->abandoned) {
        if (fd >= 0) {
            uv_fs_t close_req;
            uv_fs_close(NULL, &close_req, (uv_file)fd, NULL);
            uv_fs_req_cleanup(&close_req);
        }
        upload_free(up);
        return;
    }
    if (fd < 0) {
        fail(up, "open", (int)fd);
        return;
    }
    up->file = (uv_file)fd;
    up->file_open = true;
    read_more(up);
}

/* Sends the next piece: more of the current file, the next segment, or the last chunk. */
static void pump(hr_upload_t *up)
{
    if (up->file_open) {
        read_more(up);
        return;
    }
    part_t *pt = up->part;
    if (pt == NULL) {
        write_piece(up, NULL, 0, true);
        return;
    }
    if (pt->path == NULL) {
        up->part = pt->next;
        if (pt->len == 0) {
            pump(up);
            return;
        }
        write_piece(up, pt->mem, pt->len, false);
        return;
    }
    up->fs.data = up;
    up->fs_busy = true;
    int rc = uv_fs_open(up->conn->client->loop, &up->fs, pt->path, O_RDONLY, 0, on_open);
    if (rc < 0) {
        up->fs_busy = false;
        fail(up, "open", rc);
    }
}

/* Loop thread: starts sending req->parts on conn (after its head was queued); the upload is
 * conn->upload until the connection abandons it. */
int hr__upload_start(hr_conn_t *conn, hr_request_t *req)
{
    hr_upload_t *up = calloc(1, sizeof(*up));
    if (up == NULL)
        return HR_E_NOMEM;
    up->conn = conn;
    up->part = req->parts->first;
    conn->upload = up;
    pump(up);
    return 0;
}
