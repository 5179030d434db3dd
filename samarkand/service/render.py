"""The camt.054s of the service's ISO 20022 messages, made in a process of their own.

A bulk message's settlements are gathered on the hub's thread as plain columns
(`samarkand.hub.notifications.Settlements`); making them into camt.054s needs nothing of
the hub, and is the largest part of a bulk message's work that does not. The hub's thread
hands them over (`Renderer.begin`, which does not wait) and goes on with the next work;
the mailbox writer takes the camt.054s (`Renderer.take`) when it writes the round, in
the order they were handed over. A process of its own makes them without the interpreter
lock the hub's thread, the reading threads and the event loop share.

The bytes are those `render` makes on any thread: a few payments' camt.054s are made on
the writer's thread (the hand-over would cost more), and so is every camt.054 the process
did not deliver because it died or was stopped: a new process is started for the work that
follows, at most once every `RESTART_AFTER_S`. Nothing handed over is lost: each hand-over
keeps its settlements until its camt.054s are taken.
"""

from __future__ import annotations

import logging
import multiprocessing
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any

from samarkand.hub.notifications import Response, Settlements, render

log = logging.getLogger(__name__)

PROCESS_LEAST = 64  # payments: a message with fewer has its camt.054s made on the writer
TAKE_WAIT_S = 0.5  # between looks at whether the process still runs, while waiting
RESTART_AFTER_S = 60.0  # after a process ended, the soonest the next is started
STOP_WAIT_S = 5.0  # for the process to end at `close` before it is killed
PARENT_LOOK_S = 1.0  # while idle, how often the process looks whether the service still runs


@dataclass(frozen=True, slots=True, eq=False)
class Handed:
    """Settlements handed over: made in the process (as its `number`th job of generation
    `generation`), or on the writer's thread (`number` None)."""

    job: Settlements
    number: int | None = None
    generation: int = 0


class Renderer:
    """Makes the camt.054s of `Settlements` in a process (`process=True`, from `start`),
    or where they are taken. `begin` is called by one thread (the hub's), `take` by one
    other (the mailbox writer's), in the same order."""

    def __init__(self, *, process: bool = False, least: int = PROCESS_LEAST) -> None:
        self.process = process
        self.least = least
        self._worker: Any = None
        self._jobs: Any = None
        self._results: Any = None
        self._generation = 0  # one more for each process started or ended
        self._sent = 0  # jobs sent to the process of this generation
        # Answers read before they were asked for, by (generation, job): the writer's.
        self._received: dict[tuple[int, int], list[tuple[str, str, bytes]] | None] = {}
        self._started_at: float | None = None
        self._lock = threading.Lock()  # the process and its queues change under it
        self.made_here = 0  # hand-overs made on the taking thread, the process's own failed

    # ------------------------------------------------------------------ life

    def start(self) -> None:
        """Start the process (when asked for); it reads its modules meanwhile."""
        with self._lock:
            self._start()

    def _start(self) -> None:
        if self.process and self._worker is None:
            context = multiprocessing.get_context("spawn")  # no copy of this one's threads
            self._jobs, self._results = context.Queue(), context.Queue()
            self._worker = context.Process(
                target=serve, args=(self._jobs, self._results), name="samarkand-render",
                daemon=True,
            )  # fmt: skip
            try:
                self._worker.start()
            except OSError as error:  # no process to be had: made where taken
                log.warning("no process for the camt.054s (%s); made on the writer's thread", error)
                self._worker = None
                for channel in (self._jobs, self._results):
                    channel.close()
                return
            finally:
                self._started_at = time.monotonic()
            self._generation += 1
            self._sent = 0

    def close(self) -> None:
        """Stop the process, once what it was given is done (or after `STOP_WAIT_S`)."""
        with self._lock:
            worker, self._worker = self._worker, None
            self._generation += 1
        if worker is None:
            return
        try:
            self._jobs.put(None)
            worker.join(STOP_WAIT_S)
        finally:
            if worker.is_alive():
                worker.kill()
                worker.join()
            for channel in (self._jobs, self._results):
                channel.close()
                channel.cancel_join_thread()  # what it still holds is not waited for

    @property
    def pid(self) -> int | None:
        """The process's id, while there is one."""
        worker = self._worker
        return None if worker is None else worker.pid

    @property
    def running(self) -> bool:
        worker = self._worker
        return worker is not None and worker.is_alive()

    # ------------------------------------------------------------------ work

    def begin(self, job: Settlements) -> Handed:
        """Hand `job` over (on the hub's thread: it does not wait)."""
        if not self.process or len(job) < self.least:
            return Handed(job)
        with self._lock:
            if not self.running:
                self._restart()
                if not self.running:
                    return Handed(job)
            number = self._sent
            self._sent += 1
            self._jobs.put((number, job))  # pickled and written by the queue's own thread
            return Handed(job, number, self._generation)

    def take(self, handed: Handed) -> list[Response]:
        """The camt.054s of a hand-over (on the writer's thread, in the order of `begin`)."""
        made = None
        with self._lock:
            results, worker = self._results, self._worker
            current = handed.generation == self._generation and worker is not None
        if handed.number is not None and current:
            made = self._receive(handed.generation, handed.number, results, worker)
        if made is not None:
            return [Response(*r) for r in made]
        if handed.number is not None:
            self.made_here += 1
        return render(handed.job)

    def _receive(
        self, generation: int, number: int, results: Any, worker: Any
    ) -> list[tuple[str, str, bytes]] | None:
        """The answer of `worker` (of `generation`) to its job `number`; None when it cannot
        give one (it ended, or failed on that job)."""
        key = (generation, number)
        while key not in self._received:
            try:
                got, made = results.get(timeout=TAKE_WAIT_S)
            except queue.Empty:
                if not worker.is_alive():
                    self._ended(generation)
                    return None
                continue
            except (EOFError, OSError, ValueError):  # its queue closed: `close`, or a crash
                self._ended(generation)
                return None
            self._received[generation, got] = made
        return self._received.pop(key)

    def _ended(self, generation: int) -> None:
        """The process of `generation` ended: what it was given is made where it is taken."""
        with self._lock:
            if generation != self._generation:
                return
            log.warning("the camt.054 process ended; its work is made on the writer's thread")
            self._worker = None
            self._generation += 1
        self._received = {k: v for k, v in self._received.items() if k[0] != generation}

    def _restart(self) -> None:
        """Under the lock: a new process, unless the last one started too recently."""
        if self._started_at is not None and time.monotonic() - self._started_at < RESTART_AFTER_S:
            return
        self._worker = None
        self._generation += 1  # what the ended one was given is made where it is taken
        for channel in (self._jobs, self._results):
            if channel is not None:  # the ended process's: a reader on them is told
                channel.close()
                channel.cancel_join_thread()
        self._start()


def serve(jobs: Any, results: Any) -> None:
    """The process: make each job's camt.054s until a None comes, or its parent is gone.
    A job that fails is answered None: the writer makes it again, and fails the same way
    where it can be told."""
    parent = multiprocessing.parent_process()
    while True:
        try:
            item = jobs.get(timeout=PARENT_LOOK_S)
        except queue.Empty:
            if parent is not None and not parent.is_alive():  # killed: nobody to serve
                return
            continue
        except (EOFError, OSError):
            return
        if item is None:
            return
        number, job = item
        try:
            made: list[tuple[str, str, bytes]] | None = [
                (r.name, r.receiver, r.data) for r in render(job)
            ]
        except Exception:  # noqa: BLE001 - told to the writer, which makes it itself
            made = None
        results.put((number, made))
