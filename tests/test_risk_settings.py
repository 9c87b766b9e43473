"""Risk settings: defaults, validation messages, TOML round trip, horizon check."""

from __future__ import annotations

import tomllib

import pytest
from pydantic import ValidationError

from bot.config import ConfigError
from bot.risk import RiskSettings
from bot.risk.settings import check_horizons


def test_defaults_are_valid_and_every_field_is_described() -> None:
    settings = RiskSettings()
    assert settings.regimes.crisis_exit_short < settings.regimes.crisis_enter_short

    def walk(model: type) -> None:
        for name, field in model.model_fields.items():  # type: ignore[attr-defined]
            annotation = field.annotation
            if isinstance(annotation, type) and hasattr(annotation, "model_fields"):
                walk(annotation)
            else:
                assert field.description, f"{model.__name__}.{name} has no description"

    walk(RiskSettings)


def test_from_toml_with_unknown_keys_and_broken_hysteresis() -> None:
    text = """
    [regimes]
    crisis_enter_short = 4.0
    [limits]
    max_position = "3000"
    [profiles.crisis]
    spread_mult = 5.0
    levels = 2
    """
    settings = RiskSettings.model_validate(tomllib.loads(text))
    assert settings.regimes.crisis_enter_short == 4.0
    assert str(settings.limits.max_position) == "3000" and settings.profiles.crisis.levels == 2
    with pytest.raises(ValidationError, match="crisis_enter_shrot"):
        RiskSettings.model_validate({"regimes": {"crisis_enter_shrot": 1.0}})
    with pytest.raises(ValidationError, match="ranging_exit_long must be <= ranging_enter_long"):
        RiskSettings.model_validate({"regimes": {"ranging_exit_long": 3.0}})
    with pytest.raises(ValidationError, match=r"baseline_vol_by_instrument\['x:Y'\] must be > 0"):
        RiskSettings.model_validate({"regimes": {"baseline_vol_by_instrument": {"x:Y": 0.0}}})
    with pytest.raises(ValidationError, match="soft_position <= max_position <= halt_position"):
        RiskSettings.model_validate({"limits": {"halt_position": "100"}})
    with pytest.raises(ValidationError, match="depth_clear_ratio must be >"):
        RiskSettings.model_validate({"triggers": {"depth_clear_ratio": 0.1}})
    with pytest.raises(ValidationError, match="unknown states"):
        RiskSettings.model_validate({"regimes": {"min_dwell_s": {"halted": 1.0}}})


def test_horizons_must_exist_in_the_estimators() -> None:
    check_horizons(RiskSettings(), (10.0, 300.0, 3600.0))
    with pytest.raises(
        ConfigError,
        match=r"risk.regimes.medium_horizon_s: 300 is not one of the estimator horizons \[10.0, 60.0\]",
    ):
        check_horizons(RiskSettings(), (10.0, 60.0))
