"""Explainability records of the risk manager: what changed, which rule, which numbers.

Every regime transition is a frozen :class:`RegimeTransition`: from/to state, the rule
that fired and one :class:`Reason` per condition behind it (metric, observed value,
comparison, threshold), plus the full signal snapshot at that instant. Kill switch
commands (and the drawdown latch) are :class:`KillRecord` s. Both are delivered to the
risk manager's sink for the engine to journal and log; :func:`restore` in the manager
reads kill records back after a restart.

Records are tagged msgspec structs: :func:`to_payload` / :func:`from_payload` turn them
into plain JSON-able dicts and back (the journal's typed-record table stores
``(type, payload)`` with ``type`` = :func:`record_type`).
"""

from __future__ import annotations

import math
from enum import StrEnum
from typing import Any, Literal, TypeAlias

import msgspec


class Regime(StrEnum):
    CALM = "calm"
    RANGING = "ranging"
    TRENDING = "trending"
    CRISIS = "crisis"
    HALTED = "halted"


SEVERITY: dict[Regime, int] = {
    Regime.CALM: 0,
    Regime.RANGING: 1,
    Regime.TRENDING: 2,
    Regime.CRISIS: 3,
    Regime.HALTED: 4,
}
"""Moves to a more severe state are immediate; moves down respect the minimum dwell."""


class Reason(msgspec.Struct, frozen=True, kw_only=True):
    """One condition behind a decision: ``metric op threshold`` with its observed value."""

    rule: str
    """Rule name, e.g. ``crisis.enter``, ``trigger.depth_collapse``, ``halt.cooldown``."""
    metric: str = ""
    observed: float | None = None
    op: str = ""
    threshold: float | None = None
    unit: str = ""
    note: str = ""

    def text(self) -> str:
        """Human-readable form: ``crisis.enter: short_ratio 4.21 >= 2.04 x baseline vol``."""
        parts = [f"{self.rule}:"]
        if self.metric:
            parts.append(self.metric)
        if self.observed is not None:
            parts.append(_num(self.observed))
        if self.op:
            parts.append(self.op)
        if self.threshold is not None:
            parts.append(_num(self.threshold))
        if self.unit:
            parts.append(self.unit)
        text = " ".join(parts)
        if not self.note:
            return text
        return f"{text} {self.note}" if len(parts) == 1 else f"{text} ({self.note})"


class RegimeTransition(msgspec.Struct, frozen=True, kw_only=True, tag="regime_transition"):
    """The regime changed at ``ts`` (event time, ns) because of ``rule``."""

    ts: int
    instrument: str
    from_state: Regime
    to_state: Regime
    rule: str
    reasons: tuple[Reason, ...]
    signals: dict[str, float | None] = {}
    """Every signal the machine reads, as observed at ``ts`` (None = not known yet)."""
    seq: int = 0
    """Per-manager transition counter (1, 2, ...)."""

    def text(self) -> str:
        because = "; ".join(r.text() for r in self.reasons) or self.rule
        return f"{self.from_state.upper()} -> {self.to_state.upper()} [{self.rule}] {because}"


class KillRecord(msgspec.Struct, frozen=True, kw_only=True, tag="risk_kill"):
    """A kill / resume command, or a latched trigger (``trigger = "drawdown"``).

    ``action = "kill"`` halts and latches ``trigger`` until a ``resume`` (which clears
    every latch). ``source`` says who: ``cli``, ``signal``, ``http``, ``risk``."""

    ts: int
    action: Literal["kill", "resume"]
    trigger: str = "manual_kill"
    reason: str = ""
    source: str = ""
    instrument: str = ""


RiskRecord: TypeAlias = RegimeTransition | KillRecord

_decoder = msgspec.json.Decoder(RiskRecord)


def record_type(record: RiskRecord) -> str:
    """The journal type name of a record (its tag)."""
    tag = type(record).__struct_config__.tag
    assert isinstance(tag, str)
    return tag


def to_payload(record: RiskRecord) -> dict[str, Any]:
    """A JSON-able dict with the ``type`` tag included."""
    payload = msgspec.to_builtins(record)
    assert isinstance(payload, dict)
    return payload


def from_payload(payload: dict[str, Any] | bytes | str, type_: str | None = None) -> RiskRecord:
    """Inverse of :func:`to_payload` (``type_`` fills in a missing tag). ValueError if malformed."""
    try:
        if isinstance(payload, dict):
            if type_ is not None and "type" not in payload:
                payload = {**payload, "type": type_}
            record: RiskRecord = msgspec.convert(payload, RiskRecord)
        else:
            record = _decoder.decode(payload)
        return record
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise ValueError(f"not a risk record: {exc}") from None


def _num(value: float) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, int) or float(value).is_integer():
        return str(int(value))
    return f"{value:.4g}"
