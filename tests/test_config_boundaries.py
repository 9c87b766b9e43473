"""Every setting is checked where it enters (bot/inputmodel.py and the fields' own ranges): a bad
value anywhere in the settings tree -- NaN, infinities, 1e400, magnitudes nothing means, wrong types,
hosts, ports and URLs that do not parse, unknown keys -- is exit 2 with one message naming the
field, never a traceback or an odd run. The property tests walk the whole Settings model (numbers;
any field of any type given a value of the wrong kind; an unknown key in every section), so a field
added later is covered without touching this file; they run in process through the CLI's main()
(fast), and a few cases go through a real `mmbot` process."""

from __future__ import annotations

import contextlib
import io
import json
import math
import socket
import subprocess
import sys
import tempfile
import types
import typing
from decimal import Decimal
from pathlib import Path
from typing import Any, Union

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, TypeAdapter

from bot.cli import main
from bot.config import Settings, parse_listen
from bot.inputmodel import MAX_SECONDS, InputModel, check_number
from bot.strategy.profile import StrategyProfile

REPO = Path(__file__).resolve().parents[1]

# keys a dict-valued numeric field accepts (its values are what is under test)
DICT_KEYS = {"paper.starting_balances": "USDT", "risk.regimes.min_dwell_s": "calm"}


def numeric_leaves(model: type[BaseModel], prefix: str = "") -> list[tuple[str, str]]:
    """(dotted path, kind) of every int/float/Decimal the user can set, walking nested models,
    lists and the dicts of :data:`DICT_KEYS` (dicts of models need more than one key: skipped)."""
    out: list[tuple[str, str]] = []
    for name, field in model.model_fields.items():
        out += _leaves(field.annotation, f"{prefix}{name}")
    return out


def _leaves(annotation: Any, path: str) -> list[tuple[str, str]]:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (Union, types.UnionType):
        return [leaf for arg in args if arg is not type(None) for leaf in _leaves(arg, path)]
    if origin is typing.Annotated:
        return _leaves(args[0], path)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return numeric_leaves(annotation, path + ".")
    if origin in (list, tuple):
        return [(f"{path}[]", kind) for arg in args if arg is not Ellipsis for _, kind in _leaves(arg, "x")]
    if origin is dict:
        if path in DICT_KEYS:
            return [(f"{path}.{DICT_KEYS[path]}", kind) for _, kind in _leaves(args[1], "x")]
        return []
    if annotation in (int, float, Decimal):
        return [(path, annotation.__name__)]
    return []


SETTINGS_LEAVES = sorted(set(numeric_leaves(Settings)))
PROFILE_LEAVES = sorted(set(numeric_leaves(StrategyProfile)))


def toml_value(value: Any) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(value)


def toml_for(path: str, value: Any) -> tuple[str, str]:
    """(TOML text setting ``path`` to ``value``, the field name the error must carry)."""
    if path.endswith("[]"):
        path = path[:-2]
        value = [1.0, value]  # a bad item after a good one
    table, _, key = path.rpartition(".")
    field = path
    if table in DICT_KEYS:
        field = table
    return f"[{table}]\n{key} = {toml_value(value)}\n" if table else f"{key} = {toml_value(value)}\n", field


BAD_NUMBERS = st.sampled_from(
    [
        math.nan,
        math.inf,
        -math.inf,
        1e308,
        -1e308,
        1e16,
        -1e16,
        10**19,
        -(10**19),
        "1e400",
        "-1e400",
        "NaN",
        "Infinity",
        "12abc",
        "",
        [],
        {"x": 1},
    ]
)


def run_main(argv: list[str]) -> tuple[int, str]:
    """The CLI in process: (exit code, stderr); argument errors exit through SystemExit."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(argv)
        except SystemExit as exc:
            code = int(exc.code or 0)
    return code, err.getvalue()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(leaf=st.sampled_from(SETTINGS_LEAVES), value=BAD_NUMBERS)
def test_any_bad_number_anywhere_is_exit_2_naming_the_field(leaf: tuple[str, str], value: Any) -> None:
    path, _kind = leaf
    text, field = toml_for(path, value)
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "bad.toml"
        cfg.write_text(text)
        code, err = run_main(["config", "check", str(cfg)])
    assert code == 2, f"{path} = {value!r} was accepted:\n{err}"
    assert field in err, f"{path} = {value!r}: message does not name the field:\n{err}"
    assert "Traceback" not in err and "unexpected error" not in err


def every_leaf(model: type[BaseModel], prefix: str = "") -> list[tuple[str, Any]]:
    """(dotted path, annotation) of every scalar field the user can set, any type, walking
    nested models (dicts and lists are leaves: a wrong type for the whole container)."""
    out: list[tuple[str, Any]] = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if typing.get_origin(annotation) in (Union, types.UnionType) and len(args) == 1:
            annotation = args[0]
        if typing.get_origin(annotation) is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            out += every_leaf(annotation, f"{prefix}{name}.")
        else:
            out.append((f"{prefix}{name}", annotation))
    return out


def sections(model: type[BaseModel], prefix: str = "") -> list[str]:
    """Every table of the settings tree (to put an unknown key in)."""
    out = [prefix.rstrip(".")] if prefix else []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if typing.get_origin(annotation) in (Union, types.UnionType) and len(args) == 1:
            annotation = args[0]
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            out += sections(annotation, f"{prefix}{name}.")
    return out


SECRET_LEAVES = {
    "http.token",
    *(f"testnet.{v}.{k}" for v in ("binance_spot", "binance_usdm") for k in ("api_key", "api_secret")),
}
ALL_LEAVES = [(path, annotation) for path, annotation in every_leaf(Settings) if path not in SECRET_LEAVES]
WRONG_TYPES = st.sampled_from(
    [
        "no-such-choice",
        "maybe",
        [1, {"x": 1}],
        {"no_such_key": 1},
        {"nested": {"deep": [1.5]}},
        "1e400",
        math.nan,
        -1,
        10**30,
        True,
    ]
)


def accepts(annotation: Any, value: Any) -> bool:
    """Whether ``value`` is a legitimate value for a field of this annotation (then it is no
    bad input: skipped)."""
    try:
        TypeAdapter(annotation).validate_python(value)
    except Exception:
        return False
    return True


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(leaf=st.sampled_from(ALL_LEAVES), value=WRONG_TYPES)
def test_any_wrong_value_of_any_type_anywhere_is_exit_2_naming_the_field(
    leaf: tuple[str, Any], value: Any
) -> None:
    """Every field of the settings tree (strings, choices, booleans, paths, tables, lists and
    numbers): a value of the wrong kind is exit 2 naming the field."""
    path, annotation = leaf
    if accepts(annotation, value):
        return  # e.g. "maybe" for a free-text field: not bad input for this field
    table, _, key = path.rpartition(".")
    text = f"[{table}]\n{key} = {toml_value(value)}\n" if table else f"{key} = {toml_value(value)}\n"
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "bad.toml"
        cfg.write_text(text)
        code, err = run_main(["config", "check", str(cfg)])
    assert code == 2, f"{path} = {value!r} was accepted:\n{err}"
    assert path in err, f"{path} = {value!r}: message does not name the field:\n{err}"
    assert "Traceback" not in err and "unexpected error" not in err


@settings(max_examples=60, deadline=None)
@given(section=st.sampled_from(sections(Settings)))
def test_an_unknown_key_in_any_section_is_exit_2_naming_it(section: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "bad.toml"
        cfg.write_text(f"[{section}]\nno_such_key = 1\n")
        code, err = run_main(["config", "check", str(cfg)])
    assert code == 2 and f"{section}.no_such_key" in err and "Traceback" not in err, err


@settings(max_examples=150, deadline=None)
@given(leaf=st.sampled_from(PROFILE_LEAVES), value=BAD_NUMBERS)
def test_any_bad_number_in_a_strategy_profile_is_exit_2_naming_file_and_field(
    leaf: tuple[str, str], value: Any
) -> None:
    path, _kind = leaf
    table, _, _ = path.rpartition(".")
    quoter = (
        table
        if table in ("avellaneda_stoikov", "glft", "fixed_spread", "spread_optimizer")
        else "fixed_spread"
    )
    base: dict[str, dict[str, Any]] = {
        "fixed_spread": {"half_spread_ticks": 5.0},
        "avellaneda_stoikov": {"gamma": 0.1, "k": 1.0},
        "glft": {"gamma": 0.1, "xi": 0.1, "a": 1.0, "k": 1.0},
        "spread_optimizer": {},
        "ladder": {"size": "0.001", "max_position": "0.01"},
    }
    text, field = toml_for(path, value)
    with tempfile.TemporaryDirectory() as tmp:
        strategies = Path(tmp) / "strategies"
        strategies.mkdir()
        tables = {name: dict(body) for name, body in base.items() if name in (quoter, "ladder")}
        section, _, key = path.rpartition(".")
        profile = f'quoter = "{quoter}"\n'
        for name, body in tables.items():
            if name != section:
                profile += f"[{name}]\n" + "".join(f"{k} = {toml_value(v)}\n" for k, v in body.items())
        body = {k: v for k, v in tables.get(section, {}).items() if k != key}
        profile += text.replace(
            f"[{section}]\n", f"[{section}]\n" + "".join(f"{k} = {toml_value(v)}\n" for k, v in body.items())
        )
        (strategies / "mine.toml").write_text(profile)
        cfg = Path(tmp) / "bot.toml"
        cfg.write_text(
            f'[quoting]\nstrategies_dir = "{strategies}"\n[engines.btc]\nvenue = "binance_spot"\nsymbol = "BTCUSDT"\nstrategy = "mine"\n'
        )
        code, err = run_main(["config", "check", str(cfg)])
    assert code == 2, f"{path} = {value!r} was accepted:\n{err}"
    assert "mine.toml" in err and field.split(".", 1)[-1] in err, err
    assert "Traceback" not in err and "unexpected error" not in err


@settings(max_examples=100, deadline=None)
@given(
    listen=st.one_of(
        st.sampled_from(
            [
                "127.0.0.1:99999",
                "999.1.1.1:80",
                "1.2.3:80",
                "localhost",
                "localhost:",
                ":8080",
                "[::1:8080",
                "[zz::1]:80",
                "::1:8080",
                "a b:80",
                "-bad.example:80",
                "host:-1",
                "host:8o",
                "x" * 254 + ":80",
            ]
        ),
        st.tuples(st.sampled_from(["127.0.0.1", "localhost", "[::1]"]), st.integers(65536, 10**9)).map(
            lambda t: f"{t[0]}:{t[1]}"
        ),
    )
)
def test_bad_listen_addresses_are_exit_2_naming_http_listen(listen: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "bad.toml"
        cfg.write_text(f"[http]\nlisten = {json.dumps(listen)}\n")
        code, err = run_main(["config", "check", str(cfg)])
    assert code == 2 and "http.listen" in err and "Traceback" not in err, err


@pytest.mark.parametrize(
    ("listen", "expected"),
    [
        ("127.0.0.1:8080", ("127.0.0.1", 8080)),
        ("0.0.0.0:0", ("0.0.0.0", 0)),
        ("localhost:65535", ("localhost", 65535)),
        ("[::1]:9000", ("::1", 9000)),
        ("metrics.internal.example:1", ("metrics.internal.example", 1)),
    ],
)
def test_good_listen_addresses(listen: str, expected: tuple[str, int]) -> None:
    assert parse_listen(listen) == expected


URL_FIELDS = [
    ("venues.binance_spot", "ws_url", "wss"),
    ("venues.binance_spot", "rest_url", "https"),
    ("venues.binance_usdm", "ws_market_url", "wss"),
    ("venues.bybit_linear", "ws_url", "wss"),
    ("venues.okx_spot", "rest_url", "https"),
    ("venues.bitget_usdtm", "ws_url", "wss"),
    ("testnet.binance_spot", "rest_url", "https"),
]
BAD_URLS = [
    "stream.binance.com:9443",
    "not a url",
    "ftp://example.com/x",
    "wss://",
    "SCHEME://host:99999/ws",
    "SCHEME://host:0/ws",
    "SCHEME://host:port/ws",
    "SCHEME://999.1.1.1/ws",
    "SCHEME://-bad-.example/ws",
    "SCHEME://[zz::1]:80/ws",
    "SCHEME://[::1:80/ws",
    "SCHEME://a b.example/ws",
]


@settings(max_examples=80, deadline=None)
@given(field=st.sampled_from(URL_FIELDS), url=st.sampled_from(BAD_URLS), wrong_scheme=st.booleans())
def test_endpoint_urls_that_do_not_parse_are_exit_2_naming_the_field(
    field: tuple[str, str, str], url: str, wrong_scheme: bool
) -> None:
    """A URL that cannot be connected to is a settings error, not a reconnect loop."""
    table, key, scheme = field
    other = {"wss": "https", "https": "wss"}[scheme]
    text = url.replace("SCHEME", other if wrong_scheme else scheme)
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "bad.toml"
        cfg.write_text(f"[{table}]\n{key} = {json.dumps(text)}\n")
        code, err = run_main(["config", "check", str(cfg)])
    assert code == 2 and f"{table}.{key}" in err and "Traceback" not in err, (text, err)


def test_good_endpoint_urls_and_hosts_pass(tmp_path: Path) -> None:
    cfg = tmp_path / "good.toml"
    cfg.write_text(
        f'[quoting]\nstrategies_dir = "{REPO / "config" / "strategies"}"\n'
        '[venues.binance_spot]\nws_url = "ws://127.0.0.1:8765/ws"\nrest_url = "http://[::1]:8765/api"\n'
        '[venues.binance_usdm]\nws_market_url = "wss://fstream.binance.com/market"\n'
        '[testnet.binance_spot]\nrest_url = "https://testnet.binance.vision"\n'
        '[venues.ccxt.k]\nexchange = "kraken"\nurls = {"api.public" = "https://api.{hostname}/0/public"}\n'
        '[offline]\nhost = "::1"\n'
    )
    code, err = run_main(["config", "check", str(cfg)])
    assert code == 0, err
    for text, field in (
        (
            '[venues.ccxt.k]\nexchange = "kraken"\nurls = {"api.public" = "https://x:70000/"}\n',
            "venues.ccxt.k.urls",
        ),
        ('[offline]\nhost = "999.1.1.1"\n', "offline.host"),
    ):
        cfg.write_text(text)
        code, err = run_main(["config", "check", str(cfg)])
        assert code == 2 and field in err, err


def test_a_bad_endpoint_url_stops_run_before_it_connects(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text(
        f'data_dir = "{tmp_path / "data"}"\n[venues.binance_spot]\nws_url = "wss://stream.binance.com:99999"\n'
    )
    result = mmbot("run", "--config", str(cfg), "--duration", "5", "--http", "off")
    assert result.returncode == 2 and "venues.binance_spot.ws_url" in result.stderr, result.stderr
    assert "port" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "data").exists()


def test_the_issue_examples(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cases = [
        ('[paper.starting_balances]\nUSDT = "1e400"\n', "paper.starting_balances"),
        ("[risk.limits]\norders_per_s = inf\n", "risk.limits.orders_per_s"),
        ("[estimators]\nvol_horizons_s = [10.0, 1e308]\n", "estimators.vol_horizons_s"),
        ("[market]\nmax_buffer = 1e20\n", "market.max_buffer"),
        ('[http]\nlisten = "127.0.0.1:99999"\n', "http.listen"),
        ('[http]\nlisten = "999.1.1.1:8080"\n', "http.listen"),
        ("[paper.journal]\nretry_initial_s = 1e-400\n", "paper.journal.retry_initial_s"),
        ('[paper.starting_balances]\nBTC = "0.0000000000000000001"\n', "paper.starting_balances"),
    ]
    for text, field in cases:
        cfg = tmp_path / "bad.toml"
        cfg.write_text(text)
        code, err = run_main(["config", "check", str(cfg)])
        assert code == 2 and field in err and "Traceback" not in err, (text, err)
    monkeypatch.setenv("MMBOT_TESTNET__BINANCE_SPOT", "{not json")
    code, err = run_main(["config", "check", str(REPO / "config" / "default.toml")])
    assert code == 2 and "MMBOT_TESTNET__BINANCE_SPOT" in err and "not valid JSON" in err, err
    monkeypatch.setenv("MMBOT_TESTNET__BINANCE_SPOT", '{"rest_url": 5}')
    code, err = run_main(["config", "check", str(REPO / "config" / "default.toml")])
    assert code == 2 and "testnet.binance_spot.rest_url" in err, err
    monkeypatch.delenv("MMBOT_TESTNET__BINANCE_SPOT")
    monkeypatch.setenv("MMBOT_MARKET__MAX_BUFFER", "1e20")
    code, err = run_main(["config", "check", str(REPO / "config" / "default.toml")])
    assert code == 2 and "market.max_buffer" in err and "MMBOT_MARKET__MAX_BUFFER" in err, err


def nested_models(model: type[BaseModel]) -> set[type[BaseModel]]:
    found: set[type[BaseModel]] = set()

    def visit(annotation: Any) -> None:
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            if annotation not in found:
                found.add(annotation)
                for field in annotation.model_fields.values():
                    visit(field.annotation)
            return
        for arg in typing.get_args(annotation):
            visit(arg)

    for field in model.model_fields.values():
        visit(field.annotation)
    return found


def test_every_settings_model_is_an_input_model() -> None:
    """The checks above hold for a model only if it derives from InputModel: a new section
    built on a bare BaseModel would accept NaN and unknown keys silently."""
    models = nested_models(Settings) | nested_models(StrategyProfile) | {StrategyProfile}
    bare = sorted(m.__qualname__ for m in models if not issubclass(m, InputModel))
    assert len(models) > 30 and bare == []


def test_numbers_that_are_fine_pass() -> None:
    for value, name in ((0.0, "x"), (1e15, "x"), (-1e15, "x"), (Decimal("0.000000000000000001"), "x")):
        check_number(value, name)
    check_number(MAX_SECONDS, "timeout_s")
    with pytest.raises(ValueError, match="ten years"):
        check_number(MAX_SECONDS * 1.01, "timeout_s")
    with pytest.raises(ValueError, match="ten years"):
        check_number(MAX_SECONDS * 1001, "latency_ms")
    assert run_main(["config", "check", str(REPO / "config" / "default.toml")])[0] == 0
    assert run_main(["config", "check", str(REPO / "config" / "hedged.toml")])[0] == 0


def test_config_check_validates_the_profiles_run_would_load(tmp_path: Path) -> None:
    strategies = tmp_path / "strategies"
    strategies.mkdir()
    for path in (REPO / "config" / "strategies").glob("*.toml"):
        (strategies / path.name).write_text(path.read_text())
    cfg = tmp_path / "bot.toml"
    cfg.write_text(f'[quoting]\nstrategies_dir = "{strategies}"\n')
    code, _ = run_main(["config", "check", str(cfg)])
    assert code == 0
    # a profile reading sigma at a horizon the estimators lack: `mmbot run` would refuse it for an
    # engine; another profile in the directory is only noted (profiles are shared by configs)
    (strategies / "other.toml").write_text(
        'quoter = "avellaneda_stoikov"\n[avellaneda_stoikov]\ngamma = 0.1\nk = 1.0\nsigma_horizon_s = 7.0\n'
        '[ladder]\nsize = "0.001"\nmax_position = "0.01"\n'
    )
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        assert main(["config", "check", str(cfg)]) == 0
    assert "note: not switchable under this config: " in out.getvalue()
    assert "other.toml: avellaneda_stoikov.sigma_horizon_s: 7" in out.getvalue()
    engine = '[engines.btc]\nvenue = "binance_spot"\nsymbol = "BTCUSDT"\nstrategy = "other"\n'
    cfg.write_text(f'[quoting]\nstrategies_dir = "{strategies}"\n' + engine)
    code, err = run_main(["config", "check", str(cfg)])
    assert code == 2 and "other.toml: avellaneda_stoikov.sigma_horizon_s: 7" in err, err
    assert "used by engines ['btc']" in err
    # a profile file that is invalid is an error whoever uses it
    (strategies / "other.toml").write_text('quoter = "avellaneda_stoikov"\n')
    cfg.write_text(f'[quoting]\nstrategies_dir = "{strategies}"\n')
    code, err = run_main(["config", "check", str(cfg)])
    assert code == 2 and "other.toml" in err, err
    (strategies / "other.toml").unlink()
    # the engine's own profile with a ladder size below the instrument's order step
    text = (strategies / "as_default.toml").read_text()
    (strategies / "as_default.toml").write_text(
        "\n".join('size = "0.0000001"' if line.startswith("size =") else line for line in text.splitlines())
    )
    code, err = run_main(["config", "check", str(cfg)])
    assert code == 2 and "as_default.toml: engine btcusdt (binance_spot:BTCUSDT)" in err
    assert "below the order step" in err
    # a missing profile
    cfg.write_text(
        f'[quoting]\nstrategies_dir = "{strategies}"\n[engines.btc]\nvenue = "binance_spot"\nsymbol = "BTCUSDT"\nstrategy = "nope"\n'
    )
    code, err = run_main(["config", "check", str(cfg)])
    assert code == 2 and "strategy 'nope': no nope.toml in" in err and "no such profile" in err


def test_config_check_loads_the_deal_of_every_hedged_engine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`mmbot run` refuses an invalid deal file or one on another token: so does config check."""
    head = (
        f'[quoting]\nstrategies_dir = "{REPO / "config" / "strategies"}"\n'
        '[engines.btcusdt]\nvenue = "binance_spot"\nsymbol = "BTCUSDT"\n'
        'hedge = { venue = "binance_usdm", symbol = "BTCUSDT" }\n'
    )
    cfg = tmp_path / "bot.toml"
    deal = tmp_path / "deal.toml"
    text = (REPO / "config" / "deals" / "abc.toml").read_text()
    deal.write_text(text.replace('loan_delta = "usd_debt"', ""))
    cfg.write_text(head + f'[hedge]\ndeal = "{deal}"\n')
    code, err = run_main(["config", "check", str(cfg)])
    assert code == 2 and f"{deal}: loan_delta: required key is missing" in err and "engine btcusdt" in err, (
        err
    )
    deal.write_text(text)  # valid, but an ABC deal for a BTC engine
    code, err = run_main(["config", "check", str(cfg)])
    assert code == 2 and f"hedge.deal: {deal} is a ABC/USDT deal, engine btcusdt trades BTC/USDT" in err, err
    monkeypatch.setenv("MMBOT_HEDGE__DEAL", str(deal))  # the ABC deal on the shipped ABC market
    code, err = run_main(["config", "check", str(REPO / "config" / "abc.toml")])
    assert code == 0, err


def mmbot(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args], cwd=REPO, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ('[paper.starting_balances]\nUSDT = "1e400"\n', "paper.starting_balances"),
        ("[market]\nmax_buffer = 1e20\n", "market.max_buffer"),
        ('[http]\nlisten = "999.1.1.1:80"\n', "http.listen"),
    ],
)
def test_real_process_run_refuses_bad_settings_before_anything_starts(
    tmp_path: Path, text: str, field: str
) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text(f'data_dir = "{tmp_path / "data"}"\n' + text)
    result = mmbot("run", "--config", str(cfg), "--offline", "--duration", "5")
    assert result.returncode == 2 and field in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "data").exists()


def test_a_listen_address_that_cannot_be_bound_is_exit_2_naming_where_it_came_from(tmp_path: Path) -> None:
    """Valid syntax, but not bindable here: a port another process holds, an address that is not
    this machine's (TEST-NET-1); likewise the offline emulator's address. Exit 2 naming the
    setting, not "unexpected error"."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        for listen, why in ((f"127.0.0.1:{port}", "in use"), ("192.0.2.1:8080", "not available")):
            result = mmbot(
                "run", "--offline", "--duration", "5", "--data-dir", str(tmp_path / "data"), "--http", listen
            )
            assert result.returncode == 2, result.stderr[-2000:]
            last = result.stderr.strip().splitlines()[-1]
            assert (
                last.startswith(f"mmbot: error: --http {listen}: cannot listen on {listen}") and why in last
            )
            assert "Traceback" not in result.stderr
    cfg = tmp_path / "off.toml"
    cfg.write_text(f'data_dir = "{tmp_path / "data"}"\n[offline]\nhost = "192.0.2.1"\n')
    result = mmbot("run", "--config", str(cfg), "--offline", "--duration", "5", "--http", "off")
    assert (
        result.returncode == 2
        and "offline.host/offline.port: the emulator cannot listen on 192.0.2.1" in (result.stderr)
    )


@pytest.mark.parametrize("duration", ["nan", "inf", "-inf", "-1", "0", "1e308", "soon", ""])
def test_bad_durations_are_exit_2_naming_the_argument(duration: str) -> None:
    code, err = run_main(["run", "--offline", "--duration", duration])
    assert code == 2 and "argument --duration" in err, err


def test_real_process_bad_duration_and_unusable_data_dir(tmp_path: Path) -> None:
    for duration in ("nan", "1e308"):
        result = mmbot("run", "--offline", "--duration", duration)
        assert result.returncode == 2 and "argument --duration" in result.stderr, result.stderr
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = mmbot(
        "run", "--offline", "--duration", "5", "--data-dir", str(blocker / "data"), "--http", "off"
    )
    assert result.returncode == 2 and "data_dir:" in result.stderr and "Traceback" not in result.stderr


def test_new_data_dir_on_a_read_only_filesystem(tmp_path: Path) -> None:
    mount = tmp_path / "ro"
    mount.mkdir()
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "ro,size=1m", "mmbot-ro", str(mount)], capture_output=True, text=True
    )
    if made.returncode != 0:
        pytest.skip(f"cannot mount a read-only tmpfs here: {made.stderr.strip()}")
    try:
        result = mmbot(
            "run", "--offline", "--duration", "5", "--data-dir", str(mount / "new"), "--http", "off"
        )
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True, check=False)
    assert result.returncode == 2, result.stderr
    assert "data_dir:" in result.stderr and "Read-only file system" in result.stderr


@pytest.mark.parametrize(
    ("argv", "argument"),
    [
        (["emulator", "--seed", "-5"], "--seed"),
        (["ledger", "show", "x", "--fills", "-1"], "--fills"),
        (["markets", "show", "binance_spot:BTCUSDT", "--timeout", "nan"], "--timeout"),
        (["replay", "x.gz", "--out", "y", "--commit-every", "0"], "--commit-every"),
        (["research", "as-table", "--paths", "0"], "--paths"),
    ],
)
def test_numeric_arguments_are_checked_by_the_parser(argv: list[str], argument: str) -> None:
    code, err = run_main(argv)
    assert code == 2 and f"argument {argument}" in err and "Traceback" not in err, err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["research", "as-table", "--paths", "10", "--gamma", "inf"], "--gamma must be a positive, finite"),
        (["regimes", "calibrate", "x.gz", "--warmup-s", "nan"], "--warmup-s: must be a finite"),
    ],
)
def test_numeric_arguments_checked_by_their_commands(argv: list[str], message: str) -> None:
    code, err = run_main(argv)
    assert code == 2 and message in err and "Traceback" not in err, err
