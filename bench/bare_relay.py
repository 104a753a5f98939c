"""The reference relay: a bare Starlette app that streams the upstream body through unchanged.

`python -m bench.bare_relay --port N --upstream http://127.0.0.1:M/v1` forwards
`POST /v1/chat/completions` (to `/chat/completions` below --upstream), `POST /v1/messages`
(Anthropic) and `POST /api/chat` (Ollama; both to the same path at --upstream's host root, where
those vendors' base URLs point) with one pooled httpx2 client and yields the raw bytes as they
come: no parsing, no database, no event log. It runs under uvicorn with the same defaults as
`python main.py`.

`--transport httpx2` (the default) reads the vendor through httpx2's own transport: the reference
relay the benchmark's targets are set against. `--transport aiohttp` reads it through the aiohttp
transport the service uses (providers/base.py, vendor_http_client), so the gap between that relay
and the service is what the service itself adds.
"""

import argparse
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx2
import openai
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

# Our path -> the vendor's: below --upstream (a relative path), or at its host root (an absolute one).
ROUTES = {
    "/v1/chat/completions": "chat/completions",
    "/v1/messages": "/v1/messages",
    "/api/chat": "/api/chat",
}

TRANSPORTS: dict[str, type[httpx2.AsyncClient]] = {
    "httpx2": httpx2.AsyncClient,
    "aiohttp": openai.DefaultAioHttpClient,
}


def create_app(upstream: str, max_connections: int, transport: str = "httpx2") -> Starlette:
    limits = httpx2.Limits(max_connections=max_connections, max_keepalive_connections=200)
    client_class = TRANSPORTS[transport]
    base = httpx2.URL(upstream)
    targets = {
        ours: base.join(theirs if theirs.startswith("/") else f"{base.path.rstrip('/')}/{theirs}")
        for ours, theirs in ROUTES.items()
    }

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with client_class(base_url=upstream, limits=limits, timeout=60) as client:
            app.state.client = client
            yield

    async def relay(request: Request) -> Response:
        client: httpx2.AsyncClient = request.app.state.client
        upstream_request = client.build_request(
            "POST",
            targets[request.url.path],
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

    routes = [Route(path, relay, methods=["POST"]) for path in ROUTES]
    return Starlette(routes=routes, lifespan=lifespan)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True, help="the vendor's base URL, ending in /v1")
    parser.add_argument("--max-connections", type=int, default=2000)
    parser.add_argument("--transport", choices=TRANSPORTS, default="httpx2")
    args = parser.parse_args()
    app = create_app(args.upstream, args.max_connections, args.transport)
    uvicorn.run(app, host="127.0.0.1", port=args.port)


if __name__ == "__main__":
    main()
