"""User-facing error classes and their exit codes (DESIGN.md §5).

``bot/cli.py`` maps these to exit codes in one place: 0 ok, 1 runtime failure,
2 bad input (config, arguments, files). Messages are written for the user and are
printed as they are, without a traceback.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141
"""stdout was closed before the output was written (``mmbot ... | head``): 128 + SIGPIPE, no message."""


class MmbotError(Exception):
    """A failure the user should read; no traceback."""

    exit_code = EXIT_FAILURE


class InputError(MmbotError):
    """Bad input: config, command-line arguments, data files."""

    exit_code = EXIT_BAD_INPUT


class ConfigError(InputError):
    """Bad configuration; the message is meant for the user as is."""
