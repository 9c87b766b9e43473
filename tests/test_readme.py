"""The README and every `--help`: each command's usage line in the README lists every option
the command accepts, and neither points at a file outside this repository."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from bot.cli import build_parser

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()


def _commands() -> dict[str, argparse.ArgumentParser]:
    """Every leaf command ("run", "config check", ...) and its parser."""
    found: dict[str, argparse.ArgumentParser] = {}

    def walk(parser: argparse.ArgumentParser, prefix: str) -> None:
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs:
            found[prefix] = parser
            return
        for name, child in subs[0].choices.items():
            walk(child, f"{prefix} {name}".strip())

    walk(build_parser(), "")
    return found


def _usage_block(command: str) -> str:
    """The README's usage line of ``mmbot COMMAND`` (with its continuation lines)."""
    lines = README.splitlines()
    for index, line in enumerate(lines):
        if re.match(rf"mmbot {re.escape(command)}(\s|$)", line):
            block = [line]
            for following in lines[index + 1 :]:
                if not following.startswith(" "):
                    break
                block.append(following)
            return "\n".join(block)
    raise AssertionError(f"README has no usage line for `mmbot {command}`")


COMMANDS = _commands()


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_readme_usage_lists_every_option(command: str) -> None:
    block = _usage_block(command)
    options = [
        max(action.option_strings, key=len)
        for action in COMMANDS[command]._actions
        if action.option_strings and action.dest != "help"
    ]
    missing = [option for option in options if not re.search(rf"{re.escape(option)}\b", block)]
    assert not missing, f"README usage of `mmbot {command}` lacks {missing}:\n{block}"


def test_readme_and_help_name_only_files_of_this_repository() -> None:
    texts = {"README.md": README}
    for command, parser in COMMANDS.items():
        texts[f"mmbot {command} --help"] = parser.format_help()
    for where, text in texts.items():
        assert "DESIGN.md" not in text and "/work/" not in text and "LIBRARY_NOTES" not in text, where
    # every repository path the README names exists (files a user is sent to)
    paths = set(re.findall(r"`((?:bot|config|docs|tests|benchmarks|\.ci)/[A-Za-z0-9_./-]+?)`", README))
    assert paths
    missing = [p for p in sorted(paths) if "<" not in p and "*" not in p and not (REPO / p).exists()]
    # names written as patterns (FILE, NAME) stand for any file of that folder
    missing = [p for p in missing if not re.search(r"[A-Z]{3,}", p)]
    assert not missing, missing
