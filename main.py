"""`python main.py`: serve the app with uvicorn on BACKEND_HOST:BACKEND_PORT."""

import asyncio
import gc
import logging
import socket
from types import FrameType

import uvicorn
from fastapi import FastAPI

from app_factory import create_app
from config import Settings, load_settings
from generation.manager import GenerationManager
from observability.logs import configure_logging


class DrainingServer(uvicorn.Server):
    """On SIGTERM/SIGINT, first refuse new chats and finalize running replies, then stop serving.

    Plain uvicorn would stop accepting and wait on open streams; here the generations get
    SHUTDOWN_GRACE_SECONDS to finish and are then stored as `interrupted`, so no reply is lost.
    """

    def __init__(self, config: uvicorn.Config, app: FastAPI, grace: float) -> None:
        super().__init__(config)
        self.app = app
        self.grace = grace
        self._loop: asyncio.AbstractEventLoop | None = None
        self._draining = False
        self._drain_task: asyncio.Task[None] | None = None

    async def serve(self, sockets: list[object] | None = None) -> None:  # type: ignore[override]
        self._loop = asyncio.get_running_loop()
        await super().serve(sockets)  # type: ignore[arg-type]

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        # What exists now (modules, the app, vendor clients) lives as long as the process. Frozen,
        # it is left out of every full garbage collection, which under load would otherwise walk
        # these ~200,000 objects again each time, the event loop standing still meanwhile.
        gc.collect()
        gc.freeze()

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        manager: GenerationManager | None = getattr(self.app.state, "manager", None)
        loop = self._loop
        if self._draining or manager is None or loop is None:
            super().handle_exit(sig, frame)
            return
        self._draining = True
        self._captured_signals.append(sig)
        # Signal handlers run between bytecodes: hand the work to the loop rather than touch it here.
        loop.call_soon_threadsafe(self._start_drain, manager)

    def _start_drain(self, manager: GenerationManager) -> None:
        self._drain_task = asyncio.create_task(self._drain(manager))

    async def _drain(self, manager: GenerationManager) -> None:
        try:
            await manager.drain(self.grace)
        finally:
            self.should_exit = True


def serve(settings: Settings) -> None:
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=settings.backend_host,
        port=settings.backend_port,
        timeout_graceful_shutdown=int(settings.shutdown_grace_seconds) + 5,
        # No permessage-deflate on WebSockets: a token frame is a few dozen bytes, and compressing
        # each one cost more CPU than relaying it (2.7x SSE's per chunk) plus a zlib context per socket.
        ws_per_message_deflate=False,
        # JSON logs: uvicorn's own loggers go to the root's JSON handler rather than their own.
        log_config=None if settings.log_format == "json" else uvicorn.config.LOGGING_CONFIG,
    )
    DrainingServer(config, app, settings.shutdown_grace_seconds).run()


def main() -> None:
    settings = load_settings()
    configure_logging(settings.log_format)
    # A line per vendor request would double the log of every chat; vendor failures are logged
    # (and stored with the reply) by the service itself.
    logging.getLogger("httpx2").setLevel(logging.WARNING)
    # Alembic lists its plugins at INFO on every start; its migration log stays.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    serve(settings)


if __name__ == "__main__":
    main()
