/*
 * module.c — the CPython binding `httpr._httpr` (see README.md beside this file).
 *
 * Threads:
 *   - Python threads (GIL held) build requests, create futures and responses.
 *   - The reactor thread (reactor.c) runs the engine; the only binding code it runs is
 *     on_message() and on_complete(), which touch C memory only.
 *   - The poster thread turns "this port has completions" into one
 *     loop.call_soon_threadsafe(port.drain) per batch. It is the only thread that waits for
 *     the GIL on the reactor's behalf, so a busy or finalising interpreter never stalls I/O.
 *
 * A request record (preq_t) has one owner at a time: the Python thread until it is posted,
 * the reactor until on_complete(), then the Python side again (drain or the sync waiter).
 * Its memory is reference counted (atomic) because a Handle and a pending CANCEL message may
 * outlive that hand-off; its Python references are only ever released on a Python thread.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

#include <math.h>
#include <stdatomic.h>

#include "json.h"
#include "reactor.h"

#define DRAIN_MAX 1000
static int drain_max = DRAIN_MAX; /* records per drain call; tests lower it (_test_hooks) */
#define N_ERRCLASSES 20
/* A stream's buffer: the reactor pauses reading with `high` bytes untaken and resumes below
 * half of that, while the consumer still has data to take: the two threads overlap instead
 * of taking turns. `high` starts at HIGH_MIN and doubles, up to HIGH_MAX, whenever the
 * consumer drained half the buffer within GROW_NS of a pause: each pause and resume costs
 * wake-ups on both threads (and the sender's), so a consumer that keeps up gets longer runs,
 * while a slow or stalled one never makes the buffer grow. A read takes at most TAKE_MAX
 * bytes (from the front, no move). */
#define STREAM_HIGH_MIN (1024 * 1024)
#define STREAM_HIGH_MAX (4096 * 1024)
#define STREAM_GROW_NS (20 * 1000 * 1000)
#define STREAM_TAKE_MAX (256 * 1024)
/* A waiting consumer is woken when this much is buffered, or when the socket has nothing more
 * for now (or at the end, or on a pause): not for every 64 KiB read. */
#define STREAM_NOTIFY_MIN (128 * 1024)
/*
 * The buffer is a queue of segments, each either the reactor's own memory (copied out into a
 * new bytes object when taken) or a slab the consumer lent: a bytes object of STREAM_SLAB
 * bytes that nobody else has seen yet. The engine reads the socket straight into the tail
 * segment (hr_stream_cb_t.get_buffer); a lent slab, once closed, is returned to the consumer
 * as it is. So a large body costs no copy between the kernel's and the one the caller gets,
 * the way socket.recv() fills the bytes object it just created with the GIL released: the
 * reactor gets a char * to the slab's payload and never sees the object (header, reference
 * count), and writes only while the slab is open (see seg_t).
 * Lending starts when the consumer finds STREAM_LEND_AFTER bytes waiting before the end (it
 * is behind: a bulk transfer); a trickle (server-sent events) never makes it reserve slabs.
 * Reads land in the tail while it has STREAM_READ_MIN bytes of room; own segments hold
 * STREAM_OWN_SEG.
 */
#define STREAM_SLAB (256 * 1024)
#define STREAM_OWN_SEG (64 * 1024)
#define STREAM_READ_MIN (32 * 1024)
#define STREAM_LEND_AFTER (64 * 1024)

/* ---------------------------------------------------------------------------------------- */
/* module state                                                                             */

typedef struct {
    PyTypeObject *RClient_type;
    PyTypeObject *Handle_type;
    PyTypeObject *Port_type;
    PyTypeObject *ResponseBase_type;
    PyTypeObject *response_type; /* the Python subclass registered by _init */
    PyTypeObject *StreamBase_type;
    PyTypeObject *stream_type;   /* the Python subclass registered by _init (or StreamBase) */
    PyObject *exc[N_ERRCLASSES]; /* indexed by -HR_E* */
    PyObject *request_error;
    PyObject *get_running_loop;
    PyObject *ports;     /* dict: loop -> Port */
    PyObject *last_loop; /* borrowed (the dict keeps it alive) */
    PyObject *last_port; /* borrowed */
    PyObject *seen_holder;   /* 3.11: the running-loop holder last_loop was found through */
    unsigned seen_fork;      /* hr_fork_generation() then */
    PyObject *s_running_key; /* "__asyncio_running_event_loop__" */
    PyObject *s_create_future, *s_set_result, *s_set_exception, *s_done, *s_cancelled;
    PyObject *s_call_soon_threadsafe, *s_call_soon, *s_drain, *s_is_closed;
    PyObject *http11, *http10;
} modstate;

static struct PyModuleDef httpr_module;

/* The module state outlives every object that caches a pointer to it (types hold the
 * module). The reactor's message handler needs no state at all. */

/* ---------------------------------------------------------------------------------------- */
/* request records                                                                          */

typedef struct {
    uv_mutex_t m;
    uv_cond_t cv;
    int done;
} waiter_t;

struct PortObject;

/*
 * A segment of a stream's buffer: bytes [off, len) are not yet taken; the reactor appends at
 * len. A lent slab (obj != NULL) is open while it is the tail and neither the reactor nor the
 * end closed it: only then may the reactor write into it, and only once it is closed may the
 * consumer take it, whole (off stays 0). Own segments are taken by copying, from the front,
 * while the reactor may be appending behind. Every field is under the stream's mutex.
 */
typedef struct seg_s {
    struct seg_s *next;
    PyObject *obj;      /* a lent slab: the bytes object (the consumer's reference), or NULL */
    char *base;         /* obj's bytes, or the memory after this header */
    size_t cap, len, off;
    int closed;         /* a lent slab the reactor no longer writes */
} seg_t;

/* The part of a request record only a streamed response needs (most requests are buffered:
 * 170 bytes less per request in flight). */
typedef struct {
    /* shared with the reactor under sm */
    uv_mutex_t sm;
    uv_cond_t scv;
    seg_t *head, *tail; /* the buffered body, oldest first */
    seg_t *spare;       /* lent slabs not used yet (a stack) */
    size_t avail;       /* bytes the consumer may take now (all but an open slab's) */
    size_t open_len;    /* bytes in the open slab at the tail */
    char *reading;      /* get_buffer() lent this address; the read has not come back */
    uint64_t in_place;  /* bytes read straight into the buffer (for tests: _buffer_stats) */
    int head_ready;
    int done;           /* the engine completed (body complete, or an error) */
    int engine_paused;  /* on_data asked the engine to stop reading */
    size_t high;        /* high-water mark: STREAM_HIGH_MIN, doubled up to _MAX (reactor) */
    int want_notify;    /* an async reader waits: post the record on the next event */
    int sync_waiting;   /* a reader without asyncio waits on scv */
    /* Python side only */
    unsigned nlent;     /* slabs lent and not taken back (spare or queued) */
    uint64_t handed;    /* slabs that became a chunk whole (for tests: _buffer_stats) */
    int head_delivered;
    int flight_released;
    PyObject *reader;   /* pending _aread() future */
    void *so;           /* the StreamObject (borrowed; cleared by its dealloc) */
    /* reactor only */
    uint64_t paused_at; /* uv_hrtime() of the last pause */
} pstream_t;

/* everything buffered, the open slab included (the high-water mark counts this) */
static inline size_t stream_buffered(const pstream_t *s) { return s->avail + s->open_len; }

/* Under sm: the open slab at the tail (if any) is closed: the consumer may take it. */
static void seg_close_tail(pstream_t *s)
{
    seg_t *g = s->tail;
    if (g != NULL && g->obj != NULL && !g->closed) {
        g->closed = 1;
        s->avail += s->open_len;
        s->open_len = 0;
    }
}

/* Under sm, the consumer's side: whether a read may return now. An open slab is closed here
 * when no read is landing in it, so a consumer coming back for more gets all that arrived in
 * the meantime, in one piece. */
static int stream_ready(pstream_t *s)
{
    if (s->avail == 0 && s->open_len > 0 && s->reading == NULL)
        seg_close_tail(s);
    return s->avail > 0 || s->done;
}

/* Frees a list of segments that left the queue (linked by next): own memory on any thread;
 * lent slabs only with the GIL, and not at all with `own_only`. Returns the slabs freed. */
static unsigned seg_free_list(seg_t *g, int own_only)
{
    unsigned slabs = 0;
    for (seg_t *next; g != NULL; g = next) {
        next = g->next;
        if (g->obj != NULL) {
            if (own_only)
                continue;
            slabs++;
            Py_DECREF(g->obj);
        }
        free(g);
    }
    return slabs;
}

/* Frees the own segments of a stream whose record is being freed (any thread). A lent slab
 * left here would need the GIL: the Python side gives them all back when the engine is done
 * (stream_free_slabs), so this only happens in a process that is exiting; it is leaked. */
static void stream_free_own(pstream_t *s)
{
    seg_free_list(s->head, 1);
    seg_free_list(s->spare, 1);
    s->head = s->tail = s->spare = NULL;
}

typedef struct {
    hr_msg_t msg;       /* the START message, embedded */
    hr_queue_t done_link;
    hr_request_t *core;
    hr_client_t *client;
    atomic_int refs;
    int completed;      /* reactor thread only */
    int start_err;      /* hr_client_start() refused it */
    waiter_t *waiter;   /* sync requests */
    struct PortObject *port; /* async: strong ref */
    PyObject *future;   /* async: strong ref */
    PyObject *body;     /* strong ref to the bytes (or tuple of parts) the engine borrows */
    PyObject *url;      /* strong ref: the URL as given */
    int on_port;        /* queued on port->done (under the port's mutex) */
    hr_queue_t notify_link; /* reactor thread: in `notify_pending` */
    int notify_queued;      /* reactor thread */
    int final_posted;   /* the completion was posted (under the port's mutex): after that
                           the reactor never touches the record again */
    int final_seen;     /* asyncio side: a drain (or reap) took the record after that */
    int is_async;       /* completions go through a port (immutable once posted) */

    pstream_t *st;      /* streams only: allocated by preq_make_stream */
} preq_t;

/* Test hooks (_test_hooks): a delay on the reactor between publishing a stream's completion
 * and posting it, which widens the window in which the asyncio side already sees `done`; and a
 * count of asyncio stream records freed before that post (always a bug). */
static atomic_int hook_complete_delay_us;
static atomic_long hook_premature_frees;
/* and a delay at the start of every stream tick, which lets the consumer take the data a
 * queued notification was for before the tick decides to post it (a stale notification) */
static atomic_int hook_tick_delay_us;

static void preq_unref(preq_t *r)
{
    if (atomic_fetch_sub(&r->refs, 1) == 1) {
        if (r->st != NULL && r->is_async && !r->final_posted)
            atomic_fetch_add(&hook_premature_frees, 1);
        if (r->st != NULL) {
            uv_cond_destroy(&r->st->scv);
            uv_mutex_destroy(&r->st->sm);
            stream_free_own(r->st);
            free(r->st);
        }
        hr_request_free(r->core);
        free(r);
    }
}

/* Python thread: drop the record's Python references (before its last unref). */
static void preq_release_py(preq_t *r)
{
    if (r->st != NULL)
        Py_CLEAR(r->st->reader);
    Py_CLEAR(r->future);
    Py_CLEAR(r->body);
    Py_CLEAR(r->url);
    Py_CLEAR(r->port);
}

/* ---------------------------------------------------------------------------------------- */
/* completion ports and the poster thread                                                   */

typedef struct PortObject {
    PyObject_HEAD
    modstate *st;
    PyObject *loop;
    PyObject *call_soon_threadsafe; /* bound method */
    PyObject *drain;                /* bound method self.drain */
    unsigned generation;
    /* shared with the reactor (under mutex) */
    uv_mutex_t mutex;
    hr_queue_t done;
    int scheduled;
    int in_poster;  /* in the poster's list: only the poster may reap it */
    /* poster thread's list (under poster.mutex) */
    hr_queue_t post_link;
    /* asyncio side only */
    hr_queue_t pending;
} PortObject;

static struct {
    uv_thread_t thread;
    uv_mutex_t mutex;
    uv_cond_t cv;
    hr_queue_t ports;
    int running;
    int stop;
    unsigned pid; /* hr_fork_generation() when started */
} poster;

/*
 * Reactor thread: ports with new completions, handed to the poster once per loop iteration
 * (flush_posts: after the poll, and before the next one for what was posted after that)
 * rather than at the first completion. Waking the poster in the middle of an iteration made
 * it take the GIL and wake the asyncio loop for that first completion alone, while the rest of
 * the iteration's completions followed through lingering drains: at 64 requests in flight on
 * /hello this took the client from ~46k to ~59k requests a second, and its CPU time per
 * request from ~22 to ~16.5 µs (alternating runs by hand). A sequential request waits at
 * most the rest of the iteration that completed it.
 */
static hr_queue_t post_pending;

/* reactor thread. `final`: the completion, the record's last post. */
static void port_post(PortObject *p, preq_t *r, int final)
{
    int first;
    uv_mutex_lock(&p->mutex);
    if (final)
        r->final_posted = 1;
    if (r->on_port) {
        uv_mutex_unlock(&p->mutex); /* already waiting for the next drain */
        return;
    }
    r->on_port = 1;
    hr_queue_insert_tail(&p->done, &r->done_link);
    first = !p->scheduled;
    p->scheduled = 1;
    /* Beware: a drain that rescheduled itself (more than DRAIN_MAX records) clears
     * `scheduled` while p may still sit in the poster's private batch, not yet handled; its
     * post_link must not be linked a second time. The poster calls call_soon_threadsafe for
     * it after this, so the drain that follows sees this record anyway. */
    if (first && !p->in_poster) {
        /* still under p->mutex (lock order: port, then poster), so a reap can't free p
         * while it waits in the poster's list */
        p->in_poster = 1; /* from here on only the poster may reap it (poster_post_batch) */
        hr_queue_insert_tail(&post_pending, &p->post_link);
    }
    uv_mutex_unlock(&p->mutex);
}

static void deliver(PortObject *p, preq_t *r);
static void stream_release_flight(preq_t *r);

/*
 * GIL held: releases the completed records of a port whose loop is closed (nobody will await
 * their futures; a drain scheduled just before the loop closed never runs). Records still in
 * flight come back through the poster, whose call_soon_threadsafe then fails and lands here.
 */
static void port_reap(PortObject *p)
{
    hr_queue_t dead;
    uv_mutex_lock(&p->mutex);
    if (p->in_poster) {
        uv_mutex_unlock(&p->mutex); /* the poster will find the loop closed and reap it */
        return;
    }
    hr_queue_move(&p->done, &dead);
    p->scheduled = 0;
    for (hr_queue_t *q = dead.next; q != &dead; q = q->next) {
        preq_t *r = HR_CONTAINER_OF(q, preq_t, done_link);
        r->on_port = 0;
        r->final_seen = r->final_posted;
    }
    uv_mutex_unlock(&p->mutex);
    while (!hr_queue_empty(&p->pending)) {
        hr_queue_t *q = p->pending.next;
        hr_queue_remove(q);
        hr_queue_insert_tail(&dead, q);
    }
    while (!hr_queue_empty(&dead)) {
        preq_t *r = HR_CONTAINER_OF(dead.next, preq_t, done_link);
        hr_queue_remove(&r->done_link);
        if (r->st != NULL && !r->final_seen)
            continue; /* still running: its completion comes back here */
        if (r->st != NULL) {
            Py_CLEAR(r->st->reader);
            stream_release_flight(r);
        } else {
            preq_release_py(r);
            preq_unref(r);
        }
    }
}

/* poster thread: the only place besides Python threads that takes the GIL */
static void poster_post_batch(hr_queue_t *batch)
{
    while (!hr_queue_empty(batch)) {
        PortObject *p = HR_CONTAINER_OF(batch->next, PortObject, post_link);
        hr_queue_remove(&p->post_link);
        uv_mutex_lock(&p->mutex);
        p->in_poster = 0; /* the GIL is held: no reap can run before the INCREF below */
        uv_mutex_unlock(&p->mutex);
        /* Beware: p is alive because the records in p->done hold references to it and only
         * drain (scheduled below) removes them. */
        Py_INCREF(p);
        PyObject *res = PyObject_CallOneArg(p->call_soon_threadsafe, p->drain);
        if (res == NULL) {
            /* the loop is closed: nobody will ever await these futures */
            PyErr_Clear();
            port_reap(p);
        }
        Py_XDECREF(res);
        Py_DECREF(p);
    }
}

static void poster_main(void *arg)
{
    (void)arg;
    /* One thread state for the thread's whole life: PyGILState_Ensure/Release per batch
     * would create and destroy one each time (an mmap, a munmap and a gettid per batch). */
    PyGILState_STATE g = PyGILState_Ensure();
    PyThreadState *ts = PyEval_SaveThread();
    for (;;) {
        hr_queue_t batch;
        uv_mutex_lock(&poster.mutex);
        while (hr_queue_empty(&poster.ports) && !poster.stop)
            uv_cond_wait(&poster.cv, &poster.mutex);
        hr_queue_move(&poster.ports, &batch);
        int stop = poster.stop;
        uv_mutex_unlock(&poster.mutex);
        if (!hr_queue_empty(&batch)) {
            PyEval_RestoreThread(ts);
            poster_post_batch(&batch);
            ts = PyEval_SaveThread();
        }
        if (stop)
            break;
    }
    PyEval_RestoreThread(ts);
    PyGILState_Release(g);
}

static int poster_ensure(void)
{
    if (poster.running && poster.pid == hr_fork_generation())
        return 0;
    /* first start, or a forked child: state is re-created, the parent's is abandoned */
    uv_mutex_init(&poster.mutex);
    uv_cond_init(&poster.cv);
    hr_queue_init(&poster.ports);
    poster.stop = 0;
    if (uv_thread_create(&poster.thread, poster_main, NULL) != 0) {
        PyErr_SetString(PyExc_RuntimeError, "httpr: cannot start the completion thread");
        return -1;
    }
    poster.running = 1;
    poster.pid = hr_fork_generation();
    return 0;
}

static void poster_stop(void)
{
    if (!poster.running || poster.pid != hr_fork_generation())
        return;
    uv_mutex_lock(&poster.mutex);
    poster.stop = 1;
    uv_cond_signal(&poster.cv);
    uv_mutex_unlock(&poster.mutex);
    Py_BEGIN_ALLOW_THREADS
    uv_thread_join(&poster.thread);
    Py_END_ALLOW_THREADS
    poster.running = 0;
}

/* asyncio thread */
static PyObject *Port_drain(PyObject *op, PyObject *Py_UNUSED(ignored))
{
    PortObject *p = (PortObject *)op;
    hr_queue_t batch;
    uv_mutex_lock(&p->mutex);
    hr_queue_move(&p->done, &batch);
    /* A drain that found records lingers: `scheduled` stays set and the drain runs again on
     * the loop's next iteration (call_soon below), so what completes while the loop is busy
     * anyway is picked up without waking the poster and then the loop. The first drain that
     * finds nothing clears it, and the next completion goes through the poster again. */
    int lingering = !hr_queue_empty(&batch);
    if (!lingering)
        p->scheduled = 0;
    for (hr_queue_t *q = batch.next; q != &batch; q = q->next) {
        preq_t *r = HR_CONTAINER_OF(q, preq_t, done_link);
        r->on_port = 0;
        r->final_seen = r->final_posted;
    }
    uv_mutex_unlock(&p->mutex);
    while (!hr_queue_empty(&batch)) {
        hr_queue_t *q = batch.next;
        hr_queue_remove(q);
        hr_queue_insert_tail(&p->pending, q);
    }
    Py_INCREF(p); /* deliver() drops the records' references to p */
    int n = 0;
    while (!hr_queue_empty(&p->pending) && n < drain_max) {
        preq_t *r = HR_CONTAINER_OF(p->pending.next, preq_t, done_link);
        hr_queue_remove(&r->done_link);
        deliver(p, r);
        n++;
    }
    if (!hr_queue_empty(&p->pending) || lingering) {
        /* (the cap also keeps a flood from starving the loop's other callbacks) */
        PyObject *res = PyObject_CallMethodOneArg(p->loop, p->st->s_call_soon, p->drain);
        if (res == NULL) {
            PyErr_WriteUnraisable(op);
            uv_mutex_lock(&p->mutex);
            p->scheduled = 0; /* no drain follows: the next completion wakes the poster */
            uv_mutex_unlock(&p->mutex);
        }
        Py_XDECREF(res);
    }
    Py_DECREF(p);
    Py_RETURN_NONE;
}

static int Port_traverse(PyObject *op, visitproc visit, void *arg)
{
    PortObject *p = (PortObject *)op;
    Py_VISIT(Py_TYPE(op));
    Py_VISIT(p->loop);
    Py_VISIT(p->call_soon_threadsafe);
    Py_VISIT(p->drain);
    return 0;
}

static int Port_clear(PyObject *op)
{
    PortObject *p = (PortObject *)op;
    Py_CLEAR(p->loop);
    Py_CLEAR(p->call_soon_threadsafe);
    Py_CLEAR(p->drain);
    return 0;
}

static void Port_dealloc(PyObject *op)
{
    PortObject *p = (PortObject *)op;
    PyTypeObject *tp = Py_TYPE(op);
    PyObject_GC_UnTrack(op);
    Port_clear(op);
    if (p->generation == hr_reactor_generation() || p->generation == 0)
        uv_mutex_destroy(&p->mutex); /* (a forked child's inherited mutex is left alone) */
    tp->tp_free(op);
    Py_DECREF(tp);
}

static PyMethodDef Port_methods[] = {
    {"drain", Port_drain, METH_NOARGS, "Resolve the futures of completed requests."},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot Port_slots[] = {
    {Py_tp_dealloc, Port_dealloc},
    {Py_tp_traverse, Port_traverse},
    {Py_tp_clear, Port_clear},
    {Py_tp_methods, Port_methods},
    {Py_tp_doc, "Completion port of one asyncio loop (internal)."},
    {0, NULL},
};

static PyType_Spec Port_spec = {
    .name = "httpr._httpr.Port",
    .basicsize = sizeof(PortObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_IMMUTABLETYPE |
             Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = Port_slots,
};

/* Returns a borrowed reference to the running loop's port, creating it on first use. */
static PortObject *port_for_running_loop(modstate *st, unsigned gen)
{
#if PY_VERSION_HEX < 0x030C0000
    /* CPython 3.11's get_running_loop() makes a getpid() system call every time (its fork
     * check): one per request, most of the asyncio thread's system calls at 64 in flight.
     * The loop running in this thread is found through a holder object in the thread's dict,
     * a new one whenever a loop starts or stops running here; while the holder is the one
     * the last loop was found through (a reference is kept, so it is not another object at
     * the same address) and no fork happened since, the running loop is that same loop. */
    PyObject *tsd = PyThreadState_GetDict();
    PyObject *holder = tsd != NULL ? PyDict_GetItemWithError(tsd, st->s_running_key) : NULL;
    if (holder == NULL)
        PyErr_Clear();
    else if (holder == st->seen_holder && st->last_loop != NULL &&
             st->seen_fork == hr_fork_generation() &&
             ((PortObject *)st->last_port)->generation == gen)
        return (PortObject *)st->last_port;
#endif
    PyObject *loop = PyObject_CallNoArgs(st->get_running_loop);
    if (loop == NULL)
        return NULL;
#if PY_VERSION_HEX < 0x030C0000
    Py_XSETREF(st->seen_holder, Py_XNewRef(holder));
    st->seen_fork = hr_fork_generation();
#endif
    if (loop == st->last_loop && ((PortObject *)st->last_port)->generation == gen) {
        Py_DECREF(loop);
        return (PortObject *)st->last_port;
    }
    PortObject *p = (PortObject *)PyDict_GetItemWithError(st->ports, loop);
    if (p != NULL && p->generation == gen) {
        st->last_loop = loop;
        st->last_port = (PyObject *)p;
        Py_DECREF(loop);
        return p;
    }
    if (PyErr_Occurred())
        goto error;
    /* New loop (or a new reactor after fork): first forget the ports of closed loops. */
    st->last_loop = st->last_port = NULL;
    PyObject *keys = PyDict_Keys(st->ports);
    if (keys == NULL)
        goto error;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(keys); i++) {
        PyObject *k = PyList_GET_ITEM(keys, i);
        PyObject *closed = PyObject_CallMethodNoArgs(k, st->s_is_closed);
        if (closed == NULL) {
            PyErr_Clear();
            continue;
        }
        if (closed == Py_True) {
            PyObject *old = PyDict_GetItemWithError(st->ports, k);
            if (old != NULL)
                port_reap((PortObject *)old);
            if (PyDict_DelItem(st->ports, k) < 0)
                PyErr_Clear();
        }
        Py_DECREF(closed);
    }
    Py_DECREF(keys);

    p = PyObject_GC_New(PortObject, st->Port_type);
    if (p == NULL)
        goto error;
    p->st = st;
    p->loop = Py_NewRef(loop);
    p->call_soon_threadsafe = NULL;
    p->drain = NULL;
    p->generation = gen;
    uv_mutex_init(&p->mutex);
    hr_queue_init(&p->done);
    hr_queue_init(&p->pending);
    hr_queue_init(&p->post_link);
    p->scheduled = 0;
    p->in_poster = 0;
    PyObject_GC_Track(p);
    p->call_soon_threadsafe = PyObject_GetAttr(loop, st->s_call_soon_threadsafe);
    p->drain = PyObject_GetAttr((PyObject *)p, st->s_drain);
    if (p->call_soon_threadsafe == NULL || p->drain == NULL ||
        PyDict_SetItem(st->ports, loop, (PyObject *)p) < 0) {
        Py_DECREF(p);
        goto error;
    }
    Py_DECREF(p); /* the dict holds it */
    st->last_loop = loop;
    st->last_port = (PyObject *)p;
    Py_DECREF(loop);
    return p;
error:
    Py_DECREF(loop);
    return NULL;
}

/* ---------------------------------------------------------------------------------------- */
/* ResponseBase                                                                             */

typedef struct {
    PyObject_HEAD
    int status_code;
    PyObject *http_version;
    PyObject *url;
    PyObject *content; /* NULL until first asked for: the body is then still in `body` */
    PyObject *raw_headers;
    char *body; /* the engine's buffer (hr_request_take_body), NULL once `content` is built */
    Py_ssize_t body_len;
    hr_json_tape_t *tape; /* the engine's JSON read ahead of the body, until json() uses it */
} ResponseBaseObject;

static void ResponseBase_dealloc(PyObject *op)
{
    ResponseBaseObject *o = (ResponseBaseObject *)op;
    PyTypeObject *tp = Py_TYPE(op);
    if (PyType_IS_GC(tp))
        PyObject_GC_UnTrack(op);
    Py_CLEAR(o->http_version);
    Py_CLEAR(o->url);
    Py_CLEAR(o->content);
    Py_CLEAR(o->raw_headers);
    hr_body_free(o->body);
    hr_json_tape_free(o->tape);
    tp->tp_free(op);
    Py_DECREF(tp);
}

/* The body as bytes, built on first use from the engine's buffer (which is then released):
 * a caller that only decodes JSON never pays for the copy. */
static PyObject *ResponseBase_get_content(PyObject *op, void *closure)
{
    ResponseBaseObject *o = (ResponseBaseObject *)op;
    (void)closure;
    if (o->content == NULL) {
        o->content = PyBytes_FromStringAndSize(o->body ? o->body : "", o->body_len);
        if (o->content == NULL)
            return NULL;
        hr_body_free(o->body);
        o->body = NULL;
    }
    return Py_NewRef(o->content);
}

/* _json_native() -> object: the body parsed by json.c where it lies (no bytes copy), built
 * from the engine's read ahead when there is one (used once: a second call parses);
 * ValueError when that decoder does not accept it (Response.json() then asks json). */
static PyObject *ResponseBase_json_native(PyObject *op, PyObject *unused)
{
    ResponseBaseObject *o = (ResponseBaseObject *)op;
    (void)unused;
    const char *buf = o->body ? o->body : "";
    Py_ssize_t len = o->body_len;
    if (o->content != NULL) {
        buf = PyBytes_AS_STRING(o->content);
        len = PyBytes_GET_SIZE(o->content);
    }
    if (o->tape != NULL) {
        hr_json_tape_t *tape = o->tape;
        o->tape = NULL;
        PyObject *res = hr_json_from_tape(tape, buf, len);
        hr_json_tape_free(tape);
        return res;
    }
    return hr_json_loads(buf, len);
}

static PyObject *ResponseBase_get_json_ahead(PyObject *op, void *closure)
{
    (void)closure;
    return PyBool_FromLong(((ResponseBaseObject *)op)->tape != NULL);
}

static PyMemberDef ResponseBase_members[] = {
    {"status_code", T_INT, offsetof(ResponseBaseObject, status_code), READONLY, NULL},
    {"http_version", T_OBJECT, offsetof(ResponseBaseObject, http_version), READONLY, NULL},
    {"url", T_OBJECT, offsetof(ResponseBaseObject, url), READONLY, NULL},
    {"_raw_headers", T_OBJECT, offsetof(ResponseBaseObject, raw_headers), READONLY, NULL},
    {NULL, 0, 0, 0, NULL},
};

static PyGetSetDef ResponseBase_getset[] = {
    {"content", ResponseBase_get_content, NULL, "The body (bytes), content codings decoded.",
     NULL},
    {"_json_ahead", ResponseBase_get_json_ahead, NULL,
     "Whether the engine read the body's JSON ahead and json() has not used it yet.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMethodDef ResponseBase_methods[] = {
    {"_json_native", ResponseBase_json_native, METH_NOARGS,
     "_json_native() -> object: the body as JSON, ValueError when the native decoder declines."},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot ResponseBase_slots[] = {
    {Py_tp_dealloc, ResponseBase_dealloc},
    {Py_tp_members, ResponseBase_members},
    {Py_tp_getset, ResponseBase_getset},
    {Py_tp_methods, ResponseBase_methods},
    {Py_tp_doc, "Native part of a buffered HTTP response (created by the engine only)."},
    {0, NULL},
};

static PyType_Spec ResponseBase_spec = {
    .name = "httpr._httpr.ResponseBase",
    .basicsize = sizeof(ResponseBaseObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_IMMUTABLETYPE |
             Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = ResponseBase_slots,
};

/* Python thread: raises the exception class mapped from an engine error code. */
static PyObject *map_error(modstate *st, preq_t *r, int err)
{
    const char *msg = r->start_err ? hr_strerror(err) : hr_request_error_message(r->core);
    PyObject *cls = (-err < N_ERRCLASSES && st->exc[-err]) ? st->exc[-err] : st->request_error;
    if (err == HR_E_NOMEM)
        return PyErr_NoMemory();
    PyErr_SetString(cls ? cls : PyExc_RuntimeError, msg);
    return NULL;
}

/* Python thread: the response for a completed record, or NULL with an exception set
 * (the mapped engine error, or a Python error). */
static PyObject *build_result(modstate *st, preq_t *r)
{
    int err = r->start_err ? r->start_err : hr_request_error(r->core);
    if (err != 0)
        return map_error(st, r, err);
    PyTypeObject *tp = st->response_type;
    if (tp == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "httpr._httpr._init() was not called");
        return NULL;
    }
    ResponseBaseObject *o = (ResponseBaseObject *)tp->tp_alloc(tp, 0);
    if (o == NULL)
        return NULL;
    o->status_code = hr_request_status(r->core);
    o->http_version = Py_NewRef(hr_request_http_minor(r->core) ? st->http11 : st->http10);
    size_t ulen;
    const char *u = hr_request_url(r->core, &ulen);
    if (ulen == (size_t)PyUnicode_GET_LENGTH(r->url) && PyUnicode_IS_ASCII(r->url) &&
        memcmp(PyUnicode_DATA(r->url), u, ulen) == 0)
        o->url = Py_NewRef(r->url); /* no redirect: reuse the caller's string */
    else
        o->url = PyUnicode_DecodeLatin1(u, (Py_ssize_t)ulen, NULL);
    if (o->url == NULL) {
        Py_DECREF(o);
        return NULL;
    }
    size_t len, count;
    o->body = hr_request_take_body(r->core, &len);
    o->body_len = (Py_ssize_t)len;
    o->tape = hr_request_take_json_tape(r->core);
    const char *hdrs = hr_request_headers(r->core, &len, &count);
    o->raw_headers = PyBytes_FromStringAndSize(hdrs, (Py_ssize_t)len);
    if (o->raw_headers == NULL) {
        Py_DECREF(o);
        return NULL;
    }
    return (PyObject *)o;
}

/* asyncio thread: resolves `fut` with `res`, or, when res is NULL, with the exception that is
 * set. Returns the call's result (new reference) or NULL. */
static PyObject *future_resolve(modstate *st, PyObject *fut, PyObject *res)
{
    if (res != NULL)
        return PyObject_CallMethodOneArg(fut, st->s_set_result, res);
    PyObject *type, *exc, *tb;
    PyErr_Fetch(&type, &exc, &tb);
    PyErr_NormalizeException(&type, &exc, &tb);
    if (tb != NULL)
        PyException_SetTraceback(exc, tb);
    PyObject *ret = PyObject_CallMethodOneArg(fut, st->s_set_exception, exc);
    Py_XDECREF(type);
    Py_XDECREF(exc);
    Py_XDECREF(tb);
    return ret;
}

static void stream_event(PortObject *p, preq_t *r);

/* asyncio thread: resolve one record's future and release the record. */
static void deliver(PortObject *p, preq_t *r)
{
    if (r->st != NULL) {
        stream_event(p, r);
        return;
    }
    modstate *st = p->st;
    PyObject *fut = r->future;
    PyObject *done = PyObject_CallMethodNoArgs(fut, st->s_done);
    if (done == NULL) {
        PyErr_WriteUnraisable(fut);
    } else if (done == Py_False) {
        PyObject *res = build_result(st, r);
        PyObject *ret = future_resolve(st, fut, res);
        Py_XDECREF(res);
        if (ret == NULL)
            PyErr_WriteUnraisable(fut);
        Py_XDECREF(ret);
    }
    Py_XDECREF(done);
    preq_release_py(r);
    preq_unref(r);
}

/* ---------------------------------------------------------------------------------------- */
/* reactor-thread callbacks (no Python objects touched)                                     */

/*
 * Lone requests (the sequential pattern, sync or async): the reactor polls without sleeping
 * for LONE_SPIN_NS after sending one and after completing it, so that neither the answer nor
 * the caller's next request has to wake it. On this project's machines a wake-up costs more
 * CPU than the polling (bench/RESULTS.md: S1, S4-1). With more requests in flight (or
 * recently so: a pool of threads that sometimes drains) the reactor is busy anyway and never
 * polls. Nor while a stream's body arrives: against the benchmark's nginx (sendfile) the
 * polling took the CPU the server needed (by hand, sync S7 -18 %).
 */
#define LONE_SPIN_NS (200 * 1000)
#define SEQ_RUN_MIN 8 /* lone requests in a row before the reactor spins */
static unsigned reactor_inflight; /* reactor thread: requests started and not completed */
static unsigned seq_run; /* reactor thread: requests in a row that started with none in flight */

static void on_complete(hr_request_t *core)
{
    preq_t *r = hr_request_get_data(core);
    r->completed = 1;
    reactor_inflight--;
    if (r->st != NULL) {
        /* Beware: once `done` is published, a consumer without asyncio may release and free
         * r, so nothing of r is read after the unlock. An asyncio stream's record stays alive
         * until a drain has taken it *after this post* (final_seen): a drain that took it for
         * an earlier event may already see `done`, but must not release it. */
        PortObject *port = r->port;
        if (r->notify_queued) { /* the completion below wakes the consumer anyway */
            r->notify_queued = 0;
            hr_queue_remove(&r->notify_link);
        }
        uv_mutex_lock(&r->st->sm);
        r->st->done = 1;
        seg_close_tail(r->st);
        uv_cond_signal(&r->st->scv);
        uv_mutex_unlock(&r->st->sm);
        if (port != NULL) {
            int delay = atomic_load_explicit(&hook_complete_delay_us, memory_order_relaxed);
            if (__builtin_expect(delay > 0, 0))
                uv_sleep((unsigned)(delay + 999) / 1000);
            port_post(port, r, 1);
        }
        return;
    }
    if (r->waiter != NULL) {
        waiter_t *w = r->waiter;
        if (reactor_inflight == 0 && seq_run == SEQ_RUN_MIN)
            hr_reactor_spin(LONE_SPIN_NS); /* the caller's next request is likely on its way */
        uv_mutex_lock(&w->m);
        w->done = 1;
        uv_cond_signal(&w->cv);
        uv_mutex_unlock(&w->m);
        return;
    }
    if (reactor_inflight == 0 && seq_run == SEQ_RUN_MIN)
        hr_reactor_spin(LONE_SPIN_NS); /* the caller's next request is likely on its way */
    port_post(r->port, r, 1);
}

static void on_stream_head(hr_request_t *core)
{
    preq_t *r = hr_request_get_data(core);
    uv_mutex_lock(&r->st->sm);
    r->st->head_ready = 1;
    uv_cond_signal(&r->st->scv);
    uv_mutex_unlock(&r->st->sm);
    if (r->port != NULL)
        port_post(r->port, r, 0);
}

/*
 * Stream records with new data since the consumer was last woken (reactor thread only). The
 * consumer is woken once per loop iteration (reactor_tick, after the poll), not once per read:
 * libuv reads a busy socket up to 32 times per iteration, and each wake-up of an asyncio
 * reader costs three thread hops. No latency is added: the tick runs before the loop sleeps.
 */
static hr_queue_t notify_pending;

/* reactor thread, once per reactor (a forked child starts its own) */
/* reactor thread: the engine keeps freed body buffers for reuse (hr_mem_purge in hr.h);
 * what it keeps beyond its base is released once aged, on the way while requests run, and
 * by this timer when the loop goes idle. Unreferenced: it never keeps the loop alive. */
static uv_timer_t mem_timer;

static void mem_timer_cb(uv_timer_t *t)
{
    if (hr_mem_purge(hr_mem_now_ms()))
        uv_timer_start(t, mem_timer_cb, hr_mem_age_ms() / 4 + 100, 0);
}

static void reactor_started(uv_loop_t *loop)
{
    hr_queue_init(&notify_pending);
    hr_queue_init(&post_pending);
    reactor_inflight = 0;
    seq_run = 0;
    uv_timer_init(loop, &mem_timer);
    uv_unref((uv_handle_t *)&mem_timer);
}

/* reactor thread: hands the ports posted to since the last flush to the poster, waking it once */
static void flush_posts(void)
{
    if (hr_queue_empty(&post_pending))
        return;
    uv_mutex_lock(&poster.mutex);
    while (!hr_queue_empty(&post_pending)) {
        hr_queue_t *q = post_pending.next;
        hr_queue_remove(q);
        hr_queue_insert_tail(&poster.ports, q);
    }
    uv_cond_signal(&poster.cv);
    uv_mutex_unlock(&poster.mutex);
}

static void notify_streams(void);

static void reactor_tick(void)
{
    if (!uv_is_active((uv_handle_t *)&mem_timer) && hr_mem_purge_due())
        uv_timer_start(&mem_timer, mem_timer_cb, hr_mem_age_ms() + 100, 0);
    if (!hr_queue_empty(&notify_pending))
        notify_streams(); /* (may post to ports) */
    flush_posts();
}

/* reactor thread, from reactor_tick: wakes the consumers of streams that got data */
static void notify_streams(void)
{
    int delay = atomic_load_explicit(&hook_tick_delay_us, memory_order_relaxed);
    if (__builtin_expect(delay > 0, 0))
        uv_sleep((unsigned)(delay + 999) / 1000);
    hr_queue_t batch;
    hr_queue_move(&notify_pending, &batch);
    while (!hr_queue_empty(&batch)) {
        preq_t *r = HR_CONTAINER_OF(batch.next, preq_t, notify_link);
        hr_queue_remove(&r->notify_link);
        pstream_t *s = r->st;
        uv_mutex_lock(&s->sm);
        if (!s->done && !s->engine_paused && stream_buffered(s) < STREAM_NOTIFY_MIN &&
            hr_request_input_pending(r->core)) {
            /* more is being read right now: wake the consumer for a worthwhile amount. The
             * record stays queued: should the next read find nothing after all, the next
             * tick wakes the consumer for what is here. */
            uv_mutex_unlock(&s->sm);
            hr_queue_insert_tail(&notify_pending, &r->notify_link);
            continue;
        }
        r->notify_queued = 0;
        if (s->open_len > 0 && (s->want_notify || s->sync_waiting))
            seg_close_tail(s); /* a chunk for the waiting reader (the next read starts a new
                                  slab); a busy one closes it when it comes back */
        int notify = s->want_notify;
        s->want_notify = 0;
        uv_cond_signal(&s->scv);
        uv_mutex_unlock(&s->sm);
        if (notify && r->port != NULL)
            port_post(r->port, r, 0);
    }
}

/* Reactor thread, under sm: a new tail segment with room for `need` bytes: a lent slab when
 * one is spare and big enough, else own memory. NULL when out of memory. */
static seg_t *seg_push(pstream_t *s, size_t need)
{
    seg_t *g = s->spare;
    if (g != NULL && g->cap >= need) {
        s->spare = g->next;
    } else {
        size_t cap = need > STREAM_OWN_SEG ? need : STREAM_OWN_SEG;
        g = malloc(sizeof(*g) + cap);
        if (g == NULL)
            return NULL;
        g->obj = NULL;
        g->base = (char *)(g + 1);
        g->cap = cap;
    }
    g->next = NULL;
    g->len = g->off = 0;
    g->closed = 0;
    seg_close_tail(s);
    if (s->tail != NULL)
        s->tail->next = g;
    else
        s->head = g;
    s->tail = g;
    return g;
}

/* Under sm: the tail, when the reactor may still append to it (not a closed slab). */
static inline seg_t *seg_writable_tail(pstream_t *s)
{
    seg_t *g = s->tail;
    return g != NULL && !(g->obj != NULL && g->closed) ? g : NULL;
}

/* Reactor thread: where the engine may read the next body bytes (see hr_stream_cb_t). */
static char *on_stream_get_buffer(hr_request_t *core, size_t *len)
{
    preq_t *r = hr_request_get_data(core);
    pstream_t *s = r->st;
    size_t want = *len < STREAM_READ_MIN ? *len : STREAM_READ_MIN;
    uv_mutex_lock(&s->sm);
    seg_t *g = seg_writable_tail(s);
    if (g == NULL || g->cap - g->len < want)
        g = seg_push(s, want);
    char *p = NULL;
    if (g != NULL) {
        if (*len > g->cap - g->len)
            *len = g->cap - g->len;
        p = s->reading = g->base + g->len;
    }
    uv_mutex_unlock(&s->sm);
    return p;
}

/* Reactor thread: the read into get_buffer()'s memory brought nothing. */
static void on_stream_put_buffer(hr_request_t *core)
{
    preq_t *r = hr_request_get_data(core);
    uv_mutex_lock(&r->st->sm);
    r->st->reading = NULL;
    int queue = r->st->open_len > 0;
    uv_mutex_unlock(&r->st->sm);
    if (queue && !r->notify_queued) {
        /* a reader that came during the read could not close the slab: the tick will */
        r->notify_queued = 1;
        hr_queue_insert_tail(&notify_pending, &r->notify_link);
    }
}

/* Reactor thread: body bytes, read in place (get_buffer) or to be copied. Returns 1 (pause
 * reading) when the consumer is a high-water mark behind, -1 when out of memory. */
static int on_stream_data(hr_request_t *core, const char *p, size_t n)
{
    preq_t *r = hr_request_get_data(core);
    int pause;
    pstream_t *s = r->st;
    uv_mutex_lock(&s->sm);
    s->reading = NULL;
    seg_t *g = seg_writable_tail(s);
    size_t left = n;
    if (g != NULL && p == g->base + g->len && n <= g->cap - g->len) {
        g->len += n; /* already there */
        s->in_place += n;
        left = 0;
        if (g->obj != NULL)
            s->open_len += n;
        else
            s->avail += n;
    }
    while (left > 0) {
        if (g == NULL || g->len == g->cap) {
            g = seg_push(s, left);
            if (g == NULL)
                break;
        }
        size_t k = g->cap - g->len < left ? g->cap - g->len : left;
        memcpy(g->base + g->len, p, k);
        g->len += k;
        p += k;
        left -= k;
        if (g->obj != NULL)
            s->open_len += k;
        else
            s->avail += k;
    }
    pause = stream_buffered(s) >= s->high;
    if (pause) {
        s->engine_paused = 1;
        s->paused_at = uv_hrtime();
    }
    uv_mutex_unlock(&s->sm);
    if (!r->notify_queued) {
        r->notify_queued = 1;
        hr_queue_insert_tail(&notify_pending, &r->notify_link);
    }
    return left > 0 ? -1 : pause;
}

static const hr_stream_cb_t stream_cbs = {on_stream_head, on_stream_data, on_stream_get_buffer,
                                          on_stream_put_buffer};

static void on_message(hr_msg_t *m)
{
    switch (m->type) {
    case HR_MSG_START: {
        preq_t *r = HR_CONTAINER_OF(m, preq_t, msg);
        seq_run = reactor_inflight == 0 ? seq_run + (seq_run < SEQ_RUN_MIN) : 0;
        if (seq_run == SEQ_RUN_MIN)
            hr_reactor_spin(LONE_SPIN_NS);
        reactor_inflight++; /* on_complete() runs for every START, even a refused one */
        int rc = hr_client_start(r->client, r->core, on_complete);
        if (rc != 0) {
            r->start_err = rc;
            on_complete(r->core);
        }
        break;
    }
    case HR_MSG_CANCEL: {
        preq_t *r = m->ptr;
        if (!r->completed && !r->start_err)
            hr_request_cancel(r->core);
        preq_unref(r);
        break;
    }
    case HR_MSG_RESUME: {
        preq_t *r = m->ptr;
        if (!r->completed && !r->start_err) {
            pstream_t *s = r->st;
            if (s->high < STREAM_HIGH_MAX && uv_hrtime() - s->paused_at < STREAM_GROW_NS) {
                /* the consumer drained half the buffer quickly: give it a longer run */
                uv_mutex_lock(&s->sm);
                s->high *= 2;
                uv_mutex_unlock(&s->sm);
            }
            hr_request_resume(r->core);
        }
        preq_unref(r);
        break;
    }
    case HR_MSG_CLOSE:
        hr_client_close(m->ptr);
        break;
    default:
        break;
    }
}

/* ---------------------------------------------------------------------------------------- */
/* Handle                                                                                   */

typedef struct {
    PyObject_HEAD
    preq_t *r;
    PyObject *future;
} HandleObject;

static void post_msg(preq_t *r, hr_msg_type_t type)
{
    hr_msg_t *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return; /* the request just runs to completion */
    atomic_fetch_add(&r->refs, 1);
    m->type = type;
    m->ptr = r;
    m->heap = true;
    hr_reactor_post(m);
}

static void post_cancel(preq_t *r) { post_msg(r, HR_MSG_CANCEL); }

static PyObject *Handle_cancel(PyObject *op, PyObject *Py_UNUSED(ignored))
{
    HandleObject *h = (HandleObject *)op;
    if (h->r != NULL && hr_reactor_generation() != 0) {
        post_cancel(h->r);
        preq_unref(h->r);
        h->r = NULL; /* cancel once */
    }
    Py_RETURN_NONE;
}

static int Handle_traverse(PyObject *op, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(op));
    Py_VISIT(((HandleObject *)op)->future);
    return 0;
}

static int Handle_clear(PyObject *op)
{
    Py_CLEAR(((HandleObject *)op)->future);
    return 0;
}

static void Handle_dealloc(PyObject *op)
{
    HandleObject *h = (HandleObject *)op;
    PyTypeObject *tp = Py_TYPE(op);
    PyObject_GC_UnTrack(op);
    Handle_clear(op);
    if (h->r != NULL)
        preq_unref(h->r);
    tp->tp_free(op);
    Py_DECREF(tp);
}

static PyMemberDef Handle_members[] = {
    {"future", T_OBJECT, offsetof(HandleObject, future), READONLY,
     "asyncio future resolved with the Response or the mapped exception"},
    {NULL, 0, 0, 0, NULL},
};

static PyMethodDef Handle_methods[] = {
    {"cancel", Handle_cancel, METH_NOARGS, "Abort the request on the reactor."},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot Handle_slots[] = {
    {Py_tp_dealloc, Handle_dealloc},
    {Py_tp_traverse, Handle_traverse},
    {Py_tp_clear, Handle_clear},
    {Py_tp_members, Handle_members},
    {Py_tp_methods, Handle_methods},
    {0, NULL},
};

static PyType_Spec Handle_spec = {
    .name = "httpr._httpr.Handle",
    .basicsize = sizeof(HandleObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_IMMUTABLETYPE |
             Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = Handle_slots,
};

/* ---------------------------------------------------------------------------------------- */
/* StreamBase: a response whose body is read as it arrives                                   */

typedef struct {
    PyObject_HEAD
    preq_t *r;          /* holds one reference */
    modstate *st;
    int status_code;
    PyObject *http_version;
    PyObject *url;
    PyObject *raw_headers;
    int closed;
    int eof;
    int error_raised;
} StreamObject;

static void stream_free_slabs(pstream_t *s, int all);

/* Python thread: the stream has observed the engine's completion: drop the flight reference
 * (the reactor no longer touches the record). */
static void stream_release_flight(preq_t *r)
{
    if (r->st->flight_released)
        return;
    r->st->flight_released = 1;
    /* the engine is done: spare slabs go back now; buffered ones too when nobody reads */
    stream_free_slabs(r->st, r->st->so == NULL);
    Py_CLEAR(r->future);
    Py_CLEAR(r->body);
    Py_CLEAR(r->url);
    Py_CLEAR(r->port);
    preq_unref(r);
}

/* Python thread: lends the reactor up to `n` more slabs (see STREAM_SLAB). Best effort: when
 * memory is short the engine reads into its own segments, as before lending. */
static void stream_lend(pstream_t *s, unsigned n)
{
    for (; n > 0; n--) {
        seg_t *g = malloc(sizeof(*g));
        PyObject *obj = g ? PyBytes_FromStringAndSize(NULL, STREAM_SLAB) : NULL;
        if (obj == NULL) {
            PyErr_Clear();
            free(g);
            return;
        }
        g->obj = obj;
        g->base = PyBytes_AS_STRING(obj);
        g->cap = STREAM_SLAB;
        uv_mutex_lock(&s->sm);
        g->next = s->spare;
        s->spare = g;
        uv_mutex_unlock(&s->sm);
        s->nlent++;
    }
}

/* Python thread, once the engine is done with the stream (it reads no more): gives back the
 * spare slabs, and with `all` every buffered segment too (nobody will take them). */
static void stream_free_slabs(pstream_t *s, int all)
{
    uv_mutex_lock(&s->sm);
    seg_t *spare = s->spare, *queued = all ? s->head : NULL;
    s->spare = NULL;
    if (all) {
        s->head = s->tail = NULL;
        s->avail = s->open_len = 0;
    }
    uv_mutex_unlock(&s->sm);
    s->nlent -= seg_free_list(spare, 0) + seg_free_list(queued, 0);
}

/*
 * Python thread: takes what the consumer may have now: a closed slab whole, or a copy of up to
 * STREAM_TAKE_MAX bytes of own memory. Returns a new bytes object (possibly empty), sets
 * *finished when the body is complete and everything was taken, and *err to the engine's error
 * code when it ended in an error. NULL on a Python error.
 */
static PyObject *stream_take(preq_t *r, int *finished, int *err)
{
    int resume = 0;
    PyObject *data = NULL, *slab = NULL;
    seg_t *dead = NULL;    /* left the queue: freed after the unlock */
    seg_t *recycle = NULL; /* a slab partly filled, out of the queue */
    size_t taken = 0;
    unsigned lend = 0;
    pstream_t *s = r->st;
    uv_mutex_lock(&s->sm);
    stream_ready(s);
    seg_t *g;
    /* drop what was taken, and empty slabs the end closed */
    while ((g = s->head) != NULL && g->off == g->len &&
           (g != s->tail || (g->obj != NULL && g->closed))) {
        s->head = g->next;
        if (s->tail == g)
            s->tail = NULL;
        g->next = dead;
        dead = g;
    }
    if (g != NULL && g->obj != NULL) {
        if (g->closed) { /* (open, it is the tail and holds nothing takeable) */
            s->head = g->next;
            if (s->tail == g)
                s->tail = NULL;
            taken = g->len;
            if (taken >= STREAM_SLAB - STREAM_READ_MIN) {
                slab = g->obj; /* full: it becomes the chunk */
                g->obj = NULL;
                g->next = dead;
                dead = g;
            } else {
                recycle = g; /* copied out below, then lent again */
            }
        }
    } else if (g != NULL && g->len > g->off) {
        taken = g->len - g->off < STREAM_TAKE_MAX ? g->len - g->off : STREAM_TAKE_MAX;
        data = PyBytes_FromStringAndSize(g->base + g->off, (Py_ssize_t)taken);
        if (data == NULL) {
            taken = 0;
        } else {
            g->off += taken;
            if (g->off == g->len && g == s->tail && s->reading == NULL)
                g->off = g->len = 0; /* the reactor's next read may start at the front */
        }
    }
    size_t waiting = s->avail;
    s->avail -= taken;
    if (s->engine_paused && stream_buffered(s) < s->high / 2) {
        s->engine_paused = 0;
        resume = 1;
    }
    *finished = s->done && s->avail == 0;
    if (!s->done && waiting >= STREAM_LEND_AFTER && s->nlent < s->high / STREAM_SLAB)
        lend = (unsigned)(s->high / STREAM_SLAB) - s->nlent; /* a bulk transfer: lend slabs */
    uv_mutex_unlock(&s->sm);
    s->nlent -= seg_free_list(dead, 0);
    if (resume)
        post_msg(r, HR_MSG_RESUME);
    *err = 0;
    if (*finished)
        *err = r->start_err ? r->start_err : hr_request_error(r->core);
    if (recycle != NULL) {
        /* Copied rather than trimmed: a slab handed over partly filled would be shrunk, and
         * the allocator, left with odd-sized holes, gives the next slabs fresh pages: a page
         * fault per 4 KiB, dearer than this copy. The slab is lent again, still warm. */
        data = PyBytes_FromStringAndSize(recycle->base, (Py_ssize_t)recycle->len);
        uv_mutex_lock(&s->sm);
        int keep = !s->done; /* (after the end nothing is read into it; seg_push resets it) */
        if (keep) {
            recycle->next = s->spare;
            s->spare = recycle;
        }
        uv_mutex_unlock(&s->sm);
        if (!keep) {
            recycle->next = NULL;
            s->nlent -= seg_free_list(recycle, 0);
        }
        if (data == NULL)
            return NULL; /* these bytes are lost; the reader gets the MemoryError */
    } else if (slab != NULL) {
        s->nlent--;
        s->handed++;
        /* unshared until now: trim the unused end (a realloc that shrinks in place; should it
         * fail, these bytes are lost and the reader gets the MemoryError) */
        if (taken < STREAM_SLAB && _PyBytes_Resize(&slab, (Py_ssize_t)taken) < 0)
            return NULL;
        data = slab;
    } else if (data == NULL) {
        if (PyErr_Occurred())
            return NULL; /* the bytes were not taken */
        data = PyBytes_FromStringAndSize(NULL, 0);
    }
    if (lend > 0 && data != NULL)
        stream_lend(s, lend);
    return data;
}

/* Waits (GIL released, uninterruptibly) until the engine gave a stream record back. */
static void stream_wait_done(preq_t *r)
{
    Py_BEGIN_ALLOW_THREADS
    uv_mutex_lock(&r->st->sm);
    while (!r->st->done)
        uv_cond_wait(&r->st->scv, &r->st->sm);
    uv_mutex_unlock(&r->st->sm);
    Py_END_ALLOW_THREADS
}

/* One read for the consumer: data, b"" at the end, or the error once all data was taken. */
static PyObject *stream_result(StreamObject *so, PyObject *data, int finished, int err)
{
    if (PyBytes_GET_SIZE(data) > 0 || !finished)
        return data;
    if (!so->r->is_async)
        stream_release_flight(so->r); /* asyncio streams: the drain does it (see on_complete) */
    if (err != 0 && err != HR_E_CANCELLED && !so->error_raised) {
        so->error_raised = 1;
        Py_DECREF(data);
        return map_error(so->st, so->r, err);
    }
    so->eof = 1;
    return data;
}

static PyObject *Stream_read(PyObject *op, PyObject *Py_UNUSED(ignored))
{
    StreamObject *so = (StreamObject *)op;
    preq_t *r = so->r;
    if (so->closed || so->eof)
        return PyBytes_FromStringAndSize(NULL, 0);
    for (;;) {
        int ready;
        Py_BEGIN_ALLOW_THREADS
        uv_mutex_lock(&r->st->sm);
        if (!stream_ready(r->st)) {
            r->st->sync_waiting = 1;
            uv_cond_timedwait(&r->st->scv, &r->st->sm, (uint64_t)100 * 1000 * 1000);
            r->st->sync_waiting = 0;
        }
        ready = stream_ready(r->st);
        uv_mutex_unlock(&r->st->sm);
        Py_END_ALLOW_THREADS
        if (ready)
            break;
        if (PyErr_CheckSignals() < 0)
            return NULL; /* the stream stays open; closing it aborts the request */
    }
    int finished, err;
    PyObject *data = stream_take(r, &finished, &err);
    if (data == NULL)
        return NULL;
    return stream_result(so, data, finished, err);
}

/* asyncio thread: hands data (or the end, or the error) to a waiting _aread() future. */
static void stream_fulfill_reader(StreamObject *so)
{
    preq_t *r = so->r;
    modstate *st = so->st;
    int finished, err;
    PyObject *fut = r->st->reader;
    if (fut == NULL)
        return;
    /* An event can be stale: posted for data an earlier read already took. Resolving the
     * reader then would hand it b"" before the end, which reads as the end of the body. */
    uv_mutex_lock(&r->st->sm);
    int ready = stream_ready(r->st);
    if (!ready)
        r->st->want_notify = 1; /* the reader keeps waiting for the next event */
    uv_mutex_unlock(&r->st->sm);
    if (!ready)
        return;
    r->st->reader = NULL;
    /* Beware: ask the future first; building the result may leave an exception set */
    PyObject *done = PyObject_CallMethodNoArgs(fut, st->s_done), *ret = NULL, *res = NULL;
    if (done == NULL) {
        PyErr_WriteUnraisable(fut);
        Py_DECREF(fut);
        return;
    }
    PyObject *data = stream_take(r, &finished, &err);
    res = data ? stream_result(so, data, finished, err) : NULL;
    if (done == Py_False) {
        ret = future_resolve(st, fut, res);
        if (ret == NULL)
            PyErr_WriteUnraisable(fut);
    } else if (res == NULL) {
        PyErr_Clear(); /* nobody waits for it any more */
    }
    Py_XDECREF(ret);
    Py_XDECREF(done);
    Py_XDECREF(res);
    Py_DECREF(fut);
}

static PyObject *Stream_aread(PyObject *op, PyObject *Py_UNUSED(ignored))
{
    StreamObject *so = (StreamObject *)op;
    preq_t *r = so->r;
    modstate *st = so->st;
    if (r->st->reader != NULL) {
        /* a reader whose future is done (cancelled) waits for nothing: replace it */
        PyObject *d = PyObject_CallMethodNoArgs(r->st->reader, st->s_done);
        if (d == NULL)
            return NULL;
        int waiting = d == Py_False;
        Py_DECREF(d);
        if (waiting) {
            PyErr_SetString(PyExc_RuntimeError, "another _aread() is already waiting");
            return NULL;
        }
        Py_CLEAR(r->st->reader);
    }
    PyObject *loop = PyObject_CallNoArgs(st->get_running_loop);
    if (loop == NULL)
        return NULL;
    PyObject *fut = PyObject_CallMethodNoArgs(loop, st->s_create_future);
    Py_DECREF(loop);
    if (fut == NULL)
        return NULL;
    if (so->closed || so->eof) {
        PyObject *empty = PyBytes_FromStringAndSize(NULL, 0);
        PyObject *ret = empty ? PyObject_CallMethodOneArg(fut, st->s_set_result, empty) : NULL;
        Py_XDECREF(empty);
        if (ret == NULL) {
            Py_DECREF(fut);
            return NULL;
        }
        Py_DECREF(ret);
        return fut;
    }
    if (!r->is_async) {
        PyErr_SetString(PyExc_RuntimeError, "_aread() on a stream opened without asyncio");
        Py_DECREF(fut);
        return NULL;
    }
    r->st->reader = Py_NewRef(fut);
    uv_mutex_lock(&r->st->sm);
    int ready = stream_ready(r->st);
    if (!ready)
        r->st->want_notify = 1; /* the reactor posts this record on its next event */
    uv_mutex_unlock(&r->st->sm);
    if (ready)
        stream_fulfill_reader(so);
    return fut;
}

static void stream_close(StreamObject *so)
{
    if (so->closed)
        return;
    so->closed = 1;
    preq_t *r = so->r;
    uv_mutex_lock(&r->st->sm);
    int done = r->st->done;
    uv_mutex_unlock(&r->st->sm);
    if (!done && hr_reactor_generation() != 0)
        post_cancel(r); /* an unfinished body: the connection is closed, never pooled */
}

static PyObject *Stream_close(PyObject *op, PyObject *Py_UNUSED(ignored))
{
    StreamObject *so = (StreamObject *)op;
    stream_close(so);
    if (so->r->st->reader != NULL)
        stream_fulfill_reader(so); /* a pending reader gets b"" (or the error) */
    Py_RETURN_NONE;
}

static PyObject *Stream_get_eof(PyObject *op, void *Py_UNUSED(closure))
{
    return PyBool_FromLong(((StreamObject *)op)->eof);
}

/* the buffer's current high-water mark (tests watch it grow, or not) */
static PyObject *Stream_get_high_water(PyObject *op, void *Py_UNUSED(closure))
{
    pstream_t *s = ((StreamObject *)op)->r->st;
    uv_mutex_lock(&s->sm);
    size_t high = s->high;
    uv_mutex_unlock(&s->sm);
    return PyLong_FromSize_t(high);
}

/* (bytes read straight into the buffer, slabs that became a chunk whole): tests check that
 * the copy-free paths are taken */
static PyObject *Stream_get_buffer_stats(PyObject *op, void *Py_UNUSED(closure))
{
    pstream_t *s = ((StreamObject *)op)->r->st;
    uv_mutex_lock(&s->sm);
    unsigned long long in_place = s->in_place;
    uv_mutex_unlock(&s->sm);
    return Py_BuildValue("(KK)", in_place, (unsigned long long)s->handed);
}

static void Stream_dealloc(PyObject *op)
{
    StreamObject *so = (StreamObject *)op;
    PyTypeObject *tp = Py_TYPE(op);
    if (PyType_IS_GC(tp))
        PyObject_GC_UnTrack(op);
    if (so->r != NULL) {
        preq_t *r = so->r;
        stream_close(so);
        r->st->so = NULL;
        Py_CLEAR(r->st->reader);
        if (!r->is_async && !r->st->flight_released && hr_reactor_generation() != 0) {
            /* a stream opened without asyncio: nobody else will see its completion, so wait
             * for the (just cancelled) request to come back and release it here */
            stream_wait_done(r);
            stream_release_flight(r);
        }
        if (r->st->flight_released)
            stream_free_slabs(r->st, 1); /* else the drain does it (stream_release_flight) */
        preq_unref(r);
    }
    Py_CLEAR(so->http_version);
    Py_CLEAR(so->url);
    Py_CLEAR(so->raw_headers);
    tp->tp_free(op);
    Py_DECREF(tp);
}

static PyMemberDef Stream_members[] = {
    {"status_code", T_INT, offsetof(StreamObject, status_code), READONLY, NULL},
    {"http_version", T_OBJECT, offsetof(StreamObject, http_version), READONLY, NULL},
    {"url", T_OBJECT, offsetof(StreamObject, url), READONLY, NULL},
    {"_raw_headers", T_OBJECT, offsetof(StreamObject, raw_headers), READONLY, NULL},
    {NULL, 0, 0, 0, NULL},
};

static PyMethodDef Stream_methods[] = {
    {"_read", Stream_read, METH_NOARGS,
     "Next decoded bytes (waits with the GIL released); b'' at the end."},
    {"_aread", Stream_aread, METH_NOARGS, "Like _read(), as a future of the running loop."},
    {"_close", Stream_close, METH_NOARGS, "Stop the stream (an unfinished body closes its connection)."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Stream_getset[] = {
    {"_eof", Stream_get_eof, NULL, "The body is complete and every byte was returned.", NULL},
    {"_buffer_stats", Stream_get_buffer_stats, NULL,
     "(bytes read in place, slabs handed over whole): testing only.", NULL},
    {"_high_water", Stream_get_high_water, NULL, "Bytes buffered ahead before reading pauses.",
     NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot Stream_slots[] = {
    {Py_tp_dealloc, Stream_dealloc},
    {Py_tp_members, Stream_members},
    {Py_tp_methods, Stream_methods},
    {Py_tp_getset, Stream_getset},
    {Py_tp_doc, "Native part of a streamed HTTP response (created by the engine only)."},
    {0, NULL},
};

static PyType_Spec Stream_spec = {
    .name = "httpr._httpr.StreamBase",
    .basicsize = sizeof(StreamObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_IMMUTABLETYPE |
             Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = Stream_slots,
};

/* Python thread: the stream object for a record whose head arrived (takes a reference). */
static PyObject *stream_new(modstate *st, preq_t *r)
{
    PyTypeObject *tp = st->stream_type ? st->stream_type : st->StreamBase_type;
    StreamObject *so = (StreamObject *)tp->tp_alloc(tp, 0);
    if (so == NULL)
        return NULL;
    so->st = st;
    atomic_fetch_add(&r->refs, 1);
    so->r = r;
    r->st->so = so;
    /* the head fields are stable once head_ready was seen under the lock */
    so->status_code = hr_request_status(r->core);
    so->http_version = Py_NewRef(hr_request_http_minor(r->core) ? st->http11 : st->http10);
    size_t len, count;
    const char *u = hr_request_url(r->core, &len);
    so->url = PyUnicode_DecodeLatin1(u, (Py_ssize_t)len, NULL);
    const char *h = hr_request_headers(r->core, &len, &count);
    so->raw_headers = PyBytes_FromStringAndSize(h, (Py_ssize_t)len);
    if (so->url == NULL || so->raw_headers == NULL) {
        Py_DECREF(so);
        return NULL;
    }
    return (PyObject *)so;
}

/* asyncio thread (drain): something happened on a stream record. */
static void stream_event(PortObject *p, preq_t *r)
{
    modstate *st = p->st;
    uv_mutex_lock(&r->st->sm);
    int head = r->st->head_ready, done = r->st->done;
    uv_mutex_unlock(&r->st->sm);
    if (!r->st->head_delivered && (head || done)) {
        r->st->head_delivered = 1;
        PyObject *fut = r->future;
        r->future = NULL;
        PyObject *isdone = PyObject_CallMethodNoArgs(fut, st->s_done), *ret = NULL;
        int err = r->start_err ? r->start_err : (head ? 0 : hr_request_error(r->core));
        if (isdone == Py_False) {
            PyObject *res = err ? map_error(st, r, err) : stream_new(st, r);
            ret = future_resolve(st, fut, res);
            Py_XDECREF(res);
            if (ret == NULL)
                PyErr_WriteUnraisable(fut);
        } else if (!done) {
            post_cancel(r); /* nobody will read this stream */
        }
        Py_XDECREF(ret);
        Py_XDECREF(isdone);
        Py_DECREF(fut);
    }
    if (r->st->reader != NULL && r->st->so != NULL)
        stream_fulfill_reader((StreamObject *)r->st->so);
    if (r->final_seen)
        stream_release_flight(r); /* the reactor is done with it (see on_complete) */
}

/* ---------------------------------------------------------------------------------------- */
/* RClient                                                                                  */

typedef struct {
    PyObject_HEAD
    PyObject *dict;      /* instances take attributes (the Python subclass uses them) */
    PyObject *weakrefs;
    hr_client_t *core;   /* the engine client of the current reactor generation, or NULL */
    unsigned generation;
    hr_client_config_t config; /* config.tls: our reference (NULL = default TLS) */
    hr_request_t *tmpl;  /* the last request without a body, as a template (see make_request) */
    PyObject *tmpl_key;  /* (method, url, *header items) it was made from */
} RClientObject;

static PyObject *RClient_new(PyTypeObject *tp, PyObject *args, PyObject *kwds)
{
    (void)args;
    (void)kwds;
    RClientObject *self = (RClientObject *)tp->tp_alloc(tp, 0);
    if (self == NULL)
        return NULL;
    self->config.max_inflight = 0;
    self->config.max_conns_per_origin = 0;
    self->config.idle_timeout_ms = 0;
    return (PyObject *)self;
}

static void rclient_drop_core(RClientObject *self)
{
    if (self->core == NULL)
        return;
    hr_client_t *core = self->core;
    self->core = NULL;
    if (self->generation != hr_reactor_generation())
        return; /* belongs to a reactor that no longer runs (fork, shutdown) */
    hr_msg_t *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return;
    m->type = HR_MSG_CLOSE;
    m->ptr = core;
    m->heap = true;
    hr_reactor_post(m);
}

static int RClient_traverse(PyObject *op, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(op));
    Py_VISIT(((RClientObject *)op)->dict);
    Py_VISIT(((RClientObject *)op)->tmpl_key);
    return 0;
}

static void tmpl_clear(RClientObject *self);

static int RClient_clear(PyObject *op)
{
    Py_CLEAR(((RClientObject *)op)->dict);
    tmpl_clear((RClientObject *)op);
    return 0;
}

static void RClient_dealloc(PyObject *op)
{
    RClientObject *self = (RClientObject *)op;
    PyTypeObject *tp = Py_TYPE(op);
    PyObject_GC_UnTrack(op);
    if (self->weakrefs != NULL)
        PyObject_ClearWeakRefs(op);
    rclient_drop_core(self); /* idle sockets close; requests in flight still finish */
    hr_tls_release(self->config.tls);
    self->config.tls = NULL;
    RClient_clear(op);
    tp->tp_free(op);
    Py_DECREF(tp);
}

static const hr_reactor_hooks_t reactor_hooks = {on_message, reactor_started, reactor_tick,
                                                 flush_posts};

/* Python thread: makes sure the reactor runs and this client has an engine client on it. */
static int rclient_ready(RClientObject *self)
{
    unsigned gen;
    uv_loop_t *loop = hr_reactor_ensure(&reactor_hooks, &gen);
    if (loop == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "httpr: cannot start the reactor thread");
        return -1;
    }
    if (poster_ensure() < 0)
        return -1;
    if (self->core == NULL || self->generation != gen) {
        self->core = hr_client_new(loop, &self->config);
        if (self->core == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        self->generation = gen;
    }
    return 0;
}

static PyObject *RClient_configure(PyObject *op, PyObject *const *args, Py_ssize_t nargs)
{
    RClientObject *self = (RClientObject *)op;
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "_configure(max_inflight, max_conns, idle_timeout)");
        return NULL;
    }
    long mi = PyLong_AsLong(args[0]);
    long mc = PyLong_AsLong(args[1]);
    double idle = PyFloat_AsDouble(args[2]);
    if (PyErr_Occurred())
        return NULL;
    if (mi < 0 || mc < 0 || !(idle >= 0) || idle > 1e9) {
        PyErr_SetString(PyExc_ValueError, "_configure: negative value");
        return NULL;
    }
    self->config.max_inflight = (unsigned)mi;
    self->config.max_conns_per_origin = (unsigned)mc;
    self->config.idle_timeout_ms = (uint64_t)(idle * 1000.0);
    rclient_drop_core(self); /* the next request uses the new settings */
    Py_RETURN_NONE;
}

static PyObject *RClient_close(PyObject *op, PyObject *Py_UNUSED(ignored))
{
    rclient_drop_core((RClientObject *)op);
    tmpl_clear((RClientObject *)op); /* a closed client holds no request record */
    Py_RETURN_NONE;
}

/* Borrow UTF-8 bytes of a str or bytes object (no copy for str: CPython caches it). */
static const char *as_bytes(PyObject *o, Py_ssize_t *n, const char *what)
{
    if (PyUnicode_Check(o))
        return PyUnicode_AsUTF8AndSize(o, n);
    if (PyBytes_Check(o)) {
        *n = PyBytes_GET_SIZE(o);
        return PyBytes_AS_STRING(o);
    }
    PyErr_Format(PyExc_TypeError, "%s must be str or bytes, not %.100s", what,
                 Py_TYPE(o)->tp_name);
    return NULL;
}

/* Python thread: the engine's request from the Python arguments (checked by the caller but
 * for the header items). NULL with an exception set on failure. */
static hr_request_t *new_core(modstate *st, const char *m, Py_ssize_t mlen, const char *u,
                              Py_ssize_t ulen, PyObject *headers, const char *bp, size_t blen)
{
    /* zeroed: gcc -O3 cannot tell that the loop below fills what hr_request_new() reads */
    hr_header_t stackh[32] = {0}, *hs = stackh;
    Py_ssize_t nh = PyList_GET_SIZE(headers);
    if (nh > 32) {
        hs = PyMem_Malloc(sizeof(*hs) * (size_t)nh);
        if (hs == NULL) {
            PyErr_NoMemory();
            return NULL;
        }
    }
    hr_request_t *core = NULL;
    for (Py_ssize_t i = 0; i < nh; i++) {
        PyObject *t = PyList_GET_ITEM(headers, i);
        if (!PyTuple_Check(t) || PyTuple_GET_SIZE(t) != 2) {
            PyErr_SetString(PyExc_TypeError, "headers must be a list of (name, value) tuples");
            goto done;
        }
        Py_ssize_t a, b;
        hs[i].name = as_bytes(PyTuple_GET_ITEM(t, 0), &a, "header name");
        if (hs[i].name == NULL)
            goto done;
        hs[i].value = as_bytes(PyTuple_GET_ITEM(t, 1), &b, "header value");
        if (hs[i].value == NULL)
            goto done;
        hs[i].name_len = (size_t)a;
        hs[i].value_len = (size_t)b;
    }
    int err;
    char errbuf[256];
    core = hr_request_new(m, (size_t)mlen, u, (size_t)ulen, hs, (size_t)nh, bp, blen, &err,
                          errbuf, sizeof(errbuf));
    if (core == NULL) {
        PyObject *cls = err == HR_E_INVALID_METHOD ? PyExc_ValueError
                        : err == HR_E_NOMEM        ? PyExc_MemoryError
                                                   : st->exc[-err];
        PyErr_SetString(cls ? cls : PyExc_ValueError, errbuf);
    }
done:
    if (hs != stackh)
        PyMem_Free(hs);
    return core;
}

/*
 * The client keeps its last request without a body as a template: a request with the same
 * method, URL and header items (the same objects: str, bytes and tuples do not change) is a
 * copy of it, neither validated nor serialised again. The items are compared by identity,
 * so equal but distinct objects only miss the template.
 */
static int tmpl_matches(RClientObject *self, PyObject *method, PyObject *url, PyObject *headers)
{
    PyObject *key = self->tmpl_key;
    if (key == NULL || PyTuple_GET_ITEM(key, 0) != method || PyTuple_GET_ITEM(key, 1) != url)
        return 0;
    Py_ssize_t n = PyList_GET_SIZE(headers);
    if (PyTuple_GET_SIZE(key) != n + 2)
        return 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (PyList_GET_ITEM(headers, i) != PyTuple_GET_ITEM(key, i + 2))
            return 0;
    }
    return 1;
}

static void tmpl_clear(RClientObject *self)
{
    Py_CLEAR(self->tmpl_key);
    hr_request_free(self->tmpl);
    self->tmpl = NULL;
}

/* `core` was just made from these arguments: its copy becomes the template (best effort). */
static void tmpl_remember(RClientObject *self, PyObject *method, PyObject *url,
                          PyObject *headers, const hr_request_t *core)
{
    tmpl_clear(self);
    Py_ssize_t n = PyList_GET_SIZE(headers);
    PyObject *key = PyTuple_New(n + 2);
    hr_request_t *copy = key != NULL ? hr_request_copy(core) : NULL;
    if (copy == NULL) {
        Py_XDECREF(key);
        PyErr_Clear();
        return;
    }
    PyTuple_SET_ITEM(key, 0, Py_NewRef(method));
    PyTuple_SET_ITEM(key, 1, Py_NewRef(url));
    for (Py_ssize_t i = 0; i < n; i++)
        PyTuple_SET_ITEM(key, i + 2, Py_NewRef(PyList_GET_ITEM(headers, i)));
    self->tmpl_key = key;
    self->tmpl = copy;
}

/*
 * Python thread: validates and serialises a request into a new record.
 * args: method, url, headers (list of 2-tuples), body (bytes or None), timeout (float|None)
 */
static preq_t *make_request(RClientObject *self, modstate *st, PyObject *const *args,
                            Py_ssize_t nargs)
{
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError,
                        "expected (method, url, headers, body, timeout) arguments");
        return NULL;
    }
    PyObject *method = args[0], *url = args[1], *headers = args[2], *body = args[3],
             *timeout = args[4];
    Py_ssize_t mlen, ulen;
    const char *m = as_bytes(method, &mlen, "method");
    if (m == NULL)
        return NULL;
    if (!PyUnicode_Check(url)) {
        PyErr_Format(PyExc_TypeError, "url must be str, not %.100s", Py_TYPE(url)->tp_name);
        return NULL;
    }
    const char *u = PyUnicode_AsUTF8AndSize(url, &ulen);
    if (u == NULL)
        return NULL;
    if (!PyList_Check(headers)) {
        PyErr_SetString(PyExc_TypeError, "headers must be a list of (name, value) tuples");
        return NULL;
    }
    if (body != Py_None && !PyBytes_Check(body) && !PyList_Check(body) && !PyTuple_Check(body)) {
        PyErr_Format(PyExc_TypeError, "body must be bytes, a list of parts or None, not %.100s",
                     Py_TYPE(body)->tp_name);
        return NULL;
    }
    uint64_t timeout_ms = 0;
    if (timeout != Py_None) {
        double t = PyFloat_AsDouble(timeout);
        if (t == -1.0 && PyErr_Occurred())
            return NULL;
        if (!(t >= 0) || isinf(t)) {
            if (isinf(t) && t > 0)
                t = 0; /* infinite: no timeout */
            else {
                PyErr_Format(PyExc_ValueError,
                             "timeout must be a non-negative number of seconds or None, got %R",
                             timeout);
                return NULL;
            }
        } else {
            timeout_ms = (uint64_t)ceil(t * 1000.0);
            if (timeout_ms == 0)
                timeout_ms = 1; /* 0 s: expire at once rather than never */
        }
    }

    hr_request_t *core;
    int parts = body != Py_None && !PyBytes_Check(body);
    if (body == Py_None && tmpl_matches(self, method, url, headers)) {
        core = hr_request_copy(self->tmpl);
        if (core == NULL) {
            PyErr_NoMemory();
            return NULL;
        }
    } else {
        const char *bp = body != Py_None && !parts ? PyBytes_AS_STRING(body) : NULL;
        size_t blen = body != Py_None && !parts ? (size_t)PyBytes_GET_SIZE(body) : 0;
        core = new_core(st, m, mlen, u, ulen, headers, bp, blen);
        if (core == NULL)
            return NULL;
        if (body == Py_None)
            tmpl_remember(self, method, url, headers, core);
    }
    hr_request_set_timeout(core, timeout_ms);
    hr_request_set_json_ahead(core, 1); /* Response.json() then builds from the tape */
    PyObject *keep = NULL; /* what the engine borrows from: the bytes, or a tuple of parts */
    if (parts) {
        /* a tuple copy: the caller's list may change, the parts must not */
        keep = PySequence_Tuple(body);
        if (keep == NULL) {
            hr_request_free(core);
            return NULL;
        }
        for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(keep); i++) {
            PyObject *part = PyTuple_GET_ITEM(keep, i);
            int prc;
            if (PyBytes_Check(part)) {
                prc = hr_request_add_part_mem(core, PyBytes_AS_STRING(part),
                                              (size_t)PyBytes_GET_SIZE(part));
            } else if (PyUnicode_Check(part)) {
                /* the file system's encoding (surrogate escapes included), as open() does */
                PyObject *fs = PyUnicode_EncodeFSDefault(part);
                if (fs == NULL) {
                    Py_DECREF(keep);
                    hr_request_free(core);
                    return NULL;
                }
                prc = hr_request_add_part_file(core, PyBytes_AS_STRING(fs));
                Py_DECREF(fs);
            } else {
                PyErr_SetString(PyExc_TypeError, "body parts must be bytes or file paths (str)");
                Py_DECREF(keep);
                hr_request_free(core);
                return NULL;
            }
            if (prc != 0) {
                PyErr_NoMemory();
                Py_DECREF(keep);
                hr_request_free(core);
                return NULL;
            }
        }
    } else if (body != Py_None) {
        keep = Py_NewRef(body);
    }
    preq_t *r = calloc(1, sizeof(*r));
    if (r == NULL) {
        Py_XDECREF(keep);
        hr_request_free(core);
        PyErr_NoMemory();
        return NULL;
    }
    r->core = core;
    hr_request_set_data(core, r);
    r->msg.type = HR_MSG_START;
    r->body = keep;
    r->url = Py_NewRef(url);
    return r;
}

/* _request(method, url, headers, body, timeout) -> Response: the synchronous path */
static PyObject *RClient_request(PyObject *op, PyTypeObject *defcls, PyObject *const *args,
                                 Py_ssize_t nargs, PyObject *kwnames)
{
    RClientObject *self = (RClientObject *)op;
    modstate *st = PyType_GetModuleState(defcls);
    if (kwnames != NULL && PyTuple_GET_SIZE(kwnames)) {
        PyErr_SetString(PyExc_TypeError, "_request() takes positional arguments only");
        return NULL;
    }
    preq_t *r = make_request(self, st, args, nargs);
    if (r == NULL)
        return NULL;
    if (rclient_ready(self) < 0) {
        preq_release_py(r);
        hr_request_free(r->core);
        free(r);
        return NULL;
    }
    waiter_t w;
    uv_mutex_init(&w.m);
    uv_cond_init(&w.cv);
    w.done = 0;
    r->waiter = &w;
    r->client = self->core;
    atomic_store(&r->refs, 1);
    hr_reactor_post(&r->msg);

    /* Wait with the GIL released. The main thread wakes every 100 ms to run signal
     * handlers; a KeyboardInterrupt cancels the request (its connection is closed). */
    int interrupted = 0;
    for (;;) {
        int done;
        Py_BEGIN_ALLOW_THREADS
        uv_mutex_lock(&w.m);
        if (!w.done)
            uv_cond_timedwait(&w.cv, &w.m, (uint64_t)100 * 1000 * 1000);
        done = w.done;
        uv_mutex_unlock(&w.m);
        Py_END_ALLOW_THREADS
        if (done)
            break;
        if (!interrupted && PyErr_CheckSignals() < 0) {
            interrupted = 1;
            post_cancel(r);
            /* keep waiting (uninterruptibly) until the reactor gives the record back */
            Py_BEGIN_ALLOW_THREADS
            uv_mutex_lock(&w.m);
            while (!w.done)
                uv_cond_wait(&w.cv, &w.m);
            uv_mutex_unlock(&w.m);
            Py_END_ALLOW_THREADS
            break;
        }
    }
    uv_cond_destroy(&w.cv);
    uv_mutex_destroy(&w.m);
    r->waiter = NULL;
    PyObject *res = NULL;
    if (!interrupted)
        res = build_result(st, r);
    preq_release_py(r);
    preq_unref(r);
    return res;
}

static int preq_make_stream(preq_t *r)
{
    r->st = calloc(1, sizeof(*r->st));
    if (r->st == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    uv_mutex_init(&r->st->sm);
    uv_cond_init(&r->st->scv);
    r->st->high = STREAM_HIGH_MIN;
    hr_request_set_stream(r->core, &stream_cbs);
    return 0;
}

static void preq_discard(preq_t *r)
{
    preq_release_py(r);
    if (r->st != NULL) {
        uv_cond_destroy(&r->st->scv);
        uv_mutex_destroy(&r->st->sm);
        free(r->st);
    }
    hr_request_free(r->core);
    free(r);
}

/* _stream(method, url, headers, body, timeout) -> StreamBase: waits for the head */
static PyObject *RClient_stream(PyObject *op, PyTypeObject *defcls, PyObject *const *args,
                                Py_ssize_t nargs, PyObject *kwnames)
{
    RClientObject *self = (RClientObject *)op;
    modstate *st = PyType_GetModuleState(defcls);
    if (kwnames != NULL && PyTuple_GET_SIZE(kwnames)) {
        PyErr_SetString(PyExc_TypeError, "_stream() takes positional arguments only");
        return NULL;
    }
    preq_t *r = make_request(self, st, args, nargs);
    if (r == NULL)
        return NULL;
    if (preq_make_stream(r) < 0 || rclient_ready(self) < 0) {
        preq_discard(r);
        return NULL;
    }
    r->client = self->core;
    atomic_store(&r->refs, 1); /* the flight */
    hr_reactor_post(&r->msg);
    int interrupted = 0;
    for (;;) {
        int ready;
        Py_BEGIN_ALLOW_THREADS
        uv_mutex_lock(&r->st->sm);
        if (!r->st->head_ready && !r->st->done)
            uv_cond_timedwait(&r->st->scv, &r->st->sm, (uint64_t)100 * 1000 * 1000);
        ready = r->st->head_ready || r->st->done;
        uv_mutex_unlock(&r->st->sm);
        Py_END_ALLOW_THREADS
        if (ready)
            break;
        if (!interrupted && PyErr_CheckSignals() < 0) {
            interrupted = 1;
            post_cancel(r);
        }
    }
    if (interrupted) {
        stream_wait_done(r);
        stream_release_flight(r);
        return NULL;
    }
    uv_mutex_lock(&r->st->sm);
    int head = r->st->head_ready;
    uv_mutex_unlock(&r->st->sm);
    if (!head) {
        int err = r->start_err ? r->start_err : hr_request_error(r->core);
        PyObject *res = map_error(st, r, err ? err : HR_E_READ);
        stream_release_flight(r);
        return res;
    }
    PyObject *so = stream_new(st, r);
    if (so == NULL) {
        post_cancel(r);
        stream_wait_done(r);
        stream_release_flight(r);
    }
    return so;
}

/* The asyncio path of _submit and _submit_stream: a Handle whose future resolves to the
 * Response (or, for a stream, the StreamBase once the head arrived). */
static PyObject *submit(PyObject *op, PyTypeObject *defcls, PyObject *const *args,
                        Py_ssize_t nargs, PyObject *kwnames, int stream)
{
    RClientObject *self = (RClientObject *)op;
    modstate *st = PyType_GetModuleState(defcls);
    if (kwnames != NULL && PyTuple_GET_SIZE(kwnames)) {
        PyErr_SetString(PyExc_TypeError, "takes positional arguments only");
        return NULL;
    }
    preq_t *r = make_request(self, st, args, nargs);
    if (r == NULL)
        return NULL;
    PortObject *port;
    HandleObject *h = NULL;
    if ((stream && preq_make_stream(r) < 0) || rclient_ready(self) < 0 ||
        (port = port_for_running_loop(st, self->generation)) == NULL)
        goto error;
    r->future = PyObject_CallMethodNoArgs(port->loop, st->s_create_future);
    if (r->future == NULL)
        goto error;
    h = PyObject_GC_New(HandleObject, st->Handle_type);
    if (h == NULL)
        goto error;
    h->r = r;
    h->future = Py_NewRef(r->future);
    PyObject_GC_Track(h);
    r->port = (PortObject *)Py_NewRef(port);
    r->is_async = 1;
    r->client = self->core;
    atomic_store(&r->refs, 2); /* the flight (released by drain) and the handle */
    hr_reactor_post(&r->msg);
    return (PyObject *)h;
error:
    preq_discard(r);
    return NULL;
}

/* _submit(method, url, headers, body, timeout) -> Handle */
static PyObject *RClient_submit(PyObject *op, PyTypeObject *defcls, PyObject *const *args,
                                Py_ssize_t nargs, PyObject *kwnames)
{
    return submit(op, defcls, args, nargs, kwnames, 0);
}

/* _submit_stream(method, url, headers, body, timeout) -> Handle (future -> StreamBase) */
static PyObject *RClient_submit_stream(PyObject *op, PyTypeObject *defcls,
                                       PyObject *const *args, Py_ssize_t nargs,
                                       PyObject *kwnames)
{
    return submit(op, defcls, args, nargs, kwnames, 1);
}

/* _configure_http(follow_redirects, max_redirects, referer, cookie_store, https_only) */
static PyObject *RClient_configure_http(PyObject *op, PyObject *const *args, Py_ssize_t nargs)
{
    RClientObject *self = (RClientObject *)op;
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "_configure_http(follow_redirects, max_redirects, "
                                         "referer, cookie_store, https_only)");
        return NULL;
    }
    int follow = PyObject_IsTrue(args[0]);
    long maxr = PyLong_AsLong(args[1]);
    int referer = PyObject_IsTrue(args[2]);
    int jar = PyObject_IsTrue(args[3]);
    int https_only = PyObject_IsTrue(args[4]);
    if (follow < 0 || referer < 0 || jar < 0 || https_only < 0 || (maxr == -1 && PyErr_Occurred()))
        return NULL;
    if (maxr < 0) {
        PyErr_SetString(PyExc_ValueError, "max_redirects must be >= 0");
        return NULL;
    }
    self->config.follow_redirects = follow;
    self->config.max_redirects = (unsigned)(maxr > 1000000 ? 1000000 : maxr);
    self->config.referer = referer;
    self->config.cookie_store = jar;
    self->config.https_only = https_only;
    rclient_drop_core(self); /* the next request uses the new settings (and an empty jar) */
    Py_RETURN_NONE;
}

/*
 * _configure_tls(verify, ca_pem, identity_pem): the shared TLS context of this configuration
 * (a cache lookup unless the configuration is new). A bad bundle or identity raises
 * RequestError here, at construction.
 */
static PyObject *RClient_configure_tls(PyObject *op, PyTypeObject *defcls, PyObject *const *args,
                                       Py_ssize_t nargs, PyObject *kwnames)
{
    RClientObject *self = (RClientObject *)op;
    modstate *st = PyType_GetModuleState(defcls);
    if (nargs != 3 || kwnames != NULL) {
        PyErr_SetString(PyExc_TypeError, "_configure_tls(verify, ca_pem, identity_pem)");
        return NULL;
    }
    int verify = PyObject_IsTrue(args[0]);
    if (verify < 0)
        return NULL;
    hr_tls_config_t cfg = {.verify = verify};
    if (args[1] != Py_None) {
        if (!PyBytes_Check(args[1])) {
            PyErr_SetString(PyExc_TypeError, "ca_pem must be bytes or None");
            return NULL;
        }
        cfg.ca_pem = PyBytes_AS_STRING(args[1]);
        cfg.ca_pem_len = (size_t)PyBytes_GET_SIZE(args[1]);
    }
    if (args[2] != Py_None) {
        if (!PyBytes_Check(args[2])) {
            PyErr_SetString(PyExc_TypeError, "identity_pem must be bytes or None");
            return NULL;
        }
        cfg.identity_pem = PyBytes_AS_STRING(args[2]);
        cfg.identity_pem_len = (size_t)PyBytes_GET_SIZE(args[2]);
    }
    int err = 0;
    char msg[256] = "";
    hr_tls_t *tls = hr_tls_get(&cfg, &err, msg, sizeof(msg));
    if (tls == NULL) {
        if (err == HR_E_NOMEM)
            return PyErr_NoMemory();
        PyErr_SetString(st->request_error, msg);
        return NULL;
    }
    hr_tls_t *old = self->config.tls;
    self->config.tls = tls;
    if (old != tls) /* the same configuration again (e.g. a proxy change) keeps the pool */
        rclient_drop_core(self);
    hr_tls_release(old);
    Py_RETURN_NONE;
}

static PyMethodDef RClient_methods[] = {
    {"_configure_tls", (PyCFunction)(void (*)(void))RClient_configure_tls,
     METH_METHOD | METH_FASTCALL | METH_KEYWORDS,
     "_configure_tls(verify, ca_pem, identity_pem)"},
    {"_configure_http", (PyCFunction)(void (*)(void))RClient_configure_http, METH_FASTCALL,
     "_configure_http(follow_redirects, max_redirects, referer, cookie_store, https_only)"},
    {"_stream", (PyCFunction)(void (*)(void))RClient_stream,
     METH_METHOD | METH_FASTCALL | METH_KEYWORDS,
     "_stream(method, url, headers, body, timeout) -> StreamBase (waits for the head)"},
    {"_submit_stream", (PyCFunction)(void (*)(void))RClient_submit_stream,
     METH_METHOD | METH_FASTCALL | METH_KEYWORDS,
     "_submit_stream(method, url, headers, body, timeout) -> Handle (asyncio)"},
    {"_configure", (PyCFunction)(void (*)(void))RClient_configure, METH_FASTCALL,
     "_configure(max_inflight, max_conns_per_origin, idle_timeout)"},
    {"_request", (PyCFunction)(void (*)(void))RClient_request,
     METH_METHOD | METH_FASTCALL | METH_KEYWORDS,
     "_request(method, url, headers, body, timeout) -> Response (blocks, GIL released)"},
    {"_submit", (PyCFunction)(void (*)(void))RClient_submit,
     METH_METHOD | METH_FASTCALL | METH_KEYWORDS,
     "_submit(method, url, headers, body, timeout) -> Handle (asyncio)"},
    {"_close", RClient_close, METH_NOARGS, "Drop the connection pool; requests in flight finish."},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef RClient_members[] = {
    {"__dictoffset__", T_PYSSIZET, offsetof(RClientObject, dict), READONLY, NULL},
    {"__weaklistoffset__", T_PYSSIZET, offsetof(RClientObject, weakrefs), READONLY, NULL},
    {NULL, 0, 0, 0, NULL},
};

static PyType_Slot RClient_slots[] = {
    {Py_tp_new, RClient_new},
    {Py_tp_dealloc, RClient_dealloc},
    {Py_tp_traverse, RClient_traverse},
    {Py_tp_clear, RClient_clear},
    {Py_tp_methods, RClient_methods},
    {Py_tp_members, RClient_members},
    {Py_tp_doc,
     "RClient(auth=None, auth_bearer=None, params=None, headers=None, cookies=None, "
     "cookie_store=True, referer=True, proxy=None, timeout=30.0, follow_redirects=True, "
     "max_redirects=20, verify=True, ca_cert_file=None, client_pem=None, "
     "client_pem_data=None, https_only=False, http2_only=False, http1_only=False)\n--\n\n"
     "Native base of httpr.Client: owns the engine client (connection pool) on the reactor."},
    {0, NULL},
};

static PyType_Spec RClient_spec = {
    .name = "httpr._httpr.RClient",
    .basicsize = sizeof(RClientObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC |
             Py_TPFLAGS_IMMUTABLETYPE,
    .slots = RClient_slots,
};

/* ---------------------------------------------------------------------------------------- */
/* module functions                                                                         */

static const struct {
    int code;
    const char *name;
} ERRMAP[] = {
    {HR_E_INVALID_URL, "RequestError"},
    {HR_E_UNSUPPORTED_SCHEME, "UnsupportedProtocol"},
    {HR_E_INVALID_HEADER, "LocalProtocolError"},
    {HR_E_CONNECT, "ConnectError"},
    {HR_E_CONNECT_TIMEOUT, "ConnectTimeout"},
    {HR_E_READ_TIMEOUT, "ReadTimeout"},
    {HR_E_WRITE, "WriteError"},
    {HR_E_READ, "ReadError"},
    {HR_E_PROTOCOL, "RemoteProtocolError"},
    {HR_E_CANCELLED, "RequestError"},
    {HR_E_CLOSED, "ClientClosed"},
    {HR_E_TLS, "ConnectError"},
    {HR_E_UNSUPPORTED, "UnsupportedProtocol"},
    {HR_E_DECODING, "DecodingError"},
    {HR_E_TOO_MANY_REDIRECTS, "TooManyRedirects"},
    {HR_E_BODY, "RequestError"},
    {HR_E_TLS_CONFIG, "RequestError"},
};

static PyObject *mod_init(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    modstate *st = PyModule_GetState(module);
    if (nargs < 2 || nargs > 3 || !PyDict_Check(args[0]) || !PyType_Check(args[1]) ||
        (nargs == 3 && args[2] != Py_None && !PyType_Check(args[2]))) {
        PyErr_SetString(PyExc_TypeError,
                        "_init(exceptions: dict, response_type: type, stream_type: type = None)");
        return NULL;
    }
    if (nargs == 3 && args[2] != Py_None) {
        if (!PyType_IsSubtype((PyTypeObject *)args[2], st->StreamBase_type)) {
            PyErr_SetString(PyExc_TypeError, "stream_type must subclass StreamBase");
            return NULL;
        }
        Py_XSETREF(st->stream_type, (PyTypeObject *)Py_NewRef(args[2]));
    }
    PyTypeObject *rt = (PyTypeObject *)args[1];
    if (!PyType_IsSubtype(rt, st->ResponseBase_type)) {
        PyErr_SetString(PyExc_TypeError, "response_type must subclass ResponseBase");
        return NULL;
    }
    for (size_t i = 0; i < sizeof(ERRMAP) / sizeof(ERRMAP[0]); i++) {
        PyObject *cls = PyDict_GetItemString(args[0], ERRMAP[i].name);
        if (cls == NULL) {
            PyErr_Format(PyExc_KeyError, "_init: missing exception class %s", ERRMAP[i].name);
            return NULL;
        }
        Py_XSETREF(st->exc[-ERRMAP[i].code], Py_NewRef(cls));
    }
    PyObject *re = PyDict_GetItemString(args[0], "RequestError");
    Py_XSETREF(st->request_error, Py_NewRef(re));
    Py_XSETREF(st->response_type, (PyTypeObject *)Py_NewRef(rt));
    Py_RETURN_NONE;
}

static PyObject *mod_debug_stats(PyObject *module, PyObject *Py_UNUSED(ignored))
{
    modstate *st = PyModule_GetState(module);
    Py_ssize_t pos = 0;
    PyObject *k, *v;
    while (st->ports != NULL && PyDict_Next(st->ports, &pos, &k, &v)) {
        PyObject *closed = PyObject_CallMethodNoArgs(k, st->s_is_closed);
        if (closed == NULL)
            PyErr_Clear();
        else if (closed == Py_True)
            port_reap((PortObject *)v);
        Py_XDECREF(closed);
    }
    hr_stats_t s;
    hr_get_stats(&s);
    return Py_BuildValue("{s:L,s:L,s:L,s:L,s:L,s:L}", "requests", (long long)s.requests,
                         "connections", (long long)s.conns, "clients", (long long)s.clients,
                         "mem_blocks", (long long)s.mem_blocks, "mem_kept",
                         (long long)s.mem_kept, "mem_mapped", (long long)s.mem_mapped);
}

/* _mem_policy(max_bytes, base_bytes, age_ms): the engine's buffer cache (hr_mem_set_policy);
 * _mem_policy() restores the defaults. For tests. */
static PyObject *mod_mem_policy(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (nargs == 0) {
        hr_mem_set_policy(HR_MEM_KEEP_MAX, HR_MEM_KEEP_BASE, HR_MEM_AGE_MS);
        Py_RETURN_NONE;
    }
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "_mem_policy([max_bytes, base_bytes, age_ms])");
        return NULL;
    }
    size_t max = PyLong_AsSize_t(args[0]), base = PyLong_AsSize_t(args[1]);
    unsigned long long age = PyLong_AsUnsignedLongLong(args[2]);
    if (PyErr_Occurred())
        return NULL;
    hr_mem_set_policy(max, base, age);
    Py_RETURN_NONE;
}

static PyObject *mod_mem_trim(PyObject *module, PyObject *Py_UNUSED(ignored))
{
    (void)module;
    hr_mem_trim();
    Py_RETURN_NONE;
}

static PyObject *mod_shutdown(PyObject *module, PyObject *Py_UNUSED(ignored))
{
    (void)module;
    Py_BEGIN_ALLOW_THREADS
    hr_reactor_stop();
    Py_END_ALLOW_THREADS
    poster_stop();
    Py_RETURN_NONE;
}

/* _test_hooks(complete_delay_us[, drain_max[, tick_delay_us]]) -> premature frees so far
 * (see hook_complete_delay_us, hook_tick_delay_us); drain_max 0 restores the default. */
static PyObject *mod_test_hooks(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (nargs < 1 || nargs > 3) {
        PyErr_SetString(PyExc_TypeError,
                        "_test_hooks(complete_delay_us[, drain_max[, tick_delay_us]])");
        return NULL;
    }
    long us = PyLong_AsLong(args[0]);
    long dm = nargs > 1 ? PyLong_AsLong(args[1]) : -1;
    long tick_us = nargs > 2 ? PyLong_AsLong(args[2]) : 0;
    if (PyErr_Occurred())
        return NULL;
    if (us < 0 || us > 1000000 || dm > 1000000 || tick_us < 0 || tick_us > 1000000) {
        PyErr_SetString(PyExc_ValueError, "_test_hooks: value out of range");
        return NULL;
    }
    atomic_store(&hook_complete_delay_us, (int)us);
    atomic_store(&hook_tick_delay_us, (int)tick_us);
    if (dm >= 0)
        drain_max = dm == 0 ? DRAIN_MAX : (int)dm;
    return PyLong_FromLong(atomic_load(&hook_premature_frees));
}

/* _json_loads(data: bytes-like) -> object (json.c; ValueError when it does not accept) */
static PyObject *mod_json_loads(PyObject *module, PyObject *data)
{
    (void)module;
    Py_buffer view;
    if (PyObject_GetBuffer(data, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    PyObject *res = hr_json_loads(view.buf, view.len);
    PyBuffer_Release(&view);
    return res;
}

/* _json_tape_loads(data: bytes-like) -> object: the engine's read ahead and the build from
 * its tape, as Response.json() uses them; LookupError when the engine makes no tape,
 * ValueError when the build declines. */
static PyObject *mod_json_tape_loads(PyObject *module, PyObject *data)
{
    (void)module;
    Py_buffer view;
    if (PyObject_GetBuffer(data, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    PyObject *res = NULL;
    hr_json_tape_t *tape;
    Py_BEGIN_ALLOW_THREADS
    tape = hr_json_tape_parse(view.buf, (size_t)view.len);
    Py_END_ALLOW_THREADS
    if (tape == NULL)
        PyErr_SetString(PyExc_LookupError, "no tape");
    else
        res = hr_json_from_tape(tape, view.buf, view.len);
    hr_json_tape_free(tape);
    PyBuffer_Release(&view);
    return res;
}

static PyMethodDef module_methods[] = {
    {"_test_hooks", (PyCFunction)(void (*)(void))mod_test_hooks, METH_FASTCALL,
     "_test_hooks(complete_delay_us[, drain_max[, tick_delay_us]]) -> int: testing only "
     "(see module.c)."},
    {"_init", (PyCFunction)(void (*)(void))mod_init, METH_FASTCALL,
     "_init(exceptions, response_type): register the Python-side classes."},
    {"_debug_stats", mod_debug_stats, METH_NOARGS, "Live engine objects (requests, connections, clients)."},
    {"_shutdown", mod_shutdown, METH_NOARGS, "Stop the reactor and completion threads."},
    {"_mem_policy", (PyCFunction)(void (*)(void))mod_mem_policy, METH_FASTCALL,
     "_mem_policy([max_bytes, base_bytes, age_ms]): the engine's buffer cache (tests)."},
    {"_mem_trim", mod_mem_trim, METH_NOARGS, "Release the engine's kept buffers (tests)."},
    {"_json_loads", mod_json_loads, METH_O, "_json_loads(data) -> object: JSON bytes to Python."},
    {"_json_tape_loads", mod_json_tape_loads, METH_O,
     "_json_tape_loads(data) -> object: the same through the engine's tape (testing)."},
    {NULL, NULL, 0, NULL},
};

static int module_exec(PyObject *m)
{
    modstate *st = PyModule_GetState(m);
#define ADD_TYPE(field, spec, base)                                                            \
    do {                                                                                       \
        st->field = (PyTypeObject *)PyType_FromModuleAndSpec(m, &(spec), (base));             \
        if (st->field == NULL || PyModule_AddType(m, st->field) < 0)                           \
            return -1;                                                                         \
    } while (0)
    ADD_TYPE(RClient_type, RClient_spec, NULL);
    ADD_TYPE(Handle_type, Handle_spec, NULL);
    ADD_TYPE(Port_type, Port_spec, NULL);
    ADD_TYPE(ResponseBase_type, ResponseBase_spec, NULL);
    ADD_TYPE(StreamBase_type, Stream_spec, NULL);
#undef ADD_TYPE
    st->ports = PyDict_New();
    if (st->ports == NULL)
        return -1;
#define INTERN(field, s)                                                                       \
    if ((st->field = PyUnicode_InternFromString(s)) == NULL)                                   \
        return -1;
    INTERN(s_create_future, "create_future");
    INTERN(s_set_result, "set_result");
    INTERN(s_set_exception, "set_exception");
    INTERN(s_done, "done");
    INTERN(s_cancelled, "cancelled");
    INTERN(s_call_soon_threadsafe, "call_soon_threadsafe");
    INTERN(s_call_soon, "call_soon");
    INTERN(s_drain, "drain");
    INTERN(s_is_closed, "is_closed");
    INTERN(s_running_key, "__asyncio_running_event_loop__");
    INTERN(http11, "HTTP/1.1");
    INTERN(http10, "HTTP/1.0");
#undef INTERN
    PyObject *asyncio = PyImport_ImportModule("asyncio");
    if (asyncio == NULL)
        return -1;
    st->get_running_loop = PyObject_GetAttrString(asyncio, "get_running_loop");
    Py_DECREF(asyncio);
    if (st->get_running_loop == NULL)
        return -1;

    /* Stop the threads before the interpreter finalises: a thread that takes the GIL during
     * finalisation would hang (3.14+) or be killed mid-call. */
    PyObject *atexit = PyImport_ImportModule("atexit");
    if (atexit == NULL)
        return -1;
    PyObject *fn = PyObject_GetAttrString(m, "_shutdown");
    PyObject *res = fn ? PyObject_CallMethod(atexit, "register", "O", fn) : NULL;
    Py_XDECREF(fn);
    Py_DECREF(atexit);
    if (res == NULL)
        return -1;
    Py_DECREF(res);
    return 0;
}

static int module_traverse(PyObject *m, visitproc visit, void *arg)
{
    modstate *st = PyModule_GetState(m);
    Py_VISIT(st->RClient_type);
    Py_VISIT(st->Handle_type);
    Py_VISIT(st->Port_type);
    Py_VISIT(st->ResponseBase_type);
    Py_VISIT(st->response_type);
    Py_VISIT(st->StreamBase_type);
    Py_VISIT(st->stream_type);
    for (int i = 0; i < N_ERRCLASSES; i++)
        Py_VISIT(st->exc[i]);
    Py_VISIT(st->request_error);
    Py_VISIT(st->get_running_loop);
    Py_VISIT(st->seen_holder);
    Py_VISIT(st->ports);
    return 0;
}

static int module_clear(PyObject *m)
{
    modstate *st = PyModule_GetState(m);
    Py_CLEAR(st->RClient_type);
    Py_CLEAR(st->Handle_type);
    Py_CLEAR(st->Port_type);
    Py_CLEAR(st->ResponseBase_type);
    Py_CLEAR(st->response_type);
    Py_CLEAR(st->StreamBase_type);
    Py_CLEAR(st->stream_type);
    for (int i = 0; i < N_ERRCLASSES; i++)
        Py_CLEAR(st->exc[i]);
    Py_CLEAR(st->request_error);
    Py_CLEAR(st->get_running_loop);
    Py_CLEAR(st->ports);
    st->last_loop = st->last_port = NULL;
    Py_CLEAR(st->s_create_future);
    Py_CLEAR(st->s_set_result);
    Py_CLEAR(st->s_set_exception);
    Py_CLEAR(st->s_done);
    Py_CLEAR(st->s_cancelled);
    Py_CLEAR(st->s_call_soon_threadsafe);
    Py_CLEAR(st->s_call_soon);
    Py_CLEAR(st->s_drain);
    Py_CLEAR(st->s_is_closed);
    Py_CLEAR(st->s_running_key);
    Py_CLEAR(st->seen_holder);
    Py_CLEAR(st->http11);
    Py_CLEAR(st->http10);
    return 0;
}

static void module_free(void *m) { module_clear((PyObject *)m); }

static PyModuleDef_Slot module_slots[] = {
    {Py_mod_exec, module_exec},
#ifdef Py_mod_multiple_interpreters
    /* the reactor is process-wide machinery that posts into one interpreter's loops */
    {Py_mod_multiple_interpreters, Py_MOD_MULTIPLE_INTERPRETERS_NOT_SUPPORTED},
#endif
    {0, NULL},
};

static struct PyModuleDef httpr_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "httpr._httpr",
    .m_doc = "httpr's native engine binding (libuv reactor + llhttp).",
    .m_size = sizeof(modstate),
    .m_methods = module_methods,
    .m_slots = module_slots,
    .m_traverse = module_traverse,
    .m_clear = module_clear,
    .m_free = module_free,
};

PyMODINIT_FUNC PyInit__httpr(void) { return PyModuleDef_Init(&httpr_module); }
