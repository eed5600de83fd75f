"""The controller: the control loop with its stages (sensors, ignition, sequence, throttle,
redlines, valve watch, client watch), and the operator commands (load, arm, start, abort, set,
reset) that clients send.

Built the same way for a headless run, for ``hil serve`` and for tests; only the transport,
the clock, the recorder and the client link differ. The stages are created once per controller
and listed in cycle order here — the only place the order is written (hil/cycle.py says why).
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hil.authority import Authority
from hil.clock import Clock
from hil.cycle import Stage
from hil.errors import ConfigError, Refused, SequenceInvalid
from hil.frames import FrameLayout
from hil.loop import ClientLink, ControlLoop, EventBus, RecordSink
from hil.record.recorder import Recorder
from hil.safety import (
    STATE_NAMES,
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
from hil.stand import Redline, StandConfig
from hil.stand import firmware_map as fw
from hil.stand.iomap import Commands
from hil.throttle import ThrottleController
from hil.transport.base import Transport


class Controller:
    """Owns a ControlLoop and answers operator commands between its cycles."""

    def __init__(self, stand: StandConfig, transport: Transport | dict[str, Transport], clock: Clock, *,
                 recorder: RecordSink | None = None, rate_hz: float | None = None,
                 link: Callable[[Controller], ClientLink] | None = None, stand_path: str | Path | None = None) -> None:
        self.stand = stand
        self.stand_path = Path(stand_path) if stand_path is not None else None  # where a zero file goes
        self.events = EventBus(recorder)
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
        from hil.checkout.desk import CheckoutDesk  # here: hil.checkout's command line imports this module

        self.checkout = CheckoutDesk(self)
        stages: list[Stage] = [*([self.abort_switch] if self.abort_switch else []), self.sensors, self.ignition,
                               self.sequencer]
        if self.throttle is not None:
            stages.append(self.throttle)
        stages += [self.start_interlock, self.redlines, self.valve_watch, self.client_watch]
        self.sequence: Sequence | None = None
        self.acting = ""  # the station whose command is being handled (stamped on its events)
        self.events.stamp = self._event_context
        self.loop = ControlLoop(stand, transport, clock, commands=self.commands, supervisor=self.supervisor,
                                events=self.events, stages=stages, recorder=recorder, rate_hz=rate_hz,
                                link=link(self) if link is not None else None)

    def _event_context(self) -> dict[str, Any]:
        """Every event of a running sequence says when in it it happened (T-time); every event
        a client's command causes says which station sent it."""
        seq = self.sequencer
        ctx: dict[str, Any] = {"t_seq": round(seq.seq_t, 4)} if seq.state == RunState.RUNNING else {}
        if self.acting:
            ctx["station"] = self.acting
        return ctx

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

    def warming_up(self) -> bool:
        """True until the link is up and every device and sensor has delivered a fresh, valid reading."""
        loop = self.loop
        return (not self.supervisor.comm_ok or bool(loop.consecutive_failures) or not bool(np.all(loop.cs.valid))
                or bool(loop.io.not_fresh()))

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

    def status(self) -> dict[str, Any]:
        """What a client shows in its status bar."""
        sup, loop, seq = self.supervisor, self.loop, self.sequencer
        st = loop.stats
        return {
            "state": sup.state.name, "reason": sup.reason, "t": round(loop.t, 4),
            "comm_ok": sup.comm_ok, "firmware_state": sup.fw_state, "firmware_trips": sup.fw_trips,
            "sequence": self.sequence.name if self.sequence else None,
            "sequence_sha256": self.sequence.sha256 if self.sequence else None,
            "step": seq.step_index,
            "t_seq": round(seq.seq_t, 4) if seq.state == RunState.RUNNING else None,
            "recording": loop.recorder is not None and not loop.recorder.closed,
            "cycles": st.cycles, "overruns": st.overruns, "failed_cycles": st.failed_cycles,
            "deadlines_due": st.deadlines_due, "deadlines_met_share": st.met_share,
            "recent_met_share": st.recent_met_share(int(RECENT_S * loop.rate_hz))[0], "recent_s": RECENT_S,
            "loop_degraded": loop.degraded, "last_error": loop.last_error or None,
            "abort_reason": sup.abort_reason, "fault_reason": sup.fault_reason,
            "disqualified": self.sensors.names(),
            "devices": loop.io.health(),
            "line_stats": loop.io.line_stats(),
            # how old each device's and channel's last reading is (s; None: never read), and
            # why a channel has no value now: what a console shows beside a held value
            "device_age": loop.io.device_ages(),
            "channel_age": _ages(loop.decoder.names, loop.cs.age),
            "unknown": dict(self.sensors.unknown),
            "prompt": seq.pending(),
            "run_dir": str(getattr(loop.recorder, "current", None) or "") or None,
            "authority": self.authority.status(),
            "held_by": seq.held_by,
            "checkout": self.checkout.status(),
        }

    def meta(self) -> dict[str, Any]:
        """How to read the telemetry rows (columns, units, states) and the stand's outputs."""
        return stand_meta(self.stand, self.redlines.redlines, self.loop.rate_hz)

    def handle(self, request: dict[str, Any]) -> dict[str, Any] | Deferred:
        """One client request → an explicit ack or a refusal with its reason; for ``load`` a
        :class:`Deferred` whose reply the service sends when the parse is done."""
        who = _who(request)
        self.acting = who
        try:
            return self._handle(request, who)
        finally:
            self.acting = ""

    def _handle(self, request: dict[str, Any], who: str) -> dict[str, Any] | Deferred:
        cmd = request.get("cmd")
        self.client_watch.heard(request.get("client"), self.loop.t)
        client = str(request.get("client") or who)
        if cmd in ("take_authority", "request_authority", "hand_over", "release_authority"):
            return self._answer(cmd, lambda: self.authority.handle(self.loop.t, client, who, str(cmd), request))
        try:
            self.authority.check(self.loop.t, client, who, str(cmd))
        except Refused as exc:
            return self._refusal(cmd, exc)
        if (job := self.checkout.job) is not None and cmd in BUSY_DURING_CHECKOUT:
            return self._refusal(cmd, Refused(f"a checkout is running ({job.kind}: {job.phase}); "
                                              "wait for it or cancel it"))
        if cmd == "load":
            try:
                path = str(request["path"])
                fut = self.begin_load(path)
            except Exception as exc:
                return self._refusal(cmd, exc)
            return Deferred(fut, lambda: self._as(who, lambda: self._answer(
                cmd, lambda: self._loaded(self.finish_load(path, fut)))))
        return self._answer(cmd, lambda: self._dispatch(cmd, request))

    def _as(self, who: str, fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """Run ``fn`` (a deferred reply) with its events stamped with ``who``."""
        self.acting = who
        try:
            return fn()
        finally:
            self.acting = ""

    @staticmethod
    def _loaded(seq: Sequence) -> dict[str, Any]:
        """What ``load`` and ``sequence`` reply: the timeline a console shows."""
        return {"ok": True, "name": seq.name, "sha256": seq.sha256, "steps": [
            {"at": s.at, "what": s.describe(), "line": s.line, "label": s.label} for s in seq.steps]}

    def _answer(self, cmd: Any, fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        try:
            return fn()
        except Exception as exc:
            return self._refusal(cmd, exc)

    def _refusal(self, cmd: Any, exc: Exception) -> dict[str, Any]:
        """The reply for a command that raised; anything unexpected propagates (a bug)."""
        if isinstance(exc, Refused):
            self.loop.event(self.loop.t, "refused", cmd=cmd, reason=str(exc))
            return {"ok": False, "refused": str(exc)}
        if isinstance(exc, SequenceInvalid):
            return {"ok": False, "refused": "sequence check failed", "errors": [str(e) for e in exc.errors]}
        if isinstance(exc, (ConfigError, KeyError, ValueError, TypeError)):
            return {"ok": False, "refused": f"bad request: {exc}"}
        raise exc

    def _dispatch(self, cmd: Any, request: dict[str, Any]) -> dict[str, Any]:
        if cmd == "ping":
            return {"ok": True, "t": self.loop.t}
        if cmd == "status":
            return {"ok": True, **self.status()}
        if cmd == "meta":
            return {"ok": True, **self.meta()}
        if cmd == "sequence":  # any station, authority or not: the loaded timeline
            if self.sequence is None:
                raise Refused("no sequence loaded")
            return self._loaded(self.sequence)
        if cmd == "loop_stats":
            return {"ok": True, **self.loop.stats.summary(last=int(request.get("last", 10000)))}
        if cmd == "abort":
            self.abort(str(request.get("reason") or "operator abort"), source=str(request.get("source", "client")))
            return {"ok": True, "state": self.supervisor.state.name}
        if cmd == "arm":
            self.arm()
        elif cmd == "start":
            self.start()
            if request.get("watchdog_s") and request.get("client"):
                self.client_watch.own(str(request["client"]), float(request["watchdog_s"]), self.loop.t)
        elif cmd == "answer":
            self.answer(int(request["index"]), str(request["answer"]), _who(request))
        elif cmd == "hold":
            self.hold(_who(request))
        elif cmd == "resume":
            self.resume(_who(request))
        elif cmd == "reset":
            self.reset()
        elif cmd == "set":
            v = self.set_output(str(request["name"]), float(request["value"]))
            return {"ok": True, "value": v}
        elif cmd == "checkout":
            job = self.checkout.begin(str(request["kind"]), _who(request), float(request.get("seconds", 3.0)))
            return {"ok": True, **job.status()}
        elif cmd == "cancel_checkout":
            self.checkout.cancel(_who(request))
        elif cmd == "stop":
            self.loop.stop_requested = True
        else:
            return {"ok": False, "refused": f"unknown command {cmd!r}"}
        return {"ok": True, "state": self.supervisor.state.name}


# what a checkout in progress refuses (it holds the outputs): ABORT, status and authority stay
BUSY_DURING_CHECKOUT = ("load", "arm", "start", "set", "reset", "hold", "resume", "answer", "checkout")

RECENT_S = 10.0  # the status's "now" figure for the loop: deadlines met over the last 10 s


def _who(request: dict[str, Any]) -> str:
    """Who sent a request, for the record: the authenticated key name the service put in
    (``_user``), else the name the client gives, else its id."""
    return str(request.get("_user") or request.get("name") or request.get("client") or "unknown client")


@dataclass
class Deferred:
    """A reply that is not ready yet: the service sends ``finish()`` once ``future`` is done."""

    future: Future[Any]
    finish: Callable[[], dict[str, Any]]


def stand_meta(stand: StandConfig, redlines: tuple[Redline, ...], rate_hz: float) -> dict[str, Any]:
    """What a client needs to show a stand's data: the row layout of telemetry (and of a replay),
    channels, actuators, redlines, and what a checkout would zero and time."""
    from hil.checkout.jobs import timed_valves

    return {"stand": stand.name, "states": list(STATE_NAMES),
            "columns": list(FrameLayout.of(stand).columns),
            "channels": [{"name": c.name, "units": c.units, "valid": list(c.valid), "description": c.description,
                          "role": c.role, "plot": stand.plot_of(c)} for c in stand.channels],
            "actuators": [{"name": a.name, "kind": a.kind, "range": list(a.range), "units": a.units,
                           "propellant": a.propellant, "feedback": a.feedback, "feeds": a.feeds}
                          for a in stand.actuators],
            "pid": None if stand.pid is None else {
                "components": [dataclasses.asdict(c) for c in stand.pid.components],
                "lines": [{"fluid": ln.fluid, "path": list(ln.path)} for ln in stand.pid.lines]},
            "pc_channels": list(stand.limits.pc_channels or (stand.limits.pc_channel,)),
            "redlines": [{"name": r.name, "channels": list(r.channels), "min": r.min, "max": r.max,
                          "min_frac": r.min_frac, "max_frac": r.max_frac} for r in redlines],
            "pc_rated": stand.limits.pc_rated, "pc_channel": stand.limits.pc_channel, "rate_hz": rate_hz,
            "checkout": {"zero": [c.name for c in stand.channels if c.zero_limit > 0],
                         "valves": [a.name for a in timed_valves(stand)]}}


def new_recorder(run_dir: str | Path, stand: StandConfig) -> Recorder:
    """A recorder with this stand's columns."""
    return Recorder(run_dir, FrameLayout.of(stand), states=STATE_NAMES)


def _ages(names: list[str], age: np.ndarray) -> dict[str, float | None]:
    """Per-channel age in seconds, rounded to 0.1 ms (None: never read)."""
    return {n: round(float(a), 4) if np.isfinite(a) else None for n, a in zip(names, age)}
