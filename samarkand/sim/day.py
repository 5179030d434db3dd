"""One simulated business day of intra-SCO trade payments, deterministic by seed.

The day is calibrated on the project's trade data (`samarkand.sim.data`): each member gets
direct banks in proportion to its trade with the other members, each payment's corridor
(exporter, importer) is drawn in proportion to bilateral trade, the importer's bank pays the
exporter's bank in the currency of one side, amounts are heavy-tailed and arrivals follow an
intraday profile (morning peak, lunch lull, smaller afternoon peak). Opening liquidity is a
share of each bank's "upper bound" need, the liquidity that settles every payment on arrival
with no queue at all: the scarcity knob of the simulations of DESIGN §5.

Determinism: every random draw comes from numpy generators seeded by `DayConfig.seed` and a
fixed stream number per aspect (corridors, amounts, arrival times, ...), so changing one
percentage re-draws only the aspect it governs. No clock, environment or os.urandom.
Randomness is the only float: log-normal amounts are rounded to whole US cents before any
conversion, then converted to minor units with integer arithmetic on Python ints.
"""

from __future__ import annotations

import datetime
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from samarkand.hub.settlement import TierPost
from samarkand.money import default_registry
from samarkand.settlement.participants import Directory, Participant, ParticipantKind
from samarkand.settlement.payments import Method, Payment, Priority
from samarkand.sim.data import Country, TradeFlow, members, trade_flows
from samarkand.sim.fx import (
    FxIntent,
    currency_ranking,
    fx_providers,
    provider_tiers,
    route_legs_as_payments,
)
from samarkand.sim.rates import UNITS_PER_USD_MILLI

PAYMENTS_MAX = 10_000_000
DIRECT_BANKS_MIN_PER_MEMBER = 2
DIRECT_BANKS_MAX = 1_000
INDIRECT_PER_DIRECT_MAX = 8
PERCENT_MAX = 100
NS_PER_MINUTE = 60 * 1_000_000_000
NS_PER_DAY = 24 * 60 * NS_PER_MINUTE

# Bank size within a country: the participant of rank r weighs r ** -exponent (Zipf-like), the
# direct banks ranked first, then the indirect ones: with 12 direct banks and 12 indirect ones
# (China by default) the top three banks send and receive about 58 % of the country's payments,
# and indirect participants about 13 %.
BANK_SIZE_ZIPF_EXPONENT = 1.2

# Amounts: log-normal in US cents, median $30,000; sigma 1.6 gives p99/p50 = e^(2.33*1.6) = 41.
AMOUNT_MEDIAN_USD_CENTS = 3_000_000
AMOUNT_SIGMA = 1.6
AMOUNT_MIN_USD_CENTS = 100  # $1
AMOUNT_MAX_USD_CENTS = 50_000_000_000  # $500 million

# Intraday profile, as fractions of the span from opening to cut-off (08:00-18:00 by default:
# peaks at 10:00 and 15:00, each one hour wide, lull around 12:30), mixed with a uniform floor.
ARRIVAL_MORNING_CENTRE, ARRIVAL_AFTERNOON_CENTRE, ARRIVAL_PEAK_SPREAD = 0.2, 0.7, 0.1
ARRIVAL_MIX = (0.5, 0.3, 0.2)  # morning peak, afternoon peak, uniform floor
ARRIVAL_REDRAW_ROUNDS_MAX = 64  # truncation by redrawing; each round keeps ~98 % of the rest

# Timed payments: earliest = arrival + 0..30 min, latest = arrival + 30..120 min, both capped at
# the cut-off; a timed payment carries the earliest only, the latest only, or both (1/3 each).
EARLIEST_AFTER_ARRIVAL_MINUTES_MAX = 30
LATEST_AFTER_ARRIVAL_MINUTES = (30, 120)

# One generator stream per aspect of the day (see the module docstring).
(
    STREAM_CORRIDOR,
    STREAM_DEBTOR,
    STREAM_CREDITOR,
    STREAM_CURRENCY,
    STREAM_AMOUNT,
    STREAM_ARRIVAL,
    STREAM_METHOD,
    STREAM_PRIORITY,
    STREAM_TIMED,
    STREAM_UETR,
    STREAM_INTERBANK,
    STREAM_FX,
) = range(12)

_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")  # ASCII digits only, not \d
_TIME = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")
_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


@dataclass(frozen=True, slots=True)
class DayConfig:
    """What a simulated day looks like; `validate` names every bad field at once."""

    seed: int = 1
    payments: int = 200_000
    date: str = "2026-01-05"  # ISO date of the business day (a Monday)
    opening: str = "08:00"  # UTC times of day; the day's payments arrive between them
    cut_off: str = "18:00"
    direct_banks: int = 40  # across the 10 members, sized by trade
    indirect_per_direct: int = 1  # indirect participants reaching the hub through each direct
    liquidity_pct: int = 20  # opening liquidity: lower bound + this % of (upper - lower bound)
    urgent_pct: int = 5
    dns_pct: int = 0  # sent for deferred net settlement
    timed_pct: int = 2  # carrying an earliest and/or latest settlement time
    cross_currency_pct: int = 10  # paid in the debtor's currency, received in the creditor's
    interbank_pct: int = 50  # interbank flows (money market, FX legs) in both directions

    def problems(self) -> list[str]:
        """Every reason this config is unusable, each naming its field; empty if it is fine."""
        found = []
        ranges = {
            "seed": (0, 2**64 - 1),
            "payments": (0, PAYMENTS_MAX),
            "direct_banks": (DIRECT_BANKS_MIN_PER_MEMBER * len(members()), DIRECT_BANKS_MAX),
            "indirect_per_direct": (0, INDIRECT_PER_DIRECT_MAX),
            "liquidity_pct": (0, PERCENT_MAX),
            "urgent_pct": (0, PERCENT_MAX),
            "dns_pct": (0, PERCENT_MAX),
            "timed_pct": (0, PERCENT_MAX),
            "interbank_pct": (0, PERCENT_MAX),
            "cross_currency_pct": (0, PERCENT_MAX),
        }
        for name, (low, high) in ranges.items():
            value = getattr(self, name)
            if not _is_int(value) or not low <= value <= high:
                found.append(f"DayConfig.{name} must be an int in {low}..{high}, not {value!r}")
        if _is_int(self.dns_pct) and 0 <= self.dns_pct <= PERCENT_MAX:
            # Urgent and timed payments are drawn among the RTGS ones (DNS has no priority).
            for field in ("urgent_pct", "timed_pct"):
                value = getattr(self, field)
                if _is_int(value) and value + self.dns_pct > PERCENT_MAX:
                    found.append(
                        f"DayConfig.{field} + dns_pct must not exceed 100, not "
                        f"{value} + {self.dns_pct}"
                    )
        if _date_days(self.date) is None:
            found.append(
                f"DayConfig.date must be an ISO date YYYY-MM-DD in 1970..2261, not {self.date!r}"
            )
        opening, cut_off = _time_minutes(self.opening), _time_minutes(self.cut_off)
        if opening is None:
            found.append(f"DayConfig.opening must be a time HH:MM, not {self.opening!r}")
        if cut_off is None:
            found.append(f"DayConfig.cut_off must be a time HH:MM, not {self.cut_off!r}")
        if opening is not None and cut_off is not None and not opening < cut_off:
            found.append(f"DayConfig.cut_off {self.cut_off} must be after opening {self.opening}")
        return found

    def validate(self) -> None:
        found = self.problems()
        if found:
            raise ValueError("; ".join(found))


@dataclass(frozen=True, eq=False)
class SimulatedDay:
    """One business day: who takes part, what they pay, when, and the liquidity they start with.

    `arrival_ns` is read-only and the mappings are read-only views, so a day can be shared by
    several simulation runs. Equality is identity (numpy arrays have no truth value); compare
    fields to compare days.
    """

    config: DayConfig
    directory: Directory
    currencies: tuple[str, ...]
    payments: tuple[Payment, ...]  # in arrival order
    arrival_ns: np.ndarray  # int64 ns since the epoch, non-decreasing, same order as payments
    opening_balance: Mapping[tuple[str, str], int]  # (direct BIC, currency) -> minor units
    lower_bound: Mapping[tuple[str, str], int]  # (direct BIC, currency) -> end-of-day net debit
    upper_bound: Mapping[tuple[str, str], int]  # (direct BIC, currency) -> need with no queue
    start_ns: int
    cut_off_ns: int
    # Cross-currency payments (their own arrival times) and the FX providers' tiers.
    fx_payments: tuple[FxIntent, ...] = ()
    fx_arrival_ns: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    tiers: tuple[TierPost, ...] = ()
    fx_providers: Mapping[str, str] = field(default_factory=dict)  # currency -> provider BIC


def simulate_day(config: DayConfig) -> SimulatedDay:
    """The business day `config` describes; the same config always gives the same day."""
    config.validate()
    directory = build_directory(config)
    countries = members()
    currencies = tuple(c.currency for c in countries)
    start_ns, cut_off_ns = day_bounds_ns(config)
    count = config.payments
    debtors, creditors, currency = _trade_payments(config, directory, countries)
    arrival_ns = start_ns + _arrival_offsets_ns(
        _rng(config, STREAM_ARRIVAL), count, cut_off_ns - start_ns
    )
    method, priority, rtgs = _methods_and_priorities(config)
    earliest_ns, latest_ns = _settlement_times(config, arrival_ns, cut_off_ns, rtgs)
    amounts = _minor_amounts(_usd_cents(_rng(config, STREAM_AMOUNT), count), currency, currencies)

    payments = _build_payments(
        _uetrs(_rng(config, STREAM_UETR), count),
        debtors,
        creditors,
        amounts,
        [currencies[i] for i in currency.tolist()],
        priority,
        method,
        earliest_ns,
        latest_ns,
    )
    usd = _usd_cents(_rng(config, STREAM_AMOUNT), count)
    providers = fx_providers(directory, countries)
    ranking = currency_ranking(countries)
    fx_index = _cross_currency(config, directory, payments, rtgs)
    fx_payments = _fx_intents(
        [payments[i] for i in fx_index.tolist()], directory, usd[fx_index], currencies
    )
    keep = np.ones(count, dtype=bool)
    keep[fx_index] = False
    fx_arrival_ns = arrival_ns[fx_index]
    arrival_ns = arrival_ns[keep]
    payments = tuple(p for p, k in zip(payments, keep.tolist(), strict=True) if k)
    # Each cross-currency payment's legs, on the route the hub will quote, size the liquidity.
    tiers = provider_tiers(providers, ranking, start_ns - 60 * NS_PER_MINUTE, cut_off_ns + 1)
    legs = route_legs_as_payments(fx_payments, tiers, start_ns)
    lower_bound, upper_bound = liquidity_bounds(payments + tuple(legs), directory)
    registry = default_registry()
    opening_balance = {
        key: opening_liquidity(
            lower_bound[key], need, config.liquidity_pct, registry.get(key[1]).exponent
        )
        for key, need in upper_bound.items()
    }
    arrival_ns.setflags(write=False)
    fx_arrival_ns.setflags(write=False)
    return SimulatedDay(
        config=config,
        directory=directory,
        currencies=currencies,
        payments=payments,
        arrival_ns=arrival_ns,
        opening_balance=MappingProxyType(opening_balance),
        lower_bound=MappingProxyType(lower_bound),
        upper_bound=MappingProxyType(upper_bound),
        start_ns=start_ns,
        cut_off_ns=cut_off_ns,
        fx_payments=fx_payments,
        fx_arrival_ns=fx_arrival_ns,
        tiers=tuple(tiers),
        fx_providers=MappingProxyType(providers),
    )


def _cross_currency(
    config: DayConfig, directory: Directory, payments: Sequence[Payment], rtgs: np.ndarray
) -> np.ndarray:
    """Indices of the cross-currency payments: an exact share of all payments (capped by
    those eligible), drawn among the untimed RTGS ones whose two agents have different home
    currencies."""
    eligible = np.array(
        [
            i
            for i in rtgs.tolist()
            if not payments[i].earliest_ns
            and not payments[i].latest_ns
            and _home(directory, payments[i].debtor_agent)
            != _home(directory, payments[i].creditor_agent)
        ],
        dtype=np.int64,
    )
    return _exact_share(_rng(config, STREAM_FX), eligible, len(payments), config.cross_currency_pct)


def _settling(directory: Directory, bic: str) -> str:
    participant = directory.settling_participant(bic)
    assert participant is not None
    return participant.bic


def _home(directory: Directory, bic: str) -> str:
    participant = directory.get(bic)
    assert participant is not None
    return participant.home_currency


def _fx_intents(
    chosen: list[Payment], directory: Directory, usd: np.ndarray, currencies: tuple[str, ...]
) -> tuple[FxIntent, ...]:
    """The chosen payments as cross-currency ones: the same value, sent in the debtor's home
    currency, delivered in the creditor's."""
    sources = [_home(directory, p.debtor_agent) for p in chosen]
    index = {c: k for k, c in enumerate(currencies)}
    amounts = _minor_amounts(usd, np.array([index[c] for c in sources], dtype=np.int64), currencies)
    return tuple(
        FxIntent(
            p.uetr,
            p.debtor_agent,
            p.creditor_agent,
            source,
            _home(directory, p.creditor_agent),
            amount,
            p.priority,
        )
        for p, source, amount in zip(chosen, sources, amounts, strict=True)
    )


# --- participants -------------------------------------------------------------------------


def build_directory(config: DayConfig) -> Directory:
    """Central banks 1..10 (member order), then direct banks, then indirect banks.

    Direct bank k of a country is 'SM' + two letters + country + '22' (SMAACN22, SMABCN22, ...),
    ranked by size (bank 1 is the largest); its indirect participants are 'S' + a letter from N
    + two letters + country + '22' and settle through it. Both are clearly synthetic BICs.
    """
    config.validate()
    countries = members()
    registry = default_registry()
    ledgers = {c.currency: registry.get(c.currency).ledger for c in countries}
    participants = [
        Participant(
            c.central_bank_bic, c.central_bank, c.iso2, ParticipantKind.CENTRAL_BANK, i + 1,
            c.currency,
        )
        for i, c in enumerate(countries)
    ]  # fmt: skip
    counts = direct_bank_counts(config.direct_banks, countries)
    direct: list[Participant] = []
    for country, bank_count in zip(countries, counts, strict=True):
        for k in range(bank_count):
            direct.append(
                Participant(
                    f"SM{_two_letters(k)}{country.iso2}22",
                    f"Bank {k + 1} of {country.name}",
                    country.iso2,
                    ParticipantKind.DIRECT,
                    len(participants) + len(direct) + 1,
                    country.currency,
                )
            )
    indirect: list[Participant] = []
    for country in countries:
        home = [p for p in direct if p.country == country.iso2]
        for rank, through in enumerate(home):
            for j in range(config.indirect_per_direct):
                k = rank * config.indirect_per_direct + j
                indirect.append(
                    Participant(
                        f"S{_LETTERS[13 + k // 676]}{_two_letters(k % 676)}{country.iso2}22",
                        f"Indirect bank {k + 1} of {country.name}",
                        country.iso2,
                        ParticipantKind.INDIRECT,
                        len(participants) + len(direct) + len(indirect) + 1,
                        country.currency,
                        via=through.bic,
                    )
                )
    return Directory(participants + direct + indirect, ledgers)


def direct_bank_counts(total: int, countries: Sequence[Country]) -> list[int]:
    """Direct banks per country (in `countries` order) by share of intra-member trade.

    Largest-remainder (Hamilton) rounding with a floor: a country whose quota is below the
    minimum gets the minimum and leaves the share-out; the rest is shared again until every
    remaining quota is at least the minimum. Exact integer arithmetic, ties in country order.
    """
    minimum = DIRECT_BANKS_MIN_PER_MEMBER
    if total < minimum * len(countries):
        raise ValueError(f"direct_banks {total} is below {minimum} per member")
    weights = member_trade_usd_thousands(countries)
    counts = [minimum] * len(countries)
    sharing = list(range(len(countries)))
    while True:
        seats = total - minimum * (len(countries) - len(sharing))
        weight = sum(weights[i] for i in sharing)
        below = [i for i in sharing if seats * weights[i] < minimum * weight]
        if not below:
            break
        sharing = [i for i in sharing if i not in below]
    if sharing:
        quotients = {i: divmod(seats * weights[i], weight) for i in sharing}
        for i in sharing:
            counts[i] = quotients[i][0]
        left = seats - sum(counts[i] for i in sharing)
        by_remainder = sorted(sharing, key=lambda i: (-quotients[i][1], i))
        for i in by_remainder[:left]:
            counts[i] += 1
    assert sum(counts) == total and min(counts) >= minimum, counts
    if max(counts) > len(_LETTERS) ** 2:
        raise ValueError(f"direct_banks {total}: more than 676 banks in one country")
    return counts


def member_trade_usd_thousands(countries: Sequence[Country]) -> list[int]:
    """Each country's exports plus imports with the other countries given, in thousands USD."""
    index = {c.iso2: i for i, c in enumerate(countries)}
    totals = [0] * len(countries)
    for flow in _member_flows(countries):
        totals[index[flow.exporter]] += flow.value_usd_thousands
        totals[index[flow.importer]] += flow.value_usd_thousands
    return totals


# --- liquidity ----------------------------------------------------------------------------


def liquidity_bounds(
    payments: Sequence[Payment], directory: Directory
) -> tuple[dict[tuple[str, str], int], dict[tuple[str, str], int]]:
    """(lower, upper) liquidity bounds of each direct participant per currency.

    Upper: what it needs to settle every payment on arrival (pure gross settlement, no
    queue): the largest cumulative net outflow over the day, or 0. Lower: its net debit at
    the end of the day, or 0; below it no mechanism can settle all its payments. `payments`
    are in arrival order; an indirect participant's payments count on its direct one; DNS
    payments count as if they settled gross on arrival. Every (direct participant, directory
    currency) pair has an entry. Exact, on Python ints.
    """
    settling = {}
    for participant in directory:
        through = directory.settling_participant(participant.bic)
        if through is not None and through.kind is ParticipantKind.DIRECT:
            settling[participant.bic] = through.bic
    need = {(p.bic, currency): 0 for p in directory.direct() for currency in directory.ledgers}
    outflow = dict.fromkeys(need, 0)
    for payment in payments:
        debtor = settling.get(payment.debtor_agent)
        creditor = settling.get(payment.creditor_agent)
        if debtor is None or creditor is None or payment.currency not in directory.ledgers:
            raise ValueError(
                f"payment {payment.uetr:032x}: agents {payment.debtor_agent} -> "
                f"{payment.creditor_agent} in {payment.currency} do not settle at a direct "
                "participant of the directory"
            )
        key = (debtor, payment.currency)
        sent = outflow[key] + payment.amount
        outflow[key] = sent
        if sent > need[key]:
            need[key] = sent
        outflow[(creditor, payment.currency)] -= payment.amount
    lower = {key: max(0, net_outflow) for key, net_outflow in outflow.items()}
    return lower, need


def upper_bound_need(
    payments: Sequence[Payment], directory: Directory
) -> dict[tuple[str, str], int]:
    """The upper bound of `liquidity_bounds`: the need of pure gross settlement."""
    return liquidity_bounds(payments, directory)[1]


def opening_liquidity(lower: int, upper: int, liquidity_pct: int, exponent: int) -> int:
    """`lower` plus `liquidity_pct` % of the way to `upper` (minor units), rounded up to a
    whole major unit: 0 % is the lower bound, 100 % lets every payment settle on arrival."""
    major = 10**exponent
    target = lower * 100 + (upper - lower) * liquidity_pct
    return -(-target // (100 * major)) * major


# --- time ---------------------------------------------------------------------------------


def day_bounds_ns(config: DayConfig) -> tuple[int, int]:
    """(opening, cut-off) of the configured day in ns since the epoch, UTC."""
    days = _date_days(config.date)
    opening, cut_off = _time_minutes(config.opening), _time_minutes(config.cut_off)
    if days is None or opening is None or cut_off is None:
        raise ValueError("; ".join(config.problems()))
    return days * NS_PER_DAY + opening * NS_PER_MINUTE, days * NS_PER_DAY + cut_off * NS_PER_MINUTE


def _date_days(text: object) -> int | None:
    """Days since 1970-01-01 of an ISO date YYYY-MM-DD (1970..2261, which int64 ns can hold)."""
    match = _DATE.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        return None
    year, month, day = (int(part) for part in match.groups())
    if not 1970 <= year <= 2261:
        return None
    try:
        date = datetime.date(year, month, day)  # a calendar check only; no clock is read
    except ValueError:
        return None
    return date.toordinal() - datetime.date(1970, 1, 1).toordinal()


def _time_minutes(text: object) -> int | None:
    match = _TIME.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        return None
    return int(match.group(1)) * 60 + int(match.group(2))


def _arrival_offsets_ns(rng: np.random.Generator, count: int, span_ns: int) -> np.ndarray:
    """Sorted offsets in [0, span_ns): two truncated normal peaks and a uniform floor."""
    component = rng.choice(len(ARRIVAL_MIX), size=count, p=ARRIVAL_MIX)
    fraction = rng.random(count)  # the uniform floor keeps these
    centre = np.where(component == 0, ARRIVAL_MORNING_CENTRE, ARRIVAL_AFTERNOON_CENTRE)
    redraw = component != 2
    for _ in range(ARRIVAL_REDRAW_ROUNDS_MAX):
        if not redraw.any():
            break
        fraction[redraw] = rng.normal(centre[redraw], ARRIVAL_PEAK_SPREAD)
        redraw = (fraction < 0.0) | (fraction >= 1.0)
    fraction[redraw] = rng.random(int(redraw.sum()))  # never in practice: (2.3 %) ** 64
    offsets = (fraction * span_ns).astype(np.int64)
    return np.sort(np.minimum(offsets, span_ns - 1))


def _settlement_times(
    config: DayConfig, arrival_ns: np.ndarray, cut_off_ns: int, rtgs: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Earliest and latest settlement times (0: none) of the timed payments, an exact share
    of all payments drawn among the RTGS ones (DNS settles at its window, not by time)."""
    count = len(arrival_ns)
    rng = _rng(config, STREAM_TIMED)
    timed = _exact_share(rng, rtgs, count, config.timed_pct)
    bounds = rng.integers(0, 3, size=len(timed))  # 0: earliest only, 1: latest only, 2: both
    earliest_after = rng.integers(
        0, EARLIEST_AFTER_ARRIVAL_MINUTES_MAX * NS_PER_MINUTE + 1, len(timed)
    )
    low, high = LATEST_AFTER_ARRIVAL_MINUTES
    latest_after = rng.integers(low * NS_PER_MINUTE, high * NS_PER_MINUTE + 1, len(timed))
    earliest_ns = np.zeros(count, dtype=np.int64)
    latest_ns = np.zeros(count, dtype=np.int64)
    has_earliest, has_latest = bounds != 1, bounds != 0
    at = arrival_ns[timed]
    earliest_ns[timed[has_earliest]] = np.minimum(at + earliest_after, cut_off_ns)[has_earliest]
    latest_ns[timed[has_latest]] = np.minimum(at + latest_after, cut_off_ns)[has_latest]
    return earliest_ns, latest_ns


# --- payments -----------------------------------------------------------------------------


def _trade_payments(
    config: DayConfig, directory: Directory, countries: Sequence[Country]
) -> tuple[list[str], list[str], np.ndarray]:
    """(debtor BICs, creditor BICs, currency index) per payment: the corridor drawn by trade
    value, the importer's bank pays the exporter's bank, each drawn by bank size, in the
    currency of the exporter or of the importer (even odds)."""
    count = config.payments
    corridors = _member_flows(countries)
    corridor = _rng(config, STREAM_CORRIDOR).choice(
        len(corridors), size=count, p=_probabilities([f.value_usd_thousands for f in corridors])
    )
    country_index = {c.iso2: i for i, c in enumerate(countries)}
    exporter = np.array([country_index[f.exporter] for f in corridors], dtype=np.int64)[corridor]
    importer = np.array([country_index[f.importer] for f in corridors], dtype=np.int64)[corridor]
    banks, bank_country, bank_weight = _payment_banks(directory, countries)
    debtor = _pick_banks(_rng(config, STREAM_DEBTOR), importer, bank_country, bank_weight)
    creditor = _pick_banks(_rng(config, STREAM_CREDITOR), exporter, bank_country, bank_weight)
    in_exporter_currency = _rng(config, STREAM_CURRENCY).random(count) < 0.5
    currency = np.where(in_exporter_currency, exporter, importer)
    direct = np.array(
        [directory.by_bic[b].kind is ParticipantKind.DIRECT for b in banks], dtype=bool
    )
    _interbank(config, debtor, creditor, np.where(direct, bank_weight, 0.0))
    return [banks[i] for i in debtor.tolist()], [banks[i] for i in creditor.tolist()], currency


def _interbank(
    config: DayConfig, debtor: np.ndarray, creditor: np.ndarray, bank_weight: np.ndarray
) -> None:
    """Turn an exact share of the payments into interbank flows, in place: same currency and
    amount as drawn, but between two direct banks of any member, each drawn by size (weight 0
    for indirect ones), so that every bank sends and receives them alike (money-market loans
    and repayments, FX legs).

    Trade alone makes one-way flows: a bank paying for imports in a foreign currency is short
    of it all day. Real RTGS value is mostly interbank and two-way, and that is where queues
    and offsetting save liquidity; `interbank_pct=0` gives the trade-only day.
    """
    rng = _rng(config, STREAM_INTERBANK)
    count = len(debtor)
    chosen = rng.permutation(count)[: _share_count(count, config.interbank_pct)]
    if not len(chosen):
        return
    p = bank_weight / bank_weight.sum()
    debtor[chosen] = rng.choice(len(bank_weight), size=len(chosen), p=p)
    drawn = rng.choice(len(bank_weight), size=len(chosen), p=p)
    clash = drawn == debtor[chosen]
    while clash.any():  # redraw the creditor where it came out equal to the debtor
        drawn[clash] = rng.choice(len(bank_weight), size=int(clash.sum()), p=p)
        clash = drawn == debtor[chosen]
    creditor[chosen] = drawn


def _methods_and_priorities(config: DayConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(method, priority, RTGS indices): DNS payments first, an exact share of all payments;
    then the urgent ones, an exact share of all payments drawn among the RTGS ones (a DNS
    payment has no priority)."""
    count = config.payments
    dns = _rng(config, STREAM_METHOD).permutation(count)[: _share_count(count, config.dns_pct)]
    method = np.zeros(count, dtype=np.int8)  # 0: RTGS, 1: DNS
    method[dns] = 1
    rtgs = np.flatnonzero(method == 0)
    priority = np.full(count, int(Priority.NORMAL), dtype=np.int8)
    urgent = _exact_share(_rng(config, STREAM_PRIORITY), rtgs, count, config.urgent_pct)
    priority[urgent] = int(Priority.URGENT)
    return method, priority, rtgs


def _exact_share(rng: np.random.Generator, among: np.ndarray, count: int, pct: int) -> np.ndarray:
    """round(pct % of count) indices drawn without replacement from `among`, sorted.

    Capped at len(among): two rounded shares can sum past the count (1 payment, 50 % + 50 %).
    """
    size = min(_share_count(count, pct), len(among))
    return np.sort(rng.choice(among, size=size, replace=False))


def _share_count(count: int, pct: int) -> int:
    return (count * pct + 50) // 100


def _usd_cents(rng: np.random.Generator, count: int) -> np.ndarray:
    draws = rng.lognormal(mean=math.log(AMOUNT_MEDIAN_USD_CENTS), sigma=AMOUNT_SIGMA, size=count)
    cents = np.clip(np.rint(draws), AMOUNT_MIN_USD_CENTS, AMOUNT_MAX_USD_CENTS)
    return cents.astype(np.int64)  # whole cents: the last float in this module


def _minor_amounts(
    usd_cents: np.ndarray, currency: np.ndarray, currencies: tuple[str, ...]
) -> list[int]:
    """USD cents to minor units of each payment's currency, exactly, on Python ints (IRR
    amounts times the rate can exceed int64)."""
    registry = default_registry()
    # minor = cents * (units per USD) * 10**exponent / 100, with the rate in thousandths.
    factor = [UNITS_PER_USD_MILLI[c] * 10 ** registry.get(c).exponent for c in currencies]
    return [
        cents * factor[k] // 100_000
        for cents, k in zip(usd_cents.tolist(), currency.tolist(), strict=True)
    ]


def _uetrs(rng: np.random.Generator, count: int) -> list[int]:
    """128-bit UETRs shaped as version-4 UUIDs, from the seeded generator."""
    halves = rng.integers(0, 2**64, size=(count, 2), dtype=np.uint64)
    high = (halves[:, 0] & np.uint64(0xFFFF_FFFF_FFFF_0FFF)) | np.uint64(0x4000)  # version 4
    low = (halves[:, 1] & np.uint64(0x3FFF_FFFF_FFFF_FFFF)) | np.uint64(1 << 63)  # RFC variant
    return [(h << 64) | lo for h, lo in zip(high.tolist(), low.tolist(), strict=True)]


def _build_payments(
    uetrs: list[int],
    debtors: list[str],
    creditors: list[str],
    amounts: list[int],
    currencies: list[str],
    priority: np.ndarray,
    method: np.ndarray,
    earliest_ns: np.ndarray,
    latest_ns: np.ndarray,
) -> tuple[Payment, ...]:
    priorities = [Priority.URGENT, Priority.NORMAL]
    methods = [Method.RTGS, Method.DNS]
    return tuple(
        Payment(uetr, debtor, creditor, amount, currency, priorities[p], methods[m], early, late)
        for uetr, debtor, creditor, amount, currency, p, m, early, late in zip(
            uetrs,
            debtors,
            creditors,
            amounts,
            currencies,
            priority.tolist(),
            method.tolist(),
            earliest_ns.tolist(),
            latest_ns.tolist(),
            strict=True,
        )
    )


# --- helpers ------------------------------------------------------------------------------


def _payment_banks(
    directory: Directory, countries: Sequence[Country]
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Banks that send and receive payments (direct and indirect), each with its country index
    and its Zipf weight: within a country, direct banks by rank, then the indirect ones."""
    country_index = {c.iso2: i for i, c in enumerate(countries)}
    banks: list[str] = []
    country: list[int] = []
    weight: list[float] = []
    for c in countries:
        home = [p for p in directory if p.country == c.iso2 and p.kind is ParticipantKind.DIRECT]
        home += [p for p in directory if p.country == c.iso2 and p.kind is ParticipantKind.INDIRECT]
        for rank, participant in enumerate(home, start=1):
            banks.append(participant.bic)
            country.append(country_index[c.iso2])
            weight.append(rank**-BANK_SIZE_ZIPF_EXPONENT)
    return banks, np.array(country, dtype=np.int64), np.array(weight)


def _pick_banks(
    rng: np.random.Generator, country_of_payment: np.ndarray, bank_country: np.ndarray,
    bank_weight: np.ndarray,
) -> np.ndarray:  # fmt: skip
    """For each payment, a bank of its country drawn by bank size (index into the bank list)."""
    picked = np.zeros(len(country_of_payment), dtype=np.int64)
    for country in np.unique(bank_country).tolist():
        payments = np.flatnonzero(country_of_payment == country)
        banks = np.flatnonzero(bank_country == country)
        weights = bank_weight[banks]
        picked[payments] = banks[
            rng.choice(len(banks), size=len(payments), p=weights / weights.sum())
        ]
    return picked


def _member_flows(countries: Sequence[Country]) -> list[TradeFlow]:
    """Trade flows between two different given countries with a positive value, in file order."""
    codes = {c.iso2 for c in countries}
    return [
        f
        for f in trade_flows()
        if f.exporter in codes
        and f.importer in codes
        and f.exporter != f.importer
        and f.value_usd_thousands > 0
    ]


def _probabilities(weights: Sequence[int]) -> np.ndarray:
    array = np.array(weights, dtype=np.float64)
    return array / array.sum()


def _rng(config: DayConfig, stream: int) -> np.random.Generator:
    return np.random.default_rng([config.seed, stream])


def _two_letters(index: int) -> str:
    return _LETTERS[index // 26] + _LETTERS[index % 26]


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
