"""The report's deal section: inventory per venue, the net delta's components, the deal statement.

Reads the deal desk's notes from its hedge account's journal (``<run_dir>/deal/<name>-hedge.sqlite``,
read-only): ``deal_sample`` every ``[deal] sample_interval_s`` (the delta book, every
location's inventory, the statement's channels), the phases and steps, and the exact
final statement of ``deal_closed`` (or, while the deal runs, ``summary.json``'s, else
the last sample's). :func:`section` renders the figures and tables; :func:`text` the
statement as text for the terminal.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np

from bot.errors import InputError
from bot.hedge.statement import CHANNELS, format_statement
from bot.paper.records import NoteRecord
from bot.report.plots import _dates, _png, _time_axis
from bot.store.journal import Journal

DEAL_DIR = "deal"
GROUPS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("CEX market making", ("cex_spread", "cex_rebates", "cex_fees", "cex_inventory"), "#2b8a3e"),
    ("deal trades", ("sale", "exercise_sale", "buyback", "unwind", "deal_inventory", "other"), "#e8590c"),
    ("pool", ("lp_fees", "impermanent_loss", "lp_delta", "lp_entry_exit"), "#845ef7"),
    ("perp hedge + funding", ("hedge", "funding"), "#1c7ed6"),
    ("calls + exercise", ("options", "exercise"), "#f59f00"),
    ("loan", ("loan", "loan_settlement"), "#c92a2a"),
)


@dataclass
class DealHistory:
    name: str
    journal: Path
    samples: list[dict[str, Any]] = field(default_factory=list)
    phases: list[dict[str, Any]] = field(default_factory=list)
    steps: list[dict[str, Any]] = field(default_factory=list)
    start: dict[str, Any] | None = None
    statement: dict[str, Any] | None = None
    statement_source: str = ""
    closed: bool = False
    summary: dict[str, Any] | None = None

    @property
    def last(self) -> dict[str, Any] | None:
        return self.samples[-1] if self.samples else None


def find_deals(run_dir: Path) -> list[Path]:
    directory = Path(run_dir) / DEAL_DIR
    return sorted(directory.glob("*-hedge.sqlite")) if directory.is_dir() else []


def load_deal_history(path: Path, summary: dict[str, Any] | None = None) -> DealHistory:
    name = path.name.removesuffix("-hedge.sqlite")
    history = DealHistory(name=name, journal=path, summary=(summary or {}).get("deal"))
    with Journal.open(path, readonly=True) as journal:
        for _seq, _position, _ts, record in journal.records():
            if not isinstance(record, NoteRecord):
                continue
            kind, payload = record.kind, record.payload
            if kind == "deal_sample":
                history.samples.append(payload)
            elif kind == "deal_phase":
                history.phases.append(payload)
            elif kind == "deal_step":
                history.steps.append(payload)
            elif kind == "deal_start":
                history.start = payload
                if payload.get("deal"):
                    history.name = f"{payload['deal']} ({name})"
            elif kind == "deal_closed":
                history.closed = True
                history.statement = payload["statement"]
                history.statement_source = "exact, at the deal's close"
    if history.statement is None and history.summary is not None:
        history.statement = history.summary.get("statement")
        history.statement_source = "exact, at the end of the run (summary.json)"
    if history.statement is None and history.last is not None:
        last = history.last
        channels = {k: str(v) for k, v in last["statement"].items()}
        history.statement = {
            "quote": "",
            "channels": channels,
            "total": str(last["pnl"]),
            "ledger_pnl": str(last["ledger_pnl"]),
            "difference": str(float(last["pnl"]) - float(last["ledger_pnl"])),
        }
        history.statement_source = "the last sample (floats; the exact statement is written at the close)"
    return history


def load_deals(run_dir: Path, summary: dict[str, Any] | None = None) -> list[DealHistory]:
    try:
        return [load_deal_history(path, summary) for path in find_deals(run_dir)]
    except InputError:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"{run_dir}/{DEAL_DIR}: unreadable deal journal: {exc}") from None


def _series(history: DealHistory, pick: Any) -> tuple[np.ndarray, np.ndarray]:
    rows = [(s["ts"], pick(s)) for s in history.samples if s.get("delta")]
    ts = np.array([r[0] for r in rows], dtype=np.int64)
    values = np.array([np.nan if r[1] is None else float(r[1]) for r in rows], dtype=float)
    return ts, values


def delta_png(history: DealHistory) -> bytes:
    """The net delta's components over time, and the hedged net against the band."""
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(11, 6.4), sharex=True, height_ratios=(1.4, 1.0))
    parts = (
        ("spot (all venues)", lambda s: s["delta"]["spot_total"], "#2b8a3e"),
        ("pool position", lambda s: s["delta"]["lp"], "#845ef7"),
        ("calls", lambda s: s["delta"]["options"], "#f59f00"),
        ("perp", lambda s: s["delta"]["perp"], "#1c7ed6"),
        ("loan", lambda s: s["delta"]["loan"], "#c92a2a"),
        ("initial sale still to sell (excluded, -)", lambda s: -s["delta"]["in_programs"], "#adb5bd"),
    )
    for label, pick, colour in parts:
        ts, values = _series(history, pick)
        if len(ts) and np.nanmax(np.abs(values)) > 0:
            top.plot(_dates(ts), values, lw=0.9, color=colour, label=label)
    top.set_ylabel("tokens")
    top.legend(loc="upper right", fontsize=8, ncols=3)
    ts, net = _series(history, lambda s: s["delta"]["hedged_net"])
    band = float(history.samples[-1].get("band", 0)) if history.samples else 0.0
    bottom.plot(_dates(ts), net, lw=0.8, color="#212529", label="net delta the hedger steers")
    if band:
        bottom.axhline(band, color="#c92a2a", ls="--", lw=0.8, label=f"band +-{band:,.0f}")
        bottom.axhline(-band, color="#c92a2a", ls="--", lw=0.8)
        finite = net[np.isfinite(net)]
        if finite.size:
            limit = max(band * 4, float(np.percentile(np.abs(finite), 98)) * 1.2)
            bottom.set_ylim(-limit, limit)
    bottom.set_ylabel("tokens")
    bottom.legend(loc="upper right", fontsize=8)
    for axis in (top, bottom):
        axis.grid(alpha=0.3)
    _time_axis(bottom)
    figure.suptitle(f"deal {history.name}: net delta across venues", fontsize=11)
    return _png(figure)


def inventory_png(history: DealHistory) -> bytes:
    figure, axis = plt.subplots(figsize=(11, 3.8))
    locations = list(dict.fromkeys(k for s in history.samples if s.get("delta") for k in s["delta"]["spot"]))
    for location in locations:
        ts, values = _series(history, lambda s, loc=location: s["delta"]["spot"].get(loc))
        axis.plot(_dates(ts), values, lw=0.9, label=location)
    ts, values = _series(history, lambda s: s["delta"]["lp"])
    axis.plot(_dates(ts), values, lw=0.9, ls="--", label="pool position")
    axis.set_ylabel("tokens held")
    axis.grid(alpha=0.3)
    axis.legend(loc="upper right", fontsize=8, ncols=3)
    _time_axis(axis)
    figure.suptitle(f"deal {history.name}: inventory per venue", fontsize=11)
    return _png(figure)


def statement_png(history: DealHistory) -> bytes:
    figure, axis = plt.subplots(figsize=(11, 4.2))
    rows = [s for s in history.samples if s.get("statement")]
    t = _dates(np.array([s["ts"] for s in rows], dtype=np.int64))
    for label, names, colour in GROUPS:
        values = np.array([sum(float(s["statement"].get(n, 0.0)) for n in names) for s in rows])
        if values.size and np.abs(values).max() > 0:
            axis.plot(t, values, lw=0.9, color=colour, label=label)
    axis.plot(t, np.array([float(s["pnl"]) for s in rows]), lw=1.4, color="#212529", label="deal PnL")
    axis.axhline(0, color="#868e96", lw=0.6)
    axis.set_ylabel("quote")
    axis.grid(alpha=0.3)
    axis.legend(loc="upper left", fontsize=8, ncols=4)
    _time_axis(axis)
    figure.suptitle(f"deal {history.name}: PnL by channel", fontsize=11)
    return _png(figure)


def summary(history: DealHistory) -> dict[str, Any]:
    """The numbers the report embeds (and ``mmbot report --json`` prints)."""
    last = history.last or {}
    return {
        "deal": history.name,
        "phase": last.get("phase") if not history.closed else "closed",
        "closed": history.closed,
        "samples": len(history.samples),
        "statement": history.statement,
        "statement_source": history.statement_source,
        "inventory": last.get("inventory"),
        "delta": last.get("delta"),
        "phases": [{"ts": p["ts"], "phase": p["phase"], "why": p.get("why", "")} for p in history.phases],
    }


def _statement_table(statement: dict[str, Any]) -> str:
    rows = []
    labels = dict(CHANNELS)
    for name, value in statement["channels"].items():
        rows.append(f"<tr><td>{escape(labels.get(name, name))}</td><td>{float(value):,.2f}</td></tr>")
    rows.append(
        f"<tr><td><b>total (sum of channels)</b></td><td><b>{float(statement['total']):,.2f}</b></td></tr>"
    )
    rows.append(
        f"<tr><td>ledger PnL (from state)</td><td>{float(statement['ledger_pnl']):,.2f}</td></tr>"
        f"<tr><td>difference</td><td>{escape(str(statement['difference']))}</td></tr>"
    )
    return f"<table><thead><tr><th>channel</th><th>{escape(statement.get('quote', ''))}</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _inventory_table(inventory: dict[str, dict[str, str]] | None) -> str:
    if not inventory:
        return ""
    assets = sorted({k for row in inventory.values() for k in row if k != "venue"})
    head = "".join(f"<th>{escape(a)}</th>" for a in assets)
    body = "".join(
        f"<tr><td>{escape(name)}</td><td>{escape(row.get('venue', ''))}</td>"
        + "".join(f"<td>{float(row.get(a, 0)):,.2f}</td>" for a in assets)
        + "</tr>"
        for name, row in inventory.items()
    )
    return f"<table><thead><tr><th>account</th><th>venue</th>{head}</tr></thead><tbody>{body}</tbody></table>"


def section(history: DealHistory, images: dict[str, bytes], img: Any) -> str:
    parts = [f"<h2>Deal {escape(history.name)}</h2>"]
    last = history.last or {}
    phase = "closed" if history.closed else last.get("phase", "?")
    parts.append(
        f'<p class="note">journal {escape(str(history.journal))}; phase <b>{escape(str(phase))}</b>; {len(history.samples)} samples</p>'
    )
    if history.statement is not None:
        parts.append(
            f"<h3>Deal statement ({escape(history.statement_source)})</h3>"
            + _statement_table(history.statement)
        )
    info = (history.statement or {}).get("info") or {}
    model = info.get("gamma_scalping")
    if model:
        options, lp = model["options"], model["lp"]
        rows = [
            ("calls: value change", options["value_change"]),
            ("calls: their hedge's share (-delta x dS)", options["hedge_pnl"]),
            ("gamma scalping (value change + hedge share)", options["gamma_scalping"]),
            ("of which theta (time decay, deal calendar)", options["theta"]),
            ("of which gamma (what the moves earned)", options["gamma_pnl"]),
            ("pool position: value change", lp["value_change"]),
            ("pool position hedged (value change + hedge share)", lp["hedged"]),
        ]
        if info.get("lp_vs_hold_closed_form") is not None:
            rows.append(
                ("pool vs holding its deposit, 2 sqrt(rho)/(1+rho) - 1", info["lp_vs_hold_closed_form"])
            )
        body = "".join(f"<tr><td>{escape(k)}</td><td>{float(v):,.4f}</td></tr>" for k, v in rows)
        parts.append(
            "<h3>Model view: gamma scalping and the pool (Black-Scholes, constant product; from the desk's "
            "last start; not channels)</h3>"
            f"<table><tbody>{body}</tbody></table>"
        )
    parts.append("<h3>Inventory per venue (last sample)</h3>" + _inventory_table(last.get("inventory")))
    delta = last.get("delta")
    if delta:
        rows = "".join(
            f"<tr><td>{escape(k)}</td><td>{float(v):,.2f}</td></tr>"
            for k, v in (
                ("spot, all venues", delta["spot_total"]),
                ("pool position", delta["lp"]),
                ("calls (Black-Scholes)", delta["options"]),
                ("perp", delta["perp"]),
                ("loan", delta["loan"]),
                ("net", delta["net"]),
                ("initial sale still to sell", delta["in_programs"]),
                ("net the hedger steers", delta["hedged_net"]),
            )
        )
        parts.append(f"<h3>Net delta components (last sample)</h3><table><tbody>{rows}</tbody></table>")
    for key, title in (
        ("delta", "Net delta"),
        ("inventory", "Inventory per venue"),
        ("statement", "PnL by channel"),
    ):
        if key in images:
            parts.append(f"<h3>{escape(title)}</h3>" + img(images[key], title))
    if history.phases:
        rows = "".join(
            f"<tr><td>{p['ts']}</td><td>{escape(p['phase'])}</td><td>{escape(p.get('why', ''))}</td></tr>"
            for p in history.phases
        )
        parts.append(
            f"<h3>Lifecycle</h3><table><thead><tr><th>ts (ns)</th><th>phase</th><th>why</th></tr></thead><tbody>{rows}</tbody></table>"
        )
    if history.steps:
        text = escape(json.dumps(history.steps, indent=1))
        parts.append(f"<details><summary>steps ({len(history.steps)})</summary><pre>{text}</pre></details>")
    return "".join(parts)


def figures(history: DealHistory) -> dict[str, bytes]:
    if not history.samples:
        return {}
    return {
        "delta": delta_png(history),
        "inventory": inventory_png(history),
        "statement": statement_png(history),
    }


def text(history: DealHistory) -> str:
    """The statement as terminal text."""
    lines = [
        f"deal {history.name}: phase {'closed' if history.closed else (history.last or {}).get('phase', '?')}"
    ]
    end = history.summary
    if end is not None and end.get("inventory"):  # the state at the end of the run (summary.json)
        band = (end.get("hedge") or {}).get("band")
        lines += _text_book({**end, "band": band}, "at the end of the run")
    elif history.last is not None:
        lines += _text_book(history.last, "last sample")
    if history.statement is not None:
        lines.append(f"  statement ({history.statement_source})")
        lines += format_statement(history.statement)
    return "\n".join(lines)


def _text_book(sample: dict[str, Any], when: str) -> list[str]:
    """Inventory per account and venue, and the net delta's components (a sample or the end state)."""
    lines = [f"  inventory per account and venue ({when}, phase {sample.get('phase', '?')})"]
    inventory = sample.get("inventory") or {}
    assets = sorted({k for row in inventory.values() for k in row if k != "venue"})
    lines.append(f"  {'account':<20}{'venue':<16}" + "".join(f"{a:>20}" for a in assets))
    for name, row in inventory.items():
        cells = "".join(f"{float(row.get(a, 0)):>20,.2f}" for a in assets)
        lines.append(f"  {name:<20}{row.get('venue', ''):<16}{cells}")
    delta = sample.get("delta")
    if delta:
        lines.append(
            "  net delta, tokens: spot {spot_total:,.0f} + LP {lp:,.0f} + calls {options:,.0f} + perp "
            "{perp:,.0f} - loan {loan:,.0f} = {net:,.0f}; hedged net {hedged_net:,.0f} "
            "(band {band:,.0f})".format(**{**delta, "band": float(sample.get("band") or 0)})
        )
    return lines
