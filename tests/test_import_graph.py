"""The import graph of the controller, the simulator and the console, enforced: no cycles (also
none hidden in imports inside functions or under ``TYPE_CHECKING``: each is a dependency all the
same), no upward imports across the declared layers, and the console (gui/, imported as
``hil.gui``) reaching into the controller only through its client side.

Every module's imports are read with ``ast`` (nothing is imported). ``from pkg import name``
counts as an import of the module that defines ``name``: a submodule, or the module a package's
``__init__`` re-exports it from, so using a package's re-exports is not a cycle through its
``__init__``. Qt stays out of the core: tests/test_layout.py.
"""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import ROOT

# Lowest first. A module may import its own layer and the layers below it, never one above.
# Each module is in the layer of its longest matching name; a module no name matches fails the
# test until it is given a layer here (a new top-level module is a decision, not an accident).
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("base", ("hil.__init__", "hil.errors", "hil.files", "hil.rt", "hil.readiness", "hil.exits")),
    ("stand files and process plumbing", ("hil.stand", "hil.catalog", "hil.frames", "hil.ptypair", "hil.children")),
    ("the simulated plant", ("firmware_sim",)),
    ("links to the stand and the clock", ("hil.transport", "hil.cycle.clock", "hil.links")),
    ("the cycle's state and its I/O", ("hil.io", "hil.cycle", "hil.cycle.loopstats")),
    ("safety, sequence and the other stages", ("hil.safety", "hil.sequence", "hil.throttle", "hil.controller.authority")),
    ("the loop", ("hil.cycle.loop",)),
    ("the controller and its read model", ("hil.controller", "hil.controller.snapshot")),
    ("around the controller", ("hil.service", "hil.record", "hil.checkout", "hil.operator")),
    ("commands and clients", ("hil.runner", "hil.check", "hil.serve", "hil.checkout.cli", "hil.campaign",
                              "firmware_sim.cli", "hil.gui")),
    ("benchmarks", ("hil.bench",)),
    ("the command line", ("hil.cli",)),
]

# what the console may use of the controller's side: the client, the wire protocol and meta
# schema, the frame layout, recorded runs (replay), and the few plain helpers and vocabularies
GUI_MAY_IMPORT = ("hil.service.client", "hil.service.auth", "hil.service.protocol", "hil.service.meta", "hil.frames",
                  "hil.record.recorder", "hil.errors", "hil.files", "hil.catalog", "hil.children",
                  "hil.safety.supervisor",  # STATE_NAMES
                  "hil.sequence")  # a replay parses the run's own copy of its sequence
GUI_ENTRY = "hil.gui.app"  # `hil gui`: spawns a service, or runs headless without a display


def discover(root: Path) -> dict[str, Path]:
    """Every module of hil/, firmware_sim/, gui/ (as hil.gui) and bench/ (as hil.bench), by name;
    a package by its own name. The links hil/gui and hil/bench are skipped (their targets count)."""
    out: dict[str, Path] = {}
    for top, as_name in (("hil", "hil"), ("firmware_sim", "firmware_sim"), ("gui", "hil.gui"), ("bench", "hil.bench")):
        for p in (root / top).rglob("*.py"):
            rel = p.relative_to(root / top)
            if top == "hil" and rel.parts[0] in ("gui", "bench"):
                continue
            parts = [*as_name.split("."), *rel.with_suffix("").parts]
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = p
    return out


class Graph:
    """Module → the modules it imports (within the discovered ones)."""

    def __init__(self, modules: dict[str, Path]) -> None:
        self.modules = modules
        self._reexports: dict[str, dict[str, tuple[str, str]]] = {}
        self.edges = {m: self._imports(m) for m in modules}

    def _is_pkg(self, mod: str) -> bool:
        return self.modules[mod].name == "__init__.py"

    def _known(self, name: str) -> str | None:
        """``name`` or the longest discovered module it lies in (a ``gui.x`` import is ``hil.gui.x``)."""
        if name == "gui" or name.startswith("gui."):
            name = "hil." + name
        while name and name not in self.modules:
            name = name.rpartition(".")[0]
        return name or None

    def _base(self, mod: str, node: ast.ImportFrom) -> str:
        """The absolute module a (possibly relative) ``from ... import`` names."""
        if node.level == 0:
            return node.module or ""
        parts = mod.split(".") if self._is_pkg(mod) else mod.split(".")[:-1]
        parts = parts[: len(parts) - (node.level - 1)]
        return ".".join(parts + ([node.module] if node.module else []))

    def _defining(self, mod: str, name: str, depth: int = 0) -> str:
        """The module ``from mod import name`` really depends on."""
        sub = f"{mod}.{name}"
        if sub in self.modules:
            return sub
        if self._is_pkg(mod) and depth < 20:
            if mod not in self._reexports:
                self._reexports[mod] = {}
                for node in ast.parse(self.modules[mod].read_text(encoding="utf-8")).body:
                    if isinstance(node, ast.ImportFrom):
                        for a in node.names:
                            self._reexports[mod][a.asname or a.name] = (self._base(mod, node), a.name)
            src = self._reexports[mod].get(name)
            known = self._known(src[0]) if src else None
            if src and known and known != mod:
                return self._defining(known, src[1], depth + 1)
        return mod

    def _imports(self, mod: str) -> set[str]:
        out: set[str] = set()
        for node in ast.walk(ast.parse(self.modules[mod].read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                out.update(k for a in node.names if (k := self._known(a.name)))
            elif isinstance(node, ast.ImportFrom):
                base = self._known(self._base(mod, node))
                if base is not None:
                    out.update(self._defining(base, a.name) for a in node.names)
        out.discard(mod)
        return out

    def cycles(self) -> list[list[str]]:
        """Every strongly connected component of more than one module (Tarjan, iterative)."""
        index: dict[str, int] = {}
        low: dict[str, int] = {}
        stack: list[str] = []
        on: set[str] = set()
        found: list[list[str]] = []
        for root in sorted(self.edges):
            if root in index:
                continue
            work = [(root, iter(sorted(self.edges[root])))]
            index[root] = low[root] = len(index)
            stack.append(root)
            on.add(root)
            while work:
                v, it = work[-1]
                for w in it:
                    if w not in index:
                        index[w] = low[w] = len(index)
                        stack.append(w)
                        on.add(w)
                        work.append((w, iter(sorted(self.edges[w]))))
                        break
                    if w in on:
                        low[v] = min(low[v], index[w])
                else:
                    work.pop()
                    if work:
                        low[work[-1][0]] = min(low[work[-1][0]], low[v])
                    if low[v] == index[v]:
                        comp = []
                        while True:
                            w = stack.pop()
                            on.discard(w)
                            comp.append(w)
                            if w == v:
                                break
                        if len(comp) > 1:
                            found.append(sorted(comp))
        return found


def layer_of(mod: str) -> int | None:
    """The index of ``mod``'s layer in :data:`LAYERS` (its longest matching name), None if none."""
    best: tuple[int, int] | None = None
    for i, (_, names) in enumerate(LAYERS):
        for n in names:
            hit = mod == "hil" if n == "hil.__init__" else mod == n or mod.startswith(n + ".")
            if hit and (best is None or len(n) > best[0]):
                best = (len(n), i)
    return best[1] if best else None


GRAPH = Graph(discover(ROOT))


def test_every_module_is_read_and_has_a_layer() -> None:
    assert {"hil.controller", "hil.service.protocol", "firmware_sim.firmware", "hil.gui.replay", "hil.cli"} \
        <= set(GRAPH.modules)
    assert not [m for m in GRAPH.modules if layer_of(m) is None]


def test_the_import_graph_has_no_cycles() -> None:
    assert GRAPH.cycles() == []


def test_no_module_imports_a_layer_above_its_own() -> None:
    upward = sorted(f"{a} ({LAYERS[la][0]}) imports {b} ({LAYERS[lb][0]})"
                    for a, targets in GRAPH.edges.items() for b in targets
                    if (la := layer_of(a)) is not None and (lb := layer_of(b)) is not None and lb > la)
    assert upward == []


def test_the_console_uses_only_the_client_side_and_nothing_below_uses_the_console() -> None:
    def allowed(b: str) -> bool:
        return b.startswith("hil.gui") or any(b == n or b.startswith(n + ".") for n in GUI_MAY_IMPORT)

    stray = sorted(f"{a} imports {b}" for a, targets in GRAPH.edges.items() if a.startswith("hil.gui.")
                   and a != GUI_ENTRY for b in targets if not allowed(b))
    assert stray == []
    users = sorted(a for a, targets in GRAPH.edges.items()
                   if not a.startswith(("hil.gui", "hil.cli", "hil.bench")) and any(b.startswith("hil.gui") for b in targets))
    assert users == []


def test_the_checker_finds_a_cycle_hidden_in_a_function_or_under_type_checking(tmp_path) -> None:
    """The graph is only as good as what it reads: a planted two-module cycle through an import
    inside a function, and one through a TYPE_CHECKING import, are both found; a package's
    re-export used by its own submodule is not a cycle."""
    pkg = tmp_path / "hil"
    (pkg / "inner").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from hil.b import f\n")
    (pkg / "b.py").write_text("def f():\n    from hil import a\n    return a\n")
    (pkg / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from hil.d import D\n")
    (pkg / "d.py").write_text("from .c import TYPE_CHECKING as D\n")
    (pkg / "inner" / "__init__.py").write_text("from hil.inner.x import X\n")
    (pkg / "inner" / "x.py").write_text("X = 1\n")
    (pkg / "inner" / "y.py").write_text("from hil.inner import X\n")
    for name in ("firmware_sim", "gui", "bench"):
        (tmp_path / name).mkdir()
    g = Graph(discover(tmp_path))
    assert g.edges["hil.inner.y"] == {"hil.inner.x"}
    assert g.cycles() == [["hil.a", "hil.b"], ["hil.c", "hil.d"]]
