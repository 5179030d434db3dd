"""The rate book: posting, replacing, withdrawing, bounds and the vehicle policy."""

from __future__ import annotations

from fractions import Fraction

import pytest

from samarkand.fx import PostResult, RateBook, RateTier, WithdrawResult
from samarkand.fx.book import TIERS_PER_PAIR_MAX
from samarkand.money import MoneyError, default_registry

from .market import book, tiers


def test_post_replace_withdraw() -> None:
    rates = book("PROVAAAA CNY RUB 13.4 1 1000\nPROVBBBB CNY RUB 13.5 1 1000")
    assert [o.tier.provider for o in rates.offers("CNY", "RUB")] == ["PROVBBBB", "PROVAAAA"]
    (better,) = tiers("PROVAAAA CNY RUB 13.6 1 1000")
    assert rates.post(better) is PostResult.REPLACED
    assert [o.tier.rate for o in rates.offers("CNY", "RUB")] == [Fraction("13.6"), Fraction("13.5")]
    assert len(rates) == 2
    assert rates.withdraw("PROVAAAA", "CNY", "RUB", 1, 1000) is WithdrawResult.WITHDRAWN
    assert rates.withdraw("PROVAAAA", "CNY", "RUB", 1, 1000) is WithdrawResult.NOT_FOUND
    assert rates.withdraw("PROVBBBB", "CNY", "RUB", 1, 1000) is WithdrawResult.WITHDRAWN
    assert rates.offers("CNY", "RUB") == () and rates.offers_from("CNY") == {}
    assert rates.sources_of("RUB") == () and len(rates) == 0


def test_a_book_without_some_providers_leaves_the_book_as_it_was() -> None:
    rates = book("PROVAAAA CNY RUB 13.4 1 1000\nPROVBBBB CNY RUB 13.5 1 1000\nPROVBBBB RUB INR 1.2")
    before = (list(rates.tiers()), rates.offers("CNY", "RUB"), rates.sources_of("INR"))
    assert rates.without_providers({"PROVCCCC"}) is rates  # none of theirs stands: no copy
    passed_by = rates.without_providers({"PROVBBBB"})
    assert [o.tier.provider for o in passed_by.offers("CNY", "RUB")] == ["PROVAAAA"]
    assert passed_by.offers("RUB", "INR") == () and passed_by.sources_of("INR") == ()
    assert [o.commitment for o in passed_by.offers("CNY", "RUB")] == [
        o.commitment for o in rates.offers("CNY", "RUB") if o.tier.provider == "PROVAAAA"
    ]
    assert (list(rates.tiers()), rates.offers("CNY", "RUB"), rates.sources_of("INR")) == before


def test_a_second_band_of_one_provider_is_a_second_tier() -> None:
    rates = book("PROVAAAA CNY RUB 13.4 1 1000\nPROVAAAA CNY RUB 13.5 1001 2000")
    assert len(rates) == 2 and rates.sources_of("RUB") == ("CNY",)
    assert [t.min_amount for t in rates.tiers()] == [1, 1001]


def test_offer_scales_the_rate_by_the_exponents() -> None:
    rates = book("PROVAAAA CNY IRR 5871.25\nPROVAAAA INR KWD 0.0036", exponent_overrides={"IRR": 0})
    (irr,) = rates.offers("CNY", "IRR")
    assert Fraction(irr.numerator, irr.denominator) == Fraction("58.7125")  # 10**(0 - 2)
    (kwd,) = rates.offers("INR", "KWD")
    assert Fraction(kwd.numerator, kwd.denominator) == Fraction("0.036")  # 10**(3 - 2)


def test_unknown_currency_is_refused() -> None:
    rates = book("")
    (gbp,) = tiers("PROVAAAA CNY GBP 0.1")
    assert rates.post(gbp) is PostResult.UNKNOWN_CURRENCY
    assert len(rates) == 0
    with pytest.raises(TypeError):
        rates.post("PROVAAAA CNY RUB 13")  # type: ignore[arg-type]


def test_pair_is_bounded() -> None:
    rates = book("")
    for index in range(TIERS_PER_PAIR_MAX):
        (one,) = tiers(f"P{index:03d}CNBJ CNY RUB 13")
        assert rates.post(one) is PostResult.POSTED
    (extra,) = tiers("PROVZZZZ CNY RUB 13")
    assert rates.post(extra) is PostResult.PAIR_FULL
    (again,) = tiers("P000CNBJ CNY RUB 14")
    assert rates.post(again) is PostResult.REPLACED  # replacing never needs room


def test_withdraw_expired() -> None:
    rates = book("PROVAAAA CNY RUB 13 1 10 10 0 100\nPROVBBBB CNY RUB 13 1 10 10 0 200")
    assert rates.withdraw_expired(100) == 1
    assert [t.provider for t in rates.tiers()] == ["PROVBBBB"]


def test_vehicle_policy() -> None:
    rates = book("", allowed_vehicle_corridors={("CNY", "PKR")})
    assert rates.vehicle_only == {"USD", "EUR"}
    assert rates.may_pass_through("USD", "CNY", "PKR")
    assert not rates.may_pass_through("USD", "PKR", "CNY")
    assert rates.may_pass_through("KZT", "PKR", "CNY")


@pytest.mark.parametrize(
    "policy",
    [{"vehicle_only": {"XXX"}}, {"allowed_vehicle_corridors": {("CNY", "GBP")}}],
)
def test_mistyped_policy_fails_at_start_up(policy) -> None:
    with pytest.raises(MoneyError):
        RateBook(default_registry(), **policy)


def test_corridor_must_be_a_pair() -> None:
    with pytest.raises(ValueError):
        RateBook(default_registry(), allowed_vehicle_corridors={("CNY", "PKR", "INR")})


def test_tier_type_is_public() -> None:
    assert tiers("PROVAAAA CNY RUB 1")[0] == RateTier(
        "PROVAAAA", "CNY", "RUB", 1, 10**30, Fraction(1), 10**30, 0, 10**18
    )


def test_every_tier_posted_is_a_new_commitment_unless_posted_per_quote() -> None:
    rates = book("PROVAAAA CNY RUB 13.4 1 1000\nPROVBBBB CNY RUB 13.5 1 1000")
    assert sorted(o.commitment for o in rates.offers("CNY", "RUB")) == [1, 2]
    (same,) = tiers("PROVAAAA CNY RUB 13.4 1 1000")
    assert rates.post(same) is PostResult.REPLACED  # the same numbers: a new commitment
    assert {o.tier.provider: o.commitment for o in rates.offers("CNY", "RUB")} == {
        "PROVAAAA": 3,
        "PROVBBBB": 2,
    }
    (legacy,) = tiers("PROVCCCC CNY RUB 13.3 1 1000")
    assert rates.post(legacy, counted=False) is PostResult.POSTED
    assert rates.offers("CNY", "RUB")[-1].commitment == 0  # its liquidity bounds each quote
    assert rates.commitments() == {2, 3}
