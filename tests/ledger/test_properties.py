"""Properties of the ledger over random sequences of batches.

Each example opens accounts in three ledgers (some with a limit flag and a limit, some
closed, some with ids beyond 2**64), then applies a few batches of transfers: plain and
pending ones, posts and voids of earlier pendings, linked chains, resent ids (identical and
altered), invalid events, amounts beyond 2**63, and a clock that jumps past timeouts and
sometimes goes back. After every batch:

- `invariants.problems(state)` is empty;
- a small dict-based model, fed only the events whose result is OK (and computing expiries
  and timestamps on its own), holds the same balances, pending statuses, journal rows and
  expiries, and sees no OK event break a limit or an overflow bound;
- a second state fed the same batches gives the same results and journal, byte for byte;
  the plain path (`fast=False`) and batches given as columns give the same outcome.

At the end, `replay.rebuild` from the accounts, journal and expiries reproduces the balances
and pending statuses, and carries on exactly as the live state does.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from samarkand.ledger import (
    Account,
    AccountFlags,
    Balance,
    CreateAccountResult,
    CreateTransferResult,
    Expiries,
    LedgerState,
    PendingStatus,
    Transfer,
    TransferColumns,
    TransferFlags,
)
from samarkand.ledger.columns import FIELD_NAMES
from samarkand.ledger.invariants import problems
from samarkand.ledger.replay import rebuild
from samarkand.ledger.types import NS_PER_SECOND, TRANSFER_FLAGS_KNOWN, U128_MAX

R = CreateTransferResult
A = CreateAccountResult
SECOND = NS_PER_SECOND
LINKED = int(TransferFlags.LINKED)
PENDING = int(TransferFlags.PENDING)
POST = int(TransferFlags.POST_PENDING)
VOID = int(TransferFlags.VOID_PENDING)
DEBITS_LIMITED = int(AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS)
CREDITS_LIMITED = int(AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS)
CLOSED = int(AccountFlags.CLOSED)

LEDGERS = (1, 2, 3)
WIDE_LEDGER = 3  # amounts beyond 2**63 are common here, rare elsewhere
EXISTS_FAMILY = {code for code in R if code.name.startswith("EXISTS")}
CHAIN_CODES = {R.LINKED_EVENT_FAILED, R.LINKED_EVENT_CHAIN_OPEN}
CLOCK_STEPS = (0, 1, SECOND // 2, SECOND, 2 * SECOND, 3 * SECOND, 7 * SECOND, -4 * SECOND)

SETTINGS = settings(
    max_examples=200,
    deadline=None,
    database=None,
    derandomize=False,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# ---------------------------------------------------------------------- the reference model


@dataclass
class Model:
    """What the ledger must hold, computed from the OK results alone.

    It knows the balance effect of each kind of transfer, the timestamp rule
    (`max(now, last + 1)`, one per event) and the expiry rule (every pending whose timeout
    has passed at `now`, in order of expiry time then id); nothing else of the engine.
    """

    accounts: dict[int, Account] = field(default_factory=dict)
    balances: dict[int, list[int]] = field(default_factory=dict)  # dp, dpo, cp, cpo
    pendings: dict[int, Transfer] = field(default_factory=dict)
    status: dict[int, PendingStatus] = field(default_factory=dict)
    expires_at: dict[int, int] = field(default_factory=dict)
    journal: dict[int, Transfer] = field(default_factory=dict)
    timestamp: int = 0

    def stamps(self, now: int, count: int) -> int:
        first = max(now, self.timestamp + 1)
        if count:
            self.timestamp = first + count - 1
        return first

    def create_accounts(self, batch: list[Account], results: list[A], now: int) -> list[Account]:
        first = self.stamps(now, len(batch))
        created = []
        for index, (account, result) in enumerate(zip(batch, results, strict=True)):
            if result == A.OK:
                assert account.id not in self.accounts
                stored = dataclasses.replace(
                    account, flags=account.flags & ~LINKED, timestamp=first + index
                )
                self.accounts[account.id] = stored
                self.balances[account.id] = [0, 0, 0, 0]
                created.append(stored)
        return created

    def expire(self, now: int) -> Expiries:
        due = sorted(
            (at, pending_id)
            for pending_id, at in self.expires_at.items()
            if at <= now and self.status[pending_id] == PendingStatus.PENDING
        )
        first = self.stamps(now, len(due))
        for _, pending_id in due:
            self.release(self.pendings[pending_id], posted=0)
            self.status[pending_id] = PendingStatus.EXPIRED
        ids = tuple(pending_id for _, pending_id in due)
        return Expiries(ids, tuple(range(first, first + len(ids))))

    def release(self, pending: Transfer, posted: int) -> None:
        debit = self.balances[pending.debit_account_id]
        credit = self.balances[pending.credit_account_id]
        debit[0] -= pending.amount
        credit[2] -= pending.amount
        debit[1] += posted
        credit[3] += posted

    def transfers(self, batch: list[Transfer], results: list[R], now: int) -> list[Transfer]:
        """Apply the OK events of a batch whose expiries were already applied."""
        first = self.stamps(now, len(batch))
        journaled_before = set(self.journal)
        rows = []
        for index, (t, result) in enumerate(zip(batch, results, strict=True)):
            if well_formed(t) and t.id in journaled_before and result not in CHAIN_CODES:
                assert result in EXISTS_FAMILY, (t, result)
            if result == R.EXISTS:
                earlier = {e.id for e in batch[:index]}
                assert t.id in self.journal or t.id in earlier, (t, result)
                if t.id in self.journal and not t.flags & (POST | VOID):
                    e = self.journal[t.id]
                    assert dataclasses.replace(t, flags=t.flags & ~LINKED, timestamp=0) == (
                        dataclasses.replace(e, timestamp=0)
                    )
            if result != R.OK:
                continue
            assert t.id not in self.journal, f"id {t.id} applied twice"
            row = self.apply_ok(t, first + index)
            self.journal[t.id] = row
            rows.append(row)
        return rows

    def apply_ok(self, t: Transfer, timestamp: int) -> Transfer:
        flags = t.flags & ~LINKED
        if flags & (POST | VOID):
            p = self.pendings[t.pending_id]
            assert self.status[p.id] == PendingStatus.PENDING, f"{t} resolved a {self.status[p.id]}"
            amount = (t.amount or p.amount) if flags & POST else p.amount
            assert 0 < amount <= p.amount
            self.release(p, posted=amount if flags & POST else 0)
            self.status[p.id] = PendingStatus.POSTED if flags & POST else PendingStatus.VOIDED
            row = Transfer(
                t.id, p.debit_account_id, p.credit_account_id, amount, p.ledger, p.code, flags,
                p.id, 0, t.user_data or p.user_data, timestamp,
            )  # fmt: skip
            self.check_allowance(row.debit_account_id, row.credit_account_id)
            return row
        debit_account = self.accounts[t.debit_account_id]
        credit_account = self.accounts[t.credit_account_id]
        assert debit_account.ledger == credit_account.ledger == t.ledger
        assert not (debit_account.flags | credit_account.flags) & CLOSED
        assert 0 < t.amount <= U128_MAX and t.pending_id == 0
        debit = self.balances[t.debit_account_id]
        credit = self.balances[t.credit_account_id]
        row = dataclasses.replace(t, flags=flags, timestamp=timestamp)
        if flags & PENDING:
            debit[0] += t.amount
            credit[2] += t.amount
            self.pendings[t.id] = row
            self.status[t.id] = PendingStatus.PENDING
            if t.timeout:
                self.expires_at[t.id] = timestamp + t.timeout * SECOND
        else:
            assert t.timeout == 0
            debit[1] += t.amount
            credit[3] += t.amount
        self.check_allowance(t.debit_account_id, t.credit_account_id)
        return row

    def check_allowance(self, *account_ids: int) -> None:
        """No OK event may leave an account past its flag and limit, or past 2**128 - 1."""
        for account_id in account_ids:
            account = self.accounts[account_id]
            dp, dpo, cp, cpo = self.balances[account_id]
            assert dp + dpo <= U128_MAX and cp + cpo <= U128_MAX, (account, dp, dpo, cp, cpo)
            if account.flags & DEBITS_LIMITED:
                assert dp + dpo <= cpo + account.limit, (account, dp, dpo, cpo)
            if account.flags & CREDITS_LIMITED:
                assert cp + cpo <= dpo + account.limit, (account, cp, cpo, dpo)


def well_formed(t: Transfer) -> bool:
    """The checks that come before the idempotency lookup pass."""
    fields_in_range = all(
        0 <= getattr(t, name) <= U128_MAX
        for name in ("id", "debit_account_id", "credit_account_id", "amount", "pending_id")
    )
    return (
        fields_in_range
        and 0 <= t.ledger < 2**32
        and 0 <= t.code < 2**16
        and 0 <= t.timeout < 2**32
        and 0 <= t.user_data <= U128_MAX
        and t.timestamp == 0
        and not t.flags & ~TRANSFER_FLAGS_KNOWN
        and 0 < t.id < U128_MAX
    )


# ---------------------------------------------------------------------- drawing scenarios


@dataclass
class Draw:
    """Draws accounts and batches that refer to what was drawn (and created) before."""

    data: st.DataObject
    model: Model
    next_id: int = 1000
    sent: list[Transfer] = field(default_factory=list)
    pendings_sent: list[Transfer] = field(default_factory=list)

    def pick(self, strategy: st.SearchStrategy):  # type: ignore[no-untyped-def]
        return self.data.draw(strategy)

    def chance(self, percent: int) -> bool:
        return self.pick(st.integers(0, 99)) < percent

    def fresh_id(self, narrow: bool = False) -> int:
        self.next_id += 1
        return self.next_id + (2**64 if not narrow and self.chance(8) else 0)

    # ------------------------------------------------------------------ accounts

    def accounts(self, count_min: int, count_max: int) -> list[Account]:
        """Some accounts: mostly new ones, some resent, some refused."""
        made = []
        for _ in range(self.pick(st.integers(count_min, count_max))):
            if self.chance(80):
                account_id = self.pick(st.integers(1, 30))
            else:
                account_id = self.pick(st.sampled_from([2**64 + 1, 2**100 + 7, 0]))
            ledger = self.pick(st.sampled_from(LEDGERS))
            flags = self.pick(st.sampled_from([0, 0, 0, DEBITS_LIMITED, CREDITS_LIMITED]))
            if self.chance(4):
                flags |= CLOSED
            if self.chance(3):
                flags |= DEBITS_LIMITED | CREDITS_LIMITED  # refused: mutually exclusive
            limits = [0, 0, 40, 1_000, 10**6]
            if ledger == WIDE_LEDGER:
                limits += [2**63 + 9, 2**90]  # widens the ledger as the account opens
            limit = self.pick(st.sampled_from(limits))
            code = 0 if self.chance(3) else 1
            if self.chance(8):
                flags |= LINKED
            made.append(Account(account_id, ledger, code, flags, limit=limit))
        return made

    # ------------------------------------------------------------------ transfers

    def batch(self) -> list[Transfer]:
        bulk = self.chance(25)  # long runs of narrow transfers: what the fast path takes
        if bulk:
            count, odd_percent = self.pick(st.integers(16, 40)), 5
        else:
            count, odd_percent = self.pick(st.integers(0, 10)), 50
        events = []
        for _ in range(count):
            event = self.event() if self.chance(odd_percent) else self.simple(narrow=bulk)
            if event.flags & PENDING and not event.flags & (POST | VOID):
                self.pendings_sent.append(event)
            self.sent.append(event)
            events.append(event)
        return events

    def simple(self, narrow: bool = False) -> Transfer:
        """A plain or pending transfer between two accounts of one ledger.

        `narrow`: every value fits 64 bits and the ledger is one where wide amounts are rare.
        """
        by_ledger: dict[int, list[int]] = {}
        for account in self.model.accounts.values():
            if not narrow or (account.id < 2**64 and account.ledger != WIDE_LEDGER):
                by_ledger.setdefault(account.ledger, []).append(account.id)
        usable = sorted(ledger for ledger, ids in by_ledger.items() if len(ids) >= 2)
        if not usable:
            return Transfer(self.fresh_id(), 1, 2, 1, 1, 1)
        ledger = self.pick(st.sampled_from(usable))
        debit, credit = self.pick(st.permutations(sorted(by_ledger[ledger])))[:2]
        flags, timeout = 0, 0
        if self.chance(35):
            flags = PENDING
            timeout = self.pick(st.sampled_from([0, 0, 1, 2, 5]))
        code = self.pick(st.sampled_from([1, 1, 2]))
        user_data = self.pick(st.sampled_from([0, 0, 7] if narrow else [0, 7, 2**100]))
        amount = self.pick(st.integers(1, 300)) if narrow else self.amount(ledger)
        transfer_id = self.fresh_id(narrow)
        return Transfer(transfer_id, debit, credit, amount, ledger, code, flags, 0, timeout,
                        user_data)  # fmt: skip

    def amount(self, ledger: int) -> int:
        if self.chance(40 if ledger == WIDE_LEDGER else 1):
            return self.pick(
                st.one_of(
                    st.sampled_from([2**63 - 1, 2**63, 2**64 - 1, 2**64, U128_MAX]),
                    st.integers(2**63, 2**127),
                )
            )
        return self.pick(st.integers(1, 300))

    def event(self) -> Transfer:
        kind = self.pick(st.sampled_from(["post", "post", "void", "resend", "resend", "odd"]))
        if kind in ("post", "void") and self.pendings_sent:
            return self.resolve(kind)
        if kind == "resend" and self.sent:
            return self.resend()
        if kind == "odd":
            return self.odd()
        return self.linked(self.simple())

    def linked(self, t: Transfer) -> Transfer:
        return dataclasses.replace(t, flags=t.flags | LINKED) if self.chance(30) else t

    def resolve(self, kind: str) -> Transfer:
        p = self.pick(st.sampled_from(self.pendings_sent))
        flags = POST if kind == "post" else VOID
        amounts = [0, 0, p.amount, p.amount + 1, max(p.amount - 1, 0)]
        amount = self.pick(st.sampled_from(amounts))
        if kind == "post" and self.chance(30):
            amount = self.pick(st.integers(0, max(p.amount, 0)))
        debit = self.pick(st.sampled_from([0, 0, 0, p.debit_account_id, 5]))
        credit = self.pick(st.sampled_from([0, 0, 0, p.credit_account_id]))
        ledger = self.pick(st.sampled_from([0, 0, 0, p.ledger, 2]))
        code = self.pick(st.sampled_from([0, 0, 0, p.code]))
        pending_id = p.id if self.chance(95) else self.next_id + 500
        t = Transfer(self.fresh_id(), debit, credit, amount, ledger, code, flags, pending_id)
        return self.linked(t)

    def resend(self) -> Transfer:
        t = self.pick(st.sampled_from(self.sent))
        if self.chance(40):
            return self.linked(t)
        name = self.pick(
            st.sampled_from(
                ["flags", "pending_id", "timeout", "debit_account_id", "credit_account_id",
                 "amount", "user_data", "ledger", "code"]
            )
        )  # fmt: skip
        value = getattr(t, name)
        if name == "flags":
            value ^= self.pick(st.sampled_from([PENDING, POST, VOID, PENDING | VOID]))
        elif name in ("debit_account_id", "credit_account_id"):
            value = self.pick(st.sampled_from(sorted(self.model.accounts) or [1]))
        elif name == "ledger":
            value = self.pick(st.sampled_from(LEDGERS))
        else:
            value += 1
        return self.linked(dataclasses.replace(t, **{name: value}))

    def odd(self) -> Transfer:
        t = self.simple()
        name, value = self.pick(
            st.sampled_from(
                [("id", 0), ("id", U128_MAX), ("amount", 0), ("amount", U128_MAX + 1),
                 ("amount", -5), ("ledger", 0), ("ledger", 9), ("code", 0), ("timestamp", 1),
                 ("flags", 1 << 5), ("flags", PENDING | POST), ("pending_id", 3),
                 ("timeout", 3), ("credit_account_id", 0), ("debit_account_id", 77),
                 ("credit_account_id", t.debit_account_id)]
            )
        )  # fmt: skip
        return self.linked(dataclasses.replace(t, **{name: value}))

    def clock_step(self) -> int:
        return self.pick(st.sampled_from(CLOCK_STEPS))


# ---------------------------------------------------------------------- comparisons


def balance_of(values: list[int]) -> Balance:
    return Balance(*values)


def assert_same_journal(a: LedgerState, b: LedgerState, *, dtypes: bool) -> None:
    left, right = a.journal.columns(), b.journal.columns()
    for name in FIELD_NAMES:
        column_a, column_b = getattr(left, name), getattr(right, name)
        assert column_a.tolist() == column_b.tolist(), name
        if dtypes:
            assert column_a.dtype == column_b.dtype, name


def assert_state_matches_model(state: LedgerState, model: Model) -> None:
    assert [a.id for a in state.accounts] == list(model.accounts)
    for account in state.accounts:
        assert account == model.accounts[account.id]
        assert state.balance(account.id) == balance_of(model.balances[account.id]), account
    assert state.pending_status == {i: int(s) for i, s in model.status.items()}
    assert len(state.journal) == len(model.journal)
    for transfer_id, row in model.journal.items():
        assert state.transfer(transfer_id) == row


def codes(results: np.ndarray) -> list[R]:
    return [R(int(code)) for code in results]


# ---------------------------------------------------------------------- the property


@SETTINGS
@given(st.data())
def test_random_batches_keep_every_invariant(data: st.DataObject) -> None:
    model = Model()
    draw = Draw(data, model)
    live, twin, plain, by_columns = (LedgerState(capacity=4) for _ in range(4))
    others = (twin, plain, by_columns)
    now = 10**6 * SECOND
    expiries: list[Expiries] = []

    for step in range(data.draw(st.integers(1, 7), label="batches") + 1):
        now = max(0, now + draw.clock_step())
        if step == 0 or draw.chance(10):
            batch_accounts = draw.accounts(6, 16) if step == 0 else draw.accounts(1, 4)
            results, record = live.create_accounts(batch_accounts, now)
            for other in others:
                assert other.create_accounts(batch_accounts, now)[0] == results
            assert list(record.accounts) == model.create_accounts(batch_accounts, results, now)
        else:
            batch = draw.batch()
            results, record = live.apply(batch, now)
            expected_expiries = model.expire(now)
            rows = model.transfers(batch, codes(results), now)
            assert record.expiries == expected_expiries
            assert record.transfers.to_transfers() == rows
            expiries.append(record.expiries)
            for path, (other_results, other_record) in (
                ("same batches again", twin.apply(batch, now)),
                ("plain path", plain.apply(batch, now, fast=False)),
                ("columns", by_columns.apply(TransferColumns.from_transfers(batch), now)),
            ):
                assert codes(other_results) == codes(results), path
                assert other_record.expiries == record.expiries, path
        assert problems(live) == []
        assert_state_matches_model(live, model)
        assert live.timestamp == model.timestamp
        assert_same_journal(live, twin, dtypes=True)
        for other in (plain, by_columns):
            assert_same_journal(live, other, dtypes=False)
            assert {a.id: other.balance(a.id) for a in other.accounts} == {
                a.id: live.balance(a.id) for a in live.accounts
            }
            assert other.pending_status == live.pending_status

    all_expiries = Expiries(
        tuple(i for e in expiries for i in e.pending_id),
        tuple(t for e in expiries for t in e.timestamp),
    )
    replayed = rebuild(
        live.accounts, live.journal.columns(), all_expiries, timestamp=live.timestamp
    )
    assert {a.id: replayed.balance(a.id) for a in replayed.accounts} == {
        a.id: live.balance(a.id) for a in live.accounts
    }
    assert replayed.pending_status == live.pending_status
    # The rebuilt state carries on as the live one: same expiries, same results, same rows.
    later = now + 10 * SECOND
    last_batch = draw.batch()
    live_results, live_record = live.apply(last_batch, later)
    replayed_results, replayed_record = replayed.apply(last_batch, later)
    assert codes(replayed_results) == codes(live_results)
    assert replayed_record.expiries == live_record.expiries
    assert replayed_record.transfers.to_transfers() == live_record.transfers.to_transfers()
    assert problems(replayed) == []
