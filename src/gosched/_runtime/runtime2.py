"""The runtime's data structures: G, M, P and the scheduler (Go's runtime2.go).

Ownership rules (who may touch what), because nothing here may lean on the GIL:

* A P is owned by exactly one M while that M is in its scheduler loop. The
  handshake is ``p.tok``, a deque used as a test-and-set word (``deque.append`` and
  ``deque.pop`` are atomic on every CPython build, free-threaded included; a
  deque, not a list, because a list reallocates its storage at every
  append/pop between 0 and 1 items, twice per goroutine switch). Before
  an M runs user code it *publishes* the P (``tok.append``); when user code
  yields back it *reclaims* it (``tok.pop``). sysmon retakes a P by popping the
  token itself; whoever pops first owns the P, so the loop and sysmon never both
  act on one. This is Go's CAS on ``p.status``, done with a documented-atomic
  builtin instead of a lock, so a goroutine switch costs two deque operations.
  Every owner gets a fresh deque (``acquirep``), so the pop of an M that lost
  the P can never take the next owner's token (an ABA).
* ``p.runq`` is a ``collections.deque``: appends and pops are thread-safe, so
  thieves may ``popleft`` while the owner appends (Go's lock-free runq).
* ``p.runnext`` and ``p.schedtick`` are touched only by the owning M's loop.
* ``m.readyq`` is the slot a goroutine's own frame uses to ready another (Go's
  ``runqput(pp, gp, next=true)`` from ``goready``); the loop turns it into
  ``runnext`` when the goroutine yields. It is a deque so that sysmon can take
  what is in it when it takes the P away.
* Everything else that is global lives under ``sched.lock``.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from enum import StrEnum
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, runtime_checkable

from .nogc import nogc
from .note import LockNote, Note

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine
    from types import FrameType

    from .netpoll_epoll import Poller

# G status (runtime2.go). Values as Go's so scheddetail prints the same numbers.
Gidle = 0
Grunnable = 1
Grunning = 2
Gsyscall = 3
Gwaiting = 4
Gdead = 6

GSTATUS_STRINGS = {
    Gidle: "idle",
    Grunnable: "runnable",
    Grunning: "running",
    Gsyscall: "syscall",
    Gwaiting: "waiting",
    Gdead: "dead",
}


class WaitReason(StrEnum):
    """Why a goroutine is Gwaiting: Go's waitReason, whose values are ``waitReasonStrings``.

    A str, so dumps and reprs print Go's words unchanged. ``durable`` is
    synctest's "durably blocked" (Go's ``isIdleInSynctest``): only another
    goroutine of the program can end the wait, so checkdead may call it a
    deadlock and the fake clock may jump past it. IO and a syscall are ended
    by something outside the goroutines.
    """

    ZERO = ""
    CHAN_RECEIVE = "chan receive"
    CHAN_SEND = "chan send"
    SELECT = "select"
    SELECT_NO_CASES = "select (no cases)"
    SLEEP = "sleep"
    SYNC_MUTEX_LOCK = "sync.Mutex.Lock"
    SYNC_RWMUTEX_RLOCK = "sync.RWMutex.RLock"
    SYNC_RWMUTEX_LOCK = "sync.RWMutex.Lock"
    SYNC_WAITGROUP_WAIT = "sync.WaitGroup.Wait"
    SYNC_COND_WAIT = "sync.Cond.Wait"
    SEMACQUIRE = "semacquire"
    FORCE_GC_IDLE = "force gc (idle)"
    SYNCTEST_WAIT = "synctest.Wait"
    IO_WAIT = "IO wait"
    SYSCALL = "syscall"
    ASYNCIO_FUTURE = "asyncio.Future"  # gosched's: a goroutine awaiting an asyncio Future (gosched._aio)
    ASYNCIO_TURN = "asyncio turn"  # gosched's: a task or a loop callback waiting for its turn (gosched._aio)

    @property
    def durable(self) -> bool:
        return self not in _NOT_DURABLE


_NOT_DURABLE = frozenset({WaitReason.IO_WAIT, WaitReason.SYSCALL})

# Go's names for the members, bound once: the park paths read them, and looking up
# an Enum member on its class costs ~70 ns on CPython 3.11 (~20 ns on 3.12).
waitReasonZero = WaitReason.ZERO
waitReasonChanReceive = WaitReason.CHAN_RECEIVE
waitReasonChanSend = WaitReason.CHAN_SEND
waitReasonSelect = WaitReason.SELECT
waitReasonSelectNoCases = WaitReason.SELECT_NO_CASES
waitReasonSleep = WaitReason.SLEEP
waitReasonSyncMutexLock = WaitReason.SYNC_MUTEX_LOCK
waitReasonSyncRWMutexRLock = WaitReason.SYNC_RWMUTEX_RLOCK
waitReasonSyncRWMutexLock = WaitReason.SYNC_RWMUTEX_LOCK
waitReasonSyncWaitGroupWait = WaitReason.SYNC_WAITGROUP_WAIT
waitReasonSyncCondWait = WaitReason.SYNC_COND_WAIT
waitReasonSemacquire = WaitReason.SEMACQUIRE
waitReasonForceGCIdle = WaitReason.FORCE_GC_IDLE
waitReasonSynctestWait = WaitReason.SYNCTEST_WAIT
waitReasonIOWait = WaitReason.IO_WAIT
waitReasonAsyncioFuture = WaitReason.ASYNCIO_FUTURE
waitReasonAsyncioTurn = WaitReason.ASYNCIO_TURN
waitReasonSyscall = WaitReason.SYSCALL


class WaitDesc(NamedTuple):
    """What a goroutine parked on a primitive waits for, in the primitive's own words.

    The "blocked on:" lines of a dump (waitfor.py) are built from it, so the
    dump need not know each primitive's internals: the primitive says what it
    is (``verb``), its state, who waits on it and who holds it.
    """

    verb: str  # "waits on channel", "waits for": what the line says before the object's name
    state: str = ""  # after the name: "0/1 buffered", "counter 2"
    receivers: list[G] | None = None  # a channel's blocked receivers and senders
    senders: list[G] | None = None
    holders: list[int] | None = None  # a lock's holders' goids (0: a plain thread); None: not a lock


@runtime_checkable
class Waitable(Protocol):
    """An object goroutines park on (``gp.blockedon``) that describes the wait for dumps."""

    def waitdesc(self) -> WaitDesc: ...

# P status.
Pidle = 0
Prunning = 1
Psyscall = 2
Pgcstop = 3
Pdead = 4

# Scheduler constants (proc.go).
RUNQ_SIZE = 256  # len(p.runq) in Go
GOID_CACHE_BATCH = 16  # _GoidCacheBatch
FAIRNESS_TICK = 61  # findRunnable checks the global queue every 61 schedticks
STEAL_TRIES = 4  # stealWork passes
LATENCY_PERIOD = 8  # sample one yield in 8 for /sched/latencies (Go's gTrackingPeriod)
LATENCY_BUCKETS = 41  # bucket i: [2**(i-1), 2**i) ns, 0: 0 ns, 40: 2**39 ns (~550 s) and above


class SysmonTick:
    """Per-P snapshot sysmon keeps between ticks (Go's sysmontick)."""

    __slots__ = (
        "busywhen", "preemptcpu", "preemptg", "preemptwhen", "schedtick", "schedwhen",
        "syscalltick", "syscallwhen",
    )

    def __init__(self) -> None:
        self.schedtick = 0
        self.schedwhen = 0
        # When (monotonic ns) the P went busy while sysmon slept deeply, stamped by
        # pidleget and cleared by pidleput: retake dates what runs on the P from it
        # instead of from its own later sighting (gosched).
        self.busywhen = 0
        self.syscalltick = 0
        self.syscallwhen = 0
        self.preemptwhen = 0  # when preemptone() asked this slice to end (0: not asked)
        self.preemptg: G | None = None  # the goroutine it asked
        self.preemptcpu = math.nan  # its thread's CPU seconds at the request (nan: unknown; blockedcall)


class G:
    """A goroutine: a coroutine plus what the scheduler and dumps need.

    The runtime's own: ``gosched.go`` returns a read-only ``gosched.Goroutine``
    over it (goroutine.py).
    """

    __slots__ = (
        "goid",
        "coro",
        "status",
        "waitreason",
        "waitsince",
        "param",
        "exc",
        "m",
        "preempt",
        # sudog fields for the common single-channel wait (Go caches sudogs; a
        # goroutine blocked on one channel uses itself as its sudog).
        "elem",
        "success",
        "parentid",
        "pc",
        "pclasti",
        "pcglobals",
        "blockedon",
        "trackingstamp",
        "lockedm",
        "aiopark",
    )

    def __init__(
        self, goid: int, coro: Coroutine[Any, Any, Any], f: FrameType | None = None, parentid: int = 0
    ) -> None:
        self.goid = goid
        self.coro = coro
        self.status = Grunnable
        self.waitreason = WaitReason.ZERO
        self.waitsince = 0
        self.param: Any = None
        self.exc: BaseException | None = None
        self.m: M | None = None
        self.preempt = False  # sysmon asked it to yield at its next runtime call (Go's gp.preempt)
        self.elem: Any = None
        self.success = False
        self.parentid = parentid
        # Creation site ``f`` (the frame that called go()), raw: code object,
        # f_lasti and globals, looked up only when a dump asks, as Go records a
        # PC and finds file:line when printing. Three slots, not a tuple: a spawn
        # allocates nothing it keeps beyond the G and its coroutine.
        # A runtime helper has no creation site; pc then holds its start
        # function's name (see startfn).
        if f is None:
            self.pc: Any = None
            self.pclasti = 0
            self.pcglobals: dict[str, Any] | None = None
        else:
            self.pc = f.f_code
            self.pclasti = f.f_lasti
            self.pcglobals = f.f_globals
        self.blockedon: Any = None  # the object a dump names as what we wait for
        # Scheduling-latency sample (Go's gp.tracking/trackingStamp, one slot): 0 not
        # sampled, -1 sampled at its last yield (one in LATENCY_PERIOD), > 0 the
        # nanotime it became runnable; execute records the wait in m.latencies.
        self.trackingstamp = 0
        self.lockedm: M | None = None  # the M it is locked to (Go's g.lockedm: lock_os_thread)
        # A gosched.aio task's goroutine: its driver's park trap, which the C resume (execute)
        # recognises to run the task's next step without resuming the driver (gosched._aio.task).
        self.aiopark: Any = None

    @property
    def id(self) -> int:
        """The goroutine's id (goroutine 1 is main)."""
        return self.goid

    @property
    def gopc(self) -> tuple[str, int, str] | None:
        """Where the goroutine was created: (file, line, function)."""
        code = self.pc
        if code is None or type(code) is str:
            return None
        lasti = self.pclasti
        mod = (self.pcglobals or {}).get("__name__", "?")
        line = 0
        for start, end, lineno in code.co_lines():
            if start <= lasti < end:
                line = lineno or 0
                break
        return code.co_filename, line, f"{mod}.{code.co_qualname}"

    @property
    def startfn(self) -> str:
        """The goroutine's start function, as ``module.qualname``."""
        if type(self.pc) is str:
            return self.pc
        c = self.coro
        code = getattr(c, "cr_code", None) or getattr(c, "gi_code", None)
        if code is None:
            return "?"
        with nogc():  # another M may be running it (nogc.py)
            frame = getattr(c, "cr_frame", None) or getattr(c, "gi_frame", None)
        if frame is None:  # finished: its module is no longer at hand
            return str(code.co_qualname)
        return f"{frame.f_globals.get('__name__', '?')}.{code.co_qualname}"

    def __repr__(self) -> str:
        state = GSTATUS_STRINGS.get(self.status, "?")
        if self.status == Gwaiting and self.waitreason:
            state = self.waitreason
        return f"<Goroutine {self.goid} [{state}]>"


class P:
    """A processor: the right to run goroutines, with a local run queue."""

    __slots__ = (
        "dying",
        "globturn",
        "id",
        "m",
        "runnext",
        "runq",
        "schedtick",
        "status",
        "syscalltick",
        "sysmontick",
        "timer0when",
        "timers",
        "timerslock",
        "timerzombies",
        "tok",
    )

    def __init__(self, pid: int) -> None:
        self.id = pid
        self.status = Pidle
        self.m: M | None = None
        self.runq: deque[G] = deque()
        self.runnext: G | None = None
        self.schedtick = 0
        self.globturn = 0  # global-queue goroutines owed in this fairness turn (findrunnable; gosched only)
        self.syscalltick = 0
        self.sysmontick = SysmonTick()
        self.tok: deque[int] = deque()  # empty: owned by an M's loop (or idle); [1]: takeable
        self.timers: list[Any] = []  # heap of (when, id, gen, RTimer); see timers.py
        self.timerslock = threading.Lock()
        self.timer0when = 0  # earliest when in the heap, 0 if empty (read racily)
        self.timerzombies = 0  # stopped timers whose entries are still in the heap
        self.dying = False  # procresize shrank GOMAXPROCS below this P's id


class M:
    """A machine: an OS thread that runs the scheduler loop."""

    __slots__ = (
        "blocked",
        "borrowed",
        "cpuclock",
        "curg",
        "freed",
        "goidcache",
        "goidcacheend",
        "id",
        "latencies",
        "ident",
        "lockedext",
        "lockedg",
        "lockedint",
        "lostp_since",
        "lostp_syscall",
        "mstartfn",
        "nextp",
        "parkfn",
        "p",
        "park",
        "readyq",
        "sched",
        "spinning",
        "syscalls",
        "thread",
    )

    def __init__(self, mid: int, sched: Sched) -> None:
        self.id = mid
        self.sched = sched
        self.p: P | None = None
        self.nextp: P | None = None
        self.curg: G | None = None
        # m.park is Go's note: a lock held by the M itself; startm releases it.
        self.park = threading.Lock()
        self.park.acquire()
        self.spinning = False
        self.blocked = False
        self.readyq: deque[G] = deque()
        self.thread: threading.Thread | None = None
        self.ident = 0  # the thread it runs on (bindthread)
        self.cpuclock: int | None = None  # that thread's CPU clock (bindthread)
        self.goidcache = 0
        self.goidcacheend = 0
        self.lostp_since = 0  # nanotime when sysmon took our P while a G ran; 0 otherwise
        self.mstartfn: Callable[[M], None] | None = None  # the loop it runs instead of schedule (sysmon)
        self.lostp_syscall = False  # the P was retaken from a syscall, not a stuck call
        # Metrics this M's thread alone writes (summed on read, as Go sums per-P stats):
        self.syscalls = 0  # gosched.syscall calls entered
        self.latencies = [0] * LATENCY_BUCKETS  # scheduling latency histogram, by ns.bit_length()
        # lock_os_thread (Go's m.lockedg, lockedExt, lockedInt): the G locked to this M,
        # the user's nested lock count, and the runtime's own (main's on m0 until it
        # first blocks). For m0, lockedg stays main's after the lock ends, until
        # m0 leaves the scheduler (lockedm.stoplockedm).
        self.lockedg: G | None = None
        self.lockedext = 0
        self.lockedint = 0
        # How the M sleeps until a P is handed to it (notesleep(&m.park)); None: park.acquire.
        # m0 sleeps in run()'s signal-serving wait instead (sigwait.py).
        self.parkfn: Callable[[], None] | None = None
        # A thread outside the runtime lent as an M (mainm.py: gosched.aio's main thread): its state.
        self.borrowed: Any = None
        self.freed = False  # counted in sched.nmfreed (its thread is gone, or m0 left)

    def bindthread(self) -> None:
        """The calling thread runs this M from now on: its ident and its CPU clock.

        The clock id is taken here, on the thread itself, while it surely lives:
        ``time.pthread_getcpuclockid(ident)`` for a thread that has exited reads its freed
        thread descriptor, and sysmon, reading the CPU time of an M whose thread had just
        ended, crashed so (SIGSEGV inside glibc). A clock id only names the kernel's
        thread: one that has exited makes ``clock_gettime`` fail (blame.threadcpu: nan).
        """
        self.ident = threading.get_ident()
        try:
            self.cpuclock = time.pthread_getcpuclockid(self.ident)
        except (AttributeError, OSError):  # no per-thread CPU clocks here
            self.cpuclock = None


class Sched:
    """Global scheduler state (Go's schedt), one per ``gosched.run``."""

    # Slots, not a __dict__: the C go() (_speedups.c) reads fields by offset.
    __slots__ = (
        "__weakref__",
        "lock",
        "runq",
        "pidle",
        "npidle",
        "midle",
        "nmidle",
        "nmspinning",
        "nmsys",
        "nmidlelocked",
        "m0",
        "mnext",
        "nmfreed",
        "maxmcount",
        "allp",
        "allm",
        "allgs",
        "goidgen",
        "gomaxprocs",
        "nsyscall",
        "nforeign",
        "poller",
        "lastpoll",
        "polluntil",
        "sysmonwait",
        "sysmondeadline",
        "sysmonwatch",
        "sysmonidle",
        "sysmonnote",
        "sysmonwhen",
        "sysmonnap",
        "sysmon_m",
        "starttime",
        "dead",
        "done",
        "result",
        "panic",
        "deadlock",
        "main_g",
        "main_goexited",
        "lastgc",
        "lastwalk",
        "recheckns",
        "rechecktick",
        "stallsince",
        "stallwarned",
        "faketime",
        "bubble",
        "walloffset",
        "numgc",
        "wakefd",
        "nretake",
        "npreempt",
        "nhandoff",
    )

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.runq: deque[G] = deque()  # global run queue
        self.pidle: list[P] = []
        self.npidle = 0
        self.midle: list[M] = []
        self.nmidle = 0
        self.nmspinning = 0
        self.nmsys = 0
        self.nmidlelocked = 0  # locked Ms asleep until their G is runnable (Go's nmidlelocked)
        self.m0: M | None = None  # the M on run()'s own thread while it runs main (Go's m0)
        self.mnext = 0
        self.nmfreed = 0  # Ms whose thread has exited
        self.maxmcount = 10000
        self.allp: list[P] = []
        self.allm: list[M] = []
        self.allgs: dict[int, G] = {}
        self.goidgen = 0
        self.gomaxprocs = 1
        self.nsyscall = 0  # goroutines inside gosched.syscall (checkdead counts them)
        self.nforeign = 0  # plain threads blocked in a blocking API (send_blocking ...)
        # netpoll / timers
        self.poller: Poller | None = None
        self.lastpoll = 1  # 0 while an M is blocked in netpoll
        self.polluntil = 0
        # sysmon
        self.sysmonwait = False
        # While sysmonwait: when the deep sleep ends (monotonic ns); how soon after a P
        # goes busy sysmon must look at it (forcePreemptNS), and the latest instant its
        # deadline may be moved out to (its next periodic work): runq.sysmonwatch and
        # sysmonrest move the deadline.
        self.sysmondeadline = 0
        self.sysmonwatch = 0
        self.sysmonidle = 0
        self.sysmonnote: Note = LockNote()  # sysmon.start sets the best note (note.newnote)
        # sysmon's ordinary sleep between ticks: when it ends (monotonic ns, 0 while
        # awake; read racily by syscall), and the note a syscall needing it sooner releases.
        self.sysmonwhen = 0
        self.sysmonnap = threading.Lock()
        self.sysmonnap.acquire()
        self.sysmon_m: M | None = None
        self.starttime = 0
        # program state
        self.dead = False
        self.done = threading.Lock()  # released when run() should return
        self.done.acquire()
        self.result: Any = None
        self.panic: BaseException | None = None
        self.deadlock: str | None = None
        self.main_g: G | None = None
        self.main_goexited = False
        self.lastgc = 0
        self.lastwalk = 0  # when checkdead last walked every goroutine (timers.timerwakes)
        self.recheckns = 0  # checkdead's wait before it looks again at a run outside threads keep alive
        self.rechecktick = 0  # the Ps' schedticks when it last armed that look (checkdead._recheck)
        self.stallsince = 0  # when that look first found the run asleep but for outside threads
        self.stallwarned = False  # checkdead warned about that stall (DeadlockWarning)
        self.faketime = 0  # virtual nanotime under clock="fake"; 0 for the real clock
        self.bubble: Any = None  # synctest's Bubble (testing.wait()'s caller, main's fate), made on first use
        self.walloffset = 0  # wall clock minus nanotime, for now()
        self.numgc = 0
        self.wakefd = -1  # the pipe run() polls while it waits (sigwait.py); -1: none
        # sysmon's counters (only sysmon's thread writes them): Ps taken from syscalls,
        # preemption requests, Ps taken from goroutines that ignored one.
        self.nretake = 0
        self.npreempt = 0
        self.nhandoff = 0
