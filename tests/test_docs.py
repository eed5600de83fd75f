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


def _layout_block() -> list[str]:
    """The README's Layout section: the lines of its code block."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Layout", 1)[1]
    return section.split("```", 2)[1].strip("\n").splitlines()


def test_the_readmes_layout_names_every_module_of_hils_top_level_and_nothing_that_is_not_there() -> None:
    """Issue 25: the module tree in the README matches the code. Every module and package at the top
    of hil/ is named in the hil/ part of the layout; every package it lists at that level exists,
    and every ``name.py`` the layout names exists in the tree it describes."""
    lines = _layout_block()
    end = next(i for i, ln in enumerate(lines) if ln.startswith("firmware_sim/"))
    hil_part = "\n".join(lines[1:end])
    listed_pkgs = set(re.findall(r"^  (\w+)/", hil_part, re.M)) | set(re.findall(r"(\w+) -> \.\./", hil_part))
    listed_mods = set(re.findall(r"\b(\w+)\.py\b", hil_part))
    hil = ROOT / "hil"
    pkgs = {p.name for p in hil.iterdir() if p.is_dir() and p.name != "__pycache__"}
    mods = {p.stem for p in hil.glob("*.py") if p.stem != "__init__"}
    assert pkgs - listed_pkgs == set(), "hil/ packages the README's layout does not name"
    assert listed_pkgs - pkgs == set(), "packages the README's layout names that hil/ does not have"
    assert mods - listed_mods == set(), "hil/ top-level modules the README's layout does not name"
    everywhere = {p.stem for d in ("hil", "gui", "firmware_sim", "bench") for p in (ROOT / d).rglob("*.py")}
    named = set(re.findall(r"\b(\w+)\.py\b", "\n".join(lines)))
    assert named - everywhere == set(), "modules the README's layout names that do not exist"
