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
"Wait up to timeout_ns for events on the epoll set epfd (epoll_pwait2); 0 polls, keeping the GIL.\n"
"None if the kernel has no epoll_pwait2.");

static PyObject *
epoll_wait_ns(PyObject *self, PyObject *args)
{
    int epfd, maxevents;
    long long timeout_ns;
    if (!PyArg_ParseTuple(args, "iLi:epoll_wait", &epfd, &timeout_ns, &maxevents)) {
        return NULL;
    }
    if (timeout_ns < 0 || maxevents <= 0) {
        PyErr_SetString(PyExc_ValueError, "epoll_wait: timeout_ns must not be negative, maxevents must be positive");
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
    long n = 0;
    int err;
    if (timeout_ns == 0) {
        /* A poll that cannot block keeps the GIL: released, it would only be handed around
         * (and a thread waiting for it woken) for a call that takes about a microsecond. */
        n = epoll_wait(epfd, evs, maxevents, 0);
        if (n < 0) {
            if (errno != EINTR) {
                return PyErr_SetFromErrno(PyExc_OSError);
            }
            n = 0;  /* interrupted: nothing ready, as a poll that found nothing */
        }
    }
    for (; timeout_ns > 0;) {
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

PyDoc_STRVAR(epoll_ctl_doc,
"epoll_ctl(epfd, op, fd, events)\n\n"
"epoll_ctl(2) keeping the GIL: select.epoll's register (op 1), unregister (2) and\n"
"modify (3) release it around a call that never blocks. OSError as those raise.");

/* netpoll re-arms a one-shot descriptor (gosched.aio's epoll set among them) every time a
 * goroutine parks on it. Each GIL release there hands the GIL to a thread waiting for it
 * and resets that thread's switch-interval clock: sysmon, waiting to tick, then waited
 * tens of ms while the M dropped and retook the GIL thousands of times a second. */
static PyObject *
epoll_ctl_(PyObject *self, PyObject *args)
{
    int epfd, op, fd;
    unsigned int events;
    if (!PyArg_ParseTuple(args, "iiiI:epoll_ctl", &epfd, &op, &fd, &events)) {
        return NULL;
    }
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = events;
    ev.data.fd = fd;  /* as select.epoll registers it: netpoll reads the fd back */
    if (epoll_ctl(epfd, op, fd, &ev) < 0) {
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    Py_RETURN_NONE;
}

/* recvbytes(sock, size): sock.recv(size) for gosched.aio's socket transport
 * (_aio/transport.py), read into one buffer this module keeps.
 *
 * asyncio's transport reads with sock.recv(256 KiB), which allocates the whole size and
 * shrinks it to what arrived: in a process that has not yet freed a chunk that large,
 * glibc serves each with mmap and munmap (docs/aio.md). The transport's pure-Python way,
 * recv_into a buffer from a free list and a copy, avoids that but spent ~900 instructions
 * a read on the memoryview and the arguments (callgrind, a Protocol echo server). Here:
 * read(2) (recv(2) without flags; <sys/socket.h> would clash with this module's send)
 * into a static buffer with the GIL held, then a bytes of what arrived. The GIL
 * is what makes one buffer safe (this file is built for GIL CPythons only), and holding it
 * costs nothing: the transport's socket is non-blocking, so the call never waits. A size
 * above the buffer's reads into a bytes of that size, as socket.recv does. Errors are
 * socket.recv's: OSError from errno (BlockingIOError, ConnectionResetError, ...), EBADF
 * for a closed socket, EINTR retried after the signal handlers (PEP 475).
 */
#define RECVBUFSIZE (256 * 1024)
static char recvbuf[RECVBUFSIZE];

PyDoc_STRVAR(recvbytes_doc,
"recvbytes(sock, size, /)\n--\n\n"
"sock.recv(size) for a non-blocking socket, read into a buffer the module keeps.");

static PyObject *recvcore(PyObject *sock, Py_ssize_t size);

static PyObject *
recvbytes(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2 || !PyLong_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "recvbytes(sock, size: int)");
        return NULL;
    }
    Py_ssize_t size = PyLong_AsSsize_t(args[1]);
    if (size < 0) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_ValueError, "negative buffersize in recv");
        }
        return NULL;
    }
    return recvcore(args[0], size);
}

/* A socket's descriptor without its fileno() call (~240 instructions a read, the method's
 * lookup through socket.socket's class): _socket.socket keeps it as the first field after
 * the object header (PySocketSockObject's sock_fd, -1 once closed; 3.11-3.13), read there
 * for a socket.socket or _socket.socket (a subclass may override fileno) once a probe at the
 * first read has seen that layout: a socket's field equal to its fileno(), then -1 after
 * close(). Otherwise, and for anything else, fileno(). */
static PyTypeObject *socktypes[2];  /* _socket.socket, socket.socket: set if the probe passed */
static int sockprobed;

static void
sockprobe(void)
{
    sockprobed = 1;
    PyObject *cmod = PyImport_ImportModule("_socket"), *pmod = PyImport_ImportModule("socket");
    PyObject *ct = cmod == NULL ? NULL : PyObject_GetAttrString(cmod, "socket");
    PyObject *pt = pmod == NULL ? NULL : PyObject_GetAttrString(pmod, "socket");
    PyObject *fam = cmod == NULL ? NULL : PyObject_GetAttrString(cmod, "AF_UNIX");
    PyObject *typ = cmod == NULL ? NULL : PyObject_GetAttrString(cmod, "SOCK_DGRAM");
    PyObject *sk = ct == NULL || pt == NULL || fam == NULL || typ == NULL || !PyType_Check(ct) || !PyType_Check(pt)
                       ? NULL : PyObject_CallFunctionObjArgs(pt, fam, typ, NULL);
    int ok = 0;
    if (sk != NULL && PyObject_TypeCheck(sk, (PyTypeObject *)ct) &&
        Py_TYPE(sk)->tp_basicsize >= (Py_ssize_t)(sizeof(PyObject) + sizeof(int))) {
        int *field = (int *)((char *)sk + sizeof(PyObject));
        PyObject *fd = PyObject_CallMethod(sk, "fileno", NULL);
        long f = fd == NULL ? -2 : PyLong_AsLong(fd);
        Py_XDECREF(fd);
        ok = f >= 0 && *field == f;
        PyObject *r = PyObject_CallMethod(sk, "close", NULL);
        ok = ok && r != NULL && *field == -1;
        Py_XDECREF(r);
    }
    PyErr_Clear();
    if (ok) {
        socktypes[0] = (PyTypeObject *)Py_NewRef(ct);
        socktypes[1] = (PyTypeObject *)Py_NewRef(pt);
    }
    Py_XDECREF(sk);
    Py_XDECREF(fam);
    Py_XDECREF(typ);
    Py_XDECREF(ct);
    Py_XDECREF(pt);
    Py_XDECREF(cmod);
    Py_XDECREF(pmod);
}

/* sock.fileno(): -1 with an error set, or the descriptor (-1 without one: closed). */
static long
sockfd(PyObject *sock, int *err)
{
    *err = 0;
    if (!sockprobed) {
        sockprobe();
    }
    if (socktypes[0] != NULL && (Py_TYPE(sock) == socktypes[1] || Py_TYPE(sock) == socktypes[0])) {
        return *(int *)((char *)sock + sizeof(PyObject));
    }
    static PyObject *str_fileno;  /* interned once: a name made per call missed the type's method cache */
    if (str_fileno == NULL && (str_fileno = PyUnicode_InternFromString("fileno")) == NULL) {
        *err = 1;
        return -1;
    }
    PyObject *fdobj = PyObject_CallMethodNoArgs(sock, str_fileno);
    long fd = fdobj == NULL ? -1 : PyLong_AsLong(fdobj);
    Py_XDECREF(fdobj);
    *err = fd == -1 && PyErr_Occurred();
    return fd;
}

/* recvbytes' work: sock.recv(size), size >= 0. */
static PyObject *
recvcore(PyObject *sock, Py_ssize_t size)
{
    int err;
    long fd = sockfd(sock, &err);
    if (err) {
        return NULL;
    }
    if (fd < 0 || fd > INT_MAX) {  /* a closed socket's fileno() is -1: recv's EBADF */
        errno = EBADF;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    PyObject *big = NULL;
    char *buf = recvbuf;
    if (size > RECVBUFSIZE) {
        if ((big = PyBytes_FromStringAndSize(NULL, size)) == NULL) {
            return NULL;
        }
        buf = PyBytes_AS_STRING(big);
    }
    ssize_t n;
    while ((n = read((int)fd, buf, (size_t)size)) < 0 && errno == EINTR) {
        if (PyErr_CheckSignals() < 0) {
            Py_XDECREF(big);
            return NULL;
        }
    }
    if (n < 0) {
        Py_XDECREF(big);
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    if (big == NULL) {
        return PyBytes_FromStringAndSize(recvbuf, n);
    }
    if (n != size && _PyBytes_Resize(&big, n) < 0) {
        return NULL;
    }
    return big;
}
