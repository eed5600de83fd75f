"""Register types and word orders, inputs and outputs: every vendor layout packs and unpacks to
the same value in the firmware (which encodes sensors and decodes commands), the controller's
vectorised decoder and its command image — and a stand whose valves are FLOAT32 outputs with
byte-swapped words runs a relight like the shipped one."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import LAB, ROOT

from hil.errors import ConfigError
from hil.runner import EXIT_OK, RunOptions, run
from hil.stand import parse_stand
from hil.stand.iomap import Commands, Decoder
from hil.stand.registers import WIDTH, WORD_ORDERS, decode, encode

VALUES = {"u16": [0, 1, 513, 65535], "i16": [-32768, -2, 0, 32767], "u32": [0, 70000, 4294967295],
          "i32": [-2147483648, -70000, 0, 2147483647], "f32": [-1.5, 0.0, 1.0, 3.25e7], "bit": [0, 1]}
REGISTER_TYPES = [t for t in WIDTH if t != "bit"]


@pytest.mark.parametrize("order", WORD_ORDERS)
@pytest.mark.parametrize("rtype", list(WIDTH))
def test_every_type_and_order_round_trips(rtype, order) -> None:
    for v in VALUES[rtype]:
        regs = encode(v, rtype, order)
        assert len(regs) == WIDTH[rtype] and all(0 <= r <= 0xFFFF for r in regs)
        assert decode(regs, rtype, order) == pytest.approx(v, rel=1e-7)


def test_the_four_vendor_layouts_of_one_float() -> None:
    """1.0 as FLOAT32 is 0x3F800000: ABCD, CDAB, BADC, DCBA."""
    assert encode(1.0, "f32", "big") == [0x3F80, 0x0000]
    assert encode(1.0, "f32", "little") == [0x0000, 0x3F80]
    assert encode(1.0, "f32", "big_byteswap") == [0x803F, 0x0000]
    assert encode(1.0, "f32", "little_byteswap") == [0x0000, 0x803F]
    assert encode(0x1234, "u16", "big_byteswap") == [0x3412]


def _stand_with_every_layout() -> str:
    chans, reg = [], 10
    for rtype in REGISTER_TYPES:
        for order in WORD_ORDERS:
            chans.append(f'[[channels]]\nname = "{rtype}_{order}"\nregister = {reg}\ntype = "{rtype}"\n'
                         f'word_order = "{order}"\n')
            reg += WIDTH[rtype]
    acts = ('[[actuators]]\nname = "dac"\nkind = "proportional"\nregister = 100\ntype = "f32"\n'
            'word_order = "little_byteswap"\nunits = "V"\nrange = [0.0, 5.0]\n'
            '[[actuators]]\nname = "relay"\nkind = "valve"\nregister = 103\npropellant = "ox"\n')
    return ('[stand]\nname = "layouts"\n[transport]\nkind = "tcp"\n' + "".join(chans) + acts +
            '[safing]\nsteps = [{ at = 0.0, set = { relay = 0, dac = 0 } }]\n')


def test_the_vectorised_decoder_agrees_with_the_scalar_one() -> None:
    stand = parse_stand(_stand_with_every_layout(), "layouts.toml")
    dec = Decoder(stand)
    image = [0] * 200
    want = {}
    for ch in stand.channels:
        v = VALUES[ch.type][1]
        image[ch.register : ch.register + ch.width] = encode(v, ch.type, ch.word_order)
        want[ch.name] = v
    eng = dec.decode([image[b.start : b.start + b.count] for b in dec.blocks])
    for ch in stand.channels:
        assert eng[dec.index[ch.name]] == pytest.approx(want[ch.name], rel=1e-7), ch.name


@pytest.mark.parametrize("stand_file", ["sim_tq12", "sim_tq12_devices", "sim_lab", "rs485_modules", "layouts"])
def test_the_struct_decoder_and_the_numpy_gather_agree_on_any_image(stand_file) -> None:
    """eng() unpacks big-word-order channels with one struct call per image and gathers the
    rest with numpy; both paths decode every register pattern to the same value."""
    from hil.catalog import find_stand
    from hil.stand import load_stand

    stand = (parse_stand(_stand_with_every_layout(), "layouts.toml") if stand_file == "layouts"
             else load_stand(find_stand(stand_file)))
    dec = Decoder(stand)
    rng = np.random.default_rng(7)
    for _ in range(50):
        for img in dec.images.values():
            img[:] = rng.integers(0, 65536, len(img))
        np.testing.assert_array_equal(dec.eng(), dec.eng(numpy_only=True))


def test_a_float_output_is_two_registers_written_exactly_and_nothing_between() -> None:
    cmd = Commands(parse_stand(_stand_with_every_layout(), "layouts.toml"))
    cmd.pending_writes()
    assert cmd.set("dac", 2.345) == pytest.approx(2.345, rel=1e-7)  # no rounding to counts
    cmd.set("relay", 1)
    writes = cmd.pending_writes()
    written = {w.address + k: r for w in writes for k, r in enumerate(w.values)}
    assert set(written) == {100, 101, 103}  # register 102 belongs to nobody: never written
    assert decode([written[100], written[101]], "f32", "little_byteswap") == pytest.approx(2.345, rel=1e-7)
    assert cmd.set("dac", 9.0) == 5.0  # clamped to its range


@pytest.mark.parametrize("old, new, message", [
    ('register = 103', 'register = 101', "holding register 101 is also used by actuator 'dac'"),
    ('range = [0.0, 5.0]\n[[actuators]]', 'range = [-1.0, 5.0]\n[[actuators]]', "must be ≥ 0 and fit a f32 register"),
    ('word_order = "little_byteswap"\nunits', 'word_order = "middle"\nunits', "must be one of big, little"),
])
def test_output_layouts_are_validated(old, new, message) -> None:
    text = _stand_with_every_layout()
    assert old in text
    with pytest.raises(ConfigError, match=message):
        parse_stand(text.replace(old, new, 1), "bad.toml")


def test_a_relight_with_float_valve_outputs_in_a_vendor_word_order(tmp_path) -> None:
    """The lab stand with its main valves moved to FLOAT32 outputs, words little-endian and bytes
    swapped (DCBA): the simulated firmware decodes what the controller encodes, and the burns
    come out as on the shipped stand."""
    text = LAB.read_text()
    for name, reg, new in (("ox_main", 4, 20), ("fuel_main", 5, 22)):
        old = f'name = "{name}"\nkind = "proportional"\nregister = {reg}\n'
        assert old in text
        text = text.replace(old, f'name = "{name}"\nkind = "proportional"\nregister = {new}\n'
                                 f'type = "f32"\nword_order = "little_byteswap"\n')
    stand_file = tmp_path / "float_valves.toml"
    stand_file.write_text(text)
    seq = str(ROOT / "configs/sequences/lab_relight.toml")
    ours = run(RunOptions(sequence=seq, stand=str(LAB), sim="lockstep", out=str(tmp_path / "a"), progress=False))
    theirs = run(RunOptions(sequence=seq, stand=str(stand_file), sim="lockstep", out=str(tmp_path / "b"),
                            progress=False))
    assert ours.exit_code == theirs.exit_code == EXIT_OK, theirs.summary.get("abort_reason")
    a = [b["pc_mean_mpa"] for b in ours.summary["burns"]]
    b = [b["pc_mean_mpa"] for b in theirs.summary["burns"]]
    assert len(a) == len(b) == 3 and all(math.isclose(x, y, rel_tol=0.01) for x, y in zip(a, b))
    assert not np.isnan(b).any()
