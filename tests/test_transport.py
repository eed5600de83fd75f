"""Transports and decoding: TCP and RTU against `hil sim` over real sockets and a pty pair,
the lockstep transport, register types, word orders and calibrations, block coalescing."""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import pytest
from conftest import LAB, TQ12
from simrig import Rig

from hil.errors import DeviceException, TransportError, TransportTimeout
from hil.stand import Channel, TransportConfig, load_stand, parse_stand
from hil.stand import firmware_map as fw
from hil.stand.calibration import Linear, Polynomial, Table
from hil.stand.devices import wire_time
from hil.stand.iomap import Commands, Decoder
from hil.stand.registers import Block, coalesce, decode, encode
from hil.transport import open_transport
from hil.transport.lockstep import LockstepTransport

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize("kind, value", [("u16", 65535), ("i16", -1234), ("u32", 4_000_000_000), ("i32", -2_000_000),
                                         ("f32", 3.25)])
@pytest.mark.parametrize("order", ["big", "little"])
def test_register_types_round_trip(kind: str, value: float, order: str) -> None:
    regs = encode(value, kind, order)
    assert all(0 <= r <= 0xFFFF for r in regs)
    assert decode(regs, kind, order) == pytest.approx(value)


def test_encode_saturates_like_an_adc() -> None:
    assert encode(70000, "u16") == [65535]
    assert decode(encode(-40000, "i16"), "i16") == -32768
    assert encode(-5, "u32") == [0, 0]


def test_word_order_matters() -> None:
    assert encode(0x12345678, "u32", "big") == [0x1234, 0x5678]
    assert encode(0x12345678, "u32", "little") == [0x5678, 0x1234]


def test_coalesce_fewest_blocks_without_crossing_limits() -> None:
    assert coalesce([(16, 1), (17, 1), (24, 2), (0, 16)]) == [Block(0, 26)]  # small holes are read through
    assert coalesce([(0, 1), (200, 2)]) == [Block(0, 1), Block(200, 2)]  # a big hole is not read through
    blocks = coalesce([(i, 2) for i in range(0, 300, 2)])
    assert all(b.count <= 125 for b in blocks) and sum(b.count for b in blocks) == 300
    assert coalesce([(2000, 1), (2002, 1)], max_gap=0) == [Block(2000, 1), Block(2002, 1)]  # writes never bridge


def test_calibrations_invert() -> None:
    cases = [(Linear(0.5, -2.0), [0.0, 5.0, 90.0, 500.0]),
             (Polynomial((1.0, 0.01, 1e-6), 0.0, 65535.0), [0.0, 5.0, 90.0, 500.0, 60000.0]),
             (Table((0.0, 100.0, 1000.0), (10.0, 20.0, 50.0)), [0.0, 5.0, 90.0, 500.0]),
             (Table((0.0, 10.0), (5.0, -5.0)), [0.0, 2.0, 5.0, 9.0])]  # decreasing tables invert too
    for cal, raws in cases:
        raws = np.array(raws)
        assert np.allclose(cal.to_raw(cal.to_eng(raws)), raws, atol=1e-3), cal


def test_decoder_all_types_and_calibrations() -> None:
    """A stand of every type/word order/table, encoded by hand, decoded in one vectorised pass."""
    text = LAB.read_text()
    extra = """
[[channels]]
name = "x_i32_little"
register = 40
type = "i32"
word_order = "little"
calibration = { kind = "linear", gain = 0.001 }
source = "thrust"

[[channels]]
name = "x_f32"
register = 42
type = "f32"
source = "wall_temp"

[[channels]]
name = "x_poly"
register = 44
type = "u16"
calibration = { kind = "polynomial", coeffs = [1.0, 0.5, 0.001] }
source = "pc"

[[channels]]
name = "x_holding"
register = 100
table = "holding"
type = "u32"
source = "pc"
"""
    text = text.replace('[sim]\nengine = "lab"\nseed = 7\n', "")  # a hardware stand may read holding registers
    stand = parse_stand(text.replace("[[actuators]]", extra + "\n[[actuators]]", 1), "all.toml")
    dec = Decoder(stand)
    assert {(b.table, b.start) for b in dec.blocks} == {("input", 0), ("input", 40), ("holding", 100)}
    images = {"input": [0] * 46, "holding": [0] * 102}
    want = {"x_i32_little": -1234.567, "x_f32": 812.5, "x_poly": 1.0 + 0.5 * 300 + 0.001 * 300**2, "x_holding": 70000.0}
    images["input"][40:42] = encode(-1234567, "i32", "little")
    images["input"][42:44] = encode(812.5, "f32", "big")
    images["input"][44:45] = encode(300, "u16")
    images["holding"][100:102] = encode(70000, "u32", "big")
    eng = dec.decode([images[b.table][b.start: b.start + b.count] for b in dec.blocks])
    for name, v in want.items():
        assert eng[dec.index[name]] == pytest.approx(v, rel=1e-9), name


def test_decoder_matches_hand_encoding() -> None:
    stand = load_stand(LAB)
    dec = Decoder(stand)
    image = [0] * stand.input_register_count
    truth = {}
    for i, ch in enumerate(stand.channels):
        eng = ch.valid[0] + (ch.valid[1] - ch.valid[0]) * (i + 1) / (len(stand.channels) + 2)
        regs = encode(float(ch.calibration.to_raw(eng)), ch.type, ch.word_order)
        image[ch.register: ch.register + ch.width] = regs
        truth[ch.name] = float(ch.calibration.to_eng(decode(regs, ch.type, ch.word_order)))
    blocks = [image[b.start: b.start + b.count] for b in dec.blocks]
    eng = dec.decode(blocks)
    for name, want in truth.items():
        assert eng[dec.index[name]] == pytest.approx(want, abs=1e-9)


def test_commands_clamp_scale_and_write_only_owned_registers() -> None:
    stand = load_stand("configs/stands/labjack_t7.toml")
    cmd = Commands(stand)
    assert cmd.set("ox_main", 7) == 1.0  # on/off valves clamp to their range
    writes = [(w.address, w.values) for w in cmd.pending_writes()]
    assert writes == [(1000, [0, 0]), (2000, [1, 0, 0, 0])]  # DAC0 (FLOAT32) and the relays; 1002-1999 untouched
    assert cmd.pending_writes() == []  # nothing changed, no firmware heartbeat: nothing written
    lab = Commands(load_stand(LAB))
    assert lab.set("ox_main", 33.337) == pytest.approx(33.34)
    lab.beat()
    (w,) = lab.pending_writes()
    addr, regs = w.address, w.values
    assert addr == 0 and regs[fw.HR_HEARTBEAT] == 1 and regs[4] == 3334


def test_wire_time_matches_the_reference_figure() -> None:
    # reference/toolchain.md: 64-register read at 115200 8N1 = 8 + 133 bytes + two 1.75 ms gaps ≈ 15.7 ms
    assert wire_time(115200, 8, 133) == pytest.approx(0.0157, abs=0.0002)


# --------------------------------------------------------------------------- real links

def test_tcp_transport_against_the_simulator(sim_factory) -> None:
    stand = load_stand(TQ12)
    sim = sim_factory(TQ12)
    tr = open_transport(stand, dataclasses.replace(stand.transport, port=sim.port, timeout_s=0.5))
    with tr:
        regs = tr.read_registers("input", 0, stand.input_register_count)
        assert regs[fw.IR_VERSION] == fw.FIRMWARE_VERSION
        tr.write_registers(0, [7, 0, 0, 0, 0, 0, 0, 0, 1])
        assert tr.read_registers("holding", 0, 9) == [7, 0, 0, 0, 0, 0, 0, 0, 1]
        tr.write_registers(0, [8] + [0] * 8, wait=False)  # acknowledged at the next transaction
        # the echo is in the input image from the firmware's next scan on (it double-buffers)
        deadline = time.monotonic() + 2.0
        while (echo := tr.read_registers("input", fw.IR_HEARTBEAT_ECHO, 1)) != [8] and time.monotonic() < deadline:
            pass
        assert echo == [8]
        with pytest.raises(DeviceException) as exc:
            tr.read_registers("input", 500, 2)
        assert exc.value.code == 2
        assert tr.stats.exceptions == 1 and tr.stats.retries == 0  # exceptions are answers, never retried
    sim.kill()
    sim.stop()  # its pipes closed
    with pytest.raises(TransportError):
        tr.connect()


def test_tcp_transport_times_out_then_recovers(sim_factory) -> None:
    stand = load_stand(LAB)
    sim = sim_factory(LAB, "--fault", "stop_answering@0.8+0.6")
    tr = open_transport(stand, dataclasses.replace(stand.transport, port=sim.port, timeout_s=0.05, retries=1))
    with tr:
        import time

        seen_timeout = False
        ms = 0
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                ms = decode(tr.read_registers("input", fw.IR_TIME_MS, 2), "u32")
                if seen_timeout and ms > 1400:
                    break
            except TransportTimeout:
                seen_timeout = True
        assert seen_timeout and ms > 1400
        assert tr.stats.timeouts >= 2 and tr.stats.retries >= 1


def test_rtu_transport_over_a_pty(sim_factory, pty_pair) -> None:
    stand = load_stand(TQ12)
    sim_factory(TQ12, "--rtu", pty_pair.a)
    cfg = TransportConfig(kind="rtu", device=pty_pair.b, baud=115200, unit=1, timeout_s=0.5, retries=1)
    with open_transport(stand, cfg) as tr:
        regs = tr.read_registers("input", 0, stand.input_register_count)
        assert regs[fw.IR_VERSION] == fw.FIRMWARE_VERSION
        tr.write_registers(0, [99] + [0] * 8)
        assert tr.read_registers("input", fw.IR_HEARTBEAT_ECHO, 1) == [99]
        with pytest.raises(DeviceException):
            tr.read_registers("input", 300, 1)
        # garbage on the line before a request: the next transaction still works
        import serial

        with serial.Serial(pty_pair.b, 115200) as raw:
            raw.write(b"\x01\x04\xff\x00garbage")
        assert tr.read_registers("input", fw.IR_VERSION, 1) == [fw.FIRMWARE_VERSION]


def test_lockstep_transport_maps_faults_and_bounds() -> None:
    rig = Rig(LAB, faults=("stop_answering@0.1+0.1",))
    tr = LockstepTransport(rig.fw)
    with tr:
        assert tr.read_registers("input", fw.IR_VERSION, 1) == [fw.FIRMWARE_VERSION]
        with pytest.raises(DeviceException):
            tr.read_registers("input", 1000, 1)
        rig.fw.advance(0.1)
        with pytest.raises(TransportTimeout):
            tr.read_registers("input", 0, 1)
        rig.fw.advance(0.1)
        assert tr.read_registers("input", fw.IR_VERSION, 1) == [fw.FIRMWARE_VERSION]


def test_channel_dataclass_width() -> None:
    assert Channel("x", 0, "f32", Linear(1.0)).width == 2
