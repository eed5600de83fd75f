"""The staged start proven by a small dispersed campaign (issue 24), in CI: the lab relight on
dispersed lab engines (valve timing, ignition delay 10-40 ms, c*, noise, a Pc offset), the
nominal case, a 100 ms late ignition and an igniter that fails, each before the start and in the
start transient. Every nominal run completes; every late ignition ends aborted and SAFE with
the plant's peak below the firmware's overpressure limit; an igniter failure ends the run before
propellant enters the chamber for the burn it would have lit."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import LAB, ROOT

from hil.campaign.cli import run_campaign
from hil.campaign.execute import read_results
from hil.campaign.spec import load_campaign
from hil.record.recorder import read_run
from hil.stand import load_stand

SMOKE = ROOT / "configs" / "campaigns" / "lab_relight_smoke.toml"
pytestmark = pytest.mark.timeout(600)


def test_the_staged_start_campaign_outcomes(tmp_path) -> None:
    text = SMOKE.read_text()
    text = text.replace('list = ["late_ignition:delay=0.1"]\nphases = ["start transient"]',
                        'list = ["late_ignition:delay=0.1", "igniter_failure"]\nphases = ["pre-ignition", "start transient"]')
    text = text.replace("runs_per_case = 2", 'runs_per_case = 2\nkeep = "all"')
    assert text.count("igniter_failure") == 1 and 'keep = "all"' in text
    path = tmp_path / "start_campaign.toml"
    path.write_text(text)
    c = load_campaign(path)
    summary = run_campaign(c, tmp_path / "out", workers=2, progress=False)
    rows = read_results(tmp_path / "out" / "runs", c.name).to_pylist()
    assert len(rows) == c.total_runs == 10 and summary["unexpected"] == 0, [
        (r["case"], r["outcome"], r["abort_reason"]) for r in rows if not r["as_expected"]]
    limit = load_stand(LAB).firmware.overpressure_limit
    by_case: dict[str, list[dict]] = {}
    for r in rows:
        by_case.setdefault(r["fault"] or "nominal", []).append(r)
    assert {k: len(v) for k, v in by_case.items()} == {"nominal": 2, "late_ignition:delay=0.1": 4, "igniter_failure": 4}
    for r in by_case["nominal"]:
        assert r["outcome"] == "completed" and r["burns"] == 3, r
    for r in by_case["late_ignition:delay=0.1"]:
        assert r["outcome"] == "aborted" and r["final_state"] == "SAFE", r
        assert r["safe_at_end"] and r["peak_pc_mpa"] < limit, r
    for r in by_case["igniter_failure"]:
        assert r["outcome"] == "aborted" and r["final_state"] == "SAFE", r
        assert "waiting for 'p_ign > 0.4'" in r["abort_reason"], r
        lit = r["burns"]  # the burns before the igniter failed: 0 before the first start, 1 after it
        assert lit == (0 if r["phase"] == "pre-ignition" else 1), r
        table = read_run(r["run_dir"]).table
        t = np.asarray(table.column("time"))
        events_end = t[-1]
        ox = np.asarray(table.column("cmd.ox_main"))
        # after the abort nothing opened again, and the burn the igniter would have lit never had a
        # main valve commanded: the last opening of ox_main belongs to the burns that did light
        openings = np.flatnonzero((ox[1:] > 0) & (ox[:-1] == 0))
        assert len(openings) == lit, (r["phase"], openings, events_end)
