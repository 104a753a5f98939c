"""End to end: `python main.py` as a real process, a chat streamed to the end, another abandoned early.

Both replies must end up complete in the session: the generation does not depend on the client.
"""

import json
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from httpx_sse import connect_sse

from tests.fakes.openai_vendor import FakeOpenAIVendor, Reply, text_stream
from tests.fakes.server import ServerThread
from tests.service_process import ServiceProcess

FIRST = ("The ", "quick ", "brown ", "fox ", "jumps ", "over ", "the ", "lazy ", "dog", ".")
SECOND = ("Pack ", "my ", "box ", "with ", "five ", "dozen ", "liquor ", "jugs", "!", " Done.")


@pytest.fixture
def vendor_url() -> Iterator[tuple[FakeOpenAIVendor, str]]:
    fake = FakeOpenAIVendor()
    # Paced like a real model: ten chunks 0.1 s apart, so each stream lasts about a second.
    fake.queue(Reply(text_stream(*FIRST), delay=0.1), Reply(text_stream(*SECOND), delay=0.1))
    with ServerThread(fake.app) as server:
        yield fake, f"{server.url}/v1"


@pytest.fixture
def service(tmp_path: Path, vendor_url: tuple[FakeOpenAIVendor, str]) -> Iterator[str]:
    """`python main.py` running on a free port; terminated with SIGTERM (killed if it hangs)."""
    process = ServiceProcess(
        tmp_path / "service.log",
        DATABASE_URL=f"sqlite:///{tmp_path / 'e2e.db'}",
        DEEPSEEK_API_KEY="e2e-key",
        DEEPSEEK_BASE_URL=vendor_url[1],
        UPLOAD_DIR=str(tmp_path / "uploads"),
        PROVIDER_MAX_RETRIES="0",
        SHUTDOWN_GRACE_SECONDS="2",
        NO_PROXY="127.0.0.1,localhost",
        # Pinned because a developer's .env in the repo root is still read for unset variables.
        API_PREFIX="/api/v1",
        DISCONNECT_POLICY="continue",
    )
    process.start(timeout=30)
    try:
        yield process.url
    finally:
        exit_code = process.stop()
    log = process.log_path.read_text()
    # uvicorn re-raises the captured SIGTERM once its shutdown is done, hence -SIGTERM;
    # -SIGKILL means it ignored SIGTERM and had to be killed.
    assert exit_code in (0, -signal.SIGTERM), f"exit code {exit_code}:\n{log}"
    assert "Application shutdown complete" in log


def chat_body(content: str, session_id: int | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "provider": "deepseek",
        "model": "deepseek-chat",
        "messages": [{"role": "user", "content": content}],
        "stream": True,
    }
    if session_id is not None:
        body["session_id"] = session_id
    return body


def wait_for_replies(http: httpx.Client, session_id: int, count: int) -> list[dict[str, Any]]:
    """The session's assistant messages once `count` of them have ended (bounded)."""
    deadline = time.monotonic() + 20
    replies: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        detail = http.get(f"/api/v1/sessions/{session_id}").raise_for_status().json()
        replies = [m for m in detail["messages"] if m["role"] == "assistant"]
        if len(replies) == count and all(m["status"] != "streaming" for m in replies):
            return replies
        time.sleep(0.1)
    pytest.fail(f"replies still streaming after 20 s: {replies}")


@pytest.mark.timeout(90)
def test_replies_are_complete_in_the_session_whether_or_not_the_client_stayed(service: str) -> None:
    with httpx.Client(base_url=service, timeout=10, trust_env=False) as http:
        with connect_sse(http, "POST", "/api/v1/chat", json=chat_body("Say a pangram")) as source:
            assert source.response.status_code == 200
            events = [json.loads(event.data) for event in source.iter_sse()]
        assert events[0].keys() == {"session_id"}
        assert events[-1] == {"done": True}
        assert "".join(e["content"] for e in events if "content" in e) == "".join(FIRST)
        session_id = events[0]["session_id"]

        with connect_sse(http, "POST", "/api/v1/chat", json=chat_body("Another", session_id)) as source:
            early: list[dict[str, Any]] = []
            for event in source.iter_sse():
                early.append(json.loads(event.data))
                if "content" in early[-1]:
                    break  # leaving the block closes the connection mid-stream
        assert early[-1] == {"content": SECOND[0]}

        first, second = wait_for_replies(http, session_id, count=2)
        assert (first["status"], first["content"]) == ("complete", "".join(FIRST))
        assert (second["status"], second["content"]) == ("complete", "".join(SECOND))
        assert second["finish_reason"] == "stop"
