/*
 * dns.c — IP literals and a small process-wide cache of resolved addresses.
 *
 * The cache is shared by every client and loop (a cold client should not pay for a lookup a
 * previous client already made), so it is guarded by a mutex; callers copy entries out.
 * Bounded: HR_DNS_SLOTS entries, each kept HR_DNS_TTL_MS, replaced oldest first.
 */
#include <pthread.h>
#include <stdlib.h>

#include "internal.h"

#define HR_DNS_SLOTS 64
#define HR_DNS_TTL_MS 60000
#define HR_DNS_MAX_ADDRS 8

typedef struct {
    char host[256];
    uint16_t port;
    int naddrs;
    uint64_t stored_ms;
    struct sockaddr_storage addrs[HR_DNS_MAX_ADDRS];
} dns_entry_t;

static dns_entry_t cache[HR_DNS_SLOTS];
static uv_once_t cache_once = UV_ONCE_INIT;
static uv_mutex_t cache_mutex;

/* fork() may happen while the reactor thread holds the lock: hold it across fork so the
 * child never inherits it locked. */
static void cache_lock(void) { uv_mutex_lock(&cache_mutex); }
static void cache_unlock(void) { uv_mutex_unlock(&cache_mutex); }

static void cache_init(void)
{
    uv_mutex_init(&cache_mutex);
    pthread_atfork(cache_lock, cache_unlock, cache_unlock);
}

/* Any thread. Returns the number of addresses copied (0 on a miss or an expired entry). */
int hr__dns_cache_get(const char *host, uint16_t port, struct sockaddr_storage *out, int max,
                      uint64_t now_ms)
{
    int n = 0;
    uv_once(&cache_once, cache_init);
    uv_mutex_lock(&cache_mutex);
    for (int i = 0; i < HR_DNS_SLOTS; i++) {
        dns_entry_t *e = &cache[i];
        if (e->naddrs > 0 && e->port == port && strcmp(e->host, host) == 0) {
            if (now_ms - e->stored_ms < HR_DNS_TTL_MS) {
                n = e->naddrs < max ? e->naddrs : max;
                memcpy(out, e->addrs, sizeof(*out) * (size_t)n);
            } else {
                e->naddrs = 0;
            }
            break;
        }
    }
    uv_mutex_unlock(&cache_mutex);
    return n;
}

/* Any thread. */
void hr__dns_cache_put(const char *host, uint16_t port, const struct sockaddr_storage *addrs,
                       int n, uint64_t now_ms)
{
    if (n <= 0 || strlen(host) >= sizeof(cache[0].host))
        return;
    if (n > HR_DNS_MAX_ADDRS)
        n = HR_DNS_MAX_ADDRS;
    uv_once(&cache_once, cache_init);
    uv_mutex_lock(&cache_mutex);
    dns_entry_t *slot = NULL;
    for (int i = 0; i < HR_DNS_SLOTS; i++) {
        dns_entry_t *e = &cache[i];
        if (e->naddrs > 0 && e->port == port && strcmp(e->host, host) == 0) {
            slot = e;
            break;
        }
        if (slot == NULL || e->naddrs == 0 || (slot->naddrs > 0 && e->stored_ms < slot->stored_ms))
            if (slot == NULL || slot->naddrs != 0)
                slot = e;
    }
    strcpy(slot->host, host);
    slot->port = port;
    slot->naddrs = n;
    slot->stored_ms = now_ms;
    memcpy(slot->addrs, addrs, sizeof(*addrs) * (size_t)n);
    uv_mutex_unlock(&cache_mutex);
}

/* Any thread. 1 if `host` is an IPv4/IPv6 literal (stored in *out), else 0. */
int hr__parse_ip_literal(const char *host, uint16_t port, struct sockaddr_storage *out)
{
    memset(out, 0, sizeof(*out));
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)out) == 0)
        return 1;
    if (strchr(host, ':') != NULL && uv_ip6_addr(host, port, (struct sockaddr_in6 *)out) == 0)
        return 1;
    return 0;
}
