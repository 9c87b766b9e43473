"""Execution programs of a deal: sell or buy a quantity across venues over a window.

Owns the schedule of the deal's block trades -- the initial sale, selling the tokens an
exercise delivers, buying back tokens owed, the unwind -- as a pure state machine that
says, per venue account and at an event time, how much should be traded now:

- ``twap``: the cumulative target of account ``a`` at time ``t`` is
  ``target_a * min(1, (t - start) / window)``;
- ``participation``: ``min(target_a, rate * volume_a)``, ``volume_a`` = the market volume
  traded on that venue since the start (the caller reports it), until ``start + window``;
  from then on, the whole target (the deadline).

``due(account, now)`` = cumulative target - filled - in flight, never negative. The
caller sends slices (IOC limit orders through the venue's paper book: the book's depth
is the impact) and reports fills (:meth:`on_fill`) and what is in flight. The program is
``complete`` when every account's target is filled (or :meth:`stop` was called: the
rest is dropped and reported as ``unfilled``). Quantities are exact ``Decimal`` tokens.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from bot.core.events import NS_PER_S

Mode = Literal["twap", "participation"]
_ZERO = Decimal(0)


@dataclass
class Program:
    name: str
    """``sale``, ``exercise``, ``buyback`` or ``unwind`` (also the client-id tag)."""
    side: int
    """-1 sell, +1 buy."""
    targets: dict[str, Decimal]
    """Tokens per venue account."""
    start_ns: int
    window_ns: int
    mode: Mode = "twap"
    participation: float = 0.1
    filled: dict[str, Decimal] = field(default_factory=dict)
    volume: dict[str, Decimal] = field(default_factory=dict)
    stopped: bool = False

    def __post_init__(self) -> None:
        if self.side not in (-1, 1):
            raise ValueError(f"side must be -1 or +1, got {self.side}")
        if self.window_ns <= 0:
            raise ValueError("window must be positive")
        for account, target in self.targets.items():
            if target < 0:
                raise ValueError(f"{account}: target must be >= 0, got {target}")
            self.filled.setdefault(account, _ZERO)
            self.volume.setdefault(account, _ZERO)

    @classmethod
    def create(
        cls,
        name: str,
        side: int,
        targets: dict[str, Decimal],
        start_ns: int,
        window_s: float,
        *,
        mode: Mode = "twap",
        participation: float = 0.1,
    ) -> Program:
        return cls(
            name, side, dict(targets), start_ns, max(1, round(window_s * NS_PER_S)), mode, participation
        )

    # ---- the schedule ----------------------------------------------------------------

    @property
    def total(self) -> Decimal:
        return sum(self.targets.values(), _ZERO)

    @property
    def done(self) -> Decimal:
        return sum(self.filled.values(), _ZERO)

    def remaining(self, account: str | None = None) -> Decimal:
        """Tokens still to trade (one account, or all)."""
        if self.stopped:
            return _ZERO
        accounts = [account] if account is not None else list(self.targets)
        return sum((max(_ZERO, self.targets[a] - self.filled[a]) for a in accounts), _ZERO)

    def scheduled(self, account: str, now: int) -> Decimal:
        """Cumulative target of ``account`` at ``now``."""
        target = self.targets[account]
        if now <= self.start_ns:
            return _ZERO
        elapsed = now - self.start_ns
        if elapsed >= self.window_ns:
            return target
        if self.mode == "participation":
            return min(target, self.volume[account] * Decimal(str(self.participation)))
        return target * elapsed / self.window_ns

    def due(self, account: str, now: int, in_flight: Decimal = _ZERO) -> Decimal:
        """What to send now on ``account`` (cumulative target - filled - in flight, >= 0)."""
        if self.stopped or account not in self.targets:
            return _ZERO
        return max(_ZERO, self.scheduled(account, now) - self.filled[account] - in_flight)

    @property
    def complete(self) -> bool:
        return self.stopped or all(self.filled[a] >= t for a, t in self.targets.items())

    # ---- reports ---------------------------------------------------------------------

    def on_fill(self, account: str, quantity: Decimal) -> None:
        self.filled[account] = self.filled.get(account, _ZERO) + quantity

    def on_volume(self, account: str, quantity: Decimal) -> None:
        """Market volume traded on the venue of ``account`` (participation mode)."""
        if account in self.volume:
            self.volume[account] += quantity

    def stop(self) -> None:
        self.stopped = True

    def unfilled(self) -> Decimal:
        return sum((max(_ZERO, t - self.filled[a]) for a, t in self.targets.items()), _ZERO)

    # ---- journal ---------------------------------------------------------------------

    def definition(self) -> dict[str, Any]:
        """What the decision note records (progress is rebuilt from the accounts' fills)."""
        return {
            "name": self.name,
            "side": self.side,
            "targets": {a: str(t) for a, t in self.targets.items()},
            "start_ns": self.start_ns,
            "window_ns": self.window_ns,
            "mode": self.mode,
            "participation": self.participation,
        }

    @classmethod
    def from_definition(cls, data: dict[str, Any]) -> Program:
        return cls(
            name=str(data["name"]),
            side=int(data["side"]),
            targets={a: Decimal(t) for a, t in data["targets"].items()},
            start_ns=int(data["start_ns"]),
            window_ns=int(data["window_ns"]),
            mode=data["mode"],
            participation=float(data["participation"]),
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.definition(),
            "filled": {a: str(q) for a, q in self.filled.items()},
            "remaining": str(self.remaining()),
            "complete": self.complete,
            "stopped": self.stopped,
        }
