"""``mmbot regimes show``: list the risk manager's regime transitions and kill records
(``mmbot regimes calibrate`` lives in :mod:`bot.commands.regimes_calibrate`).

Reads the typed records the engine journals for the risk manager -- type
``regime_transition`` (:class:`bot.risk.explain.RegimeTransition`) and ``risk_kill``
(:class:`bot.risk.explain.KillRecord`) -- from every journal under
``<data dir>/journal/*.sqlite`` (read-only; safe while the bot runs) and prints them in
time order with the rule that fired and the numbers behind it.

The journal is reached through one small function, :func:`journal_records` (a
:data:`RecordReader`): ``data_dir -> [(type, payload dict)]``. It imports the SQLite
journal (``bot.store.journal``) lazily, so this command stays importable in builds
without it.
"""

from __future__ import annotations

import argparse
import importlib
import json
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.commands import regimes_calibrate
from bot.core.instrument import InstrumentSpec
from bot.core.units import tidy
from bot.errors import InputError, MmbotError
from bot.risk.explain import KillRecord, RegimeTransition, RiskRecord, from_payload, record_type, to_payload
from bot.risk.view import human_signals

RISK_TYPES = ("regime_transition", "risk_kill")
JOURNAL_DIR = "journal"
"""Journal files live in ``<data dir>/journal/`` (the paper journal's default directory)."""

RecordReader = Callable[[Path], Iterable[tuple[str, Any]]]
"""``data_dir -> (type, payload)`` of every stored risk record."""


def register(subparsers: Any) -> None:
    regimes = subparsers.add_parser("regimes", help="Inspect the risk manager's regime history.")
    actions = regimes.add_subparsers(dest="regimes_command", metavar="ACTION")
    actions.required = True
    show = actions.add_parser(
        "show",
        help="List regime transitions (and kill/resume records) from the journal.",
        description="List every regime transition of the risk manager, oldest first, with the rule "
        "that fired and the observed values and thresholds behind it; kill and resume commands and "
        "latched triggers are listed too.",
    )
    show.add_argument(
        "--data-dir",
        type=Path,
        metavar="DIR",
        help="Data directory or replay run directory (default: data_dir of the config `mmbot run` would use).",
    )
    show.add_argument("--instrument", metavar="KEY", help="Only this instrument (VENUE:SYMBOL).")
    show.add_argument("--last", type=int, metavar="N", help="Only the N most recent records.")
    show.add_argument("--json", action="store_true", help="Print the records as a JSON array.")
    show.set_defaults(func=start_regimes_show)
    regimes_calibrate.add_parser(actions)


def journal_records(data_dir: Path) -> list[tuple[str, Any]]:
    """Risk records from every journal under ``<data_dir>/journal/`` (read-only)."""
    if not data_dir.is_dir():
        raise InputError(f"{data_dir}: data directory not found")
    directory = data_dir / JOURNAL_DIR
    paths = sorted(directory.glob("*.sqlite")) if directory.is_dir() else []
    if not paths:
        raise InputError(f"{directory}: no journals found")
    try:
        journal_module = importlib.import_module("bot.store.journal")
    except ImportError:
        raise MmbotError("this build has no journal support (bot.store.journal is missing)") from None
    found: list[tuple[str, Any]] = []
    for path in paths:
        with journal_module.Journal.open(path, readonly=True) as journal:
            for type_ in RISK_TYPES:
                found.extend((type_, row[4]) for row in journal.events(type_))
    return found


def journal_specs(data_dir: Path) -> dict[str, InstrumentSpec]:
    """The instrument specs stored in each journal under ``<data_dir>/journal/`` (for units)."""
    directory = data_dir / JOURNAL_DIR
    if not directory.is_dir():
        return {}
    try:
        journal_module = importlib.import_module("bot.store.journal")
        recovery = importlib.import_module("bot.store.recovery")
    except ImportError:
        return {}
    specs: dict[str, InstrumentSpec] = {}
    for path in sorted(directory.glob("*.sqlite")):
        try:
            with journal_module.Journal.open(path, readonly=True) as journal:
                found, _settings = recovery.specs_from_meta(journal.meta, path)
        except MmbotError:
            continue
        specs.update({spec.key: spec for spec in found})
    return specs


def load_records(
    data_dir: Path, reader: RecordReader = journal_records, instrument: str | None = None
) -> tuple[list[RiskRecord], int]:
    """Decoded records in time order (stable), and how many stored payloads were unreadable."""
    records: list[RiskRecord] = []
    bad = 0
    for type_, payload in reader(data_dir):
        try:
            record = from_payload(payload, type_)
        except ValueError:
            bad += 1
            continue
        if instrument is None or record.instrument == instrument:
            records.append(record)
    records.sort(key=lambda r: r.ts)
    return records, bad


def iso(ts: int) -> str:
    return datetime.fromtimestamp(ts / 1e9, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def describe(record: RiskRecord) -> str:
    """One human-readable line (plus indented reasons for transitions)."""
    if isinstance(record, KillRecord):
        what = "KILL" if record.action == "kill" else "RESUME"
        trigger = (
            "" if record.trigger == "manual_kill" or record.action == "resume" else f" [{record.trigger}]"
        )
        by = f" by {record.source}" if record.source else ""
        reason = f": {record.reason}" if record.reason else ""
        return f"{iso(record.ts)}  {record.instrument}  {what}{trigger}{by}{reason}"
    lines = [
        f"{iso(record.ts)}  {record.instrument}  {record.from_state.upper()} -> {record.to_state.upper()}"
        f"  [{record.rule}]"
    ]
    lines.extend(f"    {reason.text()}" for reason in record.reasons)
    return "\n".join(lines)


def as_json(record: RiskRecord, specs: dict[str, InstrumentSpec] | None = None) -> dict[str, Any]:
    """The stored record; with the instrument's spec, its signals in human units (the mid
    as a price, ``mid_ticks`` beside it; the volume rate in base units per second)."""
    payload = to_payload(record)
    payload.setdefault("type", record_type(record))
    payload["time"] = iso(record.ts)
    spec = (specs or {}).get(record.instrument)
    if isinstance(record, RegimeTransition):
        payload["text"] = record.text()
        if spec is not None and isinstance(payload.get("signals"), dict):
            payload["signals"] = human_signals(spec, payload["signals"])
    return tidy(payload)  # type: ignore[no-any-return]


def start_regimes_show(args: argparse.Namespace, reader: RecordReader = journal_records) -> int:
    data_dir = args.data_dir
    if data_dir is None:
        from bot.config import load_settings

        data_dir = load_settings(None).data_dir
    if args.last is not None and args.last < 1:
        raise InputError(f"--last must be >= 1, got {args.last}")
    records, bad = load_records(Path(data_dir), reader, args.instrument)
    if args.last is not None:
        records = records[-args.last :]
    if args.json:
        specs = journal_specs(Path(data_dir))
        print(json.dumps([as_json(r, specs) for r in records], indent=2))
        return 0
    if not records:
        print(f"{data_dir}: no regime transitions recorded")
    for record in records:
        print(describe(record))
    if bad:
        print(f"({bad} unreadable risk records skipped)")
    return 0
