"""`python main.py`: serve the app with uvicorn on BACKEND_HOST:BACKEND_PORT."""

import logging

import uvicorn

from app_factory import create_app
from config import load_settings


def main() -> None:
    settings = load_settings()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    uvicorn.run(
        create_app(settings),
        host=settings.backend_host,
        port=settings.backend_port,
        timeout_graceful_shutdown=int(settings.shutdown_grace_seconds) + 1,
    )


if __name__ == "__main__":
    main()
