"""Queue-position models: how a resting paper order moves up its price level's queue.

A resting order remembers ``ahead``: public lots in front of it at its price. When it
joins, ``ahead`` is the displayed size at that price. Trades at the price consume the
queue front to back (see :func:`consume`) -- identical in every model. What the models
disagree about is a *decrease of displayed size that is not explained by a trade* (a
cancel somewhere in the queue, which L2 data cannot locate):

- :func:`risk_averse`: cancels happen behind us; we never advance, except that
  ``ahead`` can never exceed what is displayed (``min(ahead, displayed)``).
- :func:`proportional`: a decrease ``d`` of a level that displayed ``before`` lots is
  spread over the queue pro rata, so ``floor(d * ahead / before)`` of it was ahead of us.

Both are integer-exact and monotone in ``ahead`` (orders never overtake each other).
Increases of displayed size are new orders joining behind us: ``ahead`` is unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, TypeAlias

QueueModel: TypeAlias = Callable[[int, int, int], int]
"""``model(ahead, before, after) -> new ahead`` for a displayed decrease ``before > after``."""


def risk_averse(ahead: int, before: int, after: int) -> int:
    return ahead if ahead <= after else after


def proportional(ahead: int, before: int, after: int) -> int:
    if before <= 0:
        return 0
    advanced = ahead - (before - after) * ahead // before
    return advanced if advanced <= after else after


QUEUE_MODELS: dict[str, QueueModel] = {"risk_averse": risk_averse, "proportional": proportional}


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
