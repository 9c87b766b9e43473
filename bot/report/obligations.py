"""Reading and showing the obligation records of journals (``mmbot obligations show``, ``mmbot report``).

What the engine journals for an obligation (:mod:`bot.engine.obligations`,
:mod:`bot.risk.compliance`), per engine journal:

- ``obligation_terms``: the terms and the instrument (at each start);
- ``obligation_sample``: every ``obligations.sample_interval_s`` -- spread, depths, met
  now, the share of met time since the previous sample, and the running uptime totals
  (this UTC day, the deal);
- ``obligation_breach_start`` / ``obligation_breach``: a breach opened / closed, with
  start, end, duration, causes and the worst values seen;
- ``obligation_day``: a closed UTC day's uptime;
- ``obligation_alert``: the account or the risk limits cannot fund a side's depth (or
  can again).

Everything is read-only (safe while the bot runs).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from bot.errors import InputError
from bot.store.journal import SUFFIX, Journal

JOURNAL_DIR = "journal"


@dataclass
class ObligationHistory:
    """One engine's obligation records."""

    engine: str
    journal: Path
    terms: dict[str, Any]
    last: dict[str, Any] | None
    days: list[dict[str, Any]]
    breaches: list[dict[str, Any]]
    open_breach: dict[str, Any] | None
    alerts: list[dict[str, Any]]
    samples: list[dict[str, Any]] = field(default_factory=list)
    breach_count: int = 0

    @property
    def instrument(self) -> str:
        return str(self.terms.get("instrument", ""))

    def uptime(self, window: str) -> float | None:
        last = self.last
        if last is None:
            return None
        measured = last.get(f"{window}_measured_ns") or 0
        return (last.get(f"{window}_met_ns") or 0) / measured if measured else None

    @property
    def min_uptime(self) -> float:
        return float(self.terms.get("min_uptime_pct", 0)) / 100.0


def load_journal(path: Path, *, samples: bool = False, breaches: int = 1000) -> ObligationHistory | None:
    """The obligation records of one journal, or None if it has none."""
    with Journal.open(path, readonly=True) as journal:
        terms = journal.last_events("obligation_terms", 1)
        if not terms:
            return None
        last = journal.last_events("obligation_sample", 1)
        closed = [row[4] for row in journal.last_events("obligation_breach", breaches)]
        starts = journal.last_events("obligation_breach_start", 1)
        ended = {b["start"] for b in closed}
        open_breach = starts[-1][4] if starts and starts[-1][4]["start"] not in ended else None
        days = [row[4] for row in journal.last_events("obligation_day", 10_000)]
        alerts = [row[4] | {"ts": row[1]} for row in journal.last_events("obligation_alert", 50)]
        series = [row[4] for row in journal.events("obligation_sample")] if samples else []
    last_payload = last[-1][4] if last else None
    count = int(last_payload.get("breaches", 0)) if last_payload else len(closed)
    return ObligationHistory(
        engine=path.name.removesuffix(SUFFIX),
        journal=path,
        terms=terms[-1][4],
        last=last_payload,
        days=days,
        breaches=closed,
        open_breach=open_breach,
        alerts=alerts,
        samples=series,
        breach_count=max(count, len(closed) + (1 if open_breach else 0)),
    )


def load_data_dir(data_dir: Path, *, samples: bool = False, breaches: int = 1000) -> list[ObligationHistory]:
    """Every engine journal under ``data_dir/journal`` with obligation records."""
    if not data_dir.is_dir():
        raise InputError(f"{data_dir}: data directory not found")
    directory = data_dir / JOURNAL_DIR
    paths = sorted(directory.glob(f"*{SUFFIX}")) if directory.is_dir() else []
    if not paths:
        raise InputError(f"{directory}: no journals found")
    found = []
    for path in paths:
        history = load_journal(path, samples=samples, breaches=breaches)
        if history is not None:
            found.append(history)
    return found


# ---- text -----------------------------------------------------------------------------


def iso(ts: int | None) -> str:
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts / 1e9, tz=UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def duration(seconds: float) -> str:
    seconds = float(seconds)
    if seconds < 60:
        return f"{seconds:.2f}s" if seconds < 10 else f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.2%}"


def _money(value: Any) -> str:
    return f"{float(value):,.0f}"


def describe(h: ObligationHistory, *, breaches: int = 10) -> str:
    t, last = h.terms, h.last
    quote = t.get("quote", "")
    lines = [f"{h.engine}: {h.instrument}  (journal {h.journal})"]
    lines.append(
        f"  obligation: spread <= {t['max_spread_pct']} % of our best ask; bids {_money(t['bid_depth'])} / "
        f"asks {_money(t['ask_depth'])} {quote} within +-{t['band_pct']} % of mid; uptime >= "
        f"{t['min_uptime_pct']} %"
    )
    if last is None:
        lines.append("  no measurement yet")
        return "\n".join(lines)
    spread = last.get("spread_pct")
    lines.append(
        f"  at {iso(last['ts'])}: {'MET' if last['met'] else 'NOT MET'}  spread "
        f"{'-' if spread is None else f'{spread:.4f} %'}, bid depth {_money(last['bid_depth'])}, "
        f"ask depth {_money(last['ask_depth'])} {quote}"
        + (f"  ({last['context']})" if last.get("context") and not last["met"] else "")
    )
    for window, label, since in (
        ("day", f"day {last.get('day')}", None),
        ("deal", "deal", last.get("deal_start_ns")),
    ):
        ratio = h.uptime(window)
        measured = (last.get(f"{window}_measured_ns") or 0) / 1e9
        verdict = (
            ""
            if ratio is None
            else ("  meets" if ratio >= h.min_uptime else "  BELOW") + f" {h.min_uptime:.0%}"
        )
        lines.append(
            f"  uptime {label}: {_pct(ratio)} of {duration(measured)}"
            + (f" since {iso(since)}" if since else "")
            + verdict
        )
    lines.append(
        f"  breaches: {h.breach_count}"
        + (f"; open since {iso(h.open_breach['start'])}" if h.open_breach else "")
    )
    if h.open_breach:
        lines.append(
            f"    open: {'; '.join(h.open_breach.get('causes') or [h.open_breach.get('cause', '')])}"
        )
    for b in h.breaches[-breaches:] if breaches else []:
        lines.append(f"    {iso(b['start'])} .. {iso(b['end'])} {duration(b['duration_s']):>9}  {b['cause']}")
        for cause in (b.get("causes") or [])[1:3]:
            lines.append(f"      + {cause}")
    if h.days:
        lines.append("  days:")
        for day in h.days[-14:]:
            lines.append(
                f"    {day['day']}  {_pct(day.get('uptime'))} of {duration(day['measured_ns'] / 1e9)}, "
                f"{day.get('breaches', 0)} breaches  {'met' if day.get('met') else 'BELOW'}"
            )
    active = _active_alerts(h)
    if active:
        lines.append("  alerts:")
        lines.extend(f"    {iso(a['ts'])}  {a['text']}" for a in active)
    return "\n".join(lines)


def _active_alerts(h: ObligationHistory) -> list[dict[str, Any]]:
    """The latest alert per side, if it is not an 'ok'."""
    latest: dict[str, dict[str, Any]] = {}
    for alert in h.alerts:
        latest[alert.get("side", "")] = alert
    return [a for a in latest.values() if a.get("state") != "ok"]


def as_json(h: ObligationHistory, *, breaches: int = 10) -> dict[str, Any]:
    return {
        "engine": h.engine,
        "journal": str(h.journal),
        "instrument": h.instrument,
        "terms": h.terms,
        "now": h.last,
        "uptime": {"day": h.uptime("day"), "deal": h.uptime("deal"), "min": h.min_uptime},
        "breaches": h.breach_count,
        "open_breach": h.open_breach,
        "recent_breaches": h.breaches[-breaches:] if breaches else [],
        "days": h.days,
        "alerts": _active_alerts(h),
    }


def dumps(histories: list[ObligationHistory], *, breaches: int = 10) -> str:
    return json.dumps([as_json(h, breaches=breaches) for h in histories], indent=2, default=str)


# ---- report -------------------------------------------------------------------------


def series(h: ObligationHistory) -> dict[str, np.ndarray]:
    """The sample series as arrays (NaN where a value was null)."""

    def column(name: str) -> np.ndarray:
        return np.array([np.nan if s.get(name) is None else float(s[name]) for s in h.samples], dtype=float)

    return {
        "ts": np.array([int(s["ts"]) for s in h.samples], dtype=np.int64),
        "spread_pct": column("spread_pct"),
        "bid_depth": column("bid_depth"),
        "ask_depth": column("ask_depth"),
        "met_ratio": column("interval_met_ratio"),
    }
