"""Glue from the synthetic market generator to the emulator's Binance timeline.

:class:`SyntheticSource` drives one ``SyntheticMarket`` per instrument (interface of
:mod:`bot.emulator.synthetic`: ``SyntheticMarket(scenario, *, seed, spec,
start_price, start_ts_ns)``, ``initial_book() -> (bids, asks)`` in (ticks, lots), and
iteration over steps with ``ts_ns``, ``bids``/``asks`` (absolute sizes, 0 deletes),
``trades`` ``[(price_ticks, lots, side)]`` (+1 = buy aggressor), ``mark`` (mark
ticks, funding rate, next funding ts ns) or None, and ``phase``) and renders every
step as the messages Binance would send:

- a ``depthUpdate`` (only when levels changed) with update ids assigned here: spot
  ids are contiguous (``U = previous u + 1``); USD-M ids skip a random amount
  between diffs and chain by ``pu`` (as on the real venue);
- a ``trade`` per fill (``m`` = the buyer was the maker, i.e. a sell aggressor);
- a ``bookTicker`` whenever the top of book changed, carrying the diff's ``u``;
- on USD-M, a ``markPriceUpdate`` when the step has a mark.

Prices and sizes are formatted exactly from the instrument's tick and lot.
"""

from __future__ import annotations

import heapq
import importlib
import random
import time
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal
from typing import Any

import msgspec

from bot.core.instrument import InstrumentSpec
from bot.emulator.bitget_source import BitgetRenderer
from bot.emulator.book import ExchangeBook, RawLevel
from bot.emulator.source import Item, SourcePass
from bot.emulator.token_markets import market_options
from bot.emulator.venue_synthetic import StreamRenderer
from bot.errors import InputError

MarketFactory = Callable[..., Any]

SYNTHETIC_MARKETS = (
    ("binance_spot", "BTCUSDT"),
    ("binance_usdm", "BTCUSDT"),
    ("bybit_spot", "BTCUSDT"),
    ("bybit_linear", "BTCUSDT"),
    ("okx_spot", "BTC-USDT"),
    ("okx_swap", "BTC-USDT-SWAP"),
    ("bitget_spot", "BTCUSDT"),
    ("bitget_usdtm", "BTCUSDT"),
    ("binance_spot", "ABCUSDT"),
    ("bybit_spot", "ABCUSDT"),
    ("binance_usdm", "ABCUSDT"),
    ("bitget_spot", "ABCUSDT"),
)
DEFAULT_START_PRICE = Decimal("60000")


def _shipped_specs() -> dict[tuple[str, str], InstrumentSpec]:
    from bot.venues.metadata_cache import SHIPPED_CACHE, CacheFile

    cache = CacheFile.read(SHIPPED_CACHE)
    specs = {}
    for venue, symbol in SYNTHETIC_MARKETS:
        entry = cache.get(f"{venue}:{symbol}") if cache is not None else None
        if entry is None:  # a packaging bug: the shipped cache must hold every synthetic market
            raise RuntimeError(f"{SHIPPED_CACHE} lacks {venue}:{symbol}")
        specs[(venue, symbol)] = entry.spec
    return specs


FALLBACK_SPECS: dict[tuple[str, str], InstrumentSpec] = _shipped_specs()
"""Specs of the synthetic markets, from the market cache shipped with mmbot (its provenance
says where each value comes from)."""

_INITIAL_ID = {"binance_spot": 1_000_000, "binance_usdm": 1_000_000_000}


def _default_factory() -> MarketFactory:
    try:
        module = importlib.import_module("bot.emulator.synthetic")
    except ImportError as exc:  # the generator lives in its own module
        raise InputError(f"synthetic markets are not available: {exc}") from None
    factory: MarketFactory = module.SyntheticMarket
    return factory


def scenario_names() -> list[str]:
    """Names accepted by ``--scenario`` (empty if the generator is missing)."""
    try:
        module = importlib.import_module("bot.emulator.synthetic")
    except ImportError:
        return []
    return sorted(module.SCENARIOS)


class SyntheticSource:
    """Synthetic markets for a set of instruments, as an emulator source."""

    def __init__(
        self,
        scenario: str,
        *,
        seed: int,
        specs: Sequence[InstrumentSpec],
        start_price: Decimal | None = None,
        start_ts_ns: int | None = None,
        market_factory: MarketFactory | None = None,
    ) -> None:
        if not specs:
            raise InputError("synthetic source needs at least one instrument")
        self.scenario = scenario
        self.seed = seed
        self.specs = list(specs)
        self.start_price = None if start_price is None else Decimal(start_price)
        self.start_ts_ns = time.time_ns() if start_ts_ns is None else start_ts_ns
        self._factory = market_factory or _default_factory()

    @property
    def description(self) -> str:
        return f"synthetic {self.scenario} (seed {self.seed})"

    def markets(self) -> list[tuple[str, str]]:
        return [(spec.venue, spec.symbol) for spec in self.specs]

    def open_pass(self) -> SourcePass:
        books: dict[tuple[str, str], Any] = {}
        streams: list[Iterator[Item]] = []
        for index, spec in enumerate(self.specs):
            options: dict[str, Any] = {"seed": self.seed, "start_price": DEFAULT_START_PRICE}
            options.update(market_options(spec, self.seed))  # a token's markets share its price path
            if self.start_price is not None:
                options["start_price"] = self.start_price
            try:
                market = self._factory(self.scenario, spec=spec, start_ts_ns=self.start_ts_ns, **options)
            except (KeyError, ValueError) as exc:
                raise InputError(f"synthetic market {spec.key}: {exc}") from None
            renderer: _Renderer | StreamRenderer
            if spec.venue.startswith("bitget_"):
                renderer = BitgetRenderer(spec)
            elif spec.venue.startswith(("bybit_", "okx_")):
                renderer = StreamRenderer(spec)
            else:
                renderer = _Renderer(spec, random.Random(self.seed * 7919 + index))
            books[(spec.venue, spec.symbol)] = renderer.initial_book(market.initial_book())
            streams.append(renderer.items(iter(market)))
        return SourcePass(books, heapq.merge(*streams, key=lambda item: item.ts_ns))


class _Renderer:
    """Binance JSON for one synthetic market, with update ids and top-of-book tracking."""

    def __init__(self, spec: InstrumentSpec, rng: random.Random) -> None:
        self.spec = spec
        self.venue = spec.venue
        self.usdm = spec.venue == "binance_usdm"
        self.symbol = spec.symbol
        self.rng = rng
        self.price = spec.prices.to_str
        self.size = spec.sizes.to_str
        self.bids: dict[int, int] = {}
        self.asks: dict[int, int] = {}
        self.last_id = _INITIAL_ID.get(spec.venue, 1_000_000)
        self.next_first = self._following(self.last_id)
        self.trade_id = 1
        self.top: tuple[int, int, int, int] | None = None

    def _following(self, last_id: int) -> int:
        return last_id + 1 + (self.rng.randint(1, 40) if self.usdm else 0)

    def _levels(self, levels: Sequence[tuple[int, int]]) -> list[RawLevel]:
        price, size = self.price, self.size
        return [(price(p), size(q)) for p, q in levels]

    def initial_book(self, book: tuple[Sequence[tuple[int, int]], Sequence[tuple[int, int]]]) -> ExchangeBook:
        bids, asks = book
        self.bids = {p: q for p, q in bids if q}
        self.asks = {p: q for p, q in asks if q}
        self.top = self._top()
        return ExchangeBook(
            self.venue,
            self.symbol,
            self._levels(bids),
            self._levels(asks),
            self.last_id,
            next_first_id=self.next_first,
        )

    def _top(self) -> tuple[int, int, int, int] | None:
        if not self.bids or not self.asks:
            return None
        bid = max(self.bids)
        ask = min(self.asks)
        return bid, self.bids[bid], ask, self.asks[ask]

    def items(self, steps: Iterator[Any]) -> Iterator[Item]:
        encode = msgspec.json.encode
        venue, symbol = self.venue, self.symbol
        for step in steps:
            ts = int(step.ts_ns)
            ms = ts // 1_000_000
            for price, lots, side in step.trades:
                trade: dict[str, Any] = {"e": "trade", "E": ms, "T": ms, "s": symbol, "t": self.trade_id}
                trade["p"] = self.price(price)
                trade["q"] = self.size(lots)
                trade["m"] = side < 0
                if self.usdm:
                    trade["X"] = "MARKET"
                else:
                    trade["M"] = True
                self.trade_id += 1
                yield Item(ts, venue, symbol, "trade", encode(trade).decode())
            changes = len(step.bids) + len(step.asks)
            if changes:
                first = self.next_first
                last = first + changes - 1 + (self.rng.randint(0, 5) if self.usdm else 0)
                previous, self.last_id = self.last_id, last
                self.next_first = self._following(last)
                bids, asks = self._levels(step.bids), self._levels(step.asks)
                depth: dict[str, Any] = {"e": "depthUpdate", "E": ms}
                if self.usdm:
                    depth["T"] = ms
                depth.update({"s": symbol, "U": first, "u": last})
                if self.usdm:
                    depth["pu"] = previous
                depth["b"] = bids
                depth["a"] = asks
                yield Item(
                    ts,
                    venue,
                    symbol,
                    "depth",
                    encode(depth).decode(),
                    exch_ms=ms,
                    first_id=first,
                    last_id=last,
                    prev_id=previous if self.usdm else -1,
                    bids=bids,
                    asks=asks,
                    next_first_id=self.next_first,
                )
                for side_levels, book in ((step.bids, self.bids), (step.asks, self.asks)):
                    for price, lots in side_levels:
                        if lots:
                            book[price] = lots
                        else:
                            book.pop(price, None)
                top = self._top()
                if top is not None and top != self.top:
                    ticker: dict[str, Any] = {"u": last, "s": symbol}
                    if self.usdm:
                        ticker = {"e": "bookTicker", "u": last, "s": symbol}
                    ticker.update(
                        b=self.price(top[0]), B=self.size(top[1]), a=self.price(top[2]), A=self.size(top[3])
                    )
                    if self.usdm:
                        ticker.update(T=ms, E=ms)
                    yield Item(ts, venue, symbol, "bookTicker", encode(ticker).decode())
                self.top = top
            if self.usdm and step.mark is not None:
                mark_ticks, rate, next_funding_ns = step.mark
                mark = self.price(mark_ticks)
                payload = {
                    "e": "markPriceUpdate",
                    "E": ms,
                    "s": symbol,
                    "p": mark,
                    "P": mark,
                    "i": mark,
                    "r": format(Decimal(rate), "f"),
                    "T": int(next_funding_ns) // 1_000_000,
                }
                yield Item(ts, venue, symbol, "markPrice", encode(payload).decode())
