"""Policy checks over everything that reaches the cluster from this repository: the charts
rendered with every environment's values and the plain manifests of gitops/."""

from __future__ import annotations

import re

import pytest
from k8s_support import (
    BOOTSTRAP_NAMESPACES,
    CUSTOM_KINDS,
    GITOPS,
    KUBE_VERSION,
    ROOT,
    all_chart_objects,
    load_all,
    plain_manifest_files,
    plain_objects,
)

WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "Pod"}
LONG_RUNNING = {"Deployment", "StatefulSet", "DaemonSet"}


def everything():
    return all_chart_objects() + plain_objects()


def pod_spec(obj: dict) -> dict | None:
    kind = obj.get("kind")
    if kind == "Pod":
        return obj["spec"]
    if kind == "CronJob":
        return obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    if kind in WORKLOADS:
        return obj["spec"]["template"]["spec"]
    return None


def containers(spec: dict):
    yield from spec.get("initContainers", [])
    yield from spec.get("containers", [])


def workloads():
    return [(r, pod_spec(r.obj)) for r in everything() if r.kind in WORKLOADS]


def test_there_are_workloads_to_check():
    kinds = {r.kind for r, _ in workloads()}
    assert {"Deployment", "StatefulSet", "Job"} <= kinds


def test_plain_manifests_are_valid_kubernetes():
    import kubernetes_validate

    files = plain_manifest_files()
    assert any(p.parent.name == "host-access" for p in files)
    errors = []
    for r in plain_objects():
        if r.kind in CUSTOM_KINDS:
            continue
        try:
            kubernetes_validate.validate(r.obj, KUBE_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            errors.append(f"{r}: {str(exc).splitlines()[0]}")
    assert not errors, "\n".join(errors)


def test_pods_run_as_non_root_without_privileges():
    errors = []
    for r, spec in workloads():
        pod_nonroot = spec.get("securityContext", {}).get("runAsNonRoot") is True
        if spec.get("hostNetwork") or spec.get("hostPID") or spec.get("hostIPC"):
            errors.append(f"{r}: host namespaces")
        for c in containers(spec):
            sc = c.get("securityContext", {})
            where = f"{r} container {c['name']}"
            if not (pod_nonroot or sc.get("runAsNonRoot") is True):
                errors.append(f"{where}: runAsNonRoot is not set")
            if sc.get("runAsUser") == 0 or spec.get("securityContext", {}).get("runAsUser") == 0:
                errors.append(f"{where}: runs as uid 0")
            if sc.get("allowPrivilegeEscalation") is not False:
                errors.append(f"{where}: allowPrivilegeEscalation is not false")
            if sc.get("privileged"):
                errors.append(f"{where}: privileged")
            if "ALL" not in sc.get("capabilities", {}).get("drop", []):
                errors.append(f"{where}: capabilities not dropped")
            if sc.get("readOnlyRootFilesystem") is not True:
                errors.append(f"{where}: root filesystem is writable")
    assert not errors, "\n".join(errors)


def test_pods_use_the_runtime_default_seccomp_profile():
    errors = [
        str(r)
        for r, spec in workloads()
        if spec.get("securityContext", {}).get("seccompProfile", {}).get("type") != "RuntimeDefault"
    ]
    assert not errors, errors


def test_containers_have_resource_requests_and_limits():
    errors = []
    for r, spec in workloads():
        for c in containers(spec):
            res = c.get("resources", {})
            req, lim = res.get("requests", {}), res.get("limits", {})
            if not {"cpu", "memory"} <= set(req):
                errors.append(f"{r} {c['name']}: requests need cpu and memory")
            if "memory" not in lim:
                errors.append(f"{r} {c['name']}: no memory limit")
    assert not errors, "\n".join(errors)


def test_long_running_containers_have_probes():
    errors = []
    for r, spec in workloads():
        if r.kind not in LONG_RUNNING:
            continue
        for c in spec["containers"]:
            missing = [p for p in ("readinessProbe", "livenessProbe") if p not in c]
            if missing:
                errors.append(f"{r} {c['name']}: no {', '.join(missing)}")
    assert not errors, "\n".join(errors)


IMAGE = re.compile(r"^(?P<repo>[a-z0-9.\-/:]+?)(?::(?P<tag>[\w.\-]+))?(?:@sha256:[0-9a-f]{64})?$")


def test_images_are_pinned_and_never_latest():
    errors = []
    for r, spec in workloads():
        for c in containers(spec):
            m = IMAGE.match(c["image"])
            if not m or not (m.group("tag") or "@sha256:" in c["image"]):
                errors.append(f"{r}: image {c['image']} has no tag")
            elif m.group("tag") == "latest":
                errors.append(f"{r}: image {c['image']} is tagged latest")
    assert not errors, "\n".join(errors)


def test_no_image_reference_anywhere_in_gitops_uses_latest():
    for path in GITOPS.rglob("*.yaml"):
        for line in path.read_text().splitlines():
            assert not re.search(r"image:\s*\S+:latest\b", line), f"{path}: {line}"


def test_no_secret_with_data_in_git():
    """Secrets are created by `make up` (or External Secrets); git holds none with data."""
    offenders = []
    for r in everything():
        if r.kind == "Secret" and (r.obj.get("data") or r.obj.get("stringData")):
            offenders.append(str(r))
    for path in list(ROOT.glob("gitops/**/*.y*ml")) + list(ROOT.glob("charts/**/*.y*ml")):
        if "templates" in path.parts:
            continue  # templates are checked rendered, above
        for doc in load_all(path.read_text()):
            if (
                isinstance(doc, dict)
                and doc.get("kind") == "Secret"
                and (doc.get("data") or doc.get("stringData"))
            ):
                offenders.append(str(path))
    assert not offenders, offenders


@pytest.mark.parametrize("pattern", [r"password:\s*\S{6,}", r"secretKey:\s*\S{6,}"])
def test_no_credential_literals_in_gitops_or_charts(pattern):
    hits = []
    for path in list(GITOPS.rglob("*.yaml")) + list((ROOT / "charts").rglob("*.yaml")):
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if (
                re.search(pattern, line)
                and "secretKeyRef" not in line
                and not re.search(r"(passwordKey|keyOf|usernameKey)", line)
            ):
                hits.append(f"{path}:{n}: {line.strip()}")
    assert not hits, hits


def declared_namespaces() -> set[str]:
    objs = [d for d in load_all((GITOPS / "namespaces" / "namespaces.yaml").read_text())]
    return {d["metadata"]["name"] for d in objs if d["kind"] == "Namespace"}


def test_every_referenced_namespace_exists():
    from k8s_support import ENVS, all_applications

    known = declared_namespaces() | BOOTSTRAP_NAMESPACES
    referenced: dict[str, str] = {}
    for r in everything():
        ns = r.obj.get("metadata", {}).get("namespace")
        if ns:
            referenced.setdefault(ns, str(r))
        for subject in r.obj.get("subjects", []) or []:
            if subject.get("namespace"):
                referenced.setdefault(subject["namespace"], f"{r} subject")
    for env in ENVS:
        for app in all_applications(env):
            ns = app["spec"]["destination"].get("namespace")
            if ns:
                referenced.setdefault(ns, f"Application {app['metadata']['name']} ({env})")
    missing = {ns: where for ns, where in referenced.items() if ns not in known}
    assert not missing, missing
