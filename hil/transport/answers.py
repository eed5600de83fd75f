"""Does this frame answer that request? The checks every answer passes before it becomes values.

Why our own: pymodbus's framer (3.16, ``FramerBase.handleFrame``) skips a frame of another unit
or transaction with only a log line, consumes the whole buffer with the first good frame, and
decodes any response PDU whatever its function or byte count; on a shared RS-485 line a late
answer of the same shape then becomes the next request's values. Here each frame is cut out of
the byte stream by its own length (RTU: by function code; TCP: by the MBAP length), checked,
and either decoded or counted as a :class:`Mismatch` and dropped. pymodbus still builds the
request frames and computes the CRC.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from pymodbus.framer import FramerRTU

from hil.errors import DeviceException

READS = (1, 2, 3, 4)
WRITES = (15, 16)
BIT_FUNCTIONS = (1, 2, 15)


@dataclass(frozen=True)
class Request:
    """What was asked: the answer must match it field by field."""

    unit: int
    function: int
    address: int
    count: int  # registers or bits
    tid: int = 0  # Modbus TCP transaction id (0 on RTU)

    @property
    def byte_count(self) -> int:
        """The byte count a read's answer must carry: 2 per register, 1 per 8 bits (rounded up)."""
        return (self.count + 7) // 8 if self.function in BIT_FUNCTIONS else 2 * self.count

    @property
    def answer_pdu_len(self) -> int:
        """Length of a normal answer's PDU (function code included)."""
        return 2 + self.byte_count if self.function in READS else 5

    @property
    def answer_rtu_len(self) -> int:
        """Length of a normal answer on an RTU line: unit, PDU, CRC."""
        return 1 + self.answer_pdu_len + 2


class Mismatch(Exception):
    """A well-formed frame that does not answer the request: counted under ``kind`` (a field of
    TransportStats) and dropped, never decoded into values."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind


def crc16(data: bytes) -> int:
    """Modbus RTU CRC of ``data``, byte-swapped so that big-endian packing gives wire order."""
    return int(FramerRTU.compute_CRC(data))


def rtu_frame(unit: int, pdu: bytes) -> bytes:
    """An RTU frame: unit, PDU, CRC (pymodbus's CRC value is already in wire order)."""
    body = bytes([unit]) + pdu
    return body + struct.pack(">H", crc16(body))


def rtu_answer_len(buf: bytes) -> int | None:
    """Length of the RTU answer frame starting at ``buf[0]`` judged by its function code (0 when
    no answer has that function: the bytes are noise), or None while too few bytes are in."""
    if len(buf) < 2:
        return None
    fc = buf[1]
    if fc & 0x80:
        return 5
    if fc in READS:
        return None if len(buf) < 3 else 5 + buf[2]
    if fc in (5, 6, 15, 16):
        return 8
    return 0


def rtu_crc_ok(frame: bytes) -> bool:
    return len(frame) >= 4 and crc16(frame[:-2]) == struct.unpack(">H", frame[-2:])[0]


def check(req: Request, unit: int, pdu: bytes, tid: int = 0) -> list[int]:
    """The values ``pdu`` (from ``unit``, transaction ``tid`` over TCP) carries as the answer to
    ``req``; raises :class:`Mismatch` for a frame that answers something else and
    :class:`DeviceException` for the device's exception response to this very function."""
    if req.tid and tid != req.tid:
        raise Mismatch("wrong_tid", f"answer to transaction {tid} while waiting for {req.tid}")
    if unit != req.unit:
        raise Mismatch("wrong_unit", f"answer from unit {unit} while waiting for unit {req.unit}")
    if not pdu:
        raise Mismatch("wrong_function", "empty answer")
    fc = pdu[0]
    if fc == req.function | 0x80:
        code = pdu[1] if len(pdu) == 2 else -1
        if code < 0:
            raise Mismatch("wrong_count", f"exception answer of {len(pdu)} bytes")
        raise DeviceException(f"unit {req.unit} refused function {req.function} at register {req.address}", code)
    if fc != req.function:
        raise Mismatch("wrong_function", f"answer with function {fc} to a request with function {req.function}")
    if req.function in READS:
        n = pdu[1] if len(pdu) > 1 else -1
        if n != req.byte_count or len(pdu) != 2 + n:
            raise Mismatch("wrong_count", f"read of {req.count} at {req.address} answered with byte count {n} "
                                          f"({len(pdu) - 2} data bytes), expected {req.byte_count}")
        data = pdu[2:]
        if req.function in BIT_FUNCTIONS:
            return [(data[i // 8] >> (i % 8)) & 1 for i in range(req.count)]
        return list(struct.unpack(f">{req.count}H", data))
    if len(pdu) != 5:
        raise Mismatch("wrong_count", f"write answer of {len(pdu)} bytes, expected 5")
    address, quantity = struct.unpack(">HH", pdu[1:5])
    if (address, quantity) != (req.address, req.count):
        raise Mismatch("wrong_echo", f"write of {req.count} at {req.address} acknowledged as "
                                     f"{quantity} at {address}")
    return []
