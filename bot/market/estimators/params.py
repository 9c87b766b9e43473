"""Estimator settings: horizons, windows and sampling intervals (validated).

One pydantic model, :class:`EstimatorParams`, so the settings can live in the TOML
config (an ``[estimators]`` table) with the same validation and error messages as
the rest of the configuration. Every time is in seconds of event time.
"""

from __future__ import annotations

from pydantic import Field, field_validator

from bot.inputmodel import InputModel


class EstimatorParams(InputModel):
    """Settings of :class:`bot.market.estimators.Estimators`."""

    vol_horizons_s: tuple[float, ...] = Field(
        default=(10.0, 300.0, 3600.0),
        min_length=1,
        max_length=8,
        description="EWMA time constants (seconds) of the realized-volatility and trend estimators, "
        "shortest first; e.g. 10 s, 5 min, 1 h. Quoters name one of these as their sigma horizon.",
    )
    vol_sample_interval_s: float = Field(
        default=1.0,
        ge=0.0,
        le=60.0,
        description="Take a mid-price increment for volatility at most this often (0 = every book event). "
        "Sampling every 100 ms book update measures bid-ask bounce, not volatility.",
    )
    vol_warmup_fraction: float = Field(
        default=0.2,
        gt=0.0,
        le=5.0,
        description="A horizon's sigma counts as warm once the observed time in its window reaches this "
        "fraction of its time constant.",
    )
    volume_window_s: float = Field(
        default=60.0,
        gt=0.0,
        le=86_400.0,
        description="EWMA time constant of the traded-volume rate (lots/s).",
    )
    depth_band: float = Field(
        default=0.005,
        gt=0.0,
        le=0.5,
        description="Displayed depth is summed within +/- this fraction of mid (0.005 = 0.5 %).",
    )
    depth_baseline_s: float = Field(
        default=600.0,
        gt=0.0,
        le=86_400.0,
        description="Time constant of the depth baseline the current depth is compared with.",
    )
    depth_recenter: float = Field(
        default=0.1,
        gt=0.0,
        le=1.0,
        description="The depth band is anchored at a reference mid and re-anchored (a full recount of "
        "the levels inside it) once the mid has moved by this fraction of the band.",
    )
    intensity_window_s: float = Field(
        default=600.0,
        gt=0.0,
        le=86_400.0,
        description="Time constant of the rolling window of trade arrivals used to fit "
        "lambda(delta) = A exp(-k delta).",
    )
    intensity_bin_ticks: float = Field(
        default=1.0, gt=0.0, le=1e6, description="Width, in ticks, of the depth bins of the intensity fit."
    )
    intensity_bins: int = Field(
        default=60,
        ge=3,
        le=1000,
        description="Number of depth bins; arrivals deeper than the last bin count in it.",
    )
    intensity_min_count: float = Field(
        default=5.0,
        gt=0.0,
        le=1e9,
        description="A depth bin enters the regression only with at least this many (decayed) arrivals "
        "at or beyond it.",
    )
    intensity_min_points: int = Field(
        default=3, ge=2, le=1000, description="Bins needed before the intensity fit is reported."
    )
    intensity_refit_interval_s: float = Field(
        default=1.0,
        ge=0.0,
        le=3600.0,
        description="Refit the intensity at most this often (0 = on every read).",
    )

    ma_window_s: float = Field(
        default=60.0,
        gt=0.0,
        le=3600.0,
        description="Moving-average band: window of the moving average of the sampled mid and of the "
        "standard deviation of the samples around it (the spread optimizer's sigma).",
    )
    ma_sample_s: float = Field(
        default=1.0,
        gt=0.0,
        le=60.0,
        description="Moving-average band: the mid is sampled every this many seconds of event time.",
    )

    @field_validator("vol_horizons_s")
    @classmethod
    def _horizons(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if any(h <= 0 for h in value):
            raise ValueError("every horizon must be positive")
        if list(value) != sorted(set(value)):
            raise ValueError("horizons must be distinct and in increasing order")
        return value
