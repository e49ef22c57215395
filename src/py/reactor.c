/*
 * reactor.c — the reactor thread and its mailbox. Pure C (no Python.h): the wall between
 * Python threads and the loop is this file's mutex, which only guards list pointers and a
 * flag.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "reactor.h"

typedef struct {
    uv_loop_t loop;
    uv_async_t wake;
    uv_check_t tick;
    uv_prepare_t prep;
    uv_thread_t thread;
    uv_mutex_t mutex; /* guards inbox, wake_pending */
    hr_queue_t inbox;
    bool wake_pending;
    bool stopping; /* reactor thread: HR_MSG_STOP seen */
    unsigned fork_gen; /* hr_fork_generation() of the process that started it */
    hr_reactor_hooks_t hooks;
} reactor_t;

static reactor_t *R;         /* the running reactor of this process, or NULL */
static unsigned generation; /* bumped for every reactor started */
static atomic_uint forks;   /* bumped in every forked child (cheaper than getpid()) */
static uv_once_t atfork_once = UV_ONCE_INIT;

static void on_fork_child(void) { atomic_fetch_add(&forks, 1); }
static void install_atfork(void) { pthread_atfork(NULL, NULL, on_fork_child); }

unsigned hr_fork_generation(void) { return atomic_load_explicit(&forks, memory_order_relaxed); }

/* reactor thread */
static void on_wake(uv_async_t *a)
{
    reactor_t *r = a->data;
    hr_queue_t batch;
    uv_mutex_lock(&r->mutex);
    hr_queue_move(&r->inbox, &batch);
    r->wake_pending = false;
    uv_mutex_unlock(&r->mutex);
    while (!hr_queue_empty(&batch)) {
        hr_msg_t *m = HR_CONTAINER_OF(batch.next, hr_msg_t, link);
        hr_queue_remove(&m->link);
        if (m->type == HR_MSG_STOP) {
            r->stopping = true;
            uv_stop(&r->loop);
            if (m->heap)
                free(m);
            continue;
        }
        bool heap = m->heap;
        r->hooks.on_message(m); /* may free a non-heap message's owner: don't touch m after */
        if (heap)
            free(m);
    }
}

/* reactor thread, after every poll for I/O */
static void on_tick(uv_check_t *c)
{
    reactor_t *r = c->data;
    r->hooks.on_tick();
}

/* reactor thread, before every poll for I/O */
static void on_prepare(uv_prepare_t *h)
{
    reactor_t *r = h->data;
    r->hooks.before_poll();
}

static uint64_t spin_until; /* reactor thread: poll without sleeping until then (uv_hrtime) */

void hr_reactor_spin(uint64_t ns)
{
    uint64_t t = uv_hrtime() + ns;
    if (t > spin_until)
        spin_until = t;
}

static void reactor_main(void *arg)
{
    reactor_t *r = arg;
    if (r->hooks.on_start != NULL)
        r->hooks.on_start(&r->loop);
    while (!r->stopping) {
        if (spin_until != 0 && uv_hrtime() < spin_until) {
            uv_run(&r->loop, UV_RUN_NOWAIT);
        } else {
            spin_until = 0;
            uv_run(&r->loop, UV_RUN_ONCE);
        }
    }
    if (r->hooks.before_poll != NULL)
        r->hooks.before_poll(); /* what the last iteration queued (the binding's posts) */
}

uv_loop_t *hr_reactor_ensure(const hr_reactor_hooks_t *hooks, unsigned *gen)
{
    uv_once(&atfork_once, install_atfork);
    if (R != NULL && R->fork_gen == hr_fork_generation()) {
        *gen = generation;
        return &R->loop;
    }
    /* Not started, stopped, or inherited through fork(): in a child the parent's reactor
     * thread does not exist and its mutex may be held forever, so it is abandoned. */
    reactor_t *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return NULL;
    if (uv_loop_init(&r->loop) != 0) {
        free(r);
        return NULL;
    }
    uv_mutex_init(&r->mutex);
    hr_queue_init(&r->inbox);
    r->hooks = *hooks;
    r->fork_gen = hr_fork_generation();
    uv_async_init(&r->loop, &r->wake, on_wake);
    r->wake.data = r;
    if (r->hooks.on_tick != NULL) {
        uv_check_init(&r->loop, &r->tick);
        r->tick.data = r;
        uv_check_start(&r->tick, on_tick);
        uv_unref((uv_handle_t *)&r->tick);
    }
    if (r->hooks.before_poll != NULL) {
        uv_prepare_init(&r->loop, &r->prep);
        r->prep.data = r;
        uv_prepare_start(&r->prep, on_prepare);
        uv_unref((uv_handle_t *)&r->prep);
    }
    if (uv_thread_create(&r->thread, reactor_main, r) != 0) {
        uv_close((uv_handle_t *)&r->wake, NULL);
        if (r->hooks.on_tick != NULL)
            uv_close((uv_handle_t *)&r->tick, NULL);
        if (r->hooks.before_poll != NULL)
            uv_close((uv_handle_t *)&r->prep, NULL);
        uv_run(&r->loop, UV_RUN_DEFAULT);
        uv_loop_close(&r->loop);
        uv_mutex_destroy(&r->mutex);
        free(r);
        return NULL;
    }
    R = r;
    *gen = ++generation;
    return &r->loop;
}

unsigned hr_reactor_generation(void)
{
    return (R != NULL && R->fork_gen == hr_fork_generation()) ? generation : 0;
}

void hr_reactor_post(hr_msg_t *msg)
{
    reactor_t *r = R;
    bool need_wake;
    uv_mutex_lock(&r->mutex);
    hr_queue_insert_tail(&r->inbox, &msg->link);
    need_wake = !r->wake_pending;
    r->wake_pending = true;
    uv_mutex_unlock(&r->mutex);
    if (need_wake)
        uv_async_send(&r->wake);
}

void hr_reactor_stop(void)
{
    reactor_t *r = R;
    if (r == NULL || r->fork_gen != hr_fork_generation())
        return;
    hr_msg_t *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return;
    m->type = HR_MSG_STOP;
    m->heap = true;
    hr_reactor_post(m);
    uv_thread_join(&r->thread);
    /* The loop's handles (connections of clients still alive) are abandoned with it: this
     * runs at interpreter exit, or in tests that restart the reactor on purpose. */
    R = NULL;
}
