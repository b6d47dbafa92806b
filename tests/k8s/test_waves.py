"""What a desk-check of `make up` found (issue 14), each as a check that would have caught it:

- the root application's sync waves converge: with only the waves before it and its own,
  every application of a wave becomes healthy, health judged the way Argo CD judges it
  (the Lua scripts of gitops/bootstrap/argocd/argocd-cm.yaml, run by a real Lua runtime,
  and Argo CD's built-in rule for claims where no script overrides it), over the tree
  rendered as Argo CD renders it (kustomize, then each application's chart with its values);
- one list of images: the in-cluster git server's image and the MLflow server's image are
  the ones gitops/images.yaml names, also after a release rewrote the list;
- no provenance attestations on the built images (kind load and the containerd store,
  kind issue 3795);
- the cgroup v2 prerequisite of Kubernetes 1.35+ node images is checked by `make up`;
- every pinned version has a bot rule (.github/renovate.json) that reads today's value;
- no values file the charts get has an explicit null (Helm 3 and Helm 4, Argo CD 3.5's
  engine, treat nulls differently: without any, the output cannot depend on it).
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
from pathlib import Path

import pytest
import yaml
from k8s_support import (
    CHARTS,
    ENVS,
    GITOPS,
    ROOT,
    applications,
    deep_merge,
    load_all,
    load_yaml,
)

ARGOCD_CM = GITOPS / "bootstrap" / "argocd" / "argocd-cm.yaml"
POD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "ReplicaSet", "Pod"}


# ------------------------------------------------------------------ Argo CD's health, in Lua


def health_scripts() -> dict[str, str]:
    """{kind: Lua script} of argocd-cm's resource.customizations.health.<group_kind>."""
    data = load_yaml(ARGOCD_CM)["data"]
    prefix = "resource.customizations.health."
    return {
        key[len(prefix) :].rsplit("_", 1)[-1]: script
        for key, script in data.items()
        if key.startswith(prefix)
    }


def run_health(script: str, obj: dict) -> tuple[str, str]:
    """Run an Argo CD health script on obj as Argo CD does (a global `obj`, the script
    returns a table with status and message)."""
    import lupa

    lua = lupa.LuaRuntime()
    lua.globals().obj = lua.table_from(json.loads(json.dumps(obj)), recursive=True)
    hs = lua.execute(script)
    return hs["status"], hs["message"] or ""


def builtin_claim_health(obj: dict) -> str:
    """Argo CD's built-in health of a PersistentVolumeClaim (gitops-engine: Bound is
    Healthy, Lost is Degraded, anything else Progressing)."""
    phase = (obj.get("status") or {}).get("phase")
    return {"Bound": "Healthy", "Lost": "Degraded"}.get(phase, "Progressing")


def claim_health(obj: dict, scripts: dict[str, str] | None = None) -> str:
    """Argo CD's health of a claim under argocd-cm's scripts (default: the repository's)."""
    script = (health_scripts() if scripts is None else scripts).get("PersistentVolumeClaim")
    return run_health(script, obj)[0] if script else builtin_claim_health(obj)


@pytest.mark.parametrize(
    ("phase", "status"),
    [(None, "Healthy"), ("Pending", "Healthy"), ("Bound", "Healthy"), ("Lost", "Degraded")],
)
def test_claim_health_script(phase, status):
    claim = {"kind": "PersistentVolumeClaim", "metadata": {"name": "c"}, "spec": {}}
    if phase:
        claim["status"] = {"phase": phase}
    found, message = run_health(health_scripts()["PersistentVolumeClaim"], claim)
    assert found == status and message


def test_application_health_script_passes_the_childs_health_through():
    script = health_scripts()["Application"]
    assert run_health(script, {"status": {}})[0] == "Progressing"
    app = {"status": {"health": {"status": "Degraded", "message": "x"}}}
    assert run_health(script, app) == ("Degraded", "x")


def test_without_the_claim_override_a_pending_claim_holds_its_wave():
    """The built-in rule the override replaces: what made `make up` hang."""
    assert builtin_claim_health({"status": {"phase": "Pending"}}) == "Progressing"


# ------------------------------------------------------------------ the rendered tree


def wave(app: dict) -> int:
    return int(app["metadata"].get("annotations", {}).get("argocd.argoproj.io/sync-wave", 0))


def app_objects(app: dict) -> list[dict] | None:
    """The objects an application creates, rendered as Argo CD renders them; None for an
    upstream chart (a Helm repository: not rendered here)."""
    import helm_python

    source = app["spec"]["source"]
    namespace = app["spec"]["destination"].get("namespace", "default")
    path = source.get("path")
    if not path:
        return None
    folder = ROOT / path
    if path.startswith("charts/"):
        helm = source.get("helm", {})
        values: dict = {}
        for name in helm.get("valueFiles", []):
            values = deep_merge(values, load_yaml((folder / name).resolve()))
        values = deep_merge(values, helm.get("valuesObject", {}))
        out = helm_python.Chart.load(str(folder)).render(
            values, name=helm.get("releaseName", app["metadata"]["name"]), namespace=namespace
        )
        docs = [
            d for t, text in out.items() if t.endswith((".yaml", ".yml")) for d in load_all(text)
        ]
    else:
        docs = [d for f in sorted(folder.glob("*.yaml")) for d in load_all(f.read_text())]
        docs = [d for d in docs if d.get("kind") not in (None, "Kustomization")]
    for doc in docs:
        doc.setdefault("metadata", {}).setdefault("namespace", namespace)
    return docs


def pod_specs(obj: dict) -> list[dict]:
    if obj.get("kind") == "Pod":
        return [obj["spec"]]
    if obj.get("kind") == "CronJob":
        return [obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]]
    if obj.get("kind") in POD_KINDS:
        return [obj["spec"]["template"]["spec"]]
    return []


def claims_mounted(obj: dict) -> set[tuple[str, str]]:
    namespace = obj["metadata"]["namespace"]
    return {
        (namespace, v["persistentVolumeClaim"]["claimName"])
        for spec in pod_specs(obj)
        for v in spec.get("volumes", [])
        if "persistentVolumeClaim" in v
    }


def stuck_claims(env: str, scripts: dict[str, str] | None = None) -> list[str]:
    """kind's default storage class binds a claim only when a pod that mounts it is
    scheduled (WaitForFirstConsumer). Going wave by wave, as the root application does:
    a claim is Bound once a pod of this or an earlier wave mounts it, else Pending; the
    claims whose health then is not Healthy hold their wave (and every later one)."""
    apps = sorted(applications(env), key=wave)
    rendered = {a["metadata"]["name"]: app_objects(a) or [] for a in apps}
    assert any(rendered.values()), "nothing rendered"
    consumers: set[tuple[str, str]] = set()
    stuck = []
    for current in sorted({wave(a) for a in apps}):
        in_wave = [a["metadata"]["name"] for a in apps if wave(a) == current]
        consumers |= {c for name in in_wave for o in rendered[name] for c in claims_mounted(o)}
        for name in in_wave:
            for obj in rendered[name]:
                if obj.get("kind") != "PersistentVolumeClaim":
                    continue
                key = (obj["metadata"]["namespace"], obj["metadata"]["name"])
                phase = "Bound" if key in consumers else "Pending"
                health = claim_health({**obj, "status": {"phase": phase}}, scripts)
                if health != "Healthy":
                    stuck.append(f"wave {current}: {name}: claim {key} {phase}: {health}")
    return stuck


@pytest.mark.parametrize("env", ENVS)
def test_every_wave_becomes_healthy_with_only_the_waves_before_it(env):
    assert stuck_claims(env) == []


def test_without_the_claim_override_the_waves_would_hang():
    """The same walk with Argo CD's built-in claim rule only (argocd-cm without the
    override): the pipeline runtime's claims hold wave 1, as `make up` hung."""
    scripts = {k: v for k, v in health_scripts().items() if k != "PersistentVolumeClaim"}
    stuck = stuck_claims("kind", scripts)
    assert any("pipeline-runtime" in s and "mlops-state" in s for s in stuck), stuck


def test_the_tree_has_claims_that_wait_for_a_later_consumer():
    """The check above is not vacuous: the pipeline runtime's claims are mounted by the
    monitoring UI (a later wave) and by the DAGs' stage pods (never part of the tree)."""
    apps = {a["metadata"]["name"]: a for a in applications("kind")}
    objs = app_objects(apps["pipeline-runtime"])
    claims = {o["metadata"]["name"] for o in objs if o["kind"] == "PersistentVolumeClaim"}
    assert {"mlops-state", "mlops-evidently-workspace"} <= claims
    mounted_here = {c for o in objs for _, c in claims_mounted(o)}
    assert not claims & mounted_here


# ------------------------------------------------------------------ one list of images


def images_file() -> dict:
    return load_yaml(GITOPS / "images.yaml")


def stage_ref(images: dict, stage: str) -> str:
    return f"{images['registry']}/{images['images'][stage]}:{images['tag']}"


def dry_run_up(tmp_path: Path, images: Path | None = None) -> str:
    env = {**os.environ, "DRY_RUN": "1", "MLOPS_KIND_STATE": str(tmp_path / "state")}
    if images:
        env["IMAGES_FILE"] = str(images)
    proc = subprocess.run(
        ["bash", str(ROOT / "scripts" / "platform.sh"), "up"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


def applied_manifest(output: str, label: str) -> list[dict]:
    """The manifest `make up DRY_RUN=1` prints after its `--- # <label>` line."""
    body = output.split(f"--- # {label}\n", 1)[1].split("\n+ ", 1)[0]
    return load_all(body)


def test_make_up_runs_the_git_server_image_of_the_images_list(tmp_path):
    """After a release rewrites registry and tag, `make up` builds and deploys the same
    reference: the git server's image comes from the list, not from its manifest."""
    released = tmp_path / "images.yaml"
    text = (GITOPS / "images.yaml").read_text()
    text = re.sub(r"(?m)^registry: .*", "registry: registry.example.com/acme", text)
    text = re.sub(r"(?m)^tag: .*", 'tag: "9.8.7"', text)
    released.write_text(text)
    for images, path in ((images_file(), None), (yaml.safe_load(text), released)):
        out = dry_run_up(tmp_path, path)
        (deployment,) = [
            d
            for d in applied_manifest(out, "gitops/bootstrap/git-server.yaml")
            if d["kind"] == "Deployment"
        ]
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        assert container["image"] == stage_ref(images, "data_ingestion")
        assert f"kind load docker-image {stage_ref(images, 'data_ingestion')}" in out


def mlflow_image(path: Path) -> str:
    app = load_yaml(path)
    image = app["spec"]["source"]["helm"]["valuesObject"]["image"]
    return f"{image['repository']}:{image['tag']}"


def test_the_mlflow_server_runs_the_clients_mlflow_from_the_images_list():
    """The MLflow server is the training image (the clients' MLflow, from uv.lock): its
    reference is the list's, and the chart's own image tag is not used."""
    assert mlflow_image(GITOPS / "apps" / "mlflow.yaml") == stage_ref(
        images_file(), "model_training"
    )
    lock = (ROOT / "uv.lock").read_text()
    client = re.search(r'\[\[package\]\]\nname = "mlflow"\nversion = "([^"]+)"', lock)
    assert client, "mlflow is not in uv.lock"


def test_the_release_rewrites_the_list_and_the_mlflow_server_together(tmp_path):
    """The release workflow's pinning step, run for real on copies of both files."""
    workflow = load_yaml(ROOT / ".github" / "workflows" / "release.yml")
    steps = [s for job in workflow["jobs"].values() for s in job.get("steps", [])]
    (step,) = [s for s in steps if s.get("name", "").startswith("Pin the released images")]
    (tmp_path / "gitops" / "apps").mkdir(parents=True)
    for rel in ("gitops/images.yaml", "gitops/apps/mlflow.yaml"):
        (tmp_path / rel).write_text((ROOT / rel).read_text())
    script = step["run"].replace("git diff --stat", "true")
    proc = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=tmp_path,
        env={**os.environ, "OWNER": "Acme", "TAG": "v2.3.4"},
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    images = load_yaml(tmp_path / "gitops" / "images.yaml")
    assert images["registry"] == "ghcr.io/acme" and images["tag"] == "2.3.4"
    assert mlflow_image(tmp_path / "gitops" / "apps" / "mlflow.yaml") == stage_ref(
        images, "model_training"
    )


# ------------------------------------------------------------------ builds kind can load


def fake_docker(folder: Path, with_buildx: bool) -> Path:
    """A docker client stub whose `build --help` does (buildx, Docker 23+) or does not
    (Docker 20.10's built-in BuildKit) offer --provenance."""
    exe = folder / ("docker-buildx" if with_buildx else "docker-2010")
    flag = "--provenance string" if with_buildx else "--progress string"
    exe.write_text(f'#!/bin/sh\n[ "$1 $2" = "build --help" ] && echo "  {flag}"\nexit 0\n')
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    return exe


@pytest.mark.parametrize("with_buildx", [True, False])
def test_images_are_built_without_provenance_attestations(tmp_path, with_buildx):
    """kind load docker-image fails on images with attestations in Docker's containerd
    image store (kind issue 3795): buildx gets --provenance=false on every build."""
    proc = subprocess.run(
        ["bash", str(ROOT / "scripts" / "build-images.sh")],
        env={**os.environ, "DRY_RUN": "1", "DOCKER": str(fake_docker(tmp_path, with_buildx))},
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    builds = [
        line for line in proc.stdout.splitlines() if line.startswith("+ ") and " build " in line
    ]
    assert len(builds) == len(images_file()["images"])
    assert all(("--provenance=false" in b) == with_buildx for b in builds), builds


# ------------------------------------------------------------------ host prerequisites


def test_make_up_refuses_a_cgroup_v1_docker_host(tmp_path):
    """Kubernetes 1.35+ node images need cgroup v2: `make up` says so before it starts."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool, body in {
        "docker": 'case "$*" in *CgroupVersion*) echo 1;; esac; exit 0',
        "kind": "exit 0",
        "kubectl": "exit 0",
    }.items():
        exe = bin_dir / tool
        exe.write_text(f"#!/bin/sh\n{body}\n")
        exe.chmod(0o755)
    proc = subprocess.run(
        ["bash", str(ROOT / "scripts" / "platform.sh"), "up"],
        env={
            **os.environ,
            "PATH": f"{bin_dir}:{os.environ['PATH']}",
            "DRY_RUN": "0",
            "MLOPS_KIND_STATE": str(tmp_path / "state"),
        },
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "cgroup v2" in proc.stderr and "cgroup 1" in proc.stderr
    assert not (tmp_path / "state").exists() or not any((tmp_path / "state").iterdir())


# ------------------------------------------------------------------ pins kept current


def renovate() -> dict:
    return json.loads((ROOT / ".github" / "renovate.json").read_text())


def python_regex(js: str) -> re.Pattern:
    return re.compile(js.replace("(?<", "(?P<").replace("(?P<!", "(?<!").replace("(?P<=", "(?<="))


def repo_files(patterns: list[str]) -> list[Path]:
    regexes = [re.compile(p.strip("/")) for p in patterns]
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    return [ROOT / f for f in tracked if any(r.search(f) for r in regexes)]


def extracted_pins() -> set[tuple[str, str]]:
    """(file, current value) for every value a custom manager extracts today."""
    found = set()
    for manager in renovate()["customManagers"]:
        files = repo_files(manager["managerFilePatterns"])
        assert files, f"no file matches {manager['managerFilePatterns']}"
        hits = 0
        for path in files:
            for pattern in manager["matchStrings"]:
                for match in python_regex(pattern).finditer(path.read_text()):
                    found.add((str(path.relative_to(ROOT)), match.group("currentValue")))
                    hits += 1
        assert hits, (
            f"manager {manager.get('description') or manager['matchStrings']} matches nothing"
        )
    return found


def test_every_pin_has_a_bot_rule_that_reads_it():
    pins = extracted_pins()
    stores = load_yaml(CHARTS / "platform-stores" / "values.yaml")
    versions = dict(
        line.split("=", 1)
        for line in (GITOPS / "bootstrap" / "versions.env").read_text().splitlines()
        if "=" in line and not line.startswith("#")
    )
    dockerfile = (ROOT / "Dockerfile").read_text()
    expected = {
        ("gitops/images.yaml", images_file()["upstream"]["gitSync"].rsplit(":", 1)[1]),
        ("Dockerfile", re.search(r"ARG PYTHON_IMAGE=\S+:(\S+)", dockerfile).group(1)),
        ("Dockerfile", re.search(r"ARG UV_VERSION=(\S+)", dockerfile).group(1)),
        ("charts/platform-stores/values.yaml", stores["postgres"]["image"].rsplit(":", 1)[1]),
        ("gitops/bootstrap/versions.env", versions["ARGOCD_VERSION"]),
        ("gitops/bootstrap/versions.env", versions["KIND_VERSION"]),
    }
    assert expected <= pins, sorted(expected - pins)
    # Upstream charts (Argo CD applications) and actions (by SHA) have native managers.
    config = renovate()
    assert any("gitops/apps" in p for p in config["argocd"]["managerFilePatterns"])
    assert "helpers:pinGitHubActionDigests" in config["extends"]
    for app in applications("kind"):
        source = app["spec"]["source"]
        if source.get("chart"):
            path = GITOPS / "apps" / f"{app['metadata']['name']}.yaml"
            assert repo_files(config["argocd"]["managerFilePatterns"]).count(path) == 1


def test_the_platforms_own_images_are_left_to_the_release():
    rules = renovate()["packageRules"]
    assert any(
        r.get("enabled") is False and "/mlops-platform/" in r.get("matchPackageNames", [])
        for r in rules
    )


# ------------------------------------------------------------------ Helm 3 and Helm 4 agree


def nulls(node, path="") -> list[str]:
    if node is None:
        return [path or "<document>"]
    if isinstance(node, dict):
        return [n for k, v in node.items() for n in nulls(v, f"{path}.{k}" if path else str(k))]
    if isinstance(node, list):
        return [n for i, v in enumerate(node) for n in nulls(v, f"{path}[{i}]")]
    return []


def values_inputs() -> list[tuple[str, object]]:
    """Every values document a chart gets: chart defaults, gitops/images.yaml, each
    environment's files and the applications' valuesObject."""
    inputs = [
        (str(p.relative_to(ROOT)), load_yaml(p)) for p in sorted(CHARTS.glob("*/values.yaml"))
    ]
    inputs.append(("gitops/images.yaml", images_file()))
    inputs += [
        (str(p.relative_to(ROOT)), load_yaml(p))
        for p in sorted((GITOPS / "envs").glob("*/*.yaml"))
        if load_yaml(p).get("kind") is None
    ]
    for env in ENVS:
        for app in applications(env):
            obj = app["spec"]["source"].get("helm", {}).get("valuesObject")
            if obj is not None:
                inputs.append((f"{env}: {app['metadata']['name']} valuesObject", obj))
    return inputs


def strip_nulls(node):
    if isinstance(node, dict):
        return {k: strip_nulls(v) for k, v in node.items() if v is not None}
    if isinstance(node, list):
        return [strip_nulls(v) for v in node]
    return node


def test_no_overriding_values_file_has_an_explicit_null():
    """A null in a file that overrides a chart's defaults (gitops/images.yaml, an
    environment's values, an application's valuesObject) asks Helm to delete the default,
    which Helm 4 (Argo CD 3.5) and the Helm 3 engine these tests render with handle
    differently: there is none."""
    overriding = [(n, d) for n, d in values_inputs() if not n.startswith("charts/")]
    found = [f"{name}: {n}" for name, doc in overriding for n in nulls(doc)]
    assert found == [], found


@pytest.mark.parametrize("chart", sorted(p.parent.name for p in CHARTS.glob("*/Chart.yaml")))
def test_rendering_does_not_depend_on_the_charts_own_nulls(chart, tmp_path):
    """A chart's own values.yaml may declare a key as null (absent unless set): rendered
    with those keys removed instead, every values case gives the same objects, so the
    engines' null handling cannot change what Argo CD applies."""
    import shutil

    import helm_python
    from k8s_support import CHART_NAMESPACE, values_cases

    defaults = load_yaml(CHARTS / chart / "values.yaml")
    copy = tmp_path / chart
    shutil.copytree(CHARTS / chart, copy)
    (copy / "values.yaml").write_text(yaml.safe_dump(strip_nulls(defaults)))
    for name, label, values in values_cases():
        if name != chart:
            continue
        outputs = [
            {
                t: load_all(text)
                for t, text in helm_python.Chart.load(str(folder))
                .render(values, name=chart, namespace=CHART_NAMESPACE[chart], is_install=True)
                .items()
                if t.endswith((".yaml", ".yml"))
            }
            for folder in (CHARTS / chart, copy)
        ]
        assert outputs[0] == outputs[1], f"{chart} [{label}] depends on its null defaults"


def test_the_null_check_finds_a_null():
    assert nulls(yaml.safe_load("a:\n  b: ~\n  c: [1, null]\n")) == ["a.b", "a.c[1]"]
