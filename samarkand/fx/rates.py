"""FX rates as exact values: providers' tiers for routing, central banks' reference rates.

A rate is a ``Fraction``: units of the ``buy`` currency per unit of the ``sell`` currency, in
major units (1 CNY = 13.45 RUB is ``Fraction("13.45")`` on the CNY→RUB pair). Rates arrive as
decimal text and are parsed exactly by ``parse_rate``; no float ever holds one, because a
float rate misprices large IRR or UZS amounts by whole units.

A ``RateTier`` is one offer of one FX provider: the rate applies when the amount sold is
inside ``[min_amount, max_amount]`` (minor units of ``sell``), the provider commits at most
``liquidity`` minor units of ``buy`` in total over the payments on it that settle (counted
per posting: see `samarkand.fx.book`), and the offer is valid for ``valid_from_ns <= now <
valid_until_ns``. Reference rates are for statistics only and never price a conversion.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from samarkand.money import AMOUNT_MAX
from samarkand.money.currency import check_code_form
from samarkand.money.errors import preview

RATE_DECIMALS_MAX = 10  # significant fraction digits a posted rate may carry
RATE_TEXT_LENGTH_MAX = 40  # characters of rate text; bounds the work of parsing it

# Digits, or optional digits then '.' then digits; no sign, exponent, space or separator.
_PLAIN_DECIMAL = re.compile(r"[0-9]+|[0-9]*\.[0-9]+")
# ISO 9362 BIC: party prefix (4), country (2), location (2), optional branch (3).
_BIC = re.compile(r"[A-Z0-9]{4}[A-Z]{2}[A-Z0-9]{2}(?:[A-Z0-9]{3})?")


class RateProblem(enum.Enum):
    """Why a rate text was refused; the value is the sentence's stem, for people."""

    MALFORMED = "not a plain decimal number like 13.4512"
    TOO_LONG = f"longer than {RATE_TEXT_LENGTH_MAX} characters"
    TOO_MANY_DECIMALS = f"more than {RATE_DECIMALS_MAX} significant fraction digits"
    NOT_POSITIVE = "not positive"


class RateError(ValueError):
    """Bad rate input from a provider or an operator: the field, the problem, the text.

    Rates are posted by participants, so the hub reports which field and why, and the API
    layer maps ``problem`` to its response. Kept in ``args`` so the error pickles.
    """

    field: str
    problem: RateProblem
    text: str

    def __init__(self, field: str, problem: RateProblem, text: str) -> None:
        super().__init__(field, problem, text)
        self.field = field
        self.problem = problem
        self.text = text

    def __str__(self) -> str:
        return f"{self.field}: {self.text} is {self.problem.value}"


def parse_rate(text: str, field: str = "rate") -> Fraction:
    """Return the exact positive rate of a plain decimal string such as "13.4512".

    At most ``RATE_DECIMALS_MAX`` significant fraction digits: trailing zeros do not count,
    since they do not change the value ("0.50000000000" is 1/2), but "0.12345678901" is
    refused (TOO_MANY_DECIMALS) rather than rounded, because rounding a posted rate would
    quote a price the provider never gave. Refused: non-str, signs, exponents, spaces,
    separators (MALFORMED); more than 40 characters (TOO_LONG); zero (NOT_POSITIVE).
    """
    if not isinstance(text, str):
        raise RateError(field, RateProblem.MALFORMED, preview(text))
    if len(text) > RATE_TEXT_LENGTH_MAX:
        raise RateError(field, RateProblem.TOO_LONG, preview(text))
    if text[:1] == "-" and _PLAIN_DECIMAL.fullmatch(text[1:]):
        raise RateError(field, RateProblem.NOT_POSITIVE, text)
    if not _PLAIN_DECIMAL.fullmatch(text):
        raise RateError(field, RateProblem.MALFORMED, preview(text))
    whole, _, fraction = text.partition(".")
    fraction = fraction.rstrip("0")
    if len(fraction) > RATE_DECIMALS_MAX:
        raise RateError(field, RateProblem.TOO_MANY_DECIMALS, text)
    rate = Fraction(int((whole or "0") + fraction), 10 ** len(fraction))
    if rate <= 0:
        raise RateError(field, RateProblem.NOT_POSITIVE, text)
    return rate


def check_bic(bic: object, field: str = "provider") -> str:
    """Return ``bic`` if it has the ISO 9362 form (8 or 11 characters), else raise ValueError."""
    if not isinstance(bic, str) or not _BIC.fullmatch(bic):
        raise ValueError(f"{field} must be a BIC of 8 or 11 characters: {preview(bic)}")
    return bic


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_rate(rate: object, label: str) -> None:
    if not isinstance(rate, Fraction) or rate <= 0:
        raise ValueError(f"{label}.rate must be a positive Fraction: {rate!r}")


@dataclass(frozen=True, slots=True)
class RateTier:
    """One provider's offer on one pair for one band of amounts; see the module docstring.

    Construction checks the invariants: a tier that misstates its band or liquidity would
    let the router promise a conversion nobody has agreed to.
    """

    provider: str
    sell: str
    buy: str
    min_amount: int
    max_amount: int
    rate: Fraction
    liquidity: int
    valid_from_ns: int
    valid_until_ns: int

    def __post_init__(self) -> None:
        check_bic(self.provider)
        check_code_form(self.sell, field="sell")
        check_code_form(self.buy, field="buy")
        if self.sell == self.buy:
            raise ValueError(f"RateTier sells and buys the same currency {self.sell}")
        amounts = (self.min_amount, self.max_amount, self.liquidity)
        if not all(_is_int(a) for a in amounts):
            raise ValueError(f"RateTier amounts must be ints: {amounts!r}")
        if not 1 <= self.min_amount <= self.max_amount <= AMOUNT_MAX:
            raise ValueError(f"RateTier band must satisfy 1 <= min <= max <= AMOUNT_MAX: {amounts}")
        if not 0 <= self.liquidity <= AMOUNT_MAX:
            raise ValueError(f"RateTier.liquidity must be in 0..AMOUNT_MAX: {self.liquidity}")
        _check_rate(self.rate, "RateTier")
        window = (self.valid_from_ns, self.valid_until_ns)
        if not all(_is_int(t) for t in window) or not 0 <= window[0] < window[1]:
            raise ValueError(f"RateTier validity must be ints with 0 <= from < until: {window}")

    def is_valid_at(self, now: int) -> bool:
        """True while the offer stands: from ``valid_from_ns`` up to, not at, ``valid_until_ns``."""
        return self.valid_from_ns <= now < self.valid_until_ns


@dataclass(frozen=True, slots=True)
class ReferenceRate:
    """A central bank's published rate: ``rate`` units of ``quote`` per unit of ``base``.

    For statistics only (converting volumes to a common unit for the roadmap's shares); the
    router never prices a conversion with it.
    """

    base: str
    quote: str
    rate: Fraction
    as_of_ns: int

    def __post_init__(self) -> None:
        check_code_form(self.base, field="base")
        check_code_form(self.quote, field="quote")
        if self.base == self.quote:
            raise ValueError(f"ReferenceRate of {self.base} against itself")
        _check_rate(self.rate, "ReferenceRate")
        if not _is_int(self.as_of_ns) or self.as_of_ns < 0:
            raise ValueError(f"ReferenceRate.as_of_ns must be a non-negative int: {self.as_of_ns}")


BASE_ONE_RATE_DIGITS = 11  # ISO 20022 BaseOneRate: 11 digits in all, at most 10 after the point


def base_one_places(rate: Fraction) -> int:
    """The fraction digits a BaseOneRate has for ``rate``: as many as its integer part
    leaves of 11, at most 10."""
    whole = len(str(int(rate))) if rate >= 1 else 0
    return max(0, min(RATE_DECIMALS_MAX, BASE_ONE_RATE_DIGITS - whole))


def base_one_rate(rate: Fraction) -> str:
    """``rate`` as an ISO 20022 BaseOneRate states it: exactly when it fits, else rounded
    half-even to `base_one_places` fraction digits. The text a pacs.008 citing a quote may
    give as its XchgRate (`samarkand.hub.messages.rate_agrees`)."""
    places = base_one_places(rate)
    exact = format_rate(rate, places)  # cut: the rate itself when it has no more digits
    if Fraction(exact) == rate:
        return exact
    return format(Decimal(round(rate * 10**places)).scaleb(-places), "f")


def format_rate(rate: Fraction, digits: int = RATE_DECIMALS_MAX) -> str:
    """``rate`` as decimal text, cut (never rounded up) after ``digits`` fraction digits, with
    trailing zeros dropped: display only; parse posted text with ``parse_rate``."""
    whole, rest = divmod(rate.numerator * 10**digits // rate.denominator, 10**digits)
    fraction = f"{rest:0{digits}d}".rstrip("0") if digits else ""
    return f"{whole}.{fraction}" if fraction else str(whole)
