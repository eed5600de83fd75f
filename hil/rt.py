"""Real-time scheduling for the loop process (and the simulator standing in for firmware).

Why: on a shared machine a 1 kHz loop at normal priority waits behind whatever else is
runnable — the console's rendering, a test suite, a compile — and a long enough wait trips the
firmware watchdog. SCHED_FIFO puts the process ahead of every normal task; it cannot help with
time the hypervisor steals from the whole VM. Needs root or CAP_SYS_NICE (or an rtprio limit);
without it the caller gets a clear error, never a silent fallback.
"""

from __future__ import annotations

import gc
import os
import sys
from typing import Any, Protocol, TextIO

from hil.errors import HilError


def set_realtime(priority: int) -> str:
    """Move the calling process to SCHED_FIFO at ``priority`` (1-99); threads started after
    this inherit it. Also freezes the objects built so far out of the garbage collector's
    sight, so later full collections do not walk the whole configuration and code."""
    if not 1 <= priority <= 99:
        raise HilError(f"real-time priority must be 1-99, not {priority}")
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
    except PermissionError as exc:
        raise HilError(f"cannot use real-time priority {priority}: {exc.strerror} (needs root, CAP_SYS_NICE or an "
                       f"rtprio limit in /etc/security/limits.conf)") from exc
    gc.freeze()
    return f"SCHED_FIFO priority {priority}"


def background_thread() -> None:
    """Called first thing in a helper thread (recorder writer, sequence loader): back to normal
    scheduling, so it never holds a CPU the loop or the stand's server needs (threads inherit
    SCHED_FIFO, and FIFO threads of equal priority do not preempt each other)."""
    if os.sched_getscheduler(0) != os.SCHED_OTHER:
        os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))


class _Closable(Protocol):
    def close(self) -> Any: ...


def realtime_or_close(priority: int, link: _Closable, who: str, out: TextIO) -> bool:
    """SCHED_FIFO for this thread, said on ``out`` (``hil run`` / ``hil serve``); False — the
    link closed and the reason printed — where the machine refuses it."""
    try:
        print(f"{who}: {set_realtime(priority)}", file=out, flush=True)
    except HilError as exc:
        print(f"error: {exc}", file=sys.stderr)
        link.close()
        return False
    return True
