"""Documentation generated from configs must match what is committed."""

from __future__ import annotations

import ast
import os
import re
from pathlib import Path

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


NODE = re.compile(r"(tests/test_\w+\.py)::(test_\w+)")


def _test_names(path: Path) -> set[str]:
    """Every test function a file defines (a parametrised test by its function name)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {n.name for n in tree.body if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")}


def test_every_test_the_safety_doc_names_exists_and_each_hazard_names_one() -> None:
    doc = (ROOT / "docs" / "safety.md").read_text(encoding="utf-8")
    named = NODE.findall(doc)
    missing = [f"{f}::{t}" for f, t in named if t not in _test_names(ROOT / f)]
    assert not missing, f"docs/safety.md names tests that do not exist: {missing}"
    register = doc.split("## Hazard register", 1)[1]
    rows = [r for r in register.splitlines() if r.startswith("| ") and not r.startswith("| **")][2:]
    assert len(rows) >= 40
    bare = [r.split("|")[1].strip() for r in rows if not NODE.search(r)]
    assert not bare, f"hazards without a test in docs/safety.md: {bare}"


def test_every_hazard_test_is_in_the_safety_docs_register() -> None:
    register = (ROOT / "docs" / "safety.md").read_text(encoding="utf-8").split("## Hazard register", 1)[1]
    listed = {(f, t) for f, t in NODE.findall(register)}
    for f in ("tests/test_hazards.py", "tests/test_hazard_mutants.py"):
        unlisted = sorted(t for t in _test_names(ROOT / f) if (f, t) not in listed)
        assert not unlisted, f"{f}: not in docs/safety.md's hazard register: {unlisted}"
