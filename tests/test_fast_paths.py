"""The lockstep run's fast paths (issue 26) give exactly what the general code gives: the fused
sensor sampler against each sensor's own ``registers``, the register lookups by plain string
against the enums. Identity, not closeness: a recorded run must not change by one count."""

from __future__ import annotations

import pytest
from conftest import LAB, TQ12
from test_firmware import burning_rig

from firmware_sim.sensors import Sensor, noise_source, sample_into
from hil.stand.kinds import RegisterType, WordOrder
from hil.stand.registers import TYPES, decode, encode, spec


def _sensor_sets(rig, seed: int) -> tuple[list[Sensor], list[Sensor]]:
    """Two identical sets of the stand's sensors, each set sharing one noise stream (as the
    firmware's do), so the order of the draws matters."""
    na, nb = noise_source(seed), noise_source(seed)
    chans = rig.stand.channels
    return [Sensor(ch, na) for ch in chans], [Sensor(ch, nb) for ch in chans]


@pytest.mark.parametrize("stand", [TQ12, LAB])
def test_the_fused_sampler_gives_the_counts_each_sensor_gives_alone(stand) -> None:
    rig = burning_rig(stand)
    fast, slow = _sensor_sets(rig, 11)
    size = max(s.register + s.width for s in fast)
    eng = rig.fw.engine
    for scan in range(400):
        # the transducer faults the firmware can set, on and off, on both sets alike
        for sa, sb in zip(fast, slow, strict=True):
            k = (scan // 50 + sa.register) % 6
            for s in (sa, sb):
                s.offset = 0.05 if k == 1 else 0.0
                s.drift_rate, s.drift_t0 = (0.3, 0.1) if k == 2 else (0.0, 0.0)
                s.dropout = k == 3
                s.pattern = k == 4
        if scan == 200:
            for sa, sb in zip(fast, slow, strict=True):
                sa.freeze(eng)
                sb.freeze(eng)
        if scan == 260:
            for s in fast + slow:
                s.frozen = None
        a, b = [0] * size, [0] * size
        lo, hi = (0, size) if scan % 3 else (2, size - 3)  # partial reads too
        sample_into(fast, eng, a, lo, hi)
        for s in slow:
            if s.register < hi and s.register + s.width > lo:
                b[s.register : s.register + s.width] = s.registers(eng)
        assert a == b, f"scan {scan}"
        assert [s.last for s in fast] == [s.last for s in slow]
        rig.fw.advance(0.001 if scan % 7 else 0.003)  # uneven intervals: the lag's decay is recomputed


def test_a_fused_sample_draws_the_same_noise_as_the_sensor_would() -> None:
    """Sampled through the fused path or not, the stream is left at the same place."""
    rig = burning_rig(TQ12)
    fast, slow = _sensor_sets(rig, 5)
    size = max(s.register + s.width for s in fast)
    sample_into(fast, rig.fw.engine, [0] * size, 0, size)
    for s in slow:
        s.registers(rig.fw.engine)
    assert next(fast[0].noise) == next(slow[0].noise)


@pytest.mark.parametrize("rtype", list(RegisterType))
@pytest.mark.parametrize("order", list(WordOrder))
def test_types_and_orders_by_plain_string_are_the_enum_s(rtype, order) -> None:
    assert spec(str(rtype)) is spec(rtype) is TYPES[rtype]
    for v in (-70000.5, -3.0, 0.0, 1.0, 2.5, 40000.0, 1e9):
        regs = encode(v, rtype, order)
        assert regs == encode(v, str(rtype), str(order))
        assert decode(regs, str(rtype), str(order)) == decode(regs, rtype, order)


def test_an_unknown_type_or_word_order_is_still_a_value_error() -> None:
    with pytest.raises(ValueError):
        spec("f64")
    with pytest.raises(ValueError):
        encode(1.0, "u16", "middle")
    with pytest.raises(ValueError):
        decode([1], "u16", "middle")


def test_the_throttle_s_interp_is_numpy_s_to_the_bit() -> None:
    import numpy as np

    from hil.stand import load_stand
    from hil.throttle import interp

    rng = np.random.default_rng(3)
    tables = [load_stand(TQ12).throttle.feedforward,  # type: ignore[union-attr]
              [(0.0, 0.0), (0.3, 10.0), (0.3000001, 11.0), (1.0, 100.0), (1.2, 100.0)]]
    for table in tables:
        xs, ys = [float(p[0]) for p in table], [float(p[1]) for p in table]
        points = list(rng.uniform(xs[0] - 0.2, xs[-1] + 0.2, 20000)) + xs + [xs[0] - 1e-12, xs[-1] + 1e-12]
        for x in points:
            want = float(np.interp(x, xs, ys))
            assert interp(float(x), xs, ys) == want, (table, x)
        assert interp(float("nan"), xs, ys) != interp(float("nan"), xs, ys)


@pytest.mark.parametrize("rtype", [RegisterType.U16, RegisterType.I16])
@pytest.mark.parametrize("order", list(WordOrder))
def test_one_word_integers_pack_as_struct_packs_them(rtype, order) -> None:
    """The one-word fast path against the struct packing it stands in for, over every word."""
    import struct

    code = spec(rtype).code
    swap = WordOrder(order).byteswap
    for w in range(0x10000):
        wire = ((w >> 8) | (w << 8)) & 0xFFFF if swap else w
        want = float(struct.unpack(">" + code, struct.pack(">H", w))[0])
        assert decode([wire], rtype, order) == want
        assert encode(want, rtype, order) == [wire]
    lo, hi = spec(rtype).raw_range
    assert encode(lo - 5.0, rtype, order) == encode(lo, rtype, order)  # saturates like an ADC
    assert encode(hi + 5.0, rtype, order) == encode(hi, rtype, order)
    if not swap:  # not a register's word: refused as the packing refuses it (a byte swap masks it)
        with pytest.raises(struct.error):
            decode([0x10000], rtype, order)


def test_a_word_that_is_not_a_plain_int_takes_the_packing_as_before() -> None:
    import struct

    import numpy as np

    assert decode([np.uint16(0xFFFE)], "i16") == -2.0 and decode([np.uint16(7)], "u16") == 7.0
    with pytest.raises(struct.error):
        decode([3.7], "u16")  # type: ignore[list-item]  # not a register's word


def test_an_integer_feedforward_table_interpolates_as_numpy_does() -> None:
    import numpy as np

    from hil.throttle import interp

    xs, ys = [0, 1, 3], [0, 7, 100]
    fx, fy = [float(v) for v in xs], [float(v) for v in ys]
    for x in np.linspace(-1.0, 4.0, 1001):
        got = interp(float(x), fx, fy)
        assert type(got) is float and got == float(np.interp(x, np.array(xs), np.array(ys)))
