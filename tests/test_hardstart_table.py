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
