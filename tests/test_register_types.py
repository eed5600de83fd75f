"""Register data types have one definition each (hil/stand/registers.py, issue 25): the scalar
decode, the controller's vectorised gather and its struct plans, and the simulator's sensors
agree for every type and word order on awkward values (NaN, ±inf, negatives, extremes); a type
the table does not define is a located config error, never a guessed two-register decode."""

from __future__ import annotations

import math

import numpy as np
import pytest

from firmware_sim.engine import LAB as LAB_P
from firmware_sim.engine import Engine
from firmware_sim.sensors import Sensor
from hil.errors import ConfigError
from hil.stand import parse_stand
from hil.stand.iomap import Decoder
from hil.stand.kinds import RegisterType, WordOrder
from hil.stand.registers import TYPES, WIDTH, decode, encode, spec

AWKWARD = {
    "u16": [0, 1, 0x00FF, 0xFF00, 0x8000, 65535],
    "i16": [-32768, -256, -1, 0, 255, 32767],
    "u32": [0, 1, 0xFFFF, 0x10000, 0x80000000, 0xFFFFFFFF],
    "i32": [-2147483648, -65536, -1, 0, 65535, 2147483647],
    "f32": [math.nan, math.inf, -math.inf, -0.0, -1.5, 1e-40, 3.4e38, -3.25e7, 0.1],
    "bit": [0, 1],
}


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))


def _equal(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


def test_the_table_defines_every_type_the_enum_names() -> None:
    assert set(TYPES) == set(RegisterType) == set(AWKWARD)
    assert WIDTH == {str(t): s.words for t, s in TYPES.items()}


@pytest.mark.parametrize("order", list(WordOrder))
@pytest.mark.parametrize("rtype", list(RegisterType))
def test_every_type_decodes_the_same_through_the_scalar_and_the_vector_path(rtype, order) -> None:
    rs = spec(rtype)
    values = AWKWARD[str(rtype)]
    img = np.zeros(3 + rs.words * len(values), dtype=np.uint16)  # an odd start: no alignment luck
    regs = []
    for k, v in enumerate(values):
        at = 3 + k * rs.words
        img[at : at + rs.words] = encode(v, rtype, order)
        regs.append(at)
    vector = rs.decode_vector(img, np.array(regs, dtype=np.intp), order).astype(np.float64)
    for k, v in enumerate(values):
        scalar = decode(img[regs[k] : regs[k] + rs.words].tolist(), rtype, order)
        want = float(np.float32(v)) if rtype == RegisterType.F32 else float(v)
        assert _same(scalar, want), (rtype, order, v, scalar)
        assert _same(float(vector[k]), scalar), (rtype, order, v, vector[k], scalar)


def _stand(rtype: str, order: str, n: int) -> str:
    table = 'table = "discrete"\n' if rtype == "bit" else ""
    chans = "".join(f'[[channels]]\nname = "c{k}"\nregister = {k * WIDTH[rtype]}\ntype = "{rtype}"\n'
                    f'word_order = "{order}"\n{table}' for k in range(n))
    return ('[stand]\nname = "types"\n[transport]\nkind = "tcp"\n' + chans +
            '[[actuators]]\nname = "v"\nkind = "valve"\nregister = 0\n'
            '[safing]\nsteps = [{ at = 0.0, set = { v = 0 } }]\n')


@pytest.mark.parametrize("order", list(WordOrder))
@pytest.mark.parametrize("rtype", list(RegisterType))
def test_the_decoder_s_struct_plans_and_numpy_gather_agree_with_the_scalar_decode(rtype, order) -> None:
    values = AWKWARD[str(rtype)]
    stand = parse_stand(_stand(str(rtype), str(order), len(values)), "types.toml")
    dec = Decoder(stand)
    image = []
    for v in values:
        image += encode(v, rtype, order)
    eng = dec.decode([image[b.start : b.start + b.count] for b in dec.blocks])
    gathered = dec.eng(numpy_only=True)
    for k, v in enumerate(values):
        scalar = decode(encode(v, rtype, order), rtype, order)
        # through the calibration (eng = raw * 1 + 0) a -0.0 comes out 0.0: equal, not the same bits
        assert _equal(float(eng[k]), scalar) and _equal(float(gathered[k]), scalar), (rtype, order, v)


@pytest.mark.parametrize("order", list(WordOrder))
@pytest.mark.parametrize("rtype", ["u16", "i16"])
def test_the_simulated_sensor_packs_its_counts_as_the_table_encodes_them(rtype, order) -> None:
    """The sensor model's fast path for 16-bit linear channels gives the registers encode()
    gives (a vendor's swapped bytes included: a shortcut that skipped them sent the wrong value)."""
    text = ('[stand]\nname = "s"\n[transport]\nkind = "tcp"\n[[channels]]\nname = "pc"\nregister = 0\n'
            f'type = "{rtype}"\nword_order = "{order}"\nsource = "pc"\n'
            'calibration = { kind = "linear", gain = 0.001, offset = -1.5 }\n'
            '[[actuators]]\nname = "v"\nkind = "valve"\nregister = 0\n[safing]\nsteps = [{ at = 0.0, set = { v = 0 } }]\n')
    ch = parse_stand(text, "s.toml").channels[0]
    engine = Engine(LAB_P)
    sensor = Sensor(ch, iter(lambda: 0.0, None), noise_scale=0.0)
    for pc in (0.0, 0.25, 1.0):
        engine.pc = pc * 1e6
        sensor.y = None  # no transducer lag: the value is the plant's now
        got = sensor.registers(engine)
        assert got == encode(ch.calibration.to_raw(sensor.y), rtype, order), (pc, got)


@pytest.mark.parametrize("where", ["channels", "actuators"])
def test_a_type_the_table_does_not_define_is_a_located_config_error(where) -> None:
    """A 64-bit value in a stand file is refused with the file, line and key, not decoded as
    two registers."""
    text = ('[stand]\nname = "s"\n[transport]\nkind = "tcp"\n[[channels]]\nname = "pc"\nregister = 0\n'
            'type = "CH"\n[[actuators]]\nname = "v"\nkind = "proportional"\nregister = 0\ntype = "AC"\n'
            '[safing]\nsteps = [{ at = 0.0, set = { v = 0 } }]\n')
    text = text.replace('"CH"', '"f64"' if where == "channels" else '"u16"')
    text = text.replace('"AC"', '"i64"' if where == "actuators" else '"u16"')
    with pytest.raises(ConfigError) as info:
        parse_stand(text, "wide.toml")
    err = info.value
    assert err.path == "wide.toml" and err.key == f"{where}[0].type"
    assert err.line == (8 if where == "channels" else 13)
    assert "must be one of u16, i16, u32, i32, f32, bit" in err.reason
    with pytest.raises(ValueError):
        spec("f64")  # nor can code ask for a definition that does not exist


@pytest.mark.parametrize("order", list(WordOrder))
def test_a_signalling_nan_off_the_wire_is_nan_through_every_path_without_a_warning(order) -> None:
    """0x7F800001 is a float32 signalling NaN: the vector path widening it to float64 raised the
    FPU's invalid flag (a RuntimeWarning, an error in the tests); it is NaN everywhere, quietly."""
    big = [0x7F80, 0x0001]
    words = big if WordOrder(order).high_first else big[::-1]
    if WordOrder(order).byteswap:
        words = [((w >> 8) | (w << 8)) & 0xFFFF for w in words]
    assert math.isnan(decode(words, "f32", order))
    img = np.array([0, *words], dtype=np.uint16)
    assert math.isnan(float(spec("f32").decode_vector(img, np.array([1], dtype=np.intp), order)[0]))
    stand = parse_stand(_stand("f32", str(order), 2), "nan.toml")
    dec = Decoder(stand)
    eng = dec.decode([(words * 2)[b.start : b.start + b.count] for b in dec.blocks])
    assert np.isnan(eng).all() and np.isnan(dec.eng(numpy_only=True)).all()
