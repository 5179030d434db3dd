"""The one error type for bad money input, carrying an ISO 20022 status reason code.

Money input arrives from messages and operators, so a problem with it is reported with the
field it came from, a sentence a person can act on, and the ISO 20022 external status reason
code a payment status report (pacs.002) would carry. The hub maps that code onward; this
module only guarantees the code is one of the few that describe amounts and currencies.
"""

from __future__ import annotations

# ISO 20022 ExternalStatusReason1Code values used by this package.
ZERO_AMOUNT = "AM01"
NOT_ALLOWED_AMOUNT = "AM02"  # above AMOUNT_MAX
NOT_ALLOWED_CURRENCY = "AM03"  # known currency, but not enabled for settlement
INVALID_CURRENCY = "AM11"  # malformed, unknown, withdrawn, or not carried by the hub
INVALID_AMOUNT = "AM12"  # malformed, negative, or more decimals than the currency allows

REASON_CODES: frozenset[str] = frozenset(
    {ZERO_AMOUNT, NOT_ALLOWED_AMOUNT, NOT_ALLOWED_CURRENCY, INVALID_CURRENCY, INVALID_AMOUNT}
)

PREVIEW_LENGTH_MAX = 40  # characters of user input echoed back in a reason


class MoneyError(ValueError):
    """Bad money input: which field, why (a sentence), and the ISO 20022 reason code.

    ``str(error)`` reads ``"amount: 12.345 has 3 decimals but CNY allows 2 (AM12)"``.
    The arguments are kept in ``args`` so the error pickles and crosses process boundaries.
    """

    field: str
    reason: str
    code: str

    def __init__(self, field: str, reason: str, code: str) -> None:
        # A code outside the set is a bug in this package, not bad input: fail loudly.
        if code not in REASON_CODES:
            raise ValueError(f"unknown ISO 20022 reason code for MoneyError: {code!r}")
        super().__init__(field, reason, code)
        self.field = field
        self.reason = reason
        self.code = code

    def __str__(self) -> str:
        return f"{self.field}: {self.reason} ({self.code})"


def preview(value: object) -> str:
    """Return ``repr(value)`` cut to a bounded length, so echoing input cannot flood a log."""
    return clip(repr(value))


def clip(text: str) -> str:
    """Return ``text`` cut to a bounded length, marked with '...' when cut."""
    if len(text) <= PREVIEW_LENGTH_MAX:
        return text
    return text[: PREVIEW_LENGTH_MAX - 3] + "..."
