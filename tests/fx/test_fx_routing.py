"""Quotes and routes: exact hop arithmetic, bands, liquidity, routes of 1-3 hops, vehicles."""

from __future__ import annotations

from fractions import Fraction

import pytest

from samarkand.fx import QUOTE_REASON_CODES, Quote, QuoteRefusal, QuoteResult, quote
from samarkand.money import AMOUNT_MAX

from .market import NOW, TTL_NS, book, unnumbered


def send(rate_book, source, destination, amount, *, now=NOW):
    return quote(
        rate_book, source=source, destination=destination, send_amount=amount,
        now=now, quote_id=7, ttl_ns=TTL_NS,
    )  # fmt: skip


def deliver(rate_book, source, destination, amount, *, now=NOW):
    return quote(
        rate_book, source=source, destination=destination, deliver_amount=amount,
        now=now, quote_id=7, ttl_ns=TTL_NS,
    )  # fmt: skip


def route(result) -> list[tuple[str, str, str, int, int]]:
    assert isinstance(result, Quote), result
    return [(h.provider, h.sell, h.buy, h.sell_amount, h.buy_amount) for h in result.hops]


def refused(result) -> QuoteResult:
    assert isinstance(result, QuoteRefusal), result
    return result.result


# --- exact arithmetic, by hand ------------------------------------------------------------


def test_rub_to_kzt_send_floors_the_fraction_of_a_tiyn() -> None:
    rates = book("PROVRUMM RUB KZT 5.4321")
    # 1000.07 RUB * 5.4321 = 5432.480247 KZT: 100007 * 54321 = 5_432_480_247, / 10**4.
    result = send(rates, "RUB", "KZT", 100_007)
    assert route(result) == [("PROVRUMM", "RUB", "KZT", 100_007, 543_248)]
    assert result.effective_rate == Fraction(543_248, 100_007)
    assert (result.created_ns, result.expires_ns, result.id) == (NOW, NOW + TTL_NS, 7)


def test_rub_to_kzt_deliver_rounds_the_sell_amount_up() -> None:
    rates = book("PROVRUMM RUB KZT 5.4321")
    # Target 5432.49 KZT: 5_432_490_000 / 54321 = 100007 rest 9753, so 100008 kopeks are
    # needed; they buy floor(100008 * 5.4321) = floor(543253.4568) = 543253 tiyn.
    result = deliver(rates, "RUB", "KZT", 543_249)
    assert route(result) == [("PROVRUMM", "RUB", "KZT", 100_008, 543_253)]
    # One kopek less would fall short: floor(100007 * 5.4321) = 543248 < 543249.


def test_irr_with_iso_decimals_beyond_int64() -> None:
    rates = book("PROVCNBJ CNY IRR 5871.2345678901")
    sent = 987_654_321_987_654_321  # CNY fen, just above 2**59
    # 987654321987654321 * 58712345678901 / 10**10 = 5798750196379975308703.3251181221
    # (Decimal with 80 digits); the rial total exceeds 2**63 and stays an exact int.
    result = send(rates, "CNY", "IRR", sent)
    assert result.deliver_amount == 5_798_750_196_379_975_308_703
    assert result.deliver_amount > 2**63


def test_irr_in_whole_rials_shifts_the_exponent() -> None:
    rates = book("PROVCNBJ CNY IRR 5871.25", exponent_overrides={"IRR": 0})
    # 100.01 CNY * 5871.25 = 587183.7125 IRR; IRR has no decimals here: 587183 rials.
    assert route(send(rates, "CNY", "IRR", 10_001)) == [("PROVCNBJ", "CNY", "IRR", 10_001, 587_183)]
    # 1234567.89 CNY * 5871.25 = 7248456724.1625 IRR -> 7248456724
    assert send(rates, "CNY", "IRR", 123_456_789).deliver_amount == 7_248_456_724


def test_three_decimal_currency_kwd() -> None:
    rates = book("PROVINBB INR KWD 0.0036")
    # 1000.00 INR * 0.0036 = 3.600 KWD = 3600 fils.
    assert send(rates, "INR", "KWD", 100_000).deliver_amount == 3_600
    # KWD -> INR the other way: 1.001 KWD * 277.5 = 277.7775 INR -> 277.77 INR.
    back = book("PROVINBB KWD INR 277.5")
    assert send(back, "KWD", "INR", 1_001).deliver_amount == 27_777


def test_an_amount_that_buys_nothing_is_refused() -> None:
    rates = book("PROVCNBJ IRR CNY 0.0001")
    # 0.99 IRR * 0.0001 = 0.000099 CNY: less than a fen.
    assert refused(send(rates, "IRR", "CNY", 99)) is QuoteResult.AMOUNT_OUTSIDE_TIERS


# --- bands and liquidity ------------------------------------------------------------------


BANDED = """
    PROVAAAA CNY RUB 13.50  1       100000          # small tickets, best rate
    PROVBBBB CNY RUB 13.40  100001  10000000
    PROVCCCC CNY RUB 13.45  100001  10000000  50000  # better, but shallow
"""


def test_tier_applies_only_inside_its_band() -> None:
    rates = book(BANDED)
    assert route(send(rates, "CNY", "RUB", 100_000))[0][0] == "PROVAAAA"
    assert route(send(rates, "CNY", "RUB", 100_001))[0][0] == "PROVBBBB"
    assert refused(send(rates, "CNY", "RUB", 10_000_001)) is QuoteResult.AMOUNT_OUTSIDE_TIERS


def test_tier_applies_only_within_its_liquidity() -> None:
    rates = book(BANDED)
    # 1000.01 CNY * 13.40 = 13400.134 RUB: PROVCCCC's better 13.45 lacks the liquidity.
    assert route(send(rates, "CNY", "RUB", 100_001)) == [
        ("PROVBBBB", "CNY", "RUB", 100_001, 1_340_013)
    ]
    shallow = book("PROVCCCC CNY RUB 13.45 1 10000000 50000")
    # 37.17 CNY * 13.45 = 499.9365 RUB -> 49993 kopeks <= 50000: fits.
    assert route(send(shallow, "CNY", "RUB", 3_717))[0][4] == 49_993
    # 37.18 CNY * 13.45 = 500.071 RUB -> 50007 > 50000: over the committed liquidity.
    assert (
        refused(send(shallow, "CNY", "RUB", 3_718)) is QuoteResult.INSUFFICIENT_PROVIDER_LIQUIDITY
    )
    assert (
        refused(deliver(shallow, "CNY", "RUB", 50_001))
        is QuoteResult.INSUFFICIENT_PROVIDER_LIQUIDITY
    )
    # Delivering exactly 500.00 RUB needs ceil(50000 / 13.45) = 3718 fen, which buy 50007
    # kopeks: the rounding overshoot alone would break the provider's commitment.
    assert (
        refused(deliver(shallow, "CNY", "RUB", 50_000))
        is QuoteResult.INSUFFICIENT_PROVIDER_LIQUIDITY
    )
    assert route(deliver(shallow, "CNY", "RUB", 49_993)) == [
        ("PROVCCCC", "CNY", "RUB", 3_717, 49_993)
    ]


def test_liquidity_shortfall_falls_back_to_the_next_tier() -> None:
    rates = book("""
        PROVAAAA CNY RUB 13.50 1 10000000 1000
        PROVBBBB CNY RUB 13.00
    """)
    assert route(send(rates, "CNY", "RUB", 74)) == [("PROVAAAA", "CNY", "RUB", 74, 999)]
    assert route(send(rates, "CNY", "RUB", 75)) == [("PROVBBBB", "CNY", "RUB", 75, 975)]


def test_tiers_outside_their_validity_are_invisible() -> None:
    rates = book("PROVAAAA CNY RUB 13.5 1 1000000000 1000000000 500 2000")
    assert isinstance(send(rates, "CNY", "RUB", 100, now=500), Quote)
    assert isinstance(send(rates, "CNY", "RUB", 100, now=1_999), Quote)
    assert refused(send(rates, "CNY", "RUB", 100, now=2_000)) is QuoteResult.NO_ROUTE
    assert refused(send(rates, "CNY", "RUB", 100, now=499)) is QuoteResult.NO_ROUTE


# --- routes ---------------------------------------------------------------------------------


TRIANGLE = """
    PROVRUMM CNY RUB 10          # a bad direct rate
    PROVKZKA CNY KZT 70
    PROVKZKB KZT RUB 0.2         # 70 * 0.2 = 14 RUB per CNY through the tenge
"""


def test_two_hops_beat_a_bad_direct_rate() -> None:
    result = send(book(TRIANGLE), "CNY", "RUB", 10_000)
    assert route(result) == [
        ("PROVKZKA", "CNY", "KZT", 10_000, 700_000),
        ("PROVKZKB", "KZT", "RUB", 700_000, 140_000),
    ]
    assert result.effective_rate == 14


def test_deliver_picks_the_route_needing_least_source() -> None:
    result = deliver(book(TRIANGLE), "CNY", "RUB", 140_000)
    assert result.send_amount == 10_000 and len(result.hops) == 2
    assert result.deliver_amount == 140_000


def test_direct_wins_a_tie_against_a_longer_route() -> None:
    rates = book(TRIANGLE + "PROVRUMN CNY RUB 14")
    assert len(send(rates, "CNY", "RUB", 10_000).hops) == 1
    assert len(deliver(rates, "CNY", "RUB", 140_000).hops) == 1


CHAIN = """
    PROVPKKA PKR AFN 0.25
    PROVAFKA AFN TJS 0.15
    PROVTJKA TJS KGS 8
    PROVKGKA KGS UZS 1450         # a fourth hop: PKR -> UZS is out of reach
"""


def test_three_hop_route() -> None:
    # 1000.00 PKR -> 250.00 AFN -> 37.50 TJS -> 300.00 KGS
    result = send(book(CHAIN), "PKR", "KGS", 100_000)
    assert [h.buy_amount for h in result.hops] == [25_000, 3_750, 30_000]
    assert [h.sell for h in result.hops] == ["PKR", "AFN", "TJS"]
    back = deliver(book(CHAIN), "PKR", "KGS", 30_000)
    assert back.send_amount == 100_000 and back.deliver_amount == 30_000


def test_four_hops_are_out_of_reach() -> None:
    assert refused(send(book(CHAIN), "PKR", "UZS", 100_000)) is QuoteResult.NO_ROUTE


def test_deliver_intermediate_amounts_chain_exactly() -> None:
    result = deliver(book(CHAIN), "PKR", "KGS", 30_001)
    for before, after in zip(result.hops, result.hops[1:], strict=False):
        assert before.buy_amount == after.sell_amount
    assert result.deliver_amount >= 30_001
    # Minimal: one paisa less delivers less than the target.
    assert send(book(CHAIN), "PKR", "KGS", result.send_amount - 1).deliver_amount < 30_001


def test_quote_does_not_depend_on_posting_order() -> None:
    lines = """
        PROVBBBB CNY RUB 13.5
        PROVAAAA CNY RUB 13.5
        PROVKZKA CNY KZT 67.5
        PROVKZKB KZT RUB 0.2
    """
    forward = send(book(lines), "CNY", "RUB", 10_000)
    backward = send(book("\n".join(reversed(lines.splitlines()))), "CNY", "RUB", 10_000)
    assert unnumbered(forward) == unnumbered(backward)
    assert route(forward) == [("PROVAAAA", "CNY", "RUB", 10_000, 135_000)]


# --- vehicle currencies ----------------------------------------------------------------------


VEHICLE = """
    PROVUSAA CNY USD 0.14
    PROVUSBB USD PKR 280          # 39.2 PKR per CNY through the dollar
"""


def test_vehicle_currency_is_never_used_by_default() -> None:
    assert refused(send(book(VEHICLE), "CNY", "PKR", 10_000)) is QuoteResult.FORBIDDEN_VEHICLE
    assert refused(deliver(book(VEHICLE), "CNY", "PKR", 10_000)) is QuoteResult.FORBIDDEN_VEHICLE
    national = book(VEHICLE + "PROVPKAA CNY PKR 38")
    assert route(send(national, "CNY", "PKR", 10_000)) == [
        ("PROVPKAA", "CNY", "PKR", 10_000, 380_000)
    ]


def test_vehicle_currency_is_used_when_the_corridor_is_allowed() -> None:
    rates = book(VEHICLE + "PROVPKAA CNY PKR 38", allowed_vehicle_corridors={("CNY", "PKR")})
    result = send(rates, "CNY", "PKR", 10_000)
    assert [h.buy for h in result.hops] == ["USD", "PKR"]
    assert result.deliver_amount == 392_000
    # The exception is per corridor and direction.
    reverse = book(
        "PROVUSBB PKR USD 0.0035\nPROVUSAA USD CNY 7", allowed_vehicle_corridors={("CNY", "PKR")}
    )
    assert refused(send(reverse, "PKR", "CNY", 10_000)) is QuoteResult.FORBIDDEN_VEHICLE


def test_a_vehicle_currency_may_be_an_endpoint() -> None:
    assert send(book(VEHICLE), "CNY", "USD", 10_000).deliver_amount == 1_400


def test_no_route_converts_through_a_currency_resting_today() -> None:
    rates = book("PROVKZKA CNY KZT 70\nPROVKZKB KZT RUB 0.2")
    resting = frozenset({"KZT"})
    found = quote(rates, source="CNY", destination="RUB", send_amount=100, now=NOW,
                  quote_id=7, ttl_ns=TTL_NS, resting=resting)  # fmt: skip
    assert refused(found) is QuoteResult.CURRENCY_RESTING
    assert "KZT, which does not settle today" in found.detail
    assert QUOTE_REASON_CODES[QuoteResult.CURRENCY_RESTING] == "DT01"
    # Another route around it is taken (without the rest, the better one through KZT).
    around = book("PROVKZKA CNY KZT 70\nPROVKZKB KZT RUB 0.2\nPROVINAA CNY INR 11\n"
                  "PROVINBB INR RUB 1.2")  # fmt: skip
    found = quote(around, source="CNY", destination="RUB", send_amount=100, now=NOW,
                  quote_id=7, ttl_ns=TTL_NS, resting=resting)  # fmt: skip
    assert [h.buy for h in found.hops] == ["INR", "RUB"]
    assert [h.buy for h in send(around, "CNY", "RUB", 100).hops] == ["KZT", "RUB"]
    # The vehicle policy is still named when a route is closed by it, not by the rest.
    vehicle = book(VEHICLE)
    found = quote(vehicle, source="CNY", destination="PKR", send_amount=100, now=NOW,
                  quote_id=7, ttl_ns=TTL_NS, resting=frozenset({"RUB"}))  # fmt: skip
    assert refused(found) is QuoteResult.FORBIDDEN_VEHICLE


def test_vehicle_policy_is_configurable() -> None:
    rates = book("PROVKZKA CNY KZT 70\nPROVKZKB KZT RUB 0.2", vehicle_only={"KZT"})
    assert refused(send(rates, "CNY", "RUB", 100)) is QuoteResult.FORBIDDEN_VEHICLE


# --- every refusal -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "destination", "amounts", "expected"),
    [
        ("CNY", "RUB", {}, QuoteResult.BOTH_OR_NEITHER_AMOUNT),
        ("CNY", "RUB", {"send_amount": 1, "deliver_amount": 1}, QuoteResult.BOTH_OR_NEITHER_AMOUNT),
        ("CNY", "RUB", {"send_amount": 0}, QuoteResult.NOT_POSITIVE),
        ("CNY", "RUB", {"deliver_amount": -5}, QuoteResult.NOT_POSITIVE),
        ("CNY", "RUB", {"send_amount": AMOUNT_MAX + 1}, QuoteResult.AMOUNT_TOO_LARGE),
        ("CNY", "GBP", {"send_amount": 1}, QuoteResult.UNKNOWN_CURRENCY),  # ISO, not carried
        ("XYZ", "RUB", {"send_amount": 1}, QuoteResult.UNKNOWN_CURRENCY),
        ("cny", "RUB", {"send_amount": 1}, QuoteResult.UNKNOWN_CURRENCY),
        ("CNY", "CNY", {"send_amount": 1}, QuoteResult.SAME_CURRENCY),
        ("CNY", "INR", {"send_amount": 1}, QuoteResult.NO_ROUTE),
        ("CNY", "RUB", {"send_amount": 10**13}, QuoteResult.AMOUNT_OUTSIDE_TIERS),
        ("CNY", "RUB", {"send_amount": 10**12}, QuoteResult.INSUFFICIENT_PROVIDER_LIQUIDITY),
        ("CNY", "PKR", {"send_amount": 100}, QuoteResult.FORBIDDEN_VEHICLE),
    ],
)
def test_every_refusal(source, destination, amounts, expected) -> None:
    rates = book("PROVRUMM CNY RUB 13.45 1 1000000000000 1000000\n" + VEHICLE)
    result = quote(
        rates, source=source, destination=destination, now=NOW, quote_id=1, ttl_ns=TTL_NS,
        **amounts,
    )  # fmt: skip
    assert refused(result) is expected
    assert result.detail


def test_every_result_has_a_reason_code_entry() -> None:
    assert set(QUOTE_REASON_CODES) == set(QuoteResult)


@pytest.mark.parametrize(
    "call",
    [
        {"now": 1.0, "quote_id": 1, "ttl_ns": 1},
        {"now": 1, "quote_id": 0, "ttl_ns": 1},
        {"now": 1, "quote_id": 1, "ttl_ns": 0},
        {"now": 1, "quote_id": True, "ttl_ns": 1},
    ],
)
def test_caller_bugs_raise(call) -> None:
    with pytest.raises((TypeError, ValueError)):
        quote(book(VEHICLE), source="CNY", destination="USD", send_amount=1, **call)


def test_float_amount_raises() -> None:
    with pytest.raises(TypeError):
        quote(
            book(VEHICLE),
            source="CNY",
            destination="USD",
            send_amount=1.5,
            now=1,
            quote_id=1,
            ttl_ns=1,
        )
