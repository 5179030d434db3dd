"""The quote registry: a quote binds one payment, once, before it expires."""

from __future__ import annotations

import dataclasses

import pytest

from samarkand.fx import REDEEM_REASON_CODES, IssueResult, Quote, QuoteRegistry, RedeemResult, quote

from .market import NOW, TTL_NS, book


@pytest.fixture
def issued() -> Quote:
    result = quote(
        book("PROVRUMM CNY RUB 13.45"), source="CNY", destination="RUB", send_amount=100,
        now=NOW, quote_id=42, ttl_ns=TTL_NS,
    )  # fmt: skip
    assert isinstance(result, Quote)
    return result


def test_redeem_once(issued: Quote) -> None:
    registry = QuoteRegistry()
    assert registry.issue(issued) is IssueResult.ISSUED
    assert registry.redeem(42, NOW + 1) == issued
    assert registry.is_used(42)
    assert registry.redeem(42, NOW + 2) is RedeemResult.ALREADY_USED
    assert registry.redeem(42, NOW + TTL_NS) is RedeemResult.ALREADY_USED


def test_redeem_before_expiry_only(issued: Quote) -> None:
    registry = QuoteRegistry()
    registry.issue(issued)
    assert registry.redeem(42, NOW + TTL_NS) is RedeemResult.EXPIRED  # expiry is exclusive
    assert registry.redeem(42, NOW - 1) is RedeemResult.EXPIRED  # not yet issued
    assert registry.redeem(42, NOW + TTL_NS - 1) == issued  # a failed try does not use it


def test_unknown_quote(issued: Quote) -> None:
    registry = QuoteRegistry()
    assert registry.redeem(42, NOW) is RedeemResult.UNKNOWN_QUOTE


def test_issue_is_idempotent_and_detects_reused_ids(issued: Quote) -> None:
    registry = QuoteRegistry()
    assert registry.issue(issued) is IssueResult.ISSUED
    assert registry.issue(issued) is IssueResult.EXISTS
    other = dataclasses.replace(issued, send_amount=issued.send_amount + 1)
    assert registry.issue(other) is IssueResult.EXISTS_WITH_DIFFERENT_FIELDS
    assert len(registry) == 1
    with pytest.raises(TypeError):
        registry.issue("quote 42")  # type: ignore[arg-type]


def test_registry_is_bounded(issued: Quote, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("samarkand.fx.quotes.QUOTES_OPEN_MAX", 1)
    registry = QuoteRegistry()
    assert registry.issue(issued) is IssueResult.ISSUED
    assert registry.issue(dataclasses.replace(issued, id=43)) is IssueResult.REGISTRY_FULL


def test_prune_forgets_expired_quotes(issued: Quote) -> None:
    registry = QuoteRegistry()
    registry.issue(issued)
    later = dataclasses.replace(issued, id=43, expires_ns=issued.expires_ns + 10)
    registry.issue(later)
    registry.redeem(42, NOW)
    assert registry.prune(issued.expires_ns - 1) == 0
    assert registry.prune(issued.expires_ns) == 1
    assert registry.redeem(42, NOW) is RedeemResult.UNKNOWN_QUOTE
    assert not registry.is_used(42) and len(registry) == 1


def test_every_redeem_result_has_a_reason_code() -> None:
    assert set(REDEEM_REASON_CODES) == set(RedeemResult)
