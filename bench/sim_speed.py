"""How much faster than real time the simulated stand runs (plant + firmware scan).

Three ways of driving it, each while the engine is burning at 100 %:
- free run: ``Firmware.advance(1 s)``, the firmware scanning at 1 kHz with nobody reading;
- lockstep per scan: advance 1 ms, read every input register, write every holding register,
  as the lockstep transport does for a 1 kHz controller (the simulator's share of a lockstep
  hotfire);
- idle: the stand at rest (pre-start and between relights).
Target (issue 2): ≥ 200× real time for the simulator.

    python -m hil.bench.sim_speed [--quick] [--json PATH]
"""

from __future__ import annotations

import argparse
import functools
import time
from collections.abc import Callable

from firmware_sim.firmware import Firmware
from hil.bench.common import median_of, write_json
from hil.catalog import find_stand
from hil.stand import load_stand

STANDS = {"tq12": find_stand("sim_tq12"), "lab": find_stand("sim_lab")}


def burning_firmware(preset: str) -> tuple[Firmware, list[int]]:
    stand = load_stand(STANDS[preset])
    f = Firmware(stand)
    hr = [0] * stand.holding_register_count
    p = f.engine.p

    def put(name: str, eng: float) -> None:
        a = stand.actuator(name)
        hr[a.register] = int(round(eng / a.scale))

    if any(a.name == "ox_iso" for a in stand.actuators):
        put("ox_iso", 1)
        put("fuel_iso", 1)
    put("igniter", 1)
    put("ox_main", 100 * p.valve_design_opening)
    if p.pump_fed:
        put("gg", 100 * p.gg_design_opening)
    f.write_holding_registers(0, hr)
    f.advance(0.05)
    put("fuel_main", 100 * p.valve_design_opening)
    f.write_holding_registers(0, hr)
    f.advance(2.0)
    assert f.engine.burning
    return f, hr


def free_run(preset: str, seconds: float) -> float:
    f, _ = burning_firmware(preset)
    t0 = time.perf_counter()
    f.advance(seconds)
    return seconds / (time.perf_counter() - t0)


def lockstep(preset: str, seconds: float) -> float:
    f, hr = burning_firmware(preset)
    n_in = f.stand.input_register_count
    steps = int(seconds * 1000)
    t0 = time.perf_counter()
    for i in range(steps):
        f.advance(0.001)
        f.read_input_registers(0, n_in)
        hr[0] = i & 0xFFFF
        f.write_holding_registers(0, hr)
    return seconds / (time.perf_counter() - t0)


def idle(preset: str, seconds: float) -> float:
    f = Firmware(load_stand(STANDS[preset]))
    t0 = time.perf_counter()
    f.advance(seconds)
    return seconds / (time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> dict[str, object]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="short runs (smoke test)")
    ap.add_argument("--json", help="where to write the JSON (default bench/results/sim_speed.json)")
    args = ap.parse_args(argv)
    seconds, repeats = (2.0, 3) if args.quick else (20.0, 5)
    rows = []
    print(f"simulated seconds per sample: {seconds}, samples: {repeats} (median shown; target ≥ 200×)")
    print(f"{'preset':<6} {'mode':<20} {'× real time':>12} {'µs per 1 ms scan':>18}")
    for preset in ("tq12", "lab"):
        modes: tuple[tuple[str, Callable[[str, float], float]], ...] = (
            ("free run (burning)", free_run), ("lockstep r/w per ms", lockstep), ("idle", idle))
        for mode, fn in modes:
            med, samples = median_of(functools.partial(fn, preset, seconds), repeats)
            rows.append({"preset": preset, "mode": mode, "x_realtime_median": med, "samples": samples,
                         "us_per_scan": 1000.0 / med})
            print(f"{preset:<6} {mode:<20} {med:>12.0f} {1000.0 / med:>18.2f}")
    out = write_json("sim_speed", {"seconds": seconds, "repeats": repeats, "rows": rows}, args.json)
    print(f"wrote {out}")
    return {"rows": rows}


if __name__ == "__main__":
    main()
