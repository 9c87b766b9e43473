"""The deal desk's lifecycle phases (:mod:`bot.engine.deal_desk`)."""

from __future__ import annotations

from enum import StrEnum


class Phase(StrEnum):
    WAITING = "waiting"
    OPEN = "open"
    EXERCISE = "exercise"
    SETTLE = "settle"
    BUYBACK = "buyback"
    RETURN = "return"
    UNWIND = "unwind"
    CLOSING = "closing"
    CLOSED = "closed"
