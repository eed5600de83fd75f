"""The controller: the control loop with its stages (sensors, ignition, sequence, throttle,
redlines, valve watch, client watch), its typed command methods (load, arm, start, abort, set,
reset ...) and its one read model, :meth:`Controller.snapshot`.

Built the same way for a headless run, for ``hil serve`` and for tests; only the transport,
the clock, the recorder, the client link and the checkout desk differ, and each is given at
construction. The stages are created once per controller and listed in cycle order here — the
only place the order is written (hil/cycle/state.py says why). Nothing outside reaches into its parts:
commands go in through its methods, what it is comes out as a :class:`~hil.controller.snapshot.Snapshot`
and as events on its bus. The wire protocol clients speak is the service's
(hil/service/protocol.py).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from hil.controller.authority import Authority
from hil.controller.snapshot import LoopFigures, Snapshot
from hil.cycle import CycleState, Stage
from hil.cycle.clock import Clock
from hil.cycle.loop import ClientLink, ControlLoop, EventBus, EventListener, RecordSink
from hil.errors import Refused
from hil.safety import (
    ClientWatch,
    IgnitionMonitor,
    RedlineMonitor,
    SensorQualifier,
    StartInterlock,
    State,
    Supervisor,
    ValveWatch,
)
from hil.safety.abort_switch import AbortSwitchWatch
from hil.sequence import Sequence, load_sequence
from hil.sequence.engine import RunState, Sequencer
from hil.stand import StandConfig
from hil.stand import firmware_map as fw
from hil.stand.iomap import Commands
from hil.throttle import ThrottleController
from hil.transport.base import Transport

RECENT_S = 10.0  # the status's "now" figure for the loop: deadlines met over the last 10 s


class CheckoutDesk(Protocol):
    """An automated operator on this controller (hil/checkout/desk.py): it works where the
    clients' commands are served, once per cycle, through the same manual commands."""

    def on_cycle(self, cs: CycleState) -> None: ...

    def begin(self, kind: str, operator: str = "", seconds: float = 3.0) -> Any: ...

    def cancel(self, who: str) -> None: ...

    def abort(self, why: str) -> None: ...

    def status(self) -> dict[str, Any] | None: ...


class Controller:
    """Owns a ControlLoop and answers operator commands between its cycles."""

    def __init__(self, stand: StandConfig, transport: Transport | dict[str, Transport], clock: Clock, *,
                 recorder: RecordSink | None = None, rate_hz: float | None = None,
                 link: Callable[[Controller], ClientLink] | None = None, stand_path: str | Path | None = None,
                 run_recorder: Callable[[Controller], RecordSink] | None = None,
                 checkout: Callable[[Controller], CheckoutDesk] | None = None) -> None:
        """``recorder`` records the loop's rows and events; ``run_recorder`` instead makes one
        that reads this controller's snapshots (the service's per-run recorder); ``link`` makes
        the client service, ``checkout`` the checkout desk (without one a checkout is refused)."""
        self.stand = stand
        self.stand_path = Path(stand_path) if stand_path is not None else None  # where a zero file goes
        if run_recorder is not None:
            recorder = run_recorder(self)
        self.acting = ""  # the station whose command is being handled (stamped on its events)
        self.events = EventBus(recorder, stamp=self._event_context)
        emit = self.events.emit
        self.commands = Commands(stand)
        self.supervisor = Supervisor(stand, self.commands, emit)
        self.sensors = SensorQualifier(stand, self.supervisor, emit)
        self.ignition = IgnitionMonitor(stand, self.supervisor, self.commands, emit)
        self.throttle = ThrottleController(stand, self.supervisor, self.commands) if stand.throttle else None
        self.redlines = RedlineMonitor(stand, self.supervisor, self.sensors, emit, rate_hz or stand.loop.rate_hz)
        self.start_interlock = StartInterlock(stand, self.supervisor, self.commands, self.ignition, emit)
        self.sequencer = Sequencer(self.supervisor, self.commands, emit, self.redlines, self.ignition, self.throttle,
                                   start=self.start_interlock)
        self.valve_watch = ValveWatch(stand, self.supervisor, self.commands, emit)
        self.client_watch = ClientWatch(self.supervisor)
        self.abort_switch = AbortSwitchWatch(stand, self.abort, emit) if stand.abort_switch else None
        self.authority = Authority(emit)
        self.checkout = checkout(self) if checkout is not None else None
        stages: list[Stage] = [*([self.abort_switch] if self.abort_switch else []), self.sensors, self.ignition,
                               self.sequencer]
        if self.throttle is not None:
            stages.append(self.throttle)
        stages += [self.start_interlock, self.redlines, self.valve_watch, self.client_watch]
        self.sequence: Sequence | None = None
        self.loop = ControlLoop(stand, transport, clock, commands=self.commands, supervisor=self.supervisor,
                                events=self.events, stages=stages, recorder=recorder, rate_hz=rate_hz,
                                link=link(self) if link is not None else None,
                                operator=self.checkout.on_cycle if self.checkout is not None else None)

    def _event_context(self) -> dict[str, Any]:
        """Every event of a running sequence says when in it it happened (T-time); every event
        a client's command causes says which station sent it."""
        seq = self.sequencer
        ctx: dict[str, Any] = {"t_seq": round(seq.seq_t, 4)} if seq.state == RunState.RUNNING else {}
        if self.acting:
            ctx["station"] = self.acting
        return ctx

    # ------------------------------------------------------------------ the read model

    def snapshot(self, *, detail: bool = True, loop_summary: bool = False,
                 last_cycles: int | None = None) -> Snapshot:
        """What the controller is now, as an immutable copy. ``detail=False`` leaves out the
        redline margins, each device's link counters and each channel's age (the costly part, for
        a reader that looks every cycle); ``loop_summary`` adds summary.json's ``loop`` block, over
        the last ``last_cycles`` cycles or the whole run."""
        sup, loop, seq, cs = self.supervisor, self.loop, self.sequencer, self.loop.cs
        st = loop.stats
        running = seq.state == RunState.RUNNING
        current = seq.current if running else None
        summary = (st.summary(last=last_cycles) if last_cycles else st.summary()) if loop_summary else None
        names = loop.decoder.names
        io = loop.io
        rec = loop.recorder
        clock_ms, output_ms = _firmware_clock(loop.decoder.system())
        snap = Snapshot(
            t=loop.t, cycle=loop.cycle, state=sup.state, reason=sup.reason, abort_reason=sup.abort_reason,
            fault_reason=sup.fault_reason, safing=sup.safing.active, comm_ok=sup.comm_ok,
            firmware_state=sup.fw_state, firmware_trips=sup.fw_trips,
            firmware_clock_ms=clock_ms, firmware_output_ms=output_ms, stand=self.stand, stand_path=self.stand_path,
            sequence=self.sequence, running=running, step=seq.step_index,
            step_text=(current.label or current.describe()) if current is not None else "",
            t_seq=seq.seq_t if running else None, prompt=seq.pending(), held_by=seq.held_by,
            authority=self.authority.status(),
            checkout=self.checkout.status() if self.checkout is not None else None,
            redlines=self.redlines.redlines, redlines_tripped=tuple(self.redlines.tripped),
            disqualified=tuple(self.sensors.names()),
            unknown=dict(self.sensors.unknown), pc=cs.pc, pc_setpoint=cs.pc_setpoint,
            values=dict(zip(names, cs.values.tolist())),
            outputs=dict(zip(self.commands.names, self.commands.eng.tolist())),
            loop=LoopFigures(rate_hz=loop.rate_hz, cycles=st.cycles, overruns=st.overruns,
                             failed_cycles=st.failed_cycles, deadlines_due=st.deadlines_due, met_share=st.met_share,
                             recent_met_share=st.recent_met_share(int(RECENT_S * loop.rate_hz))[0]
                             if detail else float("nan"), recent_s=RECENT_S,
                             degraded=loop.degraded, last_error=loop.last_error, realtime=loop.clock.realtime,
                             summary=summary),
            recording=rec is not None and not rec.closed, run_dir=getattr(rec, "current", None))
        if not detail:
            return snap
        return snap._replace(redline_margins=self.redlines.margins(), devices=io.health(), line_stats=io.line_stats(),
                             device_age=io.device_ages(), channel_age=_ages(names, cs.age))

    def warming_up(self) -> bool:
        """True until the link is up and every device and sensor has delivered a fresh, valid reading."""
        loop = self.loop
        return (not self.supervisor.comm_ok or bool(loop.consecutive_failures) or not bool(np.all(loop.cs.valid))
                or bool(loop.io.not_fresh()))

    def add_listener(self, listener: EventListener) -> None:
        """``listener(t, kind, fields)`` hears every event of this controller from now on."""
        self.events.add_listener(listener)

    # ------------------------------------------------------------------ the loop's life

    def begin(self) -> None:
        """Connect every device and take the first deadline (before the first :meth:`step`)."""
        self.loop.start()

    def step(self) -> float:
        """Wait for the next deadline and run one cycle; its loop time."""
        self.loop.step()
        return self.loop.t

    def shutdown(self, reason: str) -> None:
        """Every exit path: safe the stand on the live loop, then close the links."""
        self.loop.shutdown(reason)

    def stop(self) -> None:
        """Ask whoever cycles the loop to stop (``hil serve``'s ``stop``)."""
        self.loop.stop_requested = True

    @property
    def stop_requested(self) -> bool:
        return self.loop.stop_requested

    def event(self, kind: str, **fields: Any) -> None:
        """Log an event now (the loop's time of the last cycle)."""
        self.loop.event(self.loop.t, kind, **fields)

    def fault(self, reason: str) -> None:
        """Latch FAULT (a controller error on an exit path): the safing sequence runs."""
        self.supervisor.fault(self.loop.t, reason)

    @contextmanager
    def acting_for(self, who: str) -> Iterator[None]:
        """The events caused inside say they came from station ``who``."""
        self.acting = who
        try:
            yield
        finally:
            self.acting = ""

    # ------------------------------------------------------------------ operator commands

    def begin_load(self, path: str | Path) -> Future[Sequence]:
        """Start parsing and checking a sequence off the loop thread (SAFE only). A long
        sequence takes hundreds of ms to check; done between two cycles that would silence
        the heartbeat and trip the firmware watchdog."""
        if self.supervisor.state != State.SAFE:
            raise Refused(f"a sequence can only be loaded in SAFE; the stand is {self.supervisor.state.name}")
        fut: Future[Sequence] = Future()

        def work() -> None:
            from hil.rt import background_thread

            background_thread()
            try:
                fut.set_result(load_sequence(path, self.stand))
            except BaseException as exc:  # handed to the loop thread, which reports it
                fut.set_exception(exc)

        threading.Thread(target=work, name="sequence-loader", daemon=True).start()
        return fut

    def finish_load(self, path: str | Path, fut: Future[Sequence]) -> Sequence:
        """Install a sequence :meth:`begin_load` has finished (loop thread)."""
        seq = fut.result()
        if self.supervisor.state != State.SAFE:
            raise Refused(f"the stand left SAFE while the sequence was loading ({self.supervisor.state.name})")
        self.sequence = seq
        self.redlines.install(seq.redlines)
        self.ignition.requires_ignition = seq.requires_ignition
        self.sequencer.load(seq)
        self.loop.event(self.loop.t, "sequence_loaded", name=seq.name, path=str(path), sha256=seq.sha256,
                        steps=len(seq.steps))
        return seq

    def load(self, path: str | Path) -> Sequence:
        """Load and check a sequence, keeping the loop cycling meanwhile on a real clock (in
        lockstep it waits, so a run's virtual timeline does not depend on the parse time)."""
        fut = self.begin_load(path)
        if self.loop.clock.realtime:
            while not fut.done():
                self.loop.step()
        fut.exception()  # waits
        return self.finish_load(path, fut)

    def arm_checks(self) -> list[str]:
        """Every reason the stand may not be armed now (empty: it may)."""
        loop, sup, cs = self.loop, self.supervisor, self.loop.cs
        out = []
        if not sup.comm_ok or loop.consecutive_failures:
            out.append("no communication with the stand")
        if self.sequence is None:
            out.append("no sequence loaded (it must pass check)")
        if not np.all(cs.valid):
            bad = [n for n, ok in zip(loop.decoder.names, cs.valid) if not ok]
            out.append("sensors not reading valid values: " + ", ".join(bad))
        out += loop.io.not_fresh()  # every device has delivered a fresh reading, named if not
        if self.sensors.disqualified.any():
            out.append("disqualified sensors: " + ", ".join(self.sensors.names()))
        for name in sup.open_hazards():
            out.append(f"{name} is commanded open: the stand is not in its safe configuration")
        if self.stand.firmware is not None and sup.fw_state != fw.FwState.NORMAL:
            out.append("the firmware has the stand latched SAFED: reset it first")
        if sup.safing.active:
            out.append("the safing sequence is still running")
        for name in self.valve_watch.disagreeing():
            out.append(f"valve {name} is not following its command (position feedback disagrees)")
        return out + (self.abort_switch.arm_checks() if self.abort_switch else [])


    def arm(self) -> None:
        """SAFE → ARMED, or Refused with every failing check."""
        self.supervisor.arm(self.loop.t, self.arm_checks())
        self.redlines.new_run()

    def start(self) -> None:
        """ARMED → RUNNING: the sequence begins at its first step."""
        if self.sequence is None:
            raise Refused("no sequence loaded")
        self.supervisor.start(self.loop.t)
        self.sequencer.begin(self.loop.t)

    def abort(self, reason: str = "operator abort", source: str = "operator") -> None:
        """Never refused. A checkout in progress ends with it (the safing sequence owns the outputs)."""
        self.supervisor.abort(self.loop.t, reason, source=source)
        if self.checkout is not None:
            self.checkout.abort(f"ABORT from {source}: {reason}")

    def answer(self, index: int, answer: str, client: str) -> None:
        """PROCEED or ABORT to the prompt pending (an ABORT answer aborts the run)."""
        self.sequencer.answer(self.loop.t, index, answer, client)

    def hold(self, client: str) -> None:
        """HOLD the count (before T-0 only)."""
        self.sequencer.hold(self.loop.t, client)

    def resume(self, client: str) -> None:
        """RESUME a held count."""
        self.sequencer.resume(self.loop.t, client)

    def reset(self) -> None:
        """Clear a latched FAULT (and the firmware's latch) when it is safe to."""
        self.supervisor.reset(self.loop.t)

    def set_output(self, name: str, value: float) -> float:
        """Manual output in SAFE; refused when it would open both chamber propellants by hand
        against the staged start (hil/safety/start.py)."""
        why = self.start_interlock.manual_refusal(name, value)
        if why:
            raise Refused(why)
        return self.supervisor.manual_set(self.loop.t, name, value)

    def recalibrate(self, stand: StandConfig) -> None:
        """A new zero taken by a checkout: the same stand with other linear calibrations, read
        so from the next cycle on (and recorded so by the next run)."""
        self.loop.decoder.recalibrate(stand)
        self.stand = stand

    def heard(self, client: str | None) -> None:
        """A client spoke (its lost-client watchdog, if it owns the run, is fed)."""
        self.client_watch.heard(client, self.loop.t)

    def own_watchdog(self, client: str, seconds: float) -> None:
        """``client`` owns the run: silent for ``seconds``, the run is aborted."""
        self.client_watch.own(client, seconds, self.loop.t)

    def authorise(self, client: str, who: str, cmd: str) -> None:
        """Refused unless ``client`` may send ``cmd`` (hil/controller/authority.py)."""
        self.authority.check(self.loop.t, client, who, cmd)

    def authority_command(self, client: str, who: str, cmd: str, request: Mapping[str, Any]) -> dict[str, Any]:
        """take / request / hand over / release command authority."""
        return self.authority.handle(self.loop.t, client, who, cmd, dict(request))

    def begin_checkout(self, kind: str, operator: str = "", seconds: float = 3.0) -> dict[str, Any]:
        """Start a checkout on the desk (SAFE only); its status."""
        if self.checkout is None:
            raise Refused("this controller has no checkout desk")
        job = self.checkout.begin(kind, operator, seconds)
        return dict(job.status())

    def cancel_checkout(self, who: str) -> None:
        """End the checkout in progress (the console's Cancel)."""
        if self.checkout is None:
            raise Refused("no checkout is running")
        self.checkout.cancel(who)


def _ages(names: list[str], age: np.ndarray) -> dict[str, float | None]:
    """Per-channel age in seconds, rounded to 0.1 ms (None: never read)."""
    return {n: round(float(a), 4) if np.isfinite(a) else None for n, a in zip(names, age)}


def _firmware_clock(system: np.ndarray | None) -> tuple[int | None, int | None]:
    """The hil-stand-1 firmware's clock registers as last read (None without that firmware): what
    a reaction is timed on, on the stand's own clock rather than the controller's."""
    if system is None:
        return None, None
    hi, lo = int(system[fw.IR_TIME_MS]), int(system[fw.IR_TIME_MS + 1])
    return (hi << 16) | lo, int(system[fw.IR_OUTPUT_TIME_MS])
