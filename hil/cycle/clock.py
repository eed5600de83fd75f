"""Time for the loop: the machine's monotonic clock, or the simulator's virtual clock.

The loop only asks two things: what time is it, and wait until a deadline. In lockstep,
waiting *is* advancing the simulated stand, so the controller and the firmware share one
deterministic timeline.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from firmware_sim.firmware import Firmware


class Clock(Protocol):
    """What the loop needs from a clock."""

    realtime: bool

    def now(self) -> float:
        """Seconds since the clock's epoch."""
        ...

    def sleep_until(self, t: float) -> None:
        """Return at (or as soon as possible after) ``t``."""
        ...


class MonotonicClock:
    """Wall time from time.monotonic(); sleeps with the OS scheduler (no busy-wait: on a
    2-core machine the simulator or the GUI needs the other core)."""

    realtime = True

    def __init__(self) -> None:
        self.t0 = time.monotonic()

    def now(self) -> float:
        return time.monotonic() - self.t0

    def sleep_until(self, t: float) -> None:
        delay = t - (time.monotonic() - self.t0)
        if delay > 0:
            time.sleep(delay)


class VirtualClock:
    """The simulated firmware's clock: sleeping runs the stand forward."""

    realtime = False

    def __init__(self, firmware: Firmware) -> None:
        self.fw = firmware
        self.t0 = firmware.t

    def now(self) -> float:
        return self.fw.t - self.t0

    def sleep_until(self, t: float) -> None:
        dt = t - self.now()
        if dt > 1e-9:
            self.fw.advance(dt)
