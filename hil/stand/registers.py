"""Modbus register types and the packing of values into 16-bit words.

One place decides how a u32/i32/f32 spans two registers and in which word order, so the
simulated firmware (which encodes) and the controller (which decodes) cannot disagree.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

WIDTH: dict[str, int] = {"u16": 1, "i16": 1, "u32": 2, "i32": 2, "f32": 2, "bit": 1}
# "bit" is the type of coils and discrete inputs: one address holds 0 or 1.
# 32-bit values: "big" = high word first (ABCD), "little" = low word first (CDAB); the
# "_byteswap" variants also swap the two bytes of every word (BADC, DCBA), as some vendors do.
# For 16-bit types only the byte swap matters.
WORD_ORDERS = ("big", "little", "big_byteswap", "little_byteswap")
MAX_READ = 125  # Modbus limit on registers per read (FC 3/4)
MAX_WRITE = 123  # Modbus limit on registers per write (FC 16)

_INT_RANGE: dict[str, tuple[int, int]] = {
    "bit": (0, 1),
    "u16": (0, 0xFFFF),
    "i16": (-0x8000, 0x7FFF),
    "u32": (0, 0xFFFFFFFF),
    "i32": (-0x80000000, 0x7FFFFFFF),
}


def raw_range(kind: str) -> tuple[float, float]:
    """The representable raw range of a register type (f32: a finite float32)."""
    if kind == "f32":
        return (-3.4e38, 3.4e38)
    lo, hi = _INT_RANGE[kind]
    return (float(lo), float(hi))


def swap_bytes(word: int) -> int:
    """The two bytes of a 16-bit register exchanged."""
    return ((word >> 8) | (word << 8)) & 0xFFFF


def encode(value: float, kind: str, word_order: str = "big") -> list[int]:
    """Pack a raw value into registers, saturating at the type's range like an ADC does."""
    if kind == "f32":
        words = struct.unpack(">HH", struct.pack(">f", float(value)))
    else:
        lo, hi = _INT_RANGE[kind]
        iv = int(round(value))
        iv = lo if iv < lo else hi if iv > hi else iv
        if kind == "bit":
            return [1 if iv else 0]
        if kind in ("u16", "i16"):
            w = iv & 0xFFFF
            return [swap_bytes(w) if word_order.endswith("_byteswap") else w]
        u = iv & 0xFFFFFFFF
        words = (u >> 16, u & 0xFFFF)
    out = [words[0], words[1]] if word_order.startswith("big") else [words[1], words[0]]
    return [swap_bytes(w) for w in out] if word_order.endswith("_byteswap") else out


def decode(regs: list[int], kind: str, word_order: str = "big") -> float:
    """Inverse of :func:`encode` for one value."""
    if kind == "bit":
        return float(regs[0] != 0)
    if word_order.endswith("_byteswap"):
        regs = [swap_bytes(w) for w in regs]
    if kind == "u16":
        return float(regs[0])
    if kind == "i16":
        v = regs[0]
        return float(v - 0x10000 if v & 0x8000 else v)
    hi, lo = (regs[0], regs[1]) if word_order.startswith("big") else (regs[1], regs[0])
    if kind == "f32":
        return struct.unpack(">f", struct.pack(">HH", hi, lo))[0]
    u = (hi << 16) | lo
    if kind == "i32" and u & 0x80000000:
        return float(u - 0x100000000)
    return float(u)


@dataclass(frozen=True)
class Block:
    """A contiguous run of registers read (or written) in one Modbus request."""

    start: int
    count: int


def coalesce(spans: list[tuple[int, int]], max_count: int = MAX_READ, max_gap: int = 8) -> list[Block]:
    """Merge (start, width) spans into the fewest blocks of at most ``max_count`` registers.

    Small gaps are read through (one longer request is far cheaper than two short ones on
    any Modbus link); a gap larger than ``max_gap`` starts a new block so unmapped holes in
    a vendor's map are not read.
    """
    blocks: list[Block] = []
    for start, width in sorted(spans):
        if blocks:
            last = blocks[-1]
            end = last.start + last.count
            new_end = max(end, start + width)
            if start - end <= max_gap and new_end - last.start <= max_count:
                blocks[-1] = Block(last.start, new_end - last.start)
                continue
        blocks.append(Block(start, width))
    return blocks
