"""Documentation generated from configs must match what is committed."""

from __future__ import annotations

import os

from conftest import ROOT

from hil.stand import load_stand
from hil.stand.regmap_doc import render_all

MAPPED = ("sim_tq12_devices", "sim_tq12", "sim_lab", "labjack_t7", "rs485_modules")


def test_register_map_doc_is_current() -> None:
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        expected = render_all([load_stand(f"configs/stands/{n}.toml") for n in MAPPED])
    finally:
        os.chdir(cwd)
    committed = (ROOT / "docs" / "register-map.md").read_text(encoding="utf-8")
    assert committed == expected, "docs/register-map.md is stale: run `hil regmap " + \
        " ".join(f"configs/stands/{n}.toml" for n in MAPPED) + " --out docs/register-map.md`"
