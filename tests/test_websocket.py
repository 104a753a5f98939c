"""Seed 003's WebSocket streaming: send, stream, drop, resume, abort, continue, bad frames, slow readers.

Against the service served for real on 127.0.0.1, with the `websockets` client library.
"""

import asyncio
import base64
import contextlib
import json
import os
import socket

import httpx
import pytest
from websockets.asyncio.client import connect

from app_factory import create_app
from tests.accounts import required, sign_up
from tests.conftest import ServeApp, SettingsFactory
from tests.fakes.openai_vendor import FakeOpenAIVendor, Reply, text_stream
from tests.fakes.server import ServerThread
from tests.ws import Socket, new_session, opened, socket_url, tokens

pytestmark = pytest.mark.timeout(30)

WORDS = "".join(f"w{i} " for i in range(20))


def paced(vendor: FakeOpenAIVendor, count: int, delay: float = 0.05) -> str:
    vendor.queue(Reply(text_stream(*(f"w{i} " for i in range(count))), delay=delay, wait=delay))
    return "".join(f"w{i} " for i in range(count))


async def session_messages(http: httpx.AsyncClient, session_id: int) -> list[dict[str, object]]:
    response = await http.get(f"/api/v1/sessions/{session_id}")
    assert response.status_code == 200
    messages: list[dict[str, object]] = response.json()["messages"]
    return messages


async def test_a_message_sent_on_the_socket_streams_its_reply_and_is_stored(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor
) -> None:
    session_id = await new_session(client)
    async with opened(client, session_id) as socket:
        await socket.send({"type": "stream_message", "content": "Hello there", "temperature": 0.3})
        frames = await socket.until("stream_complete")
    start, *middle, complete = frames
    assert start["type"] == "stream_start"
    assert (start["session_id"], start["status"]) == (session_id, "streaming")
    reply_id = start["message_id"]
    assert [f["type"] for f in middle] == ["token", "token", "usage"]
    assert tokens(frames) == "Hello world"
    assert all(f["token"] == f["content"] and f["message_id"] == reply_id for f in middle[:2])
    numbers = [f["event"] for f in frames]
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)
    assert (complete["message_id"], complete["status"], complete["finish_reason"]) == (
        reply_id,
        "complete",
        "stop",
    )
    assert complete["content"] == "Hello world"
    stored = await session_messages(client, session_id)
    assert [(m["role"], m["content"]) for m in stored] == [
        ("user", "Hello there"),
        ("assistant", "Hello world"),
    ]
    assert stored[1]["id"] == reply_id and stored[1]["parent_id"] == stored[0]["id"]
    assert vendor.requests[0].body["temperature"] == 0.3


async def test_a_dropped_socket_keeps_the_reply_and_a_new_one_resumes_after_the_last_event(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor
) -> None:
    text = paced(vendor, 20, 0.03)
    session_id = await new_session(client)
    async with opened(client, session_id) as socket:
        await socket.send({"type": "stream_message", "content": "count"})
        head = [await socket.receive() for _ in range(4)]  # stream_start and three tokens
    reply_id, last = head[0]["message_id"], head[-1]["event"]
    async with opened(client, session_id) as socket:
        await socket.send({"type": "resume", "message_id": reply_id, "last_event": last})
        rest = await socket.until("stream_complete", reply_id)
    assert tokens(head) + tokens(rest) == text
    assert rest[0]["event"] > last
    assert (rest[-1]["status"], rest[-1]["content"]) == ("complete", text)
    assert vendor.completed == 1
    # Once ended and stored, the reply is replayed from its row, to the same end.
    async with opened(client, session_id) as socket:
        await socket.send({"type": "resume", "message_id": reply_id, "last_event": 2})
        replayed = await socket.until("stream_complete", reply_id)
    assert (tokens(replayed), replayed[-1]["status"]) == (text, "complete")


async def test_an_abort_frame_stops_the_reply_with_what_it_had(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor
) -> None:
    paced(vendor, 200)
    session_id = await new_session(client)
    async with opened(client, session_id) as socket:
        await socket.send({"type": "stream_message", "content": "go on"})
        head = await socket.until("token")
        reply_id = head[0]["message_id"]
        await socket.send({"type": "abort", "message_id": reply_id})
        frames = await socket.until("stream_complete", reply_id)
    complete = frames[-1]
    assert (complete["status"], complete["finish_reason"]) == ("stopped", "stopped by user")
    assert complete["content"] == tokens(head + frames)
    stored = (await session_messages(client, session_id))[-1]
    assert (stored["status"], stored["content"]) == ("stopped", complete["content"])


async def test_abort_and_continue_over_http_reach_the_reply_streaming_on_the_socket(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor
) -> None:
    paced(vendor, 200)
    session_id = await new_session(client)
    async with opened(client, session_id) as socket:
        await socket.send({"type": "stream_message", "content": "go on"})
        head = await socket.until("token")
        reply_id = head[0]["message_id"]
        stopped = await client.post(f"/stream/{reply_id}/abort")
        assert stopped.status_code == 200
        assert stopped.json()["status"] == "stopped"
        cut = await socket.until("stream_complete", reply_id)
        partial = cut[-1]["content"]
        assert cut[-1]["status"] == "stopped" and partial
        vendor.queue(Reply(text_stream(" and", " the rest")))
        continued = await client.post(f"/stream/{reply_id}/continue")
        assert continued.status_code == 202
        assert continued.json() == {"message_id": reply_id, "session_id": session_id, "status": "streaming"}
        more = await socket.until("stream_complete", reply_id)
    assert tokens(more) == " and the rest"
    assert (more[-1]["status"], more[-1]["content"]) == ("complete", partial + " and the rest")
    # The continuation's context is the reply so far, then the request to go on.
    sent = vendor.requests[-1].body["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "user"]
    assert sent[1]["content"] == partial
    again = await client.post(f"/stream/{reply_id}/abort")
    assert again.status_code == 409
    assert again.json()["detail"] == f"Message {reply_id} is not generating (status: complete)"


async def test_a_continue_frame_streams_the_continuation_on_the_same_socket(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor
) -> None:
    paced(vendor, 200)
    session_id = await new_session(client)
    async with opened(client, session_id) as socket:
        await socket.send({"type": "stream_message", "content": "go on"})
        reply_id = (await socket.until("token"))[0]["message_id"]
        await socket.send({"type": "abort", "message_id": reply_id})
        partial = (await socket.until("stream_complete", reply_id))[-1]["content"]
        vendor.queue(Reply(text_stream(" done")))
        await socket.send({"type": "continue", "message_id": reply_id})
        frames = await socket.until("stream_complete", reply_id)
        await socket.send({"type": "continue", "message_id": reply_id})
        refused = await socket.receive()
    assert frames[0]["type"] == "stream_start"
    assert (frames[-1]["status"], frames[-1]["content"]) == ("complete", partial + " done")
    assert refused["type"] == "error" and refused["status"] == 409
    assert refused["message_id"] == reply_id
    assert "only stopped, error, interrupted or length-limited replies can be continued" in refused["error"]


async def test_two_replies_stream_on_one_socket_told_apart_by_message_id(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor
) -> None:
    first, second = paced(vendor, 10, 0.04), paced(vendor, 10, 0.04)
    session_id = await new_session(client)
    async with opened(client, session_id) as socket:
        await socket.send({"type": "stream_message", "content": "one"})
        await socket.send({"type": "stream_message", "content": "two"})
        frames: list[dict[str, object]] = []
        done: set[object] = set()
        async with asyncio.timeout(10):
            while len(done) < 2:
                frame = await socket.receive()
                frames.append(frame)
                if frame["type"] == "stream_complete":
                    done.add(frame["message_id"])
    starts = [f["message_id"] for f in frames if f["type"] == "stream_start"]
    assert len(starts) == 2 and set(starts) == done
    kinds = [f["message_id"] for f in frames if f["type"] == "token"]
    assert kinds != sorted(kinds)  # interleaved: both streamed at once
    assert {tokens(frames, starts[0]), tokens(frames, starts[1])} == {first, second}


@pytest.mark.parametrize(
    ("frame", "problem"),
    [
        ("not json {", "frame is not JSON: "),
        ("[1, 2]", 'a frame is a JSON object with a "type"'),
        (
            json.dumps({"type": "shout"}),
            "unknown frame type 'shout': the known types are auth, stream_message",
        ),
        (json.dumps({"content": "x"}), "unknown frame type None"),
        (json.dumps({"type": "stream_message"}), "invalid stream_message frame: content: Field required"),
        (json.dumps({"type": "resume"}), "invalid resume frame: message_id: Field required"),
        (
            json.dumps({"type": "stream_message", "content": "x", "temperature": 9}),
            "invalid stream_message frame: temperature: Input should be less than or equal to 2",
        ),
        (
            json.dumps({"type": "stream_message", "content": "x" * 5000}),
            "frame of 5041 bytes is over the limit of 4096 bytes (WS_MAX_FRAME_BYTES)",
        ),
        (b"\x00\x01", "binary frames are not taken"),
    ],
)
async def test_a_bad_frame_gets_an_error_frame_naming_it_and_the_socket_stays_open(
    make_settings: SettingsFactory,
    serve: ServeApp,
    vendor: FakeOpenAIVendor,
    frame: str | bytes,
    problem: str,
) -> None:
    async with serve(make_settings(ws_max_frame_bytes=4096)) as http:
        session_id = await new_session(http)
        async with opened(http, session_id) as socket:
            await socket.send(frame)
            error = await socket.receive()
            await socket.send({"type": "stream_message", "content": "still there?"})
            after = await socket.until("stream_complete")
    assert error["type"] == "error"
    assert error["error"].startswith(problem), error
    assert (after[-1]["status"], after[-1]["content"]) == ("complete", "Hello world")


async def test_refusals_of_a_turn_are_error_frames(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor
) -> None:
    session_id = await new_session(client)
    async with opened(client, session_id) as socket:
        await socket.send({"type": "stream_message", "content": "x", "provider": "nope"})
        unknown = await socket.receive()
        await socket.send({"type": "stream_message", "content": "x", "parent_message_id": 999})
        no_parent = await socket.receive()
        await socket.send({"type": "resume", "message_id": 999})
        no_reply = await socket.receive()
    assert (unknown["type"], unknown["status"]) == ("error", 400)
    assert "nope" in unknown["error"]
    assert no_parent == {
        "type": "error",
        "error": f"Message 999 not found in session {session_id}",
        "status": 404,
    }
    assert (no_reply["error"], no_reply["message_id"]) == (
        f"Assistant message 999 not found in session {session_id}",
        999,
    )
    assert vendor.requests == []


async def test_a_socket_to_a_session_that_does_not_exist_says_so_and_closes(
    client: httpx.AsyncClient,
) -> None:
    async with opened(client, 424242) as socket:
        error = await socket.receive()
        async with asyncio.timeout(5):
            await socket.connection.wait_closed()
    assert error == {"type": "error", "error": "Session 424242 not found", "status": 404}
    assert socket.connection.close_code == 4404


@pytest.mark.parametrize("how", ["query", "first frame"])
async def test_a_token_is_taken_as_a_query_parameter_or_a_first_auth_frame(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor, how: str
) -> None:
    session_id = await new_session(client)
    suffix = "?token=t0ken" if how == "query" else ""
    async with connect(socket_url(client, f"/stream/{session_id}{suffix}"), open_timeout=10) as connection:
        socket = Socket(connection)
        if how == "first frame":
            await socket.send({"type": "auth", "token": "t0ken"})
            assert await socket.receive() == {"type": "authenticated"}
        await socket.send({"type": "stream_message", "content": "hi"})
        frames = await socket.until("stream_complete")
    assert frames[-1]["content"] == "Hello world"


@pytest.mark.parametrize("how", ["query", "first frame"])
async def test_with_accounts_a_socket_streams_its_owners_session_and_nobody_elses(
    serve: ServeApp, make_settings: SettingsFactory, vendor: FakeOpenAIVendor, how: str
) -> None:
    async with serve(make_settings(**required())) as http:
        ada, bob = await sign_up(http, "ada"), await sign_up(http, "bob")
        made = await http.post(
            "/api/v1/sessions",
            json={"title": "t", "provider": "deepseek", "model": "deepseek-chat"},
            headers=ada.headers,
        )
        session_id = made.json()["id"]

        async def connected(token: str) -> Socket:
            suffix = f"?token={token}" if how == "query" else ""
            connection = await connect(socket_url(http, f"/stream/{session_id}{suffix}"), open_timeout=10)
            socket = Socket(connection)
            if how == "first frame":
                await socket.send({"type": "auth", "token": token})
            return socket

        owner = await connected(ada.access_token)
        if how == "first frame":
            assert await owner.receive() == {"type": "authenticated"}
        await owner.send({"type": "stream_message", "content": "hi"})
        assert (await owner.until("stream_complete"))[-1]["content"] == "Hello world"
        await owner.connection.close()
        # Another account's socket finds no such session, as one that does not exist.
        other = await connected(bob.access_token)
        refused = await other.receive()
        assert (refused["type"], refused["status"]) == ("error", 404)
        await other.connection.wait_closed()
        assert other.connection.close_code == 4404
        # No token at all: the first frame is not an `auth` one, and the socket is closed as a 401.
        async with connect(socket_url(http, f"/stream/{session_id}"), open_timeout=10) as connection:
            anonymous = Socket(connection)
            await anonymous.send({"type": "stream_message", "content": "hi"})
            refused = await anonymous.receive()
            await connection.wait_closed()
        assert (refused["type"], refused["status"], connection.close_code) == ("error", 401, 4401)
    assert len(vendor.requests) == 1


def unread_socket(port: int, path: str, frame: dict[str, object]) -> socket.socket:
    """A WebSocket client that opens, sends `frame`, and then never reads (receive buffer: 64 KB)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    answer = b""
    while b"\r\n\r\n" not in answer:
        answer += sock.recv(1)  # byte by byte: nothing after the handshake is read
    assert answer.startswith(b"HTTP/1.1 101"), answer
    payload, mask = json.dumps(frame).encode(), os.urandom(4)
    assert len(payload) < 126
    masked = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
    sock.sendall(bytes([0x81, 0x80 | len(payload)]) + mask + masked)
    return sock


async def test_a_client_that_stops_reading_holds_a_bounded_outbox_while_its_reply_completes(
    make_settings: SettingsFactory, vendor: FakeOpenAIVendor
) -> None:
    # 5,000 chunks of 2 KB: far more than the socket buffers hold (the server's send buffer grows
    # to 4 MB here; the client's receive buffer is held at 64 KB) and the outbox's 16 frames.
    pieces = [f"{i:05d}" + "x" * 2000 for i in range(5000)]
    vendor.queue(Reply(text_stream(*pieces), split=1 << 16))
    app = create_app(make_settings(ws_send_queue=16))
    with ServerThread(app, lifespan="on") as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
            session_id = await new_session(http)
            frame = {"type": "stream_message", "content": "a lot"}
            with contextlib.closing(unread_socket(server.port, f"/stream/{session_id}", frame)):
                async with asyncio.timeout(20):
                    while not (stored := await session_messages(http, session_id)) or (
                        stored[-1]["status"] != "complete"
                    ):
                        await asyncio.sleep(0.1)
                reply = stored[-1]
                (stream,) = app.state.sockets.of(session_id)
                # Once the socket's buffers are full, the relay stops where it is.
                async with asyncio.timeout(5):
                    while True:
                        sent = stream.sent[reply["id"]]
                        await asyncio.sleep(0.3)
                        if stream.sent[reply["id"]] == sent:
                            break
                # The reply is whole in the database while the socket is paused. The server holds
                # for it the frame being sent and at most the outbox's 16 more (the queue is
                # bounded), and its relay has stopped short of the log's end instead of copying
                # the reply into memory for the socket.
                assert reply["content"] == "".join(pieces)
                assert stream.buffered <= 16
                assert 0 < sent < len(pieces) - 16


async def test_with_disconnect_policy_stop_a_dropped_socket_stops_its_reply(
    make_settings: SettingsFactory, serve: ServeApp, vendor: FakeOpenAIVendor
) -> None:
    paced(vendor, 200)
    async with serve(make_settings(disconnect_policy="stop")) as http:
        session_id = await new_session(http)
        async with opened(http, session_id) as socket:
            await socket.send({"type": "stream_message", "content": "go on"})
            head = [await socket.receive() for _ in range(4)]
        async with asyncio.timeout(10):
            while (reply := (await session_messages(http, session_id))[-1])["status"] == "streaming":
                await asyncio.sleep(0.05)
    assert (reply["status"], reply["finish_reason"]) == ("stopped", "stopped by user")
    assert str(reply["content"]).startswith(tokens(head))
    assert len(str(reply["content"])) < len("".join(f"w{i} " for i in range(200)))
