"""The reference relay: a bare Starlette app that streams the upstream body through unchanged.

`python -m bench.bare_relay --port N --upstream http://127.0.0.1:M/v1` forwards
`POST /v1/chat/completions` with one pooled httpx2 client and yields the raw bytes as they come:
no parsing, no database, no event log. It runs under uvicorn with the same defaults as
`python main.py`, so the gap between it and the service is what the service itself adds.
"""

import argparse
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx2
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route


def create_app(upstream: str, max_connections: int) -> Starlette:
    limits = httpx2.Limits(max_connections=max_connections, max_keepalive_connections=200)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with httpx2.AsyncClient(base_url=upstream, limits=limits, timeout=60) as client:
            app.state.client = client
            yield

    async def relay(request: Request) -> Response:
        client: httpx2.AsyncClient = request.app.state.client
        upstream_request = client.build_request(
            "POST",
            "/chat/completions",
            content=await request.body(),
            headers={"content-type": "application/json", "authorization": "Bearer bench"},
        )
        upstream = await client.send(upstream_request, stream=True)

        async def body() -> AsyncIterator[bytes]:
            try:
                async for data in upstream.aiter_raw():
                    yield data
            finally:
                await upstream.aclose()

        return StreamingResponse(
            body(), status_code=upstream.status_code, media_type=upstream.headers.get("content-type")
        )

    return Starlette(routes=[Route("/v1/chat/completions", relay, methods=["POST"])], lifespan=lifespan)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True, help="the vendor's base URL, ending in /v1")
    parser.add_argument("--max-connections", type=int, default=2000)
    args = parser.parse_args()
    uvicorn.run(create_app(args.upstream, args.max_connections), host="127.0.0.1", port=args.port)


if __name__ == "__main__":
    main()
