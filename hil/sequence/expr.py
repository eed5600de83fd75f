"""The condition language of sequence files: parsed, never evaluated as Python.

Grammar (precedence low → high)::

    expr    := or
    or      := and ("or" and)*
    and     := not ("and" not)*
    not     := "not" not | compare
    compare := sum (("<" | "<=" | ">" | ">=" | "==" | "!=") sum)?
    sum     := product (("+" | "-") product)*
    product := unary (("*" | "/") unary)*
    unary   := "-" unary | atom
    atom    := NUMBER | NAME | "(" expr ")"

NAME is a channel (``pc``), a commanded output (``cmd.ox_main``), or a sequence variable
(``pc_setpoint``, ``t``, ``burn_time``). Comparisons yield 1.0 / 0.0. Missing data (a NaN
operand: a failed read) makes a comparison *unknown* (NaN), and unknown stays unknown through
``not`` and through ``and``/``or`` unless the other side decides (three-valued logic): ``pc != 0``
and ``not pc < 1.0`` are both unknown when ``pc`` is NaN. A condition holds only when it is
known to be true, so a condition is never satisfied by missing data.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from hil.errors import ExprError

_TOKEN = re.compile(r"\s*(?:(?P<num>\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?)|"
                    r"(?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?)|"
                    r"(?P<op><=|>=|==|!=|[<>+\-*/()]))")

_CMP = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge, "==": operator.eq, "!=": operator.ne}
_ARITH = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": lambda a, b: a / b if b else math.nan}




Evaluator = Callable[[Mapping[str, float]], float]


@dataclass(frozen=True)
class Expr:
    """A compiled condition: call it with a name → value mapping."""

    source: str
    names: frozenset[str]
    fn: Evaluator

    def __call__(self, env: Mapping[str, float]) -> float:
        return self.fn(env)

    def holds(self, env: Mapping[str, float]) -> bool:
        """True when the expression is non-zero and not NaN."""
        v = self.fn(env)
        return v == v and v != 0.0


def _tokenize(src: str) -> list[tuple[str, str, int]]:
    toks, pos = [], 0
    while pos < len(src):
        if src[pos:].strip() == "":
            break
        m = _TOKEN.match(src, pos)
        if not m or m.end() == pos:
            raise ExprError(f"unexpected character {src[pos:].strip()[0]!r}", pos + 1 + (len(src[pos:]) - len(src[pos:].lstrip())))
        kind = m.lastgroup or ""
        text = m.group(kind)
        col = m.start(kind) + 1
        if kind == "name" and text in ("and", "or", "not"):
            kind = "op"
        toks.append((kind, text, col))
        pos = m.end()
    toks.append(("end", "", len(src) + 1))
    return toks


class _Parser:
    def __init__(self, src: str) -> None:
        self.toks = _tokenize(src)
        self.i = 0
        self.names: set[str] = set()

    def peek(self) -> tuple[str, str, int]:
        return self.toks[self.i]

    def take(self) -> tuple[str, str, int]:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def parse(self) -> Evaluator:
        fn = self.or_()
        kind, text, col = self.peek()
        if kind != "end":
            raise ExprError(f"unexpected {text!r}", col)
        return fn

    def or_(self) -> Evaluator:
        left = self.and_()
        while self.peek()[1] == "or":
            self.take()
            right = self.and_()
            left = (lambda a, b: lambda env: _or(a(env), b(env)))(left, right)
        return left

    def and_(self) -> Evaluator:
        left = self.not_()
        while self.peek()[1] == "and":
            self.take()
            right = self.not_()
            left = (lambda a, b: lambda env: _and(a(env), b(env)))(left, right)
        return left

    def not_(self) -> Evaluator:
        if self.peek()[1] == "not":
            self.take()
            inner = self.not_()
            return lambda env: _not(inner(env))
        return self.compare()

    def compare(self) -> Evaluator:
        left = self.sum_()
        kind, text, _ = self.peek()
        if kind == "op" and text in _CMP:
            self.take()
            right = self.sum_()
            op = _CMP[text]
            return lambda env: _compare(op, left(env), right(env))
        return left

    def sum_(self) -> Evaluator:
        left = self.product()
        while self.peek()[1] in ("+", "-"):
            op = _ARITH[self.take()[1]]
            right = self.product()
            left = (lambda a, b, o: lambda env: o(a(env), b(env)))(left, right, op)
        return left

    def product(self) -> Evaluator:
        left = self.unary()
        while self.peek()[1] in ("*", "/"):
            op = _ARITH[self.take()[1]]
            right = self.unary()
            left = (lambda a, b, o: lambda env: o(a(env), b(env)))(left, right, op)
        return left

    def unary(self) -> Evaluator:
        if self.peek()[1] == "-":
            self.take()
            inner = self.unary()
            return lambda env: -inner(env)
        return self.atom()

    def atom(self) -> Evaluator:
        kind, text, col = self.take()
        if kind == "num":
            v = float(text)
            return lambda env: v
        if kind == "name":
            self.names.add(text)
            return lambda env: env[text]
        if text == "(":
            inner = self.or_()
            k2, t2, c2 = self.take()
            if t2 != ")":
                raise ExprError("missing ')'", c2)
            return inner
        if kind == "end":
            raise ExprError("expression ends too early", col)
        raise ExprError(f"unexpected {text!r}", col)


def _truth(v: float) -> bool:
    """Known to be true (NaN, unknown, is not)."""
    return v == v and v != 0.0


_UNKNOWN = math.nan


def _compare(op: Callable[[float, float], bool], a: float, b: float) -> float:
    if a != a or b != b:
        return _UNKNOWN
    return 1.0 if op(a, b) else 0.0


def _not(v: float) -> float:
    return _UNKNOWN if v != v else (0.0 if v != 0.0 else 1.0)


def _and(a: float, b: float) -> float:
    if (a == a and a == 0.0) or (b == b and b == 0.0):
        return 0.0  # false whatever the other side is
    return _UNKNOWN if a != a or b != b else 1.0


def _or(a: float, b: float) -> float:
    if _truth(a) or _truth(b):
        return 1.0  # true whatever the other side is
    return _UNKNOWN if a != a or b != b else 0.0


def compile_expr(src: str) -> Expr:
    """Parse ``src`` into an :class:`Expr`. Raises ExprError with the column."""
    if not isinstance(src, str) or not src.strip():
        raise ExprError("empty condition", 1)
    p = _Parser(src)
    fn = p.parse()
    return Expr(src, frozenset(p.names), fn)
