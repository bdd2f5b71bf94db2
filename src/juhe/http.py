"""The platform's outbound HTTP client: httpx's interface on aiohttp's connection pool.

Every adapter, the webhook sender and the sandboxes speak httpx (requests, responses, errors),
but httpx's own pool (httpcore) costs ~1.9 ms of CPU per small request on these machines and
aiohttp's ~0.2 ms (measured with 16 requests at once against a local server); on the payment
path that was a fifth of the API's CPU. `httpx-aiohttp` exists, but it maps a server that
disconnects after the request was sent to `ConnectTimeout`, which our adapters read as "never
reached the channel" and answer by failing over: a double charge. So the mapping is ours, and
it keeps httpx's meaning: only errors raised before a byte was sent are connect errors.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator

import aiohttp
import httpx

KEEPALIVE_S = 4.0  # under uvicorn's 5 s: a connection the server is about to close is not reused
CONNECTIONS_MAX = 200


def async_client(*, verify: ssl.SSLContext | bool = True, connections: int = CONNECTIONS_MAX, **options) -> httpx.AsyncClient:
    """An `httpx.AsyncClient` (same options: timeout, base_url, headers…) on aiohttp."""
    return httpx.AsyncClient(transport=AiohttpTransport(verify=verify, connections=connections), **options)


class AiohttpTransport(httpx.AsyncBaseTransport):
    def __init__(self, *, verify: ssl.SSLContext | bool = True, connections: int = CONNECTIONS_MAX):
        self._ssl = verify if isinstance(verify, ssl.SSLContext) else httpx.create_ssl_context(verify=verify)
        self._connections = connections
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _session_for_this_loop(self) -> aiohttp.ClientSession:
        # An aiohttp pool belongs to the event loop that made it; a client used from another
        # loop (a CLI command after a server run, a test) gets its own.
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._loop is not loop:
            connector = aiohttp.TCPConnector(limit=self._connections, keepalive_timeout=KEEPALIVE_S, ssl=self._ssl)
            self._session = aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar(),
                                                  auto_decompress=False, timeout=aiohttp.ClientTimeout(total=None))
            self._loop = loop
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeout = request.extensions.get("timeout", {})
        body = await request.aread()
        with _as_httpx_errors(request):
            answer = await self._session_for_this_loop().request(
                request.method, str(request.url), headers=request.headers.multi_items(), data=body or None,
                allow_redirects=False, compress=None, skip_auto_headers=("Content-Type",),  # as httpx: none unless the caller set one
                timeout=aiohttp.ClientTimeout(total=None, connect=timeout.get("pool"), sock_connect=timeout.get("connect"),
                                              sock_read=timeout.get("read")),
            )
        return httpx.Response(status_code=answer.status, headers=answer.raw_headers, stream=_Body(answer, request),
                              request=request, extensions={"http_version": b"HTTP/1.1"})

    async def aclose(self) -> None:
        if self._session is not None and self._loop is asyncio.get_running_loop():
            await self._session.close()
        self._session = None


class _Body(httpx.AsyncByteStream):
    def __init__(self, answer: aiohttp.ClientResponse, request: httpx.Request):
        self._answer, self._request = answer, request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _as_httpx_errors(self._request):
            async for chunk in self._answer.content.iter_chunked(64 * 1024):
                yield chunk

    async def aclose(self) -> None:
        self._answer.release()  # back to the pool (or closed, if not read to the end)


class _as_httpx_errors:
    """aiohttp's errors as the httpx errors that mean the same for whether the request went out."""

    def __init__(self, request: httpx.Request):
        self.request = request

    def __enter__(self):
        return self

    def __exit__(self, kind, error, _traceback) -> bool:
        if error is None or not isinstance(error, (aiohttp.ClientError, asyncio.TimeoutError)):
            return False
        raise _httpx_error(error)(str(error) or type(error).__name__, request=self.request) from error


def _httpx_error(error: BaseException) -> type[httpx.TransportError]:
    if isinstance(error, aiohttp.ClientConnectorError):  # refused, DNS, TLS handshake: nothing was sent
        return httpx.ConnectError
    if isinstance(error, aiohttp.ConnectionTimeoutError):  # no connection within the time (pool or connect)
        return httpx.ConnectTimeout
    if isinstance(error, asyncio.TimeoutError):  # sent, no answer in time (SocketTimeoutError and others)
        return httpx.ReadTimeout
    if isinstance(error, aiohttp.InvalidURL):
        return httpx.UnsupportedProtocol
    if isinstance(error, aiohttp.ServerDisconnectedError):
        return httpx.RemoteProtocolError
    return httpx.ReadError  # reset mid-request, a broken answer: the outcome is unknown
