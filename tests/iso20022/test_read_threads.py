"""Messages read on several threads at once (as the service reads them): each judged as it
would be alone. A shared lxml XMLSchema judged invalid documents valid under this load."""

from __future__ import annotations

import threading

from samarkand.bench.iso import bulk_pacs008
from samarkand.hub.messages import read_message


def test_messages_read_at_once_on_several_threads_are_each_judged_alone() -> None:
    valid = bulk_pacs008(300, settlement_date=None, msg_id="VALID")
    invalid = valid.replace(b"<SttlmMtd>CLRG</SttlmMtd>", b"")
    alone = read_message(invalid).invalid
    assert alone  # the reference: what the invalid message's problems are
    wrong: list[str] = []

    def read(data: bytes, expected: list) -> None:
        for _ in range(25):
            found = read_message(data).invalid
            if [(p.code, p.path) for p in found] != [(p.code, p.path) for p in expected]:
                wrong.append(f"{len(found)} problems, expected {len(expected)}")

    threads = [
        threading.Thread(target=read, args=(valid, [])),
        threading.Thread(target=read, args=(valid, [])),
        threading.Thread(target=read, args=(invalid, alone)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wrong == []
