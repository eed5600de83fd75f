"""The controller: one control loop with its supervisor, redlines, sequencer and throttle
controller, and the operator commands (load, arm, start, abort, set, reset) that clients send.

Built the same way for a headless run, for ``hil serve`` and for tests; only the transport,
the clock and the recorder differ.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hil import firmware_map as fw
from hil.clock import Clock
from hil.config import StandConfig
from hil.errors import ConfigError
from hil.loop import ControlLoop
from hil.recorder import Recorder
from hil.safety import STATE_NAMES, RedlineMonitor, Refused, State
from hil.sequence import Sequence, SequenceInvalid, load_sequence
from hil.sequence.engine import Sequencer
from hil.throttle import ThrottleController
from hil.transport.base import Transport
from hil.valve_watch import ValveWatch


class Controller:
    """Owns a ControlLoop and answers operator commands between its cycles."""

    def __init__(self, stand: StandConfig, transport: Transport, clock: Clock, *,
                 recorder: Recorder | None = None, rate_hz: float | None = None) -> None:
        self.stand = stand
        self.loop = ControlLoop(stand, transport, clock, recorder=recorder, rate_hz=rate_hz)
        self.redlines = RedlineMonitor(stand)
        self.throttle = ThrottleController(stand) if stand.throttle else None
        self.sequence: Sequence | None = None
        self.sequencer: Sequencer | None = None
        self.client_watch = ClientWatch()
        self.valve_watch = ValveWatch(stand)
        self._hooks()

    def _hooks(self) -> None:
        hooks: list[Any] = [self.redlines, self.valve_watch, self.client_watch]
        if self.sequencer is not None:
            hooks.append(self.sequencer)
        if self.throttle is not None:
            hooks.append(self.throttle)
        self.loop.hooks = hooks

    @property
    def supervisor(self):  # noqa: ANN201 - convenience
        return self.loop.supervisor

    # ------------------------------------------------------------------ operator commands

    def begin_load(self, path: str | Path) -> Future[Sequence]:
        """Start parsing and checking a sequence off the loop thread (SAFE only). A long
        sequence takes hundreds of ms to check; done between two cycles that would silence
        the heartbeat and trip the firmware watchdog."""
        if self.loop.supervisor.state != State.SAFE:
            raise Refused(f"a sequence can only be loaded in SAFE; the stand is {self.loop.supervisor.state.name}")
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
        if self.loop.supervisor.state != State.SAFE:
            raise Refused(f"the stand left SAFE while the sequence was loading ({self.loop.supervisor.state.name})")
        self.sequence = seq
        self.redlines = RedlineMonitor(self.stand, seq.redlines)
        self.sequencer = Sequencer(seq, self.redlines, self.throttle)
        self._hooks()
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
        loop, sup = self.loop, self.loop.supervisor
        out = []
        if not sup.comm_ok or loop.consecutive_failures:
            out.append("no communication with the stand")
        if self.sequencer is None:
            out.append("no sequence loaded (it must pass check)")
        if not np.all(loop.valid):
            bad = [n for n, ok in zip(loop.decoder.names, loop.valid) if not ok]
            out.append("sensors not reading valid values: " + ", ".join(bad))
        if self.redlines.disqualified.any():
            out.append("disqualified sensors: " + ", ".join(
                c.name for c, d in zip(self.stand.channels, self.redlines.disqualified) if d))
        for a in self.stand.actuators:
            if (a.propellant != "none" or a.kind == "igniter") and loop.commands.get(a.name) != 0:
                out.append(f"{a.name} is commanded open: the stand is not in its safe configuration")
        if self.stand.firmware is not None and sup.fw_state != fw.FwState.NORMAL:
            out.append("the firmware has the stand latched SAFED: reset it first")
        if sup.safing.active:
            out.append("the safing sequence is still running")
        for name in self.valve_watch.disagreeing():
            out.append(f"valve {name} is not following its command (position feedback disagrees)")
        return out

    def warming_up(self) -> bool:
        """True until the link is up and every sensor has delivered a valid reading."""
        loop = self.loop
        return not loop.supervisor.comm_ok or bool(loop.consecutive_failures) or not bool(np.all(loop.valid))

    def arm(self) -> None:
        """SAFE → ARMED, or Refused with every failing check."""
        self.loop.supervisor.arm(self.loop.t, self.arm_checks())

    def start(self) -> None:
        """ARMED → RUNNING: the sequence begins at its first step."""
        if self.sequencer is None:
            raise Refused("no sequence loaded")
        self.loop.supervisor.start(self.loop.t)
        self.sequencer.begin(self.loop)

    def abort(self, reason: str = "operator abort", source: str = "operator") -> None:
        """Never refused."""
        self.loop.supervisor.abort(self.loop.t, reason, source=source)

    def reset(self) -> None:
        """Clear a latched FAULT (and the firmware's latch) when it is safe to."""
        self.loop.supervisor.reset(self.loop.t)

    def set_output(self, name: str, value: float) -> float:
        """Manual output in SAFE."""
        return self.loop.supervisor.manual_set(self.loop.t, name, value)

    def status(self) -> dict[str, Any]:
        """What a client shows in its status bar."""
        sup, loop = self.loop.supervisor, self.loop
        st = loop.stats
        return {
            "state": sup.state.name, "reason": sup.reason, "t": round(loop.t, 4),
            "comm_ok": sup.comm_ok, "firmware_state": sup.fw_state, "firmware_trips": sup.fw_trips,
            "sequence": self.sequence.name if self.sequence else None,
            "step": self.sequencer.step_index if self.sequencer else -1,
            "t_seq": round(self.sequencer.seq_t, 4) if self.sequencer and self.sequencer.state == "running" else None,
            "recording": loop.recorder is not None and not loop.recorder.closed,
            "cycles": st.cycles, "overruns": st.overruns, "failed_cycles": st.failed_cycles,
            "abort_reason": sup.abort_reason, "fault_reason": sup.fault_reason,
            "disqualified": [c.name for c, d in zip(self.stand.channels, self.redlines.disqualified) if d],
        }

    def meta(self) -> dict[str, Any]:
        """How to read the telemetry rows (columns, units, states) and the stand's outputs."""
        return stand_meta(self.stand, self.redlines.redlines, self.loop.rate_hz)

    def handle(self, request: dict[str, Any]) -> dict[str, Any] | Deferred:
        """One client request → an explicit ack or a refusal with its reason; for ``load`` a
        :class:`Deferred` whose reply the service sends when the parse is done."""
        cmd = request.get("cmd")
        self.client_watch.heard(request.get("client"), self.loop.t)
        if cmd == "load":
            try:
                path = str(request["path"])
                fut = self.begin_load(path)
            except Exception as exc:
                return self._refusal(cmd, exc)
            return Deferred(fut, lambda: self._answer(cmd, lambda: self._loaded(self.finish_load(path, fut))))
        return self._answer(cmd, lambda: self._dispatch(cmd, request))

    @staticmethod
    def _loaded(seq: Sequence) -> dict[str, Any]:
        return {"ok": True, "name": seq.name, "steps": [
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
        if cmd == "loop_stats":
            return {"ok": True, **self.loop.stats.summary(last=int(request.get("last", 10000)))}
        if cmd == "abort":
            self.abort(str(request.get("reason") or "operator abort"), source=str(request.get("source", "client")))
            return {"ok": True, "state": self.loop.supervisor.state.name}
        if cmd == "arm":
            self.arm()
        elif cmd == "start":
            self.start()
            if request.get("watchdog_s") and request.get("client"):
                self.client_watch.own(str(request["client"]), float(request["watchdog_s"]), self.loop.t)
        elif cmd == "reset":
            self.reset()
        elif cmd == "set":
            v = self.set_output(str(request["name"]), float(request["value"]))
            return {"ok": True, "value": v}
        elif cmd == "stop":
            self.loop.stop_requested = True
        else:
            return {"ok": False, "refused": f"unknown command {cmd!r}"}
        return {"ok": True, "state": self.loop.supervisor.state.name}


@dataclass
class Deferred:
    """A reply that is not ready yet: the service sends ``finish()`` once ``future`` is done."""

    future: Future[Any]
    finish: Callable[[], dict[str, Any]]


def stand_meta(stand: StandConfig, redlines: Any, rate_hz: float) -> dict[str, Any]:
    """What a client needs to show a stand's data: the row layout of telemetry (and of a replay),
    channels, actuators, redlines."""
    return {"stand": stand.name, "states": list(STATE_NAMES),
            "columns": ["time", "state", "step", "pc_setpoint", *(c.name for c in stand.channels),
                        *(f"cmd.{a.name}" for a in stand.actuators)],
            "channels": [{"name": c.name, "units": c.units, "valid": list(c.valid), "description": c.description}
                         for c in stand.channels],
            "actuators": [{"name": a.name, "kind": a.kind, "range": list(a.range), "units": a.units,
                           "propellant": a.propellant, "feedback": a.feedback} for a in stand.actuators],
            "redlines": [{"name": r.name, "channels": list(r.channels), "min": r.min, "max": r.max,
                          "min_frac": r.min_frac, "max_frac": r.max_frac} for r in redlines],
            "pc_rated": stand.limits.pc_rated, "pc_channel": stand.limits.pc_channel, "rate_hz": rate_hz}


class ClientWatch:
    """Lost client during a burn: a client that starts a run with ``watchdog_s`` promises to
    be heard from (any request, e.g. ``ping``) at least that often while the stand is ARMED or
    RUNNING; silence longer than that aborts the run (the console does this; a script may)."""

    def __init__(self) -> None:
        self.owner: str | None = None
        self.timeout_s = 0.0
        self.last_heard = 0.0

    def own(self, client: str, timeout_s: float, t: float) -> None:
        self.owner, self.timeout_s, self.last_heard = client, timeout_s, t

    def heard(self, client: Any, t: float) -> None:
        if client is not None and client == self.owner:
            self.last_heard = t

    def on_cycle(self, loop: Any) -> None:
        if self.owner is None:
            return
        sup = loop.supervisor
        if sup.state not in (State.ARMED, State.RUNNING):
            self.owner = None  # the run is over: nobody has to keep talking
            return
        if loop.t - self.last_heard > self.timeout_s:
            who, self.owner = self.owner, None
            sup.abort(loop.t, f"lost client during a burn: no word from {who} for {self.timeout_s:g} s",
                      source="client-watch")


def new_recorder(run_dir: str | Path, stand: StandConfig) -> Recorder:
    """A recorder with this stand's columns."""
    return Recorder(run_dir, [c.name for c in stand.channels], [a.name for a in stand.actuators],
                    states=STATE_NAMES, extra_float=("pc_setpoint", "throttle_output"))
