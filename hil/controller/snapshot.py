"""The controller's one read model: what it is, whole, at one moment between two cycles.

:meth:`hil.controller.Controller.snapshot` builds a :class:`Snapshot`; the service renders it as
the status clients poll (hil/service/protocol.py), the per-run recorder writes a run's facts
from it (hil/record/runs.py), a checkout and ``hil run`` decide from it. Nothing outside the
controller reads its parts: a snapshot is a copy, frozen, so what a reader holds cannot change
under it or change the controller.

A full snapshot costs ~100 µs (the redline margins, each device's link counters, each
channel's age); a reader that looks every cycle asks for ``detail=False`` (a few µs) and gets
those fields empty.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, NamedTuple

from hil.safety.supervisor import State
from hil.sequence import Sequence
from hil.stand import Redline, StandConfig

_EMPTY: Mapping[str, Any] = MappingProxyType({})


class LoopFigures(NamedTuple):
    """How the fixed-rate cycle is keeping its deadlines (hil/cycle/loopstats.py)."""

    rate_hz: float
    cycles: int
    overruns: int
    failed_cycles: int
    deadlines_due: int
    met_share: float
    recent_met_share: float
    recent_s: float
    degraded: bool
    last_error: str
    realtime: bool  # on a monotonic clock (False: lockstep, the simulator's virtual clock)
    # summary.json's ``loop`` block, only when asked for (``Controller.snapshot(loop_summary=True)``)
    summary: Mapping[str, Any] | None = None


class Snapshot(NamedTuple):
    """The controller between two cycles."""

    t: float  # loop time of the last cycle, s
    cycle: int  # the next cycle's number
    state: State
    reason: str  # why the state is what it is
    abort_reason: str
    fault_reason: str
    safing: bool  # the safing sequence is running
    comm_ok: bool
    firmware_state: int
    firmware_trips: int
    # the firmware's own clock as last read (hil-stand-1 firmware only, else None): u32 ms since boot,
    # and the u16 ms (mod 65536) at which a command register last changed
    firmware_clock_ms: int | None
    firmware_output_ms: int | None
    stand: StandConfig  # as read now (a checkout's zero may have recalibrated it)
    stand_path: Path | None
    sequence: Sequence | None  # the one loaded
    running: bool  # the sequence is running
    step: int  # index of the step last started, -1 when not running
    step_text: str  # the current step's label, or what it does ("" when none)
    t_seq: float | None  # T-time of the running sequence
    prompt: Mapping[str, Any] | None  # the prompt waiting for an answer
    held_by: str | None  # who holds the count
    authority: Mapping[str, Any]
    checkout: Mapping[str, Any] | None  # the checkout in progress
    redlines: tuple[Redline, ...]  # installed: the stand's and the loaded sequence's
    redlines_tripped: tuple[str, ...]
    disqualified: tuple[str, ...]
    unknown: Mapping[str, str]  # channels without a value now, and why
    pc: float
    pc_setpoint: float
    values: Mapping[str, float]  # each channel's latest engineering value (NaN: unknown)
    outputs: Mapping[str, float]  # each actuator's command
    loop: LoopFigures
    recording: bool
    run_dir: Path | None
    # detail (empty with ``detail=False``)
    redline_margins: Mapping[str, Any] = _EMPTY
    devices: Mapping[str, str] = _EMPTY
    line_stats: Mapping[str, Mapping[str, int]] = _EMPTY
    device_age: Mapping[str, float | None] = _EMPTY
    channel_age: Mapping[str, float | None] = _EMPTY
