"""Argument types for the command line: numbers checked where they enter.

Each is an ``argparse`` ``type=`` callable: a bad value becomes the parser's usual
one-line error naming the argument (exit 2), never a traceback or a silent odd run
(``--duration nan`` used to exit 0 at once).
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

MAX_SECONDS = 1e9
"""About 31 years: any longer duration is a typo."""


def seconds(text: str) -> float:
    """A positive, finite number of seconds (at most :data:`MAX_SECONDS`)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive, finite number of seconds, got {text!r}")
    if value > MAX_SECONDS:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_SECONDS:g} seconds, got {text!r}")
    return value


def port(text: str) -> int:
    """A TCP port, 1-65535, or 0 for any free port."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port must be 1-65535 (or 0 for any free port), got {value}")
    return value


def integer(minimum: int, maximum: int) -> Callable[[str], int]:
    """An integer in ``[minimum, maximum]``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
        if not minimum <= value <= maximum:
            raise argparse.ArgumentTypeError(f"must be between {minimum} and {maximum}, got {value}")
        return value

    parse.__name__ = "integer"
    return parse
