from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app_factory import create_app
from config import Settings
from provider_registry import PROVIDERS
from tests.fakes.openai_vendor import FakeOpenAIVendor
from tests.fakes.server import ServerThread

SettingsFactory = Callable[..., Settings]


@pytest.fixture
def vendor() -> Iterator[FakeOpenAIVendor]:
    fake = FakeOpenAIVendor()
    with ServerThread(fake.app) as server:
        fake.url = f"{server.url}/v1"  # type: ignore[attr-defined]
        yield fake


@pytest.fixture
def make_settings(tmp_path: Path, vendor: FakeOpenAIVendor) -> SettingsFactory:
    """Settings with a temp database and every OpenAI-compatible vendor pointed at the fake."""

    def build(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "database_url": f"sqlite:///{tmp_path / 'chat.db'}",
            "provider_max_retries": 0,
            "extra_providers": {},
        }
        for cls in PROVIDERS.values():
            values[cls.key_setting] = "test-key"
            if cls.base_url_setting:
                values[cls.base_url_setting] = vendor.url  # type: ignore[attr-defined]
        values.update(overrides)
        return Settings(_env_file=None, **values)  # type: ignore[call-arg]

    return build


@pytest.fixture
def settings(make_settings: SettingsFactory) -> Settings:
    return make_settings()


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client talking to the service, served for real on 127.0.0.1."""
    with ServerThread(create_app(settings), lifespan="on") as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
            yield http
