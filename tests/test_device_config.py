"""Stand files made of devices: what loads, and every refusal naming file, key and line —
including a serial line whose polling plan does not fit its wire time at its baud rate."""

from __future__ import annotations

import re

import pytest
from conftest import STANDS, TQ12

from hil.errors import ConfigError
from hil.stand import load_stand, parse_stand
from hil.stand.devices import read_bytes, wire_time

DEVICES = STANDS / "sim_tq12_devices.toml"
TEXT = DEVICES.read_text()


def test_the_multi_device_stand_declares_four_devices_at_their_own_paces() -> None:
    s = load_stand(DEVICES)
    assert [(d.name, d.link.kind, d.rate_hz, d.critical) for d in s.devices] == [
        ("daq", "tcp", None, True), ("plc", "tcp", 200.0, True), ("tc", "rtu", 20.0, False), ("flow", "rtu", 50.0, False)]
    assert s.device("tc").serial == s.device("flow").serial == "/dev/ttyHIL0"
    assert {a.name: (a.device, str(a.table)) for a in s.actuators}["ox_iso"] == ("plc", "coil")
    assert s.channel("ox_iso_open").table == "discrete" and s.channel("ox_iso_open").type == "bit"
    assert s.channel("wall_temp").word_order == "little" and s.channel("wall_temp").device == "tc"
    assert s.device("plc").heartbeat is not None and s.device("plc").heartbeat.echo == 0
    assert s.firmware_device is None  # no hil-stand-1 device: plain Modbus, a PLC watchdog


def test_a_single_transport_stand_still_loads_as_one_device() -> None:
    s = load_stand(TQ12)
    assert len(s.devices) == 1 and s.devices[0].name == "stand" and s.firmware_device == "stand"
    assert s.transport is s.devices[0].link and all(c.device == "stand" for c in s.channels)


def _line_of(text: str, needle: str, nth: int = 1) -> int:
    hits = [i + 1 for i, line in enumerate(text.splitlines()) if re.search(needle, line)]
    return hits[nth - 1]


BROKEN = [
    ("unknown device", lambda s: s.replace('device = "tc"\nregister = 0', 'device = "thermo"\nregister = 0'),
     "names no device: 'thermo' (devices: daq, plc, tc, flow)", r'device = "thermo"'),
    ("missing device", lambda s: s.replace('device = "daq"\nregister = 0\n', 'register = 0\n', 1),
     "this stand has 4 devices: say which with device = one of daq, plc, tc, flow", r'^name = "pc"$'),
    ("duplicate device", lambda s: s.replace('name = "flow"\nlink', 'name = "tc"\nlink'),
     "duplicate device name 'tc'", r'^name = "tc"$'),
    ("both forms", lambda s: s.replace("[loop]", '[transport]\nkind = "tcp"\n\n[loop]'),
     "a stand has either one [transport] or [[devices]], not both", r'^kind = "tcp"'),
    ("unit twice on a line", lambda s: s.replace("unit = 4", "unit = 3"),
     "unit 3 is already used on serial line /dev/ttyHIL0", r"^unit = 3$"),
    ("line settings differ", lambda s: s.replace('serial = "/dev/ttyHIL0"\nbaud = 115200\nunit = 4',
                                                 'serial = "/dev/ttyHIL0"\nbaud = 57600\nunit = 4'),
     "shares serial line /dev/ttyHIL0 with 'tc' but not its settings", r"^baud = 57600"),
    ("line overbooked", lambda s: s.replace("rate_hz = 50\n", "rate_hz = 500\n"),
     "serial line /dev/ttyHIL0 at 115200 baud cannot carry its polling plan", r"^rate_hz = 20"),
    ("proportional on a coil", lambda s: s.replace('device = "plc"\nregister = 10', 'device = "plc"\ntable = "coil"\nregister = 10'),
     "a proportional actuator needs a register, not a coil", r'table = "coil"'),
    ("coil with a range", lambda s: s.replace('table = "coil"\nregister = 0\npropellant = "ox"',
                                              'table = "coil"\nregister = 0\nrange = [0, 5]\npropellant = "ox"'),
     "a coil is off (0) or on (1): its range is [0, 1]", r"^range = \[0, 5\]"),
    ("discrete input with a register type", lambda s: s.replace('table = "discrete"\nregister = 0',
                                                                'table = "discrete"\ntype = "u16"\nregister = 0'),
     "a discrete channel is a bit", r'^type = "u16"'),
    ("output to an input table", lambda s: s.replace('table = "coil"\nregister = 0', 'table = "discrete"\nregister = 0', 1),
     "outputs are holding registers or coils, not discrete", r'table = "discrete"'),
    ("heartbeat outlasting the watchdog", lambda s: s.replace("timeout_s = 0.02\nretries = 1\nrate_hz = 200",
                                                              "timeout_s = 0.1\nretries = 1\nrate_hz = 200"),
     "= 250 ms, not less than the 250 ms watchdog of the device 'plc'", r"^timeout_s = 0.1$"),
    ("too few heartbeats", lambda s: s.replace("watchdog_s = 0.25", "watchdog_s = 0.1"),
     "20 Hz gives fewer than 3 heartbeats per 0.1 s watchdog period", r"^heartbeat = "),
    ("echo on a channel's register", lambda s: s.replace('position feedback"\ndevice = "plc"\nregister = 1\n',
                                                         'position feedback"\ndevice = "plc"\nregister = 0\n'),
     "input register 0 on device 'plc' is also used by the heartbeat echo of device 'plc'", r"^register = 0$"),
]


@pytest.mark.parametrize("desc, transform, message, line_re", BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_device_stands_name_file_key_and_line(desc, transform, message, line_re) -> None:
    text = transform(TEXT)
    assert text != TEXT, "the transform did not change the file: fix the test"
    with pytest.raises(ConfigError) as info:
        parse_stand(text, "stands/devices.toml")
    err = info.value
    assert message in str(err), str(err)
    assert err.path == "stands/devices.toml" and err.line is not None
    line = text.splitlines()[err.line - 1]
    assert re.search(line_re, line) or re.search(line_re, text.splitlines()[err.line]), (err.line, line, str(err))


def test_the_polling_plan_refusal_gives_the_figures() -> None:
    text = TEXT.replace("rate_hz = 50\n", "rate_hz = 500\n")
    with pytest.raises(ConfigError) as info:
        parse_stand(text, "devices.toml")
    per_read = wire_time(115200, *read_bytes("input", 2))
    msg = str(info.value)
    assert f"flow: 500 Hz × 1 read(s) = {500 * per_read * 1e3:.1f} ms/s" in msg
    assert f"tc: 20 Hz × 1 read(s) = {20 * wire_time(115200, *read_bytes('input', 2)) * 1e3:.1f} ms/s" in msg
    assert "more than 80% of the line" in msg


def test_a_legacy_rtu_stand_at_the_loop_rate_is_checked_against_its_wire_too() -> None:
    text = (STANDS / "adam4017_rtu.toml").read_text()
    assert load_stand(STANDS / "adam4017_rtu.toml").loop.rate_hz == 20
    with pytest.raises(ConfigError, match="cannot carry its polling plan"):
        parse_stand(text.replace("rate_hz = 20 ", "rate_hz = 500 "), "adam.toml")
