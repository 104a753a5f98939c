"""The upgrade of a database at revision 0003 holding data: each chat becomes a one-branch tree (0007).

Sessions (one with a simple-chat id), messages in every status, media, reasoning, sources and usage
are upgraded in place, on SQLite and PostgreSQL; every row and field is kept, and the chats are
served and branch like any other.
"""

from collections.abc import Callable
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import MetaData, insert

import migrations
from tests.conftest import ServeApp, SettingsFactory
from tests.fakes.openai_vendor import FakeOpenAIVendor, Reply, text_stream
from tests.postgres_server import create_database
from tests.test_migrations import HEAD, MESSAGES, SESSIONS, connected, raw_rows, tree_columns, versions

pytestmark = pytest.mark.timeout(60)
TODAY = "0003_session_chat_ids"


@pytest.fixture(params=["sqlite", "postgresql"])
def today_database(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], str]:
    """A database at revision 0003, holding sessions and messages of every kind; returns its URL."""

    def make() -> str:
        if request.param == "sqlite":
            url = f"sqlite:///{tmp_path / 'today.db'}"
        else:
            url = create_database(request.getfixturevalue("postgres"), "tree_today").replace(
                "postgresql://", "postgresql+psycopg://", 1
            )
        with connected(url) as db:
            command.upgrade(migrations.alembic_config(db), TODAY)
            tables = MetaData()
            tables.reflect(db)
            sessions = [{**row, "chat_id": "kyoto-trip" if row["id"] == 1 else None} for row in SESSIONS]
            db.execute(insert(tables.tables["chat_sessions"]), sessions)
            db.execute(insert(tables.tables["chat_messages"]), MESSAGES)
            if db.dialect.name == "postgresql":
                for table in ("chat_sessions", "chat_messages"):
                    db.exec_driver_sql(f"SELECT setval('{table}_id_seq', (SELECT max(id) FROM {table}))")
            db.commit()
        return url

    return make


async def test_todays_database_is_upgraded_in_place_each_chat_a_one_branch_tree(
    today_database: Callable[[], str],
    make_settings: SettingsFactory,
    serve: ServeApp,
    vendor: FakeOpenAIVendor,
) -> None:
    url = today_database()
    assert versions(url) == [TODAY]
    before = raw_rows(url)
    async with serve(make_settings(database_url=url)) as http:
        details = [(await http.get(f"/api/v1/sessions/{row['id']}")).json() for row in SESSIONS]
        tree = (await http.get("/api/v1/sessions/1/tree")).json()
        history = (await http.get("/chat/history/kyoto-trip")).json()
        # A migrated chat branches like any other: another answer to its first question.
        vendor.queue(Reply(text_stream("Le Ginkaku-ji.")))
        regenerated = await http.post("/api/v1/sessions/1/messages/2/regenerate", json={"stream": False})
        after_branch = (await http.get("/api/v1/sessions/1")).json()
    assert versions(url) == [HEAD]
    after = raw_rows(url)
    # Every field of every row is kept; the revision only adds the parents and the leaves (and the
    # service, at start, marks the reply a dead process left streaming as interrupted).
    expected = [
        {
            **row,
            # What the revisions after 0003 add: the owner, the leaf, the import origin (none).
            **tree_columns("chat_sessions", row, MESSAGES),
            "chat_id": row["chat_id"],
        }
        for row in before["chat_sessions"]
    ]
    # The branch made at the end moved session 1's activity time and leaf; all else is as it was.
    moved = {"updated_at", "current_leaf_id"}
    assert [{k: v for k, v in row.items() if k not in moved} for row in after["chat_sessions"]] == [
        {k: v for k, v in row.items() if k not in moved} for row in expected
    ]
    assert after["chat_sessions"][1] == expected[1]
    # The columns of the revisions between (documents, tool calls) are empty on rows from before them.
    migrated = after["chat_messages"][: len(MESSAGES)]
    assert {(row["documents"], row["tool_calls"]) for row in migrated} == {(None, None)}
    kept = [
        {
            k: v
            for k, v in row.items()
            if k not in ("parent_id", "status", "finish_reason", "documents", "tool_calls")
        }
        for row in after["chat_messages"]
    ]
    assert kept[: len(MESSAGES)] == [
        {k: v for k, v in row.items() if k not in ("status", "finish_reason")}
        for row in before["chat_messages"]
    ]
    assert [row["parent_id"] for row in after["chat_messages"][: len(MESSAGES)]] == [
        None,
        1,
        2,
        3,
        4,
        5,
        6,
        None,
        8,
    ]
    # Served as before: each session's messages in order, now each with its parent.
    for session, detail in zip(SESSIONS, details, strict=True):
        own = [row for row in MESSAGES if row["session_id"] == session["id"]]
        assert [m["id"] for m in detail["messages"]] == [row["id"] for row in own]
        assert [m["parent_id"] for m in detail["messages"]] == [None, *[row["id"] for row in own[:-1]]]
        assert detail["current_leaf_id"] == own[-1]["id"]
        assert [m["content"] for m in detail["messages"]] == [row["content"] for row in own]
    assert details[0]["messages"][0]["images"] == ["/uploads/temple.png"]
    assert details[0]["messages"][1]["usage"] == MESSAGES[1]["usage"]
    assert [m["status"] for m in details[0]["messages"]] == [
        "complete",
        "complete",
        "complete",
        "stopped",
        "error",
        "interrupted",
        "interrupted",
    ]
    assert [(m["id"], m["children"]) for m in tree["messages"]] == [
        (1, [2]),
        (2, [3]),
        (3, [4]),
        (4, [5]),
        (5, [6]),
        (6, [7]),
        (7, []),
    ]
    assert [m["content"] for m in history["history"]["messages"][1:]] == [
        row["content"] for row in MESSAGES[:7]
    ]
    assert regenerated.status_code == 200, regenerated.text
    assert [m["content"] for m in after_branch["messages"]] == [MESSAGES[0]["content"], "Le Ginkaku-ji."]
    assert [(m["role"], m["content"]) for m in vendor.requests[-1].body["messages"]][-1] == (
        "user",
        MESSAGES[0]["content"],
    )
