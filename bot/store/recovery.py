"""Start a paper exchange from its journal: fresh, restored, or restored and resumed.

:func:`open_paper` opens (or creates) ``<data_dir>/<journal dir>/<name>.sqlite``,
checks that it was written for the same instruments and starting balances, rebuilds the
ledger and the open orders from it (:meth:`PaperExchange.restore`), and then, per
``settings.recovery``:

- ``restore``: open orders stay live with their queue positions; commands in flight
  stay in flight;
- ``cancel``: every open and in-flight order is cancelled with a journaled
  ``OrderCancelled(reason=recovery)`` and committed before anything else happens.

``replay=True`` is for drivers that re-read the same input from its first event (replay
runs, the soak test): the exchange skips, books only, every event up to the last
committed one and continues exactly where the journal ends. Live runs use
``replay=False``: input continues with whatever arrives next.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import msgspec
import structlog

from bot.core.instrument import InstrumentSpec
from bot.core.orders import CancelReason, OrderReport
from bot.errors import InputError
from bot.paper.exchange import PaperExchange
from bot.paper.settings import PaperSettings
from bot.store.journal import Journal, RetryPolicy, journal_path

log = structlog.get_logger("bot.store.recovery")

FORMAT = "mmbot-paper-journal"
_IDENTITY_FIELDS = ("kind", "base", "quote", "tick_size", "lot_size", "contract_size")


def journal_directory(settings: PaperSettings, data_dir: Path) -> Path:
    directory = Path(settings.journal.directory)
    return directory if directory.is_absolute() else Path(data_dir) / directory


def paper_meta(specs: Iterable[InstrumentSpec], settings: PaperSettings) -> dict[str, str]:
    """What a journal remembers about the account that wrote it."""
    return {
        "format": FORMAT,
        "specs": msgspec.json.encode(sorted(specs, key=lambda s: s.key)).decode(),
        "settings": settings.model_dump_json(),
    }


def specs_from_meta(meta: dict[str, str], path: Path) -> tuple[list[InstrumentSpec], PaperSettings]:
    if meta.get("format") != FORMAT:
        raise InputError(f"{path}: not a paper-exchange journal (format {meta.get('format')!r})")
    try:
        specs = msgspec.json.decode(meta["specs"], type=list[InstrumentSpec])
        settings = PaperSettings.model_validate_json(meta["settings"])
    except (KeyError, msgspec.DecodeError, ValueError) as exc:
        raise InputError(f"{path}: unreadable journal metadata: {exc}") from None
    return specs, settings


def _check_compatible(
    path: Path, meta: dict[str, str], specs: list[InstrumentSpec], settings: PaperSettings
) -> None:
    stored_specs, stored_settings = specs_from_meta(meta, path)
    stored = {spec.key: spec for spec in stored_specs}
    current = {spec.key: spec for spec in specs}
    if set(stored) != set(current):
        raise InputError(
            f"{path}: journal was written for instruments {sorted(stored)}, "
            f"now configured {sorted(current)}; "
            "use another data dir or journal name"
        )
    for key, spec in current.items():
        for field in _IDENTITY_FIELDS:
            then, now = getattr(stored[key], field), getattr(spec, field)
            if then != now:
                raise InputError(f"{path}: {key} {field} was {then} when the journal was written, now {now}")
    if stored_settings.starting_balances != settings.starting_balances:
        raise InputError(
            f"{path}: journal was written with starting balances {stored_settings.starting_balances}, "
            f"now {settings.starting_balances}"
        )


def open_paper(
    specs: Iterable[InstrumentSpec],
    settings: PaperSettings,
    data_dir: Path,
    name: str,
    *,
    replay: bool = False,
    on_report: Callable[[OrderReport], None] | None = None,
    reports: bool = True,
) -> tuple[PaperExchange, Journal | None]:
    """A paper exchange for engine ``name``, rebuilt from its journal if it has one."""
    specs = list(specs)
    if not settings.journal.enabled:
        return PaperExchange(specs, settings, on_report=on_report, reports=reports), None
    path = journal_path(journal_directory(settings, data_dir), name)
    journal = Journal.open(
        path,
        meta=paper_meta(specs, settings),
        synchronous=settings.journal.synchronous,
        retry=RetryPolicy(settings.journal.retry_initial_s, settings.journal.retry_max_s),
    )
    try:
        _check_compatible(path, journal.meta, specs, settings)
        exchange = PaperExchange(specs, settings, journal=journal, on_report=on_report, reports=reports)
        records, state = journal.committed()
        if state is None:
            return exchange, journal
        exchange.restore(records, state, replay=False)
        log.info(
            "paper exchange restored",
            journal=str(path),
            records=len(records),
            position=state.position,
            open_orders=len(exchange.orders),
            in_flight=len(exchange.inflight),
            mode=settings.recovery,
        )
        if settings.recovery == "cancel" and (
            exchange.orders or exchange.inflight or exchange.cancels_inflight
        ):
            cancelled = exchange.cancel_all(CancelReason.RECOVERY)
            exchange.flush()
            log.info("open paper orders cancelled on recovery", count=cancelled)
        if replay:
            exchange.begin_replay()
        return exchange, journal
    except BaseException:
        journal.close()
        raise


def load_ledger(path: Path) -> tuple[PaperExchange, Journal]:
    """Rebuild a journal's exchange read-only, with the specs and settings it was written with."""
    journal = Journal.open(path, readonly=True)
    try:
        specs, settings = specs_from_meta(journal.meta, path)
        exchange = PaperExchange(specs, settings)
        records, state = journal.committed()
        exchange.restore(records, state, replay=False)
        return exchange, journal
    except BaseException:
        journal.close()
        raise
