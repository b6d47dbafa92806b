"""Observability of the embedded runtime: a Pushgateway and a Prometheus started by
`mlops up --observability` as supervised services of MLOPS_HOME (mlops_core.services).

Prometheus scrapes this home's prediction services (`/metrics`, which needs no API key)
and the Pushgateway (honor_labels, so the `job` and `model` that `mlops monitor` pushes
are kept), and evaluates the rules of `mlops_core.alerting` (plus any rules files named in
MLOPS_OBSERVABILITY_RULE_FILES), the rules the cluster's Prometheus gets as a
PrometheusRule. What is written under MLOPS_HOME:

    prometheus/prometheus.yml                     the configuration (generated)
    prometheus/rules/mlops-alerts.rules.yml       the platform's rules for every model folder
    prometheus/targets/prediction-services.json   the scrape targets (file_sd)
    prometheus/data/                              the TSDB
    pushgateway/metrics.data                      the pushed series, kept across restarts

A prediction service's port is claimed when it starts (another home may hold the
configured one), so the targets are the ports this home's services got: rewritten, and
Prometheus reloaded, each time one of them starts (`service_started`, called by
ServiceManager.start).
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml
from filelock import FileLock
from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from mlops_core.contracts import Service
from mlops_core.contracts.runtime import AlertStatus, ServiceStarted
from mlops_core.errors import BadInput, Unavailable
from mlops_core.services import ServiceInfo, ServiceManager
from mlops_core.settings import PlatformSettings, StageSettings

log = logging.getLogger("mlops.observability")

PROMETHEUS = Service.PROMETHEUS.value
PUSHGATEWAY = Service.PUSHGATEWAY.value
# Services of this name (the shared one) or prefix (the loop runner's one per model) are
# prediction services: mlops_core cannot import the stage, so the name is the contract.
PREDICTION_SERVICE = "prediction-service"
PREDICTION_JOB = "prediction-service"
PUSHGATEWAY_JOB = "pushgateway"
PUSHGATEWAY_VARIABLE = "MLOPS_MONITOR_PUSHGATEWAY_URL"

INSTALL = "apt-get install prometheus prometheus-pushgateway"
# Where Debian's packages put the binaries: found even when PATH is cut down (a service).
DEBIAN_BINARIES = {
    PROMETHEUS: Path("/usr/bin/prometheus"),
    PUSHGATEWAY: Path("/usr/bin/prometheus-pushgateway"),
}
# The official release archive names the Pushgateway `pushgateway`, Debian renames it.
BINARY_NAMES = {PROMETHEUS: ("prometheus",), PUSHGATEWAY: ("pushgateway", "prometheus-pushgateway")}
_DURATION = re.compile(r"^([0-9]+(ms|s|m|h|d|w|y))+$")


class ObservabilitySettings(StageSettings):
    """Settings of `mlops up --observability` (MLOPS_OBSERVABILITY_*)."""

    model_config = SettingsConfigDict(env_prefix="MLOPS_OBSERVABILITY_")

    prometheus_bin: Path | None = Field(
        default=None,
        description="The prometheus binary; else `prometheus` on PATH, else /usr/bin/prometheus.",
    )
    pushgateway_bin: Path | None = Field(
        default=None,
        description="The Pushgateway binary; else `pushgateway` or `prometheus-pushgateway` "
        "on PATH, else /usr/bin/prometheus-pushgateway.",
    )
    prometheus_port: int = Field(
        default=9090, ge=1, le=65535, description="Prometheus's port (a free one when held)."
    )
    pushgateway_port: int = Field(
        default=9091, ge=1, le=65535, description="The Pushgateway's port (a free one when held)."
    )
    scrape_interval: str = Field(
        default="5s", description="How often Prometheus scrapes (short: alerts within seconds)."
    )
    evaluation_interval: str = Field(default="5s", description="How often rules are evaluated.")
    retention: str = Field(default="7d", description="How long Prometheus keeps samples.")
    rule_files: str | None = Field(
        default=None,
        description="More Prometheus rules files (comma-separated paths), evaluated beside "
        "the platform's rules.",
    )
    start_timeout: float = Field(default=60.0, gt=0, description="Seconds to wait for /-/ready.")

    @field_validator("scrape_interval", "evaluation_interval", "retention")
    @classmethod
    def _duration(cls, value: str) -> str:
        if not _DURATION.match(value.strip()):
            raise ValueError(f"{value!r} is not a Prometheus duration (e.g. 5s, 1m, 7d)")
        return value.strip()

    def extra_rule_files(self) -> list[Path]:
        """The files of `rule_files`, each checked to exist (BadInput naming it)."""
        files = []
        for raw in (self.rule_files or "").split(","):
            if not raw.strip():
                continue
            path = Path(raw.strip()).expanduser().resolve()
            if not path.is_file():
                raise BadInput(f"MLOPS_OBSERVABILITY_RULE_FILES: {path}: no such file")
            files.append(path)
        return files


def find_binary(service: str, configured: Path | None) -> str:
    """The binary of `service`: the setting, else PATH, else Debian's path; Unavailable
    saying how to install it when there is none."""
    variable = f"MLOPS_OBSERVABILITY_{service.upper()}_BIN"
    if configured is not None:
        path = configured.expanduser()
        if not (path.is_file() and shutil.which(str(path))):
            raise BadInput(f"{variable}={configured}: no such executable file")
        return str(path)
    for name in BINARY_NAMES[service]:
        found = shutil.which(name)
        if found:
            return found
    debian = DEBIAN_BINARIES[service]
    if debian.is_file():
        return str(debian)
    names = " or ".join(f"`{n}`" for n in BINARY_NAMES[service])
    raise Unavailable(
        f"{service} is not installed: no {names} on PATH nor {debian}; install it with "
        f"`{INSTALL}` (Debian, Ubuntu), put the official binary on PATH, or set {variable}"
    )


class Layout:
    """Where a home's Prometheus and Pushgateway keep their files."""

    def __init__(self, home: Path) -> None:
        self.root = home / "prometheus"
        self.config = self.root / "prometheus.yml"
        self.rules = self.root / "rules" / "mlops-alerts.rules.yml"
        self.targets = self.root / "targets" / "prediction-services.json"
        self.data = self.root / "data"
        self.pushgateway_data = home / "pushgateway" / "metrics.data"
        self.lock = self.root / ".config.lock"


def prometheus_config(
    obs: ObservabilitySettings, layout: Layout, pushgateway: str, rule_files: list[Path]
) -> dict[str, Any]:
    """The Prometheus configuration document of one home."""
    return {
        "global": {
            "scrape_interval": obs.scrape_interval,
            "evaluation_interval": obs.evaluation_interval,
            # A scrape must end before the next one starts.
            "scrape_timeout": obs.scrape_interval,
        },
        "rule_files": [str(p) for p in rule_files],
        "scrape_configs": [
            {
                "job_name": PREDICTION_JOB,
                "metrics_path": "/metrics",
                # The targets change when a service starts on another port: a file of
                # targets that is rewritten, not the configuration.
                "file_sd_configs": [{"files": [str(layout.targets)], "refresh_interval": "30s"}],
            },
            {
                "job_name": PUSHGATEWAY_JOB,
                # Keep the job and grouping labels (model) the batch job pushed.
                "honor_labels": True,
                "static_configs": [{"targets": [pushgateway.removeprefix("http://")]}],
            },
        ],
    }


def scrape_targets(manager: ServiceManager) -> list[dict[str, Any]]:
    """A file_sd document: every prediction service recorded under this home, on its port."""
    groups = []
    for info in manager.all():
        if _is_prediction_service(info.name) and info.port:
            groups.append({"targets": [f"127.0.0.1:{info.port}"], "labels": {"service": info.name}})
    return groups


def _is_prediction_service(name: str) -> bool:
    return name == PREDICTION_SERVICE or name.startswith(PREDICTION_SERVICE + "-")


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.new")
    tmp.write_text(text)
    tmp.replace(path)


def _promtool(prometheus: str) -> str | None:
    """promtool beside the prometheus binary (both packages ship it there), else on PATH."""
    beside = Path(prometheus).with_name("promtool")
    return str(beside) if beside.is_file() else shutil.which("promtool")


def _check(promtool: str | None, *args: str, what: str) -> None:
    if promtool is None:
        return  # Prometheus checks the files itself when it starts or reloads
    done = subprocess.run(
        [promtool, "check", *args], capture_output=True, text=True, timeout=60, check=False
    )
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).splitlines()
        detail = " ".join(x.strip() for x in lines if x.strip() not in ("", "FAILED:"))
        raise BadInput(f"{what} is not valid for Prometheus: {detail}")


def write_configuration(
    settings: PlatformSettings,
    obs: ObservabilitySettings,
    manager: ServiceManager,
    pushgateway: str,
    prometheus_bin: str,
) -> Layout:
    """Write the rules, the targets and the configuration, each checked with promtool
    before it replaces the one in place (a bad rules file leaves the running set intact)."""
    from mlops_core.alerting import write_rules_file

    layout = Layout(settings.home)
    extra = obs.extra_rule_files()
    promtool = _promtool(prometheus_bin)
    staged_rules = layout.rules.with_name(f".{layout.rules.name}.new")
    staged_config = layout.config.with_name(f".{layout.config.name}.new")
    with FileLock(layout.lock, timeout=60):
        try:
            layout.rules.parent.mkdir(parents=True, exist_ok=True)
            write_rules_file(staged_rules, settings.models())
            _check(promtool, "rules", str(staged_rules), what="the platform's alert rules")
            for path in extra:
                what = f"MLOPS_OBSERVABILITY_RULE_FILES: {path}"
                _check(promtool, "rules", str(path), what=what)
            document = prometheus_config(obs, layout, pushgateway, [layout.rules, *extra])
            staged_config.write_text(yaml.safe_dump(document, sort_keys=False))
            _check(
                promtool, "config", "--syntax-only", str(staged_config), what="the configuration"
            )
            staged_rules.replace(layout.rules)
            staged_config.replace(layout.config)
        finally:
            staged_rules.unlink(missing_ok=True)
            staged_config.unlink(missing_ok=True)
        _write_atomic(layout.targets, json.dumps(scrape_targets(manager), indent=2))
    return layout


def reload_prometheus(url: str) -> None:
    """Make Prometheus read its configuration, rules and targets again (--web.enable-lifecycle)."""
    try:
        response = httpx.post(f"{url}/-/reload", timeout=30.0)
    except httpx.HTTPError as exc:
        raise Unavailable(f"Prometheus at {url} cannot be reloaded: {type(exc).__name__}") from None
    if response.status_code >= 300:
        raise Unavailable(
            f"Prometheus at {url} refused to reload (HTTP {response.status_code}): "
            f"{response.text.strip()[:500]}"
        )


def _running(manager: ServiceManager, name: str) -> ServiceInfo | None:
    info = manager.get(name)
    return info if info is not None and info.alive else None


@dataclass(frozen=True)
class Observability:
    """What `mlops up --observability` starts, checked before anything starts (a missing
    binary or rules file starts nothing)."""

    settings: PlatformSettings
    obs: ObservabilitySettings
    prometheus_bin: str
    pushgateway_bin: str

    @classmethod
    def prepare(cls, settings: PlatformSettings) -> Observability:
        obs = ObservabilitySettings()
        prometheus = find_binary(PROMETHEUS, obs.prometheus_bin)
        pushgateway = find_binary(PUSHGATEWAY, obs.pushgateway_bin)
        promtool = _promtool(prometheus)
        for path in obs.extra_rule_files():
            _check(promtool, "rules", str(path), what=f"MLOPS_OBSERVABILITY_RULE_FILES: {path}")
        return cls(settings, obs, prometheus, pushgateway)

    def start(self) -> list[ServiceStarted]:
        """Start this home's Pushgateway and Prometheus unless they run; a Prometheus that
        runs already reloads the configuration, rewritten from the model folders of now."""
        settings, obs = self.settings, self.obs
        manager = ServiceManager(settings.run_dir)
        layout = Layout(settings.home)
        entries = []

        port, note = manager.claim_port(PUSHGATEWAY, obs.pushgateway_port)
        pushgateway = f"http://127.0.0.1:{port}"
        layout.pushgateway_data.parent.mkdir(parents=True, exist_ok=True)
        info, started = manager.start(
            PUSHGATEWAY,
            [
                self.pushgateway_bin,
                f"--web.listen-address=127.0.0.1:{port}",
                # Pushed results survive `mlops down && mlops up`: alerts come back with it.
                f"--persistence.file={layout.pushgateway_data}",
                "--persistence.interval=30s",
            ],
            url=pushgateway,
            health_url=f"{pushgateway}/-/ready",
            timeout=obs.start_timeout,
            port=port,
        )
        pushgateway = info.url or pushgateway
        entries.append(_entry(PUSHGATEWAY, pushgateway, started, note))

        port, note = manager.claim_port(PROMETHEUS, obs.prometheus_port)
        url = f"http://127.0.0.1:{port}"
        write_configuration(settings, obs, manager, pushgateway, self.prometheus_bin)
        layout.data.mkdir(parents=True, exist_ok=True)
        info, started = manager.start(
            PROMETHEUS,
            [
                self.prometheus_bin,
                f"--config.file={layout.config}",
                f"--storage.tsdb.path={layout.data}",
                f"--storage.tsdb.retention.time={obs.retention}",
                f"--web.listen-address=127.0.0.1:{port}",
                # Links in alerts and the UI name this address, not the machine's hostname.
                f"--web.external-url={url}",
                # POST /-/reload: a prediction service that starts on another port is
                # scraped there without a restart.
                "--web.enable-lifecycle",
            ],
            url=url,
            health_url=f"{url}/-/ready",
            timeout=obs.start_timeout,
            port=port,
            cwd=layout.root,
        )
        url = info.url or url
        if not started:
            reload_prometheus(url)
        extra = {
            "alerts": f"{url}/alerts",
            "config": str(layout.config),
            "rules": str(layout.rules),
        }
        entries.append(_entry(PROMETHEUS, url, started, note, **extra))
        return entries


def _entry(name: str, url: str, started: bool, note: str | None, **extra: str) -> ServiceStarted:
    fields: dict[str, Any] = {"service": name, "url": url, "started": started, **extra}
    if note and started:
        fields["note"] = note
    return ServiceStarted.model_validate(fields)


def service_started(manager: ServiceManager, info: ServiceInfo) -> None:
    """Called when a service of the home has started: a prediction service (maybe on a new
    port) is written into the targets and Prometheus reloaded, when this home's runs.

    A failure is logged, never raised: the service itself did start."""
    if not _is_prediction_service(info.name):
        return
    prometheus = _running(manager, PROMETHEUS)
    if prometheus is None or not prometheus.url:
        return
    layout = Layout(manager.home)
    try:
        with FileLock(layout.lock, timeout=60):
            _write_atomic(layout.targets, json.dumps(scrape_targets(manager), indent=2))
        reload_prometheus(prometheus.url)
    except Exception as exc:  # the service runs; Prometheus refreshes the file within 30 s
        log.warning(
            "Prometheus not reloaded with the new prediction service target",
            extra={"service": info.name, "error": str(exc)},
        )


def pushgateway_url(settings: PlatformSettings) -> str | None:
    """This home's running Pushgateway, or None: where `mlops monitor` pushes when
    MLOPS_MONITOR_PUSHGATEWAY_URL is unset."""
    info = _running(ServiceManager(settings.run_dir), PUSHGATEWAY)
    return info.url if info is not None else None


def stage_env(settings: PlatformSettings) -> dict[str, str]:
    """Variables the embedded runtime gives the stage commands it runs: its Pushgateway
    (unless the caller names one)."""
    url = None if os.environ.get(PUSHGATEWAY_VARIABLE) else pushgateway_url(settings)
    return {PUSHGATEWAY_VARIABLE: url} if url else {}


def prometheus_url(settings: PlatformSettings) -> str | None:
    info = _running(ServiceManager(settings.run_dir), PROMETHEUS)
    return info.url if info is not None else None


def alerts(url: str, timeout: float = 5.0) -> list[AlertStatus]:
    """The firing and pending alerts of Prometheus at url (GET /api/v1/alerts), firing first."""
    try:
        response = httpx.get(f"{url}/api/v1/alerts", timeout=timeout)
        response.raise_for_status()
        found = response.json()["data"]["alerts"]
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
        raise Unavailable(f"Prometheus at {url} did not list its alerts: {exc}") from None
    listed = []
    for alert in found:
        labels, annotations = alert.get("labels", {}), alert.get("annotations", {})
        listed.append(
            AlertStatus(
                name=labels.get("alertname", ""),
                model=labels.get("model"),
                severity=labels.get("severity"),
                state=alert.get("state", "firing"),
                since=alert.get("activeAt"),
                summary=annotations.get("summary"),
            )
        )
    order = {"firing": 0, "pending": 1}
    return sorted(listed, key=lambda a: (order.get(a.state, 2), a.name, a.model or ""))
