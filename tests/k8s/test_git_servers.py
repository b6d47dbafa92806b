"""The two in-cluster git servers run here for real, with the exact commands and settings
of their manifests (paths and port swapped for a temporary folder and a free port): the
read-only server of this repository (Argo CD, git-sync) and the data registry's server."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from k8s_support import GITOPS, load_all, render


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def localise(args: list[str], root: Path, port: int) -> list[str]:
    out = []
    for arg in args:
        arg = arg.replace("/srv/git", str(root))
        arg = arg.replace("--port=9418", f"--port={port}")
        arg = arg.replace("--listen=0.0.0.0", "--listen=127.0.0.1")
        out.append(arg)
    return out


def git(*args: str, cwd: Path | None = None, check: bool = True) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }
    return subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=check
    )


class Daemon:
    def __init__(self, container: dict, root: Path):
        self.port = free_port()
        env = {**os.environ}
        for item in container.get("env", []):
            env[item["name"]] = item["value"]
        argv = [container["command"][0], *localise(container["args"], root, self.port)]
        self.proc = subprocess.Popen(
            argv,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.1)
        self.stop()
        raise AssertionError("git daemon did not start")

    def url(self, repo: str) -> str:
        return f"git://127.0.0.1:{self.port}/{repo}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=10)


def test_read_only_repository_server_serves_the_mirror_and_refuses_pushes(tmp_path):
    docs = load_all((GITOPS / "bootstrap" / "git-server.yaml").read_text())
    container = next(d for d in docs if d["kind"] == "Deployment")["spec"]["template"]["spec"][
        "containers"
    ][0]
    root = tmp_path / "srv"
    root.mkdir()
    work = tmp_path / "work"
    git("init", "-q", "-b", "main", str(work))
    (work / "README").write_text("hello\n")
    git("add", "README", cwd=work)
    git("commit", "-q", "-m", "first", cwd=work)
    # What `make up` does: a bare mirror, the commit pushed as main.
    git("init", "-q", "--bare", str(root / "mlops-platform.git"))
    git("push", "-q", str(root / "mlops-platform.git"), "HEAD:refs/heads/main", cwd=work)
    daemon = Daemon(container, root)
    try:
        url = daemon.url("mlops-platform.git")
        heads = git("ls-remote", url).stdout
        assert "refs/heads/main" in heads
        clone = tmp_path / "clone"
        git("clone", "-q", "--depth", "1", "--branch", "main", url, str(clone))
        assert (clone / "README").read_text() == "hello\n"
        (work / "README").write_text("changed\n")
        git("commit", "-q", "-am", "second", cwd=work)
        refused = git("push", url, "HEAD:refs/heads/main", cwd=work, check=False)
        assert refused.returncode != 0, "the repository server must be read-only"
    finally:
        daemon.stop()


def test_data_registry_server_accepts_versions_and_serves_them(tmp_path):
    objs = render("pipeline-runtime", "kind")
    pod = next(r.obj for r in objs if r.kind == "StatefulSet")["spec"]["template"]["spec"]
    root = tmp_path / "srv"
    root.mkdir()
    init = pod["initContainers"][0]
    for _ in range(2):  # the init container is idempotent
        cmd = [init["command"][0], init["command"][1], *localise(init["args"], root, 0)]
        subprocess.run(cmd, check=True, timeout=30, env={**os.environ, "HOME": str(tmp_path)})
    env_map = next(r.obj for r in objs if r.name == "mlops-pipeline-config")["data"]
    repo = env_map["MLOPS_DATA_REGISTRY"].rsplit("/", 1)[1]
    assert (root / repo / "HEAD").is_file()
    daemon = Daemon(pod["containers"][0], root)
    try:
        url = daemon.url(repo)
        first = tmp_path / "first"
        git("clone", "-q", url, str(first))
        (first / "manifest.json").write_text("{}\n")
        git("add", "manifest.json", cwd=first)
        git("commit", "-q", "-m", "data-v1", cwd=first)
        git("tag", "-a", "data-v1", "-m", "v1", cwd=first)
        git("push", "--atomic", "-q", "origin", "HEAD:refs/heads/main", "data-v1", cwd=first)
        second = tmp_path / "second"
        git("clone", "-q", url, str(second))
        assert git("tag", "--list", cwd=second).stdout.split() == ["data-v1"]
    finally:
        daemon.stop()
