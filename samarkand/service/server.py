"""`samarkand serve`: the hub, its mailboxes and the HTTP service in one process.

A fresh store gets a development hub: the member countries' central banks and direct banks of
the simulated scenario, every settlement account funded, the cut-off 24 hours after start,
and a development keyring (mode 0600) with a key for every central bank, every direct bank
and the operator. The hub signs its webhook pushes with a key of its own, kept beside the
keyring but in a file of its own (`hub_key_path`, mode 0600, made once), since a development
keyring is handed to clients. An existing store is replayed from its command log and carries
on.
"""

from __future__ import annotations

import gc
import ipaddress
import os
import signal
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from samarkand.hub.durable import DurableHub
from samarkand.hub.message_log import MessageLog
from samarkand.hub.settlement import Liquidity
from samarkand.service.auth import (
    KeyringError,
    Role,
    Verifier,
    admitted_key,
    load_keys,
    own_key,
    write_dev_keyring,
)
from samarkand.service.connections import (
    CONNECTIONS_MAX,
    HEAD_READ_S,
    bounded_protocol,
    connections_cap,
    raise_descriptor_limit,
)
from samarkand.service.engine import GC_FREEZE_EVENTS, MESSAGE_BATCH, Engine
from samarkand.service.key_routes import apply_logged_keys
from samarkand.service.mailbox import MAILBOX_SUFFIX, Mailbox
from samarkand.service.messages import ANSWER_KINDS
from samarkand.service.render import Renderer
from samarkand.service.webhook import HUB_KEY_ID, Pusher
from samarkand.settlement.participants import ParticipantKind
from samarkand.store.lock import WriterLock
from samarkand.store.postgres import DEFAULT_SCHEMA

OPERATOR_ID = "OPERATOR"
DEV_DIRECT_BANKS = 20
DEV_FUNDING_MAJOR = 10**9  # each direct bank's opening balance in every currency, major units
NS_PER_HOUR = 3_600 * 10**9
GC_YOUNG = 50_000  # allocations between two collections of the youngest generation


class ServeError(ValueError):
    """A `serve` setting that cannot work (printed as one line)."""


def require_loopback(host: str) -> None:
    """Refuse any address but loopback: the hub is not exposed to a network."""
    try:
        addresses = {str(info[4][0]) for info in socket.getaddrinfo(host, None)}
    except socket.gaierror:
        raise ServeError(f"--host: cannot resolve {host!r}") from None
    for address in addresses:
        if not ipaddress.ip_address(address.split("%")[0]).is_loopback:
            raise ServeError(
                f"--host: {host} is not a loopback address; the hub listens on loopback only "
                "(127.0.0.1 or ::1)"
            )


def bootstrap_dev_hub(durable: DurableHub, now: int) -> None:
    """Configure an empty hub with the scenario's members and fund every direct bank.

    The hub keeps a register of FX providers (only registered participants post tiers); for
    development every direct bank starts on it, for every pair of its currencies, so that
    any of them can make a market until the operator deregisters it."""
    from samarkand.money import default_registry
    from samarkand.sim.day import DayConfig, build_directory

    directory = build_directory(DayConfig(direct_banks=DEV_DIRECT_BANKS, indirect_per_direct=0))
    currencies = sorted(directory.central_bank_of)
    durable.configure(
        directory,
        cut_off_ns=dict.fromkeys(currencies, now + 24 * NS_PER_HOUR),
        fx_providers=dict.fromkeys((p.bic for p in directory.direct()), None),
    )
    durable.open_accounts(now)
    registry = default_registry()
    funding = [
        Liquidity(p.bic, c, DEV_FUNDING_MAJOR * 10 ** registry.get(c).exponent)
        for p in directory.direct()
        for c in currencies
    ]
    refused = [r for r in durable.liquidity(funding, now + 1) if r is not None]
    if refused:
        raise ServeError(f"opening liquidity refused: {refused[:3]}")


def dev_identities(durable: DurableHub) -> list[tuple[str, Role]]:
    identities = [(OPERATOR_ID, Role.OPERATOR)]
    for participant in durable.hub.directory:
        if participant.kind is ParticipantKind.CENTRAL_BANK:
            identities.append((participant.bic, Role.CENTRAL_BANK))
        elif participant.kind is ParticipantKind.DIRECT:
            identities.append((participant.bic, Role.PARTICIPANT))
    return identities


@dataclass
class Service:
    engine: Engine
    verifier: Verifier
    keyring: Path
    app: object
    pusher: Pusher
    hub_key: Path  # the file of the hub's own key (its path only: never the key)
    lock: WriterLock  # this process is the hub's one writer until `close`

    def close(self) -> None:
        self.pusher.stop()
        self.engine.stop()
        self.lock.release()


def is_postgres(db: str) -> bool:
    return db.startswith(("postgresql://", "postgres://"))


def hub_key_path(keyring: Path) -> Path:
    """Where the hub keeps its own key: beside the keyring (`<db>.keys.json` ->
    `<db>.hub-key.json`)."""
    stem = keyring.name.removesuffix(".json").removesuffix(".keys")
    return keyring.with_name(f"{stem}.hub-key.json")


def open_service(
    db: str,
    keyring: Path | None = None,
    *,
    schema: str = DEFAULT_SCHEMA,
    clock=time.time_ns,
    freeze_heap: bool = False,
    message_batch: int = MESSAGE_BATCH,
    render_process: bool = False,
) -> Service:
    """Open (or create) the hub at `db` (an SQLite path, or a PostgreSQL DSN with everything
    in `schema`), start its engine thread and build the app. The keyring (by default
    `<db>.keys.json`, for PostgreSQL `out/<schema>.keys.json`) is made with development keys
    if it does not exist. `freeze_heap`: the hub's objects are frozen out of the garbage
    collector's passes (`Engine.freeze_heap`), as `serve` does. `message_batch`: the
    transactions of an ISO 20022 message decided per round of the hub's thread.
    `render_process`: the camt.054s of the messages' settlements are made in a process of
    their own (`samarkand.service.render`), as `serve` does; else on the mailbox writer's
    thread."""
    from samarkand.service.app import create_app

    postgres = is_postgres(db)

    def open_hub() -> DurableHub:
        durable = DurableHub.open(db, schema=schema if postgres else None)
        if not durable.configured:
            bootstrap_dev_hub(durable, clock())
        return durable

    def open_mailbox() -> Mailbox:
        return Mailbox(db, schema=schema) if postgres else Mailbox(db + MAILBOX_SUFFIX)

    def open_messages() -> MessageLog:
        # Beside the store: the <db>.messages file, or tables of the PostgreSQL schema.
        # Only the answers are kept for a resend: every other response went to a mailbox.
        return MessageLog.beside(db, schema=schema, keep=ANSWER_KINDS)

    lock = WriterLock(db, schema=schema)  # refused at once if another process serves it
    engine = Engine(
        open_hub,
        open_mailbox,
        clock=clock,
        open_messages=open_messages,
        freeze_heap=GC_FREEZE_EVENTS if freeze_heap else None,
        renderer=Renderer(process=render_process),
    )
    engine.guard = lock.check  # taken again after a database restart ended its connection
    engine.message_batch = message_batch
    try:
        engine.start()
    except BaseException:
        lock.release()
        raise
    default = Path("out") / f"{schema}.keys.json" if postgres else Path(db + ".keys.json")
    path = Path(keyring) if keyring is not None else default
    try:
        try:
            if not path.exists():
                assert engine.durable is not None
                write_dev_keyring(path, dev_identities(engine.durable))
            # The hub's own key signs pushes only: a keyring entry of that role is no caller.
            verifier = Verifier([k for k in load_keys(path) if k.role is not Role.HUB])
        except (OSError, KeyringError) as error:
            reason = f"{error.strerror} ({error.filename})" if isinstance(error, OSError) else error
            raise ServeError(f"--keyring: {reason}") from None
        # Participants admitted through the API sign with the key their admission carried.
        for view in engine.call(lambda e, _now: e.durable.proposals("admission")).result():
            key = admitted_key(view)
            if key is not None:
                verifier.add(key)
        # Then the keys set or revoked since, as the hub's log holds them.
        apply_logged_keys(verifier, engine.call(lambda e, _now: e.durable.keys()).result())
        hub_key = hub_key_path(path)
        try:
            signing_key = own_key(hub_key, HUB_KEY_ID, Role.HUB)
        except (OSError, KeyringError) as error:
            reason = error.strerror if isinstance(error, OSError) else error
            raise ServeError(f"the hub's own key {hub_key}: {reason}") from None
    except BaseException:
        engine.stop()
        lock.release()
        raise
    pusher = Pusher(engine, signing_key)
    pusher.urls.update(engine.call(lambda e, _now: e.mailbox.webhooks()).result())
    engine.on_published = pusher.wake
    pusher.start()
    pusher.wake(set(pusher.urls))  # what waited while the hub was down
    app = create_app(engine, verifier, pusher)
    return Service(engine, verifier, path, app, pusher, hub_key, lock)


def serve(
    db: str,
    host: str,
    port: int,
    keyring: Path | None,
    announce,
    schema: str = DEFAULT_SCHEMA,
    message_batch: int = MESSAGE_BATCH,
    *,
    head_read_s: float = HEAD_READ_S,
    connections_max: int = CONNECTIONS_MAX,
) -> None:
    """Run the service until interrupted. A request's head must arrive within `head_read_s`
    and at most `connections_max` connections are served at once, fewer if the process's
    limit of open files (raised to its hard limit first) could not hold them
    (`samarkand.service.connections`)."""
    import uvicorn

    require_loopback(host)
    protocol = bounded_protocol(
        head_read_s, connections_cap(raise_descriptor_limit(), connections_max)
    )
    # The hub keeps every payment in memory: millions of objects that live until the process
    # ends. They are frozen out of the collector's passes, those of the replay at once and
    # then as they are made (`Engine.freeze_heap`); a young generation of GC_YOUNG objects
    # (not 700) spares a bulk message dozens of scans.
    service = open_service(
        db, keyring, schema=schema, freeze_heap=True, message_batch=message_batch,
        render_process=True,
    )  # fmt: skip
    gc.set_threshold(GC_YOUNG, *gc.get_threshold()[1:])
    where = f"PostgreSQL schema {schema}" if is_postgres(db) else db
    announce(
        f"hub {where} on http://{host}:{port} (OpenAPI at /openapi.json); keyring "
        f"{service.keyring} (mode {oct(os.stat(service.keyring).st_mode & 0o777)}); pushes "
        f"signed with the hub's key in {service.hub_key}"
    )
    # uvicorn shuts down gracefully on SIGTERM (no new requests, those under way answered),
    # then raises the signal again with the handler it found: this one makes that a clean
    # exit through `service.close()` (the hub's and the writer's last rounds written, the
    # stores closed), where the default action would end the process on the spot.
    previous = signal.signal(signal.SIGTERM, _exit_cleanly)
    try:
        uvicorn.run(
            service.app,
            host=host,
            port=port,
            log_level="warning",
            access_log=False,
            loop="auto",
            # httptools, with a bound on a request head's time and on the connections open.
            http=protocol,
            # Loopback only: no proxy in front whose headers would need reading per request.
            proxy_headers=False,
            server_header=False,
        )
    finally:
        service.close()
        signal.signal(signal.SIGTERM, previous)


def _exit_cleanly(_signal: int, _frame: object) -> None:
    raise SystemExit(0)
