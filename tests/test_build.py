"""The compiled (mypyc) build and its pure-Python fallback (setup.py, bot/buildinfo.py).

- Modules compiled by mypyc lose the class keywords of msgspec structs (``frozen``, ``kw_only``,
  ``tag``...) and pydantic models: no compiled module may define one, and every struct of the
  package keeps the configuration its source asks for, in whichever build this process runs.
- The build this process runs is the one ``mmbot --version`` reports; in CI (``.ci/run`` sets
  ``TESTS_REQUIRE_COMPILED=1``) it must be the compiled one, every listed module an extension.
- ``MMBOT_PURE=1`` runs pure Python and writes exactly the golden journals; a build without a C
  compiler is pure Python and still builds.
"""

from __future__ import annotations

import ast
import inspect
import json
import os
import shutil
import subprocess
import sys
import tomllib
from importlib import import_module
from pathlib import Path

import msgspec
import pydantic
import pytest

from bot import buildinfo
from tests import golden_kit

REPO = Path(__file__).resolve().parents[1]
COMPILED = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["mmbot"]["compiled"]["modules"]
STRUCT_KEYWORDS = (
    "frozen",
    "kw_only",
    "tag",
    "tag_field",
    "array_like",
    "omit_defaults",
    "forbid_unknown_fields",
    "eq",
    "order",
    "gc",
    "weakref",
    "dict",
    "cache_hash",
)


def _module(path: str) -> str:
    return path.removesuffix(".py").replace("/", ".")


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != buildinfo.PURE_ENV}
    env.update(extra)
    return env


def test_compiled_modules_define_no_struct_or_model() -> None:
    """mypyc would silently drop their class keywords: such modules stay interpreted."""
    offenders = []
    for path in COMPILED:
        module = import_module(_module(path))
        for value in vars(module).values():
            ours = isinstance(value, type) and value.__module__ == module.__name__
            if ours and issubclass(value, (msgspec.Struct, pydantic.BaseModel)):
                offenders.append(f"{module.__name__}.{value.__qualname__}")
    assert offenders == []


def _struct_keywords() -> list[tuple[str, str, str, object, tuple[str, ...]]]:
    """(module, class, keyword, literal value, own annotated fields) of every msgspec struct
    keyword in bot/."""
    found = []
    for path in sorted((REPO / "bot").rglob("*.py")):
        tree = ast.parse(path.read_text())
        module = ".".join(path.relative_to(REPO).with_suffix("").parts)
        for node in tree.body:
            if not isinstance(node, ast.ClassDef):
                continue
            own = tuple(
                item.target.id
                for item in node.body
                if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name)
            )
            for keyword in node.keywords:
                if keyword.arg in STRUCT_KEYWORDS and isinstance(keyword.value, ast.Constant):
                    found.append((module, node.name, keyword.arg, keyword.value.value, own))
    return found


def test_every_struct_keeps_its_configuration_in_this_build() -> None:
    keywords = _struct_keywords()
    assert len(keywords) > 50  # the scan finds the package's structs (frozen events, orders...)
    wrong = []
    for module, name, keyword, value, own in keywords:
        cls = getattr(import_module(module), name)
        if not (isinstance(cls, type) and issubclass(cls, msgspec.Struct)):
            continue
        expected: object
        if keyword == "kw_only":  # not in StructConfig: the constructor's signature shows it
            params = inspect.signature(cls).parameters
            expected = [value] * len(own)
            actual = [params[f].kind is inspect.Parameter.KEYWORD_ONLY for f in own]
        else:
            expected = (name if value is True else value) if keyword == "tag" else value
            actual = getattr(cls.__struct_config__, keyword)
        if actual != expected:
            wrong.append(f"{module}.{name}: {keyword}={actual!r}, source says {value!r}")
    assert wrong == []
    # the structs the compiled hot path builds and matches on, by name
    from bot.core.events import BookDelta

    assert BookDelta.__struct_config__.frozen


def test_version_reports_the_build_this_process_runs() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot", "--version"],
        cwd=REPO,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    status = buildinfo.status()
    assert result.stdout.startswith("mmbot ")
    if status.mode == "compiled":
        assert f"compiled with mypyc {status.mypyc}: {len(COMPILED)} modules" in result.stdout
        assert "NOT compiled" not in result.stdout
    else:
        assert "pure Python" in result.stdout


def test_compiled_build_runs_every_listed_module_compiled() -> None:
    status = buildinfo.status()
    if os.environ.get("TESTS_REQUIRE_COMPILED", "") not in ("", "0"):
        assert status.mode == "compiled", status.describe()
    if status.mode != "compiled":
        pytest.skip(f"this process runs {status.describe()}")
    names = [_module(path) for path in COMPILED]
    assert sorted(status.modules) == sorted(names)
    for name in names:
        import_module(name)
    assert buildinfo.loaded_compiled(names) == names


def test_pure_python_writes_the_golden_journals(tmp_path: Path) -> None:
    """MMBOT_PURE=1 (the CI run of the pure build): the source modules run, same outputs."""
    version = subprocess.run(
        [sys.executable, "-m", "bot", "--version"],
        cwd=REPO,
        env=_env(MMBOT_PURE="1"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "pure Python (MMBOT_PURE=1" in version.stdout, version.stdout + version.stderr
    probe = (
        "import sys, bot.buildinfo as b, bot.paper.exchange, bot.market.book;"
        "print(b.status().mode, [m for m in b.loaded_compiled(list(sys.modules)) if 'bot' in m])"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=REPO,
        env=_env(MMBOT_PURE="1"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert loaded.stdout.strip() == "pure []", loaded.stdout + loaded.stderr
    golden = golden_kit.load_golden()
    result = subprocess.run(
        [sys.executable, "-m", "tests.golden_kit", "reference-minimal"],
        cwd=REPO,
        env=_env(MMBOT_PURE="1"),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"reference-minimal {golden['reference-minimal']}" in result.stderr.splitlines()


def _installed_build() -> Path | None:
    """The installed package directory if it is a compiled build of exactly these sources."""
    status = buildinfo.status()
    if status.mode != "compiled" or not status.origin:
        return None
    return Path(status.origin)


def test_installed_compiled_build_honours_mmbot_pure(tmp_path: Path) -> None:
    """The installed package (run from outside the checkout) loads its sources with MMBOT_PURE=1."""
    installed = _installed_build()
    if installed is None:
        pytest.skip("no compiled build of these sources is installed")
    probe = (
        "import sys, bot, bot.buildinfo as b, bot.paper.exchange;"
        "print(bot.__file__); print(b.status().mode); print(bot.paper.exchange.__file__)"
    )
    runs = {}
    for pure in ("0", "1"):
        result = subprocess.run(
            [sys.executable, "-c", probe],
            cwd=tmp_path,
            env=_env(MMBOT_PURE=pure, PYTHONPATH=""),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        runs[pure] = result.stdout.split()
    assert Path(runs["0"][0]).parent == installed
    assert runs["0"][1:] == ["compiled", runs["0"][2]] and not runs["0"][2].endswith(".py")
    assert runs["1"][1] == "pure" and runs["1"][2].endswith(".py")


def test_a_build_without_c_compiler_is_pure_python_and_succeeds(tmp_path: Path) -> None:
    """setup.py's build commands with no C compiler: pure Python, the reason recorded."""
    source = tmp_path / "src"
    source.mkdir()
    for name in ("setup.py", "pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    shutil.copytree(REPO / "bot", source / "bot", ignore=shutil.ignore_patterns("__pycache__"))
    result = subprocess.run(
        [sys.executable, "setup.py", "-q", "build", "--build-base", str(tmp_path / "build")],
        cwd=source,
        env=_env(CC=str(tmp_path / "no-such-cc")),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "building pure Python (no C compiler at install)" in result.stderr
    lib = tmp_path / "build" / "lib" / "bot"
    record = json.loads((lib / "_build.json").read_text())
    assert record["mode"] == "pure" and record["reason"] == "no C compiler at install"
    assert record["sources"] == buildinfo.source_digest(REPO / "bot")
    assert not [p for p in lib.parent.rglob("*") if p.suffix in (".so", ".pyd")]
    assert (lib / "paper" / "exchange.py").is_file()
