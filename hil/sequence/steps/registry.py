"""The one table of step kinds: which TOML key selects which kind, in the order the loader
names them. Adding a kind is one module with a :class:`~hil.sequence.steps.base.Step` subclass
and one :func:`register` call (here for the shipped kinds)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hil.sequence.steps.base import Step
from hil.sequence.steps.blocks import BlockRun, parse_block_run
from hil.sequence.steps.markers import MarkStep, RedlineStep
from hil.sequence.steps.outputs import RampStep, SetStep
from hil.sequence.steps.parse import StepParser
from hil.sequence.steps.prompt import PromptStep
from hil.sequence.steps.throttle import ThrottleStep
from hil.sequence.steps.waits import HoldStep, WaitStep
from hil.stand.toml_table import TableReader

Parser = Callable[[StepParser, TableReader, str, dict[str, Any]], "list[Step] | BlockRun | None"]

_TABLE: dict[str, Parser] = {}  # TOML key → parser, in registration order


def register(kind: type[Step]) -> type[Step]:
    """Make a step kind known to the loader under each of its ``keys`` (a key taken twice is a
    programming error, refused)."""
    for key in kind.keys:
        if key in _TABLE:
            raise ValueError(f"step key {key!r} is registered already")
        _TABLE[key] = kind.parse
    return kind


def unregister(kind: type[Step]) -> None:
    """Forget a kind (a test's own kind, once the test is over)."""
    for key in kind.keys:
        _TABLE.pop(key, None)


def step_keys() -> tuple[str, ...]:
    """Every key that selects a step kind, in the order the loader names them."""
    return tuple(_TABLE)


def parser_for(key: str) -> Parser:
    """The parser of the kind ``key`` selects."""
    return _TABLE[key]


_SHIPPED: tuple[type[Step] | None, ...] = (SetStep, RampStep, WaitStep, HoldStep, ThrottleStep, RedlineStep, None,
                                           MarkStep, PromptStep)  # None: where ``run`` (a block insertion) goes
for _kind in _SHIPPED:
    if _kind is None:
        _TABLE["run"] = parse_block_run  # expanded by the loader, never a step of the timeline
    else:
        register(_kind)
