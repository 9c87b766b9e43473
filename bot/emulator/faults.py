"""Fault injection: what can go wrong on the wire, and the ``--fault`` grammar.

Kinds (each counted in the emulator status under ``faults_applied``):

``gap``
    The next diff of each matching book is applied to the exchange book but not sent:
    clients see an update-id gap and must resync (the REST snapshot includes it; on
    Bybit / OKX the resubscription's snapshot does). On Bybit the ``u`` chain breaks,
    on OKX the ``seqId`` chain and on Bitget the ``seq`` / ``pseq`` chain (or, in a
    recording without sequence ids, the next checksum no longer matches).
``out_of_order``
    The next two diffs of each matching book are sent in swapped order (both are
    applied to the exchange book in their true order). Clients see a gap.
``malformed``
    One broken JSON frame (a truncated diff) is sent on every matching connection,
    in addition to the real stream; nothing is lost, clients must skip and count it.
``drop``
    Every websocket of the matching venue(s) is aborted without a close frame. With
    ``duration`` > 0, new websocket connections to that venue are refused
    (HTTP 503) for that many seconds, so clients go through their backoff.
``checksum``
    OKX and Bitget only: the next update of each matching book carries a wrong checksum
    (the book itself is fine); clients must notice, drop the book and resubscribe.
``stall``
    Nothing is sent on the matching venue's websockets (existing and new ones) for
    ``duration`` seconds (default 5). The exchange keeps running meanwhile: its book
    and REST snapshots move on, and the held messages are delivered in a burst when
    the stall ends to connections that are still open (like a congested link).
    Connections a client closes during the stall lose their backlog. At ``--speed
    max`` a long stall pauses playback once the send queues are full (back-pressure).
``stall_depth``
    Only the order-book stream of each matching book stops for ``duration`` seconds
    (default 5) while its trades, bookTicker and every other stream go on and the
    connection stays open: a frozen depth stream. The exchange book keeps moving (REST
    snapshots are current); the withheld book messages are dropped, so when the stream
    resumes clients see a gap in the update-id chain. Snapshots sent for a new
    subscription (Bybit, OKX) still go out.

``--fault`` grammar (seconds are replay time since playback start)::

    KIND@SECONDS[,every=S][,duration=S][,symbol=SYM][,venue=VENUE]

e.g. ``gap@30``, ``drop@60,every=120,duration=3``, ``stall@10,duration=8,venue=binance_usdm``,
``malformed@5,symbol=BTCUSDT``. ``symbol`` limits gap / out_of_order / malformed / stall_depth
to one symbol; ``venue`` (``binance_spot``, ``binance_usdm``, ``bybit_spot``, ``bybit_linear``,
``okx_spot``, ``okx_swap``, ``okx_futures``, ``bitget_spot``, ``bitget_usdtm``) limits any
fault to one venue. OKX and Bitget serve all their instrument types on one path: a ``drop`` /
``stall`` for such a venue hits every connection subscribed to any instrument of that venue.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, cast

from bot.errors import InputError

FaultKind = Literal["gap", "drop", "stall", "malformed", "out_of_order", "checksum", "stall_depth"]
FAULT_KINDS: tuple[str, ...] = (
    "gap",
    "drop",
    "stall",
    "malformed",
    "out_of_order",
    "checksum",
    "stall_depth",
)
VENUES = (
    "binance_spot",
    "binance_usdm",
    "bybit_spot",
    "bybit_linear",
    "okx_spot",
    "okx_swap",
    "okx_futures",
    "bitget_spot",
    "bitget_usdtm",
)
DEFAULT_STALL_S = 5.0

GRAMMAR = "KIND@SECONDS[,every=S][,duration=S][,symbol=SYM][,venue=VENUE]"


@dataclass(frozen=True, slots=True)
class Fault:
    """One fault to apply now."""

    kind: FaultKind
    venue: str | None = None
    symbol: str | None = None
    duration_s: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; expected one of {', '.join(FAULT_KINDS)}")
        if self.venue is not None and self.venue not in VENUES:
            raise ValueError(f"unknown venue {self.venue!r}; expected one of {', '.join(VENUES)}")
        if self.duration_s < 0:
            raise ValueError("duration must be >= 0")

    @property
    def effective_duration_s(self) -> float:
        if self.kind in ("stall", "stall_depth") and self.duration_s == 0:
            return DEFAULT_STALL_S
        return self.duration_s

    def matches(self, venue: str, symbol: str | None = None) -> bool:
        if self.venue is not None and venue != self.venue:
            return False
        return not (symbol is not None and self.symbol is not None and symbol != self.symbol)

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "venue": self.venue,
            "symbol": self.symbol,
            "duration_s": self.effective_duration_s,
        }

    @classmethod
    def from_dict(cls, data: object) -> Fault:
        """From the JSON body of ``POST /_emulator/fault``; ValueError on bad input."""
        if not isinstance(data, dict):
            raise ValueError('expected a JSON object like {"kind": "gap"}')
        unknown = set(data) - {"kind", "venue", "symbol", "duration", "duration_s"}
        if unknown:
            raise ValueError(f"unknown field(s): {', '.join(sorted(unknown))}")
        kind = data.get("kind")
        if not isinstance(kind, str):
            raise ValueError("'kind' is required: one of " + ", ".join(FAULT_KINDS))
        duration = data.get("duration_s", data.get("duration", 0.0))
        if isinstance(duration, bool) or not isinstance(duration, int | float):
            raise ValueError("'duration' must be a number of seconds")
        venue = data.get("venue")
        symbol = data.get("symbol")
        if venue is not None and not isinstance(venue, str):
            raise ValueError("'venue' must be a string")
        if symbol is not None and not isinstance(symbol, str):
            raise ValueError("'symbol' must be a string")
        return cls(
            kind=cast(FaultKind, kind),
            venue=venue,
            symbol=symbol.upper() if symbol else None,
            duration_s=float(duration),
        )


@dataclass(frozen=True, slots=True)
class ScheduledFault:
    """A fault due at ``at_s`` seconds of replay time, repeated every ``every_s``."""

    fault: Fault
    at_s: float
    every_s: float | None = None
    spec: str = ""


def parse_fault_spec(spec: str) -> ScheduledFault:
    """Parse one ``--fault`` value; :class:`InputError` naming the spec on bad input."""

    def bad(problem: str) -> InputError:
        return InputError(f"--fault {spec!r}: {problem} (expected {GRAMMAR})")

    head, *options = spec.strip().split(",")
    kind, at, seconds = head.partition("@")
    kind = kind.strip().lower().replace("-", "_")
    if not at:
        raise bad("missing '@SECONDS'")
    if kind not in FAULT_KINDS:
        raise bad(f"unknown fault kind {kind!r}; kinds: {', '.join(FAULT_KINDS)}")
    at_s = _seconds(seconds, "SECONDS", bad)
    values: dict[str, str] = {}
    for option in options:
        key, eq, value = option.partition("=")
        key = key.strip().lower()
        if not eq or not key or not value.strip():
            raise bad(f"option {option!r} is not KEY=VALUE")
        if key not in ("every", "duration", "symbol", "venue"):
            raise bad(f"unknown option {key!r}; options: every, duration, symbol, venue")
        if key in values:
            raise bad(f"option {key!r} given twice")
        values[key] = value.strip()
    every = _seconds(values["every"], "every", bad) if "every" in values else None
    if every is not None and every <= 0:
        raise bad("every must be > 0")
    duration = _seconds(values["duration"], "duration", bad) if "duration" in values else 0.0
    venue = values.get("venue")
    if venue is not None and venue not in VENUES:
        raise bad(f"unknown venue {venue!r}; venues: {', '.join(VENUES)}")
    symbol = values.get("symbol")
    if symbol is not None and not symbol.replace("-", "").isalnum():
        raise bad(f"bad symbol {symbol!r}")
    fault = Fault(
        kind=cast(FaultKind, kind),
        venue=venue,
        symbol=symbol.upper() if symbol else None,
        duration_s=duration,
    )
    return ScheduledFault(fault=fault, at_s=at_s, every_s=every, spec=spec)


def _seconds(text: str, name: str, bad: Any) -> float:
    try:
        value = float(text)
    except ValueError:
        raise bad(f"{name} must be a number of seconds, got {text!r}") from None
    if value < 0 or value != value or value in (float("inf"),):
        raise bad(f"{name} must be a finite number >= 0, got {text!r}")
    return value
