#!/usr/bin/env python3
"""One sticky pull-request comment per workflow and job: create it, or update it in place.

Standard library only (it runs with whatever python3 the runner has). The comment is found by a hidden
marker naming the workflow and job (and an optional key) AND by its author, so a comment someone else wrote
with the same marker is never edited. A token that cannot write (a pull request from a fork gets a read-only
GITHUB_TOKEN) yields a notice, never a failed step: the report is in the job summary either way. Any other
failure to comment is a warning; the exit status is 0 unless the arguments are wrong (2).

    comment.py --body-file report.md [--pr N | --pr-file FILE] [--key K] [--author LOGIN] [--head-sha SHA]

Environment: GITHUB_TOKEN (or PIVOT_CI_TOKEN), GITHUB_API_URL, GITHUB_REPOSITORY, and for the defaults
GITHUB_EVENT_PATH (the pull request number), GITHUB_WORKFLOW and GITHUB_JOB (the marker).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import sys
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

LIMIT = 65_536  # GitHub rejects a comment body of 65,536 characters or more
DEFAULT_AUTHOR = "github-actions[bot]"
TIMEOUT = 30
_LINK_NEXT = re.compile(r'<([^>]+)>;\s*rel="next"')


class HttpError(Exception):
    def __init__(self, status: int, method: str, url: str, detail: str) -> None:
        super().__init__(f"{method} {url}: HTTP {status} {detail}".strip())
        self.status = status


def notice(kind: str, message: str) -> None:
    text = message.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    print(f"::{kind} title=pivot-ci comment::{text}", flush=True)


class GitHub:
    def __init__(self, api: str, repo: str, token: str) -> None:
        self.api = api.rstrip("/")
        self.repo = repo
        self.token = token

    def request(self, method: str, url: str, body: dict[str, Any] | None = None) -> tuple[Any, dict[str, str]]:
        data = None if body is None else json.dumps(body).encode("utf-8")
        req = urllib.request.Request(url, data=data, method=method, headers={
            "Authorization": f"Bearer {self.token}", "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28", "User-Agent": "pivot-ci-action",
            **({"Content-Type": "application/json"} if data is not None else {})})
        try:
            with urllib.request.urlopen(req, timeout=TIMEOUT) as resp:
                payload = resp.read()
                headers = {k.lower(): v for k, v in resp.headers.items()}
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode("utf-8", "replace")
            with contextlib.suppress(ValueError, AttributeError):
                detail = str(json.loads(detail).get("message", detail))
            raise HttpError(exc.code, method, url, detail[:200]) from None
        return (json.loads(payload) if payload else None), headers

    def repo_url(self, path: str) -> str:
        return f"{self.api}/repos/{self.repo}/{path}"

    def comments(self, pr: int) -> list[dict[str, Any]]:
        """Every comment of the pull request's conversation, following the pagination links."""
        found: list[dict[str, Any]] = []
        url: str | None = self.repo_url(f"issues/{pr}/comments?per_page=100")
        while url:
            page, headers = self.request("GET", url)
            found += page or []
            nxt = _LINK_NEXT.search(headers.get("link", ""))
            url = nxt.group(1) if nxt and nxt.group(1).startswith(self.api + "/") else None
        return found


def marker(key: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9 ._/:@+=-]", "_", key)  # nothing that could close the HTML comment
    return f"<!-- pivot-ci comment: {safe} -->"


def fit(body: str, mark: str) -> str:
    """The marker, then the body cut at a line boundary so that the whole stays under LIMIT characters."""
    whole = f"{mark}\n{body}"
    if len(whole) < LIMIT:
        return whole
    note = ("\n\n> [!NOTE]\n> This report was truncated to fit GitHub's comment size limit "
            f"({len(whole):,} characters); the job summary and the report files have all of it.\n")
    room = LIMIT - 1 - len(note)
    cut = whole.rfind("\n", 0, room)
    return whole[:cut if cut > len(mark) else room] + note


class Refused(Exception):
    """Arguments that must not be acted on (exit 2)."""


def _pr_number(arg: str | None, arg_file: str | None) -> int | None:
    if arg_file is not None:
        try:
            with open(arg_file, encoding="utf-8", errors="replace") as f:
                arg = f.read(64)
        except OSError as exc:
            raise Refused(f"--pr-file {arg_file}: {exc.strerror}") from None
    if arg is not None:
        if not re.fullmatch(r"[1-9][0-9]{0,9}", arg.strip()):
            raise Refused(f"expected a pull request number, got {arg[:40]!r}")
        return int(arg.strip())
    event_path = os.environ.get("GITHUB_EVENT_PATH")
    if not event_path:
        return None
    try:
        with open(event_path, encoding="utf-8") as f:
            event = json.load(f)
    except (OSError, ValueError):
        return None
    number = (event.get("pull_request") or {}).get("number")
    return number if isinstance(number, int) else None


def _default_key(extra: str) -> str:
    base = f"{os.environ.get('GITHUB_WORKFLOW', 'workflow')}/{os.environ.get('GITHUB_JOB', 'job')}"
    return f"{base}/{extra}" if extra else base


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Create or update one sticky pull-request comment.")
    parser.add_argument("--body-file", required=True, help="Markdown to post")
    parser.add_argument("--pr", default=None, help="pull request number (default: from GITHUB_EVENT_PATH)")
    parser.add_argument("--pr-file", default=None, help="a file holding the pull request number")
    parser.add_argument("--key", default="", help="told apart from other comments of this workflow and job")
    parser.add_argument("--author", default="", help=f"login the comment is posted as [{DEFAULT_AUTHOR}]")
    parser.add_argument("--head-sha", default="", help="refuse unless the pull request's head is this commit")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    try:
        pr = _pr_number(args.pr, args.pr_file)
    except Refused as exc:
        notice("error", f"no comment posted: {exc}")
        return 2
    if pr is None:
        notice("notice", "not a pull_request event and no --pr given: no comment posted")
        return 0
    try:
        with open(args.body_file, encoding="utf-8", errors="replace") as f:
            body = f.read()
    except OSError as exc:
        notice("warning", f"no report to post ({args.body_file}: {exc.strerror}): no comment posted")
        return 0
    token = os.environ.get("PIVOT_CI_TOKEN") or os.environ.get("GITHUB_TOKEN") or ""
    repo = os.environ.get("GITHUB_REPOSITORY", "")
    if not token or not re.fullmatch(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+", repo):
        notice("warning", "no token or no GITHUB_REPOSITORY: set the github-token input; no comment posted")
        return 0
    gh = GitHub(os.environ.get("GITHUB_API_URL", "https://api.github.com"), repo, token)
    author = args.author or DEFAULT_AUTHOR
    mark = marker(_default_key(args.key))
    try:
        if args.head_sha and not re.fullmatch(r"[0-9a-f]{40,64}", args.head_sha):
            notice("error", f"no comment posted: --head-sha {args.head_sha[:80]!r} is not a commit id")
            return 2
        if args.head_sha:
            pull, _ = gh.request("GET", gh.repo_url(f"pulls/{pr}"))
            if (pull.get("head") or {}).get("sha") != args.head_sha:
                notice("warning", f"pull request #{pr} is not at {args.head_sha}: no comment posted")
                return 0
        text = fit(body, mark)
        mine = [c for c in gh.comments(pr)
                if mark in (c.get("body") or "") and (c.get("user") or {}).get("login") == author]
        if mine:
            done, _ = gh.request("PATCH", gh.repo_url(f"issues/comments/{mine[0]['id']}"), {"body": text})
            print(f"pivot-ci: updated comment {done.get('html_url', mine[0]['id'])}")
        else:
            done, _ = gh.request("POST", gh.repo_url(f"issues/{pr}/comments"), {"body": text})
            print(f"pivot-ci: commented on pull request #{pr}: {done.get('html_url', '')}")
    except HttpError as exc:
        if exc.status in (401, 403, 404):
            notice("notice", f"cannot comment on pull request #{pr}: the token may not write to it (a pull request "
                             f"from a fork gets a read-only token; see the workflow_run recipe in the action's "
                             f"README). The report is in the job summary. ({exc})")
        else:
            notice("warning", f"commenting on pull request #{pr} failed: {exc}")
    except (urllib.error.URLError, OSError, ValueError) as exc:
        notice("warning", f"commenting on pull request #{pr} failed: {exc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
