"""A stand's I/O map: which blocks to read each cycle, how to turn them into engineering values
(vectorised), and the command image written back.

Built once from the stand config; the per-cycle work is a handful of numpy operations however
many channels there are.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

import numpy as np

from hil.stand import Actuator, StandConfig
from hil.stand import firmware_map as fw
from hil.stand.calibration import Linear
from hil.stand.device_tables import device_reads
from hil.stand.registers import MAX_WRITE, Block, coalesce, decode, encode, spec


@dataclass(frozen=True)
class ReadBlock:
    """One read request: a run of one device's data table."""

    table: str
    start: int
    count: int
    device: str = ""


class Decoder:
    """Raw blocks of every device → float64 engineering values, one per channel (config order).

    Each device has its own images (input, holding, discrete, coil); a block that arrives is
    stored into its device's image, and :meth:`eng` decodes them all at once.
    """

    def __init__(self, stand: StandConfig) -> None:
        self.names = [ch.name for ch in stand.channels]
        self.index = {n: i for i, n in enumerate(self.names)}
        n = len(stand.channels)
        self.fw_device = stand.firmware_device
        self.device_names = [d.name for d in stand.devices]
        self.reads: dict[str, list[ReadBlock]] = {}
        self.echo: dict[str, tuple[str, int]] = {}
        size: dict[tuple[str, str], int] = {}
        for d in stand.devices:
            extra: list[tuple[str, int, int]] = []
            if d.name == self.fw_device:
                extra.append(("input", 0, fw.IR_SYSTEM_COUNT))
            if d.heartbeat is not None and d.heartbeat.echo is not None:
                extra.append((d.heartbeat.echo_table, d.heartbeat.echo, 1))
                self.echo[d.name] = (d.heartbeat.echo_table, d.heartbeat.echo)
            self.reads[d.name] = [ReadBlock(t, s, c, d.name) for t, s, c in device_reads(d.name, list(stand.channels),
                                                                                         tuple(extra))]
            for b in self.reads[d.name]:
                key = (d.name, b.table)
                size[key] = max(size.get(key, 0), b.start + b.count)
        self.blocks: list[ReadBlock] = [b for d in self.device_names for b in self.reads[d]]
        self.images = {key: np.zeros(max(m, 1), dtype=np.uint16) for key, m in size.items()}
        # group channels by (device, table, type, word order) so each group decodes in one gather
        groups: dict[tuple[str, str, str, str], list[int]] = {}
        for i, ch in enumerate(stand.channels):
            groups.setdefault((ch.device, str(ch.table), ch.type, ch.word_order), []).append(i)
        self.groups = []
        for (dev, table, rtype, order), idx in groups.items():
            regs = np.array([stand.channels[i].register for i in idx], dtype=np.intp)
            self.groups.append(((dev, table), spec(rtype), order, np.array(idx, dtype=np.intp), regs))
        # struct unpacking wins where numpy's per-call cost dominates: several small groups
        # (TQ-12: 17 channels in 3 groups, 2.6 vs 10.7 µs); one big u16 group gathers faster
        # in numpy (1024 channels: 9 vs 58 µs)
        self._plans = _struct_plans(stand) if len(self.groups) > 1 and n <= STRUCT_MAX_CHANNELS else None
        self._other_groups = [g for g in self.groups if g[2] != "big"]  # what the struct plans leave
        self.masks = {d: np.array([ch.device == d for ch in stand.channels], dtype=bool) for d in self.device_names}
        self.gain = np.ones(n)
        self.offset = np.zeros(n)
        self.recalibrate(stand)
        self.valid_lo = np.array([ch.valid[0] for ch in stand.channels])
        self.valid_hi = np.array([ch.valid[1] for ch in stand.channels])
        self.raw = np.zeros(n)
        self._unbounded = not (np.isfinite(self.valid_lo).all() and np.isfinite(self.valid_hi).all())
        self.has_firmware = self.fw_device is not None

    def recalibrate(self, stand: StandConfig) -> None:
        """Take the calibrations of ``stand`` — the same channels, in the same places (a new
        zero from a checkout moves linear offsets; nothing else may differ)."""
        if [ch.name for ch in stand.channels] != self.names:
            raise ValueError("recalibrate: a stand with other channels needs a new decoder")
        self.nonlinear = []
        for i, ch in enumerate(stand.channels):
            if isinstance(ch.calibration, Linear):
                self.gain[i], self.offset[i] = ch.calibration.gain, ch.calibration.offset
            else:
                self.gain[i], self.offset[i] = 1.0, 0.0
                self.nonlinear.append((i, ch.calibration))

    def store(self, block: ReadBlock, values: list[int]) -> None:
        """Keep one block's registers (or bits) as they arrived."""
        self.images[block.device, block.table][block.start : block.start + block.count] = values

    def decode(self, blocks: list[list[int]]) -> np.ndarray:
        """Store a whole set of blocks (same order as :attr:`blocks`) and return eng values."""
        for rb, values in zip(self.blocks, blocks):
            self.store(rb, values)
        return self.eng()

    def eng(self, numpy_only: bool = False) -> np.ndarray:
        """Every channel in engineering units, from the images as last stored (``numpy_only``:
        without the struct plans, the reference path they are tested against)."""
        raw = self.raw
        if self._plans is not None and not numpy_only:
            # one struct unpack per image: ~4x faster than a numpy gather per type for the
            # tens of channels a stand has (numpy's per-call cost dominates at that size)
            for key, unpack, idx in self._plans:
                raw[idx] = unpack(self.images[key].astype(">u2").tobytes())
            self._gather(self._other_groups)
        else:
            self._gather(self.groups)
        eng = raw * self.gain + self.offset
        for i, cal in self.nonlinear:
            eng[i] = cal.to_eng(raw[i])
        return eng

    def _gather(self, groups: list) -> None:
        """Channels of each (image, type, word order) group into ``raw``, one numpy gather each."""
        raw = self.raw
        for key, rspec, order, idx, regs in groups:
            raw[idx] = rspec.decode_vector(self.images[key], regs, order)

    def system(self) -> np.ndarray | None:
        """The firmware system block as last read (None on stands without firmware)."""
        if self.fw_device is None:
            return None
        return self.images[self.fw_device, "input"][: fw.IR_SYSTEM_COUNT]

    def echo_value(self, device: str) -> int:
        """The heartbeat echo register of a device as last read."""
        table, reg = self.echo[device]
        return int(self.images[device, table][reg])

    def in_range(self, eng: np.ndarray) -> np.ndarray:
        """Boolean per channel: a finite value inside its valid range. A NaN compares false;
        ±inf needs its own test only where a bound is infinite."""
        ok = (eng >= self.valid_lo) & (eng <= self.valid_hi)
        if self._unbounded:
            ok &= np.isfinite(eng)
        return ok

    def out_of_range(self, eng: np.ndarray) -> np.ndarray:
        """Boolean per channel: outside its valid range (a failed or disconnected sensor)."""
        return (eng < self.valid_lo) | (eng > self.valid_hi) | ~np.isfinite(eng)


STRUCT_MAX_CHANNELS = 64


def _struct_plans(stand: StandConfig) -> list[tuple[tuple[str, str], Callable[..., tuple[Any, ...]], np.ndarray]] | None:
    """Per device table, a struct format that decodes every channel in it from the image's
    big-endian bytes (channels in register order, padding between them). Channels with another
    word order or swapped bytes are left to the numpy path. None when two channels share a
    register (the general path for the whole stand)."""
    by_image: dict[tuple[str, str], list[tuple[int, int]]] = {}
    for i, ch in enumerate(stand.channels):
        if ch.word_order != "big":
            continue
        by_image.setdefault((ch.device, str(ch.table)), []).append((ch.register, i))
    plans = []
    for key, items in by_image.items():
        items.sort()
        fmt, pos = ">", 0
        for reg, i in items:
            ch = stand.channels[i]
            if reg < pos:
                return None  # overlapping channels
            if reg > pos:
                fmt += f"{2 * (reg - pos)}x"
            fmt += spec(ch.type).code
            pos = reg + ch.width
        plans.append((key, struct.Struct(fmt).unpack_from, np.array([i for _, i in items], dtype=np.intp)))
    return plans


@dataclass(frozen=True)
class Write:
    """One write request of a cycle: consecutive holding registers or coils of one device."""

    device: str
    table: str
    address: int
    values: list[int]


class Commands:
    """The output images the controller owns (per device: holding registers and coils), in
    engineering units and raw values.

    Only addresses named in the stand config (plus the firmware system block and heartbeat
    registers) are ever written: write blocks are coalesced without gaps so a vendor's unrelated
    registers between two outputs are never touched. Only the blocks that changed are written
    (a throttle move is one register write, not the device's whole image); a failed write marks
    the device's blocks again, so the next cycle repairs it.
    """

    def __init__(self, stand: StandConfig) -> None:
        self.stand = stand
        self.actuators: tuple[Actuator, ...] = stand.actuators
        self.names = [a.name for a in self.actuators]
        self.index = {n: i for i, n in enumerate(self.names)}
        self.eng = np.zeros(len(self.actuators))
        self._last: list[tuple[float, list[int], float] | None] = [None] * len(self.actuators)
        self.fw_device = stand.firmware_device
        self.has_firmware = self.fw_device is not None
        spans: dict[tuple[str, str], list[tuple[int, int]]] = {}
        for a in self.actuators:
            spans.setdefault((a.device, str(a.table)), []).append((a.register, a.width))
        if self.fw_device is not None:
            spans.setdefault((self.fw_device, "holding"), []).append((0, fw.HR_SYSTEM_COUNT))
        self.beats = {d.name: d.heartbeat for d in stand.devices if d.heartbeat is not None}
        for dev, hb in self.beats.items():
            spans.setdefault((dev, "holding"), []).append((hb.register, 1))
        self.blocks: dict[tuple[str, str], list[Block]] = {
            key: coalesce(sp, max_count=MAX_WRITE if key[1] == "holding" else 1968, max_gap=0)
            for key, sp in spans.items()}
        self.images: dict[tuple[str, str], list[int]] = {
            key: [0] * max(s + w for s, w in sp) for key, sp in spans.items()}
        self._owner: dict[tuple[str, str, int], int] = {
            (dev, table, r): k for (dev, table), blocks in self.blocks.items()
            for k, b in enumerate(blocks) for r in range(b.start, b.start + b.count)}
        self._dirty: set[tuple[str, str, int]] = set()
        self.changed = True
        self.counters = {dev: 0 for dev in self.beats}
        self._seq = 0

    @property
    def image(self) -> list[int]:
        """The first device's holding-register image (single-device stands)."""
        return self.images.get((self.stand.devices[0].name, "holding"), [])

    @property
    def changed(self) -> bool:
        """Some device has something to write."""
        return bool(self._dirty)

    @changed.setter
    def changed(self, value: bool) -> None:
        self._dirty = set()
        if value:
            for d in {d for d, _ in self.images}:
                self.mark(d)

    @property
    def dirty(self) -> set[str]:
        """Devices with a block to write."""
        return {d for d, _, _ in self._dirty}

    def mark(self, device: str, table: str | None = None, register: int | None = None) -> None:
        """Mark a block for writing: the one holding ``register``, else all of the device's."""
        if register is not None and table is not None:
            self._dirty.add((device, table, self._owner[device, table, register]))
            return
        for (dev, tab), blocks in self.blocks.items():
            if dev == device and (table is None or tab == table):
                self._dirty.update((dev, tab, k) for k in range(len(blocks)))

    def set(self, name: str, value: float) -> float:
        """Command an actuator (clamped to its range); returns the value actually commanded."""
        i = self.index[name]
        a = self.actuators[i]
        lo, hi = a.range
        v = lo if value < lo else hi if value > hi else float(value)
        img = self.images[a.device, a.table]
        r = a.register
        last = self._last[i]
        if last is not None and last[0] == v and img[r : r + len(last[1])] == last[1]:
            return last[2]  # the same command as last cycle (a throttle holds its valves): nothing to encode
        words = [1 if v > 0 else 0] if a.table == "coil" else encode(v / a.scale, a.type, a.word_order)
        if img[r : r + len(words)] != words:
            img[r : r + len(words)] = words
            self.mark(a.device, a.table, r)
        sent = decode(words, a.type, a.word_order) * (1.0 if a.table == "coil" else a.scale)  # what the device sees
        self.eng[i] = sent
        self._last[i] = (v, words, sent)
        return sent

    def get(self, name: str) -> float:
        """The value last commanded."""
        return float(self.eng[self.index[name]])

    def as_dict(self) -> dict[str, float]:
        """All commands by name."""
        return {n: float(v) for n, v in zip(self.names, self.eng)}

    @property
    def heartbeat(self) -> int:
        """The firmware heartbeat counter as last written."""
        return self.images[self.fw_device, "holding"][fw.HR_HEARTBEAT] if self.fw_device else 0

    def beat(self) -> None:
        """Advance the heartbeat the firmware watchdog watches (written with the next block)."""
        if self.fw_device is not None:
            img = self.images[self.fw_device, "holding"]
            img[fw.HR_HEARTBEAT] = (img[fw.HR_HEARTBEAT] + 1) & 0xFFFF
            self.mark(self.fw_device, "holding", fw.HR_HEARTBEAT)

    def beat_device(self, device: str) -> int:
        """Advance a plain device heartbeat counter (a PLC watchdog block); returns its value."""
        hb = self.beats[device]
        c = self.counters[device] = (self.counters[device] + 1) & 0xFFFF
        self.images[device, "holding"][hb.register] = c
        self.mark(device, "holding", hb.register)
        return c

    def firmware_command(self, code: int) -> int:
        """Queue a firmware command (reset, safe); returns its sequence number for the ack."""
        self._seq = (self._seq % 0xFFFF) + 1
        assert self.fw_device is not None
        img = self.images[self.fw_device, "holding"]
        img[fw.HR_COMMAND] = int(code)
        img[fw.HR_COMMAND_SEQ] = self._seq
        self.mark(self.fw_device, "holding", fw.HR_COMMAND)
        self.mark(self.fw_device, "holding", fw.HR_COMMAND_SEQ)
        return self._seq

    def writes_for(self, device: str) -> list[Write]:
        """Every write block of a device, from its images as they are now."""
        out = []
        for table in ("holding", "coil"):
            img = self.images.get((device, table))
            if img is not None:
                out += [Write(device, table, b.start, img[b.start : b.start + b.count])
                        for b in self.blocks[device, table]]
        return out

    def pending_writes(self, devices: Collection[str] | None = None) -> list[Write]:
        """The blocks that changed since they were last taken (of ``devices`` only, when
        given; the others stay pending), in device, table, address order."""
        due = sorted(k for k in self._dirty if devices is None or k[0] in devices)
        self._dirty.difference_update(due)
        out = []
        for dev, table, k in due:
            b = self.blocks[dev, table][k]
            out.append(Write(dev, table, b.start, self.images[dev, table][b.start : b.start + b.count]))
        return out
