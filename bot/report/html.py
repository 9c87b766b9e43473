"""Building the report: one self-contained HTML file (figures embedded as base64 PNG)
plus the same PNGs written next to it.

:func:`build_report` is what ``mmbot report`` calls. The HTML also embeds the summary
numbers as JSON (``<script type="application/json" id="mmbot-summary">``) so that
tools and tests read exactly what the table shows.
"""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any

from bot.errors import InputError
from bot.report import deal as deal_report
from bot.report import metrics, obligations_html, plots
from bot.report.load import PNL_COMPONENTS, EngineRun, load_runs
from bot.report.obligations import load_journal

_CSS = """
body { font-family: -apple-system, Segoe UI, Helvetica, Arial, sans-serif; margin: 24px; color: #212529; }
h1 { font-size: 22px; } h2 { font-size: 18px; margin-top: 32px; border-bottom: 1px solid #dee2e6; }
table { border-collapse: collapse; font-size: 13px; margin: 8px 0; }
th, td { border: 1px solid #dee2e6; padding: 3px 8px; text-align: right; }
th:first-child, td:first-child { text-align: left; } thead th { background: #f1f3f5; }
td.group { background: #f8f9fa; font-weight: 600; text-align: left; }
img { max-width: 100%; border: 1px solid #e9ecef; margin: 6px 0; }
.banner { background: #fff3bf; border: 1px solid #fab005; padding: 8px 12px; margin: 8px 0; }
.note { color: #495057; font-size: 12px; } pre { background: #f8f9fa; padding: 8px; font-size: 12px; overflow-x: auto; }
"""


def _utc(ts: int) -> str:
    return datetime.fromtimestamp(ts / 1e9, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _num(value: Any, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, int):
        return f"{value:,}"
    number = float(value)
    if abs(number) >= 1000:
        return f"{number:,.2f}"
    return f"{number:,.{digits}f}"


def _pct(value: Any) -> str:
    return "-" if value is None else f"{float(value) * 100:.2f} %"


def _duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.2f} h"
    if seconds >= 60:
        return f"{seconds / 60:.1f} min"
    return f"{seconds:.1f} s"


def incomplete(run: EngineRun) -> bool:
    summary = run.summary or {}
    return (
        summary.get("complete") is False
        or summary.get("incomplete") is True
        or str(summary.get("status", "")).lower() in ("incomplete", "interrupted", "failed")
    )


def _summary_rows(summaries: list[dict[str, Any]]) -> list[tuple[str, list[str]] | str]:
    rows: list[tuple[str, list[str]] | str] = []

    def row(name: str, cells: list[str]) -> None:
        rows.append((name, cells))

    row("instrument", [s["instrument"] for s in summaries])
    row("span", [f"{_utc(s['start_ts'])} + {_duration(s['duration_s'])}" for s in summaries])
    rows.append("PnL (quote currency)")
    row("total PnL", [_num(s["pnl"]["total"]) for s in summaries])
    for name in PNL_COMPONENTS:
        row(f"&nbsp;&nbsp;{name.replace('_', ' ')}", [_num(s["pnl"][name]) for s in summaries])
    row("PnL per hour", [_num(s["pnl_per_hour"]) for s in summaries])
    row(
        "Sharpe (1-min PnL changes, annualised)",
        [s["sharpe_note"] if s.get("sharpe_note") else _num(s["sharpe"], 2) for s in summaries],
    )
    row("max drawdown", [_num(s["max_drawdown"]) for s in summaries])
    row("max drawdown, % of equity at peak", [_num(s["max_drawdown_pct"], 3) for s in summaries])
    row("final equity", [_num(s["final_equity"]) for s in summaries])
    rows.append("Orders and fills")
    row("orders sent", [_num(s["orders"]) for s in summaries])
    row("cancels sent", [_num(s["cancels"]) for s in summaries])
    row("rejected", [_num(s["rejects"]) for s in summaries])
    row("fills", [_num(s["fills"]) for s in summaries])
    row("fill rate (fills / orders)", [_pct(s["fill_rate"]) for s in summaries])
    row("maker fills", [_num(s["maker_fills"]) for s in summaries])
    row("traded notional", [_num(s["notional"]) for s in summaries])
    row("inventory std (base)", [_num(s["inventory_std"], 6) for s in summaries])
    row("max |inventory| (base)", [_num(s["max_inventory"], 6) for s in summaries])
    row("final inventory (base)", [_num(s["final_inventory"], 6) for s in summaries])
    row("time quoted two-sided", [_pct(s["two_sided_share"]) for s in summaries])
    rows.append("Markouts after fills (positive = good for us)")
    for horizon in metrics.MARKOUT_HORIZONS_S:
        key = f"{horizon}s"
        for side, label in (("", "all"), ("buy", "buys"), ("sell", "sells")):
            row(
                f"{horizon} s {label}: mean bps / total quote (n)",
                [_markout_cell(s["markouts"][key][side] if side else s["markouts"][key]) for s in summaries],
            )
    rows.append("Time in regime")
    regimes = list(dict.fromkeys(r for s in summaries for r in s["time_in_regime_s"]))
    for regime in regimes:
        cells = []
        for s in summaries:
            seconds = s["time_in_regime_s"].get(regime, 0.0)
            share = seconds / s["duration_s"] * 100 if s["duration_s"] else 0.0
            cells.append(f"{_duration(seconds)} ({share:.1f} %)")
        row(regime or "(none)", cells)
    row("regime transitions", [_num(s["regime_transitions"]) for s in summaries])
    row("strategy switches", [_num(s["strategy_switches"]) for s in summaries])
    return rows


def _markout_cell(stats: dict[str, Any]) -> str:
    return f"{_num(stats['mean_bps'], 3)} / {_num(stats['total'])} ({stats['n']})"


def _table(runs: list[EngineRun], summaries: list[dict[str, Any]]) -> str:
    head = "".join(f"<th>{escape(run.label)}</th>" for run in runs)
    body = []
    for item in _summary_rows(summaries):
        if isinstance(item, str):
            body.append(f'<tr><td class="group" colspan="{len(runs) + 1}">{escape(item)}</td></tr>')
        else:
            name, cells = item
            body.append(f"<tr><td>{name}</td>" + "".join(f"<td>{escape(c)}</td>" for c in cells) + "</tr>")
    return f"<table><thead><tr><th>metric</th>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _transitions(run: EngineRun, limit: int = 200) -> str:
    if not run.transitions:
        return '<p class="note">No regime transitions.</p>'
    rows = []
    for t in run.transitions[:limit]:
        reasons = "; ".join(
            " ".join(
                str(r.get(k, ""))
                for k in ("rule", "metric", "observed", "op", "threshold", "unit")
                if r.get(k) not in (None, "")
            )
            for r in t.get("reasons", [])
            if isinstance(r, dict)
        )
        ts = t.get("ts")
        rows.append(
            f"<tr><td>{escape(_utc(ts) if isinstance(ts, int) else '?')}</td><td>{escape(str(t.get('from_state', '')))}</td>"
            f"<td>{escape(str(t.get('to_state', '')))}</td><td>{escape(str(t.get('rule', '')))}</td>"
            f"<td>{escape(reasons)}</td></tr>"
        )
    more = (
        f'<p class="note">{len(run.transitions) - limit} more not shown.</p>'
        if len(run.transitions) > limit
        else ""
    )
    return (
        "<table><thead><tr><th>time</th><th>from</th><th>to</th><th>rule</th><th>reasons</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>{more}"
    )


def _switches(run: EngineRun) -> str:
    if not run.switches:
        return ""
    rows = "".join(
        f"<tr><td>{escape(_utc(ts))}</td><td>{escape(json.dumps(payload, sort_keys=True))}</td></tr>"
        for ts, payload in run.switches
    )
    return f"<h3>Strategy switches</h3><table><thead><tr><th>time</th><th>switch</th></tr></thead><tbody>{rows}</tbody></table>"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "run"


def _img(png: bytes, title: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<figure><img alt="{escape(title)}" title="{escape(title)}" src="data:image/png;base64,{data}"></figure>'


def default_output(run_dirs: list[Path]) -> Path:
    if len(run_dirs) == 1:
        return run_dirs[0] / "report.html"
    return Path("report.html")


def build_report(
    run_dirs: list[Path], out: Path | None = None, *, deals: list[deal_report.DealHistory] | None = None
) -> tuple[Path, list[Path], list[dict[str, Any]]]:
    """Write the HTML report (and its PNGs) for ``run_dirs``; returns (html path, png
    paths, per-engine summaries). The deals found in the run directories are appended to
    ``deals`` when given."""
    if not run_dirs:
        raise InputError("no run directory given")
    runs = load_runs([Path(d) for d in run_dirs])
    out = Path(out) if out is not None else default_output([Path(d) for d in run_dirs])
    if out.suffix.lower() not in (".html", ".htm"):
        raise InputError(f"{out}: the report is an HTML file; give --out FILE.html")
    if out.exists() and out.is_dir():
        raise InputError(f"{out}: is a directory; give --out FILE.html")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{out.parent}: cannot create the output directory: {exc.strerror or exc}") from None
    summaries = [metrics.summarize(run) for run in runs]
    pngs: list[Path] = []

    def save(name: str, png: bytes) -> None:
        path = out.with_name(f"{out.stem}-{name}.png")
        try:
            path.write_bytes(png)
        except OSError as exc:
            raise InputError(f"{path}: cannot write: {exc.strerror or exc}") from None
        pngs.append(path)

    sections = []
    if len(runs) > 1:
        png = plots.equity_comparison(runs)
        save("compare-pnl", png)
        sections.append("<h2>Comparison</h2>" + _img(png, "PnL of the compared runs"))
    for run in runs:
        parts = [f"<h2>{escape(run.label)}</h2>"]
        parts.append(
            f'<p class="note">journal {escape(str(run.journal))}; instrument {escape(run.samples.instrument)}; '
            f"{len(run.samples)} samples, {len(run.fills)} fills</p>"
        )
        if run.other_instruments:
            parts.append(
                f'<p class="note">Also sampled, not plotted: {escape(", ".join(run.other_instruments))}</p>'
            )
        if incomplete(run):
            parts.append(
                '<div class="banner">This run is marked <b>incomplete</b> (stopped before the end of its input).</div>'
            )
        slug = _slug(run.label) if len(runs) > 1 else ""
        for suffix, title, draw in plots.FIGURES:
            title = plots.figure_title(suffix, title, run)
            png = draw(run)
            save(f"{slug}-{suffix}" if slug else suffix, png)
            parts.append(f"<h3>{escape(title)}</h3>" + _img(png, title))
        parts.append("<h3>Regime transitions</h3>" + _transitions(run))
        parts.append(_switches(run))
        obligation = load_journal(run.journal, samples=True, breaches=100_000)
        if obligation is not None:
            png = obligations_html.timeline_png(obligation, run.label) if obligation.samples else None
            if png is not None:
                save(f"{slug}-obligations" if slug else "obligations", png)
            parts.append(obligations_html.section(obligation, png, _img))
            summaries[runs.index(run)]["obligation"] = obligations_html.summary(obligation)
        for name, value in (("config.json", run.config), ("summary.json", run.summary)):
            if value is not None:
                text = escape(json.dumps(value, indent=2, sort_keys=True, default=str))
                parts.append(f"<details><summary>{name}</summary><pre>{text}</pre></details>")
        sections.append("".join(parts))
    deal_summaries = []
    for run_dir in run_dirs:
        summary_json = runs[0].summary if len(run_dirs) == 1 and runs else None
        for history in deal_report.load_deals(Path(run_dir), summary_json):
            slug = _slug(f"{Path(run_dir).name}-{history.name}") if len(run_dirs) > 1 else _slug(history.name)
            images = deal_report.figures(history)
            for key, png in images.items():
                save(f"deal-{slug}-{key}", png)
            sections.append(deal_report.section(history, images, _img))
            deal_summaries.append({"run": str(run_dir), **deal_report.summary(history)})
            if deals is not None:
                deals.append(history)
    banner = "".join(
        f'<div class="banner">{escape(run.label)}: incomplete run.</div>' for run in runs if incomplete(run)
    )
    definitions = escape(metrics.__doc__ or "")
    data = json.dumps(summaries, sort_keys=True).replace("</", "<\\/")
    deal_data = json.dumps(deal_summaries, sort_keys=True, default=str).replace("</", "<\\/")
    title = "mmbot report: " + ", ".join(run.label for run in runs)
    document = (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{escape(title)}</title><style>{_CSS}</style></head>"
        f"<body><h1>{escape(title)}</h1>{banner}<h2>Summary</h2>{_table(runs, summaries)}"
        f'<p class="note">Sharpe sampling: {escape(summaries[0]["sharpe_sampling"])}. Definitions at the end.</p>'
        f"{''.join(sections)}<h2>Definitions</h2><pre>{definitions}</pre>"
        f'<script type="application/json" id="mmbot-summary">{data}</script>'
        f'<script type="application/json" id="mmbot-deals">{deal_data}</script></body></html>\n'
    )
    try:
        out.write_text(document)
    except OSError as exc:
        raise InputError(f"{out}: cannot write: {exc.strerror or exc}") from None
    return out, pngs, summaries


def embedded_deals(html_text: str) -> list[dict[str, Any]]:
    """The deal summaries embedded in a report (statement, inventory, delta, phases)."""
    match = re.search(r'<script type="application/json" id="mmbot-deals">(.*?)</script>', html_text, re.S)
    if match is None:
        return []
    value: list[dict[str, Any]] = json.loads(match.group(1).replace("<\\/", "</"))
    return value


def embedded_summary(html_text: str) -> list[dict[str, Any]]:
    """The summaries embedded in a report (for tools and tests)."""
    match = re.search(r'<script type="application/json" id="mmbot-summary">(.*?)</script>', html_text, re.S)
    if match is None:
        raise ValueError("no embedded summary in this HTML")
    value: list[dict[str, Any]] = json.loads(match.group(1).replace("<\\/", "</"))
    return value
