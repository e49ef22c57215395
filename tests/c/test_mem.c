/*
 * test_mem.c — the engine's buffers (src/core/mem.c): contents survive growth, freed large
 * blocks are reused (the point: no fresh pages), the cache keeps to its maximum and gives
 * back what has aged beyond its base, blocks above the largest class are never kept, a
 * double free aborts instead of corrupting the cache, and fork() while another thread is
 * inside the allocator leaves the child able to allocate.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include "../../src/core/internal.h"

#include "check.h"

static int64_t live(void)
{
    int64_t b, k, m;
    hr_mem_stats(&b, &k, &m);
    return b;
}

static int64_t kept(void)
{
    int64_t b, k, m;
    hr_mem_stats(&b, &k, &m);
    return k;
}

static int64_t mapped(void)
{
    int64_t b, k, m;
    hr_mem_stats(&b, &k, &m);
    return m;
}

static void fill(char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (char)(i * 31u + seed);
}

static int same(const char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != (char)(i * 31u + seed))
            return 0;
    return 1;
}

static void test_growth_keeps_contents(void)
{
    size_t cap;
    char *p = hr_mem_alloc(100, &cap);
    CHECK(p != NULL && cap >= 100 && ((uintptr_t)p & 15) == 0);
    fill(p, 100, 1);
    size_t steps[] = {1000, 40000, 70000, 300000, 5u << 20, 40u << 20};
    size_t used = 100;
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        p = hr_mem_grow(p, used, steps[i], &cap);
        CHECK(p != NULL && cap >= steps[i]);
        CHECK(same(p, used, 1));
        fill(p, steps[i], 1);
        used = steps[i];
    }
    CHECK(live() == 1); /* 40 MiB: a block above the largest class */
    hr_mem_free(p);
    CHECK(live() == 0);
    hr_mem_free(NULL);

    /* hr_buf_t on top: appends across the small/large boundary */
    hr_buf_t b = {0};
    char chunk[1000];
    for (int i = 0; i < 300; i++) {
        memset(chunk, 'a' + i % 26, sizeof(chunk));
        CHECK(hr_buf_append(&b, chunk, sizeof(chunk)) == 0);
    }
    CHECK(b.len == 300000 && b.cap >= b.len);
    for (int i = 0; i < 300; i++)
        CHECK(b.data[i * 1000] == 'a' + i % 26 && b.data[i * 1000 + 999] == 'a' + i % 26);
    hr_buf_free(&b);
    CHECK(b.data == NULL && live() == 0);
}

static void test_reuse_and_limits(void)
{
    hr_mem_trim();
    CHECK(kept() == 0);
    size_t cap;
    char *a = hr_mem_alloc(200000, &cap); /* class 256 KiB */
    CHECK(a != NULL && cap == (256u << 10) - 16);
    hr_mem_free(a);
    CHECK(kept() == 256 << 10);
    int64_t m0 = mapped();
    char *b = hr_mem_alloc(150000, &cap); /* the same class: the same block, pages mapped */
    CHECK(b == a && mapped() == m0);
    CHECK(kept() == 0);
    hr_mem_free(b);

    /* a huge block is never kept */
    char *h = hr_mem_alloc(40u << 20, &cap);
    CHECK(h != NULL);
    hr_mem_free(h);
    CHECK(kept() == 256 << 10);

    /* the maximum: 1 MiB in all (the 256 KiB block and six of the twenty 128 KiB ones) */
    hr_mem_set_policy(1u << 20, 1u << 20, 60000);
    CHECK(kept() == 256 << 10); /* under the new maximum: still kept */
    char *v[20];
    for (int i = 0; i < 20; i++)
        CHECK((v[i] = hr_mem_alloc(100000, &cap)) != NULL);
    for (int i = 0; i < 20; i++)
        hr_mem_free(v[i]);
    CHECK(kept() == 1 << 20);
    CHECK(live() == 0);
    /* a lower maximum drops the excess at once, young or not */
    hr_mem_set_policy(256u << 10, 0, 60000);
    CHECK(kept() <= 256 << 10);
    /* max 0: nothing is kept */
    hr_mem_set_policy(0, 0, 0);
    CHECK(kept() == 0);
    a = hr_mem_alloc(100000, &cap);
    hr_mem_free(a);
    CHECK(kept() == 0);
    hr_mem_set_policy(HR_MEM_KEEP_MAX, HR_MEM_KEEP_BASE, HR_MEM_AGE_MS);
}

static void test_aging(void)
{
    hr_mem_trim();
    hr_mem_set_policy(64u << 20, 512u << 10, 1000);
    size_t cap;
    char *v[16];
    for (int i = 0; i < 16; i++)
        CHECK((v[i] = hr_mem_alloc(200000, &cap)) != NULL);
    for (int i = 0; i < 16; i++)
        hr_mem_free(v[i]);
    CHECK(kept() == 16 * (256 << 10));
    CHECK(hr_mem_purge_due());
    uint64_t now = hr_mem_now_ms();
    CHECK(hr_mem_purge(now) == true); /* nothing has aged yet */
    CHECK(kept() == 16 * (256 << 10));
    CHECK(hr_mem_purge(now + 5000) == false); /* aged: down to the base */
    CHECK(kept() == 512 << 10);
    CHECK(!hr_mem_purge_due());
    /* the base survives any age */
    hr_mem_purge(now + 1000000);
    CHECK(kept() == 512 << 10);
    /* what is reused stays young: the blocks taken again are the ones kept last */
    for (int i = 0; i < 2; i++)
        CHECK((v[i] = hr_mem_alloc(200000, &cap)) != NULL);
    CHECK(kept() == 0 && live() == 2);
    for (int i = 0; i < 2; i++)
        hr_mem_free(v[i]);
    hr_mem_set_policy(HR_MEM_KEEP_MAX, HR_MEM_KEEP_BASE, HR_MEM_AGE_MS);
    hr_mem_trim();
    CHECK(kept() == 0 && live() == 0);
}

static void test_double_free_aborts(void)
{
    pid_t pid = fork();
    if (pid == 0) {
        size_t cap;
        char *p = hr_mem_alloc(100000, &cap);
        hr_mem_free(p);
        hr_mem_free(p); /* kept: its header says so */
        _exit(0);
    }
    int st = 0;
    CHECK(waitpid(pid, &st, 0) == pid);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
}

static volatile int churning = 1;

static void churn(void *arg)
{
    (void)arg;
    size_t cap;
    while (churning) {
        char *p = hr_mem_alloc(100000, &cap);
        p[0] = 1;
        hr_mem_free(p);
    }
}

static void test_fork_while_another_thread_allocates(void)
{
    uv_thread_t t;
    CHECK(uv_thread_create(&t, churn, NULL) == 0);
    for (int i = 0; i < 100; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            alarm(5); /* a child stuck on the lock dies of SIGALRM instead of hanging */
            size_t cap;
            for (int j = 0; j < 10; j++) {
                char *p = hr_mem_alloc(100000, &cap);
                if (p == NULL)
                    _exit(2);
                hr_mem_free(p);
            }
            _exit(0);
        }
        int st = 0;
        CHECK(waitpid(pid, &st, 0) == pid);
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    churning = 0;
    uv_thread_join(&t);
}

int main(void)
{
    test_growth_keeps_contents();
    test_reuse_and_limits();
    test_aging();
    test_double_free_aborts();
    test_fork_while_another_thread_allocates();
    if (failures) {
        fprintf(stderr, "%d failure(s)\n", failures);
        return 1;
    }
    printf("mem: all passed\n");
    return 0;
}
