"""Drive a simulated day through a `DurableHub`, resuming where its command log ends.

The day is cut into a flat plan of steps, one logged command each, in the order
`samarkand.sim.run.run_day` issues them; so the next step is the command log's length, and a
writer killed at any moment carries on, when started again, from the last logged command.
After each submit it appends the acknowledged UETRs (with their outcome) to a side file,
flushed and fsync'd before the next step.

    python durable_hub_writer.py STORE ACKS PAYMENTS DIRECT_BANKS SEED
"""

from __future__ import annotations

import bisect
import os
import sys
from collections.abc import Callable
from typing import Any

if __name__ == "__main__":  # run as a script: make the project importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from samarkand.sim.day import DayConfig, SimulatedDay, simulate_day  # noqa: E402
from samarkand.sim.run import (  # noqa: E402
    NS_PER_MINUTE,
    RunConfig,
    _minutes,
    _opening_liquidity,
    fx_payments,
    fx_requests,
)

Step = Callable[[Any], Any]  # runs one command on a hub (a DurableHub)


def plan(day: SimulatedDay, config: RunConfig | None = None) -> list[tuple[str, Step]]:
    """The day as (name, step) pairs, one hub command each, as `run_day` drives it."""
    config = config or RunConfig()
    cut_offs = dict.fromkeys(day.currencies, day.cut_off_ns)
    credit, funding = _opening_liquidity(day, config.credit_pct)
    steps: list[tuple[str, Step]] = [
        ("configure", lambda h: h.configure(day.directory, cut_off_ns=cut_offs, credit=credit)),
        ("open_accounts", lambda h: h.open_accounts(day.start_ns - 2 * 60 * NS_PER_MINUTE)),
        ("liquidity", lambda h: h.liquidity(funding, day.start_ns - 60 * NS_PER_MINUTE)),
    ]
    windows = sorted(
        day.start_ns - day.start_ns % (24 * 60 * NS_PER_MINUTE) + _minutes(w) * NS_PER_MINUTE
        for w in config.dns_windows
    )
    windows = [w for w in windows if day.start_ns < w < day.cut_off_ns]
    step_ns = config.step_minutes * NS_PER_MINUTE
    if day.tiers:
        tiers_at = day.start_ns - 30 * NS_PER_MINUTE
        steps.append(("post_tiers", lambda h: h.post_tiers(day.tiers, tiers_at)))
    done, fx_done, now, minute = 0, 0, day.start_ns, 0
    while now < day.cut_off_ns:
        now = min(now + step_ns, day.cut_off_ns - 1)
        minute += config.step_minutes
        upto = bisect.bisect_right(day.arrival_ns, now)
        if upto > done:
            batch = day.payments[done:upto]
            steps.append(("submit", lambda h, b=batch, t=now: (b, h.submit(b, t))))
            done = upto
        fx_upto = bisect.bisect_right(day.fx_arrival_ns, now)
        if fx_upto > fx_done:
            steps.extend(_cross_currency(day.fx_payments[fx_done:fx_upto], now))
            fx_done = fx_upto
        steps.append(("tick", lambda h, t=now: h.tick(t)))
        non_fifo = bool(config.non_fifo_every_minutes) and (
            minute % config.non_fifo_every_minutes == 0
        )
        steps.append(("optimise", lambda h, t=now, n=non_fifo: h.optimise(t, non_fifo=n)))
        while windows and windows[0] <= now:
            windows.pop(0)
            for currency in day.currencies:
                steps.append(("close_window", lambda h, c=currency, t=now: h.close_window(c, t)))
        if now >= day.cut_off_ns - 1:
            break
    if fx_done < len(day.fx_payments):
        steps.extend(_cross_currency(day.fx_payments[fx_done:], day.cut_off_ns - 1))
    if done < len(day.payments):
        batch = day.payments[done:]
        steps.append(("submit", lambda h, b=batch: (b, h.submit(b, day.cut_off_ns - 1))))
    steps.append(("end_of_day", lambda h: h.end_of_day(day.cut_off_ns)))
    return steps


def _cross_currency(intents, now: int) -> list[tuple[str, Step]]:
    """The quote requests, then the payments citing the quotes the hub gave (kept in
    `last_quotes`, which the replay of the quote command restores after a crash)."""
    requests = fx_requests(intents)
    return [
        ("quotes", lambda h: h.request_quotes(requests, now)),
        ("submit_fx", lambda h: h.submit_fx(fx_payments(intents, h.hub.last_quotes), now)),
    ]


def main(argv: list[str]) -> int:
    from samarkand.hub.durable import DurableHub

    store, acks, payments, direct_banks, seed = argv
    day = simulate_day(
        DayConfig(payments=int(payments), direct_banks=int(direct_banks), seed=int(seed))
    )
    steps = plan(day)
    out = os.open(acks, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        with DurableHub.open(store) as hub:
            for name, step in steps[hub.commands :]:
                result = step(hub)
                if name == "submit":
                    batch, outcome = result
                    lines = "".join(
                        f"{payment.uetr} {'ok' if reason is None else reason.name}\n"
                        for payment, reason in zip(batch, outcome, strict=True)
                    )
                    os.write(out, lines.encode("ascii"))  # one write: whole lines or none
                    os.fsync(out)
    finally:
        os.close(out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
