/*
 * cookies.c — the client's cookie jar (RFC 6265 §5), kept and consulted on the loop thread:
 * Set-Cookie of every response (redirect hops included) is stored, and matching cookies are
 * sent on later requests that carry no Cookie header of their own.
 *
 * Bounded: a cookie's name + value at most 4096 bytes, 50 cookies per domain and 3000 in all
 * (the oldest goes first). No public-suffix list: a Domain attribute must domain-match the
 * request host and contain a dot, and IP hosts only get host-only cookies.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "internal.h"

#define MAX_COOKIE_BYTES 4096
#define MAX_PER_DOMAIN 50
#define MAX_COOKIES 3000

typedef struct {
    hr_queue_t link;
    char *name, *value, *domain, *path;
    bool host_only, secure, http_only;
    int64_t expires; /* unix seconds; INT64_MAX for a session cookie */
    uint64_t created;
} cookie_t;

static uint64_t seq; /* creation order (ties in the Cookie header are broken by it) */

static char *dupn(const char *p, size_t n)
{
    char *s = malloc(n + 1);
    if (s != NULL) {
        memcpy(s, p, n);
        s[n] = '\0';
    }
    return s;
}

static void cookie_free(cookie_t *ck)
{
    free(ck->name);
    free(ck->value);
    free(ck->domain);
    free(ck->path);
    free(ck);
}

static void trim(const char **p, size_t *n)
{
    while (*n > 0 && (**p == ' ' || **p == '\t')) {
        (*p)++;
        (*n)--;
    }
    while (*n > 0 && ((*p)[*n - 1] == ' ' || (*p)[*n - 1] == '\t'))
        (*n)--;
}

static bool ieq_n(const char *a, size_t n, const char *lit)
{
    if (strlen(lit) != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (tolower((unsigned char)a[i]) != lit[i])
            return false;
    return true;
}

/* RFC 6265 §5.1.1, simplified: finds time, day, month and year tokens in any order. */
static int64_t parse_date(const char *s, size_t n)
{
    static const char *months[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                   "jul", "aug", "sep", "oct", "nov", "dec"};
    int hh = -1, mm = 0, ss = 0, day = -1, mon = -1, year = -1;
    size_t i = 0;
    while (i < n) {
        while (i < n && !isalnum((unsigned char)s[i]) && s[i] != ':')
            i++;
        size_t st = i;
        while (i < n && (isalnum((unsigned char)s[i]) || s[i] == ':'))
            i++;
        size_t tl = i - st;
        if (tl == 0)
            break;
        char tok[32];
        if (tl >= sizeof(tok))
            continue;
        memcpy(tok, s + st, tl);
        tok[tl] = '\0';
        int a, b, c;
        if (hh < 0 && sscanf(tok, "%2d:%2d:%2d", &a, &b, &c) == 3) {
            hh = a, mm = b, ss = c;
        } else if (day < 0 && tl <= 2 && isdigit((unsigned char)tok[0])) {
            day = atoi(tok);
        } else if (mon < 0 && tl >= 3 && isalpha((unsigned char)tok[0])) {
            for (int m = 0; m < 12; m++)
                if (strncasecmp(tok, months[m], 3) == 0)
                    mon = m;
        } else if (year < 0 && tl >= 2 && tl <= 4 && isdigit((unsigned char)tok[0])) {
            year = atoi(tok);
            if (year >= 70 && year <= 99)
                year += 1900;
            else if (year < 70)
                year += 2000;
        }
    }
    if (hh < 0 || day < 1 || day > 31 || mon < 0 || year < 1601 || hh > 23 || mm > 59 ||
        ss > 59)
        return -1;
    struct tm tm = {0};
    tm.tm_year = year - 1900;
    tm.tm_mon = mon;
    tm.tm_mday = day;
    tm.tm_hour = hh;
    tm.tm_min = mm;
    tm.tm_sec = ss;
    return (int64_t)timegm(&tm);
}

/* RFC 6265 §5.1.3 */
static bool domain_match(const char *host, const char *domain)
{
    size_t h = strlen(host), d = strlen(domain);
    if (h == d)
        return memcmp(host, domain, h) == 0;
    return h > d && host[h - d - 1] == '.' && memcmp(host + h - d, domain, d) == 0;
}

/* RFC 6265 §5.1.4 */
static bool path_match(const char *req_path, size_t rl, const char *cpath)
{
    size_t cl = strlen(cpath);
    if (rl < cl || memcmp(req_path, cpath, cl) != 0)
        return false;
    return rl == cl || cpath[cl - 1] == '/' || req_path[cl] == '/';
}

static bool is_ip(const char *host)
{
    struct sockaddr_storage ss;
    return hr__parse_ip_literal(host, 0, &ss) != 0;
}

static void jar_store(hr_client_t *c, hr_request_t *req, const char *sc, size_t len)
{
    const char *semi = memchr(sc, ';', len);
    const char *pair = sc;
    size_t pl = semi ? (size_t)(semi - sc) : len;
    const char *eq = memchr(pair, '=', pl);
    if (eq == NULL)
        return;
    const char *name = pair, *value = eq + 1;
    size_t nl = (size_t)(eq - pair), vl = pl - nl - 1;
    trim(&name, &nl);
    trim(&value, &vl);
    if (nl == 0 || nl + vl > MAX_COOKIE_BYTES)
        return;
    if (vl >= 2 && value[0] == '"' && value[vl - 1] == '"') {
        value++;
        vl -= 2;
    }

    const char *host = req->target.host;
    const char *dom = NULL, *path = NULL;
    size_t dl = 0, pathl = 0;
    bool secure = false, http_only = false, have_max_age = false;
    int64_t expires = INT64_MAX, now = (int64_t)time(NULL);
    const char *a = semi ? semi + 1 : sc + len;
    while (a < sc + len) {
        const char *next = memchr(a, ';', (size_t)(sc + len - a));
        size_t al = next ? (size_t)(next - a) : (size_t)(sc + len - a);
        const char *ae = memchr(a, '=', al);
        const char *k = a, *v = ae ? ae + 1 : a + al;
        size_t kl = ae ? (size_t)(ae - a) : al, vvl = ae ? al - kl - 1 : 0;
        trim(&k, &kl);
        trim(&v, &vvl);
        if (ieq_n(k, kl, "expires") && !have_max_age) {
            int64_t t = parse_date(v, vvl);
            if (t >= 0)
                expires = t;
        } else if (ieq_n(k, kl, "max-age") && vvl > 0) {
            char buf[24];
            if (vvl < sizeof(buf)) {
                memcpy(buf, v, vvl);
                buf[vvl] = '\0';
                char *endp;
                long long s = strtoll(buf, &endp, 10);
                if (*endp == '\0') {
                    have_max_age = true;
                    expires = s <= 0 ? 0 : (s > INT32_MAX ? INT64_MAX : now + s);
                }
            }
        } else if (ieq_n(k, kl, "domain") && vvl > 0) {
            if (v[0] == '.') {
                v++;
                vvl--;
            }
            dom = v;
            dl = vvl;
        } else if (ieq_n(k, kl, "path") && vvl > 0 && v[0] == '/') {
            path = v;
            pathl = vvl;
        } else if (ieq_n(k, kl, "secure")) {
            secure = true;
        } else if (ieq_n(k, kl, "httponly")) {
            http_only = true;
        }
        a = next ? next + 1 : sc + len;
    }

    cookie_t *ck = calloc(1, sizeof(*ck));
    if (ck == NULL)
        return;
    if (dom != NULL && dl > 0) {
        ck->domain = dupn(dom, dl);
        if (ck->domain == NULL)
            goto drop;
        for (char *q = ck->domain; *q; q++)
            *q = (char)tolower((unsigned char)*q);
        /* no cookies for other sites, for a bare TLD, or for a whole IP range */
        if (!domain_match(host, ck->domain) || strchr(ck->domain, '.') == NULL ||
            (is_ip(host) && strcmp(host, ck->domain) != 0))
            goto drop;
        ck->host_only = strcmp(host, ck->domain) == 0 && is_ip(host);
    } else {
        ck->domain = dupn(host, strlen(host));
        ck->host_only = true;
        if (ck->domain == NULL)
            goto drop;
    }
    if (path != NULL) {
        ck->path = dupn(path, pathl);
    } else {
        /* default-path (§5.1.4): the request path up to its last '/' */
        const char *rp = req->url + req->path_off;
        size_t rl = req->path_len;
        const char *q = memchr(rp, '?', rl);
        if (q)
            rl = (size_t)(q - rp);
        size_t last = 0;
        for (size_t i = 0; i < rl; i++)
            if (rp[i] == '/')
                last = i;
        ck->path = (rl == 0 || rp[0] != '/' || last == 0) ? dupn("/", 1) : dupn(rp, last);
    }
    ck->name = dupn(name, nl);
    ck->value = dupn(value, vl);
    if (ck->path == NULL || ck->name == NULL || ck->value == NULL)
        goto drop;
    ck->secure = secure;
    ck->http_only = http_only;
    ck->expires = expires;
    ck->created = ++seq;

    /* replace the cookie with the same name, domain and path (§5.3 step 11) */
    unsigned same_domain = 0;
    cookie_t *oldest_same = NULL;
    for (hr_queue_t *it = c->jar.next; it != &c->jar;) {
        cookie_t *o = HR_CONTAINER_OF(it, cookie_t, link);
        it = it->next;
        if (strcmp(o->name, ck->name) == 0 && strcmp(o->domain, ck->domain) == 0 &&
            strcmp(o->path, ck->path) == 0) {
            ck->created = o->created; /* keeps its creation time */
            hr_queue_remove(&o->link);
            cookie_free(o);
            c->njar--;
            continue;
        }
        if (strcmp(o->domain, ck->domain) == 0) {
            same_domain++;
            if (oldest_same == NULL || o->created < oldest_same->created)
                oldest_same = o;
        }
    }
    if (ck->expires <= now)
        goto drop; /* an expiry in the past deletes (done above) and stores nothing */
    if (same_domain >= MAX_PER_DOMAIN && oldest_same != NULL) {
        hr_queue_remove(&oldest_same->link);
        cookie_free(oldest_same);
        c->njar--;
    }
    if (c->njar >= MAX_COOKIES) {
        cookie_t *first = HR_CONTAINER_OF(c->jar.next, cookie_t, link);
        hr_queue_remove(&first->link);
        cookie_free(first);
        c->njar--;
    }
    hr_queue_insert_tail(&c->jar, &ck->link);
    c->njar++;
    return;
drop:
    cookie_free(ck);
}

/* Stores the Set-Cookie fields of the response just parsed for req. */
void hr__jar_store_from(hr_client_t *c, hr_request_t *req)
{
    const char *p = req->headers.data, *end = p + req->headers.len;
    while (p != NULL && p < end) {
        size_t nl = strlen(p);
        const char *v = p + nl + 1;
        size_t vl = strlen(v);
        if (nl == 10 && memcmp(p, "set-cookie", 10) == 0)
            jar_store(c, req, v, vl);
        p = v + vl + 1;
    }
}

static int cmp_cookie(const void *a, const void *b)
{
    const cookie_t *x = *(cookie_t *const *)a, *y = *(cookie_t *const *)b;
    size_t xl = strlen(x->path), yl = strlen(y->path);
    if (xl != yl)
        return xl > yl ? -1 : 1; /* longer paths first (§5.4 step 2) */
    return x->created < y->created ? -1 : x->created > y->created;
}

/*
 * Sets req->jar_cookie to the cookies for req's current URL and rebuilds the head when that
 * changed. Cheap when the jar is empty (the common case for API clients).
 */
int hr__jar_header_for(hr_client_t *c, hr_request_t *req)
{
    size_t before = req->jar_cookie.len;
    req->jar_cookie.len = 0;
    if (c->njar > 0) {
        int64_t now = (int64_t)time(NULL);
        cookie_t *stackv[64], **v = stackv;
        if (c->njar > 64 && (v = malloc(sizeof(*v) * c->njar)) == NULL)
            return HR_E_NOMEM;
        size_t n = 0;
        const char *rp = req->url + req->path_off;
        size_t rl = req->path_len;
        const char *q = memchr(rp, '?', rl);
        if (q)
            rl = (size_t)(q - rp);
        if (rl == 0) {
            rp = "/";
            rl = 1;
        }
        for (hr_queue_t *it = c->jar.next; it != &c->jar;) {
            cookie_t *ck = HR_CONTAINER_OF(it, cookie_t, link);
            it = it->next;
            if (ck->expires <= now) {
                hr_queue_remove(&ck->link);
                cookie_free(ck);
                c->njar--;
                continue;
            }
            bool dm = ck->host_only ? strcmp(req->target.host, ck->domain) == 0
                                    : domain_match(req->target.host, ck->domain);
            if (dm && path_match(rp, rl, ck->path) && (!ck->secure || req->target.tls))
                v[n++] = ck;
        }
        qsort(v, n, sizeof(*v), cmp_cookie);
        for (size_t i = 0; i < n; i++) {
            if (i && hr_buf_append(&req->jar_cookie, "; ", 2))
                break;
            hr_buf_append(&req->jar_cookie, v[i]->name, strlen(v[i]->name));
            hr_buf_append(&req->jar_cookie, "=", 1);
            hr_buf_append(&req->jar_cookie, v[i]->value, strlen(v[i]->value));
        }
        if (v != stackv)
            free(v);
    }
    if (before == 0 && req->jar_cookie.len == 0)
        return 0;
    return hr__request_build_head(req, NULL, 0);
}

void hr__jar_free(hr_client_t *c)
{
    while (!hr_queue_empty(&c->jar)) {
        cookie_t *ck = HR_CONTAINER_OF(c->jar.next, cookie_t, link);
        hr_queue_remove(&ck->link);
        cookie_free(ck);
    }
    c->njar = 0;
}
