"""A fake SearXNG answering `GET /search` the way SearXNG's own searx/webapp.py does.

Follows SearXNG's webapp (`search()`): the JSON output is
`{"query", "number_of_results", "results": [{"url", "title", "content", "engine", "engines",
"parsed_url", "template", "positions", "score", "category", "publishedDate", ...}], "answers",
"corrections", "infoboxes", "suggestions", "unresponsive_engines": [[engine, reason], ...]}`, and a
format missing from `search.formats` in settings.yml is refused with werkzeug's bare HTML 403
(`flask.abort(403)`). Also `serve(app)`, which runs any ASGI app on a loopback port in a thread.
"""

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import uvicorn
from localhost import free_port, wait_until
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

FORBIDDEN_HTML = (
    "<!doctype html>\n<html lang=en>\n<title>403 Forbidden</title>\n<h1>Forbidden</h1>\n"
    "<p>You don&#39;t have the permission to access the requested resource. It is either "
    "read-protected or not readable by the server.</p>\n"
)


@dataclass
class FakeSearxng:
    """The instance's settings that matter here, and the queries it was asked."""

    formats: tuple[str, ...] = ("html", "json")
    queries: list[dict[str, str]] = field(default_factory=list)

    def result(self, query: str, n: int) -> dict[str, object]:
        url = f"https://example.org/{n}?q={query.replace(' ', '+')}"
        parts = urlsplit(url)
        return {
            "url": url,
            "title": f"Result {n} for {query}",
            "content": f"Snippet {n} about {query}.",
            "engine": "duckduckgo",
            "engines": ["duckduckgo", "brave"],
            "parsed_url": [parts.scheme, parts.netloc, parts.path, "", parts.query, ""],
            "template": "default.html",
            "positions": [n + 1],
            "score": 2.0 / (n + 1),
            "category": "general",
            "publishedDate": None,
            "priority": "",
            "thumbnail": "",
        }

    async def search(self, request: Request) -> Response:
        form = dict(request.query_params)
        output_format = form.get("format", "html")
        if output_format not in {"html", "csv", "json", "rss"}:
            output_format = "html"
        if output_format not in self.formats:
            return HTMLResponse(FORBIDDEN_HTML, status_code=403)
        self.queries.append(form)
        query = form.get("q", "")
        results = [self.result(query, n) for n in range(3)]
        return JSONResponse(
            {
                "query": query,
                "number_of_results": 0,
                "results": results,
                "answers": [],
                "corrections": [],
                "infoboxes": [],
                "suggestions": [f"{query} tutorial"],
                "unresponsive_engines": [["wikipedia", "timeout"]],
            }
        )

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/search", self.search, methods=["GET", "POST"])])


@contextmanager
def serve(app: Starlette) -> Iterator[str]:
    """Run `app` with uvicorn on a free loopback port; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started, timeout=10, what=f"test server on port {port}")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
