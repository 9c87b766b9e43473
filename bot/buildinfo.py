"""Which build of mmbot runs: the hot path compiled with mypyc, or pure Python -- and why.

``pip install .`` compiles the modules listed in ``pyproject.toml`` (``[tool.mmbot.compiled]``)
with mypyc and writes what it did to ``bot/_build.json`` beside the installed package
(``setup.py``). :func:`activate` runs once, from ``bot/__init__.py``, before any other module
of the package is imported, and picks the modules for this process -- all compiled or all
pure, never a mix (compiled modules call each other directly, not through the import system):

- **installed build**: its ``_build.json`` sits beside this file. Compiled modules load as
  built, unless ``MMBOT_PURE=1`` is set now: then every compiled module loads from its ``.py``
  source instead (the sources are installed too).
- **source tree** (a checkout, an editable install): no ``_build.json`` here. If a compiled
  build of *exactly these sources* is installed on ``sys.path`` (same digest over every
  ``bot/**/*.py``; e.g. ``pip install .`` of this checkout, as the README's commands do), its
  compiled modules are loaded from there while everything else -- data files included -- comes
  from the tree; so ``python -m pytest`` and ``python -m bot`` in the checkout test and run the
  compiled build. Once any source differs (an edit), the tree runs pure Python: a stale
  compiled module never shadows an edited source.

:func:`status` says which of these happened; ``mmbot --version`` prints it.
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

RECORD = "_build.json"
"""The build record written by setup.py into the installed package."""
PURE_ENV = "MMBOT_PURE"


@dataclass(frozen=True)
class BuildStatus:
    mode: str
    """``compiled`` or ``pure``."""
    reason: str
    """Why, in a few words (for ``mmbot --version``)."""
    modules: tuple[str, ...] = ()
    """The modules compiled in the build record (empty for a pure build)."""
    origin: str = ""
    """Directory of the installed build the compiled modules come from."""
    mypyc: str = ""
    """mypy/mypyc version the build used."""
    extra: dict[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        if self.mode == "compiled":
            return f"compiled with mypyc {self.mypyc}: {len(self.modules)} modules ({self.reason})"
        return f"pure Python ({self.reason})"


_status: BuildStatus | None = None


def pure_requested() -> bool:
    return os.environ.get(PURE_ENV, "").strip() not in ("", "0")


def source_digest(package_dir: Path) -> str:
    """sha256 over every ``.py`` file under ``package_dir`` (relative path and bytes)."""
    hasher = hashlib.sha256()
    for path in sorted(package_dir.rglob("*.py")):
        relative = path.relative_to(package_dir).as_posix()
        if "__pycache__" in relative:
            continue
        hasher.update(relative.encode() + b"\0")
        hasher.update(path.read_bytes())
        hasher.update(b"\0")
    return hasher.hexdigest()


def _read_record(path: Path) -> dict[str, object] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _modules(record: dict[str, object]) -> tuple[str, ...]:
    modules = record.get("modules")
    return tuple(str(m) for m in modules) if isinstance(modules, list) else ()


class _Redirect(importlib.abc.MetaPathFinder):
    """Load the listed modules from the given files (extension modules or sources)."""

    def __init__(self, files: dict[str, Path]) -> None:
        self.files = files

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        file = self.files.get(fullname)
        if file is None:
            return None
        loader: importlib.abc.Loader
        if file.suffix == ".py":
            loader = importlib.machinery.SourceFileLoader(fullname, str(file))
        else:
            loader = importlib.machinery.ExtensionFileLoader(fullname, str(file))
        return importlib.util.spec_from_file_location(fullname, file, loader=loader)


def _extension(root: Path, module: str) -> Path | None:
    """The compiled file of ``module`` under ``root`` (the directory holding ``bot/``)."""
    parts = module.split(".")
    directory = root.joinpath(*parts[:-1])
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        candidate = directory / (parts[-1] + suffix)
        if candidate.is_file():
            return candidate
    return None


def activate(package_dir: Path) -> BuildStatus:
    """Choose compiled or pure modules for this process (see the module doc); once."""
    global _status
    if _status is not None:
        return _status
    record = _read_record(package_dir / RECORD)
    _status = _installed(package_dir, record) if record is not None else _source_tree(package_dir)
    return _status


def _installed(package_dir: Path, record: dict[str, object]) -> BuildStatus:
    modules = _modules(record)
    version = str(record.get("mypyc", ""))
    if record.get("mode") != "compiled":
        return BuildStatus("pure", str(record.get("reason", "built pure")))
    if pure_requested():
        root = package_dir.parent
        files = {m: root.joinpath(*m.split(".")).with_suffix(".py") for m in modules}
        sys.meta_path.insert(0, _Redirect(files))
        return BuildStatus(
            "pure", f"{PURE_ENV}=1: the compiled build's modules load from their sources", modules
        )
    return BuildStatus("compiled", "installed build", modules, str(package_dir), version)


def _source_tree(package_dir: Path) -> BuildStatus:
    if pure_requested():
        return BuildStatus("pure", f"{PURE_ENV}=1; source tree {package_dir.parent}")
    here = package_dir.resolve()
    candidates: list[tuple[Path, dict[str, object]]] = []
    for entry in sys.path:
        other = Path(entry or ".") / "bot"
        record_path = other / RECORD
        if not record_path.is_file():
            continue
        try:
            if other.resolve() == here:
                continue
        except OSError:
            continue
        record = _read_record(record_path)
        if record is not None and record.get("mode") == "compiled":
            candidates.append((other, record))
    if not candidates:
        return BuildStatus("pure", f"source tree {package_dir.parent}; no compiled build installed")
    digest = source_digest(package_dir)
    for other, record in candidates:
        if record.get("sources") != digest:
            continue
        modules = _modules(record)
        files: dict[str, Path] = {}
        for module in modules:
            found = _extension(other.parent, module)
            if found is None:
                break
            files[module] = found
        else:
            sys.meta_path.insert(0, _Redirect(files))
            return BuildStatus(
                "compiled",
                f"source tree {package_dir.parent} = the build installed at {other}",
                modules,
                str(other),
                str(record.get("mypyc", "")),
            )
    return BuildStatus(
        "pure",
        f"source tree {package_dir.parent} differs from the compiled build at {candidates[0][0]} "
        "(pip install . rebuilds it)",
    )


def status() -> BuildStatus:
    """The build this process runs (after :func:`activate`)."""
    return _status if _status is not None else activate(Path(__file__).resolve().parent)


def version_text() -> str:
    """``mmbot --version``: the package version and which build runs, checked by importing the
    compiled modules (an installed build whose extension files are missing says so)."""
    from importlib import import_module
    from importlib.metadata import PackageNotFoundError, version

    try:
        number = version("mmbot")
    except PackageNotFoundError:
        number = "source tree"
    build = status()
    text = f"mmbot {number}: {build.describe()}"
    if build.mode == "compiled":
        for name in build.modules:
            import_module(name)
        loaded = loaded_compiled(build.modules)
        if len(loaded) != len(build.modules):
            missing = sorted(set(build.modules) - set(loaded))
            text += f"; NOT compiled at run time: {', '.join(missing)}"
    return text


def loaded_compiled(modules: Sequence[str]) -> list[str]:
    """Those of ``modules`` that are imported and compiled (an extension module file)."""
    compiled = []
    for name in modules:
        module = sys.modules.get(name)
        file = getattr(module, "__file__", None) or ""
        if file and not file.endswith(".py"):
            compiled.append(name)
    return compiled
