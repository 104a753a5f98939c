"""The search benchmark: GET /search's query over 10,000 sessions and 200,000 messages on SQLite.

The history is built in a temp SQLite file by the service's own migrations, then bulk-inserted in
one transaction (the FTS5 triggers index every row as it goes in). Its text is drawn with a fixed
seed from a Zipf-like vocabulary, with one message in twenty in Chinese, so the queries below hit
common, middling and rare terms, several terms at once, and CJK terms of two and four characters.
Each query runs through `Database.run`, as the endpoint runs it: the thread hop is counted.

    .venv/bin/python -m bench.search       # part of `make bench`
"""

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import database
from search.query import search

SESSIONS = 10_000
MESSAGES_PER_SESSION = 20
VOCABULARY = 5_000
CJK = "我们明天去北京旅行东京的天气很好请帮我写一封信关于机器学习的问题数据库索引搜索引擎"
ROUNDS = 30
LIMIT = 20


def vocabulary(rng: random.Random) -> list[str]:
    syllables = ["ka", "lo", "mi", "ren", "tsu", "vo", "an", "el", "qui", "dor", "sen", "pa", "ti", "ur"]
    words: set[str] = set()
    while len(words) < VOCABULARY:
        words.add("".join(rng.choices(syllables, k=rng.randint(2, 4))))
    return sorted(words)


def sentence(rng: random.Random, words: list[str], weights: list[float]) -> str:
    if rng.random() < 0.05:
        start = rng.randrange(len(CJK) - 12)
        return CJK[start : start + rng.randint(6, 12)]
    return " ".join(rng.choices(words, weights, k=rng.randint(8, 40)))


def build(path: Path, words: list[str]) -> None:
    """Fill the migrated database at `path` with the sessions and messages (blocking)."""
    rng = random.Random(7)
    weights = [1 / (rank + 1) for rank in range(len(words))]
    now = datetime.now(UTC).replace(tzinfo=None)
    engine = database.create_engine(f"sqlite:///{path}")
    with engine.begin() as connection:
        sessions = [
            {
                "id": i,
                "title": sentence(rng, words, weights)[:80],
                "provider": "deepseek",
                "model": "m",
                "created_at": now,
                "updated_at": now,
            }
            for i in range(1, SESSIONS + 1)
        ]
        connection.execute(database.SESSIONS.insert(), sessions)
        messages = [
            {
                "session_id": s,
                "role": ("user", "assistant")[n % 2],
                "content": sentence(rng, words, weights),
                "status": "complete",
                "created_at": now,
            }
            for s in range(1, SESSIONS + 1)
            for n in range(MESSAGES_PER_SESSION)
        ]
        connection.execute(database.MESSAGES.insert(), messages)
    engine.dispose()


def queries(words: list[str]) -> dict[str, str]:
    return {
        "common word": words[3],
        "middling word": words[300],
        "rare word": words[4000],
        "two words": f"{words[20]} {words[150]}",
        "three words": f"{words[5]} {words[50]} {words[500]}",
        "CJK, 2 chars": "北京",
        "CJK, 4 chars": "机器学习",
        "short + word": f"ka {words[100]}",
    }


async def measure(path: Path, cases: dict[str, str], rounds: int) -> dict[str, list[float]]:
    db = database.Database(f"sqlite:///{path}")
    timings: dict[str, list[float]] = {name: [] for name in cases}
    try:
        for _ in range(rounds):
            for name, query in cases.items():
                started = time.perf_counter()
                await db.run(search, query, limit=LIMIT)
                timings[name].append((time.perf_counter() - started) * 1000)
    finally:
        await db.close()
    return timings


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def report(timings: dict[str, list[float]], cases: dict[str, str]) -> None:
    lines = [f"{'query':<16} {'q':<34} {'p50 ms':>8} {'p99 ms':>8}"]
    for name, values in timings.items():
        lines.append(
            f"{name:<16} {cases[name]:<34} {percentile(values, 0.5):>8.2f} {percentile(values, 0.99):>8.2f}"
        )
    every = [value for values in timings.values() for value in values]
    overall = f"{statistics.median(every):>8.2f} {percentile(every, 0.99):>8.2f}"
    lines.append(f"{'all queries':<51} {overall}   target: p50 < 50 ms")
    print("\n".join(lines))  # noqa: T201


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    args = parser.parse_args()
    words = vocabulary(random.Random(3))
    cases = queries(words)
    with tempfile.TemporaryDirectory(prefix="bench-search-") as folder:
        path = Path(folder) / "search.db"
        db = database.Database(f"sqlite:///{path}")
        await db.migrate()
        await db.close()
        started = time.perf_counter()
        await asyncio.to_thread(build, path, words)
        built = time.perf_counter() - started
        total = SESSIONS * MESSAGES_PER_SESSION
        print(f"search: {SESSIONS:,} sessions, {total:,} messages built and indexed in {built:.1f} s")  # noqa: T201
        report(await measure(path, cases, args.rounds), cases)


if __name__ == "__main__":
    asyncio.run(main())
