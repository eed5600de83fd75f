"""Documentation generated from configs must match what is committed."""

from __future__ import annotations

import os

from conftest import ROOT

from hil.stand import load_stand
from hil.stand.regmap_doc import render_all


def test_register_map_doc_is_current() -> None:
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        expected = render_all([load_stand("configs/stands/sim_tq12.toml"), load_stand("configs/stands/sim_lab.toml")])
    finally:
        os.chdir(cwd)
    committed = (ROOT / "docs" / "register-map.md").read_text(encoding="utf-8")
    assert committed == expected, "docs/register-map.md is stale: run `hil regmap configs/stands/sim_tq12.toml " \
                                  "configs/stands/sim_lab.toml --out docs/register-map.md`"
