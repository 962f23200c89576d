/* epoll_wait with a nanosecond timeout, for netpoll_epoll.py (included by _speedups.c).
 *
 * Why: epoll_wait's timeout is whole milliseconds, and Python's epoll.poll(seconds)
 * rounds up to them. netpoll's blocking wait is what wakes a sleeping program for
 * its next timer, so every timer fired up to 1 ms late (a 1 ms Ticker ticked every
 * ~1.15 ms and its worst gaps were 2-3 ms with nothing else running). Linux 5.11's
 * epoll_pwait2 takes a timespec: the M wakes at the timer (plus the kernel's timer
 * slack, 50 us by default). Go's netpoll_epoll.go still waits whole milliseconds;
 * gosched goes further here because a goroutine's wake-up in Python already costs
 * more than a Go one and should not add the rounding on top.
 *
 * epoll_wait(epfd, timeout_ns, maxevents) -> list of (fd, events), as epoll.poll
 * returns, or None when the kernel lacks epoll_pwait2 (ENOSYS): the caller then
 * falls back to epoll.poll for good. The GIL is released while waiting; EINTR
 * retries with the time left after running signal handlers (PEP 475), as
 * epoll.poll does.
 */
#include <errno.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef SYS_epoll_pwait2
#  if defined(__x86_64__) || defined(__aarch64__)
#    define SYS_epoll_pwait2 441  /* the same number on every architecture (asm-generic) */
#  endif
#endif

#define EPOLL_NS_MAXEVENTS 1024

static int64_t
mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

PyDoc_STRVAR(epoll_wait_doc,
"epoll_wait(epfd, timeout_ns, maxevents) -> list[(fd, events)] | None\n\n"
"Wait up to timeout_ns (> 0) for events on the epoll set epfd (epoll_pwait2).\n"
"None if the kernel has no epoll_pwait2.");

static PyObject *
epoll_wait_ns(PyObject *self, PyObject *args)
{
    int epfd, maxevents;
    long long timeout_ns;
    if (!PyArg_ParseTuple(args, "iLi:epoll_wait", &epfd, &timeout_ns, &maxevents)) {
        return NULL;
    }
    if (timeout_ns <= 0 || maxevents <= 0) {
        PyErr_SetString(PyExc_ValueError, "epoll_wait: timeout_ns and maxevents must be positive");
        return NULL;
    }
#ifndef SYS_epoll_pwait2
    Py_RETURN_NONE;
#else
    struct epoll_event evs[EPOLL_NS_MAXEVENTS];
    if (maxevents > EPOLL_NS_MAXEVENTS) {
        maxevents = EPOLL_NS_MAXEVENTS;
    }
    int64_t deadline = mono_ns() + timeout_ns;
    long n;
    int err;
    for (;;) {
        struct timespec ts = {(time_t)(timeout_ns / 1000000000), (long)(timeout_ns % 1000000000)};
        Py_BEGIN_ALLOW_THREADS
        n = syscall(SYS_epoll_pwait2, epfd, evs, maxevents, &ts, NULL, (size_t)0);
        err = errno;
        Py_END_ALLOW_THREADS
        if (n >= 0) {
            break;
        }
        if (err == ENOSYS) {
            Py_RETURN_NONE;
        }
        if (err != EINTR) {
            errno = err;
            return PyErr_SetFromErrno(PyExc_OSError);
        }
        if (PyErr_CheckSignals() < 0) {
            return NULL;
        }
        timeout_ns = deadline - mono_ns();
        if (timeout_ns <= 0) {
            n = 0;
            break;
        }
    }
    PyObject *out = PyList_New(n);
    if (out == NULL) {
        return NULL;
    }
    for (long i = 0; i < n; i++) {
        PyObject *t = Py_BuildValue("(iI)", evs[i].data.fd, evs[i].events);
        if (t == NULL) {
            Py_DECREF(out);
            return NULL;
        }
        PyList_SET_ITEM(out, i, t);
    }
    return out;
#endif
}

/* A timerfd for sysmon's deep sleep (note.py's TimerNote), where os.timerfd_* (3.13) is missing.
 * timerfd_create() -> fd (CLOCK_MONOTONIC, non-blocking, close-on-exec);
 * timerfd_settime(fd, deadline_ns): arm it to an absolute CLOCK_MONOTONIC time (0 disarms). */
#include <sys/timerfd.h>

PyDoc_STRVAR(timerfd_create_doc, "timerfd_create() -> fd: a non-blocking CLOCK_MONOTONIC timerfd.");

static PyObject *
timerfd_create_(PyObject *self, PyObject *noargs)
{
    int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (fd < 0) {
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    return PyLong_FromLong(fd);
}

PyDoc_STRVAR(timerfd_settime_doc,
"timerfd_settime(fd, deadline_ns): arm fd to fire at deadline_ns (CLOCK_MONOTONIC); 0 disarms.");

static PyObject *
timerfd_settime_(PyObject *self, PyObject *args)
{
    int fd;
    long long ns;
    if (!PyArg_ParseTuple(args, "iL:timerfd_settime", &fd, &ns)) {
        return NULL;
    }
    if (ns < 0) {
        PyErr_SetString(PyExc_ValueError, "timerfd_settime: deadline_ns must not be negative");
        return NULL;
    }
    struct itimerspec its = {{0, 0}, {(time_t)(ns / 1000000000), (long)(ns % 1000000000)}};
    if (timerfd_settime(fd, TFD_TIMER_ABSTIME, &its, NULL) < 0) {
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    Py_RETURN_NONE;
}
