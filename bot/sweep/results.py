"""The results table: trials combined into points, ranked, with the Pareto front; written
as JSON and CSV (atomically, after every finished trial, so an interrupted sweep still
has its table).

A point's objective combines its recordings with ``sweep.aggregate`` (mean, sum, min,
max); it is None if any recording's value is None or failed. Points rank by objective
in the sweep's direction (None last, then by point number). The Pareto front is over
points with both numbers: mean total PnL (higher is better) against mean inventory risk
(lower is better, :mod:`bot.sweep.measure`); a point is on it when no other point has
at least its PnL and at most its risk, one of them strictly.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.sweep.objectives import lookup
from bot.sweep.spec import SweepSpec
from bot.sweep.trial import write_json

RUN_COLUMNS = (
    "pnl_total",
    "inventory_risk",
    "sharpe",
    "max_drawdown",
    "fills",
    "orders",
    "fill_rate",
    "quote_uptime",
    "markout_pnl.1s",
    "markout_pnl.10s",
    "markout_pnl.60s",
    "inventory_std",
    "events",
)


@dataclass
class PointResult:
    point: int
    params: dict[str, Any]
    objective: float | None
    pnl: float | None
    inventory_risk: float | None
    runs: list[dict[str, Any]] = field(default_factory=list)
    complete: bool = False
    pareto: bool = False

    @property
    def label(self) -> str:
        return f"p{self.point:04d}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "point": self.point,
            "label": self.label,
            "params": self.params,
            "objective": self.objective,
            "pnl_total": self.pnl,
            "inventory_risk": self.inventory_risk,
            "complete": self.complete,
            "pareto": self.pareto,
            "trials": [r["trial"] for r in self.runs],
        }


def combine(values: Sequence[float | None], how: str) -> float | None:
    if not values or any(v is None for v in values):
        return None
    numbers = [float(v) for v in values if v is not None]
    if how == "sum":
        return sum(numbers)
    if how == "min":
        return min(numbers)
    if how == "max":
        return max(numbers)
    return sum(numbers) / len(numbers)


def points_of(spec: SweepSpec, records: Mapping[str, dict[str, Any]]) -> list[PointResult]:
    """Finished trials grouped by point, ranked best first, Pareto front marked."""
    by_point: dict[int, list[dict[str, Any]]] = {}
    for record in records.values():
        by_point.setdefault(int(record["point"]), []).append(record)
    wanted = len(spec.recordings)
    points = []
    for index, runs in sorted(by_point.items()):
        runs.sort(key=lambda r: r["trial"])
        rows = [r.get("row") or {} for r in runs]
        complete = len(runs) == wanted
        ok = complete and all(r["status"] == "complete" for r in runs)
        points.append(
            PointResult(
                point=index,
                params=runs[0]["params"],
                objective=combine([r.get("objective") for r in runs], spec.aggregate) if ok else None,
                pnl=combine([lookup(row, "pnl_total") for row in rows], "mean") if ok else None,
                inventory_risk=combine([lookup(row, "inventory_risk") for row in rows], "mean")
                if ok
                else None,
                runs=runs,
                complete=complete,
            )
        )
    mark_pareto(points)
    sign = -1.0 if spec.direction == "maximize" else 1.0
    points.sort(key=lambda p: (p.objective is None, sign * (p.objective or 0.0), p.point))
    return points


def mark_pareto(points: Sequence[PointResult]) -> None:
    candidates = [p for p in points if p.pnl is not None and p.inventory_risk is not None]
    for p in candidates:
        assert p.pnl is not None and p.inventory_risk is not None
        p.pareto = not any(
            q is not p
            and q.pnl is not None
            and q.inventory_risk is not None
            and q.pnl >= p.pnl
            and q.inventory_risk <= p.inventory_risk
            and (q.pnl > p.pnl or q.inventory_risk < p.inventory_risk)
            for q in candidates
        )


def run_entry(record: Mapping[str, Any]) -> dict[str, Any]:
    """One trial as a flat table row."""
    row = record.get("row") or {}
    entry: dict[str, Any] = {
        "trial": record["trial"],
        "point": record["point"],
        "recording": record["recording"],
        "status": record["status"],
        "objective": record.get("objective"),
    }
    entry.update({f"param:{k}": v for k, v in record["params"].items()})
    entry.update({column: lookup(row, column) for column in RUN_COLUMNS})
    entry["error"] = record.get("error") or row.get("metrics_error")
    entry["run_dir"] = f"trials/{record['trial']}"
    return entry


def write_results(
    out: Path, spec: SweepSpec, records: Mapping[str, dict[str, Any]], total_runs: int, *, complete: bool
) -> dict[str, Any]:
    points = points_of(spec, records)
    best = next((p for p in points if p.objective is not None), None)
    document: dict[str, Any] = {
        "sweep": spec.name,
        "method": spec.method,
        "objective": spec.objective.name,
        "direction": spec.direction,
        "aggregate": spec.aggregate,
        "recordings": [{"name": r.name, "sources": list(r.sources)} for r in spec.recordings],
        "params": list(spec.params),
        "complete": complete,
        "runs_total": total_runs,
        "runs_done": len(records),
        "failed": sorted(t for t, r in records.items() if r["status"] != "complete"),
        "best": best.as_dict() if best else None,
        "pareto": [p.label for p in sorted(points, key=lambda p: p.inventory_risk or 0.0) if p.pareto],
        "points": [p.as_dict() for p in points],
        "runs": [run_entry(records[t]) for t in sorted(records)],
    }
    write_json(out / "results.json", document)
    _write_csv(out / "results.csv", document["runs"])
    _write_csv(
        out / "points.csv",
        [
            {
                "point": p.label,
                **{f"param:{k}": v for k, v in p.params.items()},
                "objective": p.objective,
                "pnl_total": p.pnl,
                "inventory_risk": p.inventory_risk,
                "pareto": p.pareto,
                "complete": p.complete,
            }
            for p in points
        ],
    )
    return document


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    columns: list[str] = list(dict.fromkeys(key for row in rows for key in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(buffer.getvalue())
    os.replace(tmp, path)
