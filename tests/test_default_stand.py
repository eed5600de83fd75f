"""The stand ./run.sh opens (sim_tq12_devices: four Modbus devices) supports the whole documented
test day (docs/console.md): the zero and the valve timing pass on the nominal simulator and
show their limits, from the command line (lockstep) and from the console's Checkout tab (over
TCP and the RS-485 pty line)."""

from __future__ import annotations

import os
import shutil

import pytest
from conftest import ROOT

from hil.checkout.cli import valves, zero
from hil.stand import load_stand
from hil.stand.zero import zero_path

pytestmark = pytest.mark.timeout(180)

DEFAULT = "sim_tq12_devices.toml"


@pytest.fixture
def stand(tmp_path):
    """The default stand file in a directory of its own (its zero file goes beside it)."""
    d = tmp_path / "stands"
    shutil.copytree(ROOT / "configs" / "stands", d)
    return d / DEFAULT


def test_run_sh_opens_the_default_stand() -> None:
    """What this file tests is what ./run.sh opens: hil gui's default stand."""
    from hil.catalog import find_stand
    from hil.gui.app import DEFAULT_STAND

    assert "hil gui" in (ROOT / "run.sh").read_text() and "--stand" not in (ROOT / "run.sh").read_text()
    assert find_stand(DEFAULT_STAND).name == DEFAULT


def test_the_default_stand_zeroes_and_times_its_valves_with_limits(stand, tmp_path) -> None:
    st = load_stand(stand)
    assert {c.name for c in st.channels if c.zero_limit} == {"pc", "pc_b", "p_inj_ox", "p_inj_fuel", "p_purge"}
    z = zero(str(stand), "lockstep", operator="test crew", seconds=1.0, out=str(tmp_path / "z"))
    assert z.ok, z.lines
    table = [ln for ln in z.lines if ln.startswith("| p")]
    assert len(table) == 5 and all(ln.rstrip(" |").endswith("±0.05") for ln in table), table
    assert zero_path(stand).is_file() and load_stand(stand).zero is not None
    asked: list[str] = []
    v = valves(str(stand), "lockstep", lambda text: asked.append(text) or True, out=str(tmp_path / "v"))
    assert v.ok, v.lines
    assert "ox_main, fuel_main, gg" in asked[0]
    rows = [ln for ln in v.lines if ln.startswith(("| ox_main", "| fuel_main", "| gg"))]
    assert len(rows) == 3 and all("| 300 ms | ok |" in r for r in rows) and "—" not in "".join(rows), rows


@pytest.mark.slow
def test_the_console_zeroes_the_default_stand_and_shows_its_limits(qtbot, stand, tmp_path) -> None:
    """The Checkout tab on the default stand (docs/console.md, test day step 2): Zero
    transducers… is enabled, passes, and its table shows each channel's limit; Time valves…
    passes with the valves' limits. HIL_DOCS_SHOTS=1 writes docs/zero-result.png."""
    from hil.gui.app import EmbeddedController
    from hil.gui.main_window import MainWindow

    win = MainWindow()
    win.confirm_fn = lambda text: True
    qtbot.addWidget(win)
    win.resize(1400, 900)
    win.show()
    ctl = EmbeddedController(stand, out=tmp_path / "session")
    try:
        panel = win.checkout
        win.connect_controller(ctl.rep, ctl.pub)
        qtbot.waitUntil(lambda: win.model.connected and panel.zero_btn.isEnabled(), timeout=60000)
        assert panel.zero_names == ["pc", "pc_b", "p_inj_ox", "p_inj_fuel", "p_purge"]
        assert panel.valve_names == ["ox_main", "fuel_main", "gg"]
        panel.seconds.setValue(2.0)
        panel.zero_btn.click()
        qtbot.waitUntil(lambda: "zero:" in panel.outcome.text(), timeout=60000)
        assert "PASSED" in panel.outcome.text(), panel.lines
        shown = panel.report.toPlainText()
        assert shown.count("±0.05") == 5 and "—" not in "\n".join(ln for ln in panel.lines if ln.startswith("| p"))
        assert zero_path(stand).is_file()
        qtbot.waitUntil(lambda: panel.zero_btn.isEnabled(), timeout=10000)  # the next status: nothing running
        win.tabs.setCurrentWidget(panel)
        shot = win.grab()
        assert shot.save(str(tmp_path / "zero-result.png"))
        if os.environ.get("HIL_DOCS_SHOTS"):  # HIL_DOCS_SHOTS=1 pytest tests/test_default_stand.py
            shot.save(str(ROOT / "docs" / "zero-result.png"))
        # then Time valves…: all three pass against their 300 ms limit
        panel.valves_btn.click()
        qtbot.waitUntil(lambda: "valves:" in panel.outcome.text(), timeout=60000)
        rows = [ln for ln in panel.lines if ln.startswith(("| ox_main", "| fuel_main", "| gg"))]
        assert "PASSED" in panel.outcome.text() and len(rows) == 3, panel.lines
        assert all("| 300 ms | ok |" in r for r in rows), rows
    finally:
        win.disconnect_controller()
        ctl.stop()
