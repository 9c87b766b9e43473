"""Queue-position models: how a resting paper order moves up its price level's queue.

A resting order remembers ``ahead``: public lots in front of it at its price. When it
joins, ``ahead`` is the displayed size at that price. Trades at the price consume the
queue front to back (see :func:`consume`) -- identical in every model. What the models
disagree about is a *decrease of displayed size that is not explained by a trade* (a
cancel somewhere in the queue, which L2 data cannot locate). Which decreases are
explained by trades is settled first (:mod:`bot.paper.level`); the models only ever see
the unexplained rest:

- :func:`risk_averse`: cancels happen behind us; we never advance, except that
  ``ahead`` can never exceed what is displayed (``min(ahead, displayed)``).
- :func:`proportional`: a decrease ``d`` of a level that displayed ``before`` lots is
  spread over the queue pro rata, so ``floor(d * ahead / before)`` of it was ahead of us.
- ``power`` / ``log`` (:func:`prob_model`): the probabilistic family of hftbacktest's
  ``ProbQueueModel`` (nkaz001/hftbacktest, ``backtest/models/queue.rs``; after
  Rigtorp, "Estimating order queue position", 2013): the share of a decrease that
  happened *behind* us is ``p = f(back) / (f(back) + f(front))`` with ``front = ahead``,
  ``back = before - ahead`` and ``f(x) = x**n`` (``power``) or ``f(x) = ln(1 + x)``
  (``log``, ``x`` in base-asset units as hftbacktest uses it); then
  ``ahead' = front - (1 - p) d + min(back - p d, 0)``, capped by the new displayed
  size. Large ``n`` puts decreases behind us (close to ``risk_averse``), ``n = 1`` is
  pro rata. The result is rounded *up* to a whole lot: a model never advances us by a
  fraction it cannot justify.

All are integer-exact and monotone in ``ahead`` (orders never overtake each other).
Increases of displayed size are new orders joining behind us: ``ahead`` is unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Protocol, TypeAlias

QueueModel: TypeAlias = Callable[[int, int, int], int]
"""``model(ahead, before, after) -> new ahead`` for a displayed decrease ``before > after``."""

QUEUE_MODEL_NAMES = ("risk_averse", "proportional", "power", "log")


def risk_averse(ahead: int, before: int, after: int) -> int:
    return ahead if ahead <= after else after


def proportional(ahead: int, before: int, after: int) -> int:
    if before <= 0:
        return 0
    advanced = ahead - (before - after) * ahead // before
    return advanced if advanced <= after else after


def prob_model(f: Callable[[float], float]) -> QueueModel:
    """hftbacktest's ``ProbQueueModel`` step with probability ``f(back) / (f(back) + f(front))``."""

    def model(ahead: int, before: int, after: int) -> int:
        if ahead <= 0:
            return 0
        change = before - after
        front = float(ahead)
        back = float(max(before - ahead, 0))
        fb, ff = f(back), f(front)
        total = fb + ff
        prob = fb / total if total > 0.0 and math.isfinite(total) else 1.0
        estimate = front - (1.0 - prob) * change + min(back - prob * change, 0.0)
        # round up (never advance more than the model says), clamp to [0, min(ahead, after)]
        lots = math.ceil(estimate - 1e-9) if estimate > 0.0 else 0
        if lots > ahead:
            lots = ahead
        return lots if lots <= after else after

    return model


def make_queue_model(name: str, *, power: float = 3.0, lot_size: float = 1.0) -> QueueModel:
    """The model called ``name`` (see :data:`QUEUE_MODEL_NAMES`).

    ``power`` is the exponent of ``power``; ``lot_size`` (base units per lot) puts the
    ``log`` model's sizes in base-asset units, as hftbacktest evaluates it."""
    if name == "risk_averse":
        return risk_averse
    if name == "proportional":
        return proportional
    if name == "power":
        n = power
        return prob_model(lambda x: x**n)
    if name == "log":
        unit = lot_size
        return prob_model(lambda x: math.log1p(x * unit))
    raise ValueError(f"unknown queue model {name!r}; expected one of {', '.join(QUEUE_MODEL_NAMES)}")


QUEUE_MODELS: dict[str, QueueModel] = {"risk_averse": risk_averse, "proportional": proportional}
"""The parameter-free models by name (kept for callers that need no lot size)."""


class QueueSlot(Protocol):
    """What the queue needs to know about a resting order."""

    ahead: int
    remaining: int


def consume(slots: Sequence[QueueSlot], volume: int) -> tuple[list[int], int]:
    """Let a trade of ``volume`` lots execute through a level holding our ``slots``.

    ``slots`` are in queue order (arrival order, which is also ``ahead`` order). The
    volume first takes the public lots ahead of the first slot, then that slot, then the
    public lots between it and the next, and so on. Returns the fill of each slot and
    the public lots consumed; callers then set every slot's ``ahead`` to
    ``max(0, ahead - consumed)``. Does not mutate ``slots``.
    """
    fills = [0] * len(slots)
    consumed = 0
    left = volume
    for index, slot in enumerate(slots):
        gap = slot.ahead - consumed
        if gap > 0:
            take = gap if gap < left else left
            consumed += take
            left -= take
        if left <= 0:
            break
        fill = slot.remaining if slot.remaining < left else left
        fills[index] = fill
        left -= fill
    return fills, consumed
