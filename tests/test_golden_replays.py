"""The speed-ups of the replay hot path change nothing the engine writes.

Each case replays a fixed input (the reference stream, the real Binance spot and USD-M
recordings, the ABC market with its obligation, a hedged spot + perp engine) and compares the
digest of its journals and summary with the one the code before the speed-up wrote
(``tests/data/golden_replays.json``, see :mod:`tests.golden_kit`): byte-identical outputs are the
invariant of every structural change (shared books, type dispatch, reports built only for a
consumer, the order path) and of the compiled build. The cases marked slow cover more profiles and
recordings with the same code paths.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import golden_kit

GOLDEN = golden_kit.load_golden()


def _params() -> list[object]:
    return [
        pytest.param(name, marks=() if case.fast else pytest.mark.slow)
        for name, case in golden_kit.CASES.items()
    ]


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("golden")


@pytest.mark.parametrize("name", _params())
def test_replay_writes_exactly_what_the_code_before_the_speed_up_wrote(work: Path, name: str) -> None:
    assert golden_kit.run_case(name, work) == GOLDEN[name], (
        f"{name}: the journal or summary differs from the golden run; "
        f"`python -m tests.golden_kit {name}` prints the digest"
    )


def test_every_case_has_a_golden_digest() -> None:
    assert set(golden_kit.CASES) == set(GOLDEN)
