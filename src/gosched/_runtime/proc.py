"""The scheduler (Go's runtime/proc.go): newproc, goready, schedule → findRunnable → execute,
work stealing, the idle M's netpoll and stopm, GOMAXPROCS (procresize).

An M is an OS thread running ``schedule``. It owns at most one P; user code runs inside
``coro.send`` with the P *published* (``p.tok`` holds one item) so that sysmon can take it
away (see runtime2's ownership rules). When the goroutine yields a trap, the loop pops the
token back; if the pop fails, sysmon took the P while the goroutine ran and the M takes Go's
exitsyscall slow path: find an idle P or put the goroutine on the global queue and stop.

Go's proc.go is split along its concepts below this module: runq.py (run queues, idle Ps),
mgr.py (Ms: startm, stopm, wakep, handoffp), syscall.py (entersyscall/exitsyscall),
panic.py (gopanic, fatal) and runend.py (the goroutines a run leaves behind).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Coroutine
from types import FrameType
from typing import Any, NoReturn

from . import mainm, mgr, panic, speedups
from . import timers as _timers
from . import trace as _trace
from .errors import Fatal
from .foreign import foreignyield
from .lock import lock2
from .lockedm import mexit, resumethrow, startlockedm, stoplockedm
from .mgr import (
    acquirep,
    activems,
    breakpoller,
    goreadytail,
    injectglist,
    mput,
    releasep,
    resetspinning,
    stopm,
    wakenetpoller,
    wakep,
)
from .panic import fatal, finish_locked, gnote, goexitpanic, over
from .runend import abandon, schedend
from .runq import (
    _coprimes,
    addtimerhere,
    drainreadyq,
    globrunqget,
    globrunqput,
    pidleget,
    pidleput,
    runqget,
    runqsteal,
)
from .runtime2 import (
    FAIRNESS_TICK,
    GOID_CACHE_BATCH,
    LATENCY_PERIOD,
    RUNQ_SIZE,
    STEAL_TRIES,
    G,
    Gdead,
    Grunnable,
    Grunning,
    Gwaiting,
    M,
    P,
    Sched,
    waitReasonSleep,
)
from .speedups import EXIT as _EXIT
from .speedups import Returned
from .syscall import lostp, syscall
from .traps import GOSCHED, PARK, SLEEP, SYSCALL, getm, preempted, setm

current: Sched | None = None  # the running scheduler, for threads that are not Ms (sysmon, foreign)
nanotime: Callable[[], int] = time.monotonic_ns  # the runtime's clock in ns (Go's nanotime)


def setcurrent(sched: Sched | None) -> None:
    """Publish the running scheduler (run()'s start), or clear it (its end, a forked child)."""
    global current
    current = sched


def setnanotime(clock: Callable[[], int]) -> None:
    """Swap the runtime's clock (run(clock="fake")'s virtual one); all read it as ``proc.nanotime()``."""
    global nanotime
    nanotime = clock


# checkdead's verdicts, which idle() acts on: go on idling; the program ended;
# grab a P and run (a woken testing.wait()); the fake clock moved, so fire the
# due timers (firetimers), then grab a P; checkdead armed a timer to look again
# (a thread outside the runtime may still call in), so idle again with it in view.
OK = 0
DEAD = 1
ADVANCED = 2
JUMPED = 3
RECHECK = 4


def _nocheckdead(sched: Sched) -> int:
    return OK


def _nofiretimers(sched: Sched) -> None:
    pass


def _nomstarted(m: M) -> None:
    pass


# Hooks into the monitors, which sit above the scheduler and import it: Go
# calls them directly (one package), the way mstart calls ``mp.mstartfn``.
# Each monitor installs its own when it is imported (checkdead.py, sysmon.py);
# the defaults are what a scheduler without that monitor does.
checkdead: Callable[[Sched], int] = _nocheckdead  # checkdead.checkdead
firetimers: Callable[[Sched], None] = _nofiretimers  # synctest.firetimers

tracing = False  # trace.enabled, copied by tracectl: schedule and goready test a global of their own
# Each M, as it starts: per-thread state an upper layer needs on every M, such
# as asyncio's running loop (gosched._aio.loop).
mstarted: Callable[[M], None] = _nomstarted
# m0 leaving the scheduler on run()'s thread, which goes on: undo what mstarted set.
mstopped: Callable[[M], None] = _nomstarted


# --- goroutine creation and readying ------------------------------------------------


def newgoid(sched: Sched, m: M | None) -> int:
    if m is not None:
        if m.goidcache == m.goidcacheend:
            lk = sched.lock
            if not lk.acquire(False):
                lock2(lk)
            m.goidcache = sched.goidgen + 1
            sched.goidgen += GOID_CACHE_BATCH
            m.goidcacheend = sched.goidgen + 1
            lk.release()
        gid = m.goidcache
        m.goidcache += 1
        return gid
    with sched.lock:
        sched.goidgen += 1
        return sched.goidgen


def newproc(
    sched: Sched,
    coro: Coroutine[Any, Any, Any],
    f: FrameType | None,
    m: M | None,
    fn: str = "",
    system: bool = False,
    runnable: bool = True,
) -> G:
    """Create a goroutine and make it runnable (Go's newproc: into runnext).

    ``f`` is the caller's frame (its creation site), ``m`` the calling M or None
    on a thread that is not one. System goroutines (runtime helpers) are not in
    ``allgs``: they are neither counted by num_goroutine nor shown in dumps, as
    in Go. With ``runnable=False`` it is created Gwaiting, for the caller to
    ready (gosched._aio: a task waits for its loop's turn before it first runs).
    """
    if m is not None and m.goidcache != m.goidcacheend:
        gid = m.goidcache
        m.goidcache = gid + 1
    else:
        gid = newgoid(sched, m)
    cur = m.curg if m is not None else None
    gp = G(gid, coro, f, cur.goid if cur is not None else 0)
    if fn:
        gp.pc = fn  # a runtime helper: no creation site, a name (G.startfn)
    if not system:
        sched.allgs[gid] = gp
    if runnable:
        goready(gp, sched, m)
    else:
        gp.status = Gwaiting
    return gp


def goready(gp: G, sched: Sched | None = None, m: M | None = None) -> None:
    """Make a parked goroutine runnable (Go's goready → runqput(next=true) + wakep).

    Callable from a goroutine's frame, from an M's loop (timers), from sysmon or from a
    foreign thread; ``m``, when the caller has it at hand, is the calling M (saves the
    getm() lookup). On an M that holds a P the goroutine goes into the M's ``readyq`` and
    becomes the P's ``runnext`` when the loop next runs; anywhere else on the global queue.
    """
    gp.status = Grunnable
    if gp.trackingstamp:  # sampled for /sched/latencies: runnable from now
        gp.trackingstamp = nanotime()
    if m is None:
        m = getm()
    if tracing:
        _trace.goready(gp, m)
    if m is not None:
        p = m.p
        if p is not None and not m.lostp_since:
            s = m.sched
            rq = m.readyq
            if rq:
                # Only one goroutine waits for runnext; an earlier one goes to the
                # runq tail, as Go's runqput(next=true) kicks the old runnext out.
                try:
                    old = rq.popleft()
                except IndexError:  # sysmon took it
                    pass
                else:
                    if len(p.runq) < RUNQ_SIZE:
                        p.runq.append(old)
                    else:
                        s.runq.append(old)  # globrunqput
            rq.append(gp)
            if s.npidle and not s.nmspinning:
                wakep(s)
            return
        if sched is None:
            sched = m.sched
    elif sched is None:
        sched = current
        if sched is None:
            raise RuntimeError("gosched: no runtime is running")
    sched.runq.append(gp)  # globrunqput
    if sched.npidle and not sched.nmspinning:
        wakep(sched)


def getsched(what: str, ended: bool = False) -> Sched:
    """The run the caller belongs to: its M's, or the running one on a thread that is no M.

    RuntimeError ``<what> needs a running gosched.run()`` if there is none, or
    if it ended (unless ``ended``: reading what a finished run left).
    """
    m = getm()
    s: Sched | None = m.sched if m is not None else current
    if s is None or (s.dead and not ended):
        raise RuntimeError(f"{what} needs a running gosched.run()")
    return s


def throw(msg: str) -> NoReturn:
    """End the run with ``fatal error: msg`` and raise it here (Go's runtime.fatal).

    Recorded before it is raised: catching it cannot keep the program going.
    From a plain thread with no run in progress it is simply raised.
    """
    e = Fatal(msg)
    m = getm()
    sched = m.sched if m is not None else current
    if sched is not None:
        gp = m.curg if m is not None else None
        if gp is not None:
            e.add_note(gnote(gp))
        fatal(sched, e)
    raise e


# --- the scheduler loop -----------------------------------------------------------------


def mstart(m: M) -> None:
    # No pthread_sigmask here: a blocked mask would be inherited by every
    # process a goroutine starts (sigwait.py says why, and how run() still
    # wakes for a signal the kernel hands to an M).
    setm(m)
    m.bindthread()
    sched = m.sched
    if m.nextp is not None:
        p = m.nextp
        m.nextp = None
        acquirep(m, p)
    try:
        mstarted(m)
        if m.mstartfn is not None:  # sysmon's M runs its loop instead (Go: mstart1 → mp.mstartfn)
            m.mstartfn(m)
        else:
            schedule(m)
            af = panic.afterfork
            if af is not None and af[0] is m:  # a child forked from our goroutine
                af[1]()
    except BaseException as e:  # a bug in the runtime itself: never hang silently
        fatal(sched, Fatal(f"runtime: M{m.id}: {e!r}").with_traceback(e.__traceback__))
    finally:
        with sched.lock:
            sched.nmfreed += not m.freed  # mexit counted it already
        setm(None)


mgr.mstart = mstart  # newm starts its thread here

# schedule's common rounds in C (speedups; _speedups_sched.h), reading this module's
# globals as schedule does; None: schedule's own loop runs every round (the definition).
cround: Callable[[M, int], tuple[G | None, int, bool] | None] | None = None
if speedups.c is not None:
    speedups.c.setup_sched(globals())
    cround = speedups.c.cround


def schedule(m: M, nextg: G | None = None) -> None:
    """One round of the scheduler per goroutine switch (Go's schedule → findRunnable → execute).

    The hottest loop of the runtime: the hot steps Go writes as functions are in line
    under Go's names (``python -m bench.instructions``: a call for execute and goexit0
    cost 8 % of a ping-pong, one for findRunnable's fast path 4 %, 26,792 vs 25,665
    instructions); each cold branch is a named function, called only when taken.
    """
    sched = m.sched
    gp: G | None  # and nextg: one to resume at once (a syscall's return, inheritTime; main on m0)
    p: P | None
    rq = m.readyq
    allgs = sched.allgs
    csend, cresume, gctrack = speedups.send, speedups.resume, speedups.gctrack
    tracknext = LATENCY_PERIOD  # a local: this loop is the M's own, and a local costs least
    locked = m.lockedg is not None  # re-read only at a trap after lock/unlock_os_thread
    crounds, bw = cround, m.borrowed  # bw: a borrowed M's lender (mainm); the C rounds stop for its work
    while True:
        if crounds is not None and nextg is None and not locked:  # the common rounds, in C
            r = crounds(m, tracknext)
            if r is None:
                return
            nextg, tracknext, locked = r  # and this loop goes on where the C rounds stopped
        if sched.dead:
            return schedend(sched, m, nextg)
        p = m.p
        if nextg is not None:
            gp, nextg = nextg, None
        elif locked:  # the locked G blocked: sleep until it is runnable (stoplockedm)
            if (gp := stoplockedm(m)) is None:
                return
            p = m.p
        else:
            if bw is not None and bw.pending and mainm.between(m, bw):  # its lender's work; True: leave
                return
            if p is None or p.dying:
                if schedidle(m, p):
                    continue
                return
            if p.timer0when and p.timer0when <= nanotime():
                checktimers(p)
            # findRunnable's fast path: what this M readied (goready's runnext), runnext, the
            # runq; every FAIRNESS_TICK-th round, and its p.globturn, the global runq first.
            fair = (p.schedtick % FAIRNESS_TICK and not p.globturn) or not sched.runq
            gp = None
            if rq:
                if fair and len(rq) == 1 and p.runnext is None:
                    try:
                        gp = rq.popleft()  # as runnext: it inherits the time slice
                    except IndexError:  # sysmon drained it
                        pass
                else:
                    drainreadyq(sched, m, p)
            if gp is None:
                gp = p.runnext
                if gp is not None and fair:
                    p.runnext = None  # inheritTime: runnext shares the waker's slice
                else:
                    gp = None
                    q = p.runq
                    if q and fair:
                        try:
                            gp = q.popleft()
                        except IndexError:  # a thief took it
                            pass
                    if gp is None:
                        gp = findrunnable(m)
                        if gp is None:
                            continue
                        p = m.p  # findrunnable returns a G only with a P
                    p.schedtick += 1  # type: ignore[union-attr]
            if m.spinning:  # resetspinning, wherever gp came from: a flag left set leaks nmspinning
                resetspinning(sched, m)
            # One read of gp.lockedm: m0's endinit may clear it at any moment; bound to this M: run here.
            if (lm := gp.lockedm) is not None and lm is not m and startlockedm(sched, m, gp, lm):
                continue  # lm runs gp; this M stops

        # execute(gp) until it yields a trap. p is not None: only a P holder sets nextg.
        gp.waitsince = 0
        if gp.trackingstamp:  # sampled: record its wait runnable → running (Go's casgstatus)
            mgr.trackrunning(m, gp, nanotime())
        gp.status = Grunning
        gp.m = m
        m.curg = gp
        tok = p.tok  # type: ignore[union-attr]
        tok.append(1)  # publish the P: from here sysmon may take it
        exc = gp.exc
        try:
            if tracing:  # the resume below, recorded (trace.execute)
                tr = _trace.execute(m, gp, p, csend, resumethrow)
            elif exc is not None:
                tr = resumethrow(gp, exc)
            elif cresume is None:
                tr = gp.coro.send(gp.param)
            else:  # the C resume: a return is EXIT or Returned, not StopIteration
                tr = cresume(gp)
        except StopIteration as e:
            tr = _EXIT if e.value is None else Returned(e.value)
        except BaseException as e:
            tr = goexitpanic(sched, gp, e)
        gp.param = None
        tracknext -= 1  # Go's trackingSeq: sample one switch out of running in LATENCY_PERIOD
        if not tracknext:
            tracknext, gp.trackingstamp = LATENCY_PERIOD, -1
        try:
            tok.pop()  # reclaim the P
        except IndexError:
            p = None  # sysmon took it while gp ran
            lostp(sched, m, gp)
        if gp.preempt:  # sysmon's request, or lockosthread's: (un)locked
            locked = preemptdone(m, gp)
        if sched.dead and over(sched):  # the run ended while gp ran (the test before the call: hot path)
            abandon(sched, m, gp, tr)
            return

        # The trap's handling: goexit0 and park_m in line (a call here costs every switch).
        if type(tr) is not tuple:
            if tr is _EXIT or type(tr) is Returned:  # goexit0
                gp.status = Gdead
                m.curg = None
                allgs.pop(gp.goid, None)
                if gctrack is not None:
                    gctrack(gp)
                gp.coro = None  # type: ignore[assignment]
                if (gp is sched.main_g or gp.lockedm is not None) and goexit0rare(sched, m, gp, tr):
                    return
                continue
            nextg = foreignyield(sched, m, gp, p, tr)
        elif tr[0] is PARK:  # park_m: off the CPU, then gopark's unlockf
            gp.status = Gwaiting
            gp.waitreason = tr[2]
            m.curg = None
            ul = tr[1]
            if type(ul) is list:  # a runtime lock (lock.newlock): unlock inline
                ul.append(1)
            elif ul is not None:
                unlockf(ul)
        else:
            nextg = trapdispatch(sched, m, gp, p, tr)


# --- schedule's cold branches: each called only when taken --------------------------------


def schedidle(m: M, p: P | None) -> bool:
    """No P: idle until one comes (False: the run ended). A P that GOMAXPROCS shrank
    away (p.dying): findrunnable retires it."""
    if p is None:
        return idle(m)
    findrunnable(m)
    return True


def preemptdone(m: M, gp: G) -> bool:
    """gp yielded to a preemption request (sysmon's, lock_os_thread's): clear it; True if m is now locked."""
    gp.preempt = False
    preempted.discard(gp)
    return m.lockedg is not None


def goexit0rare(sched: Sched, m: M, gp: G, tr: Any) -> bool:
    """goexit0's rare steps: main's return ends the program; a goroutine that exits
    locked takes its thread with it (True: this M exited)."""
    if gp is sched.main_g:
        mainexit(sched, gp, None if tr is _EXIT else tr.value)
    if gp.lockedm is not None:
        mexit(sched, m)
        return True
    return False


def unlockf(ul: Any) -> None:
    """gopark's unlockf that is not one runtime lock: select's channel locks, or a threading.Lock."""
    if type(ul) is tuple:
        for lk in ul:
            lk.append(1)
    else:
        ul.release()


def trapdispatch(sched: Sched, m: M, gp: G, p: P | None, tr: tuple[Any, ...]) -> G | None:
    """The traps other than PARK (the trap dispatch); returns a G to resume at once, if any."""
    kind = tr[0]  # a TrapKind: its members are singletons, so ``is`` is the cheapest test
    if kind is GOSCHED:  # gosched_m
        m.curg = None
        gp.status = Grunnable
        gp.trackingstamp = gp.trackingstamp and nanotime()  # if sampled: runnable from now
        globrunqput(sched, gp)
    elif kind is SLEEP:
        timesleep(sched, m, gp, tr[1])
    elif kind is SYSCALL:
        return syscall(sched, m, gp, p, tr[1], tr[2])
    else:
        return foreignyield(sched, m, gp, p, tr)
    return None


def timesleep(sched: Sched, m: M, gp: G, ns: int) -> None:
    """The SLEEP trap: park gp with a timer that readies it in ns (Go's timeSleep)."""
    m.curg = None
    gp.status = Gwaiting
    gp.waitreason = waitReasonSleep
    t = _timers.RTimer(_readytimer, gp, nanotime() + ns)
    if addtimerhere(sched, t):
        wakenetpoller(sched, t.when)


def _readytimer(gp: G) -> None:  # Go's goroutineReady: see goreadytail's urgent
    m = getm()
    goreadytail(gp, m.sched if m is not None else current, m, True)  # type: ignore[arg-type]


# A sleeper's wake-up in C where it is built (_speedups_sched.h: these steps in their common
# case, this function for the others): an idle program runs it at every wake, cold.
pyreadytimer = _readytimer
if speedups.c is not None:
    _readytimer = speedups.c.readytimer


def mainexit(sched: Sched, gp: G, ret: Any) -> None:
    """The main goroutine returned: the program ends with its result (Go's main → exit)."""
    with sched.lock:
        if gp.exc is None and not sched.main_goexited:
            sched.result = ret
            finish_locked(sched)


# --- findRunnable ------------------------------------------------------------------------



def findrunnable(m: M) -> G | None:
    """Find a goroutine to run, blocking until one exists (Go's findRunnable).

    Returns None when the M lost its P or the program ended; the caller loops.
    Phases, as Go's: timers; the global queue's fair turn; the local queue; the
    global queue; a non-blocking netpoll; stealing (spinning); then drop the P
    and go idle (block in netpoll, or stopm).
    """
    sched = m.sched
    while True:
        p = m.p
        if p is None or sched.dead:
            return None
        if p.timer0when and p.timer0when <= nanotime():
            checktimers(p)
        if m.readyq:
            drainreadyq(sched, m, p)
        if p.dying:  # pdestroy hands its queues to the global queue
            with sched.lock:
                releasep(m)
                pidleput(sched, p)
            if m.spinning:  # procresize marked a spinning M's P: idle, and no longer spinning
                resetspinning(sched, m)
            return None
        # Each step's test in line: an idle program passes here before every sleep,
        # and idle CPU is what the calls it makes cost (cold, after a long sleep).
        gp = globrunqturn(sched, p) if sched.runq else None
        if gp is None and (p.runnext is not None or p.runq):
            gp = runqget(p)
        if gp is None and sched.runq:
            gp = globrunqget(sched, p, 0)
        if gp is None and sched.lastpoll and (poller := sched.poller) is not None and poller.waiting:
            gp = netpollnow(sched)
        if gp is not None:
            return gp
        # Spin: steal from other Ps, bounded to half the busy Ps (Go's rule). With one P
        # there is no victim: Go spins anyway, for nothing; a spin costs two lock rounds here.
        if m.spinning or (sched.gomaxprocs > 1 and 2 * sched.nmspinning < sched.gomaxprocs - sched.npidle):
            if not m.spinning:
                with sched.lock:
                    sched.nmspinning += 1
                m.spinning = True
            gp = stealwork(m, p)
            if gp is not None:
                return gp
            if m.readyq:  # a thief ran another P's timers
                drainreadyq(sched, m, p)  # into runnext, else the loop spins forever
                continue
        # Nothing to do: drop the P, unless work reached the global queue meanwhile.
        with sched.lock:
            if sched.dead:
                return None
            if sched.runq:
                continue
            releasep(m)
            pidleput(sched, p)
        if m.spinning and stopspinning(m):
            continue
        if not idle(m):
            return None
        # idle() returned with a P (woken by startm or after polling).


def globrunqturn(sched: Sched, p: P) -> G | None:
    """The global queue's fair turn: one goroutine from it, every FAIRNESS_TICK-th tick.

    Go takes one goroutine here, a share sized for a global queue of a few: local work
    that never runs out (goroutines readied by this P's timers, runnext hand-offs) gets
    60 of every 61 ticks, and a goroutine behind a queue of Q waits ~61*Q ticks -- minutes
    at Python's switch rate for Q in the thousands (issue 14). gosched takes the P's share
    of the queue instead (Q/gomaxprocs, at most 60), one per tick: Go's rule exactly for a
    queue shorter than 2*gomaxprocs, 60 of 61 ticks for a long one (61 starved the local
    queue: issue 17), so its wait is ~Q/gomaxprocs ticks.
    """
    if not sched.runq or not (p.globturn or p.schedtick % FAIRNESS_TICK == 0):
        return None
    if p.globturn:
        p.globturn -= 1
    else:
        p.globturn = max(min(len(sched.runq) // sched.gomaxprocs, FAIRNESS_TICK - 1) - 1, 0)
    return globrunqget(sched, p, 1)


def checktimers(p: P) -> None:
    """Run p's due timers (Go's checkTimers). Each caller tests ``p.timer0when <= nanotime()``
    in line first: a P with timers has one due in few rounds, and the call costs more than the test."""
    _timers.runtimers(p, nanotime())


def netpollnow(sched: Sched) -> G | None:
    """findRunnable's non-blocking netpoll: run the first goroutine it readied, inject the rest.

    The caller saw a poller with waiters and nobody blocked in it (its test is in line).
    """
    poller = sched.poller
    assert poller is not None
    gs = poller.netpoll(0)
    if not gs:
        return None
    injectglist(sched, gs[1:])
    gs[0].status = Grunnable
    poller.addwaiter(-len(gs))  # queued, or about to run on this active M (Poller.netpoll)
    return gs[0]


def stopspinning(m: M) -> bool:
    """An M without a P stops spinning, then re-checks every queue (findRunnable's "delicate dance").

    A submitter that saw nmspinning > 0 woke nobody, so the work it queued is
    this M's to find. True if the M took an idle P back to look again.
    """
    sched = m.sched
    m.spinning = False
    with sched.lock:
        sched.nmspinning -= 1
    if not (sched.runq or any(q.runq for q in sched.allp)):
        return False
    with sched.lock:
        p2 = pidleget(sched)
        if p2 is None:
            return False
        acquirep(m, p2)
        m.spinning = True
        sched.nmspinning += 1
    return True


def stealwork(m: M, p: P) -> G | None:
    """Try to steal from other Ps, four passes in a random coprime order."""
    allp = m.sched.allp
    n = len(allp)
    if n <= 1:
        return None
    now = 0
    for i in range(STEAL_TRIES):
        last = i == STEAL_TRIES - 1
        pos = random.randrange(n)
        inc = _coprimes(n)[random.randrange(len(_coprimes(n)))]
        for _ in range(n):
            victim = allp[pos]
            pos = (pos + inc) % n
            if victim is p:
                continue
            if last and victim.timer0when:
                if not now:
                    now = nanotime()
                if victim.timer0when <= now:
                    _timers.runtimers(victim, now, blocking=False)
                    if m.readyq:
                        return None
            gp = runqsteal(p, victim)
            if gp is not None:
                return gp
    return None


def idle(m: M) -> bool:
    """The M has no P and found no work: block in netpoll, or park (the end of Go's findRunnable);
    True once it holds a P again, False if the program ended (a borrowed M's: mainm.idle). Going
    inactive (claiming the poller, or joining the idle list) and asking "was I the last active M?"
    happen under one ``sched.lock``, so of two Ms going idle at once exactly one sees itself last
    and runs checkdead (Go runs checkdead from mput, under the same lock, for the same reason)."""
    if m.spinning:  # its nmspinning would stop every wakep for good: a silent hang (Go throws too)
        throw("stopm spinning")
    if m.borrowed is not None:
        return mainm.idle(m)
    sched = m.sched
    maypoll = True
    while True:
        with sched.lock:
            # Read under the lock that claims the poller: a timer added after an earlier read,
            # by an M that then went idle before this one claimed it, was never waited for
            # (that M, seeing nobody polling, broke no poll).
            polluntil = _timers.timesleepuntil(sched)
            if sched.dead:
                return False
            if sched.runq and sched.pidle:  # work arrived while we gave up our P
                acquirep(m, pidleget(sched))  # type: ignore[arg-type]
                return True
            polling = goinactive(m, polluntil, maypoll)
            # checkdead's answer is "go on" while this M polls for I/O or a timer that readies
            # a goroutine: as Go, which never calls it on the way into netpoll, do not ask
            # (an idle program comes here before every sleep, and the call cost a fifth of it).
            last = activems(sched) == 0 and not (
                polling
                and (sched.poller.waiting or _timers.timerwakes(sched, nanotime()))  # type: ignore[union-attr]
            )
        if last:
            act = checkdead(sched)
            if act == DEAD:
                return False
            if act == ADVANCED or act == JUMPED or act == RECHECK:  # go run what was readied
                resumed, p2 = reactivate(m, polling)
                if act == JUMPED:
                    # Active again (or chosen by startm): fire the timers the clock
                    # jump made due, so no M going idle meanwhile sees one in flight.
                    firetimers(sched)
                if resumed:
                    if p2 is not None:
                        acquirep(m, p2)
                        return True
                    continue
                # else startm already chose us: stopm below returns at once
        if not polling:
            if polluntil:  # Go, before stopm: the poller may have read its sleep before our timer
                breakpoller(sched, polluntil)
            return stopm(m)
        got = idlepoll(m, polluntil)
        if got is not None:
            return got
        # No idle P: stop, as Go does. Polling again spins while a due timer waits on
        # a P handed to an M still starting, holding the GIL from that M.
        maypoll = False


def goinactive(m: M, polluntil: int, maypoll: bool) -> bool:
    """Claim the poller (True: this M blocks in netpoll) or join the idle Ms (mput); sched.lock held.

    An M told not to poll (``maypoll``: it just polled and found no idle P) polls anyway
    when it is the last active M: no other M would then fire the timer it saw or read
    the I/O. It stopped, and a timer on the idle P never fired (a loop's
    ``asyncio.sleep(0.001)`` hung until forcegc's 2-minute wake-up: the other active M
    was the borrowed main thread, which never polls, going idle a moment before).
    """
    sched = m.sched
    poller = sched.poller
    if (
        poller is not None
        and (poller.waiting or polluntil)
        and sched.lastpoll != 0
        and (maypoll or activems(sched) <= 1)  # this M, not yet on the idle list, is the 1
    ):
        sched.lastpoll = 0
        sched.polluntil = polluntil
        return True
    mput(sched, m)
    return False


def reactivate(m: M, polling: bool) -> tuple[bool, P | None]:
    """Undo goinactive once checkdead readied work: (active again, an idle P or None).

    Not active again if startm took this M off the idle list meanwhile: it
    hands the M a P, and stopm returns at once.
    """
    sched = m.sched
    with sched.lock:
        if polling:
            sched.lastpoll = nanotime() or 1
            sched.polluntil = 0
        elif m in sched.midle:
            sched.midle.remove(m)
            sched.nmidle -= 1
        else:
            return False, None
        return True, pidleget(sched)


def idlepoll(m: M, polluntil: int) -> bool | None:
    """Block in netpoll until I/O or the next timer (findRunnable's blocking netpoll).

    True: the M holds a P, with what the poll readied queued on it; False: the
    program ended; None: no idle P (what was readied went global): idle again.
    """
    sched = m.sched
    poller = sched.poller
    assert poller is not None
    if sched.faketime or not polluntil:
        delay = -1  # virtual timers are not wall time: wait for I/O or a break
    else:
        delay = max(0, polluntil - nanotime())
    m.blocked = True
    t0 = _trace.now() if _trace.enabled else 0.0
    gs = poller.netpoll(delay)
    m.blocked = False
    if _trace.enabled:
        _trace.mpark(m, t0, True)
    with sched.lock:
        sched.lastpoll = nanotime() or 1
        sched.polluntil = 0
        p2 = pidleget(sched) if not sched.dead else None
    if sched.dead:
        return False
    if p2 is None:
        injectglist(sched, gs)
        poller.addwaiter(-len(gs))  # only once they are queued (Poller.netpoll)
        return None
    acquirep(m, p2)
    if gs:
        # Keep what fits in the local queue; the rest goes global and to idle Ps
        # (Go's injectglist).
        room = max(0, RUNQ_SIZE - len(p2.runq))
        for gp in gs[:room]:
            gp.status = Grunnable
        p2.runq.extend(gs[:room])
        injectglist(sched, gs[room:])
        poller.addwaiter(-len(gs))
        if len(gs) > 1 and sched.npidle and not sched.nmspinning:
            wakep(sched)
    return True


# --- GOMAXPROCS ------------------------------------------------------------------------
