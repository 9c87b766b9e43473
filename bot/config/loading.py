"""Loading the settings: the config file on the search path, TOML, ``MMBOT_*`` overrides, the
deal file beside the config, and one :class:`~bot.errors.ConfigError` naming what is wrong."""

from __future__ import annotations

import json
import os
import re
import types
from pathlib import Path
from typing import Any, Union, get_args, get_origin

from pydantic import (
    BaseModel,
    ValidationError,
)
from pydantic_settings import SettingsError

from bot.config.settings import Settings
from bot.defaults import Source, find_config
from bot.errors import ConfigError
from bot.tomlfile import ENV_PREFIX, env_name, format_validation_error, read_toml


def config_source(path: Path | None) -> Source:
    """The config file ``load_settings(path)`` reads and why: ``path``, else
    ``./config/default.toml`` if present, else the packaged default (bot/defaults)."""
    return find_config(path)


def load_settings(path: Path | None = None, **overrides: Any) -> Settings:
    """Load the config file (see :func:`config_source`) plus env overrides.

    ``overrides`` are applied on top of the file (used by CLI flags) but below env.
    """
    path = config_source(path).path
    source = str(path)
    data = read_toml(path)
    _refuse_secrets_in_file(data, source)
    _deep_merge(data, overrides)
    try:
        settings = Settings(**data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, source)) from None
    except SettingsError as exc:  # an MMBOT_* variable that is not the JSON its section needs
        raise ConfigError(_env_error(exc)) from None

    return _resolve_deal_file(settings, path)


def _resolve_deal_file(settings: Settings, config_path: Path) -> Settings:
    """A relative ``deal.file`` is looked up next to the config file first, then in the working
    directory (so ``file = "deals/abc.toml"`` in ``config/abc.toml`` works from any directory)."""
    file = settings.deal.file
    if file is None or file.is_absolute():
        return settings
    beside = config_path.parent / file
    if not beside.is_file():
        return settings  # as written: relative to the working directory (a missing file is named later)
    return settings.model_copy(update={"deal": settings.deal.model_copy(update={"file": beside})})


def _env_error(exc: SettingsError) -> str:
    """Name the ``MMBOT_*`` variable(s) behind a pydantic-settings parse failure."""
    match = re.search(r'field "([^"]+)"', str(exc))
    field = match.group(1) if match else ""
    culprits = []
    for name, value in sorted(os.environ.items()):
        if not name.upper().startswith(f"{ENV_PREFIX}{field.upper()}"):
            continue
        path = name[len(ENV_PREFIX) :].lower().split("__")
        if not _is_section(Settings, path):
            continue
        try:
            json.loads(value)
        except ValueError as err:
            culprits.append(f"{name}: not valid JSON for the [{'.'.join(path)}] section ({err})")
    if culprits:
        return "environment: " + "; ".join(culprits)
    return f"environment: cannot read {ENV_PREFIX}{field.upper()}*: {exc}"


def _is_section(model: Any, path: list[str]) -> bool:
    """True if ``path`` names a table (a model, dict or list) in the settings tree."""
    annotation: Any = model
    for part in path:
        annotation = _unwrap(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            field = annotation.model_fields.get(part)
            if field is None:
                return False
            annotation = field.annotation
        elif get_origin(annotation) is dict:
            annotation = get_args(annotation)[1]
        else:
            return False
    annotation = _unwrap(annotation)
    return (isinstance(annotation, type) and issubclass(annotation, BaseModel)) or get_origin(annotation) in (
        dict,
        list,
    )


def _unwrap(annotation: Any) -> Any:
    """``X | None`` -> ``X``."""
    args = [a for a in get_args(annotation) if a is not type(None)]
    if get_origin(annotation) in (types.UnionType, Union) and len(args) == 1:
        return args[0]
    return annotation


SECRET_FIELDS: tuple[tuple[str, ...], ...] = (
    ("http", "token"),
    ("testnet", "binance_spot", "api_key"),
    ("testnet", "binance_spot", "api_secret"),
    ("testnet", "binance_usdm", "api_key"),
    ("testnet", "binance_usdm", "api_secret"),
)
"""Fields that may only come from the environment or secret files, never a config file."""


def _refuse_secrets_in_file(data: dict[str, Any], source: str) -> None:
    for path in SECRET_FIELDS:
        node: Any = data
        for part in path[:-1]:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict) and path[-1] in node:
            dotted = ".".join(path)
            raise ConfigError(
                f"{source}: {dotted}: secrets may not be stored in config files; "
                f"set {env_name(path)} or use {dotted}_file"
            )


def _deep_merge(target: dict[str, Any], extra: dict[str, Any]) -> None:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _deep_merge(target[key], value)
        else:
            target[key] = value
