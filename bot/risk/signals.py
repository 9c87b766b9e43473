"""The numbers the regime machine and the market triggers read, kept per event in O(1).

:class:`SignalTracker` turns each :class:`~bot.market.estimators.MarketState` snapshot
into scale-free signals (volatilities in bps of the price per sqrt(second)), and the
regime machine reads the volatilities **relative to the instrument's own baseline**:

- ``baseline``: the instrument's long-run 1-second volatility. Its variance is
  ``(w0 * prior^2 + sum_i d_i r_i^2) / (w0 + sum_i d_i dt_i)`` over the mid's 1-second
  log returns ``r_i`` (bps), with EWMA weights ``d_i`` of time constant
  ``baseline_window_s`` and a prior ``baseline_vol_bps`` (the instrument's typical
  volatility, e.g. from ``mmbot regimes calibrate``) worth ``w0 = baseline_prior_s``
  seconds of data: a new instrument starts at its prior and the baseline becomes its own
  history as data accumulates;
- ``short_ratio`` / ``medium_ratio`` / ``long_ratio``: short, medium and lagged-return
  ("long-horizon") volatility over the baseline -- the regime thresholds are these;

- ``sigma_short`` / ``sigma_medium`` / ``sigma_long_ref``: the estimators' realized vol
  at the configured horizons (EWMAs of 1 s mid increments over ~10 s, ~5 min, ~1 h);
- ``long_vol``: realized vol of *lagged* mid returns (default 30 s, sampled at every
  whole second of event time, overlapping, demeaned, EWMA over ``long_vol_window_s``). 1 s increments
  miss slow mean-reverting swings -- a ranging market is quiet second to second but
  moves a lot over minutes -- and the demeaning keeps a steady drift out (a trend is
  the trend rule's business, not "vol");
- ``trend_z``: the estimators' drift z-score at the medium horizon; ``flow``: traded
  flow imbalance ``(buy - sell) / (buy + sell)`` of the estimators' volume rates;
- ``depth_bid`` / ``depth_ask``: displayed depth within the estimators' band (per
  side), smoothed with a short EWMA (one thin update is not a collapse), over its own
  time-weighted baseline (``depth_baseline_s``, shorter than the estimators' so that
  after a lasting change the thinner book becomes the reference within minutes);
- price jumps: the mid move between consecutive snapshots (and against the mid
  sampled about a second earlier) compared with ``k * sigma * sqrt(dt)``, where sigma
  is the medium vol frozen from before the jump (the estimators absorb a jump into
  their sigma within a second; a contaminated reference would hide the next one).

No clock reads: time is the ``now`` the caller passes (event time, ns).
"""

from __future__ import annotations

import math

from bot.market.estimators.state import MarketState
from bot.risk.settings import RegimeSettings, TriggerSettings

NAN = math.nan
_NS = 1e-9
_BPS = 1e4
_SECOND = 1_000_000_000


class Jump:
    """A detected price jump and the numbers behind it."""

    __slots__ = ("dt_s", "move_bps", "sigma_bps", "threshold_bps", "versus")

    def __init__(self, move_bps: float, threshold_bps: float, sigma_bps: float, dt_s: float, versus: str):
        self.move_bps = move_bps
        self.threshold_bps = threshold_bps
        self.sigma_bps = sigma_bps
        self.dt_s = dt_s
        self.versus = versus


class SignalTracker:
    """Per-instrument signal state; feed :meth:`update` every event."""

    __slots__ = (
        "_b_m2",
        "_b_prior2",
        "_b_tau",
        "_b_w",
        "_b_w0",
        "_base_ask",
        "_base_bid",
        "_depth_base_ns",
        "_depth_tau_ns",
        "_fast_ask",
        "_fast_bid",
        "_horizons",
        "_i_long",
        "_i_medium",
        "_i_short",
        "_jump_clear_ns",
        "_jump_k",
        "_jump_min_dt",
        "_lag_ns",
        "_last_ask",
        "_last_bid",
        "_lv_m1",
        "_lv_m2",
        "_lv_n",
        "_lv_tau",
        "_lv_w",
        "_min_samples",
        "_next_sample_ts",
        "_prev_mid",
        "_prev_ts",
        "_ring_mid",
        "_ring_ts",
        "_sample_mid",
        "_sample_ts",
        "_settings",
        "_sigma_seen",
        "_trend_seen",
        "baseline",
        "depth_ask",
        "depth_bid",
        "flow",
        "jump",
        "jump_sigma",
        "known",
        "last_jump_ts",
        "long_ratio",
        "long_vol",
        "medium_ratio",
        "mid",
        "short_ratio",
        "sigma_long_ref",
        "sigma_medium",
        "sigma_short",
        "trend_z",
        "ts",
        "volume_rate",
    )

    def __init__(self, regimes: RegimeSettings, triggers: TriggerSettings, instrument: str = "") -> None:
        self._settings = regimes
        prior = regimes.baseline_for(instrument)
        self._b_prior2 = prior * prior
        self._b_w0 = regimes.baseline_prior_s
        self._b_tau = regimes.baseline_window_s
        self._b_m2 = self._b_w = 0.0
        self.baseline = prior
        self.short_ratio = self.medium_ratio = self.long_ratio = NAN
        self._horizons: tuple[float, ...] | None = None
        self._sigma_seen: tuple[float, ...] = ()
        self._trend_seen: tuple[float, ...] = ()
        self._i_short = self._i_medium = 0
        self._i_long = -1
        self._jump_k = triggers.jump_k
        self._jump_min_dt = triggers.jump_min_dt_s
        self._jump_clear_ns = int(triggers.jump_clear_s * 1e9)
        self._depth_tau_ns = max(triggers.depth_smoothing_s * 1e9, 1e-9)
        self._depth_base_ns = triggers.depth_baseline_s * 1e9
        self._fast_bid = self._fast_ask = self._base_bid = self._base_ask = NAN
        self._last_bid = self._last_ask = 0
        self._lag_ns = int(regimes.long_vol_lag_s * 1e9)
        self._lv_tau = regimes.long_vol_window_s
        self._min_samples = regimes.long_vol_min_samples
        self._lv_m1 = self._lv_m2 = self._lv_w = 0.0
        self._lv_n = 0
        self._ring_ts: list[int] = []
        self._ring_mid: list[float] = []
        self._sample_ts = -1
        self._next_sample_ts = 0
        self._sample_mid = NAN
        self._prev_mid = NAN
        self._prev_ts = -1
        self.last_jump_ts = -(10**18)
        self.ts = 0
        self.known = False
        self.mid = NAN
        self.sigma_short = self.sigma_medium = self.sigma_long_ref = NAN
        self.long_vol = NAN
        self.trend_z = NAN
        self.flow = 0.0
        self.volume_rate = 0.0
        self.depth_bid = self.depth_ask = NAN
        self.jump_sigma = NAN
        self.jump: Jump | None = None

    # ---- feeding ----------------------------------------------------------------------

    def _bind(self, horizons: tuple[float, ...]) -> None:
        s = self._settings
        try:
            self._i_short = horizons.index(s.short_horizon_s)
            self._i_medium = horizons.index(s.medium_horizon_s)
        except ValueError:
            raise ValueError(
                f"risk: regimes.short_horizon_s {s.short_horizon_s:g} / medium_horizon_s "
                f"{s.medium_horizon_s:g} must be estimator horizons (have {list(horizons)})"
            ) from None
        long_h = s.long_horizon_s
        self._i_long = horizons.index(long_h) if long_h is not None and long_h in horizons else -1
        self._horizons = horizons

    def update(self, state: MarketState, now: int) -> None:
        """Read ``state`` at event time ``now``; sets :attr:`jump` if this event jumped."""
        self.jump = None
        prev_ts = self.ts
        self.ts = now
        mid = state.mid
        if not state.book_ok or not mid > 0.0:  # also false for nan
            self.known = False
            return
        if state.horizons_s is not self._horizons:
            self._bind(state.horizons_s)
        self.known = True
        self.mid = mid
        sigma = state.sigma
        trend = state.trend
        if sigma != self._sigma_seen or trend != self._trend_seen:  # they move once per ~1 s sample
            self._sigma_seen = sigma
            self._trend_seen = trend
            scale = _BPS / mid
            warm = state.sigma_warm
            i = self._i_short
            self.sigma_short = sigma[i] * scale if warm[i] else NAN
            i = self._i_medium
            self.sigma_medium = sigma[i] * scale if warm[i] else NAN
            self.trend_z = trend[i] if warm[i] else NAN
            i = self._i_long
            self.sigma_long_ref = sigma[i] * scale if i >= 0 and warm[i] else NAN
            base = self.baseline
            self.short_ratio = self.sigma_short / base
            self.medium_ratio = self.sigma_medium / base
        volume = state.volume_rate
        self.volume_rate = volume
        self.flow = (state.buy_rate - state.sell_rate) / volume if volume > 0.0 else 0.0
        # -- depth vs its baseline: smoothed current depth over a slower time-weighted baseline
        if self._base_bid != self._base_bid:  # first good book (nan check): start from it
            self._fast_bid = self._base_bid = float(state.depth_bid)
            self._fast_ask = self._base_ask = float(state.depth_ask)
        elif now > prev_ts:
            dt_ns = now - prev_ts
            # smoothed current depth: moves toward the new observation by the elapsed time's weight
            tau = self._depth_tau_ns
            fast = 1.0 if dt_ns >= 50.0 * tau else -math.expm1(-dt_ns / tau)
            self._fast_bid += (state.depth_bid - self._fast_bid) * fast
            self._fast_ask += (state.depth_ask - self._fast_ask) * fast
            # baseline: time-weighted, the depth seen at the previous event held until now
            slow = -math.expm1(-dt_ns / self._depth_base_ns)
            self._base_bid += (self._last_bid - self._base_bid) * slow
            self._base_ask += (self._last_ask - self._base_ask) * slow
        self._last_bid = state.depth_bid
        self._last_ask = state.depth_ask
        self.depth_bid = self._fast_bid / self._base_bid if self._base_bid > 0.0 else NAN
        self.depth_ask = self._fast_ask / self._base_ask if self._base_ask > 0.0 else NAN
        previous = self._prev_mid
        # -- jumps: against the previous mid and the mid sampled about a second ago, with a
        # sigma from before the jump
        ref = self.jump_sigma
        if ref == ref:
            min_dt = self._jump_min_dt
            prev_mid = self._prev_mid
            dt = (now - self._prev_ts) * _NS
            move = abs(mid / prev_mid - 1.0) * _BPS
            threshold = self._jump_k * ref * math.sqrt(dt if dt > min_dt else min_dt)
            if move > threshold:
                self._jumped(move, threshold, ref, dt, "previous mid", now)
            else:
                dt = (now - self._sample_ts) * _NS
                move = abs(mid / self._sample_mid - 1.0) * _BPS
                threshold = self._jump_k * ref * math.sqrt(dt if dt > min_dt else min_dt)
                if move > threshold:
                    self._jumped(move, threshold, ref, dt, "mid ~1 s earlier", now)
        if now - self.last_jump_ts > self._jump_clear_ns:
            self.jump_sigma = self.sigma_medium
        self._prev_mid = mid
        self._prev_ts = now
        # -- lagged returns and the baseline: the mid prevailing at each whole second of event
        # time (the mid before this event, unless the event is exactly on the second), so they
        # depend on the price path only, not on how often the tracker is asked
        if now >= self._next_sample_ts:
            boundary = now - now % _SECOND
            self._sample(mid if boundary == now or previous != previous else previous, boundary)
            self._next_sample_ts = boundary + _SECOND

    def _jumped(self, move: float, threshold: float, sigma: float, dt: float, versus: str, now: int) -> None:
        self.jump = Jump(move, threshold, sigma, max(dt, self._jump_min_dt), versus)
        self.last_jump_ts = now

    def _sample(self, mid: float, now: int) -> None:
        log_mid = math.log(mid)
        ring_ts = self._ring_ts
        ring_mid = self._ring_mid
        if self._sample_ts > 0:
            dt = (now - self._sample_ts) * _NS
            # -- the baseline: the instrument's own 1 s variance over baseline_window_s, on its prior
            step = (log_mid - ring_mid[-1]) * _BPS
            fade = math.exp(-dt / self._b_tau)
            self._b_m2 = self._b_m2 * fade + step * step
            self._b_w = self._b_w * fade + dt
            base = math.sqrt((self._b_w0 * self._b_prior2 + self._b_m2) / (self._b_w0 + self._b_w))
            self.baseline = base
            self.short_ratio = self.sigma_short / base
            self.medium_ratio = self.sigma_medium / base
            self.long_ratio = self.long_vol / base
            # the oldest sample at least one lag back
            lag_ns = self._lag_ns
            while len(ring_ts) > 1 and now - ring_ts[1] >= lag_ns:
                del ring_ts[0]
                del ring_mid[0]
            if ring_ts and now - ring_ts[0] >= lag_ns:
                lag_s = (now - ring_ts[0]) * _NS
                u = (log_mid - ring_mid[0]) * _BPS / math.sqrt(lag_s)  # bps / sqrt(s)
                decay = math.exp(-dt / self._lv_tau)
                self._lv_m1 = self._lv_m1 * decay + u
                self._lv_m2 = self._lv_m2 * decay + u * u
                self._lv_w = self._lv_w * decay + 1.0
                self._lv_n += 1
                if self._lv_n >= self._min_samples:
                    mean = self._lv_m1 / self._lv_w
                    self.long_vol = math.sqrt(max(self._lv_m2 / self._lv_w - mean * mean, 0.0))
                    self.long_ratio = self.long_vol / self.baseline
        ring_ts.append(now)
        ring_mid.append(log_mid)
        self._sample_ts = now
        self._sample_mid = mid

    # ---- reading ----------------------------------------------------------------------

    def values(self) -> dict[str, float | None]:
        """Every signal, rounded for records (None = not known)."""

        def v(x: float) -> float | None:
            return round(x, 6) if x == x else None

        return {
            "mid": v(self.mid),
            "sigma_short_bps": v(self.sigma_short),
            "sigma_medium_bps": v(self.sigma_medium),
            "sigma_long_ref_bps": v(self.sigma_long_ref),
            "long_vol_bps": v(self.long_vol),
            "trend_z": v(self.trend_z),
            "flow_imbalance": v(self.flow),
            "volume_rate": v(self.volume_rate),
            "depth_ratio_bid": v(self.depth_bid),
            "depth_ratio_ask": v(self.depth_ask),
            "jump_sigma_bps": v(self.jump_sigma),
            "baseline_bps": v(self.baseline),
            "short_ratio": v(self.short_ratio),
            "medium_ratio": v(self.medium_ratio),
            "long_ratio": v(self.long_ratio),
        }
