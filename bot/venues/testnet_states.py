"""The life of a mirrored order at a testnet venue: the states the testnet client reports
(:mod:`bot.venues.testnet`) and reconciliation (:mod:`bot.engine.reconcile`) compares."""

from __future__ import annotations


class TestnetState:
    """The life of an order at the testnet (string constants)."""

    __test__ = False  # not a pytest class

    QUEUED = "queued"  # waiting for the throttle
    NOT_SENT = "not_sent"  # the paper order was cancelled before it was sent
    SENT = "sent"  # request sent, answer unknown (timeout): looked up by client id
    OPEN = "open"
    FILLED = "filled"
    CANCELLED = "cancelled"
    REJECTED = "rejected"
    FINAL = frozenset({"not_sent", "filled", "cancelled", "rejected"})
    NEVER_LIVE = frozenset({"not_sent", "rejected"})
