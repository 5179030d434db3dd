"""A process that stops after the hub acted on a message but before its responses were
recorded: the message sent again, in another process, is answered from the hub's state and
never settles twice."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from samarkand.hub.durable import DurableHub
from samarkand.hub.messages import process_message
from tests.iso20022.builders import Tx, pacs008
from tests.iso20022.conftest import HubStore

ROOT = Path(__file__).resolve().parents[2]
MESSAGE = pacs008([Tx(number=1), Tx(number=2, amount="2.00")], msg_id="CRASH-1")

CHILD = textwrap.dedent(
    """
    import os, sys
    sys.path.insert(0, {root!r})
    from samarkand.hub.durable import DurableHub
    from samarkand.hub.message_log import MessageLog
    from samarkand.hub.messages import process_message
    from tests.iso20022.iso_builders import small_hub

    template = small_hub()
    store, schema = {store!r}, {schema!r}
    with DurableHub.open(store, schema=schema) as durable:
        durable.configure(template.directory, cut_off_ns={{"CNY": 10**15, "RUB": 10**15}})
        durable.open_accounts(1)
        from samarkand.hub.settlement import Liquidity
        durable.liquidity([Liquidity("BKCHCNBJ", "CNY", 150_000)], 2)
        log = MessageLog.beside(store, **({{"schema": schema}} if schema else {{}}))
        MessageLog.finish = lambda *args: os._exit(9)  # stop before the responses are kept
        process_message(durable, open({message!r}, "rb").read(), 10, log=log)
    """
)


def settled_to_b(durable: DurableHub) -> int:
    directory = durable.hub.directory
    account = directory.settlement_account(directory.get("SABRRUMM"), "CNY")
    return durable.durable_ledger.state.balance(account).credits_posted


def test_a_message_cut_short_by_a_stop_is_answered_from_the_hub(
    tmp_path: Path, hub_store: HubStore
) -> None:
    message = tmp_path / "message.xml"
    message.write_bytes(MESSAGE)
    script = CHILD.format(
        root=str(ROOT), store=hub_store.address, schema=hub_store.schema, message=str(message)
    )
    child = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert child.returncode == 9, child.stderr
    with hub_store.messages() as log:
        assert log.get("", "CRASH-1") is not None
        assert log.get("", "CRASH-1").responses is None  # type: ignore[union-attr]
    with hub_store.hub() as durable, hub_store.messages() as log:
        assert settled_to_b(durable) == 100_200  # the first attempt settled both
        answer = process_message(durable, MESSAGE, 20, log=log)
        assert not answer.replayed and answer.statuses == {"ACSC": 2}
        # The notifications the first attempt never sent go out now, once.
        assert sorted(r.receiver for r in answer.responses if ".camt.054" in r.name) == [
            "BKCHCNBJ",
            "SABRRUMM",
        ]
        assert settled_to_b(durable) == 100_200  # not twice
        commands = durable.commands
    with hub_store.hub() as durable, hub_store.messages() as log:
        again = process_message(durable, MESSAGE, 30, log=log)
        assert again.replayed and again.responses == answer.responses
        assert durable.commands == commands and settled_to_b(durable) == 100_200


def durable_hub(store: HubStore) -> DurableHub:
    from samarkand.hub.settlement import Liquidity
    from tests.iso20022.iso_builders import small_hub

    durable = store.hub()
    durable.configure(small_hub().directory, cut_off_ns={"CNY": 10**15, "RUB": 10**15})
    durable.open_accounts(1)
    durable.liquidity([Liquidity("BKCHCNBJ", "CNY", 150_000)], 2)
    return durable


def funds_of_a(durable: DurableHub) -> int:
    directory = durable.hub.directory
    account = directory.settlement_account(directory.get("BKCHCNBJ"), "CNY")
    return durable.durable_ledger.state.balance(account).net_credit


def test_a_liquidity_transfer_begun_but_never_run_is_run_when_sent_again(
    hub_store: HubStore,
) -> None:
    from tests.iso20022.iso_builders import camt050

    data = camt050("10.00", "CNY", creditor="BKCHCNBJXXX", debtor=None)
    with durable_hub(hub_store) as durable, hub_store.messages() as log:
        # Stopped right after the message was recorded: the hub's log did not grow.
        log.begin("", "LQ-1", "camt.050.001.07", _digest(data), 5, durable.commands)
        answer = process_message(durable, data, 10, log=log)
        assert answer.statuses == {"ACSC": 1} and funds_of_a(durable) == 151_000
    with hub_store.hub() as durable, hub_store.messages() as log:
        again = process_message(durable, data, 20, log=log)
        assert again.replayed and funds_of_a(durable) == 151_000


def test_a_liquidity_transfer_that_may_have_run_is_not_run_again(hub_store: HubStore) -> None:
    from samarkand.hub.settlement import Liquidity
    from tests.iso20022.iso_builders import camt050

    data = camt050("10.00", "CNY", creditor="BKCHCNBJXXX", debtor=None)
    with durable_hub(hub_store) as durable, hub_store.messages() as log:
        log.begin("", "LQ-1", "camt.050.001.07", _digest(data), 5, durable.commands)
        durable.liquidity([Liquidity("BKCHCNBJ", "CNY", 1_000)], 6)  # it ran, then a stop
        answer = process_message(durable, data, 10, log=log)
        assert answer.statuses == {"PDNG": 1} and funds_of_a(durable) == 151_000


def _digest(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()
