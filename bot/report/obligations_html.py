"""The report's obligations section: the compliance timeline of one venue and its breaches.

:func:`timeline_png` draws three panels over time -- our spread against its limit, our
bid and ask depth within the band against the requirement, and the share of met time
per sample interval -- with every breach shaded. :func:`section` returns the HTML: the
figure, the uptime (deal and per UTC day), the longest breaches and all of them in a
collapsed table, and the alerts still open.
"""

from __future__ import annotations

from html import escape
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt

from bot.report.obligations import ObligationHistory, _active_alerts, duration, iso, series
from bot.report.plots import _date, _dates, _png, _time_axis

BREACH_COLOUR = "#ffc9c9"
LONGEST = 15


def timeline_png(h: ObligationHistory, label: str) -> bytes:
    data = series(h)
    t = _dates(data["ts"])
    terms = h.terms
    figure, axes = plt.subplots(3, 1, figsize=(11, 6.8), sharex=True, height_ratios=(1.0, 1.2, 0.6))
    spread_ax, depth_ax, met_ax = axes
    for breach in [*h.breaches, *([h.open_breach] if h.open_breach else [])]:
        end = breach.get("end") or (int(data["ts"][-1]) if len(data["ts"]) else breach["start"])
        for axis in axes:
            axis.axvspan(_date(breach["start"]), _date(end), color=BREACH_COLOUR, lw=0, zorder=0)
    limit = float(terms["max_spread_pct"])
    spread = data["spread_pct"]
    spread_ax.plot(t, spread, color="#1c7ed6", lw=0.8, label="our spread")
    spread_ax.axhline(limit, color="#c92a2a", lw=1.0, ls="--", label=f"limit {terms['max_spread_pct']} %")
    finite = spread[spread == spread]
    top = max(limit * 3, float(finite.max()) * 1.05) if finite.size else limit * 3
    spread_ax.set_ylim(0, min(top, limit * 10))
    spread_ax.set_ylabel("spread, % of our ask")
    spread_ax.legend(loc="upper right", fontsize=8)
    quote = terms.get("quote", "")
    depth_ax.plot(t, data["bid_depth"], color="#2b8a3e", lw=0.8, label="bid depth")
    depth_ax.plot(t, data["ask_depth"], color="#c92a2a", lw=0.8, label="ask depth")
    depth_ax.axhline(float(terms["bid_depth"]), color="#2b8a3e", lw=1.0, ls="--", label="bid required")
    if terms["ask_depth"] != terms["bid_depth"]:
        depth_ax.axhline(float(terms["ask_depth"]), color="#c92a2a", lw=1.0, ls="--", label="ask required")
    depth_ax.set_ylabel(f"within +-{terms['band_pct']} %, {quote}")
    depth_ax.legend(loc="upper right", fontsize=8, ncols=2)
    met_ax.step(t, data["met_ratio"], where="post", color="#495057", lw=0.8)
    met_ax.set_ylim(-0.05, 1.05)
    met_ax.set_ylabel("met share")
    for axis in axes:
        axis.grid(alpha=0.3)
    _time_axis(met_ax)
    spread_ax.set_title(f"{label}: {h.instrument} obligation compliance (breaches shaded)")
    figure.tight_layout()
    return _png(figure)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.2%}"


def _breach_rows(breaches: list[dict[str, Any]]) -> str:
    rows = []
    for b in breaches:
        causes = b.get("causes") or [b.get("cause", "")]
        rows.append(
            f"<tr><td>{escape(iso(b['start']))}</td><td>{escape(iso(b.get('end')))}</td>"
            f"<td>{escape(duration(b['duration_s']) if b.get('duration_s') is not None else 'open')}</td>"
            f"<td>{escape('; '.join(causes[:4]))}</td></tr>"
        )
    return (
        "<table><thead><tr><th>start</th><th>end</th><th>duration</th><th>causes</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def summary(h: ObligationHistory) -> dict[str, Any]:
    """The obligation numbers the report's embedded JSON carries."""
    breached = sum(b.get("duration_s") or 0.0 for b in h.breaches)
    return {
        "instrument": h.instrument,
        "uptime_deal": h.uptime("deal"),
        "uptime_day": h.uptime("day"),
        "min_uptime": h.min_uptime,
        "breaches": h.breach_count,
        "breach_s": breached,
        "days": [{"day": d["day"], "uptime": d.get("uptime"), "met": d.get("met")} for d in h.days],
    }


def section(h: ObligationHistory, png: bytes | None, img: Any) -> str:
    """HTML of one engine's obligations (``img(png, title)`` embeds the figure)."""
    t, last = h.terms, h.last
    parts = [
        "<h3>Obligations</h3>",
        f'<p class="note">{escape(h.instrument)}: spread &le; {escape(str(t["max_spread_pct"]))} % of our best ask; '
        f"bids {float(t['bid_depth']):,.0f} / asks {float(t['ask_depth']):,.0f} {escape(str(t.get('quote', '')))} "
        f"within &plusmn;{escape(str(t['band_pct']))} % of mid; uptime &ge; {escape(str(t['min_uptime_pct']))} %. "
        "Measured on our resting orders after every event (see the README, Obligations).</p>",
    ]
    if png is not None:
        parts.append(img(png, "Obligation compliance"))
    deal = h.uptime("deal")
    verdict = (
        "" if deal is None else (" (meets the minimum)" if deal >= h.min_uptime else " (BELOW the minimum)")
    )
    measured = (last or {}).get("deal_measured_ns", 0) / 1e9
    parts.append(
        f"<p>Uptime over the deal: <b>{_pct(deal)}</b> of {escape(duration(measured))}{verdict}; "
        f"breaches: {h.breach_count}.</p>"
    )
    days = list(h.days)
    if last is not None and last.get("day"):
        days.append(
            {
                "day": f"{last['day']} (so far)",
                "uptime": h.uptime("day"),
                "measured_ns": last.get("day_measured_ns", 0),
                "breaches": last.get("day_breaches", 0),
                "met": (h.uptime("day") or 0) >= h.min_uptime,
            }
        )
    if days:
        rows = "".join(
            f"<tr><td>{escape(str(d['day']))}</td><td>{_pct(d.get('uptime'))}</td>"
            f"<td>{escape(duration(d.get('measured_ns', 0) / 1e9))}</td><td>{d.get('breaches', 0)}</td>"
            f"<td>{'met' if d.get('met') else 'BELOW'}</td></tr>"
            for d in days
        )
        parts.append(
            "<table><thead><tr><th>UTC day</th><th>uptime</th><th>measured</th><th>breaches</th><th></th>"
            f"</tr></thead><tbody>{rows}</tbody></table>"
        )
    every = [*h.breaches, *([h.open_breach] if h.open_breach else [])]
    if every:
        longest = sorted(every, key=lambda b: -(b.get("duration_s") or float("inf")))[:LONGEST]
        parts.append(f"<h4>Longest breaches</h4>{_breach_rows(sorted(longest, key=lambda b: b['start']))}")
        parts.append(
            f"<details><summary>All {len(every)} breaches in the journal</summary>{_breach_rows(every)}</details>"
        )
    active = _active_alerts(h)
    if active:
        items = "".join(f"<li>{escape(iso(a['ts']))}: {escape(a['text'])}</li>" for a in active)
        parts.append(f"<p>Funding alerts still open:</p><ul>{items}</ul>")
    return "".join(parts)
