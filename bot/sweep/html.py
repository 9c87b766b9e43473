"""The sweep's HTML summary: best points, parameter-vs-objective plots and the Pareto front
of PnL against inventory risk, as one self-contained file (figures embedded as PNG and
also written next to it). The results document is embedded as JSON
(``<script type="application/json" id="mmbot-sweep">``) for tools and tests.
"""

from __future__ import annotations

import base64
import io
import json
import math
from html import escape
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from bot.sweep.spec import Choice, Range, SweepSpec

DPI = 100
TOP = 10
_CSS = """
body { font-family: -apple-system, Segoe UI, Helvetica, Arial, sans-serif; margin: 24px; color: #212529; }
h1 { font-size: 22px; } h2 { font-size: 18px; margin-top: 28px; border-bottom: 1px solid #dee2e6; }
table { border-collapse: collapse; font-size: 13px; margin: 8px 0; }
th, td { border: 1px solid #dee2e6; padding: 3px 8px; text-align: right; }
th:first-child, td:first-child { text-align: left; } thead th { background: #f1f3f5; }
tr.pareto td:first-child { font-weight: 600; } img { max-width: 100%; border: 1px solid #e9ecef; }
.banner { background: #fff3bf; border: 1px solid #fab005; padding: 8px 12px; margin: 8px 0; }
.note { color: #495057; font-size: 12px; } code { background: #f8f9fa; padding: 1px 4px; }
"""


def _num(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    return f"{value:.6g}"


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


def _img(png: bytes, title: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<figure><img alt="{escape(title)}" title="{escape(title)}" src="data:image/png;base64,{data}"></figure>'


def params_figure(spec: SweepSpec, points: list[dict[str, Any]]) -> bytes:
    """One panel per parameter: its value (x) against the point's objective (y)."""
    names = list(spec.params)
    columns = min(3, len(names))
    rows = math.ceil(len(names) / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(4.6 * columns, 3.4 * rows), squeeze=False)
    scored = [p for p in points if p["objective"] is not None]
    best = scored[0] if scored else None
    for index, name in enumerate(names):
        ax = axes[index // columns][index % columns]
        domain = spec.params[name]
        values = [p["params"].get(name) for p in scored]
        numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
        if numeric:
            xs: list[float] = [float(v) for v in values]
        else:
            categories = [
                str(v)
                for v in (domain.values if isinstance(domain, Choice) else sorted(set(values), key=str))
            ]
            xs = [float(categories.index(str(v))) for v in values]
            ax.set_xticks(range(len(categories)), categories, rotation=20)
        ys = [float(p["objective"]) for p in scored]
        ax.scatter(xs, ys, s=22, color="#1971c2", alpha=0.8)
        if best is not None:  # points come ranked: the best is the first scored one
            ax.scatter([xs[0]], [ys[0]], s=120, marker="*", color="#e03131", zorder=3, label="best")
        positive = numeric and xs and min(xs) > 0
        if positive and ((isinstance(domain, Range) and domain.log) or (max(xs) / min(xs) >= 100)):
            ax.set_xscale("log")
        ax.set_title(name, fontsize=10)
        ax.set_ylabel(spec.objective.name, fontsize=9)
        ax.grid(alpha=0.3)
    for index in range(len(names), rows * columns):
        axes[index // columns][index % columns].set_visible(False)
    figure.tight_layout()
    return _png(figure)


def pareto_figure(points: list[dict[str, Any]], quote: str = "quote") -> bytes:
    """Mean total PnL against mean inventory risk; the non-dominated points joined."""
    figure, ax = plt.subplots(figsize=(7.5, 4.8))
    scored = [p for p in points if p["pnl_total"] is not None and p["inventory_risk"] is not None]
    ax.scatter(
        [p["inventory_risk"] for p in scored],
        [p["pnl_total"] for p in scored],
        s=20,
        color="#adb5bd",
        label="points",
    )
    front = sorted((p for p in scored if p["pareto"]), key=lambda p: p["inventory_risk"])
    if front:
        ax.plot(
            [p["inventory_risk"] for p in front],
            [p["pnl_total"] for p in front],
            "o-",
            color="#e03131",
            label="Pareto front",
            drawstyle="steps-post",
        )
        for p in front:
            ax.annotate(
                p["label"],
                (p["inventory_risk"], p["pnl_total"]),
                fontsize=8,
                xytext=(4, 4),
                textcoords="offset points",
            )
    ax.set_xlabel(f"inventory risk: RMS of inventory at mid ({quote}, lower is better)")
    ax.set_ylabel(f"total PnL ({quote}, higher is better)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    figure.tight_layout()
    return _png(figure)


def _points_table(spec: SweepSpec, points: list[dict[str, Any]]) -> str:
    names = list(spec.params)
    head = "".join(f"<th>{escape(n)}</th>" for n in names)
    body = []
    for rank, p in enumerate(points, 1):
        trials = " ".join(f'<a href="trials/{escape(t)}/">{escape(t)}</a>' for t in p["trials"])
        cells = "".join(f"<td>{escape(_num(p['params'].get(n)))}</td>" for n in names)
        body.append(
            f'<tr class="{"pareto" if p["pareto"] else ""}"><td>{rank}. {escape(p["label"])}{" *" if p["pareto"] else ""}</td>'
            f"{cells}<td>{_num(p['objective'])}</td><td>{_num(p['pnl_total'])}</td>"
            f"<td>{_num(p['inventory_risk'])}</td><td>{trials}</td></tr>"
        )
    return (
        f"<table><thead><tr><th>point</th>{head}<th>{escape(spec.objective.name)}</th><th>PnL</th>"
        f"<th>inventory risk</th><th>trials</th></tr></thead><tbody>{''.join(body)}</tbody></table>"
    )


def write_html(out: Path, spec: SweepSpec, document: dict[str, Any]) -> Path:
    points: list[dict[str, Any]] = document["points"]
    path = out / "summary.html"
    figures = []
    if any(p["objective"] is not None for p in points):
        png = params_figure(spec, points)
        (out / "summary-params.png").write_bytes(png)
        figures.append(("Parameter vs objective", png))
    png = pareto_figure(points)
    (out / "summary-pareto.png").write_bytes(png)
    figures.append(("Pareto front: PnL vs inventory risk", png))
    banner = ""
    if not document["complete"]:
        banner = (
            f'<div class="banner">Incomplete: {document["runs_done"]} of {document["runs_total"]} trials finished. '
            f"Continue with <code>mmbot sweep {escape(str(spec.path))} --out {escape(str(out))} --resume</code>.</div>"
        )
    failed = ""
    if document["failed"]:
        errors = {r["trial"]: r["error"] for r in document["runs"]}
        items = "".join(f"<li>{escape(t)}: {escape(str(errors.get(t)))}</li>" for t in document["failed"])
        failed = f"<h2>Failed trials</h2><ul>{items}</ul>"
    best = document["best"]
    best_text = (
        f"<p>Best point <b>{escape(best['label'])}</b>: {escape(spec.objective.name)} = {_num(best['objective'])} "
        f"({escape(spec.aggregate)} over recordings). Open a trial: <code>mmbot report {escape(str(out))}/trials/"
        f"{escape(best['trials'][0])}</code></p>"
        if best
        else "<p>No point has an objective value yet.</p>"
    )
    recordings = "".join(
        f"<li>{escape(r['name'])}: {escape(', '.join(r['sources']))}</li>" for r in document["recordings"]
    )
    data = json.dumps(document, sort_keys=True, default=str).replace("</", "<\\/")
    title = f"mmbot sweep: {spec.name}"
    html = (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{escape(title)}</title><style>{_CSS}</style></head>"
        f"<body><h1>{escape(title)}</h1>{banner}"
        f'<p class="note">method {escape(spec.method)}; objective {escape(spec.objective.name)} '
        f"({escape(spec.direction)}; {escape(spec.objective.description)}; reads {escape(spec.objective.needs)}); "
        f"{document['runs_done']} of {document['runs_total']} trials; recordings:</p><ul>{recordings}</ul>"
        f"{best_text}<h2>Best points</h2>{_points_table(spec, points[:TOP])}"
        + "".join(f"<h2>{escape(t)}</h2>{_img(png, t)}" for t, png in figures)
        + f'<h2>All points</h2><p class="note">* = on the Pareto front.</p>{_points_table(spec, points)}'
        f"{failed}"
        f'<script type="application/json" id="mmbot-sweep">{data}</script></body></html>\n'
    )
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(html)
    tmp.replace(path)
    return path
