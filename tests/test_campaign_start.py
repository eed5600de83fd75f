"""The campaign report's start figures (issue 24): the start envelope (every burn's peak start Pc
against its engine's ignition delay, by outcome, with the levels drawn), the burn rows that feed
it, and replay commands that name shipped files as in the repository, not by this machine's paths."""

from __future__ import annotations

import dataclasses
import json
import shlex

import pytest
from conftest import ROOT

from hil.campaign.cli import run_campaign
from hil.campaign.envelope import envelope_points
from hil.campaign.execute import read_results
from hil.campaign.runs import plan, replay_path
from hil.campaign.spec import FaultCase, load_campaign
from hil.cli import main

SMOKE = ROOT / "configs" / "campaigns" / "lab_relight_smoke.toml"
pytestmark = pytest.mark.timeout(300)


def test_replay_paths_name_shipped_files_as_in_the_repository_and_others_absolute(tmp_path) -> None:
    shipped = ROOT / "configs" / "sequences" / "lab_relight.toml"
    assert replay_path(str(shipped), "sequences") == "configs/sequences/lab_relight.toml"
    via_package = ROOT / "hil" / "configs" / "stands" / "sim_lab.toml"  # what the catalog resolves a name to
    assert replay_path(str(via_package), "stands") == "configs/stands/sim_lab.toml"
    relative = ROOT / "configs" / "campaigns" / ".." / "stands" / "sim_lab.toml"  # as a campaign file may say it
    assert replay_path(str(relative), "stands") == "configs/stands/sim_lab.toml"
    own = tmp_path / "lab_relight.toml"  # same name, not shipped: only its path names it
    own.write_text(shipped.read_text())
    assert replay_path(str(own), "sequences") == str(own.resolve())


def test_a_replay_command_names_no_path_of_this_machine_and_replays_from_any_directory(tmp_path, monkeypatch) -> None:
    c = dataclasses.replace(load_campaign(SMOKE), cases=(FaultCase(),), runs_per_case=1)
    (spec,) = plan(c, {}, None)
    cmd = spec.command()
    assert cmd.startswith("hil run configs/sequences/lab_relight.toml --stand configs/stands/sim_lab.toml "), cmd
    assert str(ROOT) not in cmd
    other = tmp_path / "elsewhere"
    other.mkdir()
    monkeypatch.chdir(other)  # not the repository: hil run finds the shipped files by their names
    assert main(shlex.split(cmd)[1:] + ["--out", str(tmp_path / "r"), "--quiet"]) == 0
    s = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert s["outcome"] == "completed" and len(s["burns"]) == 3
    # a sequence of one's own keeps its absolute path
    own = tmp_path / "mine.toml"
    own.write_text((ROOT / "configs" / "sequences" / "lab_relight.toml").read_text())
    mine = dataclasses.replace(spec, sequence=str(own))
    assert shlex.split(mine.command())[2] == str(own.resolve())


def test_the_campaign_report_draws_the_start_envelope_from_the_burn_rows(tmp_path) -> None:
    """One nominal run and one with the igniter 100 ms late from the start transient of burn 1
    on (the smoke campaign with one engine per case): the burn rows carry each start's peak and
    the ignition delay its engine had — the late run's later burns 100 ms later than its own — and
    the report draws them against the stand's levels."""
    text = SMOKE.read_text().replace("runs_per_case = 2", "runs_per_case = 1")
    path = tmp_path / "smoke1.toml"
    path.write_text(text)
    c = load_campaign(path)
    run_campaign(c, tmp_path / "out", workers=1, progress=False)
    rows = read_results(tmp_path / "out" / "runs", c.name).to_pylist()
    burns = read_results(tmp_path / "out" / "burns", c.name).to_pylist()
    nominal = next(r for r in rows if not r["fault"])
    late = next(r for r in rows if r["fault"])
    own = {r["run"]: r["disp.ignition_delay_s"] for r in rows}
    for b in burns:
        assert b["limit.overpressure_mpa"] == 2.6 and b["limit.controller_hard_start_mpa"] == 2.4
        assert b["start_pc_peak_mpa"] is not None and b["start_pc_peak_mpa"] > 0.0
        extra = 0.1 if b["run"] == late["run"] and b["t_start_s"] >= late["fault_start_s"] else 0.0
        assert b["engine_ignition_delay_s"] == pytest.approx(own[b["run"]] + extra, abs=1e-4)
    assert sum(b["run"] == nominal["run"] for b in burns) == 3
    points = envelope_points(rows, burns)
    assert len(points) == len(burns) and {p["outcome"] for p in points} == {r["outcome"] for r in rows}
    page = (tmp_path / "out" / "report.html").read_text()
    assert "<h2>Start envelope</h2>" in page and 'alt="start envelope" src="data:image/png;base64,' in page
    assert str(ROOT) not in page.split("<h2>Worst runs</h2>", 1)[1].split("</table>", 1)[0]


@pytest.mark.slow
def test_hil_campaign_compare_tabulates_direct_against_staged_starts(tmp_path, capsys) -> None:
    """The same two lab engines (nominal, igniter 100 ms late from burn 1's start transient on)
    started directly (the lab relight before issue 24, on the stand without its staged-start
    keys) and staged (as shipped): `hil campaign compare` gives per case the outcomes and the
    plant's peak Pc, and counts the late run's hard start above the 2.6 MPa limit on the direct
    side only."""
    from test_staged_start import direct_start, staged_stand

    staged = SMOKE.read_text().replace("runs_per_case = 2", "runs_per_case = 1")
    (tmp_path / "staged.toml").write_text(staged)
    staged_stand(tmp_path, "", name="direct_lab.toml")
    direct_start(tmp_path)  # tmp_path / "direct.toml"
    (tmp_path / "direct_campaign.toml").write_text(
        staged.replace('sequences = ["lab_relight"]', 'sequences = ["direct.toml"]')
        .replace('stands = ["sim_lab"]', 'stands = ["direct_lab.toml"]')
        .replace('name = "lab_relight_smoke"', 'name = "lab_relight_direct"'))
    for name, out in (("direct_campaign.toml", "A"), ("staged.toml", "B")):
        run_campaign(load_campaign(tmp_path / name), tmp_path / out, workers=1, progress=False)
    capsys.readouterr()
    page = tmp_path / "compare.html"
    assert main(["campaign", "compare", str(tmp_path / "A"), str(tmp_path / "B"), "--labels", "direct", "staged",
                 "--out", str(page)]) == 0
    table = capsys.readouterr().out
    rows = {ln.split("|")[1].strip(): [c.strip() for c in ln.strip("|").split("|")[1:]]
            for ln in table.splitlines()[2:] if ln.startswith("|")}
    late = "late_ignition:delay=0.1 @ start transient"
    assert set(rows) == {"nominal", late}, table
    runs = {k: read_results(tmp_path / k / "runs", n).to_pylist()
            for k, n in (("A", "lab_relight_direct"), ("B", "lab_relight_smoke"))}
    for col, k in ((0, "A"), (3, "B")):  # each cell says what that run's own row says
        for case, r in zip(("nominal", late), runs[k]):
            assert rows[case][col].startswith(f"1: 1 {r['outcome']}"), (case, k, rows[case][col], r["outcome"])
            assert rows[case][col + 1].split(" / ")[2] == f"{r['peak_pc_mpa']:.2f}"
    assert rows["nominal"][3] == "1: 1 completed"  # staged: the nominal engine completes
    assert rows[late][2] == "1" and rows[late][5] == "0", table  # above the limit: direct yes, staged no
    assert "direct = `lab_relight_direct`" in table and "<table>" in page.read_text()
    assert main(["campaign", "compare", str(tmp_path), str(tmp_path / "B")]) == 1  # not a result directory
