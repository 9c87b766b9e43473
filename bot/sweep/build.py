"""From a spec and a point (parameter values) to the exact settings and strategy profile
of a trial, resolved once on the driver.

Settings are read with :func:`bot.config.load_settings` (the spec's base config, then
``[fixed]`` and the point's ``config.*`` values as overrides); the profile is found by
the same loader functions as ``mmbot replay --strategy`` (:func:`strategy_search`,
:func:`load_strategy`), or read from a path, then ``strategy.*`` values are applied and
the result validated again. Workers receive these resolved objects, so every trial sees
the same values on any machine (``MMBOT_*`` variables are read here, once; one that
would override a swept key is an error). Secrets are removed: a replay never needs them.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from bot.config import SECRET_FIELDS, Settings, load_settings
from bot.core.instrument import InstrumentSpec
from bot.engine.assemble import load_strategy, strategy_search
from bot.errors import ConfigError, InputError
from bot.replay import open_replay
from bot.replay.run import choose_engine
from bot.risk.settings import check_horizons as check_risk_horizons
from bot.strategy.profile import StrategyProfile, build_quoter, check_horizons, load_profile
from bot.sweep.spec import Recording, SweepSpec
from bot.tomlfile import env_name, format_validation_error


@dataclass(frozen=True)
class RecordingInfo:
    """What a recording holds (read once, from its head), for checking points."""

    instruments: tuple[str, ...]
    specs: Mapping[str, InstrumentSpec]


class TrialBuilder:
    def __init__(self, spec: SweepSpec) -> None:
        self.spec = spec
        base: dict[str, Any] = {"http": {"enabled": False}, "paper": {"journal": {"commit_every": 1000}}}
        if spec.paper_seed is not None:
            base["paper"]["seed"] = spec.paper_seed
        for name, value in spec.fixed.items():
            if name.startswith("config."):
                _set(base, name.split(".")[1:], value)
        self._base_overrides = base
        names = [n for n in (*spec.fixed, *spec.params) if n.startswith("config.")]
        for name in names:
            variable = env_name(tuple(name.split(".")[1:]))
            if variable in os.environ:
                raise InputError(
                    f"{spec.path}: {name}: the environment variable {variable} overrides this key in every "
                    "trial (environment beats the config); unset it to sweep or fix the key here"
                )
        self.base_settings = self._settings(base, "[base] and [fixed]")
        fixed_profile = spec.fixed.get("strategy")
        self.base_strategy = str(
            fixed_profile or spec.strategy or next(iter(self.base_settings.engines.values())).strategy
        )
        self._profiles: dict[str, StrategyProfile] = {}
        self._recordings: dict[str, RecordingInfo] = {}

    # ---- settings and profile ---------------------------------------------------------

    def _settings(self, overrides: dict[str, Any], what: str) -> Settings:
        try:
            settings = load_settings(self.spec.config, **copy.deepcopy(overrides))
        except ConfigError as exc:
            raise InputError(f"{self.spec.path}: {what}: {exc}") from None
        return strip_secrets(settings)

    def profile(self, name: str, where: str = "base.strategy") -> StrategyProfile:
        cached = self._profiles.get(name)
        if cached is not None:
            return cached
        try:
            if name.endswith(".toml") or "/" in name:
                path = Path(name).expanduser()
                path = path if path.is_absolute() else self.spec.directory / path
                profile = load_profile(path)
            else:
                profile = load_strategy(strategy_search(self.base_settings, self.spec.config), name)
        except ConfigError as exc:
            raise InputError(f"{self.spec.path}: {where}: {exc}") from None
        self._profiles[name] = profile
        return profile

    def build(self, params: Mapping[str, Any]) -> tuple[Settings, StrategyProfile]:
        """The settings and profile of a point; InputError naming the point if invalid."""
        shown = describe(params)
        overrides = copy.deepcopy(self._base_overrides)
        for name, value in params.items():
            if name.startswith("config."):
                _set(overrides, name.split(".")[1:], value)
        settings = (
            self._settings(overrides, f"the point {shown}")
            if any(n.startswith("config.") for n in params)
            else self.base_settings
        )
        name = str(params.get("strategy", self.base_strategy))
        profile = self.profile(name, "params.strategy" if "strategy" in params else "base.strategy")
        changes = {n: v for n, v in (*self.spec.fixed.items(), *params.items()) if n.startswith("strategy.")}
        if changes:
            data = profile.model_dump(mode="python", exclude_unset=True)
            for key, value in changes.items():
                _set(data, key.split(".")[1:], value)
            try:
                profile = StrategyProfile.model_validate(data)
            except ValidationError as exc:
                raise InputError(
                    format_validation_error(exc, f"{self.spec.path}: the point {shown}: profile {name!r}")
                ) from None
        return settings, profile

    # ---- checks against the recordings --------------------------------------------------

    def recording(self, recording: Recording) -> RecordingInfo:
        info = self._recordings.get(recording.name)
        if info is None:
            sources = list(recording.sources)
            try:
                with open_replay(sources if len(sources) > 1 else sources[0]) as replay:
                    info = RecordingInfo(tuple(replay.instruments), dict(replay.specs))
            except InputError as exc:
                raise InputError(f"{self.spec.path}: recordings ({recording.name}): {exc}") from None
            self._recordings[recording.name] = info
        return info

    def check(self, params: Mapping[str, Any]) -> tuple[Settings, StrategyProfile]:
        """``build`` plus what the engine checks at start-up, on every recording."""
        settings, profile = self.build(params)
        for recording in self.spec.recordings:
            info = self.recording(recording)
            where = f"{self.spec.path}: the point {describe(params)} on recording {recording.name!r}"
            try:
                _name, engine = choose_engine(settings, list(info.instruments), self.spec.instrument)
                horizons = settings.estimators.vol_horizons_s
                check_horizons(profile, horizons)
                check_risk_horizons(settings.risk, horizons)
                if engine.quote:
                    build_quoter(profile, info.specs[engine.key])
            except InputError as exc:
                raise InputError(f"{where}: {exc}") from None
        return settings, profile


def strip_secrets(settings: Settings) -> Settings:
    """Settings without the secret fields (tokens, API keys): trials never need them."""
    for path in SECRET_FIELDS:
        node: Any = settings
        for part in path:
            node = getattr(node, part, None)
        if node is not None:
            settings = _cleared(settings, path)
    return settings


def _cleared(model: Any, path: tuple[str, ...]) -> Any:
    if len(path) == 1:
        return model.model_copy(update={path[0]: None})
    return model.model_copy(update={path[0]: _cleared(getattr(model, path[0]), path[1:])})


def describe(params: Mapping[str, Any]) -> str:
    return "{" + ", ".join(f"{k}={v!r}" for k, v in params.items()) + "}"


def _set(data: dict[str, Any], parts: list[str], value: Any) -> None:
    node = data
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[parts[-1]] = value
