"""The Strategy protocol, the registry, NIJA_STRATEGY and parameter overrides (`--set name=value`)."""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from nija import app, build
from nija.config import STRATEGY_NAMES, ConfigError, load_settings
from nija.models import BrokerName, Position
from nija.strategy import registry
from nija.strategy.apex import DEFAULT_PARAMS, ApexParams, evaluate_entry, evaluate_exit, initial_exit_state
from nija.strategy.apex_series import ApexSeries, ApexStrategy
from nija.strategy.base import ExitState, ParameterError, SeriesEvaluation, Strategy, UnknownStrategy
from nija.strategy.params import parameter_names, with_overrides

from .builders import entry_arrays, to_candles

CANDLES = to_candles(entry_arrays())


def test_apex_is_the_default_and_a_strategy() -> None:
    strategy = registry.default_strategy()
    assert isinstance(strategy, ApexStrategy) and isinstance(strategy, Strategy)
    assert strategy.name == registry.DEFAULT_STRATEGY == "apex"
    assert strategy.params == DEFAULT_PARAMS
    assert strategy.candles_needed == 261  # 200 + 60 + 1: the lookback of the default window
    assert isinstance(strategy.precompute(CANDLES), SeriesEvaluation)


def test_registry_lookup_and_unknown_names() -> None:
    assert registry.names()[0] == "apex"
    assert registry.get(" APEX ").name == "apex"
    with pytest.raises(UnknownStrategy, match=r"^unknown strategy 'turtle'; known: apex$"):
        registry.get("turtle")


def test_config_accepts_exactly_the_registered_names() -> None:
    assert STRATEGY_NAMES == registry.names()  # config may not import strategy/: two lists, kept equal


def test_nija_strategy_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings(_env_file=None).strategy == "apex"
    monkeypatch.setenv("NIJA_STRATEGY", "Apex")
    assert load_settings(_env_file=None).strategy == "apex"
    monkeypatch.setenv("NIJA_STRATEGY", "turtle")
    with pytest.raises(ConfigError) as caught:
        load_settings(_env_file=None)
    assert str(caught.value) == "config error: NIJA_STRATEGY='turtle': unknown strategy; accepted: apex"


def test_the_daemon_s_loops_trade_the_configured_strategy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NIJA_STRATEGY", "apex")
    assert build.loop_config(load_settings(_env_file=None)).strategy == registry.get("apex")


def test_an_unknown_strategy_stops_the_daemon_at_start_with_exit_2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NIJA_STRATEGY", "turtle")
    err = io.StringIO()
    assert app.main([], err=err) == 2
    assert "NIJA_STRATEGY='turtle': unknown strategy; accepted: apex" in err.getvalue()
    assert len(err.getvalue().strip().splitlines()) == 1


def test_the_protocol_calls_the_apex_rules() -> None:
    strategy = registry.get("apex").with_fee_floor(0.0056)
    assert strategy.params == replace(DEFAULT_PARAMS, min_take_profit_pct=0.0056)
    assert repr(strategy.evaluate_entry(CANDLES)) == repr(evaluate_entry(CANDLES, strategy.params))
    held = Position(broker=BrokerName.KRAKEN, account="master", symbol="BTC/USD", qty=Decimal(2),
                    entry_price=Decimal(100), opened_at=datetime(2026, 1, 1, tzinfo=UTC))  # fmt: skip
    state = strategy.initial_exit_state(held, Decimal("99.5"))
    assert state == initial_exit_state(held, Decimal("99.5"), strategy.params)
    assert strategy.state_from_record(state.to_record()) == state
    price = Decimal("100.3")
    expected = evaluate_exit(held, state, price, CANDLES, strategy.params)
    assert strategy.evaluate_exit(held, state, price, CANDLES) == expected


def test_entry_note_says_when_the_fee_floor_raised_the_ladder() -> None:
    decision = evaluate_entry(CANDLES)
    assert decision.enter
    assert ApexStrategy().entry_note(decision) is None
    note = ApexStrategy().with_fee_floor(0.05).entry_note(decision)
    assert note is not None and note.startswith("TP ladder raised")


def test_overrides_parse_by_the_type_of_each_parameter() -> None:
    params = with_overrides(DEFAULT_PARAMS, {"adx_min": "25", "indicator_window": "300",
                                             "tp_r_multiples": "1.5, 3", "tp_fractions": "0.5,0.5"})  # fmt: skip
    assert params == replace(DEFAULT_PARAMS, adx_min=25.0, indicator_window=300, tp_r_multiples=(1.5, 3.0),
                             tp_fractions=(0.5, 0.5))  # fmt: skip
    assert params.window.lookback == 361
    assert DEFAULT_PARAMS.adx_min == 20.0  # a new object; the defaults are untouched
    assert with_overrides(DEFAULT_PARAMS, {"stop_atr_mult": 1.0}).stop_atr_mult == 1.0  # values need not be text
    assert with_overrides(DEFAULT_PARAMS, {}) == DEFAULT_PARAMS


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"adx_mni": "25"}, r"^unknown parameter 'adx_mni'; known: indicator_window, seed_period_minutes, "),
        ({"adx_min": "high"}, r"^adx_min: must be a number, was 'high'$"),
        ({"adx_min": "nan"}, r"^adx_min: must be a finite number, was 'nan'$"),
        ({"adx_min": "120"}, r"^adx_min: must be a number from 0 to 100, was 120\.0$"),
        ({"indicator_window": "20.5"}, r"^indicator_window: must be a whole number, was '20\.5'$"),
        ({"indicator_window": "30"}, r"^indicator_window: must be a whole number from 60 to 5000, was 30$"),
        ({"vwap_window": "500"}, r"^vwap_window: must be a whole number from 1 to indicator_window, was 500$"),
        ({"rsi_low": "80"}, r"^rsi_high: must be a number from rsi_low to 100, was 70\.0$"),
        ({"tp_fractions": "0.5,0.5"}, r"^tp_r_multiples and tp_fractions must pair up, were 3 and 2 long$"),
        ({"tp_fractions": ""}, r"^tp_fractions: must be a comma list of numbers, was ''$"),
        ({"emergency_loss_pct": "1"}, r"^emergency_loss_pct: must be a fraction above 0 and below 1"),
    ],
)
def test_a_bad_override_is_one_line_naming_the_parameter(overrides: dict[str, str], message: str) -> None:
    with pytest.raises(ParameterError, match=message) as caught:
        with_overrides(DEFAULT_PARAMS, overrides)
    assert isinstance(caught.value, ValueError) and "\n" not in str(caught.value)


def test_the_strategy_applies_overrides_to_a_copy() -> None:
    strategy = ApexStrategy().with_overrides({"entry_min_conditions": "5"})
    assert strategy.params.entry_min_conditions == 5 and ApexStrategy().params.entry_min_conditions == 3
    with pytest.raises(ParameterError, match="entry_min_conditions: must be a whole number from 0 to 5, was 6"):
        strategy.with_overrides({"entry_min_conditions": "6"})


def test_every_parameter_can_be_named() -> None:
    assert parameter_names(DEFAULT_PARAMS)[:3] == ("indicator_window", "seed_period_minutes", "vwap_window")
    assert set(parameter_names(DEFAULT_PARAMS)) == set(ApexParams.__dataclass_fields__)


def test_the_series_finds_candles_by_open_time() -> None:
    series = ApexSeries(CANDLES)
    assert series.index_of(CANDLES.ts[17]) == 17
    assert series.index_of(123.0) is None
    assert len(series) == len(CANDLES)


def test_exit_state_moved_to_base_is_still_apex_s() -> None:
    from nija.strategy import apex

    assert apex.ExitState is ExitState
