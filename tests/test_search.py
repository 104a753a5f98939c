"""GET /api/v1/search over titles and message text, on SQLite (FTS5) and PostgreSQL (tsvector)."""

import asyncio
from typing import Any

import httpx
import pytest

from tests.conftest import ChatCall, ServeApp, SettingsFactory, chat_body
from tests.fakes.openai_vendor import FakeOpenAIVendor, Reply, chunk, sse, text_stream
from tests.test_migrations import write_before_migrations

pytestmark = pytest.mark.timeout(60)

SEARCH = "/api/v1/search"


@pytest.fixture
def http(served_on_each_database: httpx.AsyncClient) -> httpx.AsyncClient:
    return served_on_each_database


async def session_with(
    http: httpx.AsyncClient, chat: ChatCall, vendor: FakeOpenAIVendor, title: str, *turns: tuple[str, str]
) -> int:
    """A session titled `title` whose turns are (user's text, the vendor's reply)."""
    created = await http.post("/api/v1/sessions", json={"title": title, "provider": "deepseek", "model": "m"})
    session_id: int = created.json()["id"]
    for question, answer in turns:
        vendor.queue(Reply(text_stream(answer)))
        reply = await chat(http, chat_body("deepseek", question, session_id=session_id, stream=False))
        assert reply.status == 200, reply.json
    return session_id


async def found(http: httpx.AsyncClient, q: str, **params: Any) -> list[dict[str, Any]]:
    response = await http.get(SEARCH, params={"q": q, **params})
    assert response.status_code == 200, response.text
    hits: list[dict[str, Any]] = response.json()
    return hits


def marked(hit: dict[str, Any]) -> list[str]:
    """The parts of a hit's snippet its highlights point at."""
    return [hit["snippet"][start:end] for start, end in hit["highlights"]]


async def test_messages_and_titles_holding_every_term_are_found_with_a_snippet(
    http: httpx.AsyncClient, chat: ChatCall, vendor: FakeOpenAIVendor
) -> None:
    kyoto = await session_with(
        http,
        chat,
        vendor,
        "Kyoto temples",
        ("Which temples should I visit in Kyoto?", "Kinkaku-ji is the golden pavilion of Kyoto."),
    )
    await session_with(
        http, chat, vendor, "Osaka food", ("Where to eat takoyaki?", "Dotonbori has the best.")
    )
    hits = await found(http, "kyoto temples")
    # The title (no message, no role) and the user's message; the reply holds one term only.
    assert sorted((h["session_id"], h.get("message_id") is None, h.get("role", "")) for h in hits) == [
        (kyoto, False, "user"),
        (kyoto, True, ""),
    ]
    assert all(h["session_title"] == "Kyoto temples" for h in hits)
    user_hit = next(h for h in hits if h.get("role") == "user")
    assert user_hit["snippet"] == "Which temples should I visit in Kyoto?"
    assert sorted(marked(user_hit)) == ["Kyoto", "temples"]
    assert hits[0]["score"] >= hits[1]["score"]
    golden = await found(http, "golden")
    assert [(h["role"], marked(h)) for h in golden] == [("assistant", ["golden"])]
    assert await found(http, "takoyaki kyoto") == []


async def test_a_long_message_is_cut_around_its_first_match(
    http: httpx.AsyncClient, chat: ChatCall, vendor: FakeOpenAIVendor
) -> None:
    text = "filler " * 40 + "the needle is here " + "padding " * 40
    await session_with(http, chat, vendor, "Long", (text, "ok"))
    (hit,) = await found(http, "needle")
    assert hit["snippet"].startswith("…") and hit["snippet"].endswith("…")
    assert len(hit["snippet"]) < 150
    assert marked(hit) == ["needle"]


async def test_cjk_text_is_found_by_short_and_long_terms(
    http: httpx.AsyncClient, chat: ChatCall, vendor: FakeOpenAIVendor
) -> None:
    session = await session_with(
        http, chat, vendor, "旅行の計画", ("我们明天去北京旅行，好吗？", "東京タワーに行きましょう。")
    )
    for term, role in (("北京", "user"), ("北京旅行", "user"), ("東京タワー", "assistant"), ("計画", None)):
        hits = await found(http, term)
        assert [(h["session_id"], h.get("role"), marked(h)) for h in hits] == [(session, role, [term])], term


async def test_the_index_follows_renames_truncations_and_deletes(
    http: httpx.AsyncClient, chat: ChatCall, vendor: FakeOpenAIVendor
) -> None:
    session = await session_with(
        http,
        chat,
        vendor,
        "Gardening",
        ("How do I prune roses?", "Cut above an outward bud."),
        ("And tulips?", "Plant bulbs in autumn."),
    )
    renamed = await http.patch(f"/api/v1/sessions/{session}", json={"title": "Orchard plans"})
    assert renamed.status_code == 200
    assert await found(http, "gardening") == []
    assert [h.get("message_id") for h in await found(http, "orchard")] == [None]
    detail = (await http.get(f"/api/v1/sessions/{session}")).json()
    tulips = next(m["id"] for m in detail["messages"] if m["content"] == "And tulips?")
    assert (await http.delete(f"/api/v1/sessions/{session}/truncate/{tulips}")).status_code == 204
    assert await found(http, "tulips") == []
    assert [h["role"] for h in await found(http, "roses")] == ["user"]
    assert (await http.delete(f"/api/v1/sessions/{session}")).status_code == 204
    assert await found(http, "roses") == []
    assert await found(http, "orchard") == []


async def test_query_syntax_and_wildcards_in_the_text_are_taken_literally(
    http: httpx.AsyncClient, chat: ChatCall, vendor: FakeOpenAIVendor
) -> None:
    await session_with(http, chat, vendor, "Numbers", ("It grew 100% this year", "From 1000 to 2000."))
    assert [marked(h) for h in await found(http, "100%")] == [["100%"]]
    assert await found(http, "1_00") == []
    for query in ('"unbalanced', "a AND (b OR", "NEAR(x y)", "it's:* & !x", "\\"):
        assert await found(http, query) == [], query


async def test_limit_caps_the_hits_best_first(
    http: httpx.AsyncClient, chat: ChatCall, vendor: FakeOpenAIVendor
) -> None:
    for n in range(4):
        await session_with(http, chat, vendor, f"Chat {n}", (f"apple {'apple ' * n}pie", "ok"))
    hits = await found(http, "apple", limit=3)
    assert len(hits) == 3
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)
    assert hits[0]["session_title"] == "Chat 3"  # the most occurrences


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({}, "q"),
        ({"q": ""}, "q"),
        ({"q": "x" * 501}, "q"),
        ({"q": "a", "limit": 0}, "limit"),
        ({"q": "a", "limit": 101}, "limit"),
    ],
)
async def test_a_bad_query_is_a_422_naming_the_parameter(
    http: httpx.AsyncClient, params: dict[str, Any], field: str
) -> None:
    response = await http.get(SEARCH, params=params)
    assert response.status_code == 422
    assert [error["loc"] for error in response.json()["detail"]] == [["query", field]]


async def test_rows_stored_before_the_upgrade_are_found(
    serve: ServeApp, make_settings: SettingsFactory, each_database_url: str
) -> None:
    write_before_migrations(each_database_url.replace("postgresql://", "postgresql+psycopg://", 1))
    async with serve(make_settings(database_url=each_database_url)) as http:
        pavilion = await found(http, "pavillon")
        world = await found(http, "世界")
    assert [(h["session_id"], h["message_id"], marked(h)) for h in pavilion] == [(1, 2, ["pavillon"])]
    assert [(h["session_id"], "message_id" in h) for h in world] == [(2, False)]


async def test_a_reply_is_found_once_it_has_ended(
    http: httpx.AsyncClient, chat: ChatCall, vendor: FakeOpenAIVendor
) -> None:
    vendor.queue(Reply([sse(chunk("Marmalade recipe: "))], stall=1.5))
    pending = asyncio.ensure_future(chat(http, chat_body("deepseek", "Jam?")))
    async with asyncio.timeout(5):
        while not vendor.requests:
            await asyncio.sleep(0.01)
        while "marmalade" not in str((await http.get("/api/v1/sessions/1")).json()["messages"]).lower():
            await asyncio.sleep(0.02)  # the reply's text is flushed to its row: it is being written
    assert await found(http, "marmalade") == []
    await pending
    assert [h["role"] for h in await found(http, "marmalade")] == ["assistant"]
