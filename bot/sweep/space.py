"""Which points a sweep runs: a grid, random draws, or Optuna's TPE sampler.

Every planner is deterministic for a spec (and its ``sweep.seed``) whatever runs the
trials: points come in batches, and the next batch is chosen only after every trial of
the previous one has reported, in point order. A grid or random sweep is one batch;
TPE proposes ``sweep.batch`` points per round (with the constant-liar strategy for the
points of one round), so ``--workers`` and ``--ray`` change only the speed, never the
points. Re-running the planner and feeding it the stored results (``--resume``) gives
the same points again.
"""

from __future__ import annotations

import itertools
import math
import warnings
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from bot.errors import InputError
from bot.sweep.spec import Choice, Domain, Range, SweepSpec, tidy


@dataclass(frozen=True)
class Point:
    index: int
    params: dict[str, Any]

    @property
    def label(self) -> str:
        return f"p{self.index:04d}"


class Planner(Protocol):
    total: int
    """How many points the sweep will run."""

    def next_batch(self) -> list[Point]:
        """The next points ([] when the sweep is done)."""

    def tell(self, results: list[tuple[Point, float | None]]) -> None:
        """The objective of every point of the last batch (None: undefined or failed)."""


def make_planner(spec: SweepSpec) -> Planner:
    if spec.method == "grid":
        return ListPlanner(grid_points(spec.params))
    if spec.method == "random":
        assert spec.trials is not None
        return ListPlanner(random_points(spec.params, spec.trials, spec.seed))
    return TpePlanner(spec)


class ListPlanner:
    """All points known up front (grid, random)."""

    def __init__(self, points: list[dict[str, Any]]) -> None:
        self.points = [Point(i, p) for i, p in enumerate(points)]
        self.total = len(self.points)
        self._given = False

    def next_batch(self) -> list[Point]:
        if self._given:
            return []
        self._given = True
        return list(self.points)

    def tell(self, results: list[tuple[Point, float | None]]) -> None:
        """Nothing to learn."""


def grid_points(params: dict[str, Domain]) -> list[dict[str, Any]]:
    """The cartesian product, in spec order (the last parameter varies fastest)."""
    names = list(params)
    axes = [params[name].grid() for name in names]
    return [dict(zip(names, values, strict=True)) for values in itertools.product(*axes)]


def random_points(params: dict[str, Domain], trials: int, seed: int) -> list[dict[str, Any]]:
    """``trials`` independent draws: uniform over a list or a range (log-uniform if ``log``)."""
    rng = np.random.Generator(np.random.PCG64(seed))
    return [{name: _draw(rng, domain) for name, domain in params.items()} for _ in range(trials)]


def _draw(rng: np.random.Generator, domain: Domain) -> Any:
    if isinstance(domain, Choice):
        return domain.values[int(rng.integers(len(domain.values)))]
    if domain.step is not None:
        steps = math.floor((domain.high - domain.low) / domain.step + 1e-9)
        value = domain.low + domain.step * int(rng.integers(steps + 1))
        return int(value) if domain.integer else tidy(value)
    if domain.integer:
        if domain.log:
            drawn = round(math.exp(rng.uniform(math.log(domain.low), math.log(domain.high))))
            return int(min(domain.high, max(domain.low, drawn)))
        return int(rng.integers(int(domain.low), int(domain.high) + 1))
    if domain.log:
        return tidy(math.exp(rng.uniform(math.log(domain.low), math.log(domain.high))))
    return tidy(float(rng.uniform(domain.low, domain.high)))


class TpePlanner:
    """Optuna's TPE sampler driven by ask/tell in fixed batches (see module doc)."""

    def __init__(self, spec: SweepSpec) -> None:
        try:
            import optuna
        except ImportError:
            raise InputError(
                f"{spec.path}: sweep.method: 'tpe' needs Optuna; install it with pip install 'mmbot[optuna]'"
            ) from None
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        assert spec.trials is not None
        self.total = spec.trials
        self.batch = spec.batch
        self.distributions = {name: _distribution(optuna, domain) for name, domain in spec.params.items()}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            sampler = optuna.samplers.TPESampler(
                seed=spec.seed, n_startup_trials=spec.startup_trials, multivariate=True, constant_liar=True
            )
        self.study = optuna.create_study(direction=spec.direction, sampler=sampler)
        self._asked = 0
        self._pending: dict[int, Any] = {}

    def next_batch(self) -> list[Point]:
        if self._pending:
            raise RuntimeError("tell() the results of the last batch first")
        points = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for _ in range(min(self.batch, self.total - self._asked)):
                trial = self.study.ask(self.distributions)
                index = self._asked
                self._asked += 1
                self._pending[index] = trial
                points.append(Point(index, {name: _plain(trial.params[name]) for name in self.distributions}))
        return points

    def tell(self, results: list[tuple[Point, float | None]]) -> None:
        from optuna.trial import TrialState

        for point, value in sorted(results, key=lambda item: item[0].index):
            trial = self._pending.pop(point.index)
            if value is None:
                self.study.tell(trial, state=TrialState.FAIL)
            else:
                self.study.tell(trial, value)


def _distribution(optuna: Any, domain: Domain) -> Any:
    if isinstance(domain, Choice):
        return optuna.distributions.CategoricalDistribution(list(domain.values))
    assert isinstance(domain, Range)
    if domain.integer:
        return optuna.distributions.IntDistribution(
            int(domain.low), int(domain.high), log=domain.log, step=int(domain.step or 1)
        )
    return optuna.distributions.FloatDistribution(domain.low, domain.high, log=domain.log, step=domain.step)


def _plain(value: Any) -> Any:
    if isinstance(value, float):
        return tidy(value)
    if isinstance(value, np.generic):
        return value.item()
    return value
