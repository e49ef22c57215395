/*
 * reactor.h — the background thread that runs the engine's uv_loop_t, and its submission
 * mailbox. Pure C: nothing here touches a Python object, so the reactor never needs the GIL.
 */
#ifndef HR_REACTOR_H
#define HR_REACTOR_H

#include "../core/internal.h"

typedef enum {
    HR_MSG_START = 1, /* ptr: the binding's request record */
    HR_MSG_CANCEL,    /* ptr: the binding's request record */
    HR_MSG_CLOSE,     /* ptr: hr_client_t to close */
    HR_MSG_RESUME,    /* ptr: the binding's request record (stream backpressure) */
    HR_MSG_STOP,
} hr_msg_type_t;

typedef struct hr_msg_s {
    hr_queue_t link;
    hr_msg_type_t type;
    void *ptr;
    bool heap; /* free the message after handling it */
} hr_msg_t;

/* Runs on the reactor thread for every message. Set once by the binding. */
typedef void (*hr_msg_handler_t)(hr_msg_t *msg);

/* The binding's hooks, all called on the reactor thread. */
typedef struct {
    hr_msg_handler_t on_message; /* every message */
    void (*on_start)(uv_loop_t *); /* once, before the loop runs (a new reactor, e.g. after fork) */
    void (*on_tick)(void);       /* after each poll for I/O (uv_check): flush coalesced work */
    void (*before_poll)(void);   /* before each poll for I/O (uv_prepare): the same, for work
                                    queued after the last check (timers, close callbacks) */
} hr_reactor_hooks_t;

/*
 * Any thread (the binding calls these with the GIL held, so they are serialised).
 * hr_reactor_ensure() starts the reactor if it is not running in this process — lazily on the
 * first request, again after hr_reactor_stop(), and anew in a forked child (the parent's
 * thread does not exist there; its memory is abandoned, never touched). Returns the loop, or
 * NULL on failure; *generation changes whenever a new reactor is started.
 */
uv_loop_t *hr_reactor_ensure(const hr_reactor_hooks_t *hooks, unsigned *generation);
unsigned hr_reactor_generation(void);

/* Any thread: changes in every forked child (pthread_atfork), so "am I the process that
 * started this?" costs a load instead of a getpid() system call. */
unsigned hr_fork_generation(void);

/* Any thread: appends to the mailbox and wakes the reactor when the mailbox was empty. */
void hr_reactor_post(hr_msg_t *msg);

/* Reactor thread: keep polling without sleeping for `ns` more nanoseconds (an answer or a
 * submission is expected soon: a sleeping thread would be woken for it). */
void hr_reactor_spin(uint64_t ns);

/* Stops and joins the reactor thread. Call without holding the GIL. Safe if not running. */
void hr_reactor_stop(void);

#endif
