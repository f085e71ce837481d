"""APEX v7.1 (canonical S0): entry decision, 0–100 score and exit decision for spot, long only.

Pure: functions of candles, a position and a price; no I/O, no clock, no state. "§" cites the
research note shared/research/nija-original.md (beside the project). Defaults live in `ApexParams`.

Entry (`evaluate_entry`), first failing step wins:
  1. Data (§1.1): at least `min_candles` = 100 candles, else no entry. Every open, high, low and
     close must be finite and > 0 and every volume finite, anywhere in the window (the original
     dropped NaN rows per indicator and misaligned the series); every indicator must be defined
     at the last candle. Bad data is a reason, never an exception.
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
from dataclasses import dataclass, replace
from decimal import Decimal
from enum import StrEnum
from typing import Final

import numpy as np

from nija.models import Candles, Position
from nija.strategy.indicators import (
    EMA_FAST,
    EMA_MID,
    EMA_SLOW,
    WindowScan,
    adx,
    atr,
    ema,
    macd_hist,
    ratio_to_mean,
    rsi,
    scan_window,
)

__all__ = [
    "DEFAULT_PARAMS",
    "ApexParams",
    "EntryDecision",
    "ExitAction",
    "ExitDecision",
    "ExitState",
    "TakeProfitLadder",
    "evaluate_entry",
    "evaluate_exit",
    "initial_exit_state",
    "take_profit_ladder",
]

_NAN: Final = math.nan
_ZERO: Final = Decimal(0)
# EMA9 below EMA21 by less than this share is float rounding of equal averages (flat candles at a
# price binary floats cannot hold, e.g. 12345.678), not a cross.
_EMA_CROSS_TOLERANCE: Final = 1e-12
# A take-profit remainder at or below this fraction of the initial quantity is dust: sell it too.
_DUST_FRACTION: Final = Decimal("1e-12")

# Enhanced score (§1.5): its tables are unrolled in `_score` and listed in the module docstring.
_LOW_BARS: Final = 20  # "20-bar low"; the higher-low test compares its two halves
_LOW_HALF: Final = _LOW_BARS // 2
_HAMMER_WICK_BODY: Final = 2.0  # hammer: lower wick > 2 × body (§1.4)
_HAMMER_WICK_RANGE: Final = 0.6  # hammer: lower wick / range > 0.6 (§1.4)
_ALL_UP: Final = (True, True, True, True)
_CONDITION_NAMES: Final = ("pullback", "rsi", "candle", "macd_rising", "volume")
_READING_NAMES: Final = ("EMA9", "EMA21", "EMA50", "ATR", "ADX", "RSI", "RSI", "MACD histogram", "MACD histogram")


@dataclass(frozen=True)
class ApexParams:
    """APEX v7.1 S0 thresholds; see the module docstring for the rule behind each one."""

    min_candles: int = 100
    adx_min: float = 20.0
    volume_ratio_min: float = 0.5  # hard gate
    volume_ratio_window: int = 5
    pullback_tolerance: float = 0.005
    rsi_low: float = 30.0
    rsi_high: float = 70.0
    entry_min_conditions: int = 3
    volume_prev_mult: float = 0.6  # volume ≥ 0.6 × mean of the previous 2 candles
    swing_lookback: int = 10
    stop_atr_mult: float = 0.5
    tp_r_multiples: tuple[float, ...] = (1.0, 2.0, 3.0)
    tp_fractions: tuple[float, ...] = (0.5, 0.25, 0.25)  # of the ORIGINAL size; the last sells all
    trailing_atr_mult: float = 1.5
    emergency_loss_pct: float = 0.01  # −1 %
    min_take_profit_pct: float = 0.0  # fraction of entry every TP level must gain (fees + net)

    def __post_init__(self) -> None:
        if len(self.tp_r_multiples) != len(self.tp_fractions):
            raise ValueError(
                f"tp_r_multiples and tp_fractions must pair up, were {len(self.tp_r_multiples)}"
                f" and {len(self.tp_fractions)} long"
            )
        if self.min_candles < max(self.swing_lookback, self.volume_ratio_window, _LOW_BARS):
            raise ValueError(f"min_candles too small for the lookbacks, was {self.min_candles}")


DEFAULT_PARAMS: Final = ApexParams()


@dataclass(frozen=True, slots=True)
class EntryDecision:
    """Whether to open a long now, and why; indicator readings are NaN when not computable."""

    enter: bool
    reason: str
    score: int = 0  # enhanced 0–100 score (§1.5)
    conditions_met: int = 0  # legacy 0–5 entry conditions (§1.4)
    adx: float = _NAN
    atr: float = _NAN
    price: float = _NAN  # last close
    stop_price: float = _NAN
    risk_per_unit: float = _NAN  # price − stop_price


def evaluate_entry(candles: Candles, params: ApexParams = DEFAULT_PARAMS) -> EntryDecision:
    """Decide whether to open a long on the last candle (APEX v7.1 S0; never raises on bad data)."""
    n = candles.close.shape[0]
    if n < params.min_candles:
        return EntryDecision(False, f"insufficient candles ({n} < {params.min_candles})")
    try:
        scan = scan_window(candles)
    except (ValueError, TypeError) as exc:  # ragged or non-numeric arrays are bad data
        return EntryDecision(False, f"bad candle data: {exc}")
    if not (scan.finite and scan.positive):
        return EntryDecision(False, _bad_window_reason(scan), price=scan.rows.item(3, n - 1))
    return _evaluate_window(scan, candles.volume, params)


def _evaluate_window(scan: WindowScan, volume: np.ndarray, params: ApexParams) -> EntryDecision:
    # Steps 2–5 and the score on a checked window. One flat function of local floats on purpose:
    # it runs for every symbol of every cycle, and scripts/bench_strategy.py holds its overhead
    # over the bare TA-Lib calls down; helper objects and attribute reads showed up there.
    rows = scan.rows
    high, low, close = rows[1], rows[2], rows[3]
    rsi_prev, rsi_now = rsi(close)[-2:].tolist()
    hist_prev, hist = macd_hist(close)[-2:].tolist()
    ema9, ema21, ema50 = ema(close, EMA_FAST).item(-1), ema(close, EMA_MID).item(-1), ema(close, EMA_SLOW).item(-1)
    atr_now, adx_now = atr(high, low, close).item(-1), adx(high, low, close).item(-1)
    if not math.isfinite(ema9 + ema21 + ema50 + atr_now + adx_now + rsi_prev + rsi_now + hist_prev + hist):
        readings = (ema9, ema21, ema50, atr_now, adx_now, rsi_prev, rsi_now, hist_prev, hist)
        return EntryDecision(False, _missing_readings_reason(readings), price=rows.item(3, -1))
    vwap = scan.last_vwap
    (open_prev, open_last), (_, high_last), (_, low_last), (close_prev, price) = rows[:, -2:].tolist()
    lows = low[-max(params.swing_lookback, _LOW_BARS) :].tolist()
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


def _bad_window_reason(scan: WindowScan) -> str:
    # Slow path, only for rejected windows: name what is wrong.
    if not scan.finite:
        return "bad candle data: NaN or infinite value in the window"
    return f"bad candle data: non-positive price {scan.rows.min():g} in the window"


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


class ExitAction(StrEnum):
    """What `evaluate_exit` decided; NONE still carries stop/trailing updates to persist."""

    NONE = "none"
    EMERGENCY = "emergency"
    STOP = "stop"
    TAKE_PROFIT = "take_profit"
    TRAILING_STOP = "trailing_stop"
    EMA_CROSS = "ema_cross"
    KILL_SWITCH = "kill_switch"  # set by the broker loop when its broker is halted, never by APEX


@dataclass(frozen=True, slots=True)
class ExitState:
    """APEX's exit state of one position, stored beside it between cycles.

    It changes only by APEX's own decisions (`ExitDecision.state`): a manual or outside sell
    changes the position's quantity, never the stop, the take-profit stage or the trailing stop.
    """

    stop_price: Decimal
    risk_per_unit: Decimal  # R = entry − initial stop
    initial_qty: Decimal  # base held at entry: the take-profit ladder sells fractions of it
    tp_stage: int = 0  # take-profit levels already taken
    trailing_stop: Decimal | None = None

    def to_record(self) -> dict[str, str | int | None]:
        """The state as plain values (Decimals as text), for the store."""
        return {
            "stop_price": str(self.stop_price), "risk_per_unit": str(self.risk_per_unit),
            "initial_qty": str(self.initial_qty), "tp_stage": self.tp_stage,
            "trailing_stop": None if self.trailing_stop is None else str(self.trailing_stop),
        }

    @classmethod
    def from_record(cls, record: dict[str, str | int | None]) -> ExitState:
        """The state `to_record` wrote."""
        trailing = record.get("trailing_stop")
        return cls(
            stop_price=Decimal(str(record["stop_price"])), risk_per_unit=Decimal(str(record["risk_per_unit"])),
            initial_qty=Decimal(str(record["initial_qty"])), tp_stage=int(record.get("tp_stage") or 0),
            trailing_stop=None if trailing is None else Decimal(str(trailing)),
        )


def initial_exit_state(position: Position, planned_stop: Decimal | None, params: ApexParams = DEFAULT_PARAMS) -> ExitState:
    """The exit state of a position just opened: the stop planned with its entry when it lies
    below the average entry, else (a manual buy, a planned stop the fill price passed) one at
    `emergency_loss_pct` below it."""
    entry = position.entry_price
    if planned_stop is None or not 0 < planned_stop < entry:
        planned_stop = entry * (1 - _decimal(params.emergency_loss_pct))
    return ExitState(stop_price=planned_stop, risk_per_unit=entry - planned_stop, initial_qty=position.qty)


@dataclass(frozen=True, slots=True)
class ExitDecision:
    """One exit action, sized in base units held, and the exit state that follows from it:
    persisted at once when nothing is sold, and when its sell fills otherwise."""

    action: ExitAction
    sell_qty: Decimal  # base units, 0 ≤ sell_qty ≤ position.qty
    reason: str
    state: ExitState


def evaluate_exit(
    position: Position, state: ExitState, price: Decimal, candles: Candles | None, params: ApexParams = DEFAULT_PARAMS
) -> ExitDecision:
    """Decide the one exit action for `position` at `price` (§1.9 S0); never raises, never sells on missing data."""
    held, entry, stop = position.qty, position.entry_price, state.stop_price

    def keep(reason: str, trailing: Decimal | None = state.trailing_stop) -> ExitDecision:
        return ExitDecision(ExitAction.NONE, _ZERO, reason, replace(state, trailing_stop=trailing))

    def sell_all(action: ExitAction, reason: str, trailing: Decimal | None = state.trailing_stop) -> ExitDecision:
        return ExitDecision(action, held, reason, replace(state, trailing_stop=trailing))

    if not held > 0:
        return keep("nothing held")
    if not (price.is_finite() and price > 0 and entry > 0):
        return keep(f"invalid price {price} or entry {entry}")
    if price - entry <= -_decimal(params.emergency_loss_pct) * entry:  # no division: exact at -1 %
        change = (price - entry) / entry
        return sell_all(ExitAction.EMERGENCY, f"emergency: {change:.2%} <= -{params.emergency_loss_pct * 100:g}%")
    if price <= stop:
        return sell_all(ExitAction.STOP, f"stop: price {price} <= stop {stop}")
    take_profit = _take_profit(position, state, price, params)
    if take_profit is not None:
        return take_profit
    trailing = state.trailing_stop
    if state.tp_stage >= 1 and trailing is not None and price <= trailing:
        return sell_all(ExitAction.TRAILING_STOP, f"trailing stop: price {price} <= {trailing}")

    readings = _exit_readings(candles, params)
    if readings is None:
        return keep("hold (no usable candles: indicator exits skipped)")
    ema9, ema21, atr_last = readings
    if state.tp_stage >= 1:
        # Breakeven trailing (§1.9): never below entry, never lowered.
        raised = price - _decimal(params.trailing_atr_mult) * Decimal(repr(atr_last))
        trailing = max(entry, trailing if trailing is not None else entry, raised)
    if ema9 < ema21 - abs(ema21) * _EMA_CROSS_TOLERANCE:
        return sell_all(ExitAction.EMA_CROSS, f"EMA9 {ema9:.8g} < EMA21 {ema21:.8g}", trailing)
    return keep("hold", trailing)


def _decimal(value: float) -> Decimal:
    # Parameters are written as short decimals (0.5, 0.01): str() keeps them exact.
    return Decimal(str(value))


@dataclass(frozen=True, slots=True)
class TakeProfitLadder:
    """The take-profit prices of a position, after the fee floor; `note` says if it was raised."""

    targets: tuple[Decimal, ...]
    note: str | None  # None: the R ladder already clears the floor


def take_profit_ladder(entry: Decimal, risk_per_unit: Decimal, params: ApexParams = DEFAULT_PARAMS) -> TakeProfitLadder:
    """TP prices entry + m × R for each R multiple m, scaled up so the lowest gains the floor."""
    multiples = [_decimal(m) for m in params.tp_r_multiples]
    targets = [entry + m * risk_per_unit for m in multiples]
    floor = _decimal(params.min_take_profit_pct)
    if floor <= 0 or entry <= 0 or not multiples:
        return TakeProfitLadder(tuple(targets), None)
    lowest = min(multiples)
    gain = lowest * risk_per_unit / entry
    if gain >= floor:
        return TakeProfitLadder(tuple(targets), None)
    # Scale R so the lowest level gains exactly the floor; a zero R (no stop distance) uses it as 1R.
    unit = floor * entry / lowest
    raised = tuple(entry + m * unit for m in multiples)
    note = f"TP ladder raised: {lowest:g}R = {gain:.2%} < fee floor {floor:.2%}; {lowest:g}R now {floor:.2%}"
    return TakeProfitLadder(raised, note)


def _take_profit(position: Position, state: ExitState, price: Decimal, params: ApexParams) -> ExitDecision | None:
    stage = state.tp_stage
    if stage >= len(params.tp_r_multiples):
        return None
    entry, held, initial = position.entry_price, position.qty, state.initial_qty
    ladder = take_profit_ladder(entry, state.risk_per_unit, params)
    target = ladder.targets[stage]
    if price < target:
        return None
    last = stage == len(params.tp_r_multiples) - 1
    qty = held if last else min(held, _decimal(params.tp_fractions[stage]) * initial)
    if held - qty <= _DUST_FRACTION * initial:
        qty = held  # a sub-dust remainder could never be sold on its own
    new_stop = max(state.stop_price, entry)  # breakeven from TP1 on (§1.9)
    reason = f"take profit {stage + 1}: price {price} >= {target} ({params.tp_r_multiples[stage]:g}R)"
    if ladder.note:
        reason = f"{reason}; {ladder.note}"
    return ExitDecision(ExitAction.TAKE_PROFIT, qty, reason, replace(state, stop_price=new_stop, tp_stage=stage + 1))


def _exit_readings(candles: Candles | None, params: ApexParams) -> tuple[float, float, float] | None:
    # EMA9, EMA21 and ATR at the last candle, or None when the candles cannot be trusted.
    if candles is None or len(candles) < params.min_candles:
        return None
    try:
        scan = scan_window(candles)
    except (ValueError, TypeError):
        return None
    if not (scan.finite and scan.positive):
        return None
    high, low, close = scan.rows[1], scan.rows[2], scan.rows[3]
    readings = (ema(close, EMA_FAST).item(-1), ema(close, EMA_MID).item(-1), atr(high, low, close).item(-1))
    return readings if math.isfinite(sum(readings)) else None
