"""``synthetic:<scenario>[?seed=N&duration=S&instrument=KEY&start=T]``: a generated market as replay input.

The stream is :func:`bot.emulator.synthetic.synthetic_events` (snapshot, then trades,
diffs and marks per 100 ms step, deterministic for a seed). ``duration`` (simulated
seconds) cuts the stream when the exchange time passes ``start + S``; a duration longer
than the scenario repeats its phases. Default seed 42, default duration: one pass of
the scenario. The instrument is the explicit spec given to :func:`open_replay` (when
exactly one), the spec of ``instrument=KEY``, or Binance spot BTCUSDT. ``start`` is the exchange
time of the first event in Unix seconds (default 1,700,000,000 = 2023-11-14 22:13:20 UTC): the
perps' funding falls on the 8-hour boundaries, so ``start`` chooses whether a short replay
crosses one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import parse_qs

from bot.core.events import NS_PER_S, MarketEvent
from bot.core.instrument import InstrumentSpec
from bot.emulator.synthetic import SyntheticMarket, scenario_names, synthetic_events
from bot.emulator.synthetic_source import FALLBACK_SPECS
from bot.emulator.token_markets import market_options
from bot.errors import InputError

PREFIX = "synthetic:"
DEFAULT_SEED = 42
DEFAULT_INSTRUMENT = "binance_spot:BTCUSDT"


@dataclass(frozen=True)
class SyntheticRequest:
    scenario: str
    seed: int
    duration_s: float | None
    instrument: str | None
    start_ns: int | None = None

    @property
    def text(self) -> str:
        query = [f"seed={self.seed}"]
        if self.duration_s is not None:
            query.append(f"duration={self.duration_s:g}")
        if self.instrument is not None:
            query.append(f"instrument={self.instrument}")
        if self.start_ns is not None:
            query.append(f"start={self.start_ns // NS_PER_S}")
        return f"{PREFIX}{self.scenario}?{'&'.join(query)}"


def is_synthetic(source: object) -> bool:
    return isinstance(source, str) and source.startswith(PREFIX)


def parse_request(text: str) -> SyntheticRequest:
    body = text[len(PREFIX) :]
    scenario, _, query = body.partition("?")
    names = scenario_names()
    if scenario not in names:
        raise InputError(f"{text}: unknown synthetic scenario {scenario!r}; known: {', '.join(names)}")
    try:
        params = parse_qs(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError as exc:
        raise InputError(f"{text}: bad query string: {exc}") from None
    unknown = sorted(set(params) - {"seed", "duration", "instrument", "start"})
    if unknown:
        raise InputError(
            f"{text}: unknown parameter(s) {', '.join(unknown)}; expected seed, duration, instrument, start"
        )
    for name, values in params.items():
        if len(values) != 1:
            raise InputError(f"{text}: parameter {name} given {len(values)} times")
    seed = DEFAULT_SEED
    if "seed" in params:
        raw = params["seed"][0]
        if not raw.isdigit():
            raise InputError(f"{text}: seed must be a non-negative integer, got {raw!r}")
        seed = int(raw)
    duration: float | None = None
    if "duration" in params:
        raw = params["duration"][0]
        try:
            duration = float(raw)
        except ValueError:
            duration = math.nan
        if not (math.isfinite(duration) and duration > 0):
            raise InputError(f"{text}: duration must be a positive number of seconds, got {raw!r}")
    instrument = params["instrument"][0] if "instrument" in params else None
    start_ns: int | None = None
    if "start" in params:
        raw = params["start"][0]
        if not raw.isdigit():
            raise InputError(f"{text}: start must be a Unix time in whole seconds, got {raw!r}")
        start_ns = int(raw) * NS_PER_S
    return SyntheticRequest(scenario, seed, duration, instrument, start_ns)


def synthetic_spec(
    request: SyntheticRequest, explicit: list[InstrumentSpec], lookup: Callable[[str], InstrumentSpec]
) -> InstrumentSpec:
    if request.instrument is not None:
        for spec in explicit:
            if spec.key == request.instrument:
                return spec
        return lookup(request.instrument)
    if len(explicit) == 1:
        return explicit[0]
    if len(explicit) > 1:
        raise InputError(
            f"{request.text}: several instrument specs given ({', '.join(s.key for s in explicit)}); "
            "choose one with instrument=KEY"
        )
    return FALLBACK_SPECS[("binance_spot", "BTCUSDT")]


class SyntheticReader:
    """Events of one synthetic request; ``line`` counts events generated."""

    def __init__(self, request: SyntheticRequest, spec: InstrumentSpec) -> None:
        self.request = request
        self.spec = spec
        self.options = market_options(spec, request.seed)  # a token market: its price and books
        self.seed = self.options.pop("seed", request.seed)
        if request.start_ns is not None:
            self.options["start_ts_ns"] = request.start_ns
        try:
            market = SyntheticMarket(request.scenario, seed=self.seed, spec=spec, **self.options)
        except ValueError as exc:
            raise InputError(f"{request.text}: {exc}") from None
        self.pass_s = market.duration_s
        self.duration_s = request.duration_s if request.duration_s is not None else self.pass_s
        self.line = 0
        self._done_s = 0.0

    def location(self) -> str:
        return f"{self.request.text} event {self.line}"

    def fraction_done(self) -> float:
        return min(1.0, self._done_s / self.duration_s) if self.duration_s else 1.0

    def __iter__(self) -> Iterator[MarketEvent]:
        return self._events()

    def _events(self) -> Iterator[MarketEvent]:
        repeat = self.duration_s > self.pass_s
        try:
            stream = synthetic_events(
                self.request.scenario, seed=self.seed, spec=self.spec, repeat=repeat, **self.options
            )
            first = next(stream)
        except ValueError as exc:
            raise InputError(f"{self.request.text}: {exc}") from None
        start = first.exch_ts  # type: ignore[union-attr]
        end = start + round(self.duration_s * NS_PER_S)
        self.line = 1
        yield first
        for event in stream:
            exch_ts: int = event.exch_ts  # type: ignore[union-attr]
            if exch_ts > end:
                break
            self.line += 1
            self._done_s = (exch_ts - start) / NS_PER_S
            yield event
        self._done_s = self.duration_s
