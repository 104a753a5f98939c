"""Schemathesis over /openapi.json: every operation, every check, a bounded number of examples.

Each status a route answers with must be documented, what the schema declares valid must be
accepted and what it declares invalid refused, and a 405 must name the path's methods in `Allow`.
The app is called in process (schemathesis's ASGI transport); every vendor is a local fake, and
sockets may connect to loopback addresses only.
"""

import ipaddress
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import strategies as st
from schemathesis.python import asgi

from app_factory import create_app
from config import Settings
from provider_registry import PROVIDERS
from providers.doubao import DoubaoProvider
from tests import media_samples as samples
from tests.fakes import ollama_vendor
from tests.fakes.ark_vendor import FakeArkVendor
from tests.fakes.gemini_vendor import FakeGeminiVendor
from tests.fakes.ollama_vendor import FakeOllamaVendor
from tests.fakes.openai_vendor import FakeOpenAIVendor
from tests.fakes.server import ServerThread

EXAMPLES = 30

# Schemathesis's default for `positive_data_acceptance`, widened below for two operations only.
ACCEPTED = ["2xx", "3xx", "401", "403", "404", "409", "429", "5xx"]

CONFIG = schemathesis.Config.from_dict(
    {
        "generation": {"max-examples": EXAMPLES, "deterministic": True, "database": "none"},
        "phases": {"stateful": {"max-steps": 10}},
        "request-timeout": 10,
        "operations": [
            # Whether a chat turn can be served depends on more than its body's schema: an
            # `/uploads/` reference must name a stored file and a data: URL hold base64 (400), each
            # provider takes only some media kinds (422), and a vendor refuses a model it does not
            # know (400; the fake Gemini has no route for a model name with a slash).
            {
                "include-path": "/api/v1/chat",
                "include-method": "POST",
                "checks": {"positive_data_acceptance": {"expected-statuses": [*ACCEPTED, "400", "422"]}},
            },
            # A chat of the simple API is a session of the main one: DELETE /api/v1/sessions/{id}
            # removes it too, which schemathesis cannot link to the chat it deleted, so a 404 after
            # such a chain looks to it like a created chat gone missing.
            {
                "include-path": "/chat/history/{chat_id}",
                "checks": {"ensure_resource_availability": {"enabled": False}},
            },
            # Seed 003's chats are named by a session id, the simple API's by a chat id of text, and
            # both path parameters are `chat_id`: schemathesis links one to the other by name, and
            # a text id in an integer path parameter is a 422.
            {
                "include-path-regex": "^/chats/\\{chat_id\\}",
                "checks": {"positive_data_acceptance": {"expected-statuses": [*ACCEPTED, "422"]}},
            },
            # A user's key for a vendor that takes none (a local Ollama) is a 400.
            {
                "include-path": "/user/keys",
                "include-method": "POST",
                "checks": {"positive_data_acceptance": {"expected-statuses": [*ACCEPTED, "400"]}},
            },
            # The front door's calls, likewise: a random model is a 404, a vendor may refuse it (400).
            {
                "include-path": "/v1/chat/completions",
                "include-method": "POST",
                "checks": {"positive_data_acceptance": {"expected-statuses": [*ACCEPTED, "400"]}},
            },
            # A usage period whose `from` is not before its `to` is refused; the schema cannot say so.
            {
                "include-path": "/api/v1/usage",
                "checks": {"positive_data_acceptance": {"expected-statuses": [*ACCEPTED, "422"]}},
            },
            # A message of a session is not a resource of it that schemathesis can link: a session
            # just created has none, so these answer 404 for any message id it picks.
            *(
                {
                    "include-path": f"/api/v1/sessions/{{session_id}}{path}",
                    "checks": {"ensure_resource_availability": {"enabled": False}},
                }
                for path in (
                    "/leaf",
                    "/messages/{message_id}/siblings",
                    "/messages/{message_id}/edit",
                    "/messages/{message_id}/regenerate",
                )
            ),
            # Whether a file is an archive is beyond its part's schema (any bytes): 422 names what is wrong.
            {
                "include-path": "/api/v1/import",
                "checks": {"positive_data_acceptance": {"expected-statuses": [*ACCEPTED, "422"]}},
            },
            # Seed 003's edit takes user messages; a reply's id (any id may name one) is a 422.
            {
                "include-path": "/messages/{message_id}",
                "include-method": "PATCH",
                "checks": {"positive_data_acceptance": {"expected-statuses": [*ACCEPTED, "422"]}},
            },
            # Continuing a reply asks its vendor again, for the model the reply was made with.
            {
                "include-path": "/api/v1/chat/{message_id}/continue",
                "checks": {"positive_data_acceptance": {"expected-statuses": [*ACCEPTED, "400"]}},
            },
        ],
    }
)

# Files the upload's schema declares (its part's content types), as real files of those types.
for mime, data in {
    "image/png": samples.png(),
    "image/jpeg": samples.jpeg(),
    "audio/wav": samples.wav(),
    "video/mp4": samples.mp4(),
}.items():
    schemathesis.openapi.media_type(mime, st.just(data))


def fuzz_settings(upload_dir: Path, openai: str, gemini: str, ark: str, ollama: str) -> Settings:
    """Every vendor configured and pointed at a fake: OpenAI-compatible ones, Gemini, Ark, Ollama.

    The simple chat API's new chats go to a model the fake Ollama has pulled.
    """
    values: dict[str, Any] = {
        "database_url": f"sqlite:///{upload_dir.parent / 'chat.db'}",
        "upload_dir": upload_dir,
        "provider_max_retries": 0,
        "extra_providers": {},
        "http_proxy": None,
        "system_prompt_file": upload_dir.parent / "system_prompt.txt",
        "default_model": ollama_vendor.MODEL,
    }
    for cls in PROVIDERS.values():
        if cls.key_setting:
            values[cls.key_setting] = "test-key"
        if cls.base_url_setting:
            values[cls.base_url_setting] = openai
    values.update(gemini_base_url=gemini, doubao_base_url=ark, ollama_base_url=ollama)
    values["encryption_key"] = "fRY3l3k7Yc0dI7Q3bE3O1cE9Bq6p5u5rB0tJ3m1rP2k="
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


# Schemathesis makes its tests from the schema at collection time; only the app it calls needs the
# fakes. Nothing listens at this address: the app built here is never served.
UNUSED = "http://127.0.0.1:9"
SPEC = create_app(fuzz_settings(Path(__file__).parents[1] / "uploads", *[UNUSED] * 4)).openapi()
schema = schemathesis.openapi.from_dict(SPEC, config=CONFIG)


def _loopback_only(connect: Any) -> Any:
    def guarded(sock: socket.socket, address: Any) -> Any:
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            try:
                loopback = ipaddress.ip_address(address[0]).is_loopback
            except ValueError:  # a host name: resolving it would already leave the machine
                loopback = False
            if not loopback:
                raise OSError(f"this test may not connect to {address!r}")
        return connect(sock, address)

    return guarded


@pytest.fixture(scope="module")
def fuzzed_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    """One app for every operation, so that later calls meet the sessions and replies of earlier ones."""
    tmp = tmp_path_factory.mktemp("fuzz")
    openai, gemini, ark, ollama = FakeOpenAIVendor(), FakeGeminiVendor(), FakeArkVendor(), FakeOllamaVendor()
    with (
        pytest.MonkeyPatch.context() as patch,
        ServerThread(openai.app) as openai_server,
        ServerThread(gemini.app) as gemini_server,
        ServerThread(ark.app) as ark_server,
        ServerThread(ollama.app) as ollama_server,
    ):
        patch.setattr(socket.socket, "connect", _loopback_only(socket.socket.connect))
        patch.setattr(DoubaoProvider, "poll_interval", 0.01)
        settings = fuzz_settings(
            tmp / "uploads",
            f"{openai_server.url}/v1",
            gemini_server.url,
            f"{ark_server.url}/api/v3",
            ollama_server.url,
        )
        app = create_app(settings)
        assert app.openapi() == SPEC
        try:
            yield app
        finally:
            # Schemathesis started the app's lifespan on its first call, and keeps it otherwise.
            asgi.shutdown_lifespans()


@pytest.mark.timeout(60)
@schema.parametrize()
def test_every_operation_keeps_to_its_openapi_schema(case: schemathesis.Case, fuzzed_app: FastAPI) -> None:
    case.call_and_validate(app=fuzzed_app)


@pytest.mark.timeout(60)
def test_chains_of_calls_keep_to_the_openapi_schema(fuzzed_app: FastAPI) -> None:
    """Schemathesis's stateful phase: calls linked by the ids earlier answers returned."""

    class Workflow(schema.as_state_machine()):  # type: ignore[misc]
        def get_call_kwargs(self, case: schemathesis.Case) -> dict[str, Any]:
            return {"app": fuzzed_app}

    Workflow.run(settings=schema.config.get_hypothesis_settings())
