"""Loading a run directory for ``mmbot report``: journals, config and summary, read-only.

A run directory (written by ``mmbot replay`` or a live ``mmbot run`` data dir) holds
``journal/<engine>.sqlite`` (the paper journal, :mod:`bot.store.journal`), and
usually ``config.json`` and ``summary.json``. Every journal found is one
:class:`EngineRun`. What the report reads from a journal:

- records (:mod:`bot.paper.records`): ``NewOrder`` / ``CancelOrder`` / ``OrderRejected``
  counts and every ``FillRecord`` (price, size, fee, side, time);
- typed events ``sample`` (one per second of event time, the :class:`SamplePayload`
  shape below), ``regime_transition`` (:func:`bot.risk.explain.to_payload`) and
  ``strategy_switch`` (shown as they are) and ``markout`` (the markouts the engine
  computed live as our fills aged, :mod:`bot.strategy.markouts`);
- the instrument specs stored in the journal's metadata (exact tick/lot sizes);
- the ledger rebuilt from the journal's records (:func:`load_final`): the final PnL split,
  equity and inventory come from it, exactly as ``mmbot ledger show`` prints them -- the
  last sample can be up to a second older than the last fill or mark.

Nothing is written: journals are opened read-only (safe beside a running bot).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import numpy as np

from bot.core.instrument import InstrumentSpec
from bot.core.orders import CancelOrder, NewOrder, OrderRejected
from bot.core.units import exact_text
from bot.errors import InputError
from bot.paper.records import FillRecord
from bot.store.journal import SUFFIX, Journal
from bot.store.recovery import load_ledger, specs_from_meta

PNL_COMPONENTS = ("spread_capture", "rebates", "fees", "inventory", "hedge", "funding")


class PnlPayload(msgspec.Struct, frozen=True, forbid_unknown_fields=False):
    spread_capture: float
    rebates: float
    fees: float
    inventory: float
    hedge: float
    funding: float
    total: float


class SamplePayload(msgspec.Struct, frozen=True):
    """The ``sample`` event the pipeline journals every second of event time."""

    instrument: str
    mid: float
    equity: float
    pnl: PnlPayload
    inventory: float
    regime: str = ""
    best_bid: float | None = None
    best_ask: float | None = None
    bid_quote: float | None = None
    ask_quote: float | None = None
    sigma: float | None = None
    net_delta: float | None = None


@dataclass
class Samples:
    """The sample series of one instrument as arrays (NaN where a value was null)."""

    instrument: str
    ts: np.ndarray
    mid: np.ndarray
    best_bid: np.ndarray
    best_ask: np.ndarray
    bid_quote: np.ndarray
    ask_quote: np.ndarray
    sigma: np.ndarray
    inventory: np.ndarray
    net_delta: np.ndarray
    equity: np.ndarray
    pnl: dict[str, np.ndarray]
    regime: list[str]

    def __len__(self) -> int:
        return int(self.ts.size)


@dataclass
class Fill:
    ts: int
    instrument: str
    side: int
    price: float
    size: float
    """Base units."""
    fee: float
    maker: bool


@dataclass
class Final:
    """The run's end state from the ledger rebuilt from the journal (what ``mmbot ledger
    show`` prints): exact, and later than the last sample when fills or marks arrived
    after it."""

    ts: int
    """Event time of the last journaled input (0 if unknown)."""
    pnl: dict[str, float]
    """spread_capture, rebates, fees, inventory, funding, total (quote currency)."""
    pnl_exact: dict[str, str]
    equity: float
    inventory: float
    """Change of the sampled instrument's position since the start (base units)."""


@dataclass
class EngineRun:
    """One engine's journal, loaded."""

    label: str
    run_dir: Path
    journal: Path
    specs: dict[str, InstrumentSpec]
    samples: Samples
    fills: list[Fill]
    orders: int
    cancels: int
    rejects: int
    transitions: list[dict[str, Any]]
    switches: list[tuple[int, dict[str, Any]]]
    config: dict[str, Any] | None
    summary: dict[str, Any] | None
    other_instruments: list[str] = field(default_factory=list)
    """Instruments with samples besides the one shown (the report shows the most sampled)."""
    final: Final | None = None
    """The ledger's end state (None only for journals the ledger cannot be rebuilt from)."""
    markouts: list[dict[str, Any]] = field(default_factory=list)
    """The journaled ``markout`` events of the shown instrument (empty in older journals)."""

    @property
    def quote(self) -> str:
        spec = self.specs.get(self.samples.instrument)
        return spec.quote if spec is not None else ""


def _read_json(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    try:
        value = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise InputError(f"{path}: expected a JSON object")
    return value


def journal_dir(run_dir: Path, config: dict[str, Any] | None) -> Path:
    directory = "journal"
    if config is not None:
        paper = config.get("paper")
        if isinstance(paper, dict) and isinstance(paper.get("journal"), dict):
            directory = str(paper["journal"].get("directory", directory))
    path = Path(directory)
    return path if path.is_absolute() else run_dir / path


def find_journals(run_dir: Path) -> tuple[list[Path], dict[str, Any] | None, dict[str, Any] | None]:
    if not run_dir.exists():
        raise InputError(f"{run_dir}: run directory not found")
    if not run_dir.is_dir():
        raise InputError(f"{run_dir}: not a directory (expected a run directory written by mmbot replay/run)")
    config = _read_json(run_dir / "config.json")
    summary = _read_json(run_dir / "summary.json")
    directory = journal_dir(run_dir, config)
    journals = sorted(directory.glob(f"*{SUFFIX}")) if directory.is_dir() else []
    if not journals:
        raise InputError(
            f"{run_dir}: not an mmbot run directory: no journal ({directory}/*{SUFFIX}); "
            "give a directory written by 'mmbot replay --out' or an 'mmbot run' data dir"
        )
    return journals, config, summary


def _nan(value: float | None) -> float:
    return np.nan if value is None else float(value)


def _samples(rows: list[tuple[int, SamplePayload]], instrument: str) -> Samples:
    picked = [(ts, s) for ts, s in rows if s.instrument == instrument]
    ts = np.array([t for t, _ in picked], dtype=np.int64)

    def column(name: str) -> np.ndarray:
        return np.array([_nan(getattr(s, name)) for _, s in picked], dtype=float)

    pnl = {
        name: np.array([getattr(s.pnl, name) for _, s in picked], dtype=float)
        for name in (*PNL_COMPONENTS, "total")
    }
    return Samples(
        instrument=instrument,
        ts=ts,
        mid=column("mid"),
        best_bid=column("best_bid"),
        best_ask=column("best_ask"),
        bid_quote=column("bid_quote"),
        ask_quote=column("ask_quote"),
        sigma=column("sigma"),
        inventory=column("inventory"),
        net_delta=column("net_delta"),
        equity=column("equity"),
        pnl=pnl,
        regime=[s.regime for _, s in picked],
    )


def load_engine(
    run_dir: Path, path: Path, label: str, config: dict[str, Any] | None, summary: dict[str, Any] | None
) -> EngineRun:
    with Journal.open(path, readonly=True) as journal:
        specs_list, _settings = specs_from_meta(journal.meta, path)
        specs = {spec.key: spec for spec in specs_list}
        orders = cancels = rejects = 0
        fills: list[Fill] = []
        for _seq, _position, _ts, record in journal.records():
            kind = type(record)
            if kind is NewOrder:
                orders += 1
            elif kind is CancelOrder:
                cancels += 1
            elif kind is OrderRejected:
                rejects += 1
            elif kind is FillRecord:
                fill = record.fill  # type: ignore[union-attr]
                spec = specs[fill.instrument]
                fills.append(
                    Fill(
                        ts=fill.ts,
                        instrument=fill.instrument,
                        side=int(fill.side),
                        price=float(spec.price(fill.price)),
                        size=float(spec.size(fill.size) * spec.contract_size),
                        fee=float(fill.fee),
                        maker=fill.liquidity == "maker",
                    )
                )
        rows: list[tuple[int, SamplePayload]] = []
        for event_id, ts, _type, _source, payload in journal.events("sample"):
            try:
                rows.append((ts, msgspec.convert(payload, SamplePayload)))
            except msgspec.ValidationError as exc:
                raise InputError(f"{path}: journal event #{event_id} ('sample'): {exc}") from None
        transitions = [payload for _id, _ts, _t, _s, payload in journal.events("regime_transition")]
        markouts = [
            payload for _id, _ts, _t, _s, payload in journal.events("markout") if isinstance(payload, dict)
        ]
        switches = [(ts, payload) for _id, ts, _t, _s, payload in journal.events("strategy_switch")]
    if not rows:
        raise InputError(
            f"{path}: journal has no 'sample' events (the per-second state the report plots); "
            "was it written by 'mmbot replay' or 'mmbot run'?"
        )
    counts = Counter(sample.instrument for _, sample in rows)
    instrument = max(counts, key=lambda key: (counts[key], key in specs))
    return EngineRun(
        label=label,
        run_dir=run_dir,
        journal=path,
        specs=specs,
        samples=_samples(rows, instrument),
        fills=fills,
        orders=orders,
        cancels=cancels,
        rejects=rejects,
        transitions=[
            t for t in transitions if isinstance(t, dict) and t.get("instrument", instrument) == instrument
        ],
        switches=switches,
        config=config,
        summary=summary,
        other_instruments=sorted(set(counts) - {instrument}),
        final=load_final(path, instrument),
        markouts=[m for m in markouts if m.get("instrument") == instrument],
    )


LEDGER_PNL = ("spread_capture", "rebates", "fees", "inventory", "funding", "total")


def load_final(path: Path, instrument: str) -> Final:
    """The ledger at the end of the journal (read-only), as ``mmbot ledger show`` rebuilds it."""
    exchange, journal = load_ledger(path)
    try:
        state = journal.state()
    finally:
        journal.close()
    ledger = exchange.ledger
    attribution = ledger.attribution()
    inventory = 0.0
    spec = next((s for s in exchange.specs if s.key == instrument), None)
    if spec is not None and instrument in ledger.positions:
        lots = ledger.position_qty(instrument) - ledger.start_qty(instrument)
        inventory = float(spec.size(lots) * spec.contract_size)
    return Final(
        ts=max(state.now if state is not None else 0, ledger.last_ts),
        pnl={name: float(getattr(attribution, name)) for name in LEDGER_PNL},
        pnl_exact={name: exact_text(getattr(attribution, name)) for name in LEDGER_PNL},
        equity=float(ledger.equity()),
        inventory=inventory,
    )


def load_runs(run_dirs: list[Path]) -> list[EngineRun]:
    """Every engine of every run directory; labels are unique (``dir`` or ``dir/engine``)."""
    runs: list[EngineRun] = []
    labels: Counter[str] = Counter()
    for run_dir in run_dirs:
        journals, config, summary = find_journals(run_dir)
        for path in journals:
            label = run_dir.resolve().name or str(run_dir)
            if len(journals) > 1:
                label += "/" + path.name.removesuffix(SUFFIX)
            labels[label] += 1
            if labels[label] > 1:
                label += f" ({labels[label]})"
            runs.append(load_engine(run_dir, path, label, config, summary))
    return runs
