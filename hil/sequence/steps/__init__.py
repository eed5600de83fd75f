"""Sequence step kinds: each one class that parses, validates, describes, times and executes
itself (hil/sequence/steps/base.py), registered in one table (registry.py)."""

from hil.sequence.steps.base import Effect, Gate, Pending, Poll, Runtime, Step
from hil.sequence.steps.blocks import BlockRun
from hil.sequence.steps.markers import MarkStep, RedlineStep
from hil.sequence.steps.outputs import RampStep, SetStep
from hil.sequence.steps.parse import VARIABLES, StepParser
from hil.sequence.steps.prompt import PROMPT_TIMEOUT_S, PromptStep
from hil.sequence.steps.registry import parser_for, register, step_keys, unregister
from hil.sequence.steps.throttle import ThrottleStep
from hil.sequence.steps.waits import HoldStep, WaitStep

__all__ = ["PROMPT_TIMEOUT_S", "VARIABLES", "BlockRun", "Effect", "Gate", "HoldStep", "MarkStep", "Pending", "Poll",
           "PromptStep", "RampStep", "RedlineStep", "Runtime", "SetStep", "Step", "StepParser", "ThrottleStep",
           "WaitStep", "parser_for", "register", "step_keys", "unregister"]
