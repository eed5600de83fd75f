"""Fault injection: what can go wrong on a stand, by name and time.

Spec syntax (command line ``--fault`` and tests)::

    NAME[:KEY=VALUE[,KEY=VALUE...]]@START[+DURATION]

START and DURATION are seconds on the simulator's clock; without ``+DURATION`` the fault lasts
for good. Examples: ``ignition_failure@0``, ``late_ignition:delay=0.1@0``,
``valve_stuck:valve=fuel_main,at=closed@3``, ``pc_drift:rate=0.5@4``, ``stop_answering@3+0.5``,
``slow_response:delay=0.02@2``, ``instability:amp=0.2,hz=180@5``, ``crc_error:rate=0.3@2+1``,
``garbage:rate=0.3,bytes=6@2+1``, ``device_late:device=tc,factor=1.5@5``, ``device_silent:device=tc@5``,
``abort_switch@12+2`` (the hardware ABORT button pressed at 12 s and released 2 s later).
"""

from __future__ import annotations

import dataclasses
import math
import random
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from hil.errors import FaultSpecError

if TYPE_CHECKING:
    from collections.abc import Iterable

    from firmware_sim.engine import Engine
    from firmware_sim.sensors import Sensor
    from hil.stand import StandConfig

# name -> {parameter: default}; a default of None means the parameter is required.
FAULTS: dict[str, dict[str, str | None]] = {
    "ignition_failure": {},  # the igniter lights but never lights the main chamber
    "igniter_failure": {},  # the igniter itself never lights: no igniter pressure, no ignition
    "late_ignition": {"delay": "0.1"},
    "valve_stuck": {"valve": None, "at": "here"},
    "pc_dropout": {"channel": ""},
    "pc_frozen": {"channel": ""},
    "pc_drift": {"rate": "0.5", "channel": ""},
    "instability": {"amp": "0.2", "hz": "180"},
    "sensor_offset": {"channel": None, "offset": "0.2"},  # a transducer off by a constant (mis-zeroed)
    "valve_slow": {"valve": None, "factor": "3"},  # a valve stroking this many times slower
    # an action, not a failure: the stand's hardware ABORT button ([abort_switch]) pressed, held for DURATION
    "abort_switch": {},
    # device="" (the default) is every device; a name, that device only (the others keep answering)
    "stop_answering": {"device": ""},
    "slow_response": {"delay": "0.02", "device": ""},
    "exception_response": {"code": "4", "device": ""},  # every request answered with this Modbus exception
    # a slow module that falls behind: after each answer it leaves requests unanswered for
    # factor × its period (rate_hz), so its samples arrive (1 + factor) periods apart at best
    "device_late": {"device": None, "factor": "1.5"},
    "device_silent": {"device": None},
    # a test pattern: every register word of the channel holds the scan number (a 32-bit value's
    # two words are always equal; a torn read shows as two different words)
    "word_pattern": {"channel": None},  # one device stops answering (stop_answering:device=...)
    # the serial line (RTU; lockstep runs model the line byte for byte when one of these is given)
    "crc_error": {"rate": "0.3"},  # this share of answers arrive with a corrupted CRC
    "garbage": {"rate": "0.3", "bytes": "6"},  # this share of answers arrive with line noise before them
}

WIRE_FAULTS = frozenset({"crc_error", "garbage", "slow_response"})  # faults of the line, not the firmware

_SPEC = re.compile(r"^(?P<name>[a-z_]+)(?::(?P<args>[^@]*))?@(?P<start>[^+]+)(?:\+(?P<dur>.+))?$")


@dataclass(frozen=True)
class Fault:
    """One injected fault, active on the simulator clock in [start_s, start_s + duration_s)."""

    name: str
    start_s: float
    duration_s: float = math.inf
    params: dict[str, str] = field(default_factory=dict)

    @property
    def end_s(self) -> float:
        """When the fault clears (inf: never)."""
        return self.start_s + self.duration_s

    def number(self, key: str) -> float:
        """A numeric parameter (validated when the spec was parsed)."""
        return float(self.params[key])

    def spec(self) -> str:
        """The canonical spec string, for logs and run records."""
        args = ",".join(f"{k}={v}" for k, v in self.params.items() if v != "")
        dur = "" if math.isinf(self.duration_s) else f"+{self.duration_s:g}"
        return f"{self.name}{':' + args if args else ''}@{self.start_s:g}{dur}"


def _num(text: str, what: str, spec: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise FaultSpecError(f"fault {spec!r}: {what} must be a number, got {text!r}") from None
    if not math.isfinite(v) or v < 0:
        raise FaultSpecError(f"fault {spec!r}: {what} must be a finite number ≥ 0, got {text!r}")
    return v


def parse_fault(spec: str) -> Fault:
    """Parse one ``--fault`` spec; errors say which part is wrong and list what is allowed."""
    m = _SPEC.match(spec.strip())
    if not m:
        raise FaultSpecError(f"fault {spec!r}: expected NAME[:KEY=VALUE,...]@START[+DURATION]")
    name = m.group("name")
    if name not in FAULTS:
        raise FaultSpecError(f"fault {spec!r}: unknown fault {name!r}; known: {', '.join(sorted(FAULTS))}")
    allowed = FAULTS[name]
    params: dict[str, str] = {k: v for k, v in allowed.items() if v is not None}
    if m.group("args"):
        for item in m.group("args").split(","):
            if "=" not in item:
                raise FaultSpecError(f"fault {spec!r}: argument {item!r} must be KEY=VALUE")
            k, v = (s.strip() for s in item.split("=", 1))
            if k not in allowed:
                raise FaultSpecError(f"fault {spec!r}: {name} takes {', '.join(allowed) or 'no arguments'}, not {k!r}")
            params[k] = v
    for k, v in allowed.items():
        if v is None and k not in params:
            raise FaultSpecError(f"fault {spec!r}: {name} needs {k}=...")
    for k in ("delay", "rate", "amp", "hz", "code", "bytes", "factor"):
        if k in params:
            _num(params[k], k, spec)
    if name in ("crc_error", "garbage") and float(params["rate"]) > 1.0:
        raise FaultSpecError(f"fault {spec!r}: rate is a share of answers, 0 to 1")
    if name == "valve_stuck" and params["at"] not in ("open", "closed", "here"):
        try:
            pct = float(params["at"])
        except ValueError:
            pct = -1.0
        if not 0.0 <= pct <= 100.0:
            raise FaultSpecError(f"fault {spec!r}: at= is open, closed, here or a position 0-100 %, got {params['at']!r}")
    start = _num(m.group("start"), "start time", spec)
    dur = _num(m.group("dur"), "duration", spec) if m.group("dur") else math.inf
    return Fault(name=name, start_s=start, duration_s=dur, params=params)


def check_for_stand(faults: Iterable[Fault], stand: StandConfig) -> None:
    """Refuse, before anything starts, a fault this stand cannot have (pressing an abort switch
    it does not declare)."""
    if stand.abort_switch is None and any(f.name == "abort_switch" for f in faults):
        raise FaultSpecError(f"fault abort_switch: stand {stand.name!r} declares no [abort_switch] to press")


class Faultable(Protocol):
    """What a fault changes in a running firmware (firmware_sim/firmware.py): its plant, its
    sensors and how it answers on the wire. Declared here, so this module need not import the
    firmware that imports it."""

    @property
    def stand(self) -> StandConfig: ...

    @property
    def engine(self) -> Engine: ...

    @property
    def by_name(self) -> dict[str, Sensor]: ...

    @property
    def late(self) -> dict[str, float]: ...

    @property
    def silent(self) -> set[str]: ...

    @property
    def delays(self) -> dict[str, float]: ...

    @property
    def exceptions(self) -> dict[str, int]: ...

    @property
    def wire_rng(self) -> random.Random: ...

    answering: bool
    response_delay_s: float
    exception_code: int
    crc_error_rate: float
    garbage_rate: float
    garbage_bytes: int
    wire_corrupted: int


def _sensor_for(fw: Faultable, f: Fault) -> Sensor:
    name = f.params.get("channel") or fw.stand.limits.pc_channel
    return fw.by_name[fw.stand.channel(name).name]

def set_fault(fw: Faultable, f: Fault, on: bool) -> None:
    """Switch one fault on or off in a running firmware: what each fault does to the stand."""
    eng = fw.engine
    if f.name == "ignition_failure":
        eng.igniter_healthy = not on
    elif f.name == "igniter_failure":
        eng.igniter_fails = on
    elif f.name == "late_ignition":
        eng.extra_ignition_delay_s = f.number("delay") if on else 0.0
    elif f.name == "valve_stuck":
        drives = fw.stand.actuator(f.params["valve"]).drives
        attr = {"ox_valve": "ox", "fuel_valve": "fuel", "gg_valve": "gg", "ox_iso": "ox_iso", "fuel_iso": "fuel_iso"}[drives]
        at = f.params["at"]
        pos = {"open": 1.0, "closed": 0.0, "here": getattr(eng, f"pos_{attr}")}.get(at)
        setattr(eng, f"stuck_{attr}", (float(at) / 100.0 if pos is None else pos) if on else None)
    elif f.name == "pc_dropout":
        _sensor_for(fw, f).dropout = on
    elif f.name == "pc_frozen":
        s = _sensor_for(fw, f)
        if on:
            s.freeze(eng)
        else:
            s.frozen = None
    elif f.name == "pc_drift":
        s = _sensor_for(fw, f)
        s.drift_rate, s.drift_t0 = (f.number("rate"), eng.t) if on else (0.0, 0.0)
    elif f.name == "word_pattern":
        _sensor_for(fw, f).pattern = on
    elif f.name == "sensor_offset":
        _sensor_for(fw, f).offset = f.number("offset") if on else 0.0
    elif f.name == "valve_slow":
        slow = {"ox_valve": "ox", "fuel_valve": "fuel", "gg_valve": "gg"}.get(fw.stand.actuator(f.params["valve"]).drives)
        if slow is None:
            raise FaultSpecError(f"valve_slow: {f.params['valve']!r} is not a main or GG valve of the plant")
        setattr(eng, f"slow_{slow}", max(1.0, f.number("factor")) if on else 1.0)
    elif f.name == "abort_switch":
        sw = fw.stand.abort_switch
        if sw is None:
            raise FaultSpecError(f"abort_switch: stand {fw.stand.name!r} declares no [abort_switch]")
        eng.abort_switch = float(sw.active if on else 1 - sw.active)
    elif f.name == "instability":
        eng.instability_amp = f.number("amp") if on else 0.0
        if on:
            eng.set_params(dataclasses.replace(eng.p, instability_hz=f.number("hz")))
    elif f.name == "device_late":
        d = fw.stand.device(f.params["device"])
        period = 1.0 / (d.rate_hz or fw.stand.loop.rate_hz)
        if on:
            fw.late[d.name] = f.number("factor") * period
        else:
            fw.late.pop(d.name, None)
    elif f.name == "device_silent":
        dev = fw.stand.device(f.params["device"]).name
        fw.silent.add(dev) if on else fw.silent.discard(dev)
    elif f.name in ("stop_answering", "slow_response", "exception_response") and f.params.get("device"):
        dev = f.params["device"]
        fw.stand.device(dev)  # KeyError names an unknown device
        if f.name == "stop_answering":
            fw.silent.add(dev) if on else fw.silent.discard(dev)
        elif f.name == "slow_response":
            fw.delays[dev] = f.number("delay") if on else 0.0
        else:
            fw.exceptions[dev] = int(f.number("code")) if on else 0
    elif f.name == "stop_answering":
        fw.answering = not on
    elif f.name == "slow_response":
        fw.response_delay_s = f.number("delay") if on else 0.0
    elif f.name == "exception_response":
        fw.exception_code = int(f.number("code")) if on else 0
    elif f.name == "crc_error":
        fw.crc_error_rate = f.number("rate") if on else 0.0
    elif f.name == "garbage":
        fw.garbage_rate = f.number("rate") if on else 0.0
        fw.garbage_bytes = int(f.number("bytes"))


def corrupt_rtu(fw: Faultable, frame: bytes) -> bytes:
    """What an RTU answer looks like after the line faults: a flipped CRC bit, noise before
    the frame. Deterministic per seed, so a failing fault-matrix cell replays exactly."""
    if not frame or not (fw.crc_error_rate or fw.garbage_rate):
        return frame
    rng = fw.wire_rng
    out = frame
    if fw.crc_error_rate and rng.random() < fw.crc_error_rate:
        out = out[:-1] + bytes([out[-1] ^ (1 << rng.randrange(8))])
        fw.wire_corrupted += 1
    if fw.garbage_rate and rng.random() < fw.garbage_rate:
        out = bytes(rng.randrange(256) for _ in range(max(1, fw.garbage_bytes))) + out
        fw.wire_corrupted += 1
    return out
