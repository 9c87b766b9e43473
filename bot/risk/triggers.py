"""Immediate pull triggers: which are active, why, and when HALTED may end.

A trigger is *set* with the :class:`~bot.risk.explain.Reason` (rule + numbers) that
fired it and *cleared* with the reason it cleared. While any trigger is active the
regime is HALTED. Market and feed triggers clear by themselves once their condition
has gone (with hysteresis: the depth trigger fires below one ratio and clears above a
higher one); *latched* triggers (manual kill, drawdown) clear only on a resume; *holds*
(the journal cannot write, the testnet is not reconciled yet) are set and cleared by the
engine when that condition starts and ends.

:meth:`TriggerBoard.ready_at` is the earliest event time at which HALTED may end: the
latest ``cleared_at + cooldown`` of the triggers that were active during the halt.
Market triggers (depth collapse, price jump, inventory) use the market cooldown,
doubled for each further halt within ``cooldown_memory_s`` of the previous one (up to
``cooldown_max_s``) so a choppy market cannot flap the machine; book/feed triggers use
the short feed cooldown; warm-up and latched triggers none.

:func:`evaluate_market` applies the market-data triggers to one event's signals.
"""

from __future__ import annotations

from enum import StrEnum

from bot.risk.explain import Reason
from bot.risk.settings import TriggerSettings
from bot.risk.signals import SignalTracker


class Trigger(StrEnum):
    WARMUP = "warmup"
    BOOK_INVALID = "book_invalid"
    FEED_STALE = "feed_stale"
    DEPTH_COLLAPSE = "depth_collapse"
    PRICE_JUMP = "price_jump"
    INVENTORY = "inventory"
    DRAWDOWN = "drawdown"
    MANUAL_KILL = "manual_kill"
    JOURNAL_FAILED = "journal_failed"
    TESTNET_RECONCILE = "testnet_reconcile"


LATCHED = frozenset({Trigger.MANUAL_KILL, Trigger.DRAWDOWN})
HOLDS = frozenset({Trigger.JOURNAL_FAILED, Trigger.TESTNET_RECONCILE})
"""Set and cleared by the engine (not by market data, not by resume); no cooldown."""
MARKET = frozenset({Trigger.DEPTH_COLLAPSE, Trigger.PRICE_JUMP, Trigger.INVENTORY})
FEED = frozenset({Trigger.BOOK_INVALID, Trigger.FEED_STALE})

_NS = 1_000_000_000


class TriggerBoard:
    """Active triggers with their reasons; clear times and cooldowns of the current halt."""

    __slots__ = (
        "_cooldown_ns",
        "_feed_cooldown_ns",
        "_halt_starts",
        "_max_cooldown_ns",
        "_memory_ns",
        "_ready_ns",
        "active",
        "cleared",
        "fired",
    )

    def __init__(self, settings: TriggerSettings) -> None:
        self._cooldown_ns = int(settings.cooldown_s * _NS)
        self._max_cooldown_ns = int(settings.cooldown_max_s * _NS)
        self._memory_ns = int(settings.cooldown_memory_s * _NS)
        self._feed_cooldown_ns = int(settings.feed_cooldown_s * _NS)
        self.active: dict[Trigger, Reason] = {}
        """Active triggers -> the reason each fired (latest numbers)."""
        self.fired: list[Trigger] = []
        """Triggers newly set since the last :meth:`take_fired`."""
        self.cleared: dict[Trigger, Reason] = {}
        """Triggers cleared during the current halt -> why they cleared."""
        self._ready_ns = 0
        self._halt_starts: list[int] = []

    @property
    def any(self) -> bool:
        return bool(self.active)

    def set(self, trigger: Trigger, reason: Reason) -> None:
        if trigger not in self.active:
            self.fired.append(trigger)
        self.active[trigger] = reason

    def clear(self, trigger: Trigger, reason: Reason, now: int) -> None:
        if self.active.pop(trigger, None) is None:
            return
        self.cleared[trigger] = reason
        ready = now + self.cooldown_ns(trigger)
        if ready > self._ready_ns:
            self._ready_ns = ready

    def take_fired(self) -> list[Trigger]:
        fired, self.fired = self.fired, []
        return fired

    def halt_started(self, now: int) -> None:
        """A halt began at ``now``: remember it (repeated halts lengthen the cooldown)."""
        starts = self._halt_starts
        memory = self._memory_ns
        while starts and now - starts[0] > memory:
            del starts[0]
        starts.append(now)
        self.cleared = {}
        self._ready_ns = 0

    def cooldown_ns(self, trigger: Trigger) -> int:
        if trigger in MARKET:
            repeats = max(0, len(self._halt_starts) - 1)
            return min(self._cooldown_ns << min(repeats, 20), max(self._max_cooldown_ns, self._cooldown_ns))
        if trigger in FEED:
            return self._feed_cooldown_ns
        return 0

    def ready_at(self) -> int:
        """Earliest event time (ns) at which the halt may end (once nothing is active)."""
        return self._ready_ns

    def reasons(self) -> tuple[Reason, ...]:
        return tuple(self.active.values())


def evaluate_market(
    board: TriggerBoard,
    signals: SignalTracker,
    settings: TriggerSettings,
    book_valid: bool,
    feed_fresh: bool,
    now: int,
    crisis: bool = False,
) -> None:
    """Set or clear the market-data triggers for this event (``crisis``: the machine is in
    CRISIS, which has its own depth-collapse threshold)."""
    active = board.active
    if not active and feed_fresh and book_valid and signals.known and signals.jump is None:
        # the common case, kept cheap: healthy and nothing to clear
        bid = signals.depth_bid
        ask = signals.depth_ask
        collapse = settings.depth_collapse_ratio_crisis if crisis else settings.depth_collapse_ratio
        if not (bid < collapse or ask < collapse):
            return
    # -- feed and book
    if not feed_fresh:
        board.set(Trigger.FEED_STALE, Reason(rule="trigger.feed_stale", note="market data feed is stale"))
    elif Trigger.FEED_STALE in active:
        board.clear(Trigger.FEED_STALE, Reason(rule="clear.feed_stale", note="feed fresh again"), now)
    if not book_valid or not signals.known:
        board.set(
            Trigger.BOOK_INVALID,
            Reason(rule="trigger.book_invalid", note="book invalid, crossed, one-sided or resyncing"),
        )
        return  # nothing else can be judged without a good book
    if Trigger.BOOK_INVALID in active:
        board.clear(Trigger.BOOK_INVALID, Reason(rule="clear.book_invalid", note="book valid again"), now)
    if Trigger.WARMUP in active and signals.sigma_medium == signals.sigma_medium:
        board.clear(
            Trigger.WARMUP,
            Reason(
                rule="clear.warmup",
                metric="sigma_medium",
                observed=signals.sigma_medium,
                unit="bps/sqrt(s)",
                note="medium-horizon vol known (the price-jump reference)",
            ),
            now,
        )
    # -- depth collapse (either side), with hysteresis
    bid = signals.depth_bid
    ask = signals.depth_ask
    if ask != ask or bid <= ask:  # the thinner side; a side without a baseline yet (nan) is skipped
        low, side = bid, "bid"
    else:
        low, side = ask, "ask"
    collapse = settings.depth_collapse_ratio_crisis if crisis else settings.depth_collapse_ratio
    if low < collapse:
        board.set(
            Trigger.DEPTH_COLLAPSE,
            Reason(
                rule="trigger.depth_collapse",
                metric=f"depth_ratio_{side}",
                observed=round(low, 4),
                op="<",
                threshold=collapse,
                note=f"displayed depth vs baseline: bid {bid:.3f}, ask {ask:.3f}",
            ),
        )
    elif Trigger.DEPTH_COLLAPSE in active and not low < settings.depth_clear_ratio:
        board.clear(
            Trigger.DEPTH_COLLAPSE,
            Reason(
                rule="clear.depth_collapse",
                metric="depth_ratio_min",
                observed=round(low, 4),
                op=">=",
                threshold=settings.depth_clear_ratio,
            ),
            now,
        )
    # -- price jump
    jump = signals.jump
    if jump is not None:
        board.set(
            Trigger.PRICE_JUMP,
            Reason(
                rule="trigger.price_jump",
                metric="mid_move_bps",
                observed=round(jump.move_bps, 4),
                op=">",
                threshold=round(jump.threshold_bps, 4),
                unit="bps",
                note=f"{settings.jump_k:g} x sigma {jump.sigma_bps:.3f} bps/sqrt(s) x sqrt({jump.dt_s:.2f} s), "
                f"versus the {jump.versus}",
            ),
        )
    elif Trigger.PRICE_JUMP in active:
        quiet_s = (now - signals.last_jump_ts) / _NS
        if quiet_s >= settings.jump_clear_s:
            board.clear(
                Trigger.PRICE_JUMP,
                Reason(
                    rule="clear.price_jump",
                    metric="seconds_since_jump",
                    observed=round(quiet_s, 3),
                    op=">=",
                    threshold=settings.jump_clear_s,
                    unit="s",
                ),
                now,
            )
