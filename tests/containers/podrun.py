"""Run one container of a rendered Kubernetes pod spec with docker, settings taken from the
spec itself: image, command and args, env (values, ConfigMap and Secret references, envFrom),
the pod's and the container's securityContext (user, group, read-only root, capabilities,
privilege escalation), memory and CPU limits, ports, and one mount per volumeMount.

What a cluster would provide is passed in, never re-typed from the chart: the ConfigMaps
(rendered by their chart), the Secrets' values (made by `make up` in a cluster, by the test
here), a host folder per emptyDir (kubelet makes those on the node's disk) and one per
PersistentVolumeClaim (what a provisioner such as kind's local-path makes: the same claim
is the same folder for every pod that mounts it)."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

_QUANTITY = re.compile(r"^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|M|G|m)?$")
_BYTES = {None: 1, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 1e3, "M": 1e6, "G": 1e9}


def memory_bytes(quantity: str) -> int:
    value, unit = _QUANTITY.match(str(quantity)).groups()
    return int(float(value) * _BYTES[unit])


def cpus(quantity: str) -> str:
    value, unit = _QUANTITY.match(str(quantity)).groups()
    return str(float(value) / 1000 if unit == "m" else float(value))


@dataclass
class Cluster:
    """What the cluster holds for a pod: ConfigMaps and Secrets by name (key -> value)."""

    config_maps: dict[str, dict[str, str]] = field(default_factory=dict)
    secrets: dict[str, dict[str, str]] = field(default_factory=dict)

    def lookup(self, kind: str, ref: dict) -> str | None:
        """A key of a ConfigMap or Secret; None for a missing optional one (Kubernetes then
        leaves the variable unset); a missing required one fails as the kubelet would."""
        store = self.config_maps if kind == "configMapKeyRef" else self.secrets
        value = store.get(ref["name"], {}).get(ref["key"])
        if value is None and not ref.get("optional"):
            raise KeyError(f"{kind} {ref['name']}/{ref['key']} does not exist")
        return value


def container_env(container: dict, cluster: Cluster) -> dict[str, str]:
    """The environment Kubernetes gives the container: envFrom first, then env."""
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            env.update(cluster.config_maps[source["configMapRef"]["name"]])
        else:
            env.update(cluster.secrets[source["secretRef"]["name"]])
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = str(item["value"])
        else:
            ((kind, ref),) = item["valueFrom"].items()
            value = cluster.lookup(kind, ref)
            if value is not None:
                env[item["name"]] = value
    return env


def docker_run_args(
    pod_spec: dict,
    container_name: str,
    cluster: Cluster,
    volume_root: Path,
    env_overrides: dict[str, str] | None = None,
    extra_mounts: dict[str, str] | None = None,
    network: str | None = None,
    volume_folders: dict[str, Path] | None = None,
    claim_root: Path | None = None,
) -> list[str]:
    """`docker run` arguments (after `run`, before nothing) for one container of pod_spec.

    emptyDir volumes become fresh host folders under volume_root (mode 0777, as kubelet
    makes them); secret and configMap volumes become read-only folders of their keys.
    env_overrides and extra_mounts (host path -> container path, read-only) are what a
    test changes on purpose, named by the caller.

    network: a docker network (`host`: the host's loopback services are reachable; no port
    is published then). Claims (persistentVolumeClaim volumes, or a StatefulSet's
    volumeClaimTemplates, which the caller passes as volumes) become host folders
    claim_root/<claim name> (default volume_root/claims; pass one claim_root to every pod
    that shares the claims). volume_folders: volume name -> a host folder the caller
    filled (what an init container, such as git-sync, leaves in an emptyDir)."""
    container = next(
        c
        for c in [*pod_spec.get("initContainers", []), *pod_spec["containers"]]
        if c["name"] == container_name
    )
    pod_sec = pod_spec.get("securityContext", {})
    sec = {**pod_sec, **container.get("securityContext", {})}
    args = ["--user", f"{sec['runAsUser']}:{sec.get('runAsGroup', sec['runAsUser'])}"]
    if "fsGroup" in pod_sec:
        args += ["--group-add", str(pod_sec["fsGroup"])]
    if sec.get("readOnlyRootFilesystem"):
        args.append("--read-only")
    for cap in sec.get("capabilities", {}).get("drop", []):
        args += ["--cap-drop", cap]
    if sec.get("allowPrivilegeEscalation") is False:
        args += ["--security-opt", "no-new-privileges"]
    limits = container.get("resources", {}).get("limits", {})
    if "memory" in limits:
        args += ["--memory", str(memory_bytes(limits["memory"]))]
    if "cpu" in limits:
        args += ["--cpus", cpus(limits["cpu"])]
    if network:
        args += ["--network", network]
    if network != "host":
        for port in container.get("ports", []):
            args += ["--publish", f"127.0.0.1::{port['containerPort']}"]
    env = {**container_env(container, cluster), **(env_overrides or {})}
    for name, value in env.items():
        args += ["--env", f"{name}={value}"]
    volumes = {v["name"]: v for v in pod_spec.get("volumes", [])}
    for mount in container.get("volumeMounts", []):
        volume = volumes[mount["name"]]
        host = volume_root / mount["name"]
        if mount["name"] in (volume_folders or {}):
            host = Path(volume_folders[mount["name"]])
        elif "persistentVolumeClaim" in volume:
            host = (claim_root or volume_root / "claims") / volume["persistentVolumeClaim"][
                "claimName"
            ]
            host.mkdir(parents=True, exist_ok=True)
            host.chmod(0o777)
        elif "emptyDir" in volume:
            host.mkdir(parents=True, exist_ok=True)
            host.chmod(0o777)
        elif "secret" in volume or "configMap" in volume:
            if "secret" in volume:
                data = cluster.secrets[volume["secret"]["secretName"]]
            else:
                data = cluster.config_maps[volume["configMap"]["name"]]
            if host.exists():
                shutil.rmtree(host)
            host.mkdir(parents=True)
            for key, value in data.items():
                (host / key).write_text(value)
                (host / key).chmod(0o644)
        else:
            raise NotImplementedError(f"volume {mount['name']}: {sorted(volume)}")
        mode = "ro" if mount.get("readOnly") else "rw"
        args += ["--volume", f"{host}:{mount['mountPath']}:{mode}"]
    for host_path, path in (extra_mounts or {}).items():
        args += ["--volume", f"{host_path}:{path}:ro"]
    if container.get("command"):
        args += ["--entrypoint", container["command"][0]]
    args.append(container["image"])
    args += [*container.get("command", [])[1:], *container.get("args", [])]
    return args


def published_port(docker: str, container_id: str, port: int) -> int:
    out = subprocess.run(
        [docker, "port", container_id, f"{port}/tcp"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return int(out.splitlines()[0].rsplit(":", 1)[1])
