"""Sequence files: the language (model, loader, expressions) and its interpreter."""

from hil.sequence.loader import load_sequence, parse_sequence
from hil.sequence.model import Sequence, Step

__all__ = ["Sequence", "SequenceInvalid", "Step", "load_sequence", "parse_sequence"]
