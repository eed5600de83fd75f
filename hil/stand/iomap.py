"""A stand's I/O map: which blocks to read each cycle, how to turn them into engineering values
(vectorised), and the command image written back.

Built once from the stand config; the per-cycle work is a handful of numpy operations however
many channels there are.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hil.stand import Actuator, StandConfig
from hil.stand import firmware_map as fw
from hil.stand.calibration import Linear
from hil.stand.registers import MAX_WRITE, Block, coalesce, decode, encode


@dataclass(frozen=True)
class ReadBlock:
    """One read request of a cycle."""

    table: str
    start: int
    count: int


class Decoder:
    """Raw register blocks → float64 engineering values, one entry per channel (config order)."""

    def __init__(self, stand: StandConfig) -> None:
        self.names = [ch.name for ch in stand.channels]
        self.index = {n: i for i, n in enumerate(self.names)}
        n = len(stand.channels)
        spans: dict[str, list[tuple[int, int]]] = {"input": [], "holding": []}
        for ch in stand.channels:
            spans[ch.table].append((ch.register, ch.width))
        if stand.firmware is not None:
            spans["input"].append((0, fw.IR_SYSTEM_COUNT))
        self.blocks: list[ReadBlock] = []
        size = {}
        for table in ("input", "holding"):
            for b in coalesce(spans[table]):
                self.blocks.append(ReadBlock(table, b.start, b.count))
            size[table] = max((s + w for s, w in spans[table]), default=0)
        self.images = {t: np.zeros(max(size[t], 1), dtype=np.uint16) for t in ("input", "holding")}
        # group channels by (table, type, word order) so each group decodes in one gather
        groups: dict[tuple[str, str, str], list[int]] = {}
        for i, ch in enumerate(stand.channels):
            groups.setdefault((ch.table, ch.type, ch.word_order), []).append(i)
        self.groups = []
        for (table, rtype, order), idx in groups.items():
            regs = np.array([stand.channels[i].register for i in idx], dtype=np.intp)
            self.groups.append((table, rtype, order, np.array(idx, dtype=np.intp), regs))
        self.gain = np.ones(n)
        self.offset = np.zeros(n)
        self.nonlinear = []
        for i, ch in enumerate(stand.channels):
            if isinstance(ch.calibration, Linear):
                self.gain[i], self.offset[i] = ch.calibration.gain, ch.calibration.offset
            else:
                self.nonlinear.append((i, ch.calibration))
        self.valid_lo = np.array([ch.valid[0] for ch in stand.channels])
        self.valid_hi = np.array([ch.valid[1] for ch in stand.channels])
        self.raw = np.zeros(n)
        self.has_firmware = stand.firmware is not None

    def decode(self, blocks: list[list[int]]) -> np.ndarray:
        """Store the cycle's blocks (same order as :attr:`blocks`) and return eng values."""
        for rb, values in zip(self.blocks, blocks):
            self.images[rb.table][rb.start : rb.start + rb.count] = values
        raw = self.raw
        for table, rtype, order, idx, regs in self.groups:
            img = self.images[table]
            if order.endswith("_byteswap"):
                img = img.byteswap()  # a copy; only stands whose vendor swaps bytes pay for it
            if rtype == "u16":
                raw[idx] = img[regs]
            elif rtype == "i16":
                raw[idx] = img[regs].view(np.int16)
            else:
                hi, lo = (img[regs], img[regs + 1]) if order.startswith("big") else (img[regs + 1], img[regs])
                u = (hi.astype(np.uint32) << 16) | lo.astype(np.uint32)
                raw[idx] = u if rtype == "u32" else u.view(np.int32) if rtype == "i32" else u.view(np.float32)
        eng = raw * self.gain + self.offset
        for i, cal in self.nonlinear:
            eng[i] = cal.to_eng(raw[i])
        return eng

    def system(self) -> np.ndarray:
        """The firmware system block as last read (zeros on stands without firmware)."""
        return self.images["input"][: fw.IR_SYSTEM_COUNT]

    def out_of_range(self, eng: np.ndarray) -> np.ndarray:
        """Boolean per channel: outside its valid range (a failed or disconnected sensor)."""
        return (eng < self.valid_lo) | (eng > self.valid_hi) | ~np.isfinite(eng)


class Commands:
    """The holding-register image the controller owns, in engineering units and raw counts.

    Only registers named in the stand config (plus the firmware system block) are ever
    written: write blocks are coalesced without gaps so a vendor's unrelated registers between
    two outputs are never touched.
    """

    def __init__(self, stand: StandConfig) -> None:
        self.stand = stand
        self.actuators: tuple[Actuator, ...] = stand.actuators
        self.names = [a.name for a in self.actuators]
        self.index = {n: i for i, n in enumerate(self.names)}
        self.eng = np.zeros(len(self.actuators))
        self.has_firmware = stand.firmware is not None
        spans = [(a.register, a.width) for a in self.actuators]
        if self.has_firmware:
            spans.append((0, fw.HR_SYSTEM_COUNT))
        self.blocks: list[Block] = coalesce(spans, max_count=MAX_WRITE, max_gap=0)
        size = max((s + w for s, w in spans), default=1)
        self.image = [0] * size
        self.changed = True
        self.heartbeat = 0
        self._seq = 0

    def set(self, name: str, value: float) -> float:
        """Command an actuator (clamped to its range); returns the value actually commanded."""
        i = self.index[name]
        a = self.actuators[i]
        lo, hi = a.range
        v = lo if value < lo else hi if value > hi else float(value)
        words = encode(v / a.scale, a.type, a.word_order)
        r = a.register
        if self.image[r : r + len(words)] != words:
            self.image[r : r + len(words)] = words
            self.changed = True
        v = decode(words, a.type, a.word_order) * a.scale  # what the device will actually see
        self.eng[i] = v
        return v

    def get(self, name: str) -> float:
        """The value last commanded."""
        return float(self.eng[self.index[name]])

    def as_dict(self) -> dict[str, float]:
        """All commands by name."""
        return {n: float(v) for n, v in zip(self.names, self.eng)}

    def beat(self) -> None:
        """Advance the heartbeat the firmware watchdog watches (written with the next block)."""
        if self.has_firmware:
            self.heartbeat = (self.heartbeat + 1) & 0xFFFF
            self.image[fw.HR_HEARTBEAT] = self.heartbeat
            self.changed = True

    def firmware_command(self, code: int) -> int:
        """Queue a firmware command (reset, safe); returns its sequence number for the ack."""
        self._seq = (self._seq % 0xFFFF) + 1
        self.image[fw.HR_COMMAND] = int(code)
        self.image[fw.HR_COMMAND_SEQ] = self._seq
        self.changed = True
        return self._seq

    def pending_writes(self) -> list[tuple[int, list[int]]]:
        """The blocks to write this cycle: the whole image (one block write on a firmware
        stand) whenever a command or the heartbeat changed, nothing otherwise."""
        if not self.changed:
            return []
        self.changed = False
        return [(b.start, self.image[b.start : b.start + b.count]) for b in self.blocks]
