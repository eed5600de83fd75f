"""Modbus register types, one definition each, and the packing of values into 16-bit words.

Each type (:class:`RegisterType`) has one :class:`TypeSpec` in :data:`TYPES`: its width in
registers, its raw range, the big-endian struct code of one value, the scalar decode and encode
(the simulated firmware encodes sensors and decodes commands, the controller decodes sensors and
encodes commands: they cannot disagree), the vectorised decode the controller's decoder gathers
with, and the line the register-map documentation prints. A type not in the table cannot be
written in a stand file (the loader's located error), so nothing ever guesses its width.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

import numpy as np

from hil.stand.kinds import RegisterType, WordOrder

MAX_READ = 125  # Modbus limit on registers per read (FC 3/4)
MAX_WRITE = 123  # Modbus limit on registers per write (FC 16)


def swap_bytes(word: int) -> int:
    """The two bytes of a 16-bit register exchanged."""
    return ((word >> 8) | (word << 8)) & 0xFFFF


@dataclass(frozen=True)
class TypeSpec:
    """One register type: everything that depends on it, in one place."""

    name: RegisterType
    words: int  # registers one value occupies
    code: str  # struct code of one value, its words high first ("big")
    dtype: type[np.generic]  # numpy type of one value viewed from its words
    raw_range: tuple[float, float]  # what the raw value can represent (f32: a finite float32)
    doc: str  # how the register map names it
    integer: bool = True  # encode rounds and saturates to the range, like an ADC
    _value: struct.Struct = field(init=False, repr=False, compare=False)
    _regs: struct.Struct = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_value", struct.Struct(">" + self.code))
        object.__setattr__(self, "_regs", struct.Struct(f">{self.words}H"))

    def encode(self, value: float, order: WordOrder | str = WordOrder.BIG) -> list[int]:
        """Pack a raw value into registers, saturating at the type's range like an ADC does."""
        high_first, byteswap = _order(order)
        if self.name == RegisterType.BIT:
            return [1 if int(round(value)) >= 1 else 0]
        if self.integer:
            lo, hi = self.raw_range
            iv = int(round(value))
            clipped = int(lo) if iv < lo else int(hi) if iv > hi else iv
            if self.words == 1:  # u16, i16: what the packing below gives, two's complement in one word
                w = clipped & 0xFFFF
                return [swap_bytes(w)] if byteswap else [w]
            words = list(self._regs.unpack(self._value.pack(clipped)))
        else:
            words = list(self._regs.unpack(self._value.pack(value)))
        if not high_first:
            words.reverse()
        return [swap_bytes(w) for w in words] if byteswap else words

    def decode(self, regs: list[int], order: WordOrder | str = WordOrder.BIG) -> float:
        """Inverse of :meth:`encode` for one value (``regs``: at least :attr:`words` registers)."""
        if self.name == RegisterType.BIT:
            return float(regs[0] != 0)
        high_first, byteswap = _order(order)
        if self.words == 1 and self.integer:  # u16, i16 without the packing (the same value)
            w = regs[0]
            if type(w) is int and 0 <= w <= 0xFFFF:  # anything else: as the packing takes (or refuses) it
                if byteswap:
                    w = swap_bytes(w)
                return float(w - 0x10000 if w & 0x8000 and self.code == "h" else w)
        words = list(regs[: self.words])
        if byteswap:
            words = [swap_bytes(w) for w in words]
        if not high_first:
            words.reverse()
        return float(self._value.unpack(self._regs.pack(*words))[0])

    def decode_vector(self, img: np.ndarray, regs: np.ndarray, order: WordOrder | str) -> np.ndarray:
        """The values at ``regs`` (first register of each) of the uint16 image ``img``, as
        :meth:`decode` gives them one by one (a bit image holds 0 or 1 as it arrived)."""
        order = WordOrder(order)
        if order.byteswap and self.name != RegisterType.BIT:
            img = img.byteswap()  # a copy; only stands whose vendor swaps bytes pay for it
        if self.words == 1:
            return img[regs].view(self.dtype)
        first = (lambda k: img[regs + k]) if order.high_first else (lambda k: img[regs + self.words - 1 - k])
        acc = np.dtype(f"u{2 * self.words}")  # an unsigned integer as wide as the value
        u = first(0).astype(acc)
        for k in range(1, self.words):
            u = (u << acc.type(16)) | first(k).astype(acc)
        if self.integer:
            return u.view(self.dtype)
        # Any bit pattern may come off the wire, signalling NaNs among them: widening one to
        # float64 raises the FPU's invalid flag (numpy's "invalid value encountered in cast")
        # although the result is the NaN the scalar decode gives too: a value that is no number.
        with np.errstate(invalid="ignore"):
            return u.view(self.dtype).astype(np.float64)

    def describe(self, order: WordOrder | str) -> str:
        """The type column of the register map (hil/stand/regmap_doc.py)."""
        order = WordOrder(order)
        if self.name == RegisterType.BIT:
            return "bit"
        if self.words == 1:
            return f"{self.name} (bytes swapped)" if order.byteswap else str(self.name)
        words = "big" if order.high_first else "little"
        return f"{self.name} ({words}-endian words" + (", bytes swapped)" if order.byteswap else ")")


TYPES: dict[RegisterType, TypeSpec] = {s.name: s for s in (
    TypeSpec(RegisterType.U16, 1, "H", np.uint16, (0.0, 65535.0), "unsigned 16-bit integer"),
    TypeSpec(RegisterType.I16, 1, "h", np.int16, (-32768.0, 32767.0), "signed 16-bit integer (two's complement)"),
    TypeSpec(RegisterType.U32, 2, "I", np.uint32, (0.0, 4294967295.0), "unsigned 32-bit integer, two registers"),
    TypeSpec(RegisterType.I32, 2, "i", np.int32, (-2147483648.0, 2147483647.0),
             "signed 32-bit integer (two's complement), two registers"),
    TypeSpec(RegisterType.F32, 2, "f", np.float32, (-3.4e38, 3.4e38), "IEEE-754 single-precision float, two registers",
             integer=False),
    TypeSpec(RegisterType.BIT, 1, "H", np.uint16, (0.0, 1.0), "one bit (coil or discrete input): 0 or 1"),
)}
assert set(TYPES) == set(RegisterType), "every register type has its definition"

WIDTH: dict[str, int] = {str(t): s.words for t, s in TYPES.items()}  # registers per type
WORD_ORDERS: tuple[str, ...] = tuple(o.value for o in WordOrder)
# Looked up by the plain string (a StrEnum member hashes and compares as its value): the
# simulated firmware and the controller's commands encode and decode every cycle, and building
# the enum from its value each time cost more than the packing (issue 26).
_SPECS: dict[str, TypeSpec] = {str(t): s for t, s in TYPES.items()}
_ORDERS: dict[str, tuple[bool, bool]] = {o.value: (o.high_first, o.byteswap) for o in WordOrder}


def _order(order: WordOrder | str) -> tuple[bool, bool]:
    """(high word first, bytes swapped) of a word order (a ValueError for an unknown one)."""
    found = _ORDERS.get(order)
    if found is None:
        o = WordOrder(order)
        return o.high_first, o.byteswap
    return found


def spec(kind: RegisterType | str) -> TypeSpec:
    """The definition of a register type (a ValueError for a type no definition has)."""
    found = _SPECS.get(kind)
    return TYPES[RegisterType(kind)] if found is None else found


def raw_range(kind: RegisterType | str) -> tuple[float, float]:
    """The representable raw range of a register type (f32: a finite float32)."""
    return spec(kind).raw_range


def encode(value: float, kind: RegisterType | str, word_order: WordOrder | str = "big") -> list[int]:
    """Pack a raw value into registers, saturating at the type's range like an ADC does."""
    return spec(kind).encode(value, word_order)


def decode(regs: list[int], kind: RegisterType | str, word_order: WordOrder | str = "big") -> float:
    """Inverse of :func:`encode` for one value."""
    return spec(kind).decode(regs, word_order)


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
