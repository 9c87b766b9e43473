"""Reading TOML input files and reporting what is wrong in them.

Shared by every layer that reads a user's TOML (the configuration, strategy profiles,
deal files): an unreadable or invalid file is one :class:`~bot.errors.ConfigError`
naming the file, and a pydantic validation failure becomes one message naming the
file, each bad field and the problem (and the ``MMBOT_*`` variable if the value came
from the environment). Imports nothing of ``bot`` but :mod:`bot.errors`.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from bot.errors import ConfigError

ENV_PREFIX = "MMBOT_"


def read_toml(path: Path) -> dict[str, Any]:
    """Parse a TOML file, turning I/O and syntax failures into :class:`ConfigError`."""
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, expected a TOML file") from None
    except PermissionError:
        raise ConfigError(f"{path}: permission denied") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text: {exc}") from None


def env_name(location: tuple[int | str, ...]) -> str:
    return ENV_PREFIX + "__".join(str(part).upper() for part in location)


def format_validation_error(exc: ValidationError, source: str) -> str:
    """One message naming the source, each bad field and the problem."""
    lines = []
    for error in exc.errors():
        location = tuple(error["loc"])
        field = ".".join(str(part) for part in location) or "(top level)"
        kind = error["type"]
        if kind == "extra_forbidden":
            problem = "unknown key"
        elif kind == "missing":
            problem = "required key is missing"
        else:
            problem = error["msg"].removeprefix("Value error, ")
            if kind != "value_error" and "input" in error and not isinstance(error["input"], dict | list):
                problem += f" (got {error['input']!r})"
        env = env_name(location)
        origin = f" [from environment {env}]" if env in os.environ else ""
        lines.append(f"{source}: {field}: {problem}{origin}")
    return "\n".join(lines)
