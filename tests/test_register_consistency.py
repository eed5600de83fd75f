"""The simulated stand's registers are consistent: a 32-bit value is never served half old,
half new, and a device's registers change between scans, not during a request (real DAQ
firmware double-buffers; firmware_sim/firmware.py serves each request from one per-scan image).

The changing value is the ``word_pattern`` test fault: both words of the DAQ's 32-bit thrust
channel hold the scan number, so every valid value has equal words and any torn combination
(one word from one scan, the other from another) has two different ones."""

from __future__ import annotations

import pytest
from conftest import STANDS
from pymodbus.client import ModbusTcpClient

from hil.children import start_sim
from hil.stand import load_stand

DEVICES = STANDS / "sim_tq12_devices.toml"
pytestmark = pytest.mark.timeout(120)
READS = 3000


def test_a_fast_changing_32_bit_value_is_never_served_torn() -> None:
    stand = load_stand(DEVICES)
    thrust = stand.channel("thrust")
    assert thrust.width == 2 and thrust.device == "daq"
    child = start_sim(DEVICES, "tcp", faults=("word_pattern:channel=thrust@0",), lines=("/dev/ttyHIL0",))
    try:
        port = int(child.ready["devices"]["daq"].rsplit(":", 1)[1])
        seen: set[int] = set()
        torn = []
        with ModbusTcpClient("127.0.0.1", port=port, timeout=2) as c:
            for k in range(READS):
                # alternate a read of the value alone and of the whole block around it
                start, count = (thrust.register, 2) if k % 2 else (0, thrust.register + 2)
                rr = c.read_input_registers(start, count=count, device_id=1)
                assert not rr.isError(), rr
                hi, lo = rr.registers[thrust.register - start: thrust.register - start + 2]
                if hi != lo:
                    torn.append((hi, lo))
                seen.add(hi)
    finally:
        child.stop()
    assert not torn, f"{len(torn)} torn values of {READS}, e.g. {torn[:5]}"
    assert len(seen) > READS // 20  # the value really changed under the reads (every scan)
