"""The ``mmbot`` command line: a thin parser over small ``start_*`` functions.

Each subcommand lives in ``bot/commands/<name>.py`` and exposes
``register(subparsers)``, which adds its parser and sets ``func`` to its
``start_*`` function. This module only builds the parser and maps errors to exit
codes (DESIGN.md §5): 0 ok, 1 runtime failure, 2 bad input, 130 interrupted, 141
stdout closed early (``| head``; no message).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from importlib import import_module

from bot.errors import EXIT_BAD_INPUT, EXIT_BROKEN_PIPE, EXIT_FAILURE, EXIT_INTERRUPTED, MmbotError

COMMAND_MODULES = [
    "bot.commands.config_check",
    "bot.commands.run",
    "bot.commands.emulator",
    "bot.commands.markets",
    "bot.commands.deal",
    "bot.commands.research",
    "bot.commands.regimes",
    "bot.commands.obligations",
    "bot.commands.ledger",
    "bot.commands.kill",
    "bot.commands.replay",
    "bot.commands.report",
    "bot.commands.sweep",
]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        sys.stderr.write(f"mmbot: error: {message}\n")
        raise SystemExit(EXIT_BAD_INPUT)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="mmbot", description="Paper-trading market-making bot.")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    subparsers.required = True
    for name in COMMAND_MODULES:
        import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from bot.config import LoggingSettings
    from bot.ops.logging import configure_logging

    configure_logging(LoggingSettings())  # stderr; commands that load a config reconfigure
    try:
        result = args.func(args)
        sys.stdout.flush()
    except BrokenPipeError:  # stdout closed early (`mmbot ... | head`): stop quietly, like Unix tools
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except MmbotError as exc:
        sys.stderr.write(f"mmbot: error: {exc}\n")
        return exc.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("mmbot: interrupted\n")
        return EXIT_INTERRUPTED
    except Exception as exc:  # last resort: one line, no traceback unless debugging
        if "--debug" in sys.argv:
            raise
        sys.stderr.write(f"mmbot: unexpected error: {type(exc).__name__}: {exc}\n")
        return EXIT_FAILURE
    return int(result or 0)


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # stdout is not a real file (tests): nothing to flush
        pass


if __name__ == "__main__":
    raise SystemExit(main())
