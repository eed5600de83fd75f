"""Files read while they are written: each reader sees the old file or the whole new one."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from conftest import ROOT

from hil.files import write_json_atomic, write_text_atomic


def test_while_a_file_is_being_replaced_readers_still_see_the_old_one(tmp_path, monkeypatch) -> None:
    """At the last moment before the new file takes the old one's place (the rename), the new text
    is whole on disk and the target still holds the old text whole; afterwards the target holds
    the new text and no temporary is left."""
    target = tmp_path / "summary.json"
    write_json_atomic(target, {"outcome": "old"})
    seen: list[tuple[str, str]] = []
    real_replace = os.replace

    def look(src: str, dst: str) -> None:
        seen.append((Path(dst).read_text(), Path(src).read_text()))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", look)
    write_json_atomic(target, {"outcome": "new", "burns": [{"n": 1}] * 1000})
    assert len(seen) == 1 and json.loads(seen[0][0]) == {"outcome": "old"}
    assert json.loads(seen[0][1])["outcome"] == "new"
    assert json.loads(target.read_text())["outcome"] == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]


def test_a_write_that_fails_leaves_the_old_file_and_no_temporary(tmp_path) -> None:
    """The text cannot be written (here: not encodable; on a stand PC more likely a full disk):
    the old file stays as it was and no temporary is left beside it."""
    target = tmp_path / "stand.zero.toml"
    write_text_atomic(target, "[zero]\n")
    with pytest.raises(UnicodeEncodeError):
        write_text_atomic(target, "[zero]\noperator = \"Zoë\"\n" * 1000, encoding="ascii")
    assert target.read_text() == "[zero]\n"
    assert [p.name for p in tmp_path.iterdir()] == ["stand.zero.toml"]


def test_the_replaced_file_is_readable_by_others(tmp_path: Path) -> None:
    """mkstemp makes 0600 files; a summary or zero file must stay readable like any other file."""
    target = tmp_path / "layout.json"
    write_json_atomic(target, {"plots": []})
    assert target.stat().st_mode & 0o777 == 0o644


def _service_record(tmp_path: Path, rows: int = 50) -> tuple[Path, dict]:
    """A record of ``rows`` cycles made the way a service makes one (RunRecorder on the lab stand),
    closed; its directory and its summary."""
    import numpy as np

    import hil.record.runs as runs
    from hil.record.recorder import new_recorder, read_summary
    from hil.stand import load_stand

    stand_path = ROOT / "configs" / "stands" / "sim_lab.toml"
    stand = load_stand(stand_path)
    from hil.controller import Controller
    from hil.links import open_link

    link = open_link(stand, str(stand_path), "lockstep")
    made: list[runs.RunRecorder] = []
    Controller(stand, link.transports, link.clock, stand_path=stand_path, run_recorder=lambda door: made.append(
        runs.RunRecorder(new_recorder(tmp_path / "session", stand), tmp_path, stand, stand_path, door)) or made[0])
    rec = made[0]
    record = rec.open_record("checkout_zero")
    assert record is not None
    for i in range(rows):
        rec.append(i / 1000, i, 0.0, 0, -1, np.zeros(len(stand.channels)), np.zeros(len(stand.actuators)),
                   (0.0, 0.0, float("nan")))
    rec.close_record({"outcome": "checkout passed"})
    rec.close()
    link.close()
    return record, read_summary(record)


def test_a_service_run_whose_burns_cannot_be_measured_still_gets_its_whole_summary(tmp_path, monkeypatch) -> None:
    """docs/report.md: the summary is written once, whole, and says what failed when measuring
    the burns did — the outcome and the rows recorded are not lost to a metrics bug."""
    import hil.record.summary as summary_mod
    from hil.record.recorder import read_run

    def broken(table: object, stand: object, events: object = ()) -> list:  # stands in for burn_metrics
        raise ValueError("no such channel: pc")

    monkeypatch.setattr(summary_mod, "burn_metrics", broken)
    record, summary = _service_record(tmp_path)
    assert summary["outcome"] == "checkout passed" and summary["samples"] == 50
    assert summary["burns_error"] == "ValueError: no such channel: pc" and "burns" not in summary
    assert read_run(record).table.num_rows == 50


def test_a_service_run_whose_recording_failed_says_so_in_its_summary(tmp_path, monkeypatch) -> None:
    """docs/report.md: when closing the stream reports an error, the summary is still written,
    with ``recording_error``, the rows that were written and their burns; the error is raised on
    the closing thread too (the service's log shows it)."""
    import threading

    from hil.record.recorder import Recorder

    real_close = Recorder.close

    def failing_close(self: Recorder, summary: dict | None = None) -> None:
        real_close(self, summary)
        if self.dir.name.endswith("checkout_zero"):  # the run's stream, not the session log
            raise RuntimeError("recording failed: No space left on device")

    raised: list[BaseException | None] = []
    monkeypatch.setattr(Recorder, "close", failing_close)
    monkeypatch.setattr(threading, "excepthook", lambda args: raised.append(args.exc_value))
    _, summary = _service_record(tmp_path)
    assert summary["recording_error"] == "recording failed: No space left on device"
    assert summary["outcome"] == "checkout passed" and summary["samples"] == 50 and summary["burns"] == []
    assert [str(e) for e in raised] == ["recording failed: No space left on device"]
