"""Render a stand's Modbus register map as Markdown, from the stand config itself, so the
documentation cannot drift from what the firmware and the controller use."""

from __future__ import annotations

import math

from hil.stand import FirmwareConfig, StandConfig
from hil.stand import firmware_map as fw
from hil.stand.calibration import Linear, Polynomial, Table
from hil.stand.kinds import WordOrder
from hil.stand.registers import TYPES, spec


def _cal(ch_cal: Linear | Polynomial | Table) -> str:
    if isinstance(ch_cal, Linear):
        return f"eng = {ch_cal.gain:g}·raw {'+' if ch_cal.offset >= 0 else '−'} {abs(ch_cal.offset):g}"
    if isinstance(ch_cal, Polynomial):
        return "poly " + ", ".join(f"{c:g}" for c in ch_cal.coeffs)
    return "table " + ", ".join(f"{r:g}→{e:g}" for r, e in zip(ch_cal.raw, ch_cal.eng))


def _rng(lo: float, hi: float) -> str:
    return "—" if not (math.isfinite(lo) and math.isfinite(hi)) else f"{lo:g} … {hi:g}"


def render(stand: StandConfig) -> str:
    """Markdown tables: system block, sensors, actuators, safing sequence."""
    out = [f"## {stand.name}", "", stand.description, "",
           f"Source: `{stand.path}`. Addresses are 0-based protocol addresses (mbpoll: add `-0`).", ""]
    if stand.firmware:
        out += ["### Firmware system block (protocol hil-stand-1)", "",
                "| input reg | name | meaning |", "|---|---|---|",
                f"| {fw.IR_STATE} | state | 1 NORMAL, 2 SAFED (latched) |",
                f"| {fw.IR_STATUS} | status | bit0 watchdog engaged, bit1 heartbeat seen, bit2 safing active, bit3 purge by firmware |",
                f"| {fw.IR_TRIPS} | trips | bit0 watchdog, bit1 overpressure, bit2 commanded safe, "
                f"bit3 hard start (level), bit4 hard start (rate) |",
                f"| {fw.IR_HEARTBEAT_ECHO} | heartbeat echo | last heartbeat value seen |",
                f"| {fw.IR_ACK_SEQ} | ack seq | sequence number of the last executed command |",
                f"| {fw.IR_ACK_RESULT} | ack result | 0 ok, 1 unknown command, 2 refused: outputs not safe |",
                f"| {fw.IR_SCAN_COUNT}-{fw.IR_SCAN_COUNT + 1} | scan count | u32, high word first |",
                f"| {fw.IR_TIME_MS}-{fw.IR_TIME_MS + 1} | firmware clock | u32 ms since boot |",
                f"| {fw.IR_VERSION} | firmware version | 0x{fw.FIRMWARE_VERSION:04x} |",
                f"| {fw.IR_TRIP_TIME_MS}-{fw.IR_TRIP_TIME_MS + 1} | trip time | u32 ms: when SAFED latched |",
                f"| {fw.IR_HEARTBEAT_TIME_MS}-{fw.IR_HEARTBEAT_TIME_MS + 1} | heartbeat time | u32 ms: when the heartbeat last changed |",
                f"| {fw.IR_OUTPUT_TIME_MS} | output time | u16 ms (mod 65536): when a command register last changed |",
                "", "| holding reg | name | meaning |", "|---|---|---|",
                f"| {fw.HR_HEARTBEAT} | heartbeat | the controller changes it every cycle |",
                f"| {fw.HR_COMMAND} | command | 1 reset the latch, 2 safe now |",
                f"| {fw.HR_COMMAND_SEQ} | command seq | change it to execute the command |", "",
                f"Watchdog: {stand.firmware.watchdog_s * 1000:g} ms, engages {stand.firmware.watchdog_engage}. "
                + (f"Overpressure trip: {stand.firmware.overpressure_channel} > {stand.firmware.overpressure_limit:g} "
                   f"for {stand.firmware.overpressure_samples} scans." if stand.firmware.overpressure_channel else "")
                + _hard_start(stand.firmware), ""]
    out += _devices(stand)
    order = {d.name: i for i, d in enumerate(stand.devices)}
    multi = len(stand.devices) > 1
    dev_col, dev_sep = ("device | ", "---|") if multi else ("", "")
    out += ["### Sensors", "",
            f"| {dev_col}table (FC) | address | name | type | calibration | units | valid | description |",
            f"|{dev_sep}---|---|---|---|---|---|---|---|"]
    for ch in sorted(stand.channels, key=lambda c: (order[c.device], _TABLE_ORDER[c.table], c.register)):
        dev = f"{ch.device} | " if multi else ""
        out.append(f"| {dev}{_FC_READ[ch.table]} | {_regs(ch.register, ch.width)} | `{ch.name}` | "
                   f"{spec(ch.type).describe(ch.word_order)} | {_cal(ch.calibration)} | {ch.units} | "
                   f"{_rng(*ch.valid)} | {ch.description} |")
    out += ["", "### Actuators", "",
            f"| {dev_col}table (FC) | address | name | kind | type | eng = raw × | range | propellant | feedback | "
            "description |", f"|{dev_sep}---|---|---|---|---|---|---|---|---|---|"]
    for a in sorted(stand.actuators, key=lambda a: (order[a.device], _TABLE_ORDER[a.table], a.register)):
        dev = f"{a.device} | " if multi else ""
        scale = "on/off" if a.table == "coil" else f"{a.scale:g} {a.units}"
        out.append(f"| {dev}{_FC_WRITE[a.table]} | {_regs(a.register, a.width)} | `{a.name}` | {a.kind} | "
                   f"{spec(a.type).describe(a.word_order)} | {scale} | {_rng(*a.range)} | "
                   f"{a.propellant} | {a.feedback or '—'} | {a.description} |")
    out += ["", "### Safing sequence", "", "| t (s) | set |", "|---|---|"]
    for s in stand.safing:
        out.append(f"| {s.at_s:g} | " + ", ".join(f"{n} = {v:g}" for n, v in s.set) + " |")
    return "\n".join(out) + "\n"


_TABLE_ORDER = {"input": 0, "holding": 1, "discrete": 2, "coil": 3}
_FC_READ = {"input": "input reg (4)", "holding": "holding reg (3)", "discrete": "discrete input (2)", "coil": "coil (1)"}
_FC_WRITE = {"holding": "holding reg (16)", "coil": "coil (15)"}


def _devices(stand: StandConfig) -> list[str]:
    """The devices table: links, paces, what losing each means, their watchdogs."""
    out = ["### Devices", "", "| device | link | unit | read at | losing it | watchdog |", "|---|---|---|---|---|---|"]
    for d in stand.devices:
        c = d.link
        link = (f"Modbus TCP {c.host}:{c.port}" if c.kind == "tcp" else
                f"Modbus RTU {c.device} {c.baud} {c.parity}{8}{c.stopbits}")
        rate = f"{d.rate_hz:g} Hz" if d.rate_hz else "every cycle"
        if d.protocol == "hil-stand-1":
            wd = "hil-stand-1 (system block above)"
        elif d.heartbeat is not None:
            hb = d.heartbeat
            wd = (f"heartbeat counter → holding {hb.register} at {hb.hz:g} Hz"
                  + (f", echo in {hb.echo_table} {hb.echo}" if hb.echo is not None else "")
                  + f"; the device safes after {hb.watchdog_s * 1e3:g} ms")
        else:
            wd = "—"
        out.append(f"| `{d.name}` | {link} | {c.unit} | {rate} | {'FAULT' if d.critical else 'its channels disqualified'}"
                   f" | {wd} |")
    return out + [""]


def _regs(start: int, width: int) -> str:
    return f"{start}" if width == 1 else f"{start}-{start + width - 1}"


def _types() -> list[str]:
    """The register types a stand file may name, from their one definition each."""
    out = ["## Register types", "", "| type | registers | what |", "|---|---|---|"]
    out += [f"| `{t}` | {s.words} | {s.doc} |" for t, s in TYPES.items()]
    out += ["", "`word_order` (multi-register values; for 16-bit types only the byte swap matters): "
            + "; ".join(f"`{o}` {ORDER_DOC[o]}" for o in WordOrder) + ".", "", ""]
    return out


ORDER_DOC = {WordOrder.BIG: "high word first (ABCD)", WordOrder.LITTLE: "low word first (CDAB)",
             WordOrder.BIG_BYTESWAP: "high word first, bytes of each word swapped (BADC)",
             WordOrder.LITTLE_BYTESWAP: "low word first, bytes of each word swapped (DCBA)"}


def render_all(stands: list[StandConfig]) -> str:
    """The whole docs/register-map.md."""
    head = ["# Register maps", "",
            "Generated from the stand configs by `hil regmap`; do not edit by hand "
            "(a test fails when this file is stale).", "",
            "A stand is one or more Modbus devices; each reads its channels in as few block reads per table as "
            "its map allows (gaps of up to 8 registers or 16 bits are read through) and writes only the addresses "
            "named here, in blocks that never bridge a gap.", "", ""]
    return "\n".join(head + _types()) + "\n".join(render(s) for s in stands)


def _hard_start(f: FirmwareConfig) -> str:
    """The hard-start trip's line (docs/simulator.md, firmware_sim/trip.py)."""
    crit = [f"{f.overpressure_channel} > {f.hard_start_above:g}"] if math.isfinite(f.hard_start_above) else []
    if math.isfinite(f.hard_start_rate):
        crit.append(f"rising faster than {f.hard_start_rate:g} MPa/s for {f.hard_start_samples} scans")
    if not f.overpressure_channel or not crit:
        return ""
    return (f" Hard-start trip: {' or '.join(crit)} within {f.hard_start_window_s:g} s of a main propellant valve "
            "opening shuts every propellant valve and the igniter at that scan.")
