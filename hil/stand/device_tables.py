"""The ``[[devices]]`` part of a stand file (or the single ``[transport]`` of older files) and
the checks that need every device at once: which device each channel and actuator is on,
register overlaps per device, the lost-answer-versus-watchdog rule per watchdog, and whether a
shared serial line can carry its polling plan at its baud rate.
"""

from __future__ import annotations

from typing import Any

from hil.errors import ConfigError
from hil.stand import firmware_map as fw
from hil.stand.devices import (
    Device,
    DeviceProtocol,
    Heartbeat,
    TransportConfig,
    frame_gap,
    quiet_after_timeout,
    read_bytes,
    serial_char_time,
    wire_time,
    write_bytes,
)
from hil.stand.kinds import LinkKind, RegisterTable
from hil.stand.model import Actuator, Channel, FirmwareConfig, LoopConfig
from hil.stand.registers import MAX_READ, coalesce
from hil.stand.toml_table import SourceIndex, TableReader

LINE_BUDGET = 0.8  # share of a serial line's time a polling plan may take (the rest: writes, retries)
MAX_BITS = 2000  # Modbus limit on coils / discrete inputs per read


def link_table(t: TableReader, kind_key: str) -> TransportConfig:
    """A link: Modbus TCP host and port, or a unit on a serial line."""
    kind = t.enum(kind_key, LinkKind)
    serial_key = "device" if kind_key == "kind" else "serial"
    cfg = TransportConfig(
        kind=kind,
        host=t.get("host", str, "127.0.0.1"),
        port=t.integer("port", 502 if kind_key == "link" else 5020, lo=0),
        device=t.get(serial_key, str, ""),
        baud=t.integer("baud", 115200, lo=300, hi=4_000_000),
        parity=t.choice("parity", ("N", "E", "O"), "N"),
        stopbits=t.integer("stopbits", 1, lo=1, hi=2),
        unit=t.integer("unit", 1, lo=0, hi=247),
        timeout_s=t.number("timeout_s", 0.05, positive=True),
        retries=t.integer("retries", 1, lo=0, hi=10),
    )
    if kind == LinkKind.RTU and not cfg.device:
        raise t.error(serial_key, "an RTU transport needs a serial device path")
    return cfg


def _heartbeat(t: TableReader) -> Heartbeat:
    hb = Heartbeat(register=t.integer("register", lo=0, hi=65535),
                   hz=t.number("hz", 20.0, lo=0.1, hi=1000.0),
                   echo=t.integer("echo", lo=0, hi=65535) if "echo" in t.data else None,
                   echo_table=t.choice("echo_table", ("input", "holding"), "input"),
                   watchdog_s=t.number("watchdog_s", 0.5, positive=True))
    if hb.hz * hb.watchdog_s < 3:
        raise t.error("hz", f"{hb.hz:g} Hz gives fewer than 3 heartbeats per {hb.watchdog_s:g} s watchdog period")
    t.done()
    return hb


def _device(t: TableReader) -> Device:
    name = t.get("name", str)
    link = link_table(t, "link")
    hbt = t.sub("heartbeat")
    dev = Device(
        name=name, link=link,
        rate_hz=t.number("rate_hz", lo=0.1, hi=10000.0) if "rate_hz" in t.data else None,
        critical=t.get("critical", bool, True),
        stale_s=t.number("stale_s", positive=True) if "stale_s" in t.data else None,
        lost_after=t.integer("lost_after", lo=1, hi=100000) if "lost_after" in t.data else None,
        protocol=t.enum("protocol", DeviceProtocol, "plain"),
        heartbeat=_heartbeat(hbt) if hbt else None,
        line=t.ctx.line_of(t.kp),
    )
    if dev.protocol == DeviceProtocol.HIL_STAND_1 and dev.heartbeat is not None:
        raise t.error("heartbeat", "a hil-stand-1 device has the protocol's own heartbeat (holding register 0)")
    t.done()
    return dev


def devices_table(top: TableReader, firmware: FirmwareConfig | None) -> tuple[list[Device], list[TableReader]]:
    """The stand's devices: ``[[devices]]``, or one device named "stand" from ``[transport]``
    (which speaks hil-stand-1 when the file has a ``[firmware]`` table)."""
    tt = top.sub("transport")
    dts = top.array("devices")
    if tt is not None and dts:
        raise tt.error("kind", "a stand has either one [transport] or [[devices]], not both")
    if not dts:
        link = link_table(tt, "kind") if tt is not None else TransportConfig(kind=LinkKind.TCP)
        if tt is not None:
            tt.done()
        proto = DeviceProtocol.HIL_STAND_1 if firmware is not None else DeviceProtocol.PLAIN
        return [Device("stand", link, protocol=proto)], [tt] if tt is not None else []
    devices = [_device(t) for t in dts]
    seen: set[str] = set()
    for d, t in zip(devices, dts):
        if d.name in seen:
            raise t.error("name", f"duplicate device name {d.name!r}")
        seen.add(d.name)
    fw_devs = [(d, t) for d, t in zip(devices, dts) if d.protocol == DeviceProtocol.HIL_STAND_1]
    if len(fw_devs) > 1:
        raise fw_devs[1][1].error("protocol", f"only one device can speak hil-stand-1 (already {fw_devs[0][0].name!r})")
    if firmware is not None and not fw_devs:
        raise ConfigError("[firmware] describes a hil-stand-1 device, but no device has protocol = \"hil-stand-1\"",
                          path=top.ctx.path, line=top.ctx.line_of(("firmware",)))
    return devices, dts


def assign_device(t: TableReader, devices: list[Device]) -> str:
    """The device a channel or actuator names (optional when there is one)."""
    names = [d.name for d in devices]
    if "device" not in t.data:
        if len(devices) > 1:
            raise t.error("name", f"this stand has {len(devices)} devices: say which with device = "
                                  f"one of {', '.join(names)}")
        return names[0]
    name = t.get("device", str)
    if name not in names:
        raise t.error("device", f"names no device: {name!r} (devices: {', '.join(names)})")
    return name


def check_layout(devices: list[Device], channels: list[Channel], actuators: list[Actuator],
                 ch_tables: list[TableReader], act_tables: list[TableReader]) -> None:
    """No two things on one address of one device's table (except a coil output read back as a
    channel); the protocol's blocks kept free."""
    fw_dev = next((d.name for d in devices if d.protocol == DeviceProtocol.HIL_STAND_1), None)
    hb_regs = {(d.name, "holding", d.heartbeat.register): f"the heartbeat of device {d.name!r}"
               for d in devices if d.heartbeat is not None}
    used: dict[tuple[str, str, int], str] = dict(hb_regs)
    used.update({(d.name, d.heartbeat.echo_table, d.heartbeat.echo): f"the heartbeat echo of device {d.name!r}"
                 for d in devices if d.heartbeat is not None and d.heartbeat.echo is not None})
    what = {"input": "input register", "holding": "holding register", "coil": "coil", "discrete": "discrete input"}

    def where(dev: str) -> str:
        return f" on device {dev!r}" if len(devices) > 1 else ""
    for ch, t in zip(channels, ch_tables):
        if ch.device == fw_dev and ch.table == "input" and ch.register < fw.IR_SYSTEM_COUNT:
            raise t.error("register", f"input registers 0..{fw.IR_SYSTEM_COUNT - 1} belong to the firmware protocol")
        for r in range(ch.register, ch.register + ch.width):
            key = (ch.device, str(ch.table), r)
            if key in used:
                raise t.error("register", f"{what[ch.table]} {r}{where(ch.device)} is also used by {used[key]}")
            used[key] = f"channel {ch.name!r}"
    for a, t in zip(actuators, act_tables):
        if a.device == fw_dev and a.table == "holding" and a.register < fw.HR_SYSTEM_COUNT:
            raise t.error("register", f"holding registers 0..{fw.HR_SYSTEM_COUNT - 1} belong to the firmware protocol")
        for r in range(a.register, a.register + a.width):
            key = (a.device, str(a.table), r)
            if a.table == "coil" and used.get(key, "").startswith("channel "):
                continue  # a coil output read back as a channel (a relay module's state)
            if key in used:
                raise t.error("register", f"{what[a.table]} {r}{where(a.device)} is also used by {used[key]}")
            used[key] = f"actuator {a.name!r}"


def check_watchdogs(devices: list[Device], dts: list[TableReader], firmware: FirmwareConfig | None,
                    loop: LoopConfig, top: TableReader) -> None:
    """One lost answer costs timeout × (1 + retries) before the next heartbeat can go out; if
    that outlasts a device's watchdog, a single CRC error or late reply trips the stand."""
    for i, d in enumerate(devices):
        if d.protocol == DeviceProtocol.HIL_STAND_1 and firmware is not None:
            hz, wd, what = loop.heartbeat_hz, firmware.watchdog_s, "firmware's"
        elif d.heartbeat is not None:
            hz, wd, what = d.heartbeat.hz, d.heartbeat.watchdog_s, f"device {d.name!r}"
        else:
            continue
        lost = d.link.timeout_s * (1 + d.link.retries) + 1.0 / hz
        if lost >= wd:
            msg = (f"one unanswered request costs {d.link.timeout_s * 1e3:g} ms × {1 + d.link.retries} tries + "
                   f"{1e3 / hz:g} ms heartbeat period = {lost * 1e3:g} ms, not less than the {wd * 1e3:g} ms "
                   f"watchdog of the {what}: a single lost answer would trip the stand")
            if i < len(dts):
                raise dts[i].error("timeout_s", msg)
            raise ConfigError(msg, path=top.ctx.path, line=top.ctx.line_of(("firmware",)))


def device_reads(device: str, channels: list[Channel],
                 extra: tuple[tuple[str, int, int], ...] = ()) -> list[tuple[str, int, int]]:
    """The (table, start, count) reads that cover a device's channels (and ``extra`` spans)."""
    spans: dict[str, list[tuple[int, int]]] = {}
    for ch in channels:
        if ch.device == device:
            spans.setdefault(str(ch.table), []).append((ch.register, ch.width))
    for table, start, width in extra:
        spans.setdefault(table, []).append((start, width))
    out = []
    for table in ("input", "holding", "discrete", "coil"):
        if table in spans:
            bits = RegisterTable(table).bits
            for b in coalesce(spans[table], max_count=MAX_BITS if bits else MAX_READ, max_gap=16 if bits else 8):
                out.append((table, b.start, b.count))
    return out


def line_plan(devices: list[Device], channels: list[Channel], actuators: list[Actuator],
              loop: LoopConfig) -> dict[str, tuple[float, list[str]]]:
    """Per serial line: the share of its time the polling plan takes, and the terms of the sum."""
    plans: dict[str, tuple[float, list[str]]] = {}
    for d in devices:
        if not d.serial:
            continue
        c = d.link
        rate = min(d.rate_hz or loop.rate_hz, loop.rate_hz)
        per_poll = 0.0
        reads = device_reads(d.name, channels)
        for table, _, count in reads:
            per_poll += wire_time(c.baud, *read_bytes(table, count), c.parity, c.stopbits)
        terms = [f"{d.name}: {rate:g} Hz × {len(reads)} read(s) = {rate * per_poll * 1e3:.1f} ms/s"]
        load = rate * per_poll
        if d.heartbeat is not None:
            hb = d.heartbeat.hz * wire_time(c.baud, *write_bytes("holding", 1), c.parity, c.stopbits)
            load += hb
            terms.append(f"{d.name} heartbeat: {d.heartbeat.hz:g} Hz = {hb * 1e3:.1f} ms/s")
        share, all_terms = plans.get(d.serial, (0.0, []))
        plans[d.serial] = (share + load, all_terms + terms)
    return plans


def line_quiet_plan(devices: list[Device], channels: list[Channel]) -> dict[str, list[str]]:
    """Per serial line, each device's quiet rule as ``hil check --stand`` prints it: how long the
    line stays held after a request to it timed out, and the terms of the sum."""
    out: dict[str, list[str]] = {}
    for d in devices:
        if not d.serial:
            continue
        c = d.link
        answer = max((read_bytes(table, count)[1] for table, _, count in device_reads(d.name, channels)), default=8)
        ct = serial_char_time(c.baud, c.parity, c.stopbits)
        q = quiet_after_timeout(c.timeout_s, answer, c.baud, c.parity, c.stopbits)
        out.setdefault(d.serial, []).append(
            f"{d.name}: {c.timeout_s * 1e3:g} ms timeout + {answer} B × {ct * 1e6:.1f} µs + "
            f"{frame_gap(c.baud) * 1e3:.2f} ms gap = {q * 1e3:.1f} ms")
    return out


def check_lines(devices: list[Device], dts: list[TableReader], channels: list[Channel],
                actuators: list[Actuator], loop: LoopConfig, ctx: SourceIndex) -> None:
    """Devices on one serial line agree on its settings, and the line can carry their polling."""
    first: dict[str, Device] = {}
    for i, d in enumerate(devices):
        if not d.serial:
            continue
        f = first.setdefault(d.serial, d)
        key = (d.link.baud, d.link.parity, d.link.stopbits)
        if key != (f.link.baud, f.link.parity, f.link.stopbits):
            where: Any = dts[i] if i < len(dts) else None
            msg = (f"device {d.name!r} shares serial line {d.serial} with {f.name!r} but not its settings "
                   f"({d.link.baud} {d.link.parity} {d.link.stopbits} vs {f.link.baud} {f.link.parity} {f.link.stopbits})")
            raise where.error("baud", msg) if where is not None else ConfigError(msg, path=ctx.path)
        if any(o.name != d.name and o.serial == d.serial and o.link.unit == d.link.unit for o in devices[:i]):
            raise dts[i].error("unit", f"unit {d.link.unit} is already used on serial line {d.serial}")
    for serial, (share, terms) in line_plan(devices, channels, actuators, loop).items():
        if share > LINE_BUDGET:
            d = first[serial]
            i = devices.index(d)
            msg = (f"serial line {serial} at {d.link.baud} baud cannot carry its polling plan: "
                   f"{share * 1e3:.0f} ms of wire time per second ({'; '.join(terms)}), more than "
                   f"{LINE_BUDGET:.0%} of the line; lower rate_hz or raise the baud rate")
            if i < len(dts):
                raise dts[i].error("rate_hz" if "rate_hz" in dts[i].data else "baud", msg)
            raise ConfigError(msg, path=ctx.path, line=ctx.line_of(("loop",)) or ctx.line_of(("transport",)))
