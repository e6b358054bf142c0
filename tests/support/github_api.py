"""A small real HTTP server on 127.0.0.1 that implements the GitHub REST calls the action's comment script
makes: list (paginated), create and update issue comments, read a pull request; 401/403 like GitHub."""

from __future__ import annotations

import dataclasses
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

READ_ONLY = "Resource not accessible by integration"  # what GitHub answers a fork PR's token on a write
MAX_BODY = 65_536


@dataclasses.dataclass
class Comment:
    id: int
    pr: int
    body: str
    login: str


@dataclasses.dataclass
class FakeGitHub:
    """State of one repository `owner/repo`; `tokens` maps a token to (login, can write)."""

    repo: str = "octo/project"
    tokens: dict[str, tuple[str, bool]] = dataclasses.field(default_factory=lambda: {
        "rw-token": ("github-actions[bot]", True), "ro-token": ("github-actions[bot]", False),
        "user-token": ("mallory", True)})
    page_size: int = 2  # small, so that pagination is exercised
    heads: dict[int, str] = dataclasses.field(default_factory=dict)  # pull request -> head sha
    comments: list[Comment] = dataclasses.field(default_factory=list)
    log: list[tuple[str, str, int]] = dataclasses.field(default_factory=list)  # method, path, status
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def add(self, pr: int, body: str, login: str) -> Comment:
        comment = Comment(1000 + len(self.comments), pr, body, login)
        self.comments.append(comment)
        return comment

    def on(self, pr: int) -> list[Comment]:
        return [c for c in self.comments if c.pr == pr]

    def writes(self) -> list[tuple[str, str, int]]:
        return [entry for entry in self.log if entry[0] != "GET"]

    def start(self) -> FakeGitHub:
        state = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
                pass

            def do_GET(self) -> None:
                state._handle(self, "GET")

            def do_POST(self) -> None:
                state._handle(self, "POST")

            def do_PATCH(self) -> None:
                state._handle(self, "PATCH")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def _json(self, comment: Comment) -> dict[str, Any]:
        return {"id": comment.id, "body": comment.body, "user": {"login": comment.login, "type": "Bot"},
                "html_url": f"https://github.invalid/{self.repo}/pull/{comment.pr}#issuecomment-{comment.id}"}

    def _handle(self, req: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(req.path)
        status, payload, headers = self._route(req, method, parts.path, parse_qs(parts.query))
        self.log.append((method, parts.path, status))
        data = json.dumps(payload).encode()
        req.send_response(status)
        req.send_header("Content-Type", "application/json")
        req.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            req.send_header(name, value)
        req.end_headers()
        req.wfile.write(data)

    def _route(self, req: BaseHTTPRequestHandler, method: str, path: str,
               query: dict[str, list[str]]) -> tuple[int, Any, dict[str, str]]:
        auth = req.headers.get("Authorization", "")
        who = self.tokens.get(auth.removeprefix("Bearer "))
        if not auth.startswith("Bearer ") or who is None:
            return 401, {"message": "Bad credentials"}, {}
        login, can_write = who
        body: dict[str, Any] = {}
        if method != "GET":
            length = int(req.headers.get("Content-Length", "0"))
            body = json.loads(req.rfile.read(length) or b"{}")
            if not can_write:
                return 403, {"message": READ_ONLY}, {}
        prefix = f"/repos/{self.repo}/"
        if not path.startswith(prefix):
            return 404, {"message": "Not Found"}, {}
        rest = path[len(prefix):]
        if (m := re.fullmatch(r"issues/(\d+)/comments", rest)) and method == "GET":
            return self._page(int(m.group(1)), int(query.get("page", ["1"])[0]), path)
        if m and method == "POST":
            return self._write(Comment(0, int(m.group(1)), "", login), body, new=True)
        if (m := re.fullmatch(r"issues/comments/(\d+)", rest)) and method == "PATCH":
            found = [c for c in self.comments if c.id == int(m.group(1))]
            if not found:
                return 404, {"message": "Not Found"}, {}
            if found[0].login != login:
                return 403, {"message": "Must have admin rights to Repository."}, {}
            return self._write(found[0], body, new=False)
        if (m := re.fullmatch(r"pulls/(\d+)", rest)) and method == "GET" and int(m.group(1)) in self.heads:
            return 200, {"number": int(m.group(1)), "head": {"sha": self.heads[int(m.group(1))]}}, {}
        return 404, {"message": "Not Found"}, {}

    def _page(self, pr: int, page: int, path: str) -> tuple[int, Any, dict[str, str]]:
        items = self.on(pr)
        chunk = items[(page - 1) * self.page_size: page * self.page_size]
        headers = {}
        if page * self.page_size < len(items):
            headers["Link"] = f'<{self.url}{path}?per_page=100&page={page + 1}>; rel="next"'
        return 200, [self._json(c) for c in chunk], headers

    def _write(self, comment: Comment, body: dict[str, Any], *, new: bool) -> tuple[int, Any, dict[str, str]]:
        text = body.get("body")
        if not isinstance(text, str) or len(text) >= MAX_BODY:
            return 422, {"message": "Validation Failed: body is too long (maximum is 65536 characters)"}, {}
        if new:
            comment = self.add(comment.pr, text, comment.login)
            return 201, self._json(comment), {}
        comment.body = text
        return 200, self._json(comment), {}
