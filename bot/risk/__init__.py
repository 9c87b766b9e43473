"""Risk manager: volatility-regime state machine, pull triggers, limits and kill switch.

Sans-IO and event-time only. The engine wires one :class:`RiskManager` per quoted
instrument (see :mod:`bot.risk.manager` for the call sequence); settings are
:class:`RiskSettings` (the ``[risk]`` config table).
"""

from bot.risk.explain import (
    KillRecord,
    Reason,
    Regime,
    RegimeTransition,
    RiskRecord,
    from_payload,
    record_type,
    to_payload,
)
from bot.risk.limits import Veto
from bot.risk.manager import RiskDecision, RiskManager
from bot.risk.settings import RiskSettings
from bot.risk.triggers import Trigger

__all__ = [
    "KillRecord",
    "Reason",
    "Regime",
    "RegimeTransition",
    "RiskDecision",
    "RiskManager",
    "RiskRecord",
    "RiskSettings",
    "Trigger",
    "Veto",
    "from_payload",
    "record_type",
    "to_payload",
]
