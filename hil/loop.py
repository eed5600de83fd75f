"""The fixed-rate control cycle: read → decode → supervise/sequence → write (+heartbeat) →
serve clients → record. Absolute deadlines, so it never drifts; lateness and overruns counted.

It runs in the controller's own process (DESIGN.md: a 1 ms loop inside the Qt process misses a
quarter of its deadlines), on a monotonic clock or, in lockstep, on the simulator's clock.
"""

from __future__ import annotations

import collections
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from hil.clock import Clock
from hil.config import StandConfig
from hil.errors import TransportError
from hil.iomap import Commands, Decoder
from hil.recorder import Recorder
from hil.safety import State, Supervisor, median
from hil.transport.base import Transport


class CycleHook(Protocol):
    """Something that acts every cycle between decode and write (sequencer, redlines,
    throttle controller). Hooks run in the order given, after the supervisor."""

    def on_cycle(self, loop: ControlLoop) -> None:
        """Read ``loop.values``, command through ``loop.commands`` or ``loop.supervisor``."""
        ...


CHUNK = 65536  # cycles per lateness chunk
KEEP_CHUNKS = 4  # chunks kept raw: exact figures over the last ~4 min at 1 kHz
HIST_BIN_S = 10e-6  # whole-run lateness histogram: 10 µs bins up to 1 s, then one overflow bin
HIST_BINS = 100_000


@dataclass
class LoopStats:
    """Timing of a run; ``summary()`` is what summary.json and the benchmarks report.

    Memory stays bounded however long the controller runs (a service runs for days): the most
    recent chunks of per-cycle lateness are kept raw, older ones are folded into a 10 µs
    histogram. While every cycle is still held the figures are exact; after that, whole-run
    percentiles come from the histogram (10 µs resolution; the maximum stays exact)."""

    target_hz: float
    cycles: int = 0
    overruns: int = 0  # deadlines skipped because a cycle ended after the next one
    failed_cycles: int = 0
    _chunks: list[np.ndarray] = field(default_factory=list)
    _buf: np.ndarray = field(default_factory=lambda: np.empty(CHUNK))
    _n: int = 0
    _hist: np.ndarray | None = None
    _folded: int = 0
    _max: float = 0.0
    _late_count: int = 0
    t_first: float = 0.0
    t_last: float = 0.0

    def add(self, lateness: float) -> None:
        """Record one cycle's lateness (seconds)."""
        if self._n == CHUNK:
            self._rotate()
        self._buf[self._n] = lateness
        self._n += 1
        self.cycles += 1

    def _rotate(self) -> None:
        chunk = self._buf
        self._chunks.append(chunk)
        self._max = max(self._max, float(chunk.max()))
        self._late_count += int(np.count_nonzero(chunk > 1.0 / self.target_hz))
        if len(self._chunks) > KEEP_CHUNKS:
            old = self._chunks.pop(0)
            if self._hist is None:
                self._hist = np.zeros(HIST_BINS + 1, dtype=np.int64)
            self._hist += _bin_counts(old)
            self._folded += len(old)
            self._buf = old  # reuse: no allocation per chunk
        else:
            self._buf = np.empty(CHUNK)
        self._n = 0

    def recent(self) -> np.ndarray:
        """Lateness of the cycles still held raw (the last few minutes at 1 kHz), seconds."""
        return np.concatenate([*self._chunks, self._buf[: self._n]])

    def summary(self, last: int | None = None) -> dict[str, Any]:
        """Rate, lateness percentiles (ms), overruns; over the ``last`` cycles if given (at most
        what is held raw; the rate and the overrun count stay whole-run figures)."""
        raw = self.recent()
        period = 1.0 / self.target_hz
        span = self.t_last - self.t_first
        out: dict[str, Any] = {
            "target_hz": self.target_hz,
            "achieved_hz": (self.cycles - 1) / span if span > 0 and self.cycles > 1 else 0.0,
            "cycles": self.cycles,
            "overruns": self.overruns,
            "failed_cycles": self.failed_cycles,
        }
        if last is not None or self._hist is None:
            lat = raw[-last:] if last is not None else raw
            n = len(lat)
            p50, p99 = (np.percentile(lat, [50, 99]) if n else (0.0, 0.0))
            mx = float(lat.max()) if n else 0.0
            late = float(np.mean(lat > period)) if n else 0.0
        else:
            counts = self._hist + _bin_counts(raw)
            p50, p99 = _hist_percentile(counts, 50), _hist_percentile(counts, 99)
            mx = max(self._max, float(raw.max()) if len(raw) else 0.0)
            late_tail = int(np.count_nonzero(self._buf[: self._n] > period))
            late = (self._late_count + late_tail) / self.cycles
        out.update(lateness_p50_ms=float(p50) * 1e3, lateness_p99_ms=float(p99) * 1e3,
                   lateness_max_ms=mx * 1e3, late_share=late)
        return out


def _bin_counts(lat: np.ndarray) -> np.ndarray:
    idx = np.clip((lat / HIST_BIN_S).astype(np.int64), 0, HIST_BINS)
    return np.bincount(idx, minlength=HIST_BINS + 1)


def _hist_percentile(counts: np.ndarray, q: float) -> float:
    """The q-th percentile from the histogram: the middle of the bin it falls in (seconds)."""
    total = int(counts.sum())
    if total == 0:
        return 0.0
    k = int(np.searchsorted(np.cumsum(counts), q / 100.0 * total, side="left"))
    return (k + 0.5) * HIST_BIN_S


class ControlLoop:
    """Owns the cycle. Everything it touches is passed in, so lockstep, TCP and RTU runs and
    the tests use the same code path."""

    def __init__(self, stand: StandConfig, transport: Transport, clock: Clock, *,
                 recorder: Recorder | None = None, hooks: list[CycleHook] | None = None,
                 rate_hz: float | None = None, comm_loss_cycles: int | None = None,
                 serve: Callable[[ControlLoop], None] | None = None, publish_every: int = 20,
                 publish: Callable[[ControlLoop, np.ndarray], None] | None = None) -> None:
        self.stand = stand
        self.transport = transport
        self.clock = clock
        self.decoder = Decoder(stand)
        self.commands = Commands(stand)
        self.recorder = recorder
        self.supervisor = Supervisor(stand, self.commands, self.event)
        self.hooks = list(hooks or [])
        self.rate_hz = rate_hz or stand.loop.rate_hz
        self.period = 1.0 / self.rate_hz
        self.comm_loss_cycles = comm_loss_cycles or stand.loop.comm_loss_cycles
        # Commands are written in the cycle they change; the heartbeat alone goes out at
        # heartbeat_hz, far inside the firmware's watchdog time, instead of costing the stand
        # a write transaction every cycle.
        # Timed on the loop clock, not counted in cycles, so a loop slowed by a sluggish device
        # still beats often enough for the watchdog.
        self.heartbeat_period = 1.0 / stand.loop.heartbeat_hz
        self._last_beat = -math.inf
        self.stats = LoopStats(self.rate_hz)
        self.serve = serve
        self.publish = publish
        self.publish_every = publish_every
        n_ch, n_cmd = len(stand.channels), len(stand.actuators)
        self.values = np.full(n_ch, np.nan)
        self.valid = np.zeros(n_ch, dtype=bool)
        self.t = 0.0
        self.cycle = 0
        self.step_index = -1  # set by the sequencer
        self.burning = False  # ignition confirmed and propellants still commanded open
        self.pc_setpoint = float("nan")  # commanded Pc while the throttle loop is closed
        self.pc_setpoint_moved_at = 0.0
        self.throttle_output = float("nan")
        self._pc_idx = [self.decoder.index[c] for c in (stand.limits.pc_channels or (stand.limits.pc_channel,))
                        if c in self.decoder.index]
        self.disqualified: np.ndarray | None = None  # set by the redline monitor, when there is one
        self.consecutive_failures = 0
        self.last_error = ""
        self.stop_requested = False
        self._pub = np.empty((publish_every, 4 + n_ch + n_cmd))
        self._pub_n = 0
        self._recent: collections.deque[float] = collections.deque()
        self._window = stand.loop.rate_window_s
        self._min_cycles = stand.loop.min_rate_pct / 100.0 * self.rate_hz * self._window
        self.degraded = False
        self._deadline = 0.0
        self._t0 = 0.0

    # ------------------------------------------------------------------ helpers for hooks

    def value(self, name: str) -> float:
        """The latest engineering value of a channel (NaN when the last read failed)."""
        return float(self.values[self.decoder.index[name]])

    def pc(self) -> float:
        """Chamber pressure as the controller trusts it: the median of the stand's Pc
        transducers that read valid and are not disqualified (NaN when none is)."""
        good = [float(self.values[i]) for i in self._pc_idx
                if self.valid[i] and (self.disqualified is None or not self.disqualified[i])]
        return median(good) if good else float("nan")

    def expression_env(self, seq_t: float) -> dict[str, float]:
        """Names a sequence condition may use, with this cycle's values."""
        env = dict(zip(self.decoder.names, self.values.tolist()))
        env.update({f"cmd.{n}": float(v) for n, v in zip(self.commands.names, self.commands.eng)})
        env.update(t=seq_t, pc_setpoint=self.pc_setpoint, throttle_output=self.throttle_output,
                   burn_time=seq_t)
        return env

    def event(self, t: float, kind: str, **fields: Any) -> None:
        """Log an event to the recorder (and so to clients that tail it)."""
        if self.recorder is not None:
            self.recorder.event(t, kind, **fields)
        for listener in self.event_listeners:
            listener(t, kind, fields)

    event_listeners: list[Callable[[float, str, dict[str, Any]], None]] = []

    # ------------------------------------------------------------------ the cycle

    def start(self) -> None:
        """Connect and take the first deadline from the clock."""
        self.event_listeners = list(self.event_listeners)
        try:
            self.transport.connect()
        except TransportError as exc:
            self.last_error = str(exc)
            self.event(0.0, "comm_error", error=str(exc))
        self._t0 = self.clock.now()
        self._deadline = self._t0
        self.stats.t_first = self._t0

    def step(self) -> None:
        """Wait for the next deadline and run one cycle."""
        self.clock.sleep_until(self._deadline)
        now = self.clock.now()
        lateness = now - self._deadline
        self.t = self._deadline - self._t0
        self._cycle_body(lateness)
        self.stats.add(lateness)
        self._check_rate()
        self.stats.t_last = now
        self.cycle += 1
        # Next deadline on the fixed grid. A cycle that ran a little past it starts at once
        # (late, and counted in the lateness figures) so the rate holds; only when a whole
        # period has been lost are the missed deadlines skipped (counted as overruns) rather
        # than replayed in a burst. Either way the grid never drifts.
        self._deadline += self.period
        behind = self.clock.now() - self._deadline
        if behind > self.period:  # lockstep too: a slow modelled line costs virtual time
            missed = math.floor(behind / self.period)
            self._deadline += missed * self.period
            self.stats.overruns += missed

    def _cycle_body(self, lateness: float) -> None:
        t = self.t
        ok = True
        try:
            blocks = [self.transport.read_registers(b.table, b.start, b.count) for b in self.decoder.blocks]
        except TransportError as exc:
            ok = False
            self._failed(t, f"read: {exc}")
        if ok:
            self.values = self.decoder.decode(blocks)
            self.valid = ~self.decoder.out_of_range(self.values)
            if self.consecutive_failures >= self.comm_loss_cycles:
                self.event(t, "comm_restored", after_cycles=self.consecutive_failures)
            self.consecutive_failures = 0
        else:
            self.values = np.full_like(self.values, np.nan)
            self.valid[:] = False
        comm_ok = self.consecutive_failures < self.comm_loss_cycles
        if not comm_ok and self.consecutive_failures == self.comm_loss_cycles:
            self.supervisor.fault(t, f"communication lost: {self.comm_loss_cycles} consecutive failed cycles "
                                     f"({self.last_error})")
        self.supervisor.on_cycle(t, comm_ok, self.decoder.system() if ok else None)
        for hook in self.hooks:
            hook.on_cycle(self)
        if self.supervisor.safing.active or self.supervisor.state in (State.ABORTING, State.FAULT):
            self.supervisor.safing.apply(t, self.commands)  # safing has the last word on outputs
        if t - self._last_beat >= self.heartbeat_period - 0.5 * self.period:
            self._last_beat = t
            self.commands.beat()
        try:
            for address, regs in self.commands.pending_writes():
                self.transport.write_registers(address, regs, wait=False)
        except TransportError as exc:
            self.commands.changed = True  # write the whole block again next cycle
            if ok:
                self._failed(t, f"write: {exc}")
        if self.serve is not None:
            self.serve(self)
        state = int(self.supervisor.state)
        if self.recorder is not None:
            self.recorder.append(t, self.cycle, lateness * 1e3, state,
                                 self.step_index, self.values, self.commands.eng,
                                 (self.pc_setpoint, self.throttle_output))
        if self.publish is not None:
            row = self._pub[self._pub_n]
            row[0], row[1], row[2], row[3] = t, state, self.step_index, self.pc_setpoint
            row[4 : 4 + len(self.values)] = self.values
            row[4 + len(self.values) :] = self.commands.eng
            self._pub_n += 1
            if self._pub_n == self.publish_every:
                self.publish(self, self._pub[: self._pub_n].copy())
                self._pub_n = 0

    def _check_rate(self) -> None:
        """Loop health: the number of cycles over the last window, against the configured share."""
        t, window = self.t, self._window
        recent = self._recent
        recent.append(t)
        while recent[0] <= t - window:
            recent.popleft()
        if t < window:
            return
        low = len(recent) < self._min_cycles
        if low and not self.degraded:
            self.degraded = True
            achieved = len(recent) / window
            self.event(t, "loop_degraded", achieved_hz=round(achieved, 1), target_hz=self.rate_hz,
                       error=self.last_error)
            if self.supervisor.state in (State.ARMED, State.RUNNING):
                self.supervisor.abort(t, f"control loop degraded: {achieved:.0f} Hz of {self.rate_hz:g} Hz over the "
                                         f"last {window:g} s" + (f" ({self.last_error})" if self.last_error else ""),
                                      source="loop")
        elif not low and self.degraded:
            self.degraded = False
            self.event(t, "loop_restored")

    def _failed(self, t: float, error: str) -> None:
        self.consecutive_failures += 1
        self.stats.failed_cycles += 1
        self.last_error = error
        if self.consecutive_failures == 1:
            self.event(t, "comm_error", error=error)

    def run(self, until: Callable[[ControlLoop], bool]) -> LoopStats:
        """Cycle until ``until(loop)`` is true or :attr:`stop_requested` is set."""
        self.start()
        while not (self.stop_requested or until(self)):
            self.step()
        return self.stats

    def shutdown(self, reason: str = "controller stopping") -> None:
        """Every exit path ends here. A stand that is not already safe is aborted and the loop
        keeps cycling until the safing sequence has run (oxidiser first, fuel after its lag,
        purge for its time), then the link is closed. If the link is gone, the firmware
        watchdog is the backstop."""
        sup = self.supervisor
        if not (sup.safing.active or sup.safing.done and sup.state in (State.SAFE, State.FAULT)):
            sup.abort(self.t, reason, source="shutdown")
        budget = max((s.at_s for s in self.stand.safing), default=0.0) + 1.0
        t_end = self.t + budget
        while sup.safing.active and self.t < t_end:
            self.step()  # with the link down too: every cycle retries the safing writes
        try:
            self.transport.settle()
        except TransportError as exc:
            self.event(self.t, "comm_error", error=f"final write: {exc}")
        finally:
            self.transport.close()
