"""Modbus request PDUs answered from the firmware's faces, as bytes in and bytes out.

The simulated DAQ answers at 1 kHz: on a 2-core machine the cost of each answer is time the
controller's loop does not get. A generic server builds request and response objects, looks
the device up in a context and copies registers through a datastore for every request
(~250 µs); this module is a table of struct formats and one call into the firmware, the way
firmware on a DAQ would handle a frame. Framing (MBAP, RTU CRC) stays with the servers.

Function codes: 1, 2 (coils, discrete inputs), 3, 4 (holding, input registers), 5, 6, 15, 16
(writes). Anything else is answered with exception 1; counts outside the spec's limits with
exception 3; an access outside a device's table with exception 2 — what a PLC answers.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from firmware_sim.firmware import Firmware

ILLEGAL_FUNCTION, ILLEGAL_ADDRESS, ILLEGAL_VALUE = 1, 2, 3

_READ_TABLES = {1: "coil", 2: "discrete", 3: "holding", 4: "input"}
_MAX_READ = {1: 2000, 2: 2000, 3: 125, 4: 125}
_KNOWN = (1, 2, 3, 4, 5, 6, 15, 16)
_HEAD = struct.Struct(">BHH")  # function code, address, count (or value)
_REG_PACKS: dict[int, struct.Struct] = {}


def exception(function_code: int, code: int) -> bytes:
    """An exception response PDU."""
    return bytes(((function_code | 0x80) & 0xFF, code))


def _regs(count: int) -> struct.Struct:
    s = _REG_PACKS.get(count)
    if s is None:
        s = _REG_PACKS[count] = struct.Struct(f">BB{count}H")
    return s


def pack_bits(values: list[int]) -> bytes:
    """Bits, first bit in the least significant bit of the first byte (the Modbus order)."""
    out = bytearray((len(values) + 7) // 8)
    for i, v in enumerate(values):
        if v:
            out[i >> 3] |= 1 << (i & 7)
    return bytes(out)


def unpack_bits(data: bytes, count: int) -> list[int]:
    """``count`` bits from Modbus-ordered bytes."""
    return [(data[i >> 3] >> (i & 7)) & 1 for i in range(count)]


def answer(fw: Firmware, device: str, pdu: bytes) -> bytes:
    """The response PDU a device gives to a request PDU (exceptions included). The caller has
    already decided that the device answers at all (silence, delays, forced exceptions). Empty:
    no answer."""
    if len(pdu) < 5:
        if not pdu:
            return b""  # nothing to answer: the frame held no function code
        return exception(pdu[0], ILLEGAL_VALUE if pdu[0] in _KNOWN else ILLEGAL_FUNCTION)
    fc, address, count = _HEAD.unpack_from(pdu)
    table = _READ_TABLES.get(fc)
    if table is not None:
        if len(pdu) != 5 or not 1 <= count <= _MAX_READ[fc]:
            return exception(fc, ILLEGAL_VALUE)
        if not fw.ok(device, table, address, count):
            return exception(fc, ILLEGAL_ADDRESS)
        values = fw.read(device, table, address, count)
        if fc <= 2:
            data = pack_bits(values)
            return bytes((fc, len(data))) + data
        return _regs(count).pack(fc, 2 * count, *values)
    if fc == 6:
        if len(pdu) != 5:
            return exception(fc, ILLEGAL_VALUE)
        if not fw.ok(device, "holding", address, 1):
            return exception(fc, ILLEGAL_ADDRESS)
        fw.write(device, "holding", address, [count])
        return pdu
    if fc == 5:
        if len(pdu) != 5 or count not in (0x0000, 0xFF00):
            return exception(fc, ILLEGAL_VALUE)
        if not fw.ok(device, "coil", address, 1):
            return exception(fc, ILLEGAL_ADDRESS)
        fw.write(device, "coil", address, [1 if count else 0])
        return pdu
    if fc == 16:
        if len(pdu) < 6 or not 1 <= count <= 123 or pdu[5] != 2 * count or len(pdu) != 6 + 2 * count:
            return exception(fc, ILLEGAL_VALUE)
        if not fw.ok(device, "holding", address, count):
            return exception(fc, ILLEGAL_ADDRESS)
        fw.write(device, "holding", address, list(struct.unpack_from(f">{count}H", pdu, 6)))
        return pdu[:5]
    if fc == 15:
        nbytes = (count + 7) // 8
        if len(pdu) < 6 or not 1 <= count <= 1968 or pdu[5] != nbytes or len(pdu) != 6 + nbytes:
            return exception(fc, ILLEGAL_VALUE)
        if not fw.ok(device, "coil", address, count):
            return exception(fc, ILLEGAL_ADDRESS)
        fw.write(device, "coil", address, unpack_bits(pdu[6:], count))
        return pdu[:5]
    return exception(fc, ILLEGAL_FUNCTION)
