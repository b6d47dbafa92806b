"""With a GitHub token, promotion pushes a branch and opens a pull request (GitHub's REST
API, played here by a local fake server: the real one cannot be reached from tests)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import yaml
from deploy_helpers import champion, git


class FakeGitHub:
    def __init__(self, status: int = 201, body: dict | None = None) -> None:
        self.requests: list[dict] = []
        self.status = status
        self.body = body or {"html_url": "https://github.example/acme/gitops/pull/7", "number": 7}
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                fake.requests.append(
                    {
                        "path": self.path,
                        "headers": dict(self.headers),
                        "json": json.loads(self.rfile.read(length)),
                    }
                )
                payload = json.dumps(fake.body).encode()
                self.send_response(fake.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def github(clone, monkeypatch):
    fake = FakeGitHub()
    monkeypatch.setenv("MLOPS_PROMOTE_GITHUB_TOKEN", "ghp_test_token")
    monkeypatch.setenv("MLOPS_PROMOTE_GITHUB_REPO", "acme/gitops")
    monkeypatch.setenv("MLOPS_PROMOTE_GITHUB_API_URL", fake.url)
    yield fake
    fake.close()


@pytest.mark.slow  # real deployable checks in a clean process
def test_token_opens_a_pull_request_instead_of_pushing(
    mlops, register, data_registry, client, unique_model_name, clone, remote, github
):
    base = git(remote, "rev-parse", "main")
    version = register()
    result = mlops("promote", "--json")
    assert result.exit_code == 0, result.stderr
    out = result.json
    assert out["pull_request"] == {"url": github.body["html_url"], "number": 7}
    assert out["pushed"] is False
    assert champion(client, unique_model_name) == version
    assert git(remote, "rev-parse", "main") == base  # the branch waits for the review
    branch = out["pr_branch"]
    shown = git(remote, "show", f"{branch}:gitops/envs/kind/models/{unique_model_name}.yaml")
    assert yaml.safe_load(shown)["model"]["version"] == version
    assert git(clone, "rev-parse", "HEAD") == base and git(clone, "status", "--porcelain") == ""

    [request] = github.requests
    assert request["path"] == "/repos/acme/gitops/pulls"
    assert request["headers"]["Authorization"] == "Bearer ghp_test_token"
    body = request["json"]
    assert body["head"] == branch and body["base"] == "main"
    assert unique_model_name in body["title"] and f"v{version}" in body["title"]
    assert "Data-version: data-v1" in body["body"]
    assert "ghp_test_token" not in result.stdout + result.stderr


@pytest.mark.slow  # real deployable checks in a clean process
def test_a_refused_pull_request_moves_nothing(
    mlops, register, data_registry, client, unique_model_name, clone, remote, github
):
    github.status = 422
    github.body = {"message": "Validation Failed", "errors": [{"message": "no commits"}]}
    register()
    result = mlops("promote", "--json")
    assert result.exit_code == 8
    assert "Validation Failed" in result.json["error"] and "no commits" in result.json["error"]
    assert champion(client, unique_model_name) is None
    assert git(remote, "branch", "--list", "mlops/*") == ""  # its branch was deleted again
    assert git(clone, "status", "--porcelain") == ""


def test_repo_is_derived_from_a_github_remote():
    from deployment_prep.github import push_auth_config, repo_from_url

    assert repo_from_url("https://github.com/acme/gitops.git") == "acme/gitops"
    assert repo_from_url("git@github.com:acme/gitops.git") == "acme/gitops"
    assert repo_from_url("/srv/git/gitops.git") is None
    [flag, value] = push_auth_config("https://github.com/acme/gitops.git", "tok")
    assert flag == "-c" and value.startswith("http.https://github.com/.extraheader=")
    assert push_auth_config("/srv/git/gitops.git", "tok") == []


def test_a_token_without_a_remote_is_refused_before_anything_moves(
    mlops, register, client, unique_model_name, mlops_home, monkeypatch
):
    monkeypatch.setenv("MLOPS_PROMOTE_GITHUB_TOKEN", "ghp_test_token")
    version = register()
    result = mlops("promote", "--json")  # the embedded GitOps repository has no remote
    assert result.exit_code == 2
    assert "no remote" in result.json["error"]
    assert champion(client, unique_model_name) is None
    # Refused before the checks ran: they record their verdict on the version.
    assert "deploy_check" not in client.get_model_version(unique_model_name, version).tags


def test_a_single_model_checkout_is_not_migrated_behind_a_pull_request(
    mlops, register, unique_model_name, clone, remote, github, client
):
    legacy = clone / "gitops/envs/kind/model-values.yaml"
    legacy.parent.mkdir(parents=True, exist_ok=True)
    legacy.write_text(
        f'# old layout\nmodel:\n  name: {unique_model_name}\n  version: ""\n  dataVersion: ""\n'
    )
    git(clone, "add", "-A")
    git(clone, "commit", "-q", "-m", "single-model layout")
    git(clone, "push", "-q", "origin", "main")
    head = git(remote, "rev-parse", "main")
    register()
    result = mlops("promote", "--json")
    assert result.exit_code == 2, result.stderr
    error = result.json["error"]
    assert "single-model layout" in error and "gitops/envs/kind/model-values.yaml" in error
    assert "git mv gitops/envs/kind/model-values.yaml gitops/envs/kind/models/" in error
    assert git(remote, "rev-parse", "main") == head and git(clone, "rev-parse", "HEAD") == head
    assert legacy.exists() and github.requests == []
    assert champion(client, unique_model_name) is None
