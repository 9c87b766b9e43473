"""The configuration shipped inside the package, and where mmbot looks for its files.

This package holds, as package data, the same files as the repository's ``config/``
(the documented, editable copy; ``tests/test_defaults.py`` asserts they are equal):
``default.toml``, ``hedged.toml``, ``strategies/*.toml``, ``deals/*.toml`` and ``sweeps/*.toml``. An
installed ``mmbot`` therefore finds its documented defaults from any directory.

Search order (first match wins), the same installed or not:

- **config file**: ``--config FILE`` if given (it must exist), else
  ``./config/default.toml`` if present in the working directory, else the packaged
  ``default.toml``;
- **strategy profile** ``NAME``: ``NAME.toml`` in ``quoting.strategies_dir`` if set,
  then in the ``strategies/`` folder next to the config file in use, then in
  ``./config/strategies/``, then in the packaged ``strategies/``.

:func:`write_defaults` copies the packaged files into a directory (``mmbot config init``)
for a user to edit. Imports nothing of ``bot`` but :mod:`bot.errors`.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.errors import InputError

PACKAGED_DIR = Path(__file__).resolve().parent
CONFIG_NAME = "default.toml"
STRATEGIES = "strategies"
PACKAGED_CONFIG = PACKAGED_DIR / CONFIG_NAME
PACKAGED_STRATEGIES = PACKAGED_DIR / STRATEGIES
LOCAL_DIR = Path("config")
"""The working directory's ``config/`` folder, used when present."""

ORIGIN_ARGUMENT = "--config"
ORIGIN_LOCAL = "./config"
ORIGIN_PACKAGED = "packaged"
ORIGIN_SETTING = "quoting.strategies_dir"
ORIGIN_BESIDE = "next to the config file"


@dataclass(frozen=True)
class Source:
    """A file or folder mmbot reads, and why it was chosen."""

    path: Path
    origin: str

    def describe(self) -> str:
        return f"{self.path} ({self.origin})"


def find_config(explicit: Path | None) -> Source:
    """The config file ``mmbot run`` reads (see the module doc for the order)."""
    if explicit is not None:
        return Source(Path(explicit), ORIGIN_ARGUMENT)
    local = LOCAL_DIR / CONFIG_NAME
    if local.is_file():
        return Source(local, ORIGIN_LOCAL)
    return Source(PACKAGED_CONFIG, ORIGIN_PACKAGED)


def strategy_search_path(config: Source, strategies_dir: Path | None = None) -> list[Source]:
    """Folders searched for ``NAME.toml``, in order, without duplicates or missing folders
    (the packaged one is always last)."""
    candidates: list[Source] = []
    if strategies_dir is not None:
        candidates.append(Source(Path(strategies_dir), ORIGIN_SETTING))
    origin = ORIGIN_BESIDE if config.origin == ORIGIN_ARGUMENT else config.origin
    candidates.append(Source(config.path.parent / STRATEGIES, origin))
    candidates.append(Source(LOCAL_DIR / STRATEGIES, ORIGIN_LOCAL))
    candidates.append(Source(PACKAGED_STRATEGIES, ORIGIN_PACKAGED))
    seen: set[Path] = set()
    found: list[Source] = []
    for source in candidates:
        resolved = source.path.resolve()
        if resolved in seen or not source.path.is_dir():
            continue
        seen.add(resolved)
        found.append(source)
    return found


def find_profile(search: Sequence[Source], name: str) -> Path | None:
    """The first ``NAME.toml`` on the search path, or None."""
    for source in search:
        path = source.path / f"{name}.toml"
        if path.is_file():
            return path
    return None


def known_profiles(search: Sequence[Source]) -> list[str]:
    """Every profile name available on the search path."""
    names = {path.stem for source in search for path in source.path.glob("*.toml")}
    return sorted(names)


def shipped_files() -> list[Path]:
    """The packaged configuration files, relative to the package folder."""
    return sorted(path.relative_to(PACKAGED_DIR) for path in PACKAGED_DIR.rglob("*.toml") if path.is_file())


def write_defaults(target: Path, *, force: bool = False) -> list[Path]:
    """Copy every packaged file into ``target`` (``default.toml``, ``strategies/`` ...).

    Refuses (InputError, nothing written) if any of them exists, unless ``force``.
    """
    files = shipped_files()
    if target.exists() and not target.is_dir():
        raise InputError(f"{target}: exists and is not a directory")
    existing = [target / rel for rel in files if (target / rel).exists()]
    if existing and not force:
        shown = ", ".join(str(path) for path in existing[:5]) + (" ..." if len(existing) > 5 else "")
        raise InputError(f"{target}: would overwrite {shown}; use --force to replace them")
    written = []
    try:
        for rel in files:
            destination = target / rel
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(PACKAGED_DIR / rel, destination)
            written.append(destination)
    except OSError as exc:
        raise InputError(f"{target}: cannot write: {exc.strerror or exc}") from None
    return written
