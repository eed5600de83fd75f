"""What the plots show a person looking at them (docs/console.md): the valve plot keeps 0-100 %,
a plot mixing units names them, the channel picker offers channels only, the Pc redline label is
clear of the legend and pc is drawn over its redundant twin."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import ROOT

from hil.gui.main_window import MainWindow
from hil.service.meta import stand_meta
from hil.stand import load_stand

DEVICES = ROOT / "configs" / "stands" / "sim_tq12_devices.toml"


@pytest.fixture
def window(qtbot):
    win = MainWindow(station="pad-A")
    qtbot.addWidget(win)
    win.show()
    return win


def _configured(window, monkeypatch, tmp_path):
    monkeypatch.setenv("HIL_CONFIG_DIR", str(tmp_path / "cfg"))  # no saved layout of another test
    stand = load_stand(DEVICES)
    window.model.configure(stand_meta(stand, stand.redlines, 1000.0))
    window.plots.configure()
    return window.plots


def test_an_idle_valve_plot_keeps_0_to_100_percent(qtbot, window, monkeypatch, tmp_path) -> None:
    plots = _configured(window, monkeypatch, tmp_path)
    assert plots._fixed["valves"] == (0.0, 100.0)  # noqa: SLF001
    names = [n for c, n in plots._series if plots._plot_of[c] == "valves"]  # noqa: SLF001
    t = np.linspace(0, 10, 200)
    for c, n in plots._series:  # noqa: SLF001
        if n in names:
            c.setData(t, 0.1 + 0.1 * np.sin(t))  # noise around 0.1 %: closed valves
    plots._fit_y()  # noqa: SLF001
    lo, hi = plots._yrange["valves"]  # noqa: SLF001
    assert lo <= 0.0 and hi >= 100.0


def test_a_plot_mixing_units_names_them_and_the_picker_offers_channels_only(qtbot, window, monkeypatch,
                                                                            tmp_path) -> None:
    plots = _configured(window, monkeypatch, tmp_path)
    plots.set_layout(plots.specs + [{"key": "", "title": "Turbopump", "channels": ["pump_speed", "p_dis_ox"]}])
    key = next(sp["key"] for sp in plots.specs if sp["title"] == "Turbopump")
    legend = {c.name() for c in plots.plots[key].listDataItems()}
    assert legend == {"pump_speed [rpm]", "p_dis_ox [MPa]"}
    pc_legend = {c.name() for c in plots.plots["pc"].listDataItems() if c.name()}
    assert "pc" in pc_legend  # one unit in the Pc plot: bare names
    plots.arrange()
    offered = [plots.dialog.channel_list.item(i).text() for i in range(plots.dialog.channel_list.count())]
    assert "pc" in offered and "t_seq" not in offered and "pc_setpoint" not in offered
    plots.dialog.reject()


def test_pc_is_drawn_over_its_twin_and_the_redline_label_clear_of_the_legend(qtbot, window, monkeypatch,
                                                                           tmp_path) -> None:
    plots = _configured(window, monkeypatch, tmp_path)
    pc, pc_b = plots.curves["pc"], plots.curves["pc_b"]
    assert pc.zValue() > pc_b.zValue() and pc.opts["pen"].width() > pc_b.opts["pen"].width()
    window.resize(1280, 720)
    qtbot.waitExposed(window)
    t = np.linspace(0, 30, 300)
    pc.setData(t, np.clip(t, 0, 10))  # a burn at 10 MPa: the view takes in the redline above it
    plots.plots["pc"].setXRange(0, 30, padding=0)
    plots._fit_y()  # noqa: SLF001
    qtbot.wait(100)
    p = plots.plots["pc"]
    legend = p.legend.mapRectToScene(p.legend.boundingRect())
    for line in plots.limit_lines:
        label = line.label.mapRectToScene(line.label.boundingRect())
        assert p.vb.sceneBoundingRect().contains(label)  # on screen, and ...
        assert not legend.intersects(label), (legend, label)


def test_the_p_and_id_zooms_and_marks_disqualified_sensors(qtbot, window) -> None:
    from PySide6.QtCore import QPoint, QPointF, Qt
    from PySide6.QtGui import QWheelEvent
    from PySide6.QtWidgets import QApplication

    stand = load_stand(DEVICES)
    pid = window.pid
    pid.configure(stand_meta(stand, stand.redlines, 1000.0))
    window.tabs.setCurrentWidget(pid)
    qtbot.waitExposed(pid.gview)
    fitted = pid.gview.transform().m11()
    pid.zoom_by(1.25)
    pid.zoom_by(1.25)
    assert pid.gview.transform().m11() == pytest.approx(fitted * 1.5625)
    pid.zoom_by(0)  # Fit
    assert pid.gview.transform().m11() == pytest.approx(fitted)
    vp = pid.gview.viewport()  # the wheel over the diagram zooms it
    centre = QPointF(vp.width() / 2, vp.height() / 2)
    wheel = QWheelEvent(centre, vp.mapToGlobal(centre), QPoint(0, 0), QPoint(0, 120), Qt.MouseButton.NoButton,
                        Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(vp, wheel)
    assert pid.gview.transform().m11() == pytest.approx(fitted * 1.25)
    loose = next(iter(pid.loose))
    pid.update_values({loose: 0.5}, "SAFE", "pc", [loose])
    assert pid.loose[loose].text().endswith("DISQUALIFIED") and pid.loose[loose].brush().color().name() == "#c62828"
    pid.update_values({loose: 0.5}, "SAFE", "pc", [])
    assert "DISQUALIFIED" not in pid.loose[loose].text()


def test_a_fifth_plot_scrolls_instead_of_squeezing_chamber_pressure(qtbot, window, monkeypatch, tmp_path) -> None:
    from hil.gui.plots import MIN_PLOT_PX

    plots = _configured(window, monkeypatch, tmp_path)
    window.resize(1280, 720)
    qtbot.waitExposed(window)
    plots.set_layout(plots.specs + [{"key": "", "title": "Turbopump", "channels": ["pump_speed"]}])
    qtbot.wait(100)
    assert len(plots.plots) == 5
    heights = [p.vb.sceneBoundingRect().height() for p in plots.plots.values()]
    assert min(heights) >= MIN_PLOT_PX - 30, heights  # (the axes and margins take their share)
    assert plots.plot_scroll.verticalScrollBar().maximum() > 0  # the fifth is reached by scrolling
