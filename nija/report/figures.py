"""The report's arithmetic: pure functions of fills, equity points and copy rows. No I/O, no clock.

P&L is rebuilt from fills with the position accounting of `execution.positions` (average cost;
a fee withheld in the base asset raises the cost basis of a buy and leaves with a sell, a fee
paid in quote comes off realised P&L as it is paid), so a report agrees to the last digit with
the positions the daemon stored. Everything is `Decimal`; rounding is for display only.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from itertools import accumulate
from operator import sub
from typing import Any, Final, TypeAlias

from nija.execution.positions import DUST_SHARE
from nija.holdings import TransferSeen
from nija.store import TAPE_SEP, CopyTape, EquityPoint, FillTape
from nija.strategy.risk import transfer_ratio

__all__ = [
    "AccountTotals",
    "Book",
    "CopyFigures",
    "Drawdown",
    "LastFills",
    "LastPrices",
    "Mark",
    "NO_COPIES",
    "fold_copies",
    "fold_fill_totals",
    "fold_fills",
    "last_fills",
    "max_drawdown",
    "merge_last_fills",
    "opening_equity",
    "percentile",
    "ratio_pct",
    "settle",
]

_ZERO: Final = Decimal(0)
_HUNDRED: Final = Decimal(100)


@dataclass(frozen=True, slots=True)
class Mark:
    """The price an open position is valued at, and where it came from (said in every output)."""

    price: Decimal
    source: str  # "paper price" or "last fill"
    at: datetime | None


@dataclass(slots=True)
class Book:
    """One account's running position in one symbol, and its state when the window opened."""

    qty: Decimal = _ZERO
    entry: Decimal = _ZERO  # cost basis per unit held (quote paid / base received)
    start_qty: Decimal | None = None  # None until a fill inside the window: the start is the end
    start_entry: Decimal = _ZERO
    # This account's last fill (time, price) overall and before the window: the marks of its
    # market are the newest of its accounts' (`last_fills`).
    last_ts: str = ""
    last_price: Decimal = _ZERO
    before_ts: str = ""
    before_price: Decimal = _ZERO


@dataclass(slots=True)
class AccountTotals:
    """One account's figures over a window [since, until), before marks are applied (`settle`)."""

    books: dict[str, Book] = field(default_factory=dict)
    realised_before: Decimal = _ZERO  # realised P&L of fills before the window (after fees)
    realised: Decimal = _ZERO  # realised in the window, after fees
    fees: Decimal = _ZERO  # every fee paid in the window, valued in quote
    fees_in_base: Decimal = _ZERO  # the part of `fees` the venue took in the base asset, valued in quote
    fills: int = 0
    closed: int = 0  # sells that realised P&L (a trade closed in part or in full)
    wins: int = 0  # of those, the ones that made money after fees
    bought: Decimal = _ZERO  # quote paid for buys in the window (fees excluded)
    sold: Decimal = _ZERO  # quote received for sells in the window (fees excluded)
    quote_fees_on_buys: Decimal = _ZERO
    # Filled in by `settle` once marks are known:
    unrealised_start: Decimal = _ZERO
    unrealised_end: Decimal = _ZERO
    value_start: Decimal = _ZERO  # open positions at the marks when the window opened
    value_end: Decimal = _ZERO

    @property
    def net(self) -> Decimal:
        """P&L over the window after fees: realised plus the change in unrealised."""
        return self.realised + self.unrealised_end - self.unrealised_start

    @property
    def invested(self) -> Decimal:
        """Quote at work in the window: the open positions it started with (at the marks then),
        and what buys and their quote fees put in during it."""
        return self.value_start + self.bought + self.quote_fees_on_buys

    @property
    def cumulative_start(self) -> Decimal:
        """P&L since the first fill, up to the window's start (realised and unrealised)."""
        return self.realised_before + self.unrealised_start

    @property
    def cumulative_end(self) -> Decimal:
        """P&L since the first fill, up to the window's end."""
        return self.realised_before + self.realised + self.unrealised_end


def _open_book(totals: dict[tuple[str, str], AccountTotals], key: str) -> tuple[AccountTotals, Book]:
    # The first fill of an account in a symbol: its totals (made on its first symbol) and book.
    broker, account, symbol = key.split(TAPE_SEP)
    acct = totals.get((broker, account))
    if acct is None:
        acct = totals[(broker, account)] = AccountTotals()
    book = acct.books[symbol] = Book()
    return acct, book


LastPrices: TypeAlias = dict[tuple[str, str], tuple[str, Decimal]]
# The same, with the account whose fill it was: what `merge_last_fills` needs to break a tie.
LastFills: TypeAlias = dict[tuple[str, str], tuple[str, Decimal, str]]


def fold_fills(
    tape: Iterable[Sequence[FillTape]],
) -> tuple[dict[tuple[str, str], AccountTotals], LastPrices, LastPrices]:
    """Fold a fill tape (batches of every fill before the window's end, in the order recorded)
    into each account's totals, by (broker, account): fills flagged in the window count in its
    figures, the ones before it only build the positions and P&L the window starts from.

    Also returns the last recorded fill (time, price) of each (broker, symbol), any account,
    before the window and overall: the marks when the paper market has none."""
    totals = fold_fill_totals(tape)
    before, last = last_fills(totals)
    return totals, _prices(before), _prices(last)


def fold_fill_totals(tape: Iterable[Sequence[FillTape]]) -> dict[tuple[str, str], AccountTotals]:
    """`fold_fills`' totals alone, in the order each account's first fill was recorded."""
    totals: dict[tuple[str, str], AccountTotals] = {}
    books: dict[str, tuple[AccountTotals, Book]] = {}
    dec, zero, dust = Decimal, _ZERO, DUST_SHARE
    # The hot loop of a report (a million fills at 1,000 followers): one lookup per fill, the
    # position accounting of `execution.positions` and the window's counting inline (a call
    # per fill costs more than its arithmetic), each product computed once.
    for batch in tape:
        prices: dict[str, Decimal] = {}
        for key, is_buy, qty, price, fee, fee_in_base, in_window, ts in batch:
            found = books.get(key)
            if found is None:
                found = books[key] = _open_book(totals, key)
            acct, book = found
            q, f = dec(qty), dec(fee)
            # Fills of one moment share a few prices (every follower copies the master's): each
            # made once per batch. A Decimal never changes, so sharing one is the same value.
            p = prices.get(price)
            if p is None:
                p = prices[price] = dec(price)
            book.last_ts, book.last_price = ts, p
            if fee_in_base is None:
                fb, quote_fee = zero, f
            else:
                fb = dec(fee_in_base)
                # The part of the fee not taken in the base asset (that part is in the cost basis).
                quote_fee = max(f - fb * p, zero) if fb else f
            if in_window:
                if book.start_qty is None:  # the book's state before its first fill in the window
                    book.start_qty, book.start_entry = book.qty, book.entry
            else:
                book.before_ts, book.before_price = ts, p
            # Apply the fill; pnl stays None when it touched nothing of ours.
            pnl: Decimal | None = None
            qp = None
            if is_buy:
                received = q - fb
                if received > 0:
                    qp = q * p
                    held = book.qty + received
                    book.entry = qp / received if book.qty == 0 else (book.entry * book.qty + qp) / held
                    book.qty = held
                    pnl = -quote_fee
            elif book.qty != 0:  # a sell of coins NIJA never opened moves nothing of ours
                # min(q + fb, book.qty) and min(q, removed), the same operands kept on ties, minus two calls.
                removed = q + fb
                if book.qty < removed:
                    removed = book.qty
                sold = removed if removed < q else q
                pnl = sold * p - removed * book.entry - quote_fee
                remaining = book.qty - removed
                if remaining <= book.qty * dust:
                    book.qty, book.entry = zero, zero
                else:
                    book.qty = remaining
            if not in_window:
                if pnl is not None:
                    acct.realised_before += pnl
                continue
            acct.fills += 1
            acct.fees += f
            if fb:
                acct.fees_in_base += f - quote_fee
            if is_buy:
                acct.bought += q * p if qp is None else qp
                acct.quote_fees_on_buys += quote_fee
            else:
                acct.sold += q * p
            if pnl is not None:
                acct.realised += pnl
                if not is_buy:
                    acct.closed += 1
                    acct.wins += pnl > 0
    return totals


def last_fills(totals: Mapping[tuple[str, str], AccountTotals]) -> tuple[LastFills, LastFills]:
    """Each market's newest fill before the window and overall, across its accounts' books, with
    its account; on equal times the account first in `totals` (first to fill) wins."""
    before: LastFills = {}
    last: LastFills = {}
    for (broker, account), acct in totals.items():
        for symbol, book in acct.books.items():
            key = (broker, symbol)
            if book.before_ts and (key not in before or book.before_ts > before[key][0]):
                before[key] = (book.before_ts, book.before_price, account)
            if book.last_ts and (key not in last or book.last_ts > last[key][0]):
                last[key] = (book.last_ts, book.last_price, account)
    return before, last


def merge_last_fills(parts: Sequence[LastFills], first_fill: Callable[[str, str], int]) -> LastPrices:
    """The newest fill of each market over parts folded apart (accounts split between them):
    on equal times the account whose first fill was recorded first wins, as in one fold.
    `first_fill(broker, account)` is that first fill's position in the store (only asked on a tie)."""
    merged: LastFills = {}
    for part in parts:
        for key, (ts, price, account) in part.items():
            have = merged.get(key)
            if have is None or ts > have[0] or (ts == have[0] and first_fill(key[0], account)
                                                 < first_fill(key[0], have[2])):
                merged[key] = (ts, price, account)
    return _prices(merged)


def _prices(found: LastFills) -> LastPrices:
    return {key: (ts, price) for key, (ts, price, _) in found.items()}


def settle(acct: AccountTotals, broker: str, start_marks: Mapping[tuple[str, str], Mark],
           end_marks: Mapping[tuple[str, str], Mark]) -> None:
    """Value the account's open positions at the window's start and end marks. A position with
    no mark at all is valued at its cost basis (no unrealised P&L claimed without a price)."""
    unreal_start = unreal_end = value_start = value_end = _ZERO
    for symbol, book in acct.books.items():
        start_qty = book.qty if book.start_qty is None else book.start_qty
        start_entry = book.entry if book.start_qty is None else book.start_entry
        if start_qty:
            mark = start_marks.get((broker, symbol))
            price = mark.price if mark is not None else start_entry
            unreal_start += start_qty * (price - start_entry)
            value_start += start_qty * price
        if book.qty:
            mark = end_marks.get((broker, symbol))
            price = mark.price if mark is not None else book.entry
            unreal_end += book.qty * (price - book.entry)
            value_end += book.qty * price
    acct.unrealised_start, acct.unrealised_end = unreal_start, unreal_end
    acct.value_start, acct.value_end = value_start, value_end


def ratio_pct(part: Decimal, whole: Decimal | None) -> Decimal | None:
    """`part` as a percent of `whole`; None when there is no positive base."""
    if whole is None or whole <= 0:
        return None
    return part / whole * _HUNDRED


@dataclass(frozen=True, slots=True)
class Drawdown:
    """The largest fall from a peak, in quote and as a percent of that peak."""

    amount: Decimal
    pct: Decimal


def max_drawdown(points: Sequence[EquityPoint], transfers: Sequence[TransferSeen] = ()) -> Drawdown | None:
    """The deepest peak-to-trough fall of an equity series (oldest first), in percent of its peak;
    None when empty. A deposit or withdrawal seen (`transfers`, oldest first) is no rise or fall:
    the peak is scaled by it as the kill switch's marks are (`transfer_ratio`), before the points
    from its read on."""
    if not points:
        return None
    peak = points[0].equity
    worst = Drawdown(_ZERO, _ZERO)
    pending = (t for t in transfers if t.seen_at > points[0].at)
    transfer = next(pending, None)
    for point in points:
        while transfer is not None and transfer.seen_at <= point.at:
            ratio = transfer_ratio(transfer.equity, transfer.value)
            peak = peak * ratio if ratio is not None else transfer.equity
            transfer = next(pending, None)
        peak = max(peak, point.equity)
        fall = peak - point.equity
        # Deepest in percent: amounts on either side of a transfer are of different accounts.
        if fall > 0 and peak > 0 and (pct := fall / peak * _HUNDRED) > worst.pct:
            worst = Drawdown(fall, pct)
    return worst


def opening_equity(points: Sequence[EquityPoint], since: datetime | None) -> Decimal | None:
    """Equity when the window opened: the last point before `since`, else the first one in it."""
    before = [p for p in points if since is not None and p.at < since]
    if before:
        return before[-1].equity
    inside = [p for p in points if since is None or p.at >= since]
    return inside[0].equity if inside else None


def percentile(values: Sequence[float], pct: int, *, ordered: bool = False) -> float | None:
    """Nearest-rank percentile of `values` (the value of rank ceil(pct × n / 100), ascending),
    as `copytrade.telemetry` and status define it; None for no values. `ordered`: already sorted."""
    if not values:
        return None
    ascending = values if ordered else sorted(values)
    rank = max(1, -(-pct * len(ascending) // 100))
    return ascending[rank - 1]


@dataclass(frozen=True, slots=True)
class CopyFigures:
    """A follower's copies in the window: outcomes by status and reason, latency, slippage, and
    the equity the ledger recorded with each copy (its only equity history)."""

    by_status: Mapping[str, int]
    by_reason: Mapping[tuple[str, str], int]  # (status, reason) of the rows not filled
    ack_p50_ms: float | None
    ack_p95_ms: float | None
    fill_p50_ms: float | None
    fill_p95_ms: float | None
    mean_slippage_bps: Decimal | None  # adverse positive, over the copies that have one
    slipped: int  # how many copies the mean covers
    filled: int  # filled or partial copies (of a master's fills or of the engine's own signals)
    first_equity: Decimal | None  # the equity recorded with the window's first copy
    drawdown: Drawdown | None  # over the equity recorded with each copy


NO_COPIES: Final = CopyFigures(
    by_status={}, by_reason={}, ack_p50_ms=None, ack_p95_ms=None, fill_p50_ms=None, fill_p95_ms=None,
    mean_slippage_bps=None, slipped=0, filled=0, first_equity=None, drawdown=None,
)  # a follower without a ledger row in the window


@dataclass(slots=True)
class _CopyFold:
    # One follower's running sums while the copy tape streams by.
    by_status: dict[str, int] = field(default_factory=dict)
    by_reason: dict[tuple[str, str], int] = field(default_factory=dict)
    acks: list[float] = field(default_factory=list)
    fills: list[float] = field(default_factory=list)
    slip_sum: Decimal = _ZERO
    slipped: int = 0
    filled: int = 0
    first_equity: Decimal | None = None
    peak: Decimal = _ZERO
    worst: Drawdown | None = None

    def take(self, rows: Sequence[CopyTape]) -> None:
        """Add this follower's next rows (in the order written). Column by column, so the loops
        run in C (`Counter`, `sum`, `map`, `accumulate`); each sum still adds row by row in the
        tape's order, so every Decimal comes out as a row-at-a-time fold makes it."""
        _, statuses, reasons, acks, fills, slips, equities = zip(*rows, strict=True)
        filled = 0
        for status, n in Counter(statuses).items():  # Counter keeps first-seen order, as the dict did
            self.by_status[status] = self.by_status.get(status, 0) + n
            if status in _FILLED:
                filled += n
        self.filled += filled
        if filled != len(rows):  # some rows not filled: count them by reason
            for (status, reason), n in Counter(zip(statuses, reasons)).items():
                if status not in _FILLED:
                    why = (status, _reason_kind(reason))
                    self.by_reason[why] = self.by_reason.get(why, 0) + n
        self.acks += _present(acks)
        self.fills += _present(fills)
        slipped = _present(slips)
        if slipped:
            self.slip_sum = sum(map(Decimal, slipped), self.slip_sum)
            self.slipped += len(slipped)
        values = list(map(Decimal, _present(equities)))
        if values:
            self._fall(values)

    def _fall(self, values: list[Decimal]) -> None:
        # The running peak and the deepest fall from it, as `max_drawdown`: `max` keeps the
        # earlier of equal values (the peak a strict `>` keeps), `index` finds the first deepest
        # fall (the one a strict `>` keeps), and the percent is taken of the peak at that row.
        if self.first_equity is None:
            self.first_equity, self.peak, self.worst = values[0], values[0], Drawdown(_ZERO, _ZERO)
        peaks = list(accumulate(values, max, initial=self.peak))[1:]
        falls = list(map(sub, peaks, values))
        deepest = max(falls)
        if deepest > self.worst.amount:  # type: ignore[union-attr]
            i = falls.index(deepest)
            self.worst = Drawdown(deepest, deepest / peaks[i] * _HUNDRED if peaks[i] > 0 else _ZERO)
        self.peak = peaks[-1]


def _present(column: tuple[Any, ...]) -> Sequence[Any]:
    # The column without its NULLs; most columns have none, and a C scan finds that out.
    return column if None not in column else [v for v in column if v is not None]


_FILLED: Final = frozenset({"filled", "partial"})
_CHUNK: Final = 50_000  # copy rows gathered by follower before they are summed: bounded memory


def fold_copies(tape: Iterable[Sequence[CopyTape]]) -> dict[tuple[str, str], CopyFigures]:
    """Sum a copy tape (batches of ledger rows in the order written) into each follower's copy
    figures, by (broker, user id)."""
    folds: dict[str, _CopyFold] = {}
    pending: defaultdict[str, list[CopyTape]] = defaultdict(list)
    held = 0
    # Rows are sorted out by follower (the only per-row Python work) and summed a chunk at a time.
    for batch in tape:
        for row in batch:
            pending[row[0]].append(row)
        held += len(batch)
        if held >= _CHUNK:
            _take(folds, pending)
            pending, held = defaultdict(list), 0
    _take(folds, pending)
    return {_pair(key): _copy_figures(acc) for key, acc in folds.items()}


def _take(folds: dict[str, _CopyFold], pending: Mapping[str, list[CopyTape]]) -> None:
    for key, rows in pending.items():
        acc = folds.get(key)
        if acc is None:
            acc = folds[key] = _CopyFold()
        acc.take(rows)


def _pair(key: str) -> tuple[str, str]:
    broker, user = key.split(TAPE_SEP)
    return broker, user


def _copy_figures(acc: _CopyFold) -> CopyFigures:
    acc.acks.sort()  # once for both percentiles
    acc.fills.sort()
    return CopyFigures(
        by_status=acc.by_status, by_reason=acc.by_reason,
        ack_p50_ms=percentile(acc.acks, 50, ordered=True), ack_p95_ms=percentile(acc.acks, 95, ordered=True),
        fill_p50_ms=percentile(acc.fills, 50, ordered=True), fill_p95_ms=percentile(acc.fills, 95, ordered=True),
        mean_slippage_bps=acc.slip_sum / acc.slipped if acc.slipped else None, slipped=acc.slipped,
        filled=acc.filled, first_equity=acc.first_equity, drawdown=acc.worst,
    )


def _reason_kind(reason: str | None) -> str:
    # Reasons carry figures after a colon ("below minimum: 0.4 < 1"): group by the words before it.
    if not reason:
        return "-"
    return reason.split(":", 1)[0].strip()[:80] or "-"
