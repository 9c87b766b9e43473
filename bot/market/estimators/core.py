"""Estimators: incremental market statistics of one instrument, O(1) per event.

Fed by the engine with every book update and public trade of one instrument, in
event time (``ts_ns`` comes from the events; irregular spacing is handled exactly,
not assumed away). State is a fixed set of floats, so memory does not grow with the
number of events, and there is no per-event allocation beyond Python's float boxes.

What is estimated (units in :mod:`bot.market.estimators.state`):

- mid and micro-price from the book top;
- realized volatility per horizon ``tau``: with mid increments ``dx_i`` over gaps
  ``dt_i``, ``sigma^2 = sum w_i dx_i^2 / sum w_i dt_i``, ``w_i = exp(-(t - t_i) / tau)``.
  Each ``dx_i^2`` has expectation ``sigma^2 dt_i`` for a Brownian mid, so the ratio is
  unbiased for any sampling pattern. Increments are taken at most every
  ``vol_sample_interval_s`` (to stay clear of bid-ask bounce);
- trend per horizon: ``z = sum w_i dx_i / (sigma * sqrt(sum w_i^2 dt_i))`` -- the EWMA
  drift divided by its own standard error, ~N(0, 1) without drift and about
  ``mu * sqrt(2 tau) / sigma`` with a drift ``mu`` ticks/s;
- traded volume rate (all, buy-aggressor, sell-aggressor), EWMA in lots/s;
- displayed depth within +/- ``depth_band`` of mid per side (kept incrementally from
  the levels each diff touches, :mod:`bot.market.estimators.depth`) and its ratio to a
  time-weighted EWMA baseline of itself (the baseline integrates the depth path, so a
  collapse shows as a ratio well below 1 at once);
- order-arrival intensity ``A, k`` (:mod:`bot.market.estimators.intensity`);
- the moving-average band: mean of the 1-second mids over ``ma_window_s`` and their
  standard deviation around it (:mod:`bot.market.estimators.maband`).

Liquidation prints (``Trade.liquidation``) are counted and otherwise ignored: they
stay out of fair value, volatility, volume and intensity.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Final, cast

from bot.core.events import BookDelta, BookSnapshot, Event, Level, MarketEvent, Timer, Trade
from bot.market.book import OrderBook
from bot.market.estimators.depth import DepthTracker
from bot.market.estimators.intensity import IntensityEstimator
from bot.market.estimators.maband import MovingAverageBand
from bot.market.estimators.params import EstimatorParams
from bot.market.estimators.state import MarketState

# Final aliases (C statics in the compiled build) for the per-event type checks: an exact type
# test instead of isinstance, which goes through the struct metaclass's instance check
_TIMER: Final = Timer
_TRADE: Final = Trade
_DELTA: Final = BookDelta
_SNAPSHOT: Final = BookSnapshot

_NS = 1e-9


class Estimators:
    """All estimators of one instrument; read them through :meth:`snapshot`."""

    __slots__ = (
        "_buy_acc",
        "_depth",
        "_depth_ask",
        "_depth_base_ask",
        "_depth_base_bid",
        "_depth_bid",
        "_depth_ts",
        "_drift_acc",
        "_horizons",
        "_intensity",
        "_inv_taus",
        "_maband",
        "_n_horizons",
        "_sample_interval_ns",
        "_sample_mid",
        "_sample_ts",
        "_sell_acc",
        "_sq_acc",
        "_time_acc",
        "_vol_cache",
        "_volume_start_ns",
        "_volume_ts",
        "_w2_acc",
        "_warm_time",
        "ask",
        "ask_size",
        "bid",
        "bid_size",
        "book_ok",
        "depth_baseline_s",
        "instrument",
        "liquidations",
        "micro",
        "mid",
        "params",
        "trades",
        "ts_ns",
        "vol_version",
        "volume_window_s",
    )

    def __init__(self, instrument: str = "", params: EstimatorParams | None = None) -> None:
        params = params or EstimatorParams()
        self.params = params
        self.instrument = instrument
        horizons = tuple(float(h) for h in params.vol_horizons_s)
        self._horizons = horizons
        self._n_horizons = len(horizons)
        self._inv_taus = [1.0 / h for h in horizons]
        self._warm_time = [h * params.vol_warmup_fraction for h in horizons]
        self._sq_acc = [0.0] * len(horizons)  # sum w dx^2
        self._time_acc = [0.0] * len(horizons)  # sum w dt
        self._drift_acc = [0.0] * len(horizons)  # sum w dx
        self._w2_acc = [0.0] * len(horizons)  # sum w^2 dt
        self._vol_cache: tuple[tuple[float, ...], tuple[bool, ...], tuple[float, ...]] | None = None
        self.vol_version = 0
        """Incremented with every new volatility increment (the estimates may have changed):
        cheap change detection for callers that decide only on change."""
        self._sample_interval_ns = int(params.vol_sample_interval_s * 1e9)
        self._sample_ts = -1
        self._sample_mid = math.nan
        self.ts_ns = 0
        self.book_ok = False
        self.bid = self.ask = self.bid_size = self.ask_size = 0
        self.mid = math.nan
        self.micro = math.nan
        # volume
        self.volume_window_s = params.volume_window_s
        self._buy_acc = 0.0
        self._sell_acc = 0.0
        self._volume_ts = -1
        self._volume_start_ns = -1
        # depth
        self.depth_baseline_s = params.depth_baseline_s
        self._depth = DepthTracker(params.depth_band, params.depth_recenter)
        self._depth_ts = -1
        self._depth_bid = 0
        self._depth_ask = 0
        self._depth_base_bid = math.nan
        self._depth_base_ask = math.nan
        # intensity
        self._intensity = IntensityEstimator(
            window_s=params.intensity_window_s,
            bin_ticks=params.intensity_bin_ticks,
            bins=params.intensity_bins,
            min_count=params.intensity_min_count,
            min_points=params.intensity_min_points,
            refit_interval_s=params.intensity_refit_interval_s,
        )
        self._maband = MovingAverageBand(params.ma_window_s, params.ma_sample_s)
        self.trades = 0
        self.liquidations = 0

    # ---- feeding ----------------------------------------------------------------------

    def on_event(self, event: Event, book: OrderBook) -> None:
        """Engine handler: book updates and trades of this instrument (others ignored).

        Event time is ``local_ts`` (the engine's clock). ``TopOfBook`` is ignored: the
        estimators read the synchronised book, which the engine has already updated.
        """
        kind = type(event)
        if kind is _TIMER:
            if event.local_ts > self.ts_ns:
                self.ts_ns = event.local_ts
            return
        market = cast(MarketEvent, event)
        if self.instrument and market.instrument != self.instrument:
            return
        if kind is _TRADE:
            trade = cast(Trade, event)
            self.on_trade(trade, trade.local_ts)
        elif kind is _DELTA:
            delta = cast(BookDelta, event)
            self.on_book(book, delta.local_ts, delta.bids, delta.asks)
        elif kind is _SNAPSHOT:
            self._depth.invalidate()
            self.on_book(book, market.local_ts)

    def on_book(
        self,
        book: OrderBook,
        ts_ns: int,
        changed_bids: Iterable[Level] | None = None,
        changed_asks: Iterable[Level] | None = None,
    ) -> None:
        """The book changed at ``ts_ns``: update top, volatility, trend and depth.

        ``changed_bids``/``changed_asks`` are the levels the update named (a diff's
        lists) so depth is updated incrementally; without them depth is recounted.
        """
        if ts_ns > self.ts_ns:
            self.ts_ns = ts_ns
        bid = book.best_bid
        ask = book.best_ask
        if not book.valid or bid is None or ask is None or bid >= ask:
            self.book_ok = False
            self._depth.invalidate()
            return
        self.book_ok = True
        bid_size = book.best_bid_size
        ask_size = book.best_ask_size
        self.bid = bid
        self.ask = ask
        self.bid_size = bid_size
        self.ask_size = ask_size
        mid = (bid + ask) * 0.5
        self.mid = mid
        self._maband.on_mid(mid, ts_ns)
        total = bid_size + ask_size
        self.micro = (bid * ask_size + ask * bid_size) / total if total else mid
        # -- volatility and trend
        last_ts = self._sample_ts
        if last_ts < 0:
            self._sample_ts = ts_ns
            self._sample_mid = mid
        elif ts_ns - last_ts >= self._sample_interval_ns and ts_ns > last_ts:
            self._add_increment(mid - self._sample_mid, (ts_ns - last_ts) * _NS)
            self._sample_ts = ts_ns
            self._sample_mid = mid
        # -- depth
        depth = self._depth
        if changed_bids is None or changed_asks is None or depth.needs_rebuild(mid):
            depth.rebuild(book, mid)
        else:
            depth.touch(book, changed_bids, changed_asks)
        self._update_depth_baseline(depth.bid_total, depth.ask_total, ts_ns)

    def _add_increment(self, dx: float, dt: float) -> None:
        sq = dx * dx
        inv_taus = self._inv_taus
        sq_acc = self._sq_acc
        time_acc = self._time_acc
        drift_acc = self._drift_acc
        w2_acc = self._w2_acc
        for i in range(self._n_horizons):
            decay = math.exp(-dt * inv_taus[i])
            sq_acc[i] = sq_acc[i] * decay + sq
            time_acc[i] = time_acc[i] * decay + dt
            drift_acc[i] = drift_acc[i] * decay + dx
            w2_acc[i] = w2_acc[i] * decay * decay + dt
        self._vol_cache = None
        self.vol_version += 1

    def _update_depth_baseline(self, bid_depth: int, ask_depth: int, ts_ns: int) -> None:
        last_ts = self._depth_ts
        if last_ts < 0 or self._depth_base_bid != self._depth_base_bid:  # first sample (nan check)
            self._depth_base_bid = float(bid_depth)
            self._depth_base_ask = float(ask_depth)
        elif ts_ns > last_ts:
            # The previous depth held for the whole gap: time-weighted EWMA of the path.
            weight = -math.expm1(-(ts_ns - last_ts) * _NS / self.depth_baseline_s)
            self._depth_base_bid += (self._depth_bid - self._depth_base_bid) * weight
            self._depth_base_ask += (self._depth_ask - self._depth_base_ask) * weight
        self._depth_bid = bid_depth
        self._depth_ask = ask_depth
        self._depth_ts = ts_ns

    def on_trade(self, trade: Trade, ts_ns: int | None = None) -> None:
        """A public trade (``ts_ns`` defaults to ``trade.local_ts``)."""
        if ts_ns is None:
            ts_ns = trade.local_ts
        if ts_ns > self.ts_ns:
            self.ts_ns = ts_ns
        if trade.liquidation:
            self.liquidations += 1
            return
        self.trades += 1
        # -- volume
        last_ts = self._volume_ts
        if last_ts < 0:
            self._volume_start_ns = ts_ns
        elif ts_ns > last_ts:
            decay = math.exp(-(ts_ns - last_ts) * _NS / self.volume_window_s)
            self._buy_acc *= decay
            self._sell_acc *= decay
        if ts_ns > last_ts:
            self._volume_ts = ts_ns
        if trade.side > 0:
            self._buy_acc += trade.size
        else:
            self._sell_acc += trade.size
        # -- intensity: depth of the print from the last good mid
        if self.book_ok:
            mid = self.mid
            depth = trade.price - mid if trade.side > 0 else mid - trade.price
            self._intensity.add(ts_ns, depth, int(trade.side), trade.exch_ts)

    # ---- reading ----------------------------------------------------------------------

    def sigma(self, index: int) -> float:
        """Current sigma (ticks/sqrt(s)) of horizon ``index``; nan before any increment."""
        time = self._time_acc[index]
        return math.sqrt(self._sq_acc[index] / time) if time > 0.0 else math.nan

    def warmup_left_s(self, horizon_s: float) -> float:
        """Seconds of (continuous) market data until sigma at ``horizon_s`` is usable; 0 once
        it is, nan for a horizon that is not configured.

        The weighted observation time grows as ``acc' = 1 - acc / tau`` per second of data,
        so reaching the warm-up time ``w`` from ``acc`` takes ``tau * ln((tau - acc) / (tau - w))``.
        """
        try:
            index = self._horizons.index(float(horizon_s))
        except ValueError:
            return math.nan
        acc, warm = self._time_acc[index], self._warm_time[index]
        if acc >= warm:
            return 0.0
        tau = self._horizons[index]
        return tau * math.log((tau - acc) / (tau - warm)) if warm < tau else warm - acc

    def _volume_rates(self, ts_ns: int) -> tuple[float, float]:
        if self._volume_ts < 0:
            return 0.0, 0.0
        tau = self.volume_window_s
        elapsed = max(0.0, (ts_ns - self._volume_start_ns) * _NS)
        # Normalise by the part of the window observed so far (no warm-up underestimate);
        # the first trade alone says nothing about a rate.
        window = tau * -math.expm1(-elapsed / tau)
        if window <= 0.0:
            return 0.0, 0.0
        decay = math.exp(-max(0, ts_ns - self._volume_ts) * _NS / tau)
        return self._buy_acc * decay / window, self._sell_acc * decay / window

    def _vol_state(self) -> tuple[tuple[float, ...], tuple[bool, ...], tuple[float, ...]]:
        """(sigmas, warm flags, trends): they change only with a new volatility increment."""
        cached = self._vol_cache
        if cached is not None:
            return cached
        n = self._n_horizons
        sigmas = tuple(self.sigma(i) for i in range(n))
        warm = tuple(self._time_acc[i] >= self._warm_time[i] for i in range(n))
        trends = []
        for i in range(n):
            sigma = sigmas[i]
            w2 = self._w2_acc[i]
            trends.append(
                self._drift_acc[i] / (sigma * math.sqrt(w2)) if sigma > 0.0 and w2 > 0.0 else math.nan
            )
        cached = self._vol_cache = (sigmas, warm, tuple(trends))
        return cached

    def snapshot(self) -> MarketState:
        """A frozen :class:`MarketState` as of the latest event."""
        ts_ns = self.ts_ns
        sigmas, warm, trends = self._vol_state()
        buy_rate, sell_rate = self._volume_rates(ts_ns)
        base_bid, base_ask = self._depth_base_bid, self._depth_base_ask
        a, k, ready = self._intensity.estimate(ts_ns)
        return MarketState(
            instrument=self.instrument,
            ts_ns=ts_ns,
            book_ok=self.book_ok,
            best_bid=self.bid,
            best_ask=self.ask,
            bid_size=self.bid_size,
            ask_size=self.ask_size,
            mid=self.mid,
            micro=self.micro,
            horizons_s=self._horizons,
            sigma=sigmas,
            sigma_warm=warm,
            trend=trends,
            volume_rate=buy_rate + sell_rate,
            buy_rate=buy_rate,
            sell_rate=sell_rate,
            depth_bid=self._depth_bid,
            depth_ask=self._depth_ask,
            depth_ratio_bid=self._depth_bid / base_bid if base_bid > 0.0 else math.nan,
            depth_ratio_ask=self._depth_ask / base_ask if base_ask > 0.0 else math.nan,
            intensity_a=a,
            intensity_k=k,
            intensity_ready=ready,
            intensity_arrivals=self._intensity.arrivals(ts_ns),
            trades=self.trades,
            liquidations=self.liquidations,
            ma=self._maband.ma,
            ma_std=self._maband.std,
        )
