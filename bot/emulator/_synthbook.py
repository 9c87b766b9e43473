"""Building blocks of the synthetic market: block random draws, one book side, the level ladder.

Private to :mod:`bot.emulator.synthetic`. A :class:`BookSide` keeps its levels as a
``price -> lots`` dict plus a sorted key list (key = ``sign * price``, so the best
level is always the *last* key on both sides) and records, per generator step, the
size every touched level had when the step began; :meth:`BookSide.diff` turns that
into the step's absolute-size update list (only real changes; 0 = delete).
"""

from __future__ import annotations

import math
from bisect import bisect_left, insort
from collections.abc import Callable, Iterator
from itertools import chain

import numpy as np

Level = tuple[int, int]

_BLOCK = 1 << 14


class Rand:
    """Random draws from one seeded numpy generator, made in blocks.

    ``u()`` uniform [0, 1), ``z()`` standard normal, ``lognormal()`` exp(0.8 z): each a
    C-level iterator over lazily drawn blocks, so a draw costs one call. The stream is
    a pure function of the seed and the order of calls.
    """

    __slots__ = ("_gen", "lognormal", "u", "z")

    def __init__(self, seed: int) -> None:
        gen = self._gen = np.random.default_rng(seed)

        def uniforms() -> Iterator[list[float]]:
            while True:
                yield gen.random(_BLOCK).tolist()

        def normals() -> Iterator[list[float]]:
            while True:
                yield gen.standard_normal(_BLOCK).tolist()

        def lognormals() -> Iterator[list[float]]:
            while True:
                yield np.exp(0.8 * gen.standard_normal(_BLOCK)).tolist()

        self.u: Callable[[], float] = chain.from_iterable(uniforms()).__next__
        self.z: Callable[[], float] = chain.from_iterable(normals()).__next__
        self.lognormal: Callable[[], float] = chain.from_iterable(lognormals()).__next__

    def poisson(self, lam: float) -> int:
        """Poisson count by inversion (``lam`` is small: a per-step rate)."""
        if lam <= 0.0:
            return 0
        u = self.u()
        p = math.exp(-lam)
        cumulative = p
        k = 0
        while u > cumulative and k < 1000:
            k += 1
            p *= lam / k
            cumulative += p
        return k


class BookSide:
    """One side of the generator's book with per-step change tracking."""

    __slots__ = ("keys", "sign", "size", "start", "traded")

    def __init__(self, sign: int) -> None:
        self.sign = sign  # +1 bids, -1 asks
        self.keys: list[int] = []  # sign * price, ascending: best last
        self.size: dict[int, int] = {}
        self.start: dict[int, int] = {}  # price -> size when the step began (touched levels only)
        self.traded: set[int] = set()  # prices traded this step: not re-posted in the same step

    def __len__(self) -> int:
        return len(self.keys)

    def put(self, price: int, lots: int) -> None:
        """Set a level's absolute size (``lots`` > 0)."""
        size = self.size
        old = size.get(price, 0)
        if price not in self.start:
            self.start[price] = old
        if not old:
            insort(self.keys, self.sign * price)
        size[price] = lots

    def add(self, price: int, lots: int) -> None:
        """A new order of ``lots`` joins the level at ``price`` (creating it if needed)."""
        size = self.size
        old = size.get(price, 0)
        if price not in self.start:
            self.start[price] = old
        if not old:
            insort(self.keys, self.sign * price)
        size[price] = old + lots

    def remove(self, price: int) -> None:
        old = self.size.pop(price)
        if price not in self.start:
            self.start[price] = old
        keys = self.keys
        del keys[bisect_left(keys, self.sign * price)]

    def pop_best(self) -> int:
        """Remove the best level; returns its price."""
        price = self.sign * self.keys.pop()
        old = self.size.pop(price)
        if price not in self.start:
            self.start[price] = old
        return price

    def diff(self) -> list[Level]:
        """The step's changed levels, best-first, as absolute sizes; resets the step tracking."""
        size = self.size
        out = [(p, size.get(p, 0)) for p, old in self.start.items() if size.get(p, 0) != old]
        out.sort(reverse=self.sign > 0)
        self.start = {}
        if self.traded:
            self.traded = set()
        return out

    def levels(self) -> list[Level]:
        """All levels, best-first."""
        sign, size = self.sign, self.size
        return [(sign * key, size[sign * key]) for key in reversed(self.keys)]


class Ladder:
    """Target placement of levels behind the touch.

    Offsets (ticks from the touch) of a side's ``n`` levels grow geometrically with
    rank: ``offset(u) = a * (exp(c * u) - 1)`` for rank fraction ``u`` in [0, 1], with
    the first gap ``a*c/n`` about ``first_gap`` ticks and ``offset(1) = width``. Drawing
    ``u`` uniformly gives new orders the target density; a birth-death process with
    that birth density and uniform deaths has the ladder as its stationary shape.
    """

    __slots__ = ("a", "c", "n", "width")

    def __init__(self, n: int, width: float, first_gap: float) -> None:
        width = max(width, 2.0 * n)
        first_gap = max(1.0, first_gap)
        self.n = n
        self.width = width
        if first_gap * n >= width:
            self.a, self.c = width, 0.0  # linear spacing
            return
        lo, hi = 1e-12, 60.0 / n
        for _ in range(80):
            mid = 0.5 * (lo + hi)
            if first_gap * math.expm1(mid * n) / mid > width:
                hi = mid
            else:
                lo = mid
        self.a = first_gap / lo
        self.c = lo * n

    def gap(self, offset: int) -> float:
        """Expected distance in ticks between neighbouring levels ``offset`` ticks behind the touch."""
        if self.c == 0.0:
            return self.width / self.n
        return (offset + self.a) * self.c / self.n

    def offset(self, u: float) -> int:
        """Offset in ticks at rank fraction ``u``."""
        if self.c == 0.0:
            return int(self.a * u)
        return int(self.a * math.expm1(self.c * u))
