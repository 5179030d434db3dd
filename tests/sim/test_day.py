"""The simulated business day: determinism, calibration on trade, timing, shares, liquidity."""

from __future__ import annotations

import dataclasses
import datetime
import uuid
from collections import Counter

import numpy as np
import pytest

from samarkand.money import default_registry
from samarkand.settlement.participants import (
    BIC_PATTERN,
    Directory,
    Participant,
    ParticipantKind,
)
from samarkand.settlement.payments import Method, Payment, Priority
from samarkand.sim.data import members, trade_flows
from samarkand.sim.day import (
    DayConfig,
    SimulatedDay,
    _minor_amounts,
    build_directory,
    direct_bank_counts,
    member_trade_usd_thousands,
    opening_liquidity,
    simulate_day,
    upper_bound_need,
)

MINUTE_NS = 60 * 10**9
HOUR_NS = 60 * MINUTE_NS


@pytest.fixture(scope="module")
def day() -> SimulatedDay:
    """The default day without interbank flows (trade only): 200,000 payments, 40 direct
    banks, 40 indirect ones."""
    return simulate_day(DayConfig(cross_currency_pct=0, interbank_pct=0))


@pytest.fixture(scope="module")
def mixed_day() -> SimulatedDay:
    """A smaller day with every kind of payment: DNS, urgent and timed."""
    return simulate_day(
        DayConfig(
            cross_currency_pct=0, seed=7, payments=20_000, urgent_pct=5, dns_pct=10, timed_pct=20
        )
    )


def country_of(day: SimulatedDay, bic: str) -> str:
    participant = day.directory.get(bic)
    assert participant is not None, bic
    return participant.country


# --- determinism --------------------------------------------------------------------------


def test_the_same_config_gives_an_identical_day() -> None:
    config = DayConfig(cross_currency_pct=0, seed=11, payments=20_000, dns_pct=5, timed_pct=10)
    first, second = simulate_day(config), simulate_day(config)
    assert first.payments == second.payments
    assert np.array_equal(first.arrival_ns, second.arrival_ns)
    assert first.arrival_ns.dtype == second.arrival_ns.dtype == np.int64
    assert dict(first.upper_bound) == dict(second.upper_bound)
    assert dict(first.opening_balance) == dict(second.opening_balance)
    assert list(first.directory) == list(second.directory)
    assert (first.start_ns, first.cut_off_ns) == (second.start_ns, second.cut_off_ns)


def test_a_different_seed_gives_a_different_day() -> None:
    first = simulate_day(DayConfig(cross_currency_pct=0, seed=1, payments=5_000))
    second = simulate_day(DayConfig(cross_currency_pct=0, seed=2, payments=5_000))
    assert [p.amount for p in first.payments] != [p.amount for p in second.payments]
    assert not np.array_equal(first.arrival_ns, second.arrival_ns)
    assert {p.uetr for p in first.payments}.isdisjoint(p.uetr for p in second.payments)


def test_changing_one_share_redraws_only_what_it_governs() -> None:
    """Each aspect has its own random stream, so scenarios differ only where they should."""
    base = simulate_day(DayConfig(cross_currency_pct=0, payments=5_000, urgent_pct=5))
    more_urgent = simulate_day(DayConfig(cross_currency_pct=0, payments=5_000, urgent_pct=30))
    strip = [dataclasses.replace(p, priority=Priority.NORMAL) for p in base.payments]
    assert strip == [dataclasses.replace(p, priority=Priority.NORMAL) for p in more_urgent.payments]
    assert np.array_equal(base.arrival_ns, more_urgent.arrival_ns)
    assert [p.priority for p in base.payments] != [p.priority for p in more_urgent.payments]


def test_the_day_is_read_only(day: SimulatedDay) -> None:
    with pytest.raises(ValueError):
        day.arrival_ns[0] = 0
    with pytest.raises(TypeError):
        day.opening_balance[next(iter(day.opening_balance))] = 0  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        day.start_ns = 0  # type: ignore[misc]


# --- participants -------------------------------------------------------------------------


def test_direct_banks_are_shared_by_trade_with_a_floor_of_two() -> None:
    # Trade shares x 40 banks: CN 14.75, RU 11.92, IN 6.22, KZ 2.30, BY 1.68, UZ 0.90, ...
    # Six members are below 2 and get 2; then KZ falls below 2 in the re-share of the other
    # 28 banks; 26 banks go to CN 11.66, RU 9.42, IN 4.92, and the two left over to the
    # largest remainders, IN (.92) and CN (.66).
    counts = direct_bank_counts(40, members())
    by_country = dict(zip([c.iso2 for c in members()], counts, strict=True))
    assert by_country == {
        "CN": 12, "RU": 9, "IN": 5, "PK": 2, "KZ": 2, "KG": 2, "TJ": 2, "UZ": 2, "IR": 2, "BY": 2,
    }  # fmt: skip


@pytest.mark.parametrize("total", [20, 21, 33, 57, 101, 400, 1000])
def test_bank_counts_are_exact_and_grow_with_trade(total: int) -> None:
    counts = direct_bank_counts(total, members())
    trade = member_trade_usd_thousands(members())
    assert sum(counts) == total
    assert min(counts) >= 2
    by_trade = [count for _, count in sorted(zip(trade, counts, strict=True))]
    assert by_trade == sorted(by_trade), "a country with more trade has no fewer banks"


def test_the_directory_holds_central_banks_then_direct_then_indirect_banks() -> None:
    directory = build_directory(DayConfig(indirect_per_direct=2))
    countries = members()
    central = [p for p in directory if p.kind is ParticipantKind.CENTRAL_BANK]
    assert [(p.number, p.bic, p.home_currency) for p in central] == [
        (i + 1, c.central_bank_bic, c.currency) for i, c in enumerate(countries)
    ]
    direct = directory.direct()
    indirect = [p for p in directory if p.kind is ParticipantKind.INDIRECT]
    assert len(direct) == 40 and len(indirect) == 80
    assert [p.number for p in direct] == list(range(11, 51))
    assert [p.number for p in indirect] == list(range(51, 131))
    currency_of = {c.iso2: c.currency for c in countries}
    for participant in direct + indirect:
        assert BIC_PATTERN.match(participant.bic) and len(participant.bic) == 8
        assert participant.bic[0] == "S" and participant.bic[4:] == participant.country + "22"
        assert participant.home_currency == currency_of[participant.country]
    assert all(p.bic.startswith("SM") for p in direct)
    assert not any(p.bic.startswith("SM") for p in indirect)
    assert direct[0].name == "Bank 1 of China" and direct[0].bic == "SMAACN22"


def test_indirect_participants_settle_through_a_direct_bank_of_their_country(
    day: SimulatedDay,
) -> None:
    indirect = [p for p in day.directory if p.kind is ParticipantKind.INDIRECT]
    assert len(indirect) == 40
    assert Counter(p.via for p in indirect) == Counter({p.bic: 1 for p in day.directory.direct()})
    for participant in indirect:
        through = day.directory.settling_participant(participant.bic)
        assert through is not None and through.bic == participant.via
        assert through.kind is ParticipantKind.DIRECT and through.country == participant.country
    sent_by_indirect = sum(
        day.directory.by_bic[p.debtor_agent].kind is ParticipantKind.INDIRECT for p in day.payments
    )
    assert 0.05 < sent_by_indirect / len(day.payments) < 0.5


def test_the_largest_configuration_has_unique_synthetic_bics() -> None:
    directory = build_directory(DayConfig(direct_banks=1000, indirect_per_direct=8))
    assert len(directory.direct()) == 1000
    assert len(directory) == 10 + 1000 + 8000  # Directory itself refuses a BIC listed twice


# --- flows --------------------------------------------------------------------------------


def test_every_payment_is_between_known_banks_in_one_side_s_currency(day: SimulatedDay) -> None:
    currency_of = {c.iso2: c.currency for c in members()}
    corridors = {(f.exporter, f.importer) for f in trade_flows()}
    for payment in day.payments:
        debtor = day.directory.get(payment.debtor_agent)
        creditor = day.directory.get(payment.creditor_agent)
        assert debtor is not None and creditor is not None
        assert debtor.kind is not ParticipantKind.CENTRAL_BANK
        assert creditor.kind is not ParticipantKind.CENTRAL_BANK
        importer, exporter = debtor.country, creditor.country
        assert (exporter, importer) in corridors
        assert payment.currency in (currency_of[exporter], currency_of[importer])
    exporter_currency = sum(
        p.currency == day.directory.by_bic[p.creditor_agent].home_currency for p in day.payments
    )
    assert abs(exporter_currency / len(day.payments) - 0.5) < 0.01


def test_the_busiest_corridor_is_the_one_with_most_trade(day: SimulatedDay) -> None:
    by_count = Counter(
        (country_of(day, p.creditor_agent), country_of(day, p.debtor_agent)) for p in day.payments
    )
    by_value = {(f.exporter, f.importer): f.value_usd_thousands for f in trade_flows()}
    assert by_count.most_common(1)[0][0] == max(by_value, key=by_value.__getitem__) == ("RU", "CN")
    both_ways = Counter({frozenset(pair): 0 for pair in by_count})
    for pair, count in by_count.items():
        both_ways[frozenset(pair)] += count
    assert both_ways.most_common(1)[0][0] == frozenset({"CN", "RU"})


def test_each_country_s_share_of_payments_follows_its_share_of_trade(day: SimulatedDay) -> None:
    countries = members()
    trade = member_trade_usd_thousands(countries)
    legs = Counter()
    for payment in day.payments:
        legs[country_of(day, payment.debtor_agent)] += 1
        legs[country_of(day, payment.creditor_agent)] += 1
    for country, value in zip(countries, trade, strict=True):
        expected = value / sum(trade)
        actual = legs[country.iso2] / (2 * len(day.payments))
        assert abs(actual - expected) < 0.01, (country.iso2, actual, expected)


def test_a_few_banks_carry_most_of_a_country_s_payments(day: SimulatedDay) -> None:
    sent = Counter(
        day.directory.settling_participant(p.debtor_agent).bic  # type: ignore[union-attr]
        for p in day.payments
        if country_of(day, p.debtor_agent) == "CN"
    )
    assert len(sent) == 12
    top_three = sum(count for _, count in sent.most_common(3))
    assert top_three / sum(sent.values()) > 0.5
    assert sent.most_common(1)[0][0] == "SMAACN22"  # bank 1 is the largest


# --- amounts ------------------------------------------------------------------------------


def test_amounts_are_positive_ints_with_a_heavy_tail(day: SimulatedDay) -> None:
    assert all(type(p.amount) is int and p.amount > 0 for p in day.payments)
    for currency in ("CNY", "RUB", "IRR"):
        amounts = np.array([p.amount for p in day.payments if p.currency == currency], dtype=float)
        p50, p99 = np.percentile(amounts, [50, 99])
        assert p99 / p50 > 20, currency
    # Median about $30,000: in CNY (7.1 per USD, 2 decimals) about 21,300,000 minor units.
    cny = [p.amount for p in day.payments if p.currency == "CNY"]
    assert 15_000_000 < np.median(cny) < 30_000_000
    assert max(cny) <= 500_000_000 * 710  # the $500 million cap


def test_usd_cents_convert_to_minor_units_exactly() -> None:
    currencies = ("CNY", "IRR", "BYN")
    # $1: 7.10 CNY = 710 fen; 42,000 IRR = 4,200,000 minor; 3.00 BYN = 300 kapeykas.
    # $500 million in IRR: 21 trillion rials, 2.1e15 minor units, past int64 when multiplied.
    cents = np.array([100, 100, 100, 50_000_000_000, 1], dtype=np.int64)
    which = np.array([0, 1, 2, 1, 0])
    assert _minor_amounts(cents, which, currencies) == [
        710,
        4_200_000,
        300,
        2_100_000_000_000_000,
        7,
    ]


# --- timing -------------------------------------------------------------------------------


def test_arrivals_fall_inside_the_day_in_order(day: SimulatedDay) -> None:
    opening = datetime.datetime(2026, 1, 5, 8, 0, tzinfo=datetime.UTC)
    assert day.start_ns == int(opening.timestamp()) * 10**9
    assert day.cut_off_ns == day.start_ns + 10 * HOUR_NS
    arrivals = day.arrival_ns
    assert arrivals.dtype == np.int64 and len(arrivals) == len(day.payments)
    assert arrivals.min() >= day.start_ns and arrivals.max() < day.cut_off_ns
    assert np.all(np.diff(arrivals) >= 0)


def test_the_morning_peak_is_busier_than_lunch_and_the_afternoon(day: SimulatedDay) -> None:
    def arrivals_between(start: str, end: str) -> int:
        def ns(text: str) -> int:
            hours, minutes = text.split(":")
            return day.start_ns + (int(hours) - 8) * HOUR_NS + int(minutes) * MINUTE_NS

        return int(np.count_nonzero((day.arrival_ns >= ns(start)) & (day.arrival_ns < ns(end))))

    morning = arrivals_between("09:30", "10:30")
    lunch = arrivals_between("12:30", "13:30")
    afternoon = arrivals_between("14:30", "15:30")
    assert morning > 2 * lunch
    assert morning > afternoon > 1.5 * lunch


# --- priorities, DNS, timed ---------------------------------------------------------------


def test_priorities_methods_and_timed_payments_have_their_exact_shares(
    mixed_day: SimulatedDay,
) -> None:
    payments = mixed_day.payments
    dns = [p for p in payments if p.method is Method.DNS]
    urgent = [p for p in payments if p.priority is Priority.URGENT]
    timed = [p for p in payments if p.earliest_ns or p.latest_ns]
    assert (len(dns), len(urgent), len(timed)) == (2_000, 1_000, 4_000)
    assert all(p.priority is Priority.NORMAL and not p.earliest_ns and not p.latest_ns for p in dns)
    assert all(p.method in (Method.RTGS, Method.DNS) for p in payments)


def test_timed_payments_have_windows_after_arrival_and_before_cut_off(
    mixed_day: SimulatedDay,
) -> None:
    cut_off = mixed_day.cut_off_ns
    kinds = Counter()
    for payment, arrival in zip(mixed_day.payments, mixed_day.arrival_ns.tolist(), strict=True):
        if payment.earliest_ns:
            assert arrival <= payment.earliest_ns <= min(arrival + 30 * MINUTE_NS, cut_off)
        if payment.latest_ns:
            low = min(arrival + 30 * MINUTE_NS, cut_off)
            assert low <= payment.latest_ns <= min(arrival + 120 * MINUTE_NS, cut_off)
            assert payment.latest_ns > arrival
        if payment.earliest_ns and payment.latest_ns:
            assert payment.earliest_ns <= payment.latest_ns
        kinds[(bool(payment.earliest_ns), bool(payment.latest_ns))] += 1
    for kind in ((True, False), (False, True), (True, True)):
        assert 1_100 < kinds[kind] < 1_570, kind  # a third of 4,000 each


def test_uetrs_are_unique_version_4_uuids(day: SimulatedDay) -> None:
    uetrs = [p.uetr for p in day.payments]
    assert len(set(uetrs)) == len(uetrs)
    for uetr in uetrs[:1000]:
        value = uuid.UUID(int=uetr)
        assert value.version == 4 and value.variant == uuid.RFC_4122
        assert uuid.UUID(str(value)).int == uetr


# --- liquidity ----------------------------------------------------------------------------

HAND_MADE_DAY = """
    SMAACN22 -> SMAARU22  100 CNY   A pays B:                   A out 100, B out -100
    SMAARU22 -> SMAACN22   30 CNY   B pays A back:              A out  70, B out  -70
    SNAACN22 -> SMABRU22   50 CNY   A's indirect pays C:        A out 120 (A's peak), C -50
    SMABRU22 -> SMAARU22   80 RUB   C pays B in roubles:        C out  80 in RUB (C's peak)
    SMAARU22 -> SNAACN22  200 CNY   B pays A's indirect:        B out 130 (B's peak), A -80
"""


def hand_made_directory() -> Directory:
    def bank(bic: str, number: int, via: str | None = None) -> Participant:
        kind = ParticipantKind.INDIRECT if via else ParticipantKind.DIRECT
        country = bic[4:6]
        currency = {"CN": "CNY", "RU": "RUB"}[country]
        return Participant(bic, bic, country, kind, number, currency, via=via)

    participants = [
        bank("SMAACN22", 1),
        bank("SNAACN22", 2, via="SMAACN22"),
        bank("SMAARU22", 3),
        bank("SMABRU22", 4),
    ]
    return Directory(participants, {"CNY": 156, "RUB": 643})


def hand_made_payments() -> list[Payment]:
    payments = []
    for number, line in enumerate(HAND_MADE_DAY.strip().splitlines(), start=1):
        debtor, _, creditor, amount, currency = line.split()[:5]
        payments.append(Payment(number, debtor, creditor, int(amount), currency))
    return payments


def test_upper_bound_need_on_a_hand_made_day() -> None:
    need = upper_bound_need(hand_made_payments(), hand_made_directory())
    assert need == {
        ("SMAACN22", "CNY"): 120,
        ("SMAACN22", "RUB"): 0,
        ("SMAARU22", "CNY"): 130,
        ("SMAARU22", "RUB"): 0,
        ("SMABRU22", "CNY"): 0,
        ("SMABRU22", "RUB"): 80,
    }


def test_upper_bound_need_depends_on_the_order_of_arrival() -> None:
    # B's 200 to A's indirect arrives first: B is out 200 before anything comes in.
    payments = hand_made_payments()
    need = upper_bound_need([payments[-1], *payments[:-1]], hand_made_directory())
    assert need[("SMAARU22", "CNY")] == 200
    assert need[("SMAACN22", "CNY")] == 0  # A has received 200 before it pays anything


def test_upper_bound_need_refuses_an_agent_outside_the_directory() -> None:
    stranger = Payment(99, "SMAACN22", "SMZZRU22", 1, "CNY")
    with pytest.raises(ValueError, match="SMZZRU22"):
        upper_bound_need([stranger], hand_made_directory())


def test_the_upper_bound_is_exactly_the_liquidity_that_never_queues(
    mixed_day: SimulatedDay,
) -> None:
    """Funded with its need, no bank goes below zero settling on arrival; with 1 less, it does."""
    directory = mixed_day.directory
    lowest: dict[tuple[str, str], int] = dict.fromkeys(mixed_day.upper_bound, 0)
    balance = dict(lowest)
    for payment in mixed_day.payments:
        debtor = directory.settling_participant(payment.debtor_agent).bic  # type: ignore[union-attr]
        creditor = directory.settling_participant(payment.creditor_agent).bic  # type: ignore[union-attr]
        balance[(debtor, payment.currency)] -= payment.amount
        balance[(creditor, payment.currency)] += payment.amount
        lowest[(debtor, payment.currency)] = min(
            lowest[(debtor, payment.currency)], balance[(debtor, payment.currency)]
        )
    assert {key: -low for key, low in lowest.items()} == dict(mixed_day.upper_bound)
    assert sum(need > 0 for need in mixed_day.upper_bound.values()) > 100


def test_opening_liquidity_rounds_up_to_a_whole_major_unit() -> None:
    assert opening_liquidity(0, 12_345, 40, 2) == 5_000  # 40 % of 123.45 is 49.38 -> 50.00
    assert opening_liquidity(0, 12_500, 40, 2) == 5_000  # exactly 50.00 stays 50.00
    assert opening_liquidity(0, 12_501, 40, 2) == 5_100
    assert opening_liquidity(0, 1, 1, 2) == 100
    assert opening_liquidity(0, 0, 40, 2) == 0
    assert opening_liquidity(0, 7, 100, 0) == 7
    assert opening_liquidity(0, 10**30 + 1, 100, 2) == 10**30 + 100  # exact beyond int64


def test_opening_liquidity_runs_from_the_lower_to_the_upper_bound() -> None:
    assert opening_liquidity(1_000, 3_000, 0, 0) == 1_000
    assert opening_liquidity(1_000, 3_000, 100, 0) == 3_000
    assert opening_liquidity(1_000, 3_000, 25, 0) == 1_500
    assert opening_liquidity(1_000, 3_000, 25, 2) == 1_500  # 15.00 is whole already
    assert opening_liquidity(1_001, 3_000, 0, 2) == 1_100  # 10.01 rounds up to 11.00


def test_opening_balances_are_the_liquidity_share_of_the_need(day: SimulatedDay) -> None:
    registry = default_registry()
    assert day.opening_balance.keys() == day.upper_bound.keys()
    assert {bic for bic, _ in day.upper_bound} == {p.bic for p in day.directory.direct()}
    assert {currency for _, currency in day.upper_bound} == set(day.currencies)
    for key, need in day.upper_bound.items():
        major = 10 ** registry.get(key[1]).exponent
        balance = day.opening_balance[key]
        lower = day.lower_bound[key]
        target = lower * 100 + (need - lower) * day.config.liquidity_pct
        assert 0 <= lower <= need
        assert balance % major == 0
        assert balance * 100 >= target
        assert (balance - major) * 100 < target or balance == 0
    assert sum(day.opening_balance.values()) > 0


def test_full_and_no_liquidity() -> None:
    full = simulate_day(DayConfig(cross_currency_pct=0, payments=2_000, liquidity_pct=100))
    assert all(full.opening_balance[key] >= need for key, need in full.upper_bound.items())
    none = simulate_day(DayConfig(cross_currency_pct=0, payments=2_000, liquidity_pct=0))
    registry = default_registry()
    for key, lower in none.lower_bound.items():
        major = 10 ** registry.get(key[1]).exponent
        assert lower <= none.opening_balance[key] < lower + major
    assert dict(none.upper_bound) == dict(full.upper_bound)


def test_an_empty_day_is_a_valid_day() -> None:
    empty = simulate_day(DayConfig(cross_currency_pct=0, payments=0))
    assert empty.payments == () and len(empty.arrival_ns) == 0
    assert set(empty.upper_bound.values()) == {0}


# --- configuration ------------------------------------------------------------------------

BAD_VALUES = [
    ("seed", -1),
    ("seed", 1.5),
    ("payments", -1),
    ("payments", 10_000_001),
    ("payments", True),
    ("date", "2026-02-30"),
    ("date", "05.01.2026"),
    ("date", "2026-1-5"),
    ("date", "1969-12-31"),
    ("opening", "8:00"),
    ("opening", "24:00"),
    ("cut_off", "18:60"),
    ("cut_off", 1800),
    ("direct_banks", 19),
    ("direct_banks", 1001),
    ("indirect_per_direct", -1),
    ("indirect_per_direct", 9),
    ("liquidity_pct", -1),
    ("liquidity_pct", 101),
    ("urgent_pct", 101),
    ("dns_pct", -5),
    ("timed_pct", "2"),
    ("cross_currency_pct", 101),
]


@pytest.mark.parametrize(("field", "value"), BAD_VALUES)
def test_validate_rejects_a_bad_field_by_name(field: str, value: object) -> None:
    config = dataclasses.replace(DayConfig(), **{field: value})
    with pytest.raises(ValueError, match=rf"DayConfig\.{field}\b"):
        config.validate()
    with pytest.raises(ValueError, match=field):
        simulate_day(config)


def test_validate_rejects_a_cut_off_not_after_the_opening() -> None:
    for opening, cut_off in (("18:00", "08:00"), ("12:00", "12:00")):
        with pytest.raises(ValueError, match="cut_off .* must be after opening"):
            DayConfig(opening=opening, cut_off=cut_off).validate()


def test_validate_rejects_shares_that_overlap_dns_past_everything() -> None:
    with pytest.raises(ValueError, match="urgent_pct \\+ dns_pct"):
        DayConfig(urgent_pct=60, dns_pct=50).validate()
    with pytest.raises(ValueError, match="timed_pct \\+ dns_pct"):
        DayConfig(timed_pct=51, dns_pct=50).validate()


def test_validate_names_every_bad_field_at_once() -> None:
    config = DayConfig(payments=-1, cut_off="late", cross_currency_pct=101)
    with pytest.raises(ValueError) as raised:
        config.validate()
    for field in ("payments", "cut_off", "cross_currency_pct"):
        assert f"DayConfig.{field}" in str(raised.value)


def test_the_default_config_and_the_edges_are_valid() -> None:
    DayConfig().validate()
    DayConfig(payments=0, direct_banks=20, liquidity_pct=100, urgent_pct=100).validate()
    DayConfig(
        opening="00:00", cut_off="23:59", date="2024-02-29", dns_pct=95, urgent_pct=5
    ).validate()
    all_deferred = simulate_day(
        DayConfig(cross_currency_pct=0, payments=100, dns_pct=100, urgent_pct=0, timed_pct=0)
    )
    assert {p.method for p in all_deferred.payments} == {Method.DNS}


def test_interbank_flows_are_an_exact_two_way_share_between_direct_banks() -> None:
    config = DayConfig(cross_currency_pct=0, seed=3, payments=20_000, interbank_pct=50)
    mixed = simulate_day(config)
    trade = simulate_day(DayConfig(cross_currency_pct=0, seed=3, payments=20_000, interbank_pct=0))
    changed = [
        (m, t)
        for m, t in zip(mixed.payments, trade.payments, strict=True)
        if (m.debtor_agent, m.creditor_agent) != (t.debtor_agent, t.creditor_agent)
    ]
    # Exactly half were redrawn (a redraw may by chance land on the same pair: allow a few).
    assert 9_900 <= len(changed) <= 10_000
    sent: dict[str, int] = {}
    received: dict[str, int] = {}
    for m, t in changed:
        assert (m.amount, m.currency, m.uetr) == (t.amount, t.currency, t.uetr)
        assert m.debtor_agent != m.creditor_agent
        for bic in (m.debtor_agent, m.creditor_agent):
            assert mixed.directory.get(bic).kind is ParticipantKind.DIRECT
        sent[m.debtor_agent] = sent.get(m.debtor_agent, 0) + 1
        received[m.creditor_agent] = received.get(m.creditor_agent, 0) + 1
    # Two-way: every bank that sends interbank payments also receives them, in like numbers.
    for bic, count in sent.items():
        if count >= 200:
            assert 0.7 < received.get(bic, 0) / count < 1.4, bic
    # Two-way flows leave less to the end-of-day net debits than trade alone.
    lower = sum(mixed.lower_bound.values()) / sum(mixed.upper_bound.values())
    assert lower < sum(trade.lower_bound.values()) / sum(trade.upper_bound.values())
