"""Pull requests on GitHub (REST API v3) for promotions that go through review."""

from __future__ import annotations

import base64
import re

from mlops_core.errors import BadInput, Conflict, Unavailable


def repo_from_url(url: str | None) -> str | None:
    """owner/name from a GitHub remote URL (https or ssh)."""
    if not url:
        return None
    match = re.search(r"github\.com[:/]+([^/]+)/([^/]+?)(?:\.git)?/?$", url)
    return f"{match.group(1)}/{match.group(2)}" if match else None


def push_auth_config(remote_url: str | None, token: str) -> list[str]:
    """git -c options that authenticate an https push with the token (never stored)."""
    if not remote_url or not remote_url.startswith("https://"):
        return []
    basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
    host = re.match(r"https://[^/]+/", remote_url + "/").group(0)  # type: ignore[union-attr]
    return ["-c", f"http.{host}.extraheader=AUTHORIZATION: basic {basic}"]


def open_pull_request(
    api_url: str, repo: str, token: str, *, head: str, base: str, title: str, body: str
) -> dict:
    """Open a pull request; returns {"url", "number"}."""
    import httpx

    if not re.fullmatch(r"[\w.-]+/[\w.-]+", repo or ""):
        raise BadInput(f"MLOPS_PROMOTE_GITHUB_REPO must be owner/name, got {repo!r}")
    try:
        response = httpx.post(
            f"{api_url.rstrip('/')}/repos/{repo}/pulls",
            json={"title": title, "head": head, "base": base, "body": body},
            headers={
                "Authorization": f"Bearer {token}",
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": "2022-11-28",
            },
            timeout=30.0,
        )
    except httpx.HTTPError as exc:
        raise Unavailable(f"cannot reach the GitHub API at {api_url}: {exc}") from exc
    if response.status_code in (401, 403):
        raise BadInput(
            f"GitHub refused the token for {repo} (HTTP {response.status_code}): "
            f"{_message(response)}"
        )
    if response.status_code == 422:
        raise Conflict(f"GitHub did not open the pull request: {_message(response)}")
    if response.status_code >= 300:
        raise Unavailable(
            f"GitHub answered HTTP {response.status_code} to the pull request: {_message(response)}"
        )
    data = response.json()
    return {"url": data.get("html_url"), "number": data.get("number")}


def _message(response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.text[:200]
    errors = data.get("errors") or []
    details = "; ".join(str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in errors)
    return data.get("message", "") + (f" ({details})" if details else "")
