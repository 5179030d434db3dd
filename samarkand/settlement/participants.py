"""Who takes part in settlement: central banks, direct and indirect participants.

Every participant has a number that appears in its account ids. A direct participant holds
one settlement account per currency at the hub; an indirect participant reaches the hub
through a direct one, whose accounts its payments settle on. A central bank holds the mirror
account of its own currency: the source of that currency in the hub (liquidity transfers in
and out of settlement accounts are transfers against it) and it sets the intraday credit of
the direct participants of its country.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from dataclasses import dataclass

from samarkand.ledger.types import AccountCode

BIC_PATTERN = re.compile(r"^[A-Z0-9]{4}[A-Z]{2}[A-Z0-9]{2}([A-Z0-9]{3})?$")


class ParticipantKind(enum.Enum):
    CENTRAL_BANK = "central_bank"
    DIRECT = "direct"
    INDIRECT = "indirect"


class ParticipantStatus(enum.Enum):
    ACTIVE = "active"
    SUSPENDED = "suspended"


def account_id(ledger: int, participant_number: int, code: int) -> int:
    """Readable 128-bit account ids: ledger (ISO 4217 numeric), participant number, code.

    `hex(id)` reads as 0x<ledger>_0000_0000_<number>_<code>, so an operator can tell whose
    account and which currency an id names without a lookup.
    """
    return (ledger << 64) | (participant_number << 16) | code


def account_parts(account: int) -> tuple[int, int, int]:
    """(ledger, participant number, code) of an id made by `account_id`."""
    return account >> 64, (account >> 16) & 0xFFFF_FFFF_FFFF, account & 0xFFFF


@dataclass(frozen=True, slots=True)
class Participant:
    bic: str
    name: str
    country: str  # ISO 3166 alpha-2
    kind: ParticipantKind
    number: int
    home_currency: str
    via: str | None = None  # the direct participant an indirect one settles through
    status: ParticipantStatus = ParticipantStatus.ACTIVE


class DirectoryError(ValueError):
    """An inconsistent participant directory (a configuration error, reported at load)."""


class Directory:
    """The participants of the hub, by BIC, with the rules that tie them together."""

    def __init__(self, participants: Iterable[Participant], ledgers: dict[str, int]) -> None:
        self.by_bic: dict[str, Participant] = {}
        self.by_number: dict[int, Participant] = {}
        self.ledgers = dict(ledgers)  # currency code -> ledger number
        for participant in participants:
            self._check(participant)
            self.by_bic[participant.bic] = participant
            self.by_number[participant.number] = participant
        for participant in self.by_bic.values():
            if participant.kind is ParticipantKind.INDIRECT:
                through = self.by_bic.get(participant.via or "")
                if through is None or through.kind is not ParticipantKind.DIRECT:
                    raise DirectoryError(
                        f"participant {participant.bic}: via={participant.via!r} is not a "
                        "direct participant"
                    )
        self.central_bank_of: dict[str, Participant] = {}
        for participant in self.by_bic.values():
            if participant.kind is ParticipantKind.CENTRAL_BANK:
                if participant.home_currency in self.central_bank_of:
                    raise DirectoryError(f"two central banks issue {participant.home_currency}")
                self.central_bank_of[participant.home_currency] = participant

    def _check(self, participant: Participant) -> None:
        if not BIC_PATTERN.match(participant.bic):
            raise DirectoryError(f"participant {participant.bic!r}: not a BIC (8 or 11 chars)")
        if participant.bic in self.by_bic:
            raise DirectoryError(f"participant {participant.bic}: listed twice")
        if not 0 < participant.number < 2**48:
            raise DirectoryError(f"participant {participant.bic}: number out of range")
        if participant.number in self.by_number:
            raise DirectoryError(f"participant number {participant.number} used twice")
        if participant.home_currency not in self.ledgers:
            raise DirectoryError(
                f"participant {participant.bic}: currency {participant.home_currency} has no ledger"
            )
        if (participant.kind is ParticipantKind.INDIRECT) != (participant.via is not None):
            raise DirectoryError(f"participant {participant.bic}: only indirect ones have via")

    def __iter__(self):
        return iter(self.by_bic.values())

    def __len__(self) -> int:
        return len(self.by_bic)

    def get(self, bic: str) -> Participant | None:
        return self.by_bic.get(bic)

    def settling_participant(self, bic: str) -> Participant | None:
        """The participant whose accounts settle for `bic`: itself, or its direct one."""
        participant = self.by_bic.get(bic)
        if participant is not None and participant.kind is ParticipantKind.INDIRECT:
            return self.by_bic[participant.via]  # type: ignore[index]
        return participant

    def direct(self) -> list[Participant]:
        return [p for p in self.by_bic.values() if p.kind is ParticipantKind.DIRECT]

    def settlement_account(self, participant: Participant, currency: str) -> int:
        return account_id(self.ledgers[currency], participant.number, AccountCode.SETTLEMENT)

    def mirror_account(self, currency: str) -> int:
        return account_id(
            self.ledgers[currency], self.central_bank_of[currency].number, AccountCode.MIRROR
        )
