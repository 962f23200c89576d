"""sysmon: the monitor thread (Go's proc.go: sysmon, retake, preemptone).

sysmon runs on its own M with no P for the life of ``run()``. Each tick it
polls the network if nobody has for 10 ms, starts an M for overdue timers,
retakes Ps, forces a GC every ``forcegcperiod`` and prints schedtrace lines.

Where Python cannot do what Go does, sysmon reaches Go's guarantee another way
(docs/sysmon.md maps every Go function to its counterpart here):

* Go preempts a running goroutine asynchronously (SIGURG). Python cannot stop
  a frame from outside, so a goroutine that ignores ``g.preempt`` for
  ``preemptGraceNS`` after being asked -- a CPU loop, or a blocking call it did
  not wrap in ``gosched.syscall`` -- loses its P exactly as a goroutine in a
  syscall does: sysmon pops the P's token and hands the P to another M. The
  stuck M keeps running the goroutine without a P and takes the exitsyscall
  slow path when it next reaches the scheduler.
* After a preemption request sysmon wakes when the grace period ends (and every
  ``preemptProbeNS`` before, to spot a blocking call), not a backed-off tick
  later, so the handoff follows the grace closely: Go's async preemption is
  immediate, and the ticker-gap bound (30 ms) depends on this. As in Go, a
  request does not reset the backed-off delay: a request the goroutine honours
  at once costs sysmon no more ticks.
"""

from __future__ import annotations

import math
import sys
import threading
import time
from collections.abc import Callable

from . import blame, mgr, proc, runq, schedtrace, syscall, trace
from . import gc as _gc
from . import timers as _timers
from .note import newnote
from .runtime2 import G, Gsyscall, M, P, Prunning, Sched, SysmonTick
from .traps import preempted

# Constants named as in Go (proc.go). They are module variables so tests and
# gosched.debug can change them, as Go's forcegcperiod is a var "for testing".
forcePreemptNS = 10_000_000  # a goroutine's time slice before preemptone
preemptGraceNS = 1_000_000  # how long a preempted goroutine may ignore the request (gosched only)
# A goroutine asked to yield whose thread then sits this long idle, not waiting for a CPU,
# is in a blocking call that cannot honour the request: its P is handed off without the
# rest of the grace, as a syscall's would be (gosched; blockedcall). 0 disables it.
preemptProbeNS = 200_000
syscallRetakeNS = 10_000_000  # retake an idle-ish syscall P after this anyway (retake's 10ms)
netpollStaleNS = 10_000_000  # poll the network if nobody has for this long
forcegcperiod = 120 * 1_000_000_000  # force a GC this often (Go's forcegcperiod)
maxdelayUS = 10_000  # sysmon's longest sleep between ticks
mindelayUS = 20  # and its shortest ("start with 20us sleep")
syscallWakeSlackNS = 100_000  # a syscall wakes sysmon if it would sleep this much past the P's need (gosched)
idleBackoff = 50  # idle cycles before the sleep starts doubling

maxmcount = 10000  # the M limit a new run() starts with (debug.set_max_threads)

# A CPU-bound goroutine holds the GIL for up to sys.getswitchinterval() (5 ms) each
# time another thread wants it: sysmon looking at its expiring slice, sysmon again
# after the request, then the M that got the P. sysmon lowers the switch interval to
# this while any P runs a slice it watches (boostSlices; a P going busy while sysmon
# sleeps deeply boosts at once, runq.onbusy) and while a preempted goroutine ignores
# the request or its P is retaken; it restores the old value when every P is idle and
# nothing is stuck (docs/sysmon.md, "The GIL": measured). None disables the boost.
boostSwitchInterval: float | None = 0.001
boostSlices = True  # False: boost only from the request on, as before session 9
_boosted: float | None = None  # the interval to restore, while boosted
_boostlock = threading.Lock()  # _boost/unboost: sysmon's thread and pidleget's (onbusy)

# The partial-deadlock check (leaks.py installs it; debug.set_deadlock_check sets the
# period, in ns): off at 0, so it costs sysmon one global read per tick.
deadlockperiod = 0


def _nodeadlockcheck(sched: Sched) -> None:
    pass


deadlockcheck: Callable[[Sched], None] = _nodeadlockcheck

# Why the last deep sleep ended early: True when a syscall path woke sysmon (Go
# resets the delay to 20 us then), False for a P leaving the idle list.
_wakereset = False


def start(sched: Sched) -> M:
    """Start sysmon on its own M with no P (Go: newm(sysmon, nil))."""
    schedtrace.reset_clock()
    with sched.lock:
        sched.maxmcount = maxmcount
        sched.sysmonnote = newnote()  # closed as sysmon ends (sysmon)
        m = mgr.allocm(sched)
        m.mstartfn = sysmon
        sched.nmsys += 1
        sched.sysmon_m = m
    _gc.start_helper(sched)
    mgr.newm(m, name="gosched-sysmon")
    return m


def set_deadlock_period(ns: int) -> int:
    """Set how often sysmon looks for partial deadlocks (0: never; leaks.py); return the old, in ns."""
    global deadlockperiod
    old = deadlockperiod
    deadlockperiod = ns
    return old


def set_gc_period(ns: int) -> int:
    """Set forcegcperiod (gosched.debug.set_gc_period); return the old one, in ns."""
    global forcegcperiod
    old = forcegcperiod
    forcegcperiod = ns
    return old


def set_max_threads(n: int) -> int:
    """debug.SetMaxThreads: set the M limit; exceeding it now is fatal, as in Go."""
    global maxmcount
    old = maxmcount
    maxmcount = n
    sched = proc.current
    if sched is not None and not sched.dead:
        with sched.lock:
            old = sched.maxmcount
            sched.maxmcount = n
            mgr.checkmcount(sched)  # raises Fatal (thread exhaustion) past the limit
    return old


def wake(sched: Sched) -> None:
    """Wake sysmon from its sleep for a syscall (entersyscall/exitsyscall's wakeup).

    The delay resets to 20 us so the syscall's P is retaken within tens of us.
    Both sleeps end: the deep one (Go's sysmonwait) and, unlike Go, the ordinary
    one between ticks (up to maxdelayUS), which syscall ends when its P has work
    due before the nap would (``needed``).
    """
    global _wakereset
    with sched.lock:
        if sched.sysmonwait:
            sched.sysmonwait = False
            _wakereset = True
            sched.sysmonnote.wakeup()
        elif sched.sysmonwhen:
            sched.sysmonwhen = 0
            _wakereset = True
            sched.sysmonnap.release()


def needed(sched: Sched, p: P, m: M, now: int) -> int:
    """When a P entering a syscall needs sysmon (monotonic ns; 0: it does not).

    At once if goroutines wait in its run queue or its M's readyq (Go's entersyscallblock hands
    such a P off at once; here sysmon retakes it one tick, 20 us, later, so a
    syscall shorter than that keeps its P); at its first timer otherwise.
    Timers under synctest's fake clock are not wall time: not those.
    """
    if p.runq or p.runnext is not None or m.readyq:
        return now
    w = p.timer0when
    if w and not sched.faketime:
        return w if w > now else now
    return 0


def wakefor(sched: Sched, p: P, m: M) -> None:
    """A goroutine enters a syscall on ``p``: wake sysmon if it naps past when ``p`` needs it."""
    when = sched.sysmonwhen
    if when:
        need = needed(sched, p, m, time.monotonic_ns())
        if need and need + syscallWakeSlackNS < when:
            wake(sched)


def _nap(sched: Sched, us: int) -> bool:
    """Sleep ``us`` between ticks, or until a syscall wakes us; True if one did.

    A nap under a millisecond ends soon anyway: a plain sleep, no lock traffic.
    """
    global _wakereset
    if us < 1000:
        time.sleep(us / 1e6)
        return False
    ns = us * 1000
    with sched.lock:
        sched.sysmonwhen = time.monotonic_ns() + ns
    got = sched.sysmonnap.acquire(timeout=ns / 1e9)
    with sched.lock:
        if not got and not sched.sysmonwhen:
            sched.sysmonnap.acquire()  # a waker released it after our timeout (noteclear)
            got = True
        sched.sysmonwhen = 0
        reset = got and _wakereset
        _wakereset = False
    return reset


def _notetsleep(sched: Sched) -> bool:
    """Deep sleep until the armed deadline (others may move it: note.py) or until
    woken; True if a syscall path woke us."""
    global _wakereset
    got = sched.sysmonnote.sleep()
    with sched.lock:
        if not got and not sched.sysmonwait:
            # A waker sent a wakeup after our timeout: consume it (noteclear).
            sched.sysmonnote.consume()
            got = True
        sched.sysmonwait = False
        reset = got and _wakereset
        _wakereset = False
    return reset


def sysmon(m: M) -> None:
    """The monitor loop. Runs in place of a scheduler loop on the sysmon M."""
    sched = m.sched
    idle = 0
    delay = 0
    lasttrace = 0
    lastcheck = 0
    deadline = 0  # when the oldest running slice reaches forcePreemptNS, or a syscall's P needs us
    rested = False  # the last tick followed a deep sleep that ran its course
    while not sched.dead:
        if idle == 0:
            delay = mindelayUS
        elif idle > idleBackoff:
            delay *= 2
        if delay > maxdelayUS:
            delay = maxdelayUS
        us = delay
        if deadline:
            # Wake when a slice expires rather than up to a backed-off tick later
            # (gosched: Go's slice is 10-20 ms; this makes it 10 ms + sighting lag).
            due = (deadline - time.monotonic_ns()) // 1000 + 1
            if due < us:
                us = max(due, mindelayUS)
        # After a deep sleep's tick with every P still idle, straight back to sleep:
        # a nap first only woke this thread once more per timer (gosched).
        if not (rested and sched.npidle == sched.gomaxprocs) and _nap(sched, us):
            idle = 0
            delay = mindelayUS
        rested = False
        if sched.dead:
            break
        if schedtrace.settings.schedtrace <= 0 and sched.npidle == sched.gomaxprocs:
            # Every P idle: sleep until the next timer (at most forcegcperiod/2);
            # a syscall or a P leaving the idle list wakes us (Go: sysmonwait).
            now = proc.nanotime()
            # Not while a goroutine stuck in user code holds an M: its blocking
            # report is due at blame.reportThresholdNS, and sweep publishes it.
            stuck = any(m2.lostp_since and not m2.lostp_syscall for m2 in sched.allm)
            with sched.lock:
                deep = sched.npidle == sched.gomaxprocs and not sched.dead and not stuck
                ns = 0
                if deep:
                    ns = deepsleep(sched, now)
                    wnow = time.monotonic_ns()
                    # The latest a moved deadline may be pushed out to (runq.sysmonrest): a
                    # fixed instant, so that timers in a row cannot keep sysmon from its own
                    # periodic work (the partial-deadlock check, forcegc).
                    duty = wnow + forcegcperiod // 2
                    if deadlockperiod:
                        duty = min(duty, max(lastcheck + deadlockperiod, wnow + mindelayUS * 1000))
                        ns = min(ns, duty - wnow)
                    deep = ns > 0
                    sched.sysmonwait = deep
                    sched.sysmondeadline = wnow + ns
                    if deep:
                        sched.sysmonnote.arm(sched.sysmondeadline)  # under the lock: note.py
                    sched.sysmonwatch = forcePreemptNS
                    sched.sysmonidle = duty
            if deep:
                if _notetsleep(sched):
                    idle = 0
                    delay = mindelayUS
                else:
                    rested = True
        if sched.dead:
            break
        rnow = time.monotonic_ns()
        netpollcheck(sched, rnow)
        if sched.npidle and overdue(sched, proc.nanotime()):
            # An overdue timer on a busy P (a long goroutine or a syscall): start
            # an M; its findrunnable steals and runs that P's timers.
            mgr.startm(sched, None, False)
        n, deadline = retake(sched, rnow)
        if n:
            # Go counts only retakes. A preemption request's grace is in ``deadline``:
            # resetting the delay for it cost ~60 ticks at 20 us, each one taking the
            # GIL from a busy M, after every request, honoured or not (issue 12).
            idle = 0
        else:
            idle += 1
        sweep(sched, boostSlices and deadline != 0)
        forcegc(sched, rnow)
        if deadlockperiod and lastcheck + deadlockperiod <= rnow:
            lastcheck = rnow
            deadlockcheck(sched)
        st = schedtrace.settings
        if st.schedtrace > 0 and lasttrace + st.schedtrace * 1_000_000 <= rnow:
            lasttrace = rnow
            schedtrace.schedtrace(sched, st.scheddetail > 0)
    unboost()
    with sched.lock:  # no waker touches the note once sysmonwait is False under the lock
        sched.sysmonwait = False
        sched.sysmonnote.close()


def deepsleep(sched: Sched, now: int) -> int:
    """How long sysmon sleeps with every P idle (sched.lock held): until the next timer
    (Go's timeSleepUntil), at most forcegcperiod/2.

    gosched: a timer the M blocked in netpoll wakes for itself (``polluntil``) is
    not sysmon's to wake for: sysmon sleeps forcePreemptNS past it, so that M's
    pidleget, nearer than that to the end, need not wake it (runq.pidleget); at
    most forcePreemptNS then passes before sysmon watches the P, and retake dates
    the P's first slice from pidleget's stamp. Two threads woke per timer before.
    """
    nxt = _timers.timesleepuntil(sched)
    ns = forcegcperiod // 2
    if nxt and not sched.faketime and nxt - now < ns:  # virtual timers are not wall time: no bound then
        ns = nxt - now
        if sched.lastpoll == 0 and 0 < sched.polluntil <= nxt:
            ns += forcePreemptNS
        elif ns <= 0:
            # Due, but an idle P's: the M in netpoll is waking for it and its
            # pidleget wakes us. Spinning at 20 us until then only kept that M
            # from the GIL (50 ticks per expiry under load).
            ns = maxdelayUS * 1000
    return ns


def overdue(sched: Sched, now: int) -> bool:
    """Whether a timer is past due that no M will run (sysmon starts an M to steal it): on a
    P held by an M (a long goroutine or a syscall), or on an idle P overdue by forcePreemptNS
    while no M blocks in netpoll (Go's sysmon looks at every P's timers).

    An idle P's timer is otherwise not sysmon's: the M blocked in netpoll (findrunnable's
    last phase) wakes for it itself, and an M started for it as well only wakes to find the
    timer gone (it woke sysmon, a new thread and the poller each time one fired). But an M
    whose poll ended with no idle P to take stops without polling again while another M is
    active, and the P it waited for can go idle with the timer still on it; if the active M
    never runs out of work, nothing else ever steals that timer.
    """
    polling = sched.lastpoll == 0
    for p in list(sched.allp):
        w = p.timer0when
        if w and w < now and (p.status == Prunning or (not polling and w + forcePreemptNS < now)):
            return True
    return False


def netpollcheck(sched: Sched, rnow: int) -> None:
    """Poll the network if nobody has for 10 ms and inject what is ready."""
    poller = sched.poller
    if poller is None or not poller.nwaiters:
        return  # Go: netpollinited()
    lastpoll = sched.lastpoll
    if lastpoll == 0 or lastpoll + netpollStaleNS >= rnow:
        return
    with sched.lock:  # the CAS on sched.lastpoll
        if sched.lastpoll != lastpoll:
            return
        sched.lastpoll = rnow
    gs = poller.netpoll(0)
    mgr.injectglist(sched, gs)
    poller.addwaiter(-len(gs))  # only once they are queued (Poller.netpoll)


def _noretaken(sched: Sched, m: M, gp: G) -> None:
    pass


# A goroutine whose P retake just handed away (stuck in a blocking call or a CPU
# loop): gosched._aio lets the other tasks of its asyncio loop run meanwhile.
retaken: Callable[[Sched, M, G], None] = _noretaken


def earlier(deadline: int, w: int) -> int:
    """The earlier of two look-again times, where 0 means none yet."""
    return w if deadline == 0 or w < deadline else deadline


def retake(sched: Sched, now: int) -> tuple[int, int]:
    """Preempt long-running goroutines and take Ps from stuck Ms (Go's retake).

    Returns the number of Ps taken and the earliest time sysmon must look again
    (0 if none): a running slice will have lasted forcePreemptNS, a P first seen
    in a syscall has work due, or a request's grace ends (``graceprobe``).
    """
    n = 0
    deadline = 0
    for p in list(sched.allp):
        if p.status != Prunning:
            continue
        m = p.m
        if m is None:
            continue
        gp = m.curg
        pd = p.sysmontick
        sysretake = False
        t = p.schedtick
        if pd.schedtick != t:
            pd.schedtick = t
            pd.schedwhen = now
            pd.preemptwhen = 0
            pd.preemptg = None
            # First sighting of a P that went busy while we slept (pidleget stamped it; pidleput
            # clears the stamp when the P idles): whatever runs now began no earlier than the
            # stamp, and dating it from there keeps the ~10 ms bound even when a short slice
            # ran first (dated from this sighting instead, a hog after it ran ~20 ms). Early
            # at worst, and a request is only a yield at the goroutine's next trap. (We wake
            # within forcePreemptNS of a stamp; later only if a goroutine kept the GIL.)
            if 0 < now - pd.busywhen <= 2 * forcePreemptNS:
                pd.schedwhen = pd.busywhen
            pd.busywhen = 0
        if gp is None:
            continue
        if pd.schedwhen + forcePreemptNS > now:
            deadline = earlier(deadline, pd.schedwhen + forcePreemptNS)
        else:
            # Ask again if the goroutine honoured an earlier request within this
            # slice (runnext inherits the slice, so schedtick did not move).
            if pd.preemptg is not gp or not gp.preempt:
                sched.npreempt += 1  # sysmon's own counters: only this thread writes them
                preemptone(p, m, gp)
                pd.preemptwhen = now
                pd.preemptg = gp
                pd.preemptcpu = blame.threadcpu(m) if preemptProbeNS else math.nan
                if gp.status != Gsyscall:
                    _boost()
                deadline = earlier(deadline, graceprobe(pd, now))
            sysretake = True
        if gp.status == Gsyscall:
            st = p.syscalltick
            if not sysretake and pd.syscalltick != st:
                pd.syscalltick = st  # first sighting of this syscall
                pd.syscallwhen = now
                # Come back for it when its P has work due (gosched: Go waits for a backed-off tick).
                w = needed(sched, p, m, now)
                if w:
                    deadline = earlier(deadline, max(w, now + mindelayUS * 1000))
                continue
            if (
                not p.runq
                and p.runnext is None
                and sched.nmspinning + sched.npidle > 0
                and pd.syscallwhen + syscallRetakeNS > now
            ):
                continue  # nothing queued and someone else can take new work
            owner = takep(sched, p, m, now, True)
            if owner is not None:
                n += 1
                if trace.enabled:
                    traceretake(p, owner, True)
                sched.nretake += 1
                mgr.handoffp(sched, p)
        elif pd.preemptg is gp and gp.preempt:
            if pd.preemptwhen + preemptGraceNS > now and not blockedcall(m, pd, now):
                deadline = earlier(deadline, graceprobe(pd, now))
                continue
            # The goroutine was asked to yield and has not reached a runtime call
            # since: it is in a CPU loop or an unwrapped blocking call.
            owner = takep(sched, p, m, now, False)
            if owner is not None:
                n += 1
                sched.nhandoff += 1
                stuck = owner.curg
                if stuck is not None:
                    blame.report(owner, stuck, now - pd.schedwhen)
                    retaken(sched, owner, stuck)
                if trace.enabled:
                    traceretake(p, owner, False)
                mgr.handoffp(sched, p)
    return n, deadline


def graceprobe(pd: SysmonTick, now: int) -> int:
    """When sysmon looks again at a goroutine asked to yield at ``pd.preemptwhen``: when its
    grace ends, or sooner, every preemptProbeNS, to spot a blocking call (blockedcall)."""
    w = pd.preemptwhen + preemptGraceNS
    return min(w, now + preemptProbeNS) if preemptProbeNS else w


def blockedcall(m: M, pd: SysmonTick, now: int) -> bool:
    """Whether the goroutine asked to yield on ``m`` is in a blocking call (gosched).

    Its thread used under an eighth of the time since the request and is not
    waiting for a CPU (Linux: not in state R): a blocked call, or a wait for the
    GIL, neither of which reaches the goroutine's next runtime call before the
    grace ends. A CPU loop's thread is busy; a thread the kernel did not run
    (a loaded machine) is runnable: both keep the whole grace.
    """
    waited = now - pd.preemptwhen
    if not preemptProbeNS or waited < preemptProbeNS:
        return False
    used = blame.threadcpu(m) - pd.preemptcpu  # seconds; nan where the OS cannot say
    if not used < waited / 8e9:
        return False
    t = m.thread
    tid = t.native_id if t is not None else None
    if tid is None:
        return False
    try:
        with open(f"/proc/self/task/{tid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return True  # no /proc: the CPU clock alone says it
    state = stat.rfind(b")") + 2  # after "pid (comm) "
    return stat[state : state + 1] != b"R"


def traceretake(p: P, owner: M, insyscall: bool) -> None:
    """Record a retake (Go's ProcSteal) and the handoff that follows, naming the stuck call site."""
    gp = owner.curg
    trace.retake(p, owner, gp, blame.site(owner.ident) if gp is not None else None, insyscall)
    trace.handoff(p)


def preemptone(p: P, m: M, gp: G) -> None:
    """Ask the goroutine running on ``p`` to yield at its next runtime call.

    Go sets ``gp.preempt`` and poisons ``stackguard0`` so the next function
    prologue enters the scheduler; here every trap and cheap runtime call
    checks ``preempted`` (one truthiness test) and then ``g.preempt``.
    """
    gp.preempt = True
    preempted.add(gp)
    if trace.enabled:
        trace.preempt(p, gp)
    # Goroutines it readied cannot run on this P until it yields: let others have them.
    moved = runq.takereadyq(m)
    if moved:
        mgr.injectglist(m.sched, moved)


def takep(sched: Sched, p: P, m: M, now: int, insyscall: bool) -> M | None:
    """Take ``p`` from the M running user code on it (the CAS in retake).

    Popping ``p.tok`` is the whole handshake: if the M's loop pops first it
    keeps the P; if we do, its next pop fails and it runs ``syscall.lostp``. Only
    that M writes ``m.p``; we write ``p.m`` (we own the P now). Returns the M
    the P was taken from, or None.
    """
    # Mark the M before the pop, so that if its goroutine returns at once the
    # M's lostp sees the mark; undone below if the pop fails.
    m.lostp_syscall = insyscall
    m.lostp_since = now
    try:
        p.tok.pop()
    except IndexError:
        m.lostp_since = 0  # the M is in its own loop: it owns the P right now
        return None
    owner = p.m  # stable: only the owner of the token changes p.m
    if owner is not m:
        # The P changed hands between our reads and the pop (rare).
        m.lostp_since = 0
        if owner is None:
            owner = m
        else:
            owner.lostp_syscall = insyscall
            owner.lostp_since = now
    p.m = None
    p.syscalltick += 1
    moved = runq.takereadyq(owner)
    if moved:
        mgr.injectglist(sched, moved)
    return owner


def _boost() -> None:
    global _boosted
    if _boosted is not None or boostSwitchInterval is None:
        return
    with _boostlock:
        if _boosted is None:
            cur = sys.getswitchinterval()
            if cur > boostSwitchInterval:
                _boosted = cur
                sys.setswitchinterval(boostSwitchInterval)


def onbusy() -> None:
    """``runq.onbusy``: a P goes busy while sysmon sleeps deeply; boost for its slice."""
    if boostSlices:
        _boost()


def unboost() -> None:
    """Restore the switch interval, unless someone else changed it meanwhile."""
    global _boosted
    if _boosted is None:
        return
    with _boostlock:
        old = _boosted
        if old is not None:
            _boosted = None
            if boostSwitchInterval is not None and abs(sys.getswitchinterval() - boostSwitchInterval) < 1e-9:
                sys.setswitchinterval(old)


def sweep(sched: Sched, running: bool = False) -> None:
    """Catch up with races around takep and idle Ps that still hold work.

    ``running``: a slice is running that sysmon watches (boostSlices keeps the boost).
    """
    stuck = False
    now = time.monotonic_ns()
    for m in list(sched.allm):
        since = m.lostp_since
        if since:
            if not m.lostp_syscall:
                stuck = True
                blame.check(m, m.curg, now - since)
            if m.readyq:
                mgr.injectglist(sched, runq.takereadyq(m))
    if running:
        _boost()
    elif _boosted is not None and not stuck:
        # Keep the boost while a request is outstanding on some P.
        for p in list(sched.allp):
            g = p.sysmontick.preemptg
            if g is not None and g.preempt and p.m is not None and p.m.curg is g:
                stuck = True
                break
        if not stuck:
            unboost()
    if sched.npidle and not sched.nmspinning:
        for p in list(sched.pidle):
            if p.runq or p.runnext is not None:
                mgr.wakep(sched)
                break


def lostp_returned(sched: Sched, m: M, gp: G) -> None:
    """The M whose P was taken got back to the scheduler (exitsyscall's slow path)."""
    since = m.lostp_since
    m.lostp_since = 0
    if since and not m.lostp_syscall:
        blame.finish(m, gp, time.monotonic_ns() - since)


# proc calls these through its hooks (proc is below this module; Go calls them directly).
syscall.lostp_returned = lostp_returned
syscall.wakesysmon = wake
syscall.wakesysmonfor = wakefor
runq.onbusy = onbusy


def forcegc(sched: Sched, rnow: int) -> None:
    """Inject the forcegc helper if no collection ran for forcegcperiod (Go's gcTrigger test)."""
    if not sched.lastgc:
        sched.lastgc = rnow
        return
    if rnow - sched.lastgc > forcegcperiod:
        if _gc.wake_helper(sched):
            sched.lastgc = rnow  # one request per period even if the helper is slow


def running() -> bool:
    """True while some runtime's sysmon thread is alive (for tests)."""
    return any(t.name == "gosched-sysmon" and t.is_alive() for t in threading.enumerate())
