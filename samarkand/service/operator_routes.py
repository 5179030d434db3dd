"""Operator routes: the directory, suspension, intraday credit (central banks), the queue,
cancellation, settlement windows, the business day and admissions."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import FastAPI, Path, Query, Request

from samarkand.money import format_amount
from samarkand.service import errors as E
from samarkand.service.auth import Role, Verifier, admitted_key, parse_public_key
from samarkand.service.engine import Engine
from samarkand.service.shared import (
    BIC_REGEX,
    CURRENCY_REGEX,
    REGISTRY,
    AdmissionIn,
    CreditIn,
    OpenDayIn,
    UetrPath,
    cancel_queued,
    hub_directory,
    iso_time,
    minor_units,
    require_role,
    run_on_hub,
)
from samarkand.settlement.participants import (
    ParticipantKind,
    ParticipantStatus,
)
from samarkand.settlement.payments import Reason


def add_operator_routes(app: FastAPI, engine: Engine, verifier: Verifier) -> None:
    """Add the operator and central-bank routes to `app`."""
    # ------------------------------------------------------------------ operator

    @app.get("/v1/operator/participants", tags=["operator"])
    async def participants(request: Request) -> dict[str, Any]:
        require_role(request, Role.OPERATOR, Role.CENTRAL_BANK)

        def run(engine: Engine, _now: int):
            return [
                {
                    "bic": p.bic,
                    "name": p.name,
                    "country": p.country,
                    "kind": p.kind.value,
                    "currency": p.home_currency,
                    "status": p.status.value,
                    "via": p.via,
                }
                for p in hub_directory(engine)
            ]

        return {"participants": await run_on_hub(engine, run)}

    async def _set_status(request: Request, bic: str, status: ParticipantStatus) -> dict:
        require_role(request, Role.OPERATOR)

        def run(engine: Engine, now: int):
            assert engine.durable is not None
            return engine.durable.set_participant_status(bic, status, now)

        problem = await run_on_hub(engine, run)
        if problem is not None:
            raise E.ApiError(404, "not_found", "bic", problem)
        return {"bic": bic, "status": status.value}

    @app.post("/v1/operator/participants/{bic}/suspend", tags=["operator"])
    async def suspend(request: Request, bic: Annotated[str, Path(pattern=BIC_REGEX)]) -> dict:
        """Suspend a participant: its new payments are refused (AG01)."""
        return await _set_status(request, bic, ParticipantStatus.SUSPENDED)

    @app.post("/v1/operator/participants/{bic}/unsuspend", tags=["operator"])
    async def unsuspend(request: Request, bic: Annotated[str, Path(pattern=BIC_REGEX)]) -> dict:
        return await _set_status(request, bic, ParticipantStatus.ACTIVE)

    @app.put("/v1/operator/credit", tags=["operator"])
    async def set_credit(request: Request, credit: CreditIn) -> dict[str, str]:
        """Intraday credit of a participant in a currency: only that currency's central
        bank sets it."""
        caller = require_role(request, Role.CENTRAL_BANK)
        limit = minor_units(credit.limit, credit.currency, "limit")

        def run(engine: Engine, now: int):
            assert engine.durable is not None
            return engine.durable.set_credit(
                credit.bic, credit.currency, limit, now, by_central_bank=caller.key_id
            )

        reason = await run_on_hub(engine, run)
        if reason is not None:
            raise E.reason_error(reason, "limit")
        return {"bic": credit.bic, "currency": credit.currency, "limit": credit.limit}

    @app.get("/v1/operator/queue", tags=["operator"])
    async def queued(
        request: Request, limit: Annotated[int, Query(ge=1, le=10_000)] = 1_000
    ) -> dict[str, Any]:
        """Queued payments, in settlement order per sender."""
        require_role(request, Role.OPERATOR)

        def run(engine: Engine, _now: int):
            assert engine.durable is not None
            hub = engine.durable.hub
            rows = []
            for entry in hub.engine.queued():
                if len(rows) >= limit:
                    break
                payment = entry.payment
                rows.append(
                    {
                        "uetr": str(uuid.UUID(int=payment.uetr)),
                        "debtor_agent": payment.debtor_agent,
                        "creditor_agent": payment.creditor_agent,
                        "amount": format_amount(payment.amount, REGISTRY.get(payment.currency)),
                        "currency": payment.currency,
                        "priority": payment.priority.name.lower(),
                        "received": iso_time(entry.received_ns),
                    }
                )
            return rows

        return {"queued": await run_on_hub(engine, run)}

    @app.post("/v1/operator/payments/{uetr}/cancel", tags=["operator"])
    async def operator_cancel(request: Request, uetr: UetrPath) -> dict[str, str]:
        """Cancel a queued payment on the operator's decision."""
        require_role(request, Role.OPERATOR)
        return await cancel_queued(engine, uetr, None)

    @app.post("/v1/operator/windows/{currency}/close", tags=["operator"])
    async def close_window(
        request: Request, currency: Annotated[str, Path(pattern=CURRENCY_REGEX)]
    ) -> dict[str, Any]:
        """Close the currency's deferred net settlement window now: net positions settle;
        a participant that cannot pay in its net debit is unwound (AM04)."""
        require_role(request, Role.OPERATOR)

        def run(engine: Engine, now: int):
            assert engine.durable is not None
            if currency not in engine.durable.hub.directory.central_bank_of:
                return None
            return engine.durable.close_window(currency, now)

        result = await run_on_hub(engine, run)
        if result is None:
            raise E.reason_error(Reason.CURRENCY_NOT_ALLOWED, "currency")
        settled, defaulted = result
        return {"settled": settled, "defaulted_accounts": [str(a) for a in defaulted]}

    @app.post("/v1/operator/end-of-day", tags=["operator"])
    async def end_of_day(request: Request) -> dict[str, int]:
        """Close the business day: what is still queued is rejected (AB03)."""
        require_role(request, Role.OPERATOR)

        def run(engine: Engine, now: int):
            assert engine.durable is not None
            return engine.durable.end_of_day(now)

        return {"rejected": await run_on_hub(engine, run)}

    @app.post("/v1/operator/open-day", tags=["operator"])
    async def open_day(request: Request, day: OpenDayIn) -> dict[str, str]:
        """Open the next business day with a new cut-off for every currency."""
        require_role(request, Role.OPERATOR)
        if day.cut_off.tzinfo is None:
            raise E.ApiError(422, "invalid", "cut_off", "the cut-off needs a time zone")
        cut_off_ns = int(day.cut_off.timestamp()) * 10**9

        def run(engine: Engine, now: int):
            assert engine.durable is not None
            hub = engine.durable.hub
            if cut_off_ns <= now:
                return "the cut-off is not in the future"
            if hub.engine.queues or hub.engine.warehouse or hub.engine.dns_pending:
                return "payments are still queued: run end-of-day first"
            engine.durable.open_day(dict.fromkeys(hub.engine.cut_off_ns, cut_off_ns))
            return None

        problem = await run_on_hub(engine, run)
        if problem is not None:
            raise E.ApiError(409, "conflict", "cut_off", problem)
        return {"cut_off": iso_time(cut_off_ns)}

    @app.post("/v1/operator/admissions", tags=["operator"])
    async def propose(request: Request, admission: AdmissionIn) -> dict[str, Any]:
        """Propose a participant. A new country (its central bank with a new currency) needs
        the approval of every member's central bank; a bank of a member country, the approval
        of that country's central bank."""
        require_role(request, Role.OPERATOR)
        if admission.public_key is not None:
            try:
                parse_public_key(admission.public_key)
            except ValueError as error:
                raise E.ApiError(422, "invalid", "public_key", str(error)) from None

        def run(engine: Engine, now: int):
            assert engine.durable is not None
            return engine.durable.propose_admission(
                bic=admission.bic,
                name=admission.name,
                country=admission.country,
                kind=ParticipantKind(admission.kind),
                currency=admission.currency,
                now=now,
                public_key=admission.public_key,
            )

        result = await run_on_hub(engine, run)
        if isinstance(result, str):
            raise E.ApiError(409, "conflict", "bic", result)
        return result

    @app.get("/v1/operator/admissions", tags=["operator"])
    async def admissions(request: Request) -> dict[str, Any]:
        require_role(request, Role.OPERATOR, Role.CENTRAL_BANK)

        def run(engine: Engine, _now: int):
            assert engine.durable is not None
            return engine.durable.admissions()

        return {"admissions": await run_on_hub(engine, run)}

    @app.post("/v1/operator/admissions/{proposal}/approve", tags=["operator"])
    async def approve(
        request: Request, proposal: Annotated[int, Path(ge=1, le=2**31)]
    ) -> dict[str, Any]:
        """A central bank approves a proposed admission with its own signed request."""
        caller = require_role(request, Role.CENTRAL_BANK)

        def run(engine: Engine, now: int):
            assert engine.durable is not None
            return engine.durable.approve_admission(proposal, caller.key_id, now)

        result = await run_on_hub(engine, run)
        if isinstance(result, tuple):
            status, message = result
            raise E.ApiError(status, E.http_code(status), "proposal", message)
        key = admitted_key(result)
        if key is not None:
            verifier.add(key)
        return result
