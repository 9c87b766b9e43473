"""Reconnect delays: exponential backoff with jitter, as a pure generator.

``backoff_delays(min_s, max_s, ...)`` yields an endless sequence of delays in
seconds. It does no sleeping and reads no clock, so tests can draw from it directly
and adapters can shrink it through config (``reconnect_min_s`` / ``reconnect_max_s``).
Randomness comes from an injectable ``random.Random``, so a seeded generator gives a
reproducible sequence.

Jitter modes (see AWS Architecture Blog, "Exponential Backoff And Jitter", 2015):

- ``"full"``: ``uniform(0, min(max_s, min_s * factor**n))`` -- spreads reconnecting
  clients over the whole window; a delay may be close to 0.
- ``"decorrelated"`` (default): ``d = min(max_s, uniform(min_s, 3 * d_prev))``
  starting from ``d_prev = min_s`` -- never below ``min_s``, grows on average, and
  consecutive delays are not lock-stepped between clients.
- ``"none"``: plain ``min(max_s, min_s * factor**n)``.

Every delay lies in ``[0, max_s]`` (``[min_s, max_s]`` except for ``"full"``).
A caller resets the sequence simply by creating a new generator.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Literal

JitterMode = Literal["full", "decorrelated", "none"]


def backoff_delays(
    min_s: float,
    max_s: float,
    *,
    jitter: JitterMode = "decorrelated",
    factor: float = 2.0,
    rng: random.Random | None = None,
) -> Iterator[float]:
    """Endless reconnect delays (seconds) for consecutive failed attempts."""
    if min_s <= 0:
        raise ValueError(f"min_s must be positive, got {min_s}")
    if max_s < min_s:
        raise ValueError(f"max_s ({max_s}) must be >= min_s ({min_s})")
    if factor < 1:
        raise ValueError(f"factor must be >= 1, got {factor}")
    if jitter not in ("full", "decorrelated", "none"):
        raise ValueError(f"unknown jitter mode {jitter!r}")
    return _delays(min_s, max_s, jitter, factor, rng or random.Random())


def _delays(min_s: float, max_s: float, jitter: str, factor: float, rng: random.Random) -> Iterator[float]:
    if jitter == "decorrelated":
        previous = min_s
        while True:
            previous = min(max_s, rng.uniform(min_s, previous * 3.0))
            yield previous
    ceiling = min_s
    while True:
        yield rng.uniform(0.0, ceiling) if jitter == "full" else ceiling
        ceiling = min(max_s, ceiling * factor)
