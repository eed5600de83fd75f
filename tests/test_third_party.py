"""A Modbus device we did not write: pymodbus's own ``SimDevice`` server with a register layout of
its own — valves on coils, limit switches on discrete inputs, chamber pressure as a word-swapped
FLOAT32, a PLC-style heartbeat register with an echo, unit id 7 — driven through a whole burn
sequence by ``hil run``, over Modbus TCP and over Modbus RTU on a pty pair.

The device's behaviour is a few lines of test code in pymodbus's action hook (the chamber lights
when both valves open with the igniter on); the Modbus server, framing and register blocks are
pymodbus's. Every write it receives is logged, so the test also shows that hil-stand writes only
the addresses the stand file names.
"""

from __future__ import annotations

import asyncio
import json
import struct
import threading
from pathlib import Path

import pytest
from pymodbus.constants import ExcCodes
from pymodbus.framer import FramerType
from pymodbus.server import ModbusSerialServer, ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from firmware_sim.server import put_bits
from hil.runner import EXIT_OK, RunOptions, run

pytestmark = pytest.mark.timeout(120)

UNIT = 7
STAND = """
[stand]
name = "third-party"
description = "pymodbus SimDevice: coils, discrete inputs, word-swapped float, unit 7"

[[devices]]
name = "rig"
{link}
unit = 7
timeout_s = 0.1
retries = 1
heartbeat = {{ register = 10, hz = 20, echo = 5, echo_table = "input", watchdog_s = 1.0 }}

[loop]
rate_hz = {rate}

[limits]
pc_channel = "pc"
pc_rated = 2.0

[[channels]]
name = "pc"
register = 0
type = "f32"
word_order = "little"
units = "MPa"
valid = [-0.5, 5.0]

[[channels]]
name = "ox_open"
table = "discrete"
register = 0

[[channels]]
name = "fuel_open"
table = "discrete"
register = 1

[[actuators]]
name = "ox_main"
kind = "valve"
table = "coil"
register = 0
propellant = "ox"

[[actuators]]
name = "fuel_main"
kind = "valve"
table = "coil"
register = 1
propellant = "fuel"

[[actuators]]
name = "igniter"
kind = "igniter"
table = "coil"
register = 2

[[actuators]]
name = "purge"
kind = "purge"
table = "coil"
register = 3

[ignition]
channel = "pc"
confirm_above = 1.0
window_s = 0.5
relight_below = 0.2
min_off_s = 0.5
min_purge_s = 0.2

[safing]
steps = [
  {{ at = 0.0, set = {{ ox_main = 0, igniter = 0 }} }},
  {{ at = 0.05, set = {{ fuel_main = 0, purge = 1 }} }},
  {{ at = 0.5, set = {{ purge = 0 }} }},
]
"""

SEQUENCE = """
[sequence]
name = "third-party burn"
stand = "third-party"

[[steps]]
at = "T-0.6"
set = { purge = 1 }

[[steps]]
at = "T-0.2"
set = { purge = 0, igniter = 1 }

[[steps]]
at = "T+0.0"
set = { ox_main = 1, fuel_main = 1 }
label = "valves open"

[[steps]]
at = "T+0.0"
wait = "pc > 1.0 and ox_open > 0.5 and fuel_open > 0.5"
timeout = 0.5
on_timeout = "abort"
label = "ignition and both limit switches"

[[steps]]
at = "T+0.3"
set = { igniter = 0 }

[[steps]]
at = "T+1.5"
set = { ox_main = 0 }
label = "shutdown"

[[steps]]
at = "T+1.55"
set = { fuel_main = 0, purge = 1 }

[[steps]]
at = "T+2.2"
set = { purge = 0 }
"""


class ThirdPartyRig:
    """pymodbus's server and SimDevice; the device's logic in its action hook."""

    def __init__(self) -> None:
        self.coils = [0] * 8
        self.holding = [0] * 16
        self.lit = False
        self.writes: list[tuple[str, int, int]] = []  # (table, address, count)
        self.reads = 0
        self.loop = asyncio.new_event_loop()
        self.server: ModbusTcpServer | ModbusSerialServer | None = None
        self.thread = threading.Thread(target=self.loop.run_forever, name="third-party", daemon=True)

    def device(self) -> SimDevice:
        return SimDevice(id=UNIT, simdata=(
            [SimData(0, count=8, values=False, datatype=DataType.BITS)],
            [SimData(0, count=8, values=False, datatype=DataType.BITS)],
            [SimData(0, count=16, values=0, datatype=DataType.REGISTERS)],
            [SimData(0, count=8, values=0, datatype=DataType.REGISTERS)],
        ), action=self.action)

    async def action(self, func_code: int, start_address: int, address: int, count: int,
                     registers: list[int], set_values: list[int] | list[bool] | None) -> ExcCodes | None:
        off = address - start_address
        if func_code in (5, 15) and set_values is not None:
            self.writes.append(("coil", address, len(set_values)))
            self.coils[address : address + len(set_values)] = [int(bool(v)) for v in set_values]
        elif func_code in (6, 16) and set_values is not None:
            self.writes.append(("holding", address, len(set_values)))
            self.holding[address : address + len(set_values)] = [int(v) for v in set_values]
        elif func_code == 4:  # input registers: Pc as FLOAT32, low word first; the heartbeat echo
            self.reads += 1
            ox, fuel, igniter = self.coils[0], self.coils[1], self.coils[2]
            self.lit = bool(ox and fuel and (igniter or self.lit))
            pc = 2.0 + 0.01 * (self.reads % 7) if self.lit else 0.002 * (self.reads % 5)
            hi, lo = struct.unpack(">HH", struct.pack(">f", pc))
            image = [lo, hi, 0, 0, 0, self.holding[10], 0, 0]
            registers[off : off + count] = image[address : address + count]
        elif func_code == 2:  # discrete inputs: the valves' open limit switches
            switches = [self.coils[0], self.coils[1]] + [0] * 14
            put_bits(registers, start_address, address, count, lambda a, n: switches[a : a + n], 16)
        return None

    def start_tcp(self) -> int:
        async def go() -> int:
            self.server = ModbusTcpServer(self.device(), address=("127.0.0.1", 0))
            await self.server.serve_forever(background=True)
            return self.server.transport.sockets[0].getsockname()[1]  # type: ignore[union-attr,attr-defined]

        self.thread.start()
        return asyncio.run_coroutine_threadsafe(go(), self.loop).result(10)

    def start_rtu(self, port: str) -> None:
        async def go() -> None:
            self.server = ModbusSerialServer(self.device(), framer=FramerType.RTU, port=port, baudrate=115200)
            await self.server.serve_forever(background=True)

        self.thread.start()
        asyncio.run_coroutine_threadsafe(go(), self.loop).result(10)

    def stop(self) -> None:
        async def down() -> None:
            if self.server is not None:
                await self.server.shutdown()

        asyncio.run_coroutine_threadsafe(down(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


def _burn(tmp_path: Path, link: str, rate: int) -> dict:
    stand = tmp_path / "third_party.toml"
    stand.write_text(STAND.format(link=link, rate=rate))
    seq = tmp_path / "burn.toml"
    seq.write_text(SEQUENCE)
    res = run(RunOptions(sequence=str(seq), stand=str(stand), out=str(tmp_path / "run"), progress=False))
    summary: dict = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert res.exit_code == EXIT_OK, summary.get("abort_reason")
    return summary


def _check(summary: dict, rig: ThirdPartyRig) -> None:
    assert summary["outcome"] == "completed"
    (burn,) = summary["burns"]
    assert burn["pc_mean_mpa"] == pytest.approx(2.03, abs=0.05) and 1.3 < burn["duration_s"] < 1.7
    # only what the stand file names was ever written: coils 0-3 and the heartbeat register 10
    assert {t for t, _, _ in rig.writes} == {"coil", "holding"}
    assert all(0 <= a and a + n <= 4 for t, a, n in rig.writes if t == "coil")
    assert all((a, n) == (10, 1) for t, a, n in rig.writes if t == "holding")
    assert rig.holding[10] > 10  # the heartbeat counted
    assert rig.coils[:4] == [0, 0, 0, 0]  # and the stand ends safe


def test_a_third_party_tcp_device_runs_a_burn(tmp_path) -> None:
    rig = ThirdPartyRig()
    port = rig.start_tcp()
    try:
        summary = _burn(tmp_path, f'link = "tcp"\nhost = "127.0.0.1"\nport = {port}', 500)
    finally:
        rig.stop()
    _check(summary, rig)


def test_a_third_party_rtu_device_runs_a_burn(tmp_path, pty_pair) -> None:
    rig = ThirdPartyRig()
    rig.start_rtu(pty_pair.a)
    try:
        summary = _burn(tmp_path, f'link = "rtu"\nserial = "{pty_pair.b}"\nbaud = 115200', 50)
    finally:
        rig.stop()
    _check(summary, rig)
