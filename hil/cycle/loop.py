"""The fixed-rate control cycle on absolute deadlines, so it never drifts; lateness and skipped
deadlines counted (hil/cycle/loopstats.py).

The loop owns the stages at both ends of a cycle — ``read``, ``supervisor``, ``safing``,
``write``, ``publish`` — and runs the controller's stages in between, in the order hil/cycle/state.py
writes down. Everything it touches is passed in, so lockstep, TCP and RTU runs and the tests use
the same code path. It runs in the controller's own process (DESIGN.md: a 1 ms loop inside the
Qt process misses a quarter of its deadlines), on a monotonic clock or, in lockstep, on the
simulator's clock.
"""

from __future__ import annotations

import collections
import math
from collections.abc import Callable
from time import perf_counter
from typing import Any, Protocol

import numpy as np

from hil.cycle import CycleState, Stage, check_order
from hil.cycle.clock import Clock
from hil.cycle.loopstats import LoopStats
from hil.frames import FrameLayout
from hil.io.standio import StandIO
from hil.safety.supervisor import State, Supervisor
from hil.stand import StandConfig
from hil.stand.iomap import Commands, Decoder
from hil.transport.base import Transport

EventListener = Callable[[float, str, dict[str, Any]], None]


class RecordSink(Protocol):
    """Where the loop's rows and events are recorded: a run's Recorder (hil/record/recorder.py),
    or the service's RunRecorder that splits a session into runs (hil/record/runs.py)."""

    @property
    def closed(self) -> bool: ...

    def append(self, t: float, cycle: int, lateness_ms: float, state: int, step: int, values: np.ndarray,
               commands: np.ndarray, extra: tuple[float, ...] = ()) -> None: ...

    def event(self, t: float, kind: str, **fields: Any) -> None: ...


class EventBus:
    """Where events go: the run's events.jsonl and whoever listens (the service's PUB socket).
    One per controller; listeners are per instance."""

    def __init__(self, recorder: RecordSink | None = None, stamp: Callable[[], dict[str, Any]] = dict) -> None:
        self.recorder = recorder
        self.listeners: list[EventListener] = []
        # context every event carries (the controller adds the sequence time while one runs)
        self.stamp = stamp

    def add_listener(self, listener: EventListener) -> None:
        self.listeners.append(listener)

    def emit(self, t: float, kind: str, **fields: Any) -> None:
        """Log one event."""
        for k, v in self.stamp().items():
            fields.setdefault(k, v)
        if self.recorder is not None:
            self.recorder.event(t, kind, **fields)
        for listener in self.listeners:
            listener(t, kind, fields)


class ClientLink(Protocol):
    """The loop's side of the command and telemetry service (hil/service/server.py)."""

    def serve(self, cs: CycleState) -> None:
        """Answer waiting requests (never blocks)."""
        ...

    def publish(self, cs: CycleState, rows: np.ndarray) -> None:
        """Send a batch of telemetry rows."""
        ...


class ControlLoop:
    """Owns the cycle: its deadlines, the stand link, and the ends of the pipeline."""

    def __init__(self, stand: StandConfig, transport: Transport | dict[str, Transport], clock: Clock, *,
                 commands: Commands,
                 supervisor: Supervisor, events: EventBus, stages: list[Stage] | None = None,
                 recorder: RecordSink | None = None, rate_hz: float | None = None,
                 comm_loss_cycles: int | None = None, link: ClientLink | None = None,
                 publish_every: int = 20, operator: Callable[[CycleState], None] | None = None) -> None:
        self.stand = stand
        self.clock = clock
        self.decoder = Decoder(stand)
        self.commands = commands
        self.supervisor = supervisor
        self.events = events
        self.rate_hz = rate_hz or stand.loop.rate_hz
        self.comm_loss_cycles = comm_loss_cycles or stand.loop.comm_loss_cycles
        transports = transport if isinstance(transport, dict) else {stand.devices[0].name: transport}
        self.io = StandIO(stand, transports, clock, self.decoder, commands, events.emit, supervisor.fault,
                          self.rate_hz, self.comm_loss_cycles)
        self.transport = self.io.transport
        self.stages = list(stages or [])
        check_order(self.stages)
        self.recorder = recorder
        self.link = link
        self.period = 1.0 / self.rate_hz
        # Commands are written in the cycle they change; the heartbeat alone goes out at
        # heartbeat_hz, far inside the firmware's watchdog time, instead of costing the stand
        # a write transaction every cycle. Timed on the loop clock, not counted in cycles, so a
        # loop slowed by a sluggish device still beats often enough for the watchdog.
        self.heartbeat_period = 1.0 / stand.loop.heartbeat_hz
        self._last_beat = -math.inf
        self.stats = LoopStats(self.rate_hz)
        self.cs = CycleState(len(stand.channels))
        self.layout = FrameLayout.of(stand)
        self.publish_every = publish_every
        self._pub = np.empty((publish_every, self.layout.width))
        self._pub_n = 0
        self.last_error = ""
        self.stop_requested = False
        # automated operator actions (a checkout desk), where clients' commands are served:
        # they act through the same manual commands, accepted only in SAFE
        self.operator = operator
        self._recent: collections.deque[float] = collections.deque()
        self._window = stand.loop.rate_window_s
        self._min_cycles = stand.loop.min_rate_pct / 100.0 * self.rate_hz * self._window
        self.degraded = False
        self._deadline = 0.0
        self._t0 = 0.0

    @property
    def t(self) -> float:
        """Loop time of the current (or last) cycle, s."""
        return self.cs.t

    @property
    def cycle(self) -> int:
        return self.cs.cycle

    @property
    def consecutive_failures(self) -> int:
        """Consecutive failed polls of the worst critical device (0: all answering)."""
        return self.io.critical_failures

    def value(self, name: str) -> float:
        """The latest engineering value of a channel (NaN when the last read failed)."""
        return float(self.cs.values[self.decoder.index[name]])

    def event(self, t: float, kind: str, **fields: Any) -> None:
        """Log an event (shorthand for the bus)."""
        self.events.emit(t, kind, **fields)

    # ------------------------------------------------------------------ the cycle

    def start(self) -> None:
        """Connect every device and take the first deadline from the clock."""
        for error in self.io.start():
            self.last_error = error
            self.event(0.0, "comm_error", error=error)
        self._t0 = self.clock.now()
        self._deadline = self._t0
        self.stats.t_first = self._t0

    def step(self) -> None:
        """Wait for the next deadline and run one cycle."""
        self.clock.sleep_until(self._deadline)
        now = self.clock.now()
        cs = self.cs
        cs.lateness = now - self._deadline
        cs.t = self._deadline - self._t0
        io0, w0 = self.io.io_s, perf_counter()
        self._cycle_body(cs)
        self.stats.add_work(perf_counter() - w0 - (self.io.io_s - io0))
        self.stats.add(cs.lateness)
        self._check_rate()
        self.stats.t_last = now
        cs.cycle += 1
        # Next deadline on the fixed grid. A cycle that ran a little past it starts at once
        # (late, and counted in the lateness figures) so the rate holds; only when a whole
        # period has been lost are the missed deadlines skipped (counted as overruns) rather
        # than replayed in a burst. Either way the grid never drifts.
        self._deadline += self.period
        behind = self.clock.now() - self._deadline
        if behind > self.period:  # lockstep too: a slow modelled line costs virtual time
            missed = math.floor(behind / self.period)
            self._deadline += missed * self.period
            self.stats.skipped(missed)

    def _cycle_body(self, cs: CycleState) -> None:
        self._read(cs)
        self.supervisor.on_cycle(cs.t, cs.comm_ok, cs.system)
        for stage in self.stages:
            stage.on_cycle(cs)
        sup = self.supervisor
        if sup.safing.active or sup.state in (State.ABORTING, State.FAULT):
            sup.safing.apply(cs.t, self.commands)  # safing has the last word on outputs
        self._write(cs)
        self._publish(cs)

    def _read(self, cs: CycleState) -> None:
        """The ``read`` stage: every device due, decoded, range-checked and aged."""
        self.io.read(cs)
        if self.io.cycle_failed:
            self.stats.failed_cycles += 1
        if self.io.last_error:
            self.last_error = self.io.last_error

    def _write(self, cs: CycleState) -> None:
        """The ``write`` stage: changed commands, and the heartbeats when they are due."""
        t = cs.t
        if t - self._last_beat >= self.heartbeat_period - 0.5 * self.period:
            self._last_beat = t
            self.commands.beat()
        error = self.io.write(t)
        if error:
            self.last_error = error

    def _publish(self, cs: CycleState) -> None:
        """The ``publish`` stage: serve clients, record the row, publish a batch."""
        if self.operator is not None:
            self.operator(cs)
        if self.link is not None:
            self.link.serve(cs)
        state = int(self.supervisor.state)
        t_seq = cs.seq_t if cs.seq_t is not None else math.nan
        if self.recorder is not None:
            self.recorder.append(cs.t, cs.cycle, cs.lateness * 1e3, state, cs.step_index, cs.values,
                                 self.commands.eng, (cs.pc_setpoint, cs.throttle_output, t_seq))
        if self.link is not None:
            self.layout.fill(self._pub[self._pub_n], cs.t, state, cs.step_index, cs.pc_setpoint, t_seq, cs.values,
                             self.commands.eng)
            self._pub_n += 1
            if self._pub_n == self.publish_every:
                self.link.publish(cs, self._pub[: self._pub_n].copy())
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
        for error in self.io.close():
            self.event(self.t, "comm_error", error=error)
