"""The defaults shipped inside the package (bot/defaults), the config and profile search
order, `mmbot config check` (which files a run would use) and `mmbot config init`."""

from __future__ import annotations

import json
import os
from decimal import Decimal
from pathlib import Path

import pytest

from bot.cli import main
from bot.config import Settings, config_source, load_settings
from bot.defaults import PACKAGED_CONFIG, PACKAGED_DIR, shipped_files, strategy_search_path
from bot.engine.assemble import find_strategy, load_strategy, strategy_search

REPO = Path(__file__).resolve().parents[1]
NOT_PACKAGED = "monitoring/"
"""Prometheus' config and Grafana's dashboard and provisioning: used by docker compose from the
repository, not by mmbot."""


def test_repository_config_equals_the_packaged_copy() -> None:
    repo_files = {
        rel
        for path in (REPO / "config").rglob("*")
        if path.is_file() and not (rel := str(path.relative_to(REPO / "config"))).startswith(NOT_PACKAGED)
    }
    packaged = {str(path) for path in shipped_files()}
    assert repo_files == packaged, "config/ and bot/defaults/ list different files"
    for rel in sorted(packaged):
        assert (REPO / "config" / rel).read_bytes() == (PACKAGED_DIR / rel).read_bytes(), (
            f"config/{rel} differs from bot/defaults/{rel}: config/ is the edited copy; "
            f"run `cp config/{rel} bot/defaults/{rel}`"
        )
    assert {"default.toml", "hedged.toml", "strategies/as_default.toml", "deals/abc.toml"} <= packaged


def test_search_order_argument_then_local_then_packaged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    source = config_source(None)
    assert (source.path, source.origin) == (PACKAGED_CONFIG, "packaged")
    settings = load_settings(None)
    assert settings.paper.starting_balances == {"USDT": Decimal("100000"), "BTC": Decimal("0.02")}
    # a ./config/default.toml wins over the packaged one
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "default.toml").write_text('data_dir = "local-data"\n')
    assert config_source(None).origin == "./config"
    assert load_settings(None).data_dir == Path("local-data")
    # --config wins over both
    explicit = tmp_path / "mine.toml"
    explicit.write_text('data_dir = "mine"\n')
    assert config_source(explicit).origin == "--config"
    assert load_settings(explicit).data_dir == Path("mine")


def test_profiles_next_to_the_config_then_local_then_packaged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    conf = tmp_path / "conf"
    (conf / "strategies").mkdir(parents=True)
    (conf / "default.toml").write_text("")
    (tmp_path / "config" / "strategies").mkdir(parents=True)
    text = (PACKAGED_DIR / "strategies" / "fixed.toml").read_text()
    (conf / "strategies" / "mine.toml").write_text(text)
    (tmp_path / "config" / "strategies" / "mine.toml").write_text(text)
    (tmp_path / "config" / "strategies" / "local.toml").write_text(text)
    search = strategy_search(load_settings(conf / "default.toml"), conf / "default.toml")
    assert [s.origin for s in search] == ["next to the config file", "./config", "packaged"]
    assert find_strategy(search, "mine") == conf / "strategies" / "mine.toml"
    assert find_strategy(search, "local") == Path("config") / "strategies" / "local.toml"
    assert find_strategy(search, "glft") == PACKAGED_DIR / "strategies" / "glft.toml"
    assert load_strategy(search, "as_default").quoter == "avellaneda_stoikov"
    # quoting.strategies_dir is searched first
    first = tmp_path / "first"
    first.mkdir()
    (first / "glft.toml").write_text(text)
    settings = load_settings(conf / "default.toml", quoting={"strategies_dir": str(first)})
    assert find_strategy(strategy_search(settings, conf / "default.toml"), "glft") == first / "glft.toml"
    with pytest.raises(Exception, match=r"strategy 'nope': no nope.toml in .*known profiles: \["):
        find_strategy(search, "nope")


def test_packaged_search_path_has_no_duplicates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    search = strategy_search_path(config_source(None))
    assert [(s.path, s.origin) for s in search] == [(PACKAGED_DIR / "strategies", "packaged")]


def test_config_check_without_argument_names_the_files_a_run_would_use(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["config", "check"]) == 0
    out = capsys.readouterr().out
    assert f"config: {PACKAGED_CONFIG} (packaged)" in out
    assert f"engine btcusdt: strategy as_default (avellaneda_stoikov) from {PACKAGED_DIR}" in out
    assert main(["config", "check", "--json", "--strategy", "glft"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["config"] == {"path": str(PACKAGED_CONFIG), "origin": "packaged"}
    assert report["profiles"]["btcusdt"]["file"] == str(PACKAGED_DIR / "strategies" / "glft.toml")
    assert report["settings"]["paper"]["starting_balances"] == {"USDT": "100000", "BTC": "0.02"}


def test_config_check_validates_every_profile_the_run_would_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "config" / "strategies").mkdir(parents=True)
    (tmp_path / "config" / "default.toml").write_text("")
    (tmp_path / "config" / "strategies" / "as_default.toml").write_text('quoter = "glft"\n')
    assert main(["config", "check"]) == 2
    err = capsys.readouterr().err
    assert "config/strategies/as_default.toml: ladder: required key is missing" in err
    # an unknown profile named by --strategy is the same kind of error
    (tmp_path / "config" / "strategies" / "as_default.toml").unlink()
    assert main(["config", "check", "--strategy", "nope"]) == 2
    assert "strategy 'nope'" in capsys.readouterr().err


def test_config_init_writes_an_editable_copy_and_refuses_to_overwrite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["config", "init"]) == 0  # default: ./config, which run then picks up
    for rel in shipped_files():
        assert (tmp_path / "config" / rel).read_bytes() == (PACKAGED_DIR / rel).read_bytes()
    assert "`mmbot run` in this directory now uses them" in capsys.readouterr().out
    edited = tmp_path / "config" / "default.toml"
    edited.write_text(edited.read_text().replace('data_dir = "data"', 'data_dir = "edited"'))
    assert config_source(None).origin == "./config" and load_settings(None).data_dir == Path("edited")
    assert main(["config", "init", "config"]) == 2
    err = capsys.readouterr().err
    assert "would overwrite" in err and "--force" in err
    assert "edited" in edited.read_text()  # nothing written
    assert main(["config", "init", "config", "--force"]) == 0
    assert 'data_dir = "data"' in edited.read_text()
    target = tmp_path / "elsewhere"
    assert main(["config", "init", str(target)]) == 0
    assert f"mmbot run --config {target / 'default.toml'}" in capsys.readouterr().out
    assert main(["config", "check", str(target / "hedged.toml")]) == 0
    assert f"{target / 'strategies'} (next to the config file)" in capsys.readouterr().out


def test_config_init_into_a_file_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "file"
    path.write_text("")
    assert main(["config", "init", str(path)]) == 2
    assert "not a directory" in capsys.readouterr().err
    assert os.listdir(tmp_path) == ["file"]


def test_default_toml_documents_the_defaults_a_partial_config_gets(tmp_path: Path) -> None:
    """A config that leaves a key out gets what config/default.toml says (the installed bot
    once ran with 10,000 USDT and no BTC and a warm-up twice as long: the file's values were
    not the built-in ones)."""
    assert Settings().model_dump(mode="json") == load_settings(PACKAGED_CONFIG).model_dump(mode="json")
    partial = tmp_path / "partial.toml"
    partial.write_text("[paper]\nseed = 3\n[estimators]\nvol_horizons_s = [10.0, 300.0, 3600.0]\n")
    settings = load_settings(partial)
    assert settings.paper.starting_balances == {"USDT": Decimal("100000"), "BTC": Decimal("0.02")}
    assert settings.estimators.vol_warmup_fraction == 0.1
    # a table the user writes replaces the default one (no BTC unless they say so)
    partial.write_text('[paper.starting_balances]\nUSDT = "5000"\n')
    assert load_settings(partial).paper.starting_balances == {"USDT": Decimal("5000")}
