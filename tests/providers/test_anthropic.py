"""Anthropic through the public HTTP API: the real anthropic SDK talks to a fake Messages API server."""

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from app_factory import create_app
from config import Settings
from providers.anthropic_request import ModelProfile, claude_version, profile_for, thinking_blocks
from providers.base import Turn
from tests import media_samples as samples
from tests.conftest import ChatReply, post_chat, vendor_failure
from tests.fakes.anthropic_vendor import (
    FakeAnthropicVendor,
    Reply,
    block_start,
    block_stop,
    delta,
    error_body,
    error_event,
    message_delta,
    message_start,
    message_stop,
    ping,
    redacted_block,
    reply,
    text_block,
    text_stream,
    thinking_block,
    wire_events,
)
from tests.fakes.gemini_vendor import FakeGeminiVendor
from tests.fakes.gemini_vendor import Reply as GeminiReply
from tests.fakes.gemini_vendor import text_stream as gemini_text
from tests.fakes.openai_vendor import wire
from tests.fakes.server import ServerThread
from tests.frontend import reread, stream_turn

pytestmark = pytest.mark.timeout(30)

MODEL = "claude-sonnet-4-5"
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


def _sample_signature() -> str:
    for line in wire("anthropic-thinking.sse").split(b"\n"):
        if b"signature_delta" in line:
            return str(json.loads(line.removeprefix(b"data: "))["delta"]["signature"])
    raise AssertionError("no signature in the sample")


SIGNATURE = _sample_signature()
THINKING = "The user wants 925 divided by 5. 925 ÷ 5 = 185."


@pytest.fixture
def upload_dir(tmp_path: Path) -> Path:
    path = tmp_path / "uploads"
    path.mkdir()
    return path


Serve = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def serve(make_settings: Callable[..., Settings], claude: FakeAnthropicVendor, upload_dir: Path) -> Serve:
    """`async with serve(**settings) as http:` runs the service with Anthropic pointed at the fake."""

    @asynccontextmanager
    async def run(**overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
        values = {
            "anthropic_api_key": "sk-ant-test",
            "anthropic_base_url": claude.url,
            "upload_dir": upload_dir,
        }
        with ServerThread(create_app(make_settings(**(values | overrides))), lifespan="on") as server:
            async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
                yield http

    return run


@pytest.fixture
async def api(serve: Serve) -> AsyncIterator[httpx.AsyncClient]:
    async with serve() as http:
        yield http


def body(content: str = "hi", **fields: Any) -> dict[str, Any]:
    return {
        "provider": "anthropic",
        "model": MODEL,
        "messages": [{"role": "user", "content": content}],
    } | fields


async def ask(http: httpx.AsyncClient, content: str = "hi", **fields: Any) -> ChatReply:
    """POST /chat with one user message; SSE events when it streams, else the JSON body."""
    return await post_chat(http, body(content, **fields))


async def stored_reply(http: httpx.AsyncClient, session_id: int) -> dict[str, Any]:
    session = (await http.get(f"/api/v1/sessions/{session_id}")).json()
    message: dict[str, Any] = session["messages"][-1]
    return message


def text(content: str) -> dict[str, Any]:
    return {"type": "text", "text": content}


# --- a plain reply --------------------------------------------------------------------------------


async def test_streamed_reply_is_relayed_with_usage_and_stored(
    api: httpx.AsyncClient, claude: FakeAnthropicVendor
) -> None:
    claude.queue(Reply(wire_events("anthropic-basic.sse")))
    answer = await ask(api)
    assert answer.status == 200
    assert answer.text == "Hello! How can I help you today?"  # the sample's `ping` is skipped
    assert answer.events[-1] == {"done": True}
    usage = answer.events[-2]["usage"]
    assert {"prompt_tokens": 12, "completion_tokens": 12, "total_tokens": 24, "input_tokens": 12}.items() <= (
        usage.items()
    )
    request = claude.last
    assert request.path == "/v1/messages"
    assert request.api_key == "sk-ant-test"
    # 2026-10-21, the SDK's default version, refuses temperature, top_p and top_k.
    assert request.headers["anthropic-version"] == "2023-06-01"
    assert request.body == {
        "model": MODEL,
        "max_tokens": 8192,
        "messages": [{"role": "user", "content": [text("hi")]}],
        "stream": True,
    }
    stored = await stored_reply(api, answer.events[0]["session_id"])
    assert (stored["content"], stored["status"], stored["finish_reason"]) == (answer.text, "complete", "stop")
    assert stored["usage"]["total_tokens"] == 24


async def test_non_streaming_reply_collects_the_same_events(
    api: httpx.AsyncClient, claude: FakeAnthropicVendor
) -> None:
    claude.queue(Reply(wire_events("anthropic-thinking.sse")))
    answer = await ask(api, stream=False, thinking={"type": "enabled", "budget_tokens": 2048})
    assert answer.status == 200
    message = answer.json["message"]
    assert (message["content"], message["thought_process"]) == ("925 ÷ 5 = 185", THINKING)
    [entry] = message["thought_signatures"]
    assert json.loads(entry) == {"type": "thinking", "signature": SIGNATURE, "chars": len(THINKING)}
    assert (message["finish_reason"], message["usage"]["prompt_tokens"]) == ("stop", 69)
    assert claude.last.body["stream"] is True


async def test_a_character_split_across_writes_arrives_whole(
    api: httpx.AsyncClient, claude: FakeAnthropicVendor
) -> None:
    # One byte a write: every multi-byte character (2, 3 and 4 bytes) is split between reads.
    pieces = ("925 ÷ 5 = 185", " — 你好", " 🎉")
    claude.queue(Reply(text_stream(*pieces), split=1))
    answer = await ask(api)
    assert answer.text == "".join(pieces)
    assert (await stored_reply(api, answer.events[0]["session_id"]))["content"] == "".join(pieces)


# --- the request ----------------------------------------------------------------------------------


async def test_the_system_prompt_is_top_level_and_same_role_turns_are_merged(
    api: httpx.AsyncClient, claude: FakeAnthropicVendor
) -> None:
    claude.queue(Reply(status=500), Reply(text_stream("Sure.")))
    first = await ask(api, "first question", system_prompt="Be brief.")
    assert first.events[-2]["error"].startswith("anthropic: ")
    # The failed reply holds no text, so it is no context: two user turns meet, and merge.
    messages = [{"role": "user", "content": "second"}, {"role": "user", "content": "third"}]
    second = await post_chat(api, body(session_id=first.events[0]["session_id"], messages=messages))
    assert second.text == "Sure."
    sent = claude.last.body
    assert sent["system"] == "Be brief."
    assert sent["messages"] == [
        {"role": "user", "content": [text("first question"), text("second"), text("third")]}
    ]


async def test_max_tokens_is_always_sent_and_the_requests_own_wins(
    serve: Serve, claude: FakeAnthropicVendor
) -> None:
    async with serve(anthropic_max_tokens=1000) as http:
        await ask(http)
        assert claude.last.body["max_tokens"] == 1000
        await ask(http, max_tokens=256)
        assert claude.last.body["max_tokens"] == 256


async def test_sampling_parameters_are_sent_and_others_reported_ignored(
    api: httpx.AsyncClient, claude: FakeAnthropicVendor
) -> None:
    answer = await ask(
        api,
        temperature=0.3,
        top_p=0.9,
        top_k=40,
        stop=["END", "STOP"],
        frequency_penalty=0.5,
        image_detail="auto",
    )
    assert answer.status == 200
    sent = claude.last.body
    assert (sent["temperature"], sent["top_p"], sent["top_k"], sent["stop_sequences"]) == (
        0.3,
        0.9,
        40,
        ["END", "STOP"],
    )
    assert "frequency_penalty" not in sent and "stop" not in sent
    assert answer.headers["X-Ignored-Parameters"] == "frequency_penalty, image_detail"
    await ask(api, stop="END")
    assert claude.last.body["stop_sequences"] == ["END"]


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"temperature": 1.5}, "temperature must be between 0 and 1, not 1.5"),
        ({"top_k": 0}, "top_k must be at least 1, not 0"),
        (
            {"thinking": {"type": "enabled", "budget_tokens": 8192}},
            "thinking.budget_tokens (8192) must be less than max_tokens (8192)",
        ),
        (
            {"thinking": {"type": "adaptive"}},
            'claude-sonnet-4-5 does not take adaptive thinking: send {"type": "enabled", "budget_tokens": N}',
        ),
        (
            {"model": "claude-opus-4-7", "thinking": {"type": "enabled", "budget_tokens": 2048}},
            'claude-opus-4-7 takes adaptive thinking only: send {"type": "adaptive"}',
        ),
    ],
)
@pytest.mark.parametrize("stream", [True, False])
async def test_a_value_anthropic_would_refuse_is_a_400_before_anything_is_stored(
    api: httpx.AsyncClient, claude: FakeAnthropicVendor, fields: dict[str, Any], reason: str, stream: bool
) -> None:
    answer = await post_chat(api, body(stream=stream) | fields)
    assert answer.status == 400
    assert answer.json == {"detail": f"anthropic: {reason}", "provider": "anthropic"}
    assert claude.requests == []
    assert (await api.get("/api/v1/sessions")).json() == []


async def test_a_thinking_budget_under_1024_is_a_422_naming_the_field(
    api: httpx.AsyncClient, claude: FakeAnthropicVendor
) -> None:
    answer = await ask(api, thinking={"type": "enabled", "budget_tokens": 1000})
    assert answer.status == 422
    [error] = answer.json["detail"]
    assert error["loc"] == ["body", "thinking", "enabled", "budget_tokens"]
    assert "1024" in error["msg"]
    assert claude.requests == []


async def test_thinking_on_a_model_without_it_is_ignored_and_reported(
    api: httpx.AsyncClient, claude: FakeAnthropicVendor
) -> None:
    answer = await ask(
        api, model="claude-3-5-haiku-20241022", thinking={"type": "enabled", "budget_tokens": 2048}
    )
    assert answer.status == 200
    assert "thinking" not in claude.last.body
    assert answer.headers["X-Ignored-Parameters"] == "thinking"


@pytest.mark.parametrize(
    ("thinking", "sent"),
    [
        ({"type": "adaptive"}, {"type": "adaptive"}),
        ({"type": "adaptive", "display": "omitted"}, {"type": "adaptive", "display": "omitted"}),
        (True, {"type": "adaptive"}),
        (False, {"type": "disabled"}),
        ({"type": "enabled", "budget_tokens": 4096}, {"type": "enabled", "budget_tokens": 4096}),
    ],
)
async def test_thinking_is_sent_in_anthropics_form(
    api: httpx.AsyncClient, claude: FakeAnthropicVendor, thinking: Any, sent: dict[str, Any]
) -> None:
    answer = await ask(api, model="claude-opus-4-6", thinking=thinking)
    assert answer.status == 200
    assert claude.last.body["thinking"] == sent


# --- thinking across turns ------------------------------------------------------------------------


async def test_thinking_streams_as_reasoning_and_its_signed_block_goes_back_unchanged(
    api: httpx.AsyncClient, claude: FakeAnthropicVendor
) -> None:
    claude.queue(Reply(wire_events("anthropic-thinking.sse"), split=5), Reply(text_stream("About 185.")))
    thinking = {"type": "enabled", "budget_tokens": 2048}
    first = await ask(api, "What is 925 / 5?", thinking=thinking)
    assert claude.last.body["thinking"] == thinking
    assert first.reasoning == THINKING
    first_text = next(i for i, e in enumerate(first.events) if "content" in e)
    assert all("reasoning" not in e for e in first.events[first_text:])
    stored = await stored_reply(api, first.events[0]["session_id"])
    assert stored["thought_process"] == THINKING

    second = await ask(api, "And in words?", session_id=first.events[0]["session_id"], thinking=thinking)
    assert second.text == "About 185."
    assert claude.last.body["messages"] == [
        {"role": "user", "content": [text("What is 925 / 5?")]},
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": THINKING, "signature": SIGNATURE},
                text("925 ÷ 5 = 185"),
            ],
        },
        {"role": "user", "content": [text("And in words?")]},
    ]


async def test_redacted_and_several_thinking_blocks_go_back_in_their_order(
    api: httpx.AsyncClient, claude: FakeAnthropicVendor
) -> None:
    blocks = (
        thinking_block(0, "First, ", "the sum.", signature="sig-one"),
        redacted_block(1, "EncryptedOpaqueData=="),
        thinking_block(2, "Then the check.", signature="sig-two"),
        text_block(3, "Done."),
    )
    claude.queue(Reply(reply(*blocks)), Reply(text_stream("ok")))
    first = await ask(api, "go", model="claude-opus-4-6", thinking={"type": "adaptive"})
    session_id = first.events[0]["session_id"]
    stored = await stored_reply(api, session_id)
    assert stored["thought_process"] == "First, the sum.Then the check."
    assert [json.loads(s)["type"] for s in stored["thought_signatures"]] == [
        "thinking",
        "redacted_thinking",
        "thinking",
    ]
    await ask(api, "next", session_id=session_id, model="claude-opus-4-6")
    assert claude.last.body["messages"][1]["content"] == [
        {"type": "thinking", "thinking": "First, the sum.", "signature": "sig-one"},
        {"type": "redacted_thinking", "data": "EncryptedOpaqueData=="},
        {"type": "thinking", "thinking": "Then the check.", "signature": "sig-two"},
        text("Done."),
    ]


def test_thinking_text_that_no_longer_matches_its_blocks_is_not_sent_back() -> None:
    entries = ('{"type":"thinking","signature":"s","chars":5}', '{"type":"redacted_thinking","data":"d"}')
    whole = Turn("assistant", "answer", thought_signatures=entries, reasoning="abcde")
    assert thinking_blocks(whole) == [
        {"type": "thinking", "thinking": "abcde", "signature": "s"},
        {"type": "redacted_thinking", "data": "d"},
    ]
    # A reply cut back after its block ended, or text the signature never covered: nothing goes back.
    assert thinking_blocks(Turn("assistant", "a", thought_signatures=entries, reasoning="abc")) == []
    assert thinking_blocks(Turn("assistant", "a", thought_signatures=entries[:1], reasoning="abcdefg")) == []
    # Another vendor's signature (Gemini's base64) is not Anthropic's.
    assert thinking_blocks(Turn("assistant", "a", thought_signatures=("c2lnbmF0dXJl",), reasoning="")) == []


async def test_a_chat_that_moves_to_another_vendor_does_not_hand_it_anthropics_signatures(
    serve: Serve, claude: FakeAnthropicVendor
) -> None:
    gemini = FakeGeminiVendor()
    gemini.queue(GeminiReply(gemini_text("Gemini here.")))
    claude.queue(Reply(wire_events("anthropic-thinking.sse")))
    with ServerThread(gemini.app) as server:
        async with serve(gemini_api_key="k", gemini_base_url=server.url) as http:
            first = await ask(http, thinking={"type": "enabled", "budget_tokens": 2048})
            moved = body(session_id=first.events[0]["session_id"], message_provider="gemini")
            second = await post_chat(http, moved | {"message_model": "gemini-2.5-flash"})
        server.server.force_exit = True
    assert second.text == "Gemini here."
    model_turn = gemini.last.body["contents"][1]
    assert model_turn == {"role": "model", "parts": [{"text": "925 ÷ 5 = 185"}]}


# --- web search and images ------------------------------------------------------------------------

SEARCH_RESULTS = [
    {
        "type": "web_search_result",
        "url": "https://en.wikipedia.org/wiki/UEFA_Euro_2024",
        "title": "UEFA Euro 2024 - Wikipedia",
        "encrypted_content": "EqgfCioI...",
        "page_age": "July 15, 2024",
    },
    {
        "type": "web_search_result",
        "url": "https://www.uefa.com/euro2024/",
        "title": "EURO 2024 | UEFA",
        "encrypted_content": "EpsBCioI...",
        "page_age": None,
    },
]
CITATION = {
    "type": "web_search_result_location",
    "url": "https://en.wikipedia.org/wiki/UEFA_Euro_2024",
    "title": "UEFA Euro 2024 - Wikipedia",
    "encrypted_index": "Eo8BCioI...",
    "cited_text": "Spain won the final 2–1 against England in Berlin.",
}


def web_search_reply() -> list[bytes]:
    query = {"type": "server_tool_use", "id": "srvtoolu_01", "name": "web_search", "input": {}}
    result = {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_01", "content": SEARCH_RESULTS}
    search = [
        block_start(1, query),
        delta(1, {"type": "input_json_delta", "partial_json": '{"query": "euro 2024 winner"}'}),
        block_stop(1),
        block_start(2, result),
        block_stop(2),
    ]
    return reply(
        text_block(0, "Let me search."),
        search,
        text_block(3, "Spain won Euro 2024.", citations=(CITATION,)),
        server_tool_use=1,
    )


async def test_web_search_sources_arrive_as_search_results_with_their_citations(
    api: httpx.AsyncClient, claude: FakeAnthropicVendor
) -> None:
    claude.queue(Reply(web_search_reply()))
    answer = await ask(api, "Who won Euro 2024?", web_search=True)
    assert claude.last.body["tools"] == [{"type": "web_search_20250305", "name": "web_search"}]
    assert answer.text == "Let me search.Spain won Euro 2024."
    found = [e["search_results"] for e in answer.events if "search_results" in e]
    assert found == [
        [{"title": CITATION["title"], "url": CITATION["url"], "content": CITATION["cited_text"]}],
        [{"title": "EURO 2024 | UEFA", "url": "https://www.uefa.com/euro2024/", "content": ""}],
    ]
    stored = await stored_reply(api, answer.events[0]["session_id"])
    assert stored["search_results"] == found[0] + found[1]


async def test_images_go_as_base64_or_url_blocks_before_the_text(
    api: httpx.AsyncClient, claude: FakeAnthropicVendor, upload_dir: Path
) -> None:
    (upload_dir / "cat.png").write_bytes(PNG)
    message = {
        "role": "user",
        "content": "Compare.",
        "images": ["/uploads/cat.png", "https://example.com/ant.jpg"],
    }
    answer = await post_chat(api, body(messages=[message]))
    assert answer.status == 200
    assert claude.last.body["messages"] == [
        {
            "role": "user",
            "content": [
                {
                    "type": "image",
                    "source": {
                        "type": "base64",
                        "media_type": "image/png",
                        "data": base64.b64encode(PNG).decode(),
                    },
                },
                {"type": "image", "source": {"type": "url", "url": "https://example.com/ant.jpg"}},
                text("Compare."),
            ],
        }
    ]


async def test_pdfs_go_as_document_blocks_before_images_and_text(
    api: httpx.AsyncClient, claude: FakeAnthropicVendor, upload_dir: Path
) -> None:
    uploaded = (
        await api.post("/api/v1/upload", files={"file": ("r.pdf", samples.pdf(), "application/pdf")})
    ).json()
    assert uploaded["kind"] == "document"
    (upload_dir / "cat.png").write_bytes(PNG)
    message = {
        "role": "user",
        "content": "What do these say?",
        "images": ["/uploads/cat.png"],
        "documents": [uploaded["url"], "https://example.com/paper.pdf"],
    }
    answer = await post_chat(api, body(messages=[message]))
    assert answer.status == 200
    pdf = base64.b64encode(samples.pdf()).decode()
    assert claude.last.body["messages"][0]["content"] == [
        {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": pdf}},
        {"type": "document", "source": {"type": "url", "url": "https://example.com/paper.pdf"}},
        {
            "type": "image",
            "source": {"type": "base64", "media_type": "image/png", "data": base64.b64encode(PNG).decode()},
        },
        text("What do these say?"),
    ]
    stored = (await api.get(f"/api/v1/sessions/{answer.events[0]['session_id']}")).json()["messages"][0]
    assert stored["documents"] == [uploaded["url"], "https://example.com/paper.pdf"]


async def test_video_is_refused_naming_the_provider(
    api: httpx.AsyncClient, claude: FakeAnthropicVendor
) -> None:
    message = {"role": "user", "content": "?", "videos": ["https://example.com/clip.mp4"]}
    answer = await post_chat(api, body(messages=[message]))
    assert answer.status == 422
    assert answer.json["detail"] == "Provider 'anthropic' (Anthropic) does not accept video input"
    assert claude.requests == []


# --- how a reply ends -----------------------------------------------------------------------------


async def test_usage_counts_cached_input_as_prompt_tokens(
    api: httpx.AsyncClient, claude: FakeAnthropicVendor
) -> None:
    events = [
        message_start(input_tokens=10, cache_creation_input_tokens=100, cache_read_input_tokens=50),
        *text_block(0, "cached"),
        message_delta(
            output_tokens=3, input_tokens=10, cache_creation_input_tokens=100, cache_read_input_tokens=50
        ),
        message_stop(),
    ]
    claude.queue(Reply(events))
    answer = await ask(api)
    usage = answer.events[-2]["usage"]
    assert {
        "prompt_tokens": 160,
        "completion_tokens": 3,
        "total_tokens": 163,
        "cache_creation_input_tokens": 100,
        "cache_read_input_tokens": 50,
    }.items() <= usage.items()


@pytest.mark.parametrize(
    ("stop_reason", "finish_reason"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("refusal", "refusal"),
        ("pause_turn", "pause_turn"),
    ],
)
async def test_stop_reasons_are_mapped(
    api: httpx.AsyncClient, claude: FakeAnthropicVendor, stop_reason: str, finish_reason: str
) -> None:
    claude.queue(Reply(text_stream("Some text", stop_reason=stop_reason)))
    answer = await ask(api, stream=False)
    assert (answer.json["message"]["status"], answer.json["message"]["finish_reason"]) == (
        "complete",
        finish_reason,
    )


async def test_a_reply_cut_at_max_tokens_can_be_continued(
    api: httpx.AsyncClient, claude: FakeAnthropicVendor
) -> None:
    claude.queue(Reply(text_stream("The story beg", stop_reason="max_tokens")), Reply(text_stream("ins.")))
    first = await ask(api)
    message_id = first.events[1]["message_id"]
    assert (await stored_reply(api, first.events[0]["session_id"]))["finish_reason"] == "length"
    continued = await api.post(f"/api/v1/chat/{message_id}/continue", json={"stream": False})
    assert continued.status_code == 200
    assert continued.json()["message"]["content"] == "The story begins."
    sent = claude.last.body["messages"]
    assert sent[1] == {"role": "assistant", "content": [text("The story beg")]}
    assert sent[2]["role"] == "user"


# --- failures -------------------------------------------------------------------------------------


async def test_overloaded_mid_stream_ends_the_reply_with_an_error_and_keeps_the_text(
    api: httpx.AsyncClient, claude: FakeAnthropicVendor
) -> None:
    events = [
        message_start(),
        ping(),
        *text_block(0, "Partial an")[:-1],
        error_event("overloaded_error", "Overloaded"),
    ]
    claude.queue(Reply(events))
    answer = await ask(api)
    assert answer.text == "Partial an"
    assert answer.events[-2:] == [{"error": "anthropic: Overloaded (overloaded_error)"}, {"done": True}]
    stored = await stored_reply(api, answer.events[0]["session_id"])
    assert (stored["content"], stored["status"], stored["error"]) == (
        "Partial an",
        "error",
        "anthropic: Overloaded (overloaded_error)",
    )


async def test_overloaded_mid_stream_without_streaming_is_a_503(
    api: httpx.AsyncClient, claude: FakeAnthropicVendor
) -> None:
    claude.queue(Reply([message_start(), *text_block(0, "Partial")[:-1], error_event()]))
    answer = await ask(api, stream=False)
    assert answer.status == 503
    assert answer.json == {"detail": "anthropic: Overloaded (overloaded_error)", "provider": "anthropic"}


@pytest.mark.parametrize("stream", [True, False])
async def test_a_rejected_key_is_a_502_saying_so(
    api: httpx.AsyncClient, claude: FakeAnthropicVendor, stream: bool
) -> None:
    claude.queue(Reply(status=401, error=error_body(401, "invalid x-api-key")))
    detail, _ = await vendor_failure(api, body(stream=stream), 502)
    assert detail == "anthropic: the vendor rejected the API key (401): invalid x-api-key"


@pytest.mark.parametrize(
    ("vendor_status", "status", "message"),
    [
        (429, 429, "Number of request tokens has exceeded your per-minute rate limit"),
        (529, 503, "Overloaded"),
    ],
)
@pytest.mark.parametrize("stream", [True, False])
async def test_a_busy_vendor_is_retried_then_answered_with_its_status(
    serve: Serve, claude: FakeAnthropicVendor, vendor_status: int, status: int, message: str, stream: bool
) -> None:
    busy = Reply(
        status=vendor_status, error=error_body(vendor_status, message), headers={"retry-after-ms": "10"}
    )
    claude.queue(busy, busy, busy)
    async with serve(provider_max_retries=2) as http:
        detail, _ = await vendor_failure(http, body(stream=stream), status)
    assert detail == f"anthropic: {message}"
    assert len(claude.requests) == 3


async def test_an_overloaded_vendor_that_recovers_answers_on_a_retry(
    serve: Serve, claude: FakeAnthropicVendor
) -> None:
    claude.queue(Reply(status=529, headers={"retry-after-ms": "10"}), Reply(text_stream("second", " try")))
    async with serve(provider_max_retries=2) as http:
        answer = await ask(http)
    assert (answer.text, answer.events[-1]) == ("second try", {"done": True})
    assert len(claude.requests) == 2


async def test_an_invalid_request_is_a_400_with_anthropics_reason(
    api: httpx.AsyncClient, claude: FakeAnthropicVendor
) -> None:
    claude.queue(Reply(status=400, error=json.loads(wire("anthropic-error-400.json"))))
    detail, _ = await vendor_failure(api, body(stream=False), 400)
    assert detail == "anthropic: prompt is too long: 205351 tokens > 200000 maximum"


async def test_a_dropped_connection_mid_stream_is_an_error_event(
    api: httpx.AsyncClient, claude: FakeAnthropicVendor
) -> None:
    claude.queue(Reply([message_start(), *text_block(0, "Partial")[:-1]], drop=True))
    answer = await ask(api)
    assert answer.text == "Partial"
    assert answer.events[-2] == {
        "error": "anthropic: the connection to the vendor failed: the reply was cut off before its end"
    }


async def test_a_stream_that_ends_without_message_stop_is_an_error(
    api: httpx.AsyncClient, claude: FakeAnthropicVendor
) -> None:
    claude.queue(Reply([message_start(), *text_block(0, "Partial")]))
    answer = await ask(api)
    assert answer.text == "Partial"
    assert answer.events[-2] == {"error": "anthropic: the reply was cut off before its end (no message_stop)"}
    assert (await stored_reply(api, answer.events[0]["session_id"]))["status"] == "error"


# --- models ---------------------------------------------------------------------------------------


async def test_models_are_listed_page_by_page(api: httpx.AsyncClient, claude: FakeAnthropicVendor) -> None:
    claude.page_size = 1
    listed = (await api.get("/api/v1/models", params={"provider": "anthropic"})).json()
    assert [(m["id"], m["name"], m["fallback"]) for m in listed] == [
        ("claude-sonnet-4-5-20250929", "Claude Sonnet 4.5", False),
        ("claude-opus-4-1-20250805", "Claude Opus 4.1", False),
    ]
    assert [q.get("after_id") for q in claude.model_queries] == [None, "claude-sonnet-4-5-20250929"]
    await api.get("/api/v1/models", params={"provider": "anthropic"})
    assert len(claude.model_queries) == 2  # cached


@pytest.mark.parametrize("vendor_status", [401, 500])
async def test_model_list_falls_back_when_the_vendor_cannot_answer(
    api: httpx.AsyncClient, claude: FakeAnthropicVendor, vendor_status: int
) -> None:
    claude.models_status = vendor_status
    listed = (await api.get("/api/v1/models", params={"provider": "anthropic"})).json()
    assert [m["id"] for m in listed][:2] == ["claude-sonnet-4-5", "claude-opus-4-1"]
    assert all(m["fallback"] for m in listed)


@pytest.mark.parametrize(
    ("model", "version", "profile"),
    [
        ("claude-3-5-haiku-20241022", (3, 5), ModelProfile(thinking=False, budget=False, adaptive=False)),
        ("claude-3-7-sonnet-20250219", (3, 7), ModelProfile(adaptive=False)),
        ("claude-sonnet-4-20250514", (4, 0), ModelProfile(adaptive=False)),
        ("claude-sonnet-4-5-20250929", (4, 5), ModelProfile(adaptive=False)),
        ("claude-opus-4-6", (4, 6), ModelProfile()),
        ("claude-opus-4-7", (4, 7), ModelProfile(budget=False)),
        ("claude-sonnet-5", (5, 0), ModelProfile(budget=False)),
        ("claude-mythos-preview", None, ModelProfile()),
    ],
)
def test_profile_for_model_ids(model: str, version: tuple[int, int] | None, profile: ModelProfile) -> None:
    assert claude_version(model) == version
    assert profile_for(model) == profile


# --- what the lifecycle tests (run over Anthropic too) do not cover: thinking, pings, pauses ------


async def vendor_hung_up(claude: FakeAnthropicVendor) -> None:
    async with asyncio.timeout(5):
        while claude.disconnects < len(claude.requests):
            await asyncio.sleep(0.02)


async def test_a_reply_stopped_after_its_thinking_keeps_it_and_sends_it_back(
    api: httpx.AsyncClient, claude: FakeAnthropicVendor
) -> None:
    thinking = thinking_block(0, "r0 ", "r1 ", "r2 ", signature="sig")
    claude.queue(Reply(reply(thinking, text_block(1, *(f"w{i} " for i in range(100)))), delay=0.05))
    turn = await stream_turn(api, body(), stop_after=2)
    assert turn.session_id is not None
    seen = await reread(api, turn.session_id)
    assert (seen["status"], seen["content"], seen["thought_process"]) == ("stopped", "w0 w1 ", "r0 r1 r2 ")
    await ask(api, "go on", session_id=turn.session_id)
    assert claude.last.body["messages"][1]["content"] == [
        {"type": "thinking", "thinking": "r0 r1 r2 ", "signature": "sig"},
        text("w0 w1 "),
    ]


@pytest.mark.parametrize("stream", [True, False])
async def test_first_token_timeout_ends_the_reply_and_closes_upstream(
    serve: Serve, claude: FakeAnthropicVendor, stream: bool
) -> None:
    claude.queue(Reply([message_start(), ping()], stall=5))
    async with serve(first_token_timeout=0.3) as http:
        detail, _ = await vendor_failure(http, body(stream=stream), 504)
    assert detail.startswith("anthropic: ") and "FIRST_TOKEN_TIMEOUT" in detail
    await vendor_hung_up(claude)


async def test_an_open_stream_may_pause_longer_than_provider_timeout(
    serve: Serve, claude: FakeAnthropicVendor
) -> None:
    claude.queue(Reply(text_stream("after a pause", " and another"), delay=0.4))
    async with serve(provider_timeout=0.3) as http:
        answer = await ask(http)
    assert (answer.text, answer.events[-1]) == ("after a pause and another", {"done": True})


async def test_replies_one_after_another_reuse_one_vendor_connection(
    api: httpx.AsyncClient, claude: FakeAnthropicVendor
) -> None:
    for word in ("one", "two", "three"):
        claude.queue(Reply(text_stream(word), stall=0.05))  # the body ends a little after message_stop
        assert (await ask(api)).events[-1] == {"done": True}
    assert len({received.peer for received in claude.requests}) == 1
