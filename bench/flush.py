"""What a periodic flush of running replies costs, to choose STREAM_FLUSH_INTERVAL by figures.

A process killed mid-reply (SIGKILL, a power cut) loses the text its replies received since their
last flush: at most one interval of each. Each flush rewrites the running rows whole, so its cost
grows with the number of replies and their length. This measures one flush on a SQLite file in the
service's own mode (`Database.run_core`, on the loop; the WAL checkpoints on its thread, counted
too) and prints the share of one core that flushing takes at several intervals.

    .venv/bin/python -m bench.flush        # part of `make bench`
"""

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import database

# (running replies, characters each has so far)
CASES = ((1, 2_000), (10, 2_000), (100, 4_000), (1_000, 4_000), (1_000, 16_000))
INTERVALS = (1.0, 0.5, 0.25, 0.1)
ROUNDS = 20


async def flush_cost(replies: int, chars: int, folder: Path) -> float:
    """CPU seconds (every thread of this process) of one flush of `replies` rows of `chars` each."""
    db = database.Database(f"sqlite:///{folder / f'flush-{replies}-{chars}.db'}")
    await db.migrate()
    try:

        def setup(connection: database.Connection) -> list[int]:
            session = database.create_session(connection, title="bench", provider="deepseek", model="m")
            rows = [{"role": "assistant", "content": "", "status": "streaming"}] * replies
            return database.add_messages(connection, session, rows)

        ids = await db.run_core(setup)
        costs = []
        for round_ in range(ROUNDS):
            # Each round the text has grown a little, as a running reply's does between flushes.
            text = (f"w{round_} " * chars)[: chars + round_ * 40]
            rows = {i: {"content": text, "status": "streaming"} for i in ids}
            started = time.process_time()
            await db.run_core(database.update_messages, rows)
            costs.append(time.process_time() - started)
        return statistics.median(costs)
    finally:
        await db.close()


async def measure() -> list[tuple[int, int, float]]:
    with tempfile.TemporaryDirectory(prefix="flush-bench-") as folder:
        return [(n, chars, await flush_cost(n, chars, Path(folder))) for n, chars in CASES]


def main() -> None:
    figures = asyncio.run(measure())
    header = ["running replies", "chars each", "one flush"] + [f"CPU at {i:g} s" for i in INTERVALS]
    rows = [
        [f"{n:,}", f"{chars:,}", f"{cost * 1000:.2f} ms"] + [f"{cost / i:.1%}" for i in INTERVALS]
        for n, chars, cost in figures
    ]
    widths = [max(len(r[c]) for r in [header, *rows]) for c in range(len(header))]
    print(f"\nFlushing running replies to SQLite (median of {ROUNDS} flushes; share of one core)")
    for row in [header, *rows]:
        print(" | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


if __name__ == "__main__":
    main()
