"""Roles, not name guessing: the metrics, the report and the console find thrust, the flowmeters,
the wall thermocouple and each plot's channels from what the stand file declares, so a stand
whose channels are named the way another team names them plots and reports the same."""

from __future__ import annotations

import pytest
from conftest import LAB, ROOT

from hil.errors import ConfigError
from hil.gui.plots import classify
from hil.runner import EXIT_OK, RunOptions, run
from hil.service.meta import stand_meta
from hil.stand import ChannelRole, Plot, load_stand, parse_stand

RENAMES = {"thrust": "lc_101", "mdot_ox": "fm_201", "mdot_fuel": "fm_202", "wall_temp": "tc_7",
           "p_inj_ox": "pt_301", "ox_main_pos": "zt_401"}


def renamed_stand(tmp_path):
    lines = []
    for line in LAB.read_text().splitlines():
        if not line.startswith(("role =", "source =")):  # what it is and what feeds it stay
            for old, new in RENAMES.items():
                line = line.replace(f'"{old}"', f'"{new}"')
        lines.append(line)
    text = "\n".join(lines) + "\n"
    assert all(f'name = "{old}"' not in text for old in RENAMES)
    path = tmp_path / "their_names.toml"
    path.write_text(text)
    return path


def test_roles_and_plots_come_from_the_stand_file(tmp_path) -> None:
    stand = load_stand(renamed_stand(tmp_path))
    assert stand.with_role(ChannelRole.THRUST) == "lc_101"
    assert (stand.with_role(ChannelRole.OX_FLOW), stand.with_role(ChannelRole.FUEL_FLOW)) == ("fm_201", "fm_202")
    assert stand.with_role(ChannelRole.WALL_TEMP) == "tc_7"
    plots = classify(stand_meta(stand, stand.redlines, 1000.0))
    assert plots["pc"] == ["pc"] and plots["thrust"] == ["lc_101"]
    assert "pt_301" in plots["pressures"] and "p_purge" not in plots["pressures"]
    assert "zt_401" in plots["valves"]  # a valve's feedback, by the actuator's own declaration


def test_a_stand_with_other_channel_names_reports_the_same_burn_figures(tmp_path) -> None:
    seq = str(ROOT / "configs/sequences/lab_relight.toml")
    ours = run(RunOptions(sequence=seq, stand=str(LAB), sim="lockstep", out=str(tmp_path / "a"), progress=False))
    theirs = run(RunOptions(sequence=seq, stand=str(renamed_stand(tmp_path)), sim="lockstep",
                            out=str(tmp_path / "b"), progress=False))
    assert ours.exit_code == theirs.exit_code == EXIT_OK
    for a, b in zip(ours.summary["burns"], theirs.summary["burns"], strict=True):
        for key in ("of_mean", "total_impulse_kns", "wall_temp_peak_k", "pc_mean_mpa"):
            assert a[key] is not None and a[key] == b[key], key


def test_a_stand_without_roles_gets_no_guessed_figures(tmp_path) -> None:
    text = LAB.read_text()
    for role in ("thrust", "ox_flow", "fuel_flow", "wall_temp"):
        text = text.replace(f'role = "{role}"\n', "")
    stand = parse_stand(text, "no_roles.toml")
    assert all(stand.with_role(r) is None for r in ChannelRole)
    assert stand.plot_of(stand.channel("thrust")) == Plot.NONE  # named "thrust", but nobody said so


@pytest.mark.parametrize("old, new, message", [
    ('role = "ox_flow"', 'role = "thrust"', "role 'thrust' is already channel 'thrust''s"),
    ('role = "ox_flow"', 'role = "oxflow"', "must be one of thrust, ox_flow, fuel_flow, wall_temp"),
    ('plot = "pressures"', 'plot = "pressure"', "must be one of pc, thrust, pressures, valves, none"),
])
def test_roles_and_plots_are_validated(old, new, message) -> None:
    text = LAB.read_text().replace(old, new, 1)
    with pytest.raises(ConfigError, match=message) as info:
        parse_stand(text, "bad.toml")
    assert info.value.line == max(i for i, s in enumerate(text.splitlines(), 1) if s.strip() == new)
