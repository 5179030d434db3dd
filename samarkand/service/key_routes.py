"""The callers' keys over their life: set anew, revoked, set again.

- `PUT /v1/key`: a caller replaces its own key, with a request signed by the key it has, the
  new public key and a proof that its holder has it (the new key's signature of
  `samarkand key\\n<key id>\\n<public key>`). Requests signed with the old key are refused
  from then on.
- `DELETE /v1/operator/keys/{bic}`: the operator revokes a participant's key (a key
  thought lost or stolen): its requests are refused (401, "revoked") until a new key is set.
  The operator cannot set one: that would let it sign as the bank.
- `PUT /v1/operator/keys/{bic}`: the central bank of a bank's country sets the bank's new
  key (with the bank's proof, as above), revoked or not, as it approved the bank's
  admission.
- The same two routes on a central bank's key or the operator's (a key its holder may have
  lost, or that someone else holds: who holds it could otherwise replace it and lock its
  owner out) propose the change: asked by the operator or by a member's central bank other
  than the holder, it is applied once the central bank of every member other than the
  holder approves (`GET /v1/operator/key-changes`, `POST …/{id}/approve`; a proposing
  central bank approves by proposing). The answer is 202 with the proposal until then.

Each change is a command of the hub's log before it takes effect, so a restart keeps it:
the service takes the keyring, then the admissions' keys, then these changes, in order.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import FastAPI, Path, Request
from fastapi.responses import JSONResponse
from pydantic import Field

from samarkand.service import errors as E
from samarkand.service.auth import (
    SIGNATURE_HEADER,
    KeyEntry,
    Principal,
    Role,
    Verifier,
    parse_public_key,
    proves_possession,
    public_key_of,
)
from samarkand.service.engine import Engine
from samarkand.service.shared import (
    BIC_REGEX,
    _In,
    keyed,
    principal_of,
    proposal_routes,
    require_role,
    run_on_hub,
)
from samarkand.settlement.participants import ParticipantKind


class KeyIn(_In):
    public_key: str = Field(max_length=100, description="base64 raw Ed25519 public key")
    proof: str = Field(
        max_length=100,
        description="base64 signature by the new key of 'samarkand key\\n<key id>\\n"
        "<public_key>': its holder has it",
    )


def apply_logged_keys(verifier: Verifier, keys: dict[str, tuple[str, str | None]]) -> None:
    """Take the keys the hub's log set or revoked (`DurableHub.keys`) over the keyring's."""
    for key_id, (role, text) in keys.items():
        if text is None:
            verifier.revoke(key_id)
        else:
            verifier.add(KeyEntry(key_id, Role(role), public_key_of(text)))


def add_key_routes(app: FastAPI, engine: Engine, verifier: Verifier) -> None:
    def checked(key_id: str, key: KeyIn) -> None:
        try:
            parse_public_key(key.public_key)
        except ValueError as error:
            raise E.ApiError(422, "invalid", "public_key", str(error)) from None
        if not proves_possession(key_id, key.public_key, key.proof):
            raise E.ApiError(
                422, "invalid", "proof",
                f"not the new key's signature of 'samarkand key\\n{key_id}\\n<public_key>'",
            )  # fmt: skip
        current = verifier.keys.get(key_id)
        if current is not None and public_key_of(key.public_key) == current.public_key:
            raise E.ApiError(409, "conflict", "public_key", f"{key_id} already has this key")

    def signer_holds(caller: Principal) -> None:
        """On the hub's thread, where keys change one at a time: the key that signed this
        request is still the caller's, or it is refused (of two changes signed with one key
        at once, the second was made too, with a key the first had replaced)."""
        if not verifier.still_holds(caller):
            raise E.ApiError(
                401, "unauthenticated", SIGNATURE_HEADER,
                "the key that signed this request was replaced or revoked meanwhile",
            )  # fmt: skip

    async def logged(key_id: str, role: Role, text: str | None, caller: Principal) -> None:
        """Log a key set or revoked, and have the verifier take it, both on the hub's
        thread, if the key that signed the request still holds."""

        def run(engine: Engine, now: int) -> None:
            assert engine.durable is not None
            signer_holds(caller)
            engine.durable.set_key(key_id, role.value, text, now)
            apply_logged_keys(verifier, {key_id: (role.value, text)})

        await run_on_hub(engine, run)

    @app.put("/v1/key", tags=["keys"])
    async def replace_own_key(request: Request, key: KeyIn) -> dict[str, Any]:
        """Replace the caller's own key: this request is signed with the key it has; the
        next ones must be signed with the new key."""
        caller = keyed(principal_of(request), "replacing a key")
        checked(caller.key_id, key)
        await logged(caller.key_id, caller.role, key.public_key, caller)
        return {"key_id": caller.key_id, "status": "active"}

    def take(change: dict[str, Any]) -> None:
        """A key change's view, once applied: the verifier takes it."""
        if change["status"] == "applied":
            keys = {change["key_id"]: (change["role"], change["public_key"])}
            apply_logged_keys(verifier, keys)

    async def proposed(request: Request, key_id: str, role: Role, key: KeyIn | None) -> Any:
        """A central bank's or the operator's key revoked (None) or set anew, proposed by the
        caller (the operator or another member's central bank): 202 with the proposal, or
        200 once applied."""
        caller = keyed(require_role(request, Role.OPERATOR, Role.CENTRAL_BANK), "a key change")
        if caller.key_id == key_id:
            raise E.ApiError(403, "forbidden", "bic",
                             "a holder replaces its own key with PUT /v1/key")  # fmt: skip
        if key is not None:
            checked(key_id, key)
        text = None if key is None else key.public_key

        def run(engine: Engine, now: int):
            assert engine.durable is not None
            signer_holds(caller)
            change = engine.durable.propose_key(key_id, role.value, text, caller.key_id, now)
            if not isinstance(change, tuple):
                take(change)
            return change

        change = await run_on_hub(engine, run)
        if isinstance(change, tuple):
            status, message = change
            raise E.ApiError(status, E.http_code(status), "bic", message)
        pending = change["status"] == "pending"
        state = "pending" if pending else ("revoked" if text is None else "active")
        body = {"key_id": key_id, "status": state, "change": change}
        return JSONResponse(body, status_code=202 if pending else 200)

    async def holder_role(key_id: str) -> Role:
        """The role of `key_id`'s holder: a member's central bank, the operator (by the key
        it has or had), or a participant."""

        def run(engine: Engine, _now: int) -> str | None:
            assert engine.durable is not None
            central_banks = engine.durable.hub.directory.central_bank_of.values()
            if any(p.bic == key_id for p in central_banks):
                return Role.CENTRAL_BANK.value
            logged = engine.durable.keys().get(key_id)
            return None if logged is None else logged[0]

        entry = verifier.keys.get(key_id)
        found = await run_on_hub(engine, run)
        if found is not None:
            return Role(found)
        return Role.PARTICIPANT if entry is None else entry.role

    governed = {
        202: {"description": "a central bank's or the operator's key: the change is proposed, "
                             "to be applied once every other member's central bank approves"},
        409: {"description": "a change of this key is already proposed"},
    }  # fmt: skip

    @app.delete("/v1/operator/keys/{bic}", tags=["operator", "keys"], responses=governed)
    async def revoke_key(request: Request, bic: Annotated[str, Path(pattern=BIC_REGEX)]) -> Any:
        """Revoke a participant's key (the operator): its requests are refused until the
        central bank of its country sets a new one. A central bank's or the operator's key:
        proposed by the operator or another member's central bank, revoked once every
        member's central bank but the holder approves."""
        caller = keyed(require_role(request, Role.OPERATOR, Role.CENTRAL_BANK), "a key change")
        entry = verifier.keys.get(bic)
        if entry is None:
            state = "is already revoked" if bic in verifier.revoked else "is no key id"
            raise E.ApiError(404, "not_found", "bic", f"{bic} {state}")
        if entry.role is not Role.PARTICIPANT:
            return await proposed(request, bic, entry.role, None)
        if caller.role is not Role.OPERATOR:
            raise E.ApiError(403, "forbidden", "bic",
                             "the operator revokes participants' keys")  # fmt: skip
        await logged(bic, Role.PARTICIPANT, None, caller)
        return {"key_id": bic, "status": "revoked"}

    @app.put("/v1/operator/keys/{bic}", tags=["operator", "keys"], responses=governed)
    async def set_bank_key(
        request: Request, bic: Annotated[str, Path(pattern=BIC_REGEX)], key: KeyIn
    ) -> Any:
        """The central bank of a bank's country sets the bank's new key (after a revocation,
        or in place of one the bank can no longer sign with). A central bank's or the
        operator's new key: proposed by the operator or another member's central bank, set
        once every member's central bank but the holder approves."""
        caller = keyed(require_role(request, Role.CENTRAL_BANK, Role.OPERATOR), "a key change")
        role = await holder_role(bic)
        if role is not Role.PARTICIPANT:
            return await proposed(request, bic, role, key)
        if caller.role is not Role.CENTRAL_BANK:
            raise E.ApiError(403, "forbidden", "bic",
                             "a bank's key is set by the central bank of its country")  # fmt: skip

        def governing(engine: Engine, _now: int) -> str | None:
            assert engine.durable is not None
            directory = engine.durable.hub.directory
            bank = directory.get(bic)
            if bank is None or bank.kind is not ParticipantKind.DIRECT:
                return None
            central_bank = directory.central_bank_of.get(bank.home_currency)
            return None if central_bank is None else central_bank.bic

        central_bank = await run_on_hub(engine, governing)
        if central_bank is None:
            raise E.ApiError(404, "not_found", "bic", f"{bic} is no direct participant")
        if central_bank != caller.key_id:
            raise E.ApiError(403, "forbidden", "bic",
                             f"only {central_bank} sets the keys of {bic}")  # fmt: skip
        checked(bic, key)
        await logged(bic, Role.PARTICIPANT, key.public_key, caller)
        return {"key_id": bic, "status": "active"}

    proposal_routes(
        app, engine, "/v1/operator/key-changes", "key_changes", "key change",
        listed="Proposed and applied changes of central banks' and the operator's keys.",
        approving="A member's central bank approves a proposed change of another central "
        "bank's or the operator's key, with its own signed request.",
        then=take, keyed_approval=True,
    )  # fmt: skip
