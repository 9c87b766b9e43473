"""Build hook: compile mmbot's hot path with mypyc. Everything else lives in pyproject.toml.

``pip install .`` compiles the modules listed in ``pyproject.toml`` under
``[tool.mmbot.compiled]`` with mypyc into C extension modules, installed beside their ``.py``
sources, and records what it did in ``bot/_build.json`` (read by :mod:`bot.buildinfo`;
``mmbot --version`` prints it). The install is pure Python instead -- and still succeeds -- when

- ``MMBOT_PURE=1`` is set at install time;
- the install is editable (``pip install -e``): sources are edited in place, and a compiled
  module would shadow its edited source;
- mypyc or a working C compiler (and the Python headers) is missing, or compiling fails:
  a warning says why, and the record keeps the reason.

``MYPYC_OPT_LEVEL`` (default 3) sets the C optimisation level; ``MMBOT_BUILD_JOBS`` the number of
C files compiled at once (default: the CPUs available).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sys
import sysconfig
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
RECORD = "_build.json"


def _buildinfo() -> Any:
    """bot/buildinfo.py, loaded without importing the package (its digest must be the one the
    installed package checks)."""
    spec = importlib.util.spec_from_file_location("_mmbot_buildinfo", ROOT / "bot" / "buildinfo.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def compiled_sources() -> list[str]:
    with (ROOT / "pyproject.toml").open("rb") as handle:
        return list(tomllib.load(handle)["tool"]["mmbot"]["compiled"]["modules"])


def module_name(path: str) -> str:
    return path.removesuffix(".py").replace("/", ".")


def pure_reason() -> str | None:
    """Why this build is pure Python before trying to compile (None: try)."""
    if os.environ.get("MMBOT_PURE", "").strip() not in ("", "0"):
        return "MMBOT_PURE=1 at install"
    if any(arg in ("editable_wheel", "develop") for arg in sys.argv[1:]):
        return "editable install"
    if importlib.util.find_spec("mypyc") is None:
        return "mypyc not available at install"
    if not (Path(sysconfig.get_paths()["include"]) / "Python.h").is_file():
        return "no Python headers (Python.h) at install"
    compiler = _c_compiler()
    if compiler is None:
        return "no C compiler at install"
    return None


def _c_compiler() -> str | None:
    from setuptools._distutils.ccompiler import new_compiler
    from setuptools._distutils.sysconfig import customize_compiler

    compiler: Any = new_compiler()
    customize_compiler(compiler)
    command = getattr(compiler, "compiler_so", None) or getattr(compiler, "compiler", None)
    if not command:
        return "msvc" if getattr(compiler, "compiler_type", "") == "msvc" else None
    return shutil.which(command[0])


def write_record(build_lib: str, mode: str, reason: str, modules: list[str], mypyc: str = "") -> None:
    target = Path(build_lib) / "bot" / RECORD
    target.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "mode": mode,
        "reason": reason,
        "modules": modules,
        "mypyc": mypyc,
        "python": sysconfig.get_python_version(),
        "sources": _buildinfo().source_digest(ROOT / "bot"),
    }
    target.write_text(json.dumps(record, indent=2) + "\n")


def remove_extensions(build_lib: str) -> None:
    """Compiled files of an earlier build left in the build directory (pip reuses ``build/``)."""
    root = Path(build_lib)
    suffixes = tuple(s for s in (sysconfig.get_config_var("EXT_SUFFIX"), ".so", ".pyd") if s)
    for path in [*root.glob("*__mypyc*"), *(root / "bot").rglob("*")]:
        if path.is_file() and path.name.endswith(suffixes):
            path.unlink()
    (root / "bot" / RECORD).unlink(missing_ok=True)


class BuildPy(build_py):
    """Copies the sources; records a pure build (a compiled one is recorded by BuildExt)."""

    def run(self) -> None:
        if not self.editable_mode:
            remove_extensions(self.build_lib)
        super().run()
        if not self.editable_mode:
            write_record(self.build_lib, "pure", PURE or "compilation pending", [])


class BuildExt(build_ext):
    """mypycify at build time only (not for metadata), then compile; failure -> pure."""

    failed: str | None = None

    def finalize_options(self) -> None:
        if self.distribution.ext_modules and PURE is None:
            self.distribution.ext_modules = _mypycify()
        super().finalize_options()

    def build_extensions(self) -> None:
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        jobs = int(os.environ.get("MMBOT_BUILD_JOBS") or cpus or 1)
        if jobs > 1:
            _parallel_compile(self.compiler, jobs)
        super().build_extensions()

    def run(self) -> None:
        build_lib = self.build_lib
        if BuildExt.failed is not None or not self.extensions:
            write_record(build_lib, "pure", BuildExt.failed or PURE or "nothing to compile", [])
            return
        try:
            super().run()
        except Exception as exc:
            reason = f"C compilation failed: {type(exc).__name__}: {exc}"
            self.warn(f"mmbot: {reason}; installing pure Python")
            remove_extensions(build_lib)
            write_record(build_lib, "pure", reason[:500], [])
            return
        from mypy.version import __version__ as mypy_version

        modules = [module_name(path) for path in compiled_sources()]
        write_record(build_lib, "compiled", "installed build", modules, mypy_version)


def _mypycify() -> list[Extension]:
    try:
        from mypyc.build import mypycify

        version = f"{sys.version_info.major}.{sys.version_info.minor}"
        return list(
            mypycify(
                [*compiled_sources(), f"--python-version={version}"],
                opt_level=os.environ.get("MYPYC_OPT_LEVEL", "3"),
                multi_file=True,
            )
        )
    except (Exception, SystemExit) as exc:  # type errors exit; anything else: pure
        BuildExt.failed = f"mypyc failed: {type(exc).__name__}: {exc}"[:500]
        sys.stderr.write(f"mmbot: {BuildExt.failed}; installing pure Python\n")
        return []


def _parallel_compile(compiler: Any, jobs: int) -> None:
    """Compile an extension's C files ``jobs`` at a time (distutils compiles them one by one)."""

    def compile(
        sources: list[str],
        output_dir: str | None = None,
        macros: Any = None,
        include_dirs: Any = None,
        debug: bool = False,
        extra_preargs: Any = None,
        extra_postargs: Any = None,
        depends: Any = None,
    ) -> list[str]:
        macros, objects, extra_postargs, pp_opts, build = compiler._setup_compile(
            output_dir, macros, include_dirs, sources, depends, extra_postargs
        )
        cc_args = compiler._get_cc_args(pp_opts, debug, extra_preargs)

        def one(obj: str) -> None:
            src, ext = build[obj]
            compiler._compile(obj, src, ext, cc_args, extra_postargs, pp_opts)

        with ThreadPoolExecutor(jobs) as pool:
            list(pool.map(one, objects))
        return list(objects)

    compiler.compile = compile


PURE: str | None = None
"""Why this build is pure Python (None: compile); set by :func:`main`."""


def main() -> None:
    global PURE
    PURE = pure_reason()
    if PURE is not None and "egg_info" not in sys.argv[1:] and "dist_info" not in sys.argv[1:]:
        sys.stderr.write(f"mmbot: building pure Python ({PURE})\n")
    setup(
        # a placeholder until build_ext runs mypycify (metadata steps never pay for it)
        ext_modules=[] if PURE is not None else [Extension("bot._compiled_placeholder", sources=[])],
        cmdclass={"build_py": BuildPy, "build_ext": BuildExt},
    )


if __name__ == "__main__":  # setuptools' build backend runs this file as __main__
    main()
