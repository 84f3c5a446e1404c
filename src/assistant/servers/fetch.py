"""fetch_url's engine: one GET, redirects followed by hand so every hop passes the address guard.

Each hop connects to the address the guard checked (the Host header and TLS SNI keep the name), so a
DNS answer that changes between check and connect cannot reach a private address. Size, time and
content type are capped; only text comes back.
"""

import asyncio

import httpx
from pydantic import BaseModel, ConfigDict

from assistant.errors import FetchRefused, ToolInputInvalid, UpstreamUnavailable
from assistant.servers.html_text import html_to_text
from assistant.servers.settings import SearxngSettings
from assistant.servers.ssrf import AddressGuard

_TEXT_TYPES = frozenset(
    {"application/json", "application/xml", "application/xhtml+xml", "application/rss+xml",
     "application/atom+xml", "application/ld+json", "application/javascript"}
)  # fmt: skip
_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_ACCEPT = "text/html, text/plain;q=0.9, application/xhtml+xml;q=0.9, text/*;q=0.8, application/json;q=0.5"
_MAX_URL_CHARS = 2048


class Page(BaseModel):
    """What fetch_url returns: the final URL after redirects and the page's readable text."""

    model_config = ConfigDict(frozen=True)

    url: str
    content_type: str
    title: str
    text: str
    truncated: bool


def _is_text(content_type: str) -> bool:
    return content_type.startswith("text/") or content_type in _TEXT_TYPES


def parse_url(raw: str) -> httpx.URL:
    """An absolute http(s) URL without credentials, or a clear refusal."""
    if len(raw) > _MAX_URL_CHARS:
        raise ToolInputInvalid(f"url is {len(raw)} characters; at most {_MAX_URL_CHARS}")
    try:
        url = httpx.URL(raw)
    except httpx.InvalidURL as exc:
        raise ToolInputInvalid(f"not a valid URL: {raw!r} ({exc})") from exc
    if url.scheme not in {"http", "https"} or not url.host:
        raise ToolInputInvalid(f"fetch_url takes an absolute http:// or https:// URL, not {raw!r}")
    if url.userinfo:
        raise ToolInputInvalid("fetch_url refuses URLs with a user name or password in them")
    return url


class PageFetcher:
    """Fetches one page within the configured limits."""

    def __init__(self, settings: SearxngSettings, guard: AddressGuard, client: httpx.AsyncClient) -> None:
        self._settings = settings
        self._guard = guard
        self._client = client

    async def fetch(self, raw_url: str, max_chars: int) -> Page:
        url = parse_url(raw_url)
        limit = self._settings.fetch_timeout_s
        try:
            async with asyncio.timeout(limit):
                return await self._follow(url, max_chars)
        except TimeoutError as exc:
            raise UpstreamUnavailable(f"fetching {url} took longer than {limit:g}s; giving up") from exc
        except httpx.HTTPError as exc:
            raise UpstreamUnavailable(f"fetching {url} failed: {type(exc).__name__}: {exc}") from exc

    async def _follow(self, url: httpx.URL, max_chars: int) -> Page:
        for _ in range(self._settings.fetch_max_redirects + 1):
            response = await self._send(url)
            try:
                if response.is_redirect:
                    url = parse_url(str(url.join(response.headers["location"])))
                    continue
                return await self._read(url, response, max_chars)
            finally:
                await response.aclose()
        raise FetchRefused(f"{url}: more than {self._settings.fetch_max_redirects} redirects")

    async def _send(self, url: httpx.URL) -> httpx.Response:
        host = url.host
        port = url.port or (443 if url.scheme == "https" else 80)
        address = await self._guard.resolve(host, port)
        request = self._client.build_request(
            "GET",
            url.copy_with(host=str(address)),
            headers={"Host": url.netloc.decode("ascii"), "Accept": _ACCEPT},
            extensions={"sni_hostname": host} if url.scheme == "https" else {},
        )
        return await self._client.send(request, stream=True, follow_redirects=False)

    async def _read(self, url: httpx.URL, response: httpx.Response, max_chars: int) -> Page:
        if response.status_code >= 400:
            raise UpstreamUnavailable(f"{url} answered HTTP {response.status_code}")
        content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if not _is_text(content_type):
            raise FetchRefused(f"{url} is {content_type or 'of no stated type'}; fetch_url reads only text")
        body = bytearray()
        cap = self._settings.fetch_max_bytes
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) >= cap:
                break
        try:
            text = bytes(body[:cap]).decode(response.encoding or "utf-8", errors="replace")
        except LookupError:  # a charset Python does not know
            text = bytes(body[:cap]).decode("utf-8", errors="replace")
        title = ""
        if content_type in _HTML_TYPES:
            title, text = html_to_text(text)
        return Page(
            url=str(url),
            content_type=content_type,
            title=title,
            text=text[:max_chars],
            truncated=len(text) > max_chars or len(body) >= cap,
        )
