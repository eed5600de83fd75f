"""Loading a stand file: every section validated up front into the model's frozen dataclasses,
with cross-checks (register overlaps, the lost-answer-versus-watchdog rule, names that must
exist). Every error names the file, the key and the line: a test engineer fixing a config at
the stand needs the line.
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path
from typing import Any

import numpy as np

from hil.errors import ConfigError
from hil.stand import firmware_map as fw
from hil.stand.calibration import Calibration, Linear, Polynomial, Table, is_monotonic
from hil.stand.control_tables import (
    abort_switch_table,
    ignition_table,
    redline_from_table,
    safing_table,
    throttle_table,
)
from hil.stand.device_tables import assign_device, check_layout, check_lines, check_watchdogs, devices_table
from hil.stand.devices import Device
from hil.stand.kinds import (
    PLANT_INPUTS,
    ActuatorKind,
    ChannelRole,
    EnginePreset,
    Feeds,
    Plot,
    Propellant,
    RegisterTable,
    RegisterType,
    WatchdogEngage,
    WordOrder,
)
from hil.stand.model import Actuator, Channel, FirmwareConfig, Limits, LoopConfig, SimConfig, StandConfig
from hil.stand.pid_table import pid_table
from hil.stand.registers import raw_range
from hil.stand.toml_table import MISSING, TableReader, read_toml


def _calibration(t: TableReader, rtype: RegisterType) -> Calibration:
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


def _channel(t: TableReader, devices: list[Device]) -> Channel:
    name = t.get("name", str)
    table = t.enum("table", RegisterTable, "input")
    rtype = t.enum("type", RegisterType, "bit" if table.bits else MISSING)
    if (rtype == "bit") != table.bits:
        raise t.error("type", f"a {table.value} channel is {'a bit' if table.bits else 'a register type, not bit'}")
    cal_t = t.sub("calibration")
    cal: Calibration = _calibration(cal_t, rtype) if cal_t else Linear(1.0, 0.0)
    ch = Channel(
        name=name,
        register=t.integer("register", lo=0, hi=65535),
        type=rtype,
        calibration=cal,
        units=t.get("units", str, ""),
        valid=t.pair("valid", (float("-inf"), float("inf"))),
        word_order=t.enum("word_order", WordOrder, "big"),
        table=table,
        frozen_s=t.number("frozen_s", 0.0, lo=0.0, hi=3600.0),
        source=t.get("source", str, ""),
        description=t.get("description", str, ""),
        role=t.enum("role", ChannelRole) if "role" in t.data else None,
        plot=t.enum("plot", Plot) if "plot" in t.data else None,
        device=assign_device(t, devices),
        zero_limit=t.number("zero_limit", 0.0, lo=0.0, hi=1e9),
        zero_expect=t.number("zero_expect", 0.0),
    )
    if ch.zero_limit and not isinstance(cal, Linear):
        raise t.error("zero_limit", "zeroing shifts a linear calibration's offset; zero a table calibration in its table")
    t.done()
    return ch


def _actuator(t: TableReader, devices: list[Device]) -> Actuator:
    kind = t.enum("kind", ActuatorKind)
    default_range = (0.0, 100.0) if kind == "proportional" else (0.0, 1.0)
    table = t.enum("table", RegisterTable, "holding")
    if table not in (RegisterTable.HOLDING, RegisterTable.COIL):
        raise t.error("table", f"outputs are holding registers or coils, not {table.value}")
    if table.bits and kind == "proportional":
        raise t.error("table", "a proportional actuator needs a register, not a coil")
    rtype = t.enum("type", RegisterType, "bit" if table.bits else "u16")
    if (rtype == "bit") != table.bits:
        raise t.error("type", "a coil output is a bit" if table.bits else "a holding-register output has a register type")
    act = Actuator(
        name=t.get("name", str),
        kind=kind,
        register=t.integer("register", lo=0, hi=65535),
        type=rtype,
        table=table,
        device=assign_device(t, devices),
        word_order=t.enum("word_order", WordOrder, "big"),
        propellant=t.enum("propellant", Propellant, "none"),
        scale=t.number("scale", 1.0, positive=True),
        range=t.pair("range", default_range),
        units=t.get("units", str, "%" if kind == "proportional" else ""),
        feedback=t.get("feedback", str, ""),
        drives=t.choice("drives", PLANT_INPUTS, "") if "drives" in t.data else "",
        feeds=t.enum("feeds", Feeds, "chamber"),
        description=t.get("description", str, ""),
        stroke_limit_s=t.number("stroke_limit_s", 0.0, lo=0.0, hi=60.0),
    )
    if act.stroke_limit_s and not act.feedback:
        raise t.error("stroke_limit_s", "a stroke time is measured on a position feedback: give the valve a feedback channel")
    if table.bits and act.range != (0.0, 1.0):
        raise t.error("range", "a coil is off (0) or on (1): its range is [0, 1]")
    if kind == "purge" and act.propellant != "none":
        raise t.error("propellant", "a purge actuator carries no propellant")
    lo, hi = raw_range(act.type)
    if not (lo <= act.range[0] / act.scale and act.range[1] / act.scale <= hi and act.range[0] >= 0):
        raise t.error("range", f"must be ≥ 0 and fit a {act.type} register after dividing by scale ({lo:g}..{hi:g})")
    t.done()
    return act


def _firmware(t: TableReader | None, channels: set[str]) -> FirmwareConfig | None:
    if t is None:
        return None
    cfg = FirmwareConfig(
        protocol=t.choice("protocol", (fw.PROTOCOL,), fw.PROTOCOL),
        scan_hz=t.number("scan_hz", 1000.0, lo=10.0, hi=20000.0),
        watchdog_s=t.number("watchdog_s", 0.1, positive=True),
        watchdog_engage=t.enum("watchdog_engage", WatchdogEngage, "first-heartbeat"),
        overpressure_channel=t.get("overpressure_channel", str, ""),
        overpressure_limit=t.number("overpressure_limit", float("inf")) if "overpressure_limit" in t.data else float("inf"),
        overpressure_samples=t.integer("overpressure_samples", 3, lo=1, hi=1000),
    )
    if cfg.overpressure_channel and cfg.overpressure_channel not in channels:
        raise t.error("overpressure_channel", f"names no channel: {cfg.overpressure_channel!r}")
    inf = float("inf")
    level = cfg.overpressure_limit if cfg.overpressure_channel else inf  # default: the overpressure limit
    cfg = dataclasses.replace(cfg, hard_start_above=t.number("hard_start_above", level, positive=True),
                  hard_start_rate=t.number("hard_start_rate", inf, positive=True),
                  hard_start_samples=t.integer("hard_start_samples", 2, lo=1, hi=50),
                  hard_start_window_s=t.number("hard_start_window_s", 2.0, positive=True))
    if not cfg.overpressure_channel and (cfg.hard_start_above < inf or cfg.hard_start_rate < inf):
        raise t.error("hard_start_above" if "hard_start_above" in t.data else "hard_start_rate",
                      "the hard-start trip reads the overpressure channel: name one (overpressure_channel)")
    t.done()
    return cfg


def load_stand(path: str | Path, *, zero: bool = True) -> StandConfig:
    """Read and validate a stand file. Raises ConfigError naming file, key and line. With
    ``zero`` (the default) the zero file beside it, if any, is applied; without, the bare
    calibrations (what ``hil checkout zero`` measures against, even when the zero file has gone
    stale)."""
    p = Path(path)
    try:
        blob = p.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read stand file: {exc.strerror}", path=str(p)) from exc
    try:
        text = blob.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError("stand file is not UTF-8 text", path=str(p)) from exc
    stand = parse_stand(text, str(p), hashlib.sha256(blob).hexdigest())
    from hil.stand.zero import apply_zero, zero_path  # the zero file taken at the last checkout

    return apply_zero(stand, zero_path(p)) if zero and zero_path(p).is_file() else stand


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
    fwt = top.sub("firmware")
    firmware = _firmware(fwt, {str(t.data.get("name")) for t in ch_tables})
    devices, dev_tables = devices_table(top, firmware)
    channels = [_channel(t, devices) for t in ch_tables]
    act_tables = top.array("actuators")
    actuators = [_actuator(t, devices) for t in act_tables]
    if not channels:
        raise ctx.error(("channels",), "a stand needs at least one [[channels]] entry")
    by_ch: dict[str, Channel] = {}
    roles: dict[str, str] = {}
    for ch, t in zip(channels, ch_tables):
        if ch.name in by_ch:
            raise t.error("name", f"duplicate channel name {ch.name!r}")
        by_ch[ch.name] = ch
        if ch.role is not None:
            if ch.role in roles:
                raise t.error("role", f"role {ch.role.value!r} is already channel {roles[ch.role]!r}'s")
            roles[ch.role] = ch.name
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

    check_layout(devices, channels, actuators, ch_tables, act_tables)
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
    check_watchdogs(devices, dev_tables, firmware, loop, top)
    check_lines(devices, dev_tables, channels, actuators, loop, ctx)
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
    safing = safing_table(top.sub("safing"), by_act, ctx)
    sim = None
    st = top.sub("sim")
    if st:
        sim = SimConfig(engine=st.enum("engine", EnginePreset), seed=st.integer("seed", 0, lo=0, hi=2**31))
        st.done()
        for a, t in zip(actuators, act_tables):
            if not a.drives:
                raise t.error("drives", "a simulated stand must say which plant input each actuator drives")
        for ch, t in zip(channels, ch_tables):
            if ch.table not in ("input", "discrete") or not ch.source:
                raise t.error("source" if not ch.source else "table",
                              "a simulated stand's channels are input registers or discrete inputs with a "
                              "simulator source")
    redlines = tuple(redline_from_table(rt, by_ch, True) for rt in top.array("redlines"))
    names = [r.name for r in redlines]
    if len(set(names)) != len(names):
        raise ctx.error(("redlines",), "redline names must be unique")
    throttle = throttle_table(top.sub("throttle"), by_act)
    ignition = ignition_table(top.sub("ignition"), by_ch, by_act)
    pid = pid_table(top.sub("pid"), by_ch, by_act)
    abort_switch = abort_switch_table(top.sub("abort_switch"), by_ch)
    top.done()
    index: dict[Any, Any] = {("c", c.name): c for c in channels}
    index.update({("a", a.name): a for a in actuators})
    return StandConfig(path=path, sha256=sha256, name=name, description=description, devices=tuple(devices),
                       loop=loop, firmware=firmware, channels=tuple(channels), actuators=tuple(actuators),
                       safing=safing, limits=limits, sim=sim, redlines=redlines, throttle=throttle,
                       ignition=ignition, pid=pid, abort_switch=abort_switch, _by_name=index)
