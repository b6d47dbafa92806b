"""A self-contained build context for a model-serving image (for kaniko, docker, buildah)."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import tempfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from mlops_core.errors import BadInput

BASE_IMAGE = "python:3.11.11-slim-bookworm"
PORT = 8080

DOCKERFILE = """\
# Model-serving image for {name} version {version} (data {data_version}).
# Written by `mlops promote --build-context`; build with: docker build -t IMAGE .
FROM {base}
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \\
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN useradd --create-home --uid 10001 model
WORKDIR /opt/model
COPY requirements.txt /opt/model/requirements.txt
RUN pip install --no-cache-dir -r /opt/model/requirements.txt
COPY --chown=10001:10001 model/ /opt/model/model/
USER 10001
EXPOSE {port}
HEALTHCHECK CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:{port}/ping')"]
CMD ["mlflow", "models", "serve", "--model-uri", "/opt/model/model", "--env-manager", "local", \\
     "--host", "0.0.0.0", "--port", "{port}"]
"""


def pinned_requirements(model_dir: Path) -> list[str]:
    """The model's requirements, each pinned to the version installed here when unpinned."""
    lines: list[str] = []
    req = model_dir / "requirements.txt"
    if req.exists():
        lines = [
            ln.strip()
            for ln in req.read_text().splitlines()
            if ln.strip() and not ln.startswith("#")
        ]
    names = {re.split(r"[<>=!~\[ ;]", ln, maxsplit=1)[0].lower() for ln in lines}
    if "mlflow" not in names:
        lines.insert(0, "mlflow")
    pinned = []
    for line in lines:
        if line.startswith("-"):
            continue  # pip options (-r, -c, --index-url) have no place in a pinned context
        name = re.split(r"[<>=!~\[ ;]", line, maxsplit=1)[0]
        if "==" in line:
            pinned.append(line)
            continue
        try:
            pinned.append(f"{name}=={version(name)}")
        except PackageNotFoundError as exc:
            raise BadInput(
                f"requirement {line!r} of the model is not installed here, so it cannot be "
                "pinned; pin it when logging the model"
            ) from exc
    return pinned


def write(dest: Path, model_dir: Path, candidate) -> dict:
    """Write Dockerfile, model/, requirements.txt and build.json into dest (atomically)."""
    dest = dest.expanduser().resolve()
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise BadInput(f"--build-context {dest}: exists and is not an empty folder")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}-", dir=dest.parent))
    try:
        shutil.copytree(model_dir, tmp / "model")
        requirements = pinned_requirements(model_dir)
        (tmp / "requirements.txt").write_text("\n".join(requirements) + "\n")
        (tmp / "Dockerfile").write_text(
            DOCKERFILE.format(
                name=candidate.name,
                version=candidate.version,
                data_version=candidate.data_version,
                base=BASE_IMAGE,
                port=PORT,
            )
        )
        (tmp / ".dockerignore").write_text("build.json\n")
        files = {
            str(p.relative_to(tmp)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((tmp / "model").rglob("*"))
            if p.is_file()
        }
        manifest = {
            "model_name": candidate.name,
            "model_version": candidate.version,
            "run_id": candidate.run_id,
            "data_version": candidate.data_version,
            "base_image": BASE_IMAGE,
            "requirements": requirements,
            "files": files,
        }
        (tmp / "build.json").write_text(json.dumps(manifest, indent=2) + "\n")
        if dest.exists():
            dest.rmdir()
        tmp.rename(dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {"path": str(dest), "files": len(files), "requirements": requirements}
