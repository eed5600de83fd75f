"""The product installs and runs away from its source tree: shipped configs found by name, runs
recorded under the working directory, and a distribution that adds only `hil` and `firmware_sim`
as top-level import names."""

from __future__ import annotations

import subprocess
import sys
import zipfile

import pytest
from conftest import ROOT

from hil.catalog import find_sequence, find_stand, stand_for
from hil.errors import ConfigError


def test_shipped_configs_are_found_by_name_and_a_sequence_picks_its_stand() -> None:
    seq = find_sequence("tq12_three_burn")
    assert seq.name == "tq12_three_burn.toml" and seq.is_file()
    assert stand_for(seq).name == "sim_tq12.toml"
    assert find_stand("sim-lab").name == "sim_lab.toml"  # by the [stand] name a sequence uses
    assert find_stand(str(ROOT / "configs/stands/sim_lab.toml")).is_file()  # a path is used as it is
    with pytest.raises(ConfigError, match="shipped: .*tq12_three_burn"):
        find_sequence("tq12_four_burn")


def test_hil_run_by_name_from_another_directory_records_there(tmp_path) -> None:
    r = subprocess.run([sys.executable, "-m", "hil.cli", "run", "tq12_cold_flow", "--sim", "lockstep", "--quiet"],
                       capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    runs = list((tmp_path / "runs").glob("*_tq12_cold_flow"))
    assert len(runs) == 1 and (runs[0] / "summary.json").is_file()
    assert not (ROOT / "runs").exists() or not any(p.stat().st_mtime > runs[0].stat().st_mtime - 1
                                                   for p in (ROOT / "runs").glob("*_tq12_cold_flow"))


@pytest.mark.slow
def test_the_wheel_adds_only_hil_and_firmware_sim_and_ships_the_configs(tmp_path) -> None:
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(ROOT)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    (wheel,) = tmp_path.glob("hil_stand-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert top == {"hil", "firmware_sim"}
    shipped = {p.relative_to(ROOT).as_posix() for p in (ROOT / "configs").glob("*/*.toml")}
    assert {n.removeprefix("hil/") for n in names if n.startswith("hil/configs/")} == shipped
    assert "hil/gui/app.py" in names and "hil/bench/suite.py" in names
