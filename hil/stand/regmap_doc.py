"""Render a stand's Modbus register map as Markdown, from the stand config itself, so the
documentation cannot drift from what the firmware and the controller use."""

from __future__ import annotations

import math

from hil.stand import StandConfig
from hil.stand import firmware_map as fw
from hil.stand.calibration import Linear, Polynomial, Table


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
                f"| {fw.IR_TRIPS} | trips | bit0 watchdog, bit1 overpressure, bit2 commanded safe |",
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
                   f"for {stand.firmware.overpressure_samples} scans." if stand.firmware.overpressure_channel else ""), ""]
    out += ["### Sensors (input registers, function code 4)", "",
            "| reg | name | type | calibration | units | valid | description |", "|---|---|---|---|---|---|---|"]
    for ch in sorted(stand.channels, key=lambda c: c.register):
        out.append(f"| {_regs(ch.register, ch.width)} | `{ch.name}` | {_type(ch.type, ch.word_order)} | {_cal(ch.calibration)} | {ch.units} | "
                   f"{_rng(*ch.valid)} | {ch.description} |")
    out += ["", "### Actuators (holding registers, function codes 3/6/16)", "",
            "| reg | name | kind | type | eng = raw × | range | propellant | feedback | description |",
            "|---|---|---|---|---|---|---|---|---|"]
    for a in sorted(stand.actuators, key=lambda a: a.register):
        out.append(f"| {_regs(a.register, a.width)} | `{a.name}` | {a.kind} | {_type(a.type, a.word_order)} | "
                   f"{a.scale:g} {a.units} | {_rng(*a.range)} | "
                   f"{a.propellant} | {a.feedback or '—'} | {a.description} |")
    out += ["", "### Safing sequence", "", "| t (s) | set |", "|---|---|"]
    for s in stand.safing:
        out.append(f"| {s.at_s:g} | " + ", ".join(f"{n} = {v:g}" for n, v in s.set) + " |")
    return "\n".join(out) + "\n"


def _regs(start: int, width: int) -> str:
    return f"{start}" if width == 1 else f"{start}-{start + width - 1}"


def _type(rtype: str, order: str) -> str:
    swapped = order.endswith("_byteswap")
    if rtype in ("u16", "i16"):
        return f"{rtype} (bytes swapped)" if swapped else rtype
    words = "big" if order.startswith("big") else "little"
    return f"{rtype} ({words}-endian words" + (", bytes swapped)" if swapped else ")")


def render_all(stands: list[StandConfig]) -> str:
    """The whole docs/register-map.md."""
    head = ["# Register maps", "",
            "Generated from the stand configs by `hil regmap`; do not edit by hand "
            "(a test fails when this file is stale).", "",
            "All sensors of a stand are readable in one block read of input registers 0…N, all commands "
            "writable in one block write of holding registers 0…M.", "", ""]
    return "\n".join(head) + "\n".join(render(s) for s in stands)
