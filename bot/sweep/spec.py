"""The sweep spec: one TOML file naming the recordings, the base config and strategy, and
the parameters to vary (README, "mmbot sweep").

::

    [sweep]
    name = "as-gamma"                 # default: the file name without .toml
    method = "grid"                   # grid | random | tpe
    objective = "pnl_per_inventory_risk"
    trials = 20                       # random / tpe: how many points
    [base]
    config = "../default.toml"        # relative to this file; default: the default config
    strategy = "as_default"           # profile name (looked up like `mmbot replay --strategy`) or a .toml path
    [[recordings]]
    files = ["bundled:binance_spot_btcusdt_20240808.gz"]
    [params]
    "strategy.avellaneda_stoikov.gamma" = [1e-7, 1e-6, 1e-5]
    "strategy.ladder.spacing_ticks" = { low = 10, high = 90, step = 40 }

Parameter names are ``config.<key path>`` (a key of the config file), ``strategy.<key
path>`` (a key of the strategy profile) or ``strategy`` (the profile itself, by name).
:func:`load_spec` checks the structure, every parameter name against the settings and
profile models, every recording file, and raises one :class:`~bot.errors.InputError`
(exit 2) naming the file and the field. Whether each value is valid for its field is
checked when the points are built (:mod:`bot.sweep.build`).
"""

from __future__ import annotations

import math
import re
import types
import typing
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from bot.config import BUNDLED_REPLAY_DIR, Settings
from bot.errors import InputError
from bot.inputmodel import InputModel
from bot.replay.files import check_file
from bot.replay.synthetic import PREFIX as SYNTHETIC_PREFIX
from bot.replay.synthetic import parse_request
from bot.strategy.profile import StrategyProfile
from bot.sweep.objectives import Objective, get_objective
from bot.tomlfile import format_validation_error, read_toml

Method = Literal["grid", "random", "tpe"]
Direction = Literal["maximize", "minimize"]
Aggregate = Literal["mean", "sum", "min", "max"]
BUNDLED_PREFIX = "bundled:"
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
RANGE_KEYS = frozenset({"low", "high", "log", "step", "num"})


class _Table(InputModel):
    """Strict (no unknown keys) with sane numbers (:mod:`bot.inputmodel`)."""


class SweepTable(_Table):
    name: str | None = Field(None, pattern=NAME_PATTERN, description="Sweep name (default: file stem).")
    method: Method = Field("grid", description="grid | random | tpe (Optuna's TPE sampler).")
    objective: str = Field("pnl_per_inventory_risk", description="What ranks the points (README).")
    direction: Direction | None = Field(None, description="maximize | minimize (default: the objective's).")
    aggregate: Aggregate = Field(
        "mean", description="How a point's recordings combine: mean | sum | min | max."
    )
    trials: int | None = Field(None, ge=1, le=1_000_000, description="random / tpe: number of points.")
    seed: int = Field(0, ge=0, description="Seed of the random and TPE samplers.")
    batch: int = Field(4, ge=1, le=10_000, description="tpe: points proposed per round.")
    startup_trials: int = Field(8, ge=0, description="tpe: random points before the model is used.")


class BaseTable(_Table):
    config: str | None = Field(None, description="Base config TOML, relative to the spec file.")
    strategy: str | None = Field(None, description="Strategy profile name, or a path to a profile TOML.")
    instrument: str | None = Field(None, description="VENUE:SYMBOL to quote (default as mmbot replay).")
    seed: int | None = Field(None, ge=0, description="Paper-exchange seed (config paper.seed).")
    timer_interval_s: float = Field(0.1, gt=0, le=60, description="Timer event interval, event time.")


class RecordingTable(_Table):
    name: str | None = Field(None, pattern=NAME_PATTERN, description="Short name (trial directory suffix).")
    files: list[str] | None = Field(None, min_length=1, description="Recorded files, replayed as one input.")
    synthetic: str | None = Field(None, description="A synthetic scenario: '<scenario>[?seed=N&duration=S]'.")


class SpecFile(_Table):
    sweep: SweepTable = Field(default_factory=lambda: SweepTable.model_validate({}))
    base: BaseTable = Field(default_factory=lambda: BaseTable.model_validate({}))
    recordings: list[RecordingTable] = Field(min_length=1)
    params: dict[str, Any] = Field(default_factory=dict)
    fixed: dict[str, Any] = Field(default_factory=dict)


@dataclass(frozen=True)
class Choice:
    """A list of values: a grid axis, a uniform draw, or a categorical TPE distribution."""

    values: tuple[Any, ...]

    def grid(self) -> list[Any]:
        return list(self.values)

    @property
    def numeric(self) -> bool:
        return all(isinstance(v, int | float) and not isinstance(v, bool) for v in self.values)


@dataclass(frozen=True)
class Range:
    """``{ low, high, log?, step?, num? }``: integers when low, high (and step) are integers."""

    low: float
    high: float
    integer: bool
    log: bool = False
    step: float | None = None
    num: int | None = None

    def grid(self) -> list[Any]:
        if self.num is not None:
            if self.log:
                values = [
                    math.exp(
                        math.log(self.low) + (math.log(self.high) - math.log(self.low)) * i / (self.num - 1)
                    )
                    for i in range(self.num)
                ]
            else:
                values = [self.low + (self.high - self.low) * i / (self.num - 1) for i in range(self.num)]
            return _dedupe([round(v) if self.integer else tidy(v) for v in values])
        step = self.step if self.step is not None else 1
        count = math.floor((self.high - self.low) / step + 1e-9) + 1
        return [int(self.low + i * step) if self.integer else tidy(self.low + i * step) for i in range(count)]


Domain = Choice | Range


def tidy(value: float) -> float:
    """A float rounded to 12 significant digits (0.1 + 0.2 -> 0.3), so values read well."""
    return float(f"{value:.12g}")


def _dedupe(values: list[Any]) -> list[Any]:
    return list(dict.fromkeys(values))


@dataclass(frozen=True)
class Recording:
    name: str
    sources: tuple[str, ...]
    """Absolute file paths, or one ``synthetic:...`` string."""

    @property
    def files(self) -> tuple[Path, ...]:
        return tuple(Path(s) for s in self.sources if not s.startswith(SYNTHETIC_PREFIX))


@dataclass(frozen=True)
class SweepSpec:
    path: Path
    raw: dict[str, Any]
    name: str
    method: Method
    objective: Objective
    direction: Direction
    aggregate: Aggregate
    trials: int | None
    seed: int
    batch: int
    startup_trials: int
    config: Path | None
    strategy: str | None
    instrument: str | None
    paper_seed: int | None
    timer_interval_s: float
    recordings: tuple[Recording, ...]
    params: dict[str, Domain]
    fixed: dict[str, Any] = field(default_factory=dict)

    @property
    def directory(self) -> Path:
        return self.path.parent


def load_spec(path: Path) -> SweepSpec:
    """Read and check a sweep spec (InputError naming the file and the field)."""
    raw = read_toml(path)
    source = str(path)
    try:
        spec = SpecFile.model_validate(raw)
    except ValidationError as exc:
        raise InputError(format_validation_error(exc, source)) from None
    sweep = spec.sweep
    try:
        objective = get_objective(sweep.objective)
    except InputError as exc:
        raise InputError(f"{source}: sweep.objective: {exc}") from None
    if sweep.method == "grid" and sweep.trials is not None:
        raise InputError(
            f"{source}: sweep.trials: only for method 'random' or 'tpe' (a grid runs every point)"
        )
    if sweep.method != "grid" and sweep.trials is None:
        raise InputError(f"{source}: sweep.trials: required for method {sweep.method!r} (how many points)")
    base_dir = path.resolve().parent
    params = {
        name: parse_domain(name, value, source) for name, value in flatten(spec.params, "params", source)
    }
    if not params:
        raise InputError(
            f'{source}: params: no parameter to vary (add e.g. "strategy.ladder.levels" = [1, 2])'
        )
    fixed = dict(flatten(spec.fixed, "fixed", source))
    for section, names in (("params", params), ("fixed", fixed)):
        for name in names:
            check_parameter(name, f"{source}: {section}.{name}")
    for name in fixed:
        if name in params:
            raise InputError(
                f"{source}: fixed.{name}: also in [params]; a parameter is either varied or fixed"
            )
    if sweep.method == "grid":
        for name, domain in params.items():
            if (
                isinstance(domain, Range)
                and not domain.integer
                and domain.step is None
                and domain.num is None
            ):
                raise InputError(
                    f"{source}: params.{name}: a grid needs a list of values or a range with step or num"
                )
    return SweepSpec(
        path=path,
        raw=raw,
        name=sweep.name or re.sub(r"[^A-Za-z0-9_.-]+", "_", path.stem) or "sweep",
        method=sweep.method,
        objective=objective,
        direction=sweep.direction or objective.direction,
        aggregate=sweep.aggregate,
        trials=sweep.trials,
        seed=sweep.seed,
        batch=sweep.batch,
        startup_trials=sweep.startup_trials,
        config=_resolve(base_dir, spec.base.config) if spec.base.config is not None else None,
        strategy=spec.base.strategy,
        instrument=spec.base.instrument,
        paper_seed=spec.base.seed,
        timer_interval_s=spec.base.timer_interval_s,
        recordings=_recordings(spec.recordings, base_dir, source),
        params=params,
        fixed=fixed,
    )


def _resolve(base_dir: Path, text: str) -> Path:
    if text.startswith(BUNDLED_PREFIX):
        return BUNDLED_REPLAY_DIR / text[len(BUNDLED_PREFIX) :]
    path = Path(text).expanduser()
    return path if path.is_absolute() else base_dir / path


def _recordings(tables: list[RecordingTable], base_dir: Path, source: str) -> tuple[Recording, ...]:
    out: list[Recording] = []
    seen: dict[str, int] = {}
    for index, table in enumerate(tables):
        where = f"{source}: recordings[{index}]"
        if (table.files is None) == (table.synthetic is None):
            raise InputError(
                f"{where}: give exactly one of 'files' (recorded data) or 'synthetic' (a scenario)"
            )
        if table.files is not None:
            sources = []
            for number, text in enumerate(table.files):
                path = _resolve(base_dir, text).resolve()
                try:
                    check_file(path)
                except InputError as exc:
                    raise InputError(f"{where}.files[{number}]: {exc}") from None
                sources.append(str(path))
            default = _stem(Path(table.files[0]).name)
        else:
            text = table.synthetic or ""
            text = text if text.startswith(SYNTHETIC_PREFIX) else SYNTHETIC_PREFIX + text
            try:
                request = parse_request(text)
            except InputError as exc:
                raise InputError(f"{where}.synthetic: {exc}") from None
            sources = [text]
            default = f"{request.scenario}-s{request.seed}"
        name = table.name or default
        if name in seen:
            raise InputError(
                f"{where}.name: {name!r} is already the name of recordings[{seen[name]}]; give each a unique name"
            )
        seen[name] = index
        out.append(Recording(name=name, sources=tuple(sources)))
    return tuple(out)


def _stem(name: str) -> str:
    for suffix in (".gz", ".csv", ".npz", ".dat", ".zip"):
        name = name.removesuffix(suffix)
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[:64] or "recording"


# ---- parameters ------------------------------------------------------------------------


def flatten(
    table: Mapping[str, Any], section: str, source: str, prefix: str = ""
) -> Iterator[tuple[str, Any]]:
    """``{"a.b": v}`` and ``{a = {b = v}}`` both give ``("a.b", v)``; a range table is a leaf."""
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value and (section == "fixed" or not set(value) & RANGE_KEYS):
            yield from flatten(value, section, source, name + ".")
        else:
            yield name, value


def parse_domain(name: str, value: Any, source: str) -> Domain:
    where = f"{source}: params.{name}"
    if isinstance(value, list):
        if not value:
            raise InputError(f"{where}: empty list of values (an empty grid axis: nothing to run)")
        for item in value:
            if isinstance(item, dict | list):
                raise InputError(f"{where}: values must be numbers, strings or booleans, got {item!r}")
        if len(set(map(repr, value))) != len(value):
            raise InputError(f"{where}: a value is listed twice")
        return Choice(tuple(value))
    if isinstance(value, dict):
        unknown = sorted(set(value) - RANGE_KEYS)
        if unknown:
            raise InputError(
                f"{where}: unknown key(s) {', '.join(unknown)} in a range (low, high, log, step, num)"
            )
        for key in ("low", "high"):
            if key not in value:
                raise InputError(f"{where}: a range needs '{key}'")
        low, high, step, num, log = (
            value["low"],
            value["high"],
            value.get("step"),
            value.get("num"),
            value.get("log", False),
        )
        for key, item in (("low", low), ("high", high), ("step", step)):
            if item is not None and (isinstance(item, bool) or not isinstance(item, int | float)):
                raise InputError(f"{where}.{key}: must be a number, got {item!r}")
        if not isinstance(log, bool):
            raise InputError(f"{where}.log: must be true or false, got {log!r}")
        if num is not None and (isinstance(num, bool) or not isinstance(num, int) or num < 2):
            raise InputError(f"{where}.num: must be an integer >= 2, got {num!r}")
        if not low < high:
            raise InputError(f"{where}: low ({low}) must be below high ({high}) (an empty range)")
        if step is not None and step <= 0:
            raise InputError(f"{where}.step: must be positive, got {step}")
        if step is not None and num is not None:
            raise InputError(f"{where}: give step or num, not both")
        if log and low <= 0:
            raise InputError(f"{where}: a log range needs low > 0, got {low}")
        if log and step is not None:
            raise InputError(f"{where}: a log range cannot have a step (use num for a grid)")
        integer = isinstance(low, int) and isinstance(high, int) and (step is None or isinstance(step, int))
        return Range(low=low, high=high, integer=integer, log=log, step=step, num=num)
    raise InputError(
        f"{where}: expected a list of values or a range {{ low = .., high = .. }}, got {value!r} "
        "(a single value belongs in [fixed])"
    )


def check_parameter(name: str, where: str) -> None:
    """InputError unless ``name`` is ``strategy``, ``strategy.<profile key>`` or ``config.<config key>``."""
    if name == "strategy":
        return
    head, _, rest = name.partition(".")
    if head not in ("config", "strategy") or not rest:
        raise InputError(
            f"{where}: unknown parameter: names are 'config.<key>' (a key of the config file), "
            "'strategy.<key>' (a key of the strategy profile) or 'strategy' (the profile name)"
        )
    root: type[BaseModel] = Settings if head == "config" else StrategyProfile
    check_field_path(root, rest.split("."), where)


def check_field_path(root: type[BaseModel], parts: Sequence[str], where: str) -> None:
    current: list[Any] = [root]
    for depth, part in enumerate(parts):
        following: list[Any] = []
        known: set[str] = set()
        for kind in current:
            for member in _members(kind):
                if isinstance(member, tuple):  # dict[str, X]: any key, then X
                    following.append(member[1])
                    known.add("<any key>")
                elif part in member.model_fields:
                    following.append(member.model_fields[part].annotation)
                else:
                    known.update(member.model_fields)
        if not following:
            path = ".".join(parts[: depth + 1])
            names = ", ".join(sorted(known)) or "none: not a table"
            raise InputError(f"{where}: unknown parameter: no key {path!r} (keys here: {names})")
        current = following
    members = [m for kind in current for m in _members(kind)]
    if members and len(members) == len(current) and all(isinstance(m, type) for m in members):
        raise InputError(f"{where}: is a table, not a value; name one of its keys")


def _members(annotation: Any) -> list[Any]:
    """The models (or ``("dict", X)`` pairs) an annotation can hold; leaf types are dropped."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _members(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return [m for arg in typing.get_args(annotation) for m in _members(arg)]
    if origin is dict:
        return [("dict", typing.get_args(annotation)[1])]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return []
