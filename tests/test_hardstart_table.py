"""The hard-start table of docs/simulator.md is what the simulator computes (firmware_sim/
hardstart.py), and the rule it states holds: the peak grows with what piled up — with the
opening held until ignition and with the delay."""

from __future__ import annotations

import re

import pytest
from conftest import ROOT

from firmware_sim.hardstart import LAB_REFERENCE, TQ12_REFERENCE, lab_table, tq12_table

DOC = (ROOT / "docs" / "simulator.md").read_text(encoding="utf-8")


def test_the_documented_table_is_what_the_simulator_computes() -> None:
    table = tq12_table()
    for pct in (15, 30, 100):
        row = re.search(rf"^\| {pct} % \| ([\d.]+) / ([\d.]+) .*?\| ([\d.]+) / ([\d.]+) ", DOC, re.M)
        assert row, pct
        a, ref_a, b, ref_b = map(float, row.groups())
        assert a == pytest.approx(table["a", pct].peak_mpa, abs=0.006)
        assert b == pytest.approx(table["b", pct].peak_mpa, abs=0.006)
        assert (ref_a, ref_b) == (TQ12_REFERENCE["a", pct], TQ12_REFERENCE["b", pct])
    lab = lab_table()
    for late, ref in LAB_REFERENCE.items():
        m = re.search(rf"([\d.]+) / {ref:.2f}", DOC)
        assert m and float(m.group(1)) == pytest.approx(lab[late], abs=0.006), late


def test_the_peak_grows_with_the_opening_and_the_delay() -> None:
    table = tq12_table()
    for d in ("a", "b"):
        peaks = [table[d, pct].peak_mpa for pct in (15, 30, 100)]
        assert peaks == sorted(peaks) and peaks[0] < 0.6 * peaks[2]
        assert table[d, 15].ignited_at_s == pytest.approx({"a": 0.150, "b": 0.435}[d], abs=0.0015)
    assert all(table["b", pct].peak_mpa > table["a", pct].peak_mpa for pct in (15, 30, 100))
    lab = list(lab_table().values())
    assert lab == sorted(lab)


def test_the_shipped_ignition_stages_keep_a_late_light_below_the_overpressure_trip() -> None:
    """docs/sequences.md's design rule on the shipped stands: at the stand's ignition-stage
    opening the slowest light a start must survive peaks below the firmware's overpressure
    limit — on the TQ-12-like engine even scaled up by the reference's margin over the simulator
    at 15 % (the simulator predicts milder hard starts than the reference)."""
    from firmware_sim.hardstart import hard_start
    from firmware_sim.params import LAB, TQ12
    from hil.stand import load_stand

    lab, tq12 = load_stand(ROOT / "configs/stands/sim_lab.toml"), load_stand(ROOT / "configs/stands/sim_tq12.toml")
    assert lab.ignition and tq12.ignition and lab.firmware and tq12.firmware
    lab_open = lab.ignition.stage_limit("ox_main") / 100.0 / LAB.valve_design_opening
    for late in (0.12, 0.25):  # after the fuel command: a 100 ms late igniter, and 250 ms
        assert hard_start(LAB, lab_open, 0.05, 0.05 + late).peak_mpa < lab.firmware.overpressure_limit
    assert hard_start(LAB, 1.0, 0.05, 0.17).peak_mpa > 3 * lab.firmware.overpressure_limit  # the old 50 %
    tq_open = tq12.ignition.stage_limit("ox_main") / 100.0 / TQ12.valve_design_opening
    peak = hard_start(TQ12, tq_open, 0.3, 0.435).peak_mpa  # drive (b): 100 ms late
    margin = TQ12_REFERENCE["b", 15] / tq12_table()["b", 15].peak_mpa
    assert peak * margin < tq12.firmware.overpressure_limit
    assert hard_start(TQ12, 0.15, 0.3, 0.435).peak_mpa * margin > tq12.firmware.overpressure_limit  # 15 % would not do


def test_at_the_references_pump_drive_and_constants_the_peaks_agree_within_ten_percent() -> None:
    """docs/simulator.md's account of the gap: with the turbopump driven as the reference drives
    it (design speed from t = 0: 0.31 / 0.66 at ignition) and its two accumulation constants (no
    pooled liquid, 3 ms burn), this simulator's chamber and feeds give the reference's peaks
    within ±10 %; with the pump drive alone they are far above (the pooled liquid), with the
    preset's pump far below — two differences that partly cancel."""
    from firmware_sim.hardstart import TQ12_REFERENCE_SPEED, reference_like
    from firmware_sim.params import TQ12

    both = tq12_table(reference_like(TQ12), reference_pump=True)
    pump_only = tq12_table(reference_pump=True)
    for key, ref in TQ12_REFERENCE.items():
        assert both[key].peak_mpa == pytest.approx(ref, rel=0.10), key
        assert both[key].speed_at_ignition == pytest.approx(TQ12_REFERENCE_SPEED[key[0]], abs=0.01)
        assert pump_only[key].peak_mpa > 1.4 * ref
        assert tq12_table()[key].peak_mpa < 0.85 * ref
