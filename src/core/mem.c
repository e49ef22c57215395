/*
 * mem.c — the engine's byte buffers (hr_buf_t, JSON tapes). Small ones are malloc'd; large
 * ones (response bodies, decoded bodies, tapes: HR_MEM_BIG and up) are blocks of a few size
 * classes kept in a cache when freed, so that the next body lands in memory already mapped.
 *
 * Why: glibc serves a large request with a fresh mmap() and returns it with munmap() on free
 * (its dynamic threshold only rises to the size just freed, and a request of that same size
 * is mapped again). A 200 KiB body then costs ~50 page faults where it is written, the kernel
 * zeroing each page, and a TLB shoot-down on every core when it is freed — on this workload
 * (400 gathered JSON or gzip bodies) that was a quarter to a third of the CPU time.
 *
 * Every buffer starts with a 16-byte header (its class and size), so one free function takes
 * any of them, whichever thread allocated it: bodies are allocated on the loop or a pool
 * thread and freed by the binding's thread. Free blocks are kept up to HR_MEM_KEEP_MAX bytes
 * in all, enough for a few hundred bodies arriving at once; of what is kept beyond
 * HR_MEM_KEEP_BASE, a block that has not been reused for HR_MEM_AGE_MS goes back to the
 * system (hr_mem_purge(), run on the way by hr_mem_alloc/free about once a second, and by
 * the embedder's timer when it is idle: hr_mem_purge_due()). Blocks above the largest class
 * are never kept.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "internal.h"

#define HDR 16
#define KIND_SMALL 0xFFu /* malloc'd */
#define KIND_HUGE 0xFEu  /* mmap'd to size, above the largest class: never kept */
#define MAGIC 0x68724d45u      /* "hrME": handed out */
#define MAGIC_KEPT 0x68724b50u /* "hrKP": in the cache */

typedef struct {
    size_t size;   /* bytes allocated, header included */
    uint32_t kind; /* class index, KIND_SMALL or KIND_HUGE */
    uint32_t magic;
} hdr_t;

_Static_assert(sizeof(hdr_t) == HDR, "the header keeps the payload 16-byte aligned");

typedef struct free_s {
    struct free_s *next;
    uint64_t freed_ms; /* hr_mem_now_ms() when it was kept */
} free_t; /* a kept block's payload, while it is free; each list is newest first */

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static free_t *kept[HR_MEM_CLASSES]; /* under lock */
static size_t kept_bytes;            /* under lock */
static atomic_uint_fast64_t next_purge_ms; /* hr_mem_alloc/free purge on the way after this */
static atomic_bool over_base;              /* kept_bytes > keep_base */
/* the policy (hr_mem_set_policy): read under lock, or relaxed where a stale value is harmless */
static atomic_size_t keep_max = HR_MEM_KEEP_MAX, keep_base = HR_MEM_KEEP_BASE;
static atomic_uint_fast64_t age_ms = HR_MEM_AGE_MS;
static atomic_int_fast64_t live_blocks; /* class and huge blocks handed out and not freed */
static atomic_int_fast64_t mapped_blocks; /* blocks ever mapped (each one fresh pages) */

/* fork() while another thread holds the lock: the child gets it unlocked (and the cache). */
static void fork_prepare(void) { pthread_mutex_lock(&lock); }
static void fork_parent(void) { pthread_mutex_unlock(&lock); }
static void fork_child(void) { pthread_mutex_unlock(&lock); }
__attribute__((constructor)) static void install(void)
{
    pthread_atfork(fork_prepare, fork_parent, fork_child); /* at load: before any lock use */
}

static size_t class_size(unsigned k) { return (size_t)HR_MEM_BIG << k; }

uint64_t hr_mem_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* hr_mem_alloc/free: at most about once a second, and only with something beyond the base,
 * release what has aged (`now`: the caller's clock reading, or 0 to read it here) */
static void purge_on_the_way(uint64_t now)
{
    if (!atomic_load_explicit(&over_base, memory_order_relaxed))
        return;
    if (now == 0)
        now = hr_mem_now_ms();
    if (now >= atomic_load_explicit(&next_purge_ms, memory_order_relaxed))
        hr_mem_purge(now);
}

static void *block_map(size_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    atomic_fetch_add(&mapped_blocks, 1);
    return p;
}

static void *finish(hdr_t *h, size_t size, uint32_t kind, size_t *cap)
{
    h->size = size;
    h->kind = kind;
    h->magic = MAGIC;
    *cap = size - HDR;
    return (char *)h + HDR;
}

void *hr_mem_alloc(size_t n, size_t *cap)
{
    if (n > SIZE_MAX - HR_MEM_BIG)
        return NULL;
    size_t need = n + HDR;
    if (need < HR_MEM_BIG) {
        hdr_t *h = malloc(need);
        return h != NULL ? finish(h, need, KIND_SMALL, cap) : NULL;
    }
    unsigned k = 0;
    while (k < HR_MEM_CLASSES && class_size(k) < need)
        k++;
    if (k == HR_MEM_CLASSES) {
        size_t size = (need + 4095) & ~(size_t)4095;
        hdr_t *h = block_map(size);
        if (h == NULL)
            return NULL;
        atomic_fetch_add(&live_blocks, 1);
        return finish(h, size, KIND_HUGE, cap);
    }
    purge_on_the_way(0);
    pthread_mutex_lock(&lock);
    free_t *f = kept[k];
    if (f != NULL) {
        kept[k] = f->next;
        kept_bytes -= class_size(k);
        atomic_store_explicit(&over_base, kept_bytes > keep_base, memory_order_relaxed);
    }
    pthread_mutex_unlock(&lock);
    hdr_t *h = f != NULL ? (hdr_t *)((char *)f - HDR) : block_map(class_size(k));
    if (h == NULL)
        return NULL;
    atomic_fetch_add(&live_blocks, 1);
    return finish(h, class_size(k), k, cap);
}

static hdr_t *header(void *p)
{
    hdr_t *h = (hdr_t *)((char *)p - HDR);
    if (h->magic != MAGIC)
        abort(); /* not ours, or freed twice: never let it reach the cache twice */
    return h;
}

void hr_mem_free(void *p)
{
    if (p == NULL)
        return;
    hdr_t *h = header(p);
    uint32_t kind = h->kind;
    size_t size = h->size;
    h->magic = 0;
    if (kind == KIND_SMALL) {
        free(h);
        return;
    }
    atomic_fetch_sub(&live_blocks, 1);
    if (kind != KIND_HUGE) {
        uint64_t now = hr_mem_now_ms();
        pthread_mutex_lock(&lock);
        if (kept_bytes + size <= keep_max) {
            free_t *f = p;
            f->next = kept[kind];
            f->freed_ms = now;
            kept[kind] = f;
            kept_bytes += size;
            atomic_store_explicit(&over_base, kept_bytes > keep_base, memory_order_relaxed);
            h->magic = MAGIC_KEPT;
            pthread_mutex_unlock(&lock);
            purge_on_the_way(now);
            return;
        }
        pthread_mutex_unlock(&lock);
    }
    munmap(h, size);
}

void *hr_mem_grow(void *p, size_t used, size_t n, size_t *cap)
{
    if (p == NULL)
        return hr_mem_alloc(n, cap);
    hdr_t *h = header(p);
    if (h->size - HDR >= n) {
        *cap = h->size - HDR;
        return p;
    }
    if (h->kind == KIND_SMALL && n + HDR < HR_MEM_BIG) {
        hdr_t *g = realloc(h, n + HDR);
        return g != NULL ? finish(g, n + HDR, KIND_SMALL, cap) : NULL;
    }
    void *q = hr_mem_alloc(n, cap);
    if (q == NULL)
        return NULL;
    memcpy(q, p, used);
    hr_mem_free(p);
    return q;
}

void hr_mem_stats(int64_t *blocks, int64_t *kept_out, int64_t *mapped)
{
    *blocks = atomic_load(&live_blocks);
    *mapped = atomic_load(&mapped_blocks);
    pthread_mutex_lock(&lock);
    *kept_out = (int64_t)kept_bytes;
    pthread_mutex_unlock(&lock);
}

static void unmap_list(free_t *f, unsigned k)
{
    while (f != NULL) {
        free_t *next = f->next;
        munmap((char *)f - HDR, class_size(k));
        f = next;
    }
}

bool hr_mem_purge(uint64_t now_ms)
{
    free_t *drop[HR_MEM_CLASSES] = {0};
    atomic_store_explicit(&next_purge_ms, now_ms + 1000, memory_order_relaxed);
    pthread_mutex_lock(&lock);
    /* largest classes first; in each list, cut off the blocks kept too long (the tail) */
    size_t base = keep_base, max = keep_max;
    uint64_t age = age_ms;
    /* over the maximum (it was lowered): whatever it takes, largest classes first */
    for (unsigned k = HR_MEM_CLASSES; k-- > 0 && kept_bytes > max;) {
        while (kept[k] != NULL && kept_bytes > max) {
            free_t *f = kept[k];
            kept[k] = f->next;
            f->next = drop[k];
            drop[k] = f;
            kept_bytes -= class_size(k);
        }
    }
    for (unsigned k = HR_MEM_CLASSES; k-- > 0 && kept_bytes > base;) {
        free_t **link = &kept[k];
        while (*link != NULL && (*link)->freed_ms + age > now_ms)
            link = &(*link)->next;
        while (*link != NULL && kept_bytes > base) {
            free_t *f = *link;
            *link = f->next;
            f->next = drop[k];
            drop[k] = f;
            kept_bytes -= class_size(k);
        }
    }
    bool over = kept_bytes > base;
    atomic_store_explicit(&over_base, over, memory_order_relaxed);
    pthread_mutex_unlock(&lock);
    for (unsigned k = 0; k < HR_MEM_CLASSES; k++)
        unmap_list(drop[k], k);
    return over;
}

bool hr_mem_purge_due(void) { return atomic_load_explicit(&over_base, memory_order_relaxed); }

uint64_t hr_mem_age_ms(void) { return age_ms; }

void hr_mem_set_policy(size_t max, size_t base, uint64_t age)
{
    pthread_mutex_lock(&lock);
    keep_max = max;
    keep_base = base < max ? base : max;
    age_ms = age;
    atomic_store_explicit(&over_base, kept_bytes > keep_base, memory_order_relaxed);
    pthread_mutex_unlock(&lock);
    hr_mem_purge(hr_mem_now_ms()); /* what is kept beyond a lower maximum is dropped too */
}

void hr_mem_trim(void)
{
    free_t *drop[HR_MEM_CLASSES];
    pthread_mutex_lock(&lock);
    memcpy(drop, kept, sizeof(drop));
    memset(kept, 0, sizeof(kept));
    kept_bytes = 0;
    atomic_store_explicit(&over_base, false, memory_order_relaxed);
    pthread_mutex_unlock(&lock);
    for (unsigned k = 0; k < HR_MEM_CLASSES; k++)
        unmap_list(drop[k], k);
}
