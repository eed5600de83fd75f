"""Architecture rules the docs state, enforced: the core never imports Qt, every pymodbus call of
the controller lives in hil/transport (the simulator's in its server module), and no module of the
core, the simulator or the console grows past ~400 lines."""

from __future__ import annotations

import ast

import pytest
from conftest import ROOT

CORE = [p for p in (ROOT / "hil").rglob("*.py") if not p.is_relative_to(ROOT / "hil" / "gui")
        and not p.is_relative_to(ROOT / "hil" / "bench")]


def imports(path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module.split(".")[0])
    return out


def test_the_core_never_imports_qt() -> None:
    assert CORE and all(not (imports(p) & {"PySide6", "pyqtgraph", "shiboken6"}) for p in CORE), \
        [str(p) for p in CORE if imports(p) & {"PySide6", "pyqtgraph", "shiboken6"}]


def test_pymodbus_lives_in_the_transport_package_and_the_simulators_server() -> None:
    allowed = {ROOT / "firmware_sim" / "server.py"}
    users = {p for p in [*CORE, *(ROOT / "firmware_sim").rglob("*.py"), *(ROOT / "gui").rglob("*.py")]
             if "pymodbus" in imports(p)}
    stray = {p for p in users if p not in allowed and not p.is_relative_to(ROOT / "hil" / "transport")}
    assert not stray, sorted(map(str, stray))


@pytest.mark.parametrize("folder", ["hil", "firmware_sim", "gui"])
def test_modules_stay_small(folder) -> None:
    big = {str(p.relative_to(ROOT)): n for p in (ROOT / folder).rglob("*.py")
           if (n := len(p.read_text(encoding="utf-8").splitlines())) > 420}
    assert not big, big
