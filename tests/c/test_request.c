/*
 * test_request.c — request validation and head serialisation (no network).
 * Each case is data: inputs, the expected code, and the expected head (when it succeeds).
 */
#include <stdio.h>
#include <string.h>

#include "hr.h"

typedef struct {
    const char *method, *url;
    const char *hname, *hvalue; /* one optional header */
    const char *body;
    int want_err;
    const char *want_head;
} rcase_t;

static const rcase_t cases[] = {
    {"GET", "http://example.test/a?b=1#frag", NULL, NULL, NULL, 0,
     "GET /a?b=1 HTTP/1.1\r\nHost: example.test\r\n\r\n"},
    {"GET", "http://Example.TEST:8080", NULL, NULL, NULL, 0,
     "GET / HTTP/1.1\r\nHost: example.test:8080\r\n\r\n"},
    {"GET", "http://[::1]:81/x", NULL, NULL, NULL, 0, "GET /x HTTP/1.1\r\nHost: [::1]:81\r\n\r\n"},
    {"GET", "http://h?q", NULL, NULL, NULL, 0, "GET /?q HTTP/1.1\r\nHost: h\r\n\r\n"},
    {"GET", "http://user:pw@h/", NULL, NULL, NULL, 0, "GET / HTTP/1.1\r\nHost: h\r\n\r\n"},
    {"POST", "http://h/", "a", "b", "xyz", 0,
     "POST / HTTP/1.1\r\nHost: h\r\na: b\r\nContent-Length: 3\r\n\r\n"},
    {"POST", "http://h/", NULL, NULL, NULL, 0,
     "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n"},
    {"GET", "http://h/", "Host", "other", NULL, 0, "GET / HTTP/1.1\r\nHost: other\r\n\r\n"},
    {"GET", "https://h/", NULL, NULL, NULL, 0, "GET / HTTP/1.1\r\nHost: h\r\n\r\n"},
    {"GET", "ftp://h/", NULL, NULL, NULL, HR_E_UNSUPPORTED_SCHEME, NULL},
    {"GET", "h/path", NULL, NULL, NULL, HR_E_INVALID_URL, NULL},
    {"GET", "http:///path", NULL, NULL, NULL, HR_E_INVALID_URL, NULL},
    {"GET", "http://h:0/", NULL, NULL, NULL, HR_E_INVALID_URL, NULL},
    {"GET", "http://h:65536/", NULL, NULL, NULL, HR_E_INVALID_URL, NULL},
    {"GET", "http://h:8a/", NULL, NULL, NULL, HR_E_INVALID_URL, NULL},
    {"GET", "http://h/a b", NULL, NULL, NULL, HR_E_INVALID_URL, NULL},
    {"GET", "http://h/a\r\nX: y", NULL, NULL, NULL, HR_E_INVALID_URL, NULL},
    {"GET", "http://h\x01/", NULL, NULL, NULL, HR_E_INVALID_URL, NULL},
    {"GET", "http://[::1/", NULL, NULL, NULL, HR_E_INVALID_URL, NULL},
    {"G T", "http://h/", NULL, NULL, NULL, HR_E_INVALID_METHOD, NULL},
    {"GET", "http://h/", "x", "a\r\nInjected: 1", NULL, HR_E_INVALID_HEADER, NULL},
    {"GET", "http://h/", "x", "a\nb", NULL, HR_E_INVALID_HEADER, NULL},
    {"GET", "http://h/", "bad name", "v", NULL, HR_E_INVALID_HEADER, NULL},
    {"GET", "http://h/", "x:y", "v", NULL, HR_E_INVALID_HEADER, NULL},
    {"GET", "http://h/", "", "v", NULL, HR_E_INVALID_HEADER, NULL},
    {"GET", "http://h/", "x", "a\x01b", NULL, HR_E_INVALID_HEADER, NULL},
    {"GET", "http://h/", "x", "a\x7f", NULL, HR_E_INVALID_HEADER, NULL},
    {"GET", "http://h/", "x", "a\tb", NULL, 0, "GET / HTTP/1.1\r\nHost: h\r\nx: a\tb\r\n\r\n"},
    {"POST", "http://h/", "Content-Length", "3", "xyz", 0,
     "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\n"},
    {"POST", "http://h/", "Content-Length", "2", "xyz", HR_E_INVALID_HEADER, NULL},
    {"GET", "http://h/", "content-length", "3", NULL, HR_E_INVALID_HEADER, NULL},
    {"POST", "http://h/", "Content-Length", "3x", "xyz", HR_E_INVALID_HEADER, NULL},
    {"POST", "http://h/", "Transfer-Encoding", "chunked", "xyz", HR_E_INVALID_HEADER, NULL},
};

int main(void)
{
    int failures = 0;
    size_t n = sizeof(cases) / sizeof(cases[0]);
    for (size_t i = 0; i < n; i++) {
        const rcase_t *c = &cases[i];
        hr_header_t h = {c->hname, c->hname ? strlen(c->hname) : 0, c->hvalue,
                         c->hvalue ? strlen(c->hvalue) : 0};
        int err = 0;
        char ebuf[256] = "";
        hr_request_t *req = hr_request_new(c->method, strlen(c->method), c->url, strlen(c->url),
                                           &h, c->hname ? 1 : 0, c->body,
                                           c->body ? strlen(c->body) : 0, &err, ebuf,
                                           sizeof(ebuf));
        if (err != c->want_err || (req == NULL) != (c->want_err != 0)) {
            fprintf(stderr, "FAIL case %zu (%s): err %d want %d (%s)\n", i, c->url, err,
                    c->want_err, ebuf);
            failures++;
        }
        if (err != 0 && ebuf[0] == '\0') {
            fprintf(stderr, "FAIL case %zu: no error message\n", i);
            failures++;
        }
        hr_request_free(req);
    }
    for (size_t i = 0; i < n; i++) {
        const rcase_t *c = &cases[i];
        if (c->want_head == NULL)
            continue;
        hr_header_t h = {c->hname, c->hname ? strlen(c->hname) : 0, c->hvalue,
                         c->hvalue ? strlen(c->hvalue) : 0};
        int err;
        hr_request_t *req = hr_request_new(c->method, strlen(c->method), c->url, strlen(c->url),
                                           &h, c->hname ? 1 : 0, c->body,
                                           c->body ? strlen(c->body) : 0, &err, NULL, 0);
        size_t len = 0;
        const char *head = req ? hr_request_head(req, &len) : "";
        if (len != strlen(c->want_head) || memcmp(head, c->want_head, len) != 0) {
            fprintf(stderr, "FAIL head %zu: got [%.*s]\nwant [%s]\n", i, (int)len, head,
                    c->want_head);
            failures++;
        }
        /* a copy (of a copy) is the same request; requests with a body are not copied */
        hr_request_t *cp = req ? hr_request_copy(req) : NULL;
        hr_request_t *cp2 = cp ? hr_request_copy(cp) : NULL;
        if ((cp2 == NULL) != (c->body != NULL)) {
            fprintf(stderr, "FAIL copy %zu: %s\n", i, cp2 ? "body copied" : "no copy");
            failures++;
        }
        if (cp2 != NULL) {
            size_t clen = 0;
            const char *chead = hr_request_head(cp2, &clen);
            if (clen != len || memcmp(chead, head, len) != 0) {
                fprintf(stderr, "FAIL copy head %zu: got [%.*s]\n", i, (int)clen, chead);
                failures++;
            }
        }
        hr_request_free(cp2);
        hr_request_free(cp);
        hr_request_free(req);
    }
    hr_stats_t st;
    hr_get_stats(&st);
    if (st.requests != 0) {
        fprintf(stderr, "FAIL: %lld request records leaked\n", (long long)st.requests);
        failures++;
    }
    printf("%zu cases, %d failures\n", n, failures);
    return failures ? 1 : 0;
}
