"""Per-device line statistics where docs/stand-config.md says they are: the run summary, the
status the console polls (and its devices tooltip), and `hil check --stand`'s quiet rule."""

from __future__ import annotations

import io

import pytest
from conftest import STANDS, TQ12

from hil.check import check
from hil.controller import Controller
from hil.links import open_link
from hil.runner import EXIT_OK, RunOptions, run
from hil.service.protocol import status_of
from hil.stand import load_stand
from hil.stand.device_tables import device_reads
from hil.stand.devices import quiet_after_timeout, read_bytes

pytestmark = pytest.mark.timeout(120)
ROOT = STANDS.parent.parent
DEVICES = STANDS / "sim_tq12_devices.toml"
DROPPED = ("late_answers", "wrong_unit", "wrong_function", "wrong_count", "wrong_echo", "wrong_tid", "crc_errors",
           "bad_mbap")


def test_hil_check_prints_each_serial_lines_quiet_rule() -> None:
    stand = load_stand(DEVICES)
    out = io.StringIO()
    assert check(str(ROOT / "configs" / "sequences" / "tq12_three_burn.toml"), str(DEVICES), out) == EXIT_OK
    text = out.getvalue()
    for d in stand.devices:
        if not d.serial:
            assert f"{d.name}: {d.link.timeout_s * 1e3:g} ms timeout" not in text
            continue
        answer = max(read_bytes(t, n)[1] for t, _, n in device_reads(d.name, list(stand.channels)))
        q = quiet_after_timeout(d.link.timeout_s, answer, d.link.baud, d.link.parity, d.link.stopbits)
        assert f"{d.name}: {d.link.timeout_s * 1e3:g} ms timeout + {answer} B" in text
        assert f"= {q * 1e3:.1f} ms" in text
    assert f"serial line {stand.devices[2].serial}: after a timeout nothing is sent" in text


def test_the_summary_counts_the_frames_a_noisy_line_dropped(tmp_path) -> None:
    """A modelled RTU line corrupting 30 % of the answers' CRCs: the run's summary says how many."""
    res = run(RunOptions(sequence=str(ROOT / "configs" / "sequences" / "tq12_hotfire_100.toml"), stand=str(TQ12),
                         sim="lockstep", out=str(tmp_path / "run"), faults=("crc_error:rate=0.3@1+0.5",),
                         progress=False))
    t = res.summary["transport"]
    assert t["crc_errors"] > 0 and t["timeouts"] >= t["crc_errors"]
    assert {*DROPPED} <= set(t)


def test_the_status_the_console_polls_has_every_devices_line_stats() -> None:
    stand = load_stand(DEVICES)
    link = open_link(stand, str(DEVICES), "lockstep")
    ctl = Controller(stand, link.transports, link.clock)
    ctl.loop.start()
    try:
        for _ in range(50):
            ctl.loop.step()
        st = status_of(ctl.snapshot())
        assert set(st["line_stats"]) == {d.name for d in stand.devices} == set(st["devices"])
        for counts in st["line_stats"].values():
            assert {*DROPPED, "retries", "timeouts"} <= set(counts)
        assert st["line_stats"]["daq"]["transactions"] > 0
    finally:
        ctl.loop.shutdown("test over")


def test_the_console_devices_tooltip_shows_the_counters_that_are_not_zero(qtbot) -> None:
    from gui.status import StatusStrip

    strip = StatusStrip()
    qtbot.addWidget(strip)
    strip.update_status({"state": "SAFE", "devices": {"daq": "ok", "tc": "stale"},
                         "line_stats": {"daq": {"retries": 0, "timeouts": 0, "transactions": 900},
                                        "tc": {"retries": 2, "timeouts": 2, "late_answers": 1, "wrong_unit": 0,
                                               "transactions": 40}}})
    assert strip.devices.toolTip() == "daq: ok\ntc: stale (retries 2, timeouts 2, late answers 1)"
