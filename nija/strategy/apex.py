"""APEX v7.1 (canonical S0): entry decision, 0–100 score and exit decision for spot, long only.

Pure: functions of candles, a position and a price; no I/O, no clock, no state. "§" cites the
research note shared/research/nija-original.md (beside the project). Defaults live in `ApexParams`
(`nija.strategy.apex_params`), exits in `nija.strategy.apex_exit`. `decide_entry` holds the entry
rules once: `evaluate_entry` feeds it one window's indicators, `nija.strategy.apex_series` the
same values read from whole-series arrays.

Entry (`evaluate_entry`, `evaluate_entries` for many symbols at once), first failing step wins:
  1. Data (§1.1): the last `lookback` = 261 candles (`nija.strategy.window`: indicators seeded
     at the first candle of an hour 200–260 candles back, VWAP over the last 100), else no
     entry; how many more were fetched changes nothing. Every open, high, low and close must be
     finite and > 0 and every volume finite in those candles (the original dropped NaN rows per
     indicator and misaligned the series); every indicator must be defined at the last candle.
     Bad data is a reason, never an exception.
  2. Hard gates (§1.3 S0): ADX(14) ≥ `adx_min` = 20 and volume ratio ≥ `volume_ratio_min` = 0.5,
     the ratio being the last volume over the mean of the last `volume_ratio_window` = 5
     volumes, the last one included.
  3. Market filter (§1.3 S0): LONG only when all five hold: close > VWAP; EMA9 > EMA21 > EMA50;
     MACD(12/26/9) histogram > 0; ADX > 20 (strict, as in the original); volume ratio ≥ 0.5.
     Spot is long-only: a downtrend is "no trade", never a short (§1.7: fail closed).
  4. Entry conditions (§1.4 S0): at least `entry_min_conditions` = 3 of
     (a) pullback: |close − EMA21| / EMA21 < `pullback_tolerance` = 0.5 %, or the same to VWAP;
     (b) RSI(14): `rsi_low` = 30 < RSI < `rsi_high` = 70 and RSI above its previous value;
     (c) candle: bullish engulfing (previous red, current green, close > previous open,
         open < previous close) or hammer (green, lower wick > 2 × body, wick / range > 0.6);
     (d) MACD histogram above its previous value;
     (e) volume ≥ `volume_prev_mult` = 0.6 × mean volume of the two previous candles.
  5. Stop (§1.9 S0): min(low of the last `swing_lookback` = 10 candles) − `stop_atr_mult` = 0.5
     × ATR(14). No entry if the stop is not below the close, or (our addition) not above zero.

Score (§1.5, long side; reported with every computable decision, it never gates an entry):
  trend ≤ 25 = ADX (≥40: 10, ≥30: 8, ≥25: 6, ≥20: 4, else 2)
             + EMA stack (close > EMA9 > EMA21 > EMA50: 10; close > EMA9 > EMA21: 7;
               close > EMA9: 4) + VWAP side (close above VWAP by > 2 %: 5, > 1 %: 3, else 2;
               at or below VWAP: 0);
  momentum ≤ 20 = RSI (40 < RSI < 70: 5, plus 5 if rising or 3 if it fell by less than 2;
               30 < RSI ≤ 40: 7; RSI ≥ 70: 2) + MACD histogram (> 0: 5, plus 5 if rising
               else 2; ≤ 0 but rising: 3);
  price action ≤ 20 = candle (engulfing 10, hammer 8; the original's "body" branches were
               unreachable, so they are left out) + proximity (close within 1 % of EMA21 or
               VWAP: 10, within 2 %: 5);
  volume ≤ 15 = ratio ≥ 1.5: 15, ≥ 1.2: 10, ≥ 0.8: 5, ≥ 0.5: 2;
  structure ≤ 20 = close within 2 % of the 20-candle low: 15, 5 %: 10, 10 %: 5; plus 5 for a
               higher low (min low of the last 10 > min low of the 10 before).

Exit (`evaluate_exit`, §1.9 S0 with the §1.11 fixes), one action per call, first match wins:
  1. Emergency (§1.9): (price − entry) / entry ≤ −`emergency_loss_pct` = −1 % → sell all held.
  2. Stop: price ≤ the position's stop → sell all.
  3. Take profit (R = entry − initial stop): price ≥ entry + 1R at stage 0 → sell 50 % of the
     initial quantity, stop to breakeven; ≥ entry + 2R at stage 1 → sell 25 % of initial;
     ≥ entry + 3R at stage 2 → sell the rest. Each sell is capped at what is held.
     Fee floor: every level must gain at least `min_take_profit_pct` (the broker's round trip
     + MIN_NET_PROFIT_PCT, set per broker by the loop). A tight stop makes R small, so 1R can
     sit below the fees; then the whole ladder is scaled up until its lowest level meets the
     floor (ratios kept), and the decision says "raised".
  4. Trailing (after TP1 only): price ≤ trailing stop → sell all; else the trailing stop is
     raised to price − `trailing_atr_mult` = 1.5 × ATR(14), never lowered, never below entry.
  5. EMA cross: EMA9 < EMA21 at the last candle → sell all.
  Steps 4 (the raise) and 5 need candles; without usable candles they are skipped. Missing data
  never sells (the original sold on "insufficient market data", §1.1).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Final

import numpy as np

from nija.models import Candles
from nija.strategy.apex_exit import (
    ExitReadings,
    TakeProfitLadder,
    decide_exit,
    evaluate_exit,
    initial_exit_state,
    take_profit_ladder,
)
from nija.strategy.apex_params import DEFAULT_PARAMS, LOW_BARS, ApexParams
from nija.strategy.base import EntryDecision, ExitAction, ExitDecision, ExitState
from nija.strategy.indicators import ratio_to_mean
from nija.strategy.window import Readings, Rejected, check_windows, readings

__all__ = [
    "DEFAULT_PARAMS",
    "ApexParams",
    "EntryDecision",
    "ExitAction",
    "ExitDecision",
    "ExitReadings",
    "ExitState",
    "TakeProfitLadder",
    "decide_entry",
    "decide_exit",
    "evaluate_entries",
    "evaluate_entry",
    "evaluate_exit",
    "initial_exit_state",
    "take_profit_ladder",
]

# Enhanced score (§1.5): its tables are unrolled in `_score` and listed in the module docstring.
_LOW_BARS: Final = LOW_BARS  # "20-bar low"; the higher-low test compares its two halves
_LOW_HALF: Final = _LOW_BARS // 2
_HAMMER_WICK_BODY: Final = 2.0  # hammer: lower wick > 2 × body (§1.4)
_HAMMER_WICK_RANGE: Final = 0.6  # hammer: lower wick / range > 0.6 (§1.4)
_ALL_UP: Final = (True, True, True, True)
_CONDITION_NAMES: Final = ("pullback", "rsi", "candle", "macd_rising", "volume")
_READING_NAMES: Final = ("EMA9", "EMA21", "EMA50", "ATR", "ADX", "RSI", "RSI", "MACD histogram", "MACD histogram")


def evaluate_entry(candles: Candles, params: ApexParams = DEFAULT_PARAMS) -> EntryDecision:
    """Decide whether to open a long on the last candle (APEX v7.1 S0; never raises on bad data)."""
    return evaluate_entries((candles,), params)[0]


def evaluate_entries(universe: Sequence[Candles], params: ApexParams = DEFAULT_PARAMS) -> list[EntryDecision]:
    """`evaluate_entry` for every candle set of `universe`, in order: the windows are checked
    together (`check_windows`), then each is decided alone."""
    decisions = []
    for window in check_windows(universe, params.window):
        if isinstance(window, Rejected):
            decisions.append(EntryDecision(False, window.reason, price=window.price))
        else:
            decisions.append(decide_entry(readings(window), window.rows, window.volume, params))
    return decisions


def decide_entry(
    values: Readings | Sequence[float], rows: np.ndarray, volume: np.ndarray, params: ApexParams
) -> EntryDecision:
    """Steps 2–5 and the score, given the indicator values at the last candle of a checked window
    (in the order of `Readings`' fields; `rows`: its open, high, low and close as a (4, n) array;
    `volume` beside it)."""
    # One flat function of local floats on purpose: it runs for every symbol of every cycle and
    # every candle of a backtest; helper objects and attribute reads showed up in the benches.
    ema9, ema21, ema50, rsi_prev, rsi_now, hist_prev, hist, atr_now, adx_now, vwap = values
    if not math.isfinite(ema9 + ema21 + ema50 + atr_now + adx_now + rsi_prev + rsi_now + hist_prev + hist):
        readings = (ema9, ema21, ema50, atr_now, adx_now, rsi_prev, rsi_now, hist_prev, hist)
        return EntryDecision(False, _missing_readings_reason(readings), price=rows.item(3, -1))
    (open_prev, open_last), (_, high_last), (_, low_last), (close_prev, price) = rows[:, -2:].tolist()
    lows = rows[2, -max(params.swing_lookback, _LOW_BARS) :].tolist()
    volumes = volume[-max(params.volume_ratio_window, 3) :].tolist()
    ratio = ratio_to_mean(volumes[-params.volume_ratio_window :])
    prev_mean = (volumes[-3] + volumes[-2]) / 2.0

    # Entry conditions (§1.4 S0).
    green = price > open_last
    engulfing = green and open_prev > close_prev and price > open_prev and open_last < close_prev
    wick, span = open_last - low_last, high_last - low_last  # green candle: the body's bottom is the open
    hammer = green and span > 0 and wick > _HAMMER_WICK_BODY * (price - open_last) and wick > _HAMMER_WICK_RANGE * span
    tolerance = params.pullback_tolerance
    conditions = (
        abs(price - ema21) < tolerance * ema21 or abs(price - vwap) < tolerance * vwap,
        params.rsi_low < rsi_now < params.rsi_high and rsi_now > rsi_prev,
        engulfing or hammer,
        hist > hist_prev,
        volumes[-1] >= params.volume_prev_mult * prev_mean,
    )
    met = conditions.count(True)
    stop = min(lows[-params.swing_lookback :]) - params.stop_atr_mult * atr_now  # §1.9 S0
    risk = price - stop
    low_recent, low_older = min(lows[-_LOW_HALF:]), min(lows[-_LOW_BARS:-_LOW_HALF])
    trend = (price > vwap, ema9 > ema21 > ema50, hist > 0, adx_now > params.adx_min)
    score = _score(price, ema9, ema21, ema50, vwap, adx_now, rsi_prev, rsi_now, hist_prev, hist,
                   2 if engulfing else 1 if hammer else 0, ratio, low_recent, low_older)  # fmt: skip

    # Gates and filter (§1.3 S0), then the 3-of-5 rule and the stop, first failure wins.
    if adx_now < params.adx_min:
        reason = f"ADX {adx_now:.1f} < {params.adx_min:g}"
    elif ratio < params.volume_ratio_min:
        reason = f"volume ratio {ratio:.2f} < {params.volume_ratio_min:g}"
    elif trend != _ALL_UP:
        reason = _NO_UPTREND[trend]
    elif met < params.entry_min_conditions:
        reason = f"{met}/5 entry conditions < {params.entry_min_conditions} ({_passed(conditions)})"
    elif not risk > 0:
        reason = f"stop {stop:.8g} not below price {price:.8g}"
    elif not stop > 0:
        reason = f"stop {stop:.8g} not above zero (ATR {atr_now:.8g} too wide)"
    else:
        return EntryDecision(True, f"{met}/5 entry conditions ({_passed(conditions)})",
                             score, met, adx_now, atr_now, price, stop, risk)  # fmt: skip
    return EntryDecision(False, reason, score, met, adx_now, atr_now, price, stop, risk)


def _passed(conditions: tuple[bool, ...]) -> str:
    return ", ".join([name for name, ok in zip(_CONDITION_NAMES, conditions, strict=True) if ok]) or "none"


def _no_uptrend_reasons() -> dict[tuple[bool, bool, bool, bool], str]:
    # Every failing combination of the four uptrend tests, worded once at import time so the
    # most common rejection costs a dict lookup. The ADX test fails here only at exactly the
    # minimum: the hard gate took everything below it.
    texts = ("price <= VWAP", "EMA9 > EMA21 > EMA50 broken", "MACD histogram <= 0", "ADX not above the minimum")
    reasons = {}
    for flags in itertools.product((True, False), repeat=len(texts)):
        failed = [text for ok, text in zip(flags, texts, strict=True) if not ok]
        reasons[flags] = "no uptrend (spot is long-only): " + ", ".join(failed)
    return reasons


_NO_UPTREND: Final = _no_uptrend_reasons()


def _missing_readings_reason(readings: tuple[float, ...]) -> str:
    bad = dict.fromkeys(name for name, x in zip(_READING_NAMES, readings, strict=True) if not math.isfinite(x))
    return f"indicators not computable at the last candle: {', '.join(bad)}"


def _score(
    price: float, ema9: float, ema21: float, ema50: float, vwap: float, adx_now: float,
    rsi_prev: float, rsi_now: float, hist_prev: float, hist: float,
    candle: int, ratio: float, low_recent: float, low_older: float,
) -> int:  # fmt: skip
    # §1.5, long side; candle is 2 for engulfing, 1 for hammer, else 0. Each component's table
    # tops out exactly at its weight (25/20/20/15/20), so no cap is needed.
    adx_points = (
        10 if adx_now >= 40.0 else 8 if adx_now >= 30.0 else 6 if adx_now >= 25.0 else 4 if adx_now >= 20.0 else 2
    )
    stack = 10 if price > ema9 > ema21 > ema50 else 7 if price > ema9 > ema21 else 4 if price > ema9 else 0
    above = (price - vwap) / vwap
    vwap_side = 0 if above <= 0.0 else 5 if above > 0.02 else 3 if above > 0.01 else 2
    trend = adx_points + stack + vwap_side

    if 40.0 < rsi_now < 70.0:
        rsi_points = 10 if rsi_now > rsi_prev else 8 if rsi_prev - rsi_now < 2.0 else 5
    else:
        rsi_points = 7 if 30.0 < rsi_now <= 40.0 else 2 if rsi_now >= 70.0 else 0
    rising = hist > hist_prev
    momentum = rsi_points + ((10 if rising else 7) if hist > 0.0 else 3 if rising else 0)

    near = min(abs(price - ema21) / ema21, abs(price - vwap) / vwap)
    price_action = (10 if candle == 2 else 8 if candle == 1 else 0) + (10 if near < 0.01 else 5 if near < 0.02 else 0)

    volume = 15 if ratio >= 1.5 else 10 if ratio >= 1.2 else 5 if ratio >= 0.8 else 2 if ratio >= 0.5 else 0

    low = min(low_recent, low_older)
    distance = (price - low) / low
    structure = (15 if distance < 0.02 else 10 if distance < 0.05 else 5 if distance < 0.10 else 0) + (
        5 if low_recent > low_older else 0
    )
    return trend + momentum + price_action + volume + structure
