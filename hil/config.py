"""Stand configuration: one TOML file describes a stand's registers, calibrations, actuators,
firmware interlocks and safing sequence.

It is the single source of truth for the register map: the simulated firmware lays out its
register image from it and the controller decodes with it, so the two cannot drift apart.
Loading validates everything up front into frozen dataclasses; every error names the file,
the key and the line, because a test engineer fixing a config at the stand needs the line.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import re
import tomllib
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from hil import firmware_map as fw
from hil.channels import Calibration, Linear, Polynomial, Table, is_monotonic
from hil.errors import ConfigError
from hil.registers import WIDTH, WORD_ORDERS, raw_range

ACTUATOR_KINDS = ("valve", "proportional", "igniter", "purge")
PROPELLANTS = ("ox", "fuel", "none")
ENGINE_PRESETS = ("tq12", "lab")
PLANT_INPUTS = ("ox_valve", "fuel_valve", "gg_valve", "ox_iso", "fuel_iso", "igniter", "purge")
WATCHDOG_ENGAGE = ("first-heartbeat", "always", "never")


@dataclass(frozen=True)
class TransportConfig:
    """How the controller reaches the stand."""

    kind: str  # "tcp" or "rtu"
    host: str = "127.0.0.1"
    port: int = 5020
    device: str = ""
    baud: int = 115200
    parity: str = "N"
    stopbits: int = 1
    unit: int = 1
    timeout_s: float = 0.05
    retries: int = 1


@dataclass(frozen=True)
class LoopConfig:
    """Controller loop rate and when missed cycles become a communication fault."""

    rate_hz: float = 1000.0
    comm_loss_cycles: int = 20
    heartbeat_hz: float = 100.0
    # a run is aborted when the loop holds less than this share of its rate over the window
    # (a sluggish device, a noisy line): redlines checked at a tenth of their rate are not redlines
    min_rate_pct: float = 20.0
    rate_window_s: float = 0.5


@dataclass(frozen=True)
class FirmwareConfig:
    """The stand firmware's own interlocks (hil-stand-1 protocol)."""

    protocol: str = fw.PROTOCOL
    scan_hz: float = 1000.0
    watchdog_s: float = 0.1
    watchdog_engage: str = "first-heartbeat"
    overpressure_channel: str = ""
    overpressure_limit: float = float("inf")
    overpressure_samples: int = 3


@dataclass(frozen=True)
class Channel:
    """One sensor: where it is, how to decode it, and (for the simulator) what feeds it."""

    name: str
    register: int
    type: str
    calibration: Calibration
    units: str = ""
    valid: tuple[float, float] = (float("-inf"), float("inf"))
    word_order: str = "big"
    table: str = "input"  # "input" (function code 4) or "holding" (function code 3)
    frozen_s: float = 0.0  # disqualify when the raw value has not changed for this long (0: never)
    source: str = ""
    description: str = ""

    @property
    def width(self) -> int:
        """Registers this channel occupies."""
        return WIDTH[self.type]


@dataclass(frozen=True)
class Actuator:
    """One commanded output in a holding register: eng value = raw * scale."""

    name: str
    kind: str
    register: int
    propellant: str = "none"
    scale: float = 1.0
    range: tuple[float, float] = (0.0, 1.0)
    units: str = ""
    feedback: str = ""
    drives: str = ""
    feeds: str = "chamber"  # "chamber" (a main valve: opening one of each starts a burn), "gg" or "isolation"
    description: str = ""


@dataclass(frozen=True)
class SafingStep:
    """At ``at_s`` seconds after safing starts, set these actuators (engineering values)."""

    at_s: float
    set: tuple[tuple[str, float], ...]


@dataclass(frozen=True)
class Limits:
    """Engine limits the sequences and the throttle controller are checked against."""

    pc_channel: str = "pc"
    pc_channels: tuple[str, ...] = ()  # redundant Pc transducers the controller votes over
    pc_rated: float = 0.0
    throttle_min_pct: float = 40.0
    throttle_max_pct: float = 110.0
    # a valve with position feedback that stays further than this from its command for longer
    # than valve_track_s is not following it (stuck, broken linkage, lost air)
    valve_track_pct: float = 10.0
    valve_track_s: float = 0.5


@dataclass(frozen=True)
class Redline:
    """A limit checked every cycle, outside any sequence.

    Trips after ``persistence`` consecutive violating samples. Absolute (``min``/``max``),
    relative to the commanded chamber pressure (``min_frac``/``max_frac`` of ``pc_setpoint``,
    checked ``settle_s`` after the setpoint last moved), or on the rate of change
    (``max_rate`` units/s). Several ``channels`` vote: the median of the qualified ones counts.
    """

    name: str
    channels: tuple[str, ...]
    min: float = -math.inf
    max: float = math.inf
    min_frac: float = -math.inf
    max_frac: float = math.inf
    max_rate: float = math.inf
    settle_s: float = 0.0
    persistence: int = 3
    when: str = "always"  # "always", "running" (RUNNING only), "burning" (after ignition is confirmed)
    enabled: bool = True  # False: a sequence has to enable it (phase-gated)
    line: int | None = None

    @property
    def relative(self) -> bool:
        """Checked against the commanded Pc rather than a fixed number."""
        return math.isfinite(self.min_frac) or math.isfinite(self.max_frac)


@dataclass(frozen=True)
class ThrottleConfig:
    """Closed-loop chamber-pressure control: which outputs it drives and its PI gains.

    ``feedforward`` maps Pc (fraction of rated) to the throttle output (%) at steady state,
    the starting point the PI corrects from; ``ratio`` gives each further actuator's position
    as a multiple of the first. Moving both main valves of a pressure-fed engine together
    holds O/F by construction when their valve/injector area ratios match (they do on the
    simulated stands); a pump-fed engine throttled through its GG keeps O/F the same way.
    """

    actuators: tuple[str, ...]
    kp: float  # % per MPa
    ki: float  # % per MPa·s
    feedforward: tuple[tuple[float, float], ...]
    ratio: tuple[float, ...] = ()
    slew: float = 1.0  # default setpoint slew, MPa/s
    out_slew: float = 50.0  # %/s limit on the output


@dataclass(frozen=True)
class IgnitionConfig:
    """How the controller confirms ignition and when a relight is allowed."""

    channel: str = "pc"
    confirm_above: float = 0.0  # ignition is confirmed when the channel exceeds this
    window_s: float = 1.5  # ... within this long after both propellants are commanded open
    relight_below: float = 0.2  # relight inhibited until the channel is below this
    min_off_s: float = 2.0  # and the engine has been off this long
    min_purge_s: float = 1.0  # with at least this much purge since shutdown


@dataclass(frozen=True)
class SimConfig:
    """Only for simulated stands: which engine preset the firmware simulator runs."""

    engine: str = "tq12"
    seed: int = 0


@dataclass(frozen=True)
class StandConfig:
    """A validated stand. Immutable: the loop and the firmware share it across threads."""

    path: str
    sha256: str
    name: str
    description: str
    transport: TransportConfig
    loop: LoopConfig
    firmware: FirmwareConfig | None
    channels: tuple[Channel, ...]
    actuators: tuple[Actuator, ...]
    safing: tuple[SafingStep, ...]
    limits: Limits
    sim: SimConfig | None
    redlines: tuple[Redline, ...] = ()
    throttle: ThrottleConfig | None = None
    ignition: IgnitionConfig | None = None
    _by_name: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def channel(self, name: str) -> Channel:
        """Channel by name (KeyError names the missing one)."""
        obj = self._by_name.get(("c", name))
        if obj is None:
            raise KeyError(f"no channel {name!r} in stand {self.name!r}")
        return obj

    def actuator(self, name: str) -> Actuator:
        """Actuator by name."""
        obj = self._by_name.get(("a", name))
        if obj is None:
            raise KeyError(f"no actuator {name!r} in stand {self.name!r}")
        return obj

    @cached_property
    def input_register_count(self) -> int:
        """Size of the input-register image (system block included when there is firmware)."""
        n = fw.IR_SYSTEM_COUNT if self.firmware else 0
        for ch in self.channels:
            if ch.table == "input":
                n = max(n, ch.register + ch.width)
        return n

    @cached_property
    def holding_register_count(self) -> int:
        """Size of the holding-register image."""
        n = fw.HR_SYSTEM_COUNT if self.firmware else 0
        for act in self.actuators:
            n = max(n, act.register + 1)
        for ch in self.channels:
            if ch.table == "holding":
                n = max(n, ch.register + ch.width)
        return n


# --------------------------------------------------------------------------- line locator

_HEADER = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.\-\"' ]+?)\s*\]\]?\s*(#.*)?$")
_KEYLINE = re.compile(r"^\s*([A-Za-z0-9_\-]+|\"[^\"]*\")\s*=")


def locate_keys(text: str) -> dict[tuple[Any, ...], int]:
    """Map key paths (``("channels", 2, "register")``) to 1-based line numbers.

    tomllib gives no positions, so the loader keeps this side index: it understands table
    and array-of-table headers and ``key =`` lines, which is where a person looks anyway.
    Keys inside inline tables or multi-line arrays resolve to their parent's line.
    """
    lines: dict[tuple[Any, ...], int] = {}
    current: tuple[Any, ...] = ()
    array_counts: dict[tuple[Any, ...], int] = {}
    depth = 0  # bracket depth of a multi-line value
    array_key: tuple[Any, ...] | None = None  # a multi-line array being read
    elem = 0
    for no, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0] if '"' not in raw else raw
        if depth == 0:
            array_key = None
            m = _HEADER.match(raw)
            if m and not _KEYLINE.match(raw):
                names = tuple(p.strip().strip('"') for p in m.group(2).split("."))
                if m.group(1) == "[[":
                    idx = array_counts.get(names, 0)
                    array_counts[names] = idx + 1
                    current = names + (idx,)
                else:
                    current = names
                lines.setdefault(current, no)
                continue
            k = _KEYLINE.match(raw)
            if k:
                lines[current + (k.group(1).strip('"'),)] = no
                array_key, elem = current + (k.group(1).strip('"'),), 0
        elif depth == 1 and array_key is not None and raw.lstrip().startswith("{"):
            # one inline table per line inside a multi-line array: each element gets its line
            lines[array_key + (elem,)] = no
            elem += 1
        depth += line.count("[") + line.count("{") - line.count("]") - line.count("}")
        depth = max(depth, 0)
    return lines


class _Ctx:
    """Error reporting context: the file, its text's line index."""

    def __init__(self, path: str, text: str) -> None:
        self.path = path
        self.lines = locate_keys(text)

    def line_of(self, keypath: tuple[Any, ...]) -> int | None:
        kp = keypath
        while kp:
            if kp in self.lines:
                return self.lines[kp]
            kp = kp[:-1]
        return None

    def error(self, keypath: tuple[Any, ...], message: str) -> ConfigError:
        return ConfigError(message, path=self.path, key=_keystr(keypath), line=self.line_of(keypath))


def _keystr(keypath: tuple[Any, ...]) -> str:
    out = ""
    for p in keypath:
        if isinstance(p, int):
            out += f"[{p}]"
        else:
            out += ("." if out else "") + str(p)
    return out


_MISSING = object()


class _Table:
    """A TOML table being read: typed getters that raise located errors, and a check that
    nothing unknown was left over (a typo in a key must not be silently ignored)."""

    def __init__(self, ctx: _Ctx, data: Any, keypath: tuple[Any, ...]) -> None:
        if not isinstance(data, dict):
            raise ctx.error(keypath, f"must be a table, got {type(data).__name__}")
        self.ctx, self.data, self.kp = ctx, data, keypath
        self.used: set[str] = set()

    def get(self, key: str, types: type | tuple[type, ...], default: Any = _MISSING) -> Any:
        self.used.add(key)
        if key not in self.data:
            if default is _MISSING:
                raise self.ctx.error(self.kp + (key,), "is required")
            return default
        value = self.data[key]
        if types is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        ok = isinstance(value, types) and (types is bool or not isinstance(value, bool))
        if not ok:
            names = types.__name__ if isinstance(types, type) else " or ".join(t.__name__ for t in types)
            raise self.ctx.error(self.kp + (key,), f"must be {names}, got {value!r}")
        return value

    def number(self, key: str, default: Any = _MISSING, *, lo: float | None = None,
               hi: float | None = None, positive: bool = False) -> float:
        v = self.get(key, float, default)
        if v is default and default is not _MISSING:
            return v
        if not np.isfinite(v) or (positive and v <= 0) or (lo is not None and v < lo) or (hi is not None and v > hi):
            rng = "> 0" if positive else f"in [{lo}, {hi}]"
            raise self.error(key, f"must be a finite number {rng}, got {v!r}")
        return v

    def integer(self, key: str, default: Any = _MISSING, *, lo: int = 0, hi: int = 65535) -> int:
        v = self.get(key, int, default)
        if v is default and default is not _MISSING:
            return v
        if not lo <= v <= hi:
            raise self.error(key, f"must be an integer in [{lo}, {hi}], got {v}")
        return v

    def choice(self, key: str, options: tuple[str, ...], default: Any = _MISSING) -> str:
        v = self.get(key, str, default)
        if v not in options:
            raise self.error(key, f"must be one of {', '.join(options)}; got {v!r}")
        return v

    def pair(self, key: str, default: Any = _MISSING) -> tuple[float, float]:
        v = self.get(key, list, default)
        if v is default and default is not _MISSING:
            return v
        if len(v) != 2 or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v) or v[0] >= v[1]:
            raise self.error(key, f"must be [low, high] with low < high, got {v!r}")
        return (float(v[0]), float(v[1]))

    def sub(self, key: str, required: bool = False) -> _Table | None:
        if key not in self.data:
            if required:
                raise self.ctx.error(self.kp + (key,), "table is required")
            self.used.add(key)
            return None
        self.used.add(key)
        return _Table(self.ctx, self.data[key], self.kp + (key,))

    def array(self, key: str) -> list[_Table]:
        self.used.add(key)
        items = self.data.get(key, [])
        if not isinstance(items, list):
            raise self.ctx.error(self.kp + (key,), "must be an array of tables ([[...]])")
        return [_Table(self.ctx, it, self.kp + (key, i)) for i, it in enumerate(items)]

    def error(self, key: str, message: str) -> ConfigError:
        return self.ctx.error(self.kp + (key,), message)

    def done(self) -> None:
        extra = sorted(set(self.data) - self.used)
        if extra:
            raise self.ctx.error(self.kp + (extra[0],), f"unknown key {extra[0]!r} (typo?)")


# --------------------------------------------------------------------------- sections

def _transport(t: _Table | None) -> TransportConfig:
    if t is None:
        return TransportConfig(kind="tcp")
    kind = t.choice("kind", ("tcp", "rtu"))
    cfg = TransportConfig(
        kind=kind,
        host=t.get("host", str, "127.0.0.1"),
        port=t.integer("port", 5020, lo=1),
        device=t.get("device", str, ""),
        baud=t.integer("baud", 115200, lo=300, hi=4_000_000),
        parity=t.choice("parity", ("N", "E", "O"), "N"),
        stopbits=t.integer("stopbits", 1, lo=1, hi=2),
        unit=t.integer("unit", 1, lo=0, hi=247),
        timeout_s=t.number("timeout_s", 0.05, positive=True),
        retries=t.integer("retries", 1, lo=0, hi=10),
    )
    if kind == "rtu" and not cfg.device:
        raise t.error("device", "an RTU transport needs a serial device path")
    t.done()
    return cfg


def _calibration(t: _Table, rtype: str) -> Calibration:
    kind = t.choice("kind", ("linear", "polynomial", "table"))
    lo, hi = raw_range(rtype) if rtype != "f32" else (-1e9, 1e9)
    if kind == "linear":
        gain = t.number("gain", 1.0)
        if gain == 0:
            raise t.error("gain", "must not be zero (the calibration could not be inverted)")
        cal: Calibration = Linear(gain=gain, offset=t.number("offset", 0.0))
    elif kind == "polynomial":
        coeffs = t.get("coeffs", list)
        if len(coeffs) < 2 or not all(isinstance(c, (int, float)) and not isinstance(c, bool) for c in coeffs):
            raise t.error("coeffs", "must be a list of at least two numbers [c0, c1, ...]")
        cal = Polynomial(tuple(float(c) for c in coeffs), lo, hi)
        if not is_monotonic(cal.to_eng(np.linspace(lo, hi, 4097))):
            raise t.error("coeffs", f"polynomial is not monotonic over the {rtype} raw range")
    else:
        raw = t.get("raw", list)
        eng = t.get("eng", list)
        if len(raw) != len(eng) or len(raw) < 2:
            raise t.error("raw", "raw and eng must be lists of the same length (at least 2)")
        if not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in raw + eng):
            raise t.error("raw", "raw and eng must hold numbers")
        if not np.all(np.diff(raw) > 0):
            raise t.error("raw", "raw points must be strictly increasing")
        if not is_monotonic(np.asarray(eng, dtype=float)):
            raise t.error("eng", "eng points must be strictly monotonic")
        cal = Table(tuple(float(x) for x in raw), tuple(float(x) for x in eng))
    t.done()
    return cal


def _channel(t: _Table) -> Channel:
    name = t.get("name", str)
    rtype = t.choice("type", tuple(WIDTH))
    cal_t = t.sub("calibration")
    cal: Calibration = _calibration(cal_t, rtype) if cal_t else Linear(1.0, 0.0)
    ch = Channel(
        name=name,
        register=t.integer("register", lo=0, hi=65535),
        type=rtype,
        calibration=cal,
        units=t.get("units", str, ""),
        valid=t.pair("valid", (float("-inf"), float("inf"))),
        word_order=t.choice("word_order", WORD_ORDERS, "big"),
        table=t.choice("table", ("input", "holding"), "input"),
        frozen_s=t.number("frozen_s", 0.0, lo=0.0, hi=3600.0),
        source=t.get("source", str, ""),
        description=t.get("description", str, ""),
    )
    t.done()
    return ch


def _actuator(t: _Table) -> Actuator:
    kind = t.choice("kind", ACTUATOR_KINDS)
    default_range = (0.0, 100.0) if kind == "proportional" else (0.0, 1.0)
    act = Actuator(
        name=t.get("name", str),
        kind=kind,
        register=t.integer("register", lo=0, hi=65535),
        propellant=t.choice("propellant", PROPELLANTS, "none"),
        scale=t.number("scale", 1.0, positive=True),
        range=t.pair("range", default_range),
        units=t.get("units", str, "%" if kind == "proportional" else ""),
        feedback=t.get("feedback", str, ""),
        drives=t.choice("drives", PLANT_INPUTS, "") if "drives" in t.data else "",
        feeds=t.choice("feeds", ("chamber", "gg", "isolation"), "chamber"),
        description=t.get("description", str, ""),
    )
    if kind == "purge" and act.propellant != "none":
        raise t.error("propellant", "a purge actuator carries no propellant")
    if act.range[1] / act.scale > 0xFFFF or act.range[0] < 0:
        raise t.error("range", "must be ≥ 0 and fit a u16 register after dividing by scale")
    t.done()
    return act


def _firmware(t: _Table | None, channels: dict[str, Channel]) -> FirmwareConfig | None:
    if t is None:
        return None
    cfg = FirmwareConfig(
        protocol=t.choice("protocol", (fw.PROTOCOL,), fw.PROTOCOL),
        scan_hz=t.number("scan_hz", 1000.0, lo=10.0, hi=20000.0),
        watchdog_s=t.number("watchdog_s", 0.1, positive=True),
        watchdog_engage=t.choice("watchdog_engage", WATCHDOG_ENGAGE, "first-heartbeat"),
        overpressure_channel=t.get("overpressure_channel", str, ""),
        overpressure_limit=t.number("overpressure_limit", float("inf")) if "overpressure_limit" in t.data else float("inf"),
        overpressure_samples=t.integer("overpressure_samples", 3, lo=1, hi=1000),
    )
    if cfg.overpressure_channel and cfg.overpressure_channel not in channels:
        raise t.error("overpressure_channel", f"names no channel: {cfg.overpressure_channel!r}")
    t.done()
    return cfg


def _safing(t: _Table | None, actuators: dict[str, Actuator], ctx: _Ctx) -> tuple[SafingStep, ...]:
    if t is None:
        raise ctx.error(("safing",), "a [safing] table is required: every exit path runs it")
    raw_steps = t.get("steps", list)
    steps: list[SafingStep] = []
    last = -1.0
    for i, item in enumerate(raw_steps):
        st = _Table(ctx, item, t.kp + ("steps", i))
        at = st.number("at", lo=0.0, hi=600.0)
        if at < last:
            raise st.error("at", f"safing steps must be in time order ({at} after {last})")
        last = at
        sets = st.get("set", dict)
        pairs = []
        for name, value in sets.items():
            if name not in actuators:
                raise st.error("set", f"unknown actuator {name!r}")
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise st.error("set", f"{name} must be set to a number, got {value!r}")
            lo, hi = actuators[name].range
            if not lo <= value <= hi:
                raise st.error("set", f"{name} = {value} is outside its range [{lo}, {hi}]")
            pairs.append((name, float(value)))
        st.done()
        steps.append(SafingStep(at, tuple(pairs)))
    t.done()
    # The sequence must leave every propellant valve and igniter at 0, or it is not safing.
    final: dict[str, float] = {}
    for s in steps:
        final.update(dict(s.set))
    for a in actuators.values():
        if (a.propellant != "none" or a.kind == "igniter") and final.get(a.name) != 0.0:
            raise ctx.error(("safing", "steps"), f"safing must end with {a.name} = 0")
    # LOX (oxidiser) first: fuel-rich shutdown. No fuel valve may close before every ox valve.
    def first_close(prop: str) -> float:
        times = [s.at_s for s in steps for n, v in s.set if v == 0.0 and actuators[n].propellant == prop]
        return min(times) if times else float("inf")
    if first_close("fuel") < max((s.at_s for s in steps for n, v in s.set
                                   if v == 0.0 and actuators[n].propellant == "ox"), default=-1.0):
        raise ctx.error(("safing", "steps"), "close the oxidiser valves before the fuel valves (fuel-rich shutdown)")
    return tuple(steps)


def redline_from_table(t: _Table, channels: dict[str, Channel], default_enabled: bool) -> Redline:
    """Shared by stand configs and sequence files (sequence redlines start disabled)."""
    name = t.get("name", str)
    chans = t.get("channels", list) if "channels" in t.data else [t.get("channel", str)]
    t.used.update({"channel", "channels"})
    if not chans or not all(isinstance(c, str) for c in chans):
        raise t.error("channels", "must name at least one channel")
    for c in chans:
        if c not in channels:
            raise t.error("channels" if "channels" in t.data else "channel", f"names no channel: {c!r}")
    inf = math.inf
    rl = Redline(
        name=name, channels=tuple(chans),
        min=t.number("min", -inf) if "min" in t.data else -inf,
        max=t.number("max", inf) if "max" in t.data else inf,
        min_frac=t.number("min_frac", -inf, lo=0.0, hi=1.0) if "min_frac" in t.data else -inf,
        max_frac=t.number("max_frac", inf, lo=1.0, hi=10.0) if "max_frac" in t.data else inf,
        max_rate=t.number("max_rate", inf, positive=True) if "max_rate" in t.data else inf,
        settle_s=t.number("settle_s", 0.0, lo=0.0, hi=60.0),
        persistence=t.integer("persistence", 3, lo=1, hi=10000),
        when=t.choice("when", ("always", "running", "burning"), "always"),
        enabled=t.get("enabled", bool, default_enabled),
        line=t.ctx.line_of(t.kp),
    )
    if not (math.isfinite(rl.min) or math.isfinite(rl.max) or rl.relative or math.isfinite(rl.max_rate)):
        raise t.error("name", f"redline {name!r} sets no limit (min, max, min_frac, max_frac or max_rate)")
    if math.isfinite(rl.min) and math.isfinite(rl.max) and rl.min >= rl.max:
        raise t.error("min", f"min {rl.min} must be below max {rl.max}")
    t.done()
    return rl


def _throttle(t: _Table | None, actuators: dict[str, Actuator]) -> ThrottleConfig | None:
    if t is None:
        return None
    acts = t.get("actuators", list)
    if not acts or not all(isinstance(a, str) and a in actuators for a in acts):
        raise t.error("actuators", f"must list existing actuators, got {acts!r}")
    for a in acts:
        if actuators[a].kind != "proportional":
            raise t.error("actuators", f"{a} is not a proportional valve")
    ff = t.get("feedforward", list)
    try:
        pts = tuple((float(x), float(y)) for x, y in ff)
    except (TypeError, ValueError):
        raise t.error("feedforward", "must be a list of [pc_fraction, output_percent] pairs") from None
    if len(pts) < 2 or any(b[0] <= a[0] for a, b in zip(pts, pts[1:])):
        raise t.error("feedforward", "needs ≥ 2 points with increasing Pc fraction")
    ratio = t.get("ratio", list, [])
    if not all(isinstance(r, (int, float)) and not isinstance(r, bool) and r > 0 for r in ratio):
        raise t.error("ratio", f"must be positive numbers, got {ratio!r}")
    if len(ratio) != max(len(acts) - 1, 0) and ratio:
        raise t.error("ratio", f"one ratio per actuator after the first ({len(acts) - 1}), got {len(ratio)}")
    cfg = ThrottleConfig(actuators=tuple(acts), kp=t.number("kp", lo=0.0, hi=1e4), ki=t.number("ki", lo=0.0, hi=1e5),
                         feedforward=pts, ratio=tuple(float(r) for r in ratio) or (1.0,) * (len(acts) - 1),
                         slew=t.number("slew", 1.0, positive=True), out_slew=t.number("out_slew", 50.0, positive=True))
    t.done()
    return cfg


def _ignition(t: _Table | None, channels: dict[str, Channel]) -> IgnitionConfig | None:
    if t is None:
        return None
    cfg = IgnitionConfig(channel=t.get("channel", str, "pc"), confirm_above=t.number("confirm_above"),
                         window_s=t.number("window_s", 1.5, positive=True),
                         relight_below=t.number("relight_below", 0.2),
                         min_off_s=t.number("min_off_s", 2.0, lo=0.0, hi=3600.0),
                         min_purge_s=t.number("min_purge_s", 1.0, lo=0.0, hi=3600.0))
    if cfg.channel not in channels:
        raise t.error("channel", f"names no channel: {cfg.channel!r}")
    t.done()
    return cfg


def _check_layout(cfg_fw: FirmwareConfig | None, channels: list[Channel], actuators: list[Actuator],
                  tables: list[_Table], act_tables: list[_Table]) -> None:
    used: dict[tuple[str, int], str] = {}
    for ch, t in zip(channels, tables):
        if cfg_fw and ch.table == "input" and ch.register < fw.IR_SYSTEM_COUNT:
            raise t.error("register", f"input registers 0..{fw.IR_SYSTEM_COUNT - 1} belong to the firmware protocol")
        for r in range(ch.register, ch.register + ch.width):
            if (ch.table, r) in used:
                raise t.error("register", f"{ch.table} register {r} is also used by channel {used[ch.table, r]!r}")
            used[ch.table, r] = ch.name
    for a, t in zip(actuators, act_tables):
        if ("holding", a.register) in used:
            raise t.error("register", f"holding register {a.register} is also read as channel "
                                      f"{used['holding', a.register]!r}")
    used_hr: dict[int, str] = {}
    for a, t in zip(actuators, act_tables):
        if cfg_fw and a.register < fw.HR_SYSTEM_COUNT:
            raise t.error("register", f"holding registers 0..{fw.HR_SYSTEM_COUNT - 1} belong to the firmware protocol")
        if a.register in used_hr:
            raise t.error("register", f"holding register {a.register} is also used by actuator {used_hr[a.register]!r}")
        used_hr[a.register] = a.name


def load_stand(path: str | Path) -> StandConfig:
    """Read and validate a stand file. Raises ConfigError naming file, key and line."""
    p = Path(path)
    try:
        blob = p.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read stand file: {exc.strerror}", path=str(p)) from exc
    try:
        text = blob.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError("stand file is not UTF-8 text", path=str(p)) from exc
    return parse_stand(text, str(p), hashlib.sha256(blob).hexdigest())


def read_toml(text: str, path: str) -> _Table:
    """Parse TOML into the top-level table reader; a syntax error names its line."""
    ctx = _Ctx(path, text)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        raise ConfigError(f"not valid TOML: {exc}", path=path, line=int(m.group(1)) if m else None) from exc
    return _Table(ctx, data, ())


def parse_stand(text: str, path: str = "<string>", sha256: str = "") -> StandConfig:
    """Validate stand TOML text (the loader's core; tests feed it broken files)."""
    top = read_toml(text, path)
    ctx = top.ctx
    stand = top.sub("stand", required=True)
    assert stand is not None
    name = stand.get("name", str)
    description = stand.get("description", str, "")
    stand.done()

    ch_tables = top.array("channels")
    channels = [_channel(t) for t in ch_tables]
    act_tables = top.array("actuators")
    actuators = [_actuator(t) for t in act_tables]
    if not channels:
        raise ctx.error(("channels",), "a stand needs at least one [[channels]] entry")
    by_ch: dict[str, Channel] = {}
    for ch, t in zip(channels, ch_tables):
        if ch.name in by_ch:
            raise t.error("name", f"duplicate channel name {ch.name!r}")
        by_ch[ch.name] = ch
    by_act: dict[str, Actuator] = {}
    for a, t in zip(actuators, act_tables):
        if a.name in by_act or a.name in by_ch:
            raise t.error("name", f"duplicate name {a.name!r}")
        if a.feedback and a.feedback not in by_ch:
            raise t.error("feedback", f"names no channel: {a.feedback!r}")
        if a.feedback and by_ch[a.feedback].units != "%":
            raise t.error("feedback", f"position feedback {a.feedback!r} must read % open, not "
                                      f"{by_ch[a.feedback].units!r} (it is compared with the command)")
        by_act[a.name] = a

    firmware = _firmware(top.sub("firmware"), by_ch)
    _check_layout(firmware, channels, actuators, ch_tables, act_tables)
    tt = top.sub("transport")
    transport = _transport(tt)
    lt = top.sub("loop")
    loop = LoopConfig()
    if lt:
        loop = LoopConfig(rate_hz=lt.number("rate_hz", 1000.0, lo=1.0, hi=10000.0),
                          comm_loss_cycles=lt.integer("comm_loss_cycles", 20, lo=1, hi=100000),
                          heartbeat_hz=lt.number("heartbeat_hz", 100.0, lo=1.0, hi=10000.0),
                          min_rate_pct=lt.number("min_rate_pct", 20.0, lo=0.0, hi=100.0),
                          rate_window_s=lt.number("rate_window_s", 0.5, lo=0.01, hi=60.0))
        if firmware is not None and loop.heartbeat_hz * firmware.watchdog_s < 3:
            raise lt.error("heartbeat_hz", f"{loop.heartbeat_hz:g} Hz gives fewer than 3 heartbeats per "
                                           f"{firmware.watchdog_s:g} s watchdog period")
        lt.done()
    if firmware is not None:
        # One lost answer costs timeout × (1 + retries) before the next heartbeat can go out; if that
        # outlasts the watchdog, a single CRC error or late reply trips the stand.
        lost = transport.timeout_s * (1 + transport.retries) + 1.0 / loop.heartbeat_hz
        if lost >= firmware.watchdog_s:
            where = tt if tt else top.sub("firmware")
            assert where is not None
            raise where.error("timeout_s" if tt else "watchdog_s",
                              f"one unanswered request costs {transport.timeout_s * 1e3:g} ms × "
                              f"{1 + transport.retries} tries + {1e3 / loop.heartbeat_hz:g} ms heartbeat period = "
                              f"{lost * 1e3:g} ms, not less than the firmware's {firmware.watchdog_s * 1e3:g} ms "
                              f"watchdog: a single lost answer would trip the stand")
    limits = Limits()
    lim = top.sub("limits")
    if lim:
        pcs = lim.get("pc_channels", list, [])
        limits = Limits(pc_channel=lim.get("pc_channel", str, "pc"), pc_channels=tuple(pcs),
                        pc_rated=lim.number("pc_rated", 0.0, lo=0.0),
                        throttle_min_pct=lim.number("throttle_min_pct", 40.0, lo=0.0, hi=200.0),
                        throttle_max_pct=lim.number("throttle_max_pct", 110.0, lo=0.0, hi=200.0),
                        valve_track_pct=lim.number("valve_track_pct", 10.0, lo=0.5, hi=100.0),
                        valve_track_s=lim.number("valve_track_s", 0.5, lo=0.01, hi=60.0))
        if limits.throttle_min_pct >= limits.throttle_max_pct:
            raise lim.error("throttle_min_pct", "must be below throttle_max_pct")
        if limits.pc_channel not in by_ch:
            raise lim.error("pc_channel", f"names no channel: {limits.pc_channel!r}")
        for c in limits.pc_channels:
            if c not in by_ch:
                raise lim.error("pc_channels", f"names no channel: {c!r}")
        if not limits.pc_channels:
            limits = dataclasses.replace(limits, pc_channels=(limits.pc_channel,))
        lim.done()
    safing = _safing(top.sub("safing"), by_act, ctx)
    sim = None
    st = top.sub("sim")
    if st:
        sim = SimConfig(engine=st.choice("engine", ENGINE_PRESETS), seed=st.integer("seed", 0, lo=0, hi=2**31))
        st.done()
        for a, t in zip(actuators, act_tables):
            if not a.drives:
                raise t.error("drives", "a simulated stand must say which plant input each actuator drives")
        for ch, t in zip(channels, ch_tables):
            if ch.table != "input" or not ch.source:
                raise t.error("source" if not ch.source else "table",
                              "a simulated stand's channels are input registers with a simulator source")
    redlines = tuple(redline_from_table(rt, by_ch, True) for rt in top.array("redlines"))
    names = [r.name for r in redlines]
    if len(set(names)) != len(names):
        raise ctx.error(("redlines",), "redline names must be unique")
    throttle = _throttle(top.sub("throttle"), by_act)
    ignition = _ignition(top.sub("ignition"), by_ch)
    top.done()
    index: dict[Any, Any] = {("c", c.name): c for c in channels}
    index.update({("a", a.name): a for a in actuators})
    return StandConfig(path=path, sha256=sha256, name=name, description=description, transport=transport,
                       loop=loop, firmware=firmware, channels=tuple(channels), actuators=tuple(actuators),
                       safing=safing, limits=limits, sim=sim, redlines=redlines, throttle=throttle,
                       ignition=ignition, _by_name=index)
