"""Alert rules as code: each model's Prometheus alert rules, from its monitor.yaml.

    rule_groups(models) -> {"groups": [...]}       one group per model
    write_rules_file(path, models) -> Path         the plain rules file (embedded Prometheus)
    prometheus_rule(models) -> dict                the PrometheusRule resource (cluster)

`mlops alerts rules` prints or writes them; gitops/envs/<env>/alerts/<model>.yaml are the
checked-in PrometheusRules Argo CD applies (`gitops_alert_files`).
"""

from mlops_core.alerting.config import (
    ALERT_NAMES,
    DEFAULT_SCHEDULE_SECONDS,
    AlertsConfig,
    MonitorAlerting,
    load_monitor_alerting,
)
from mlops_core.alerting.rules import (
    PROMETHEUS_RELEASE,
    gitops_alert_files,
    group_name,
    prometheus_rule,
    render,
    rule_groups,
    write_gitops_alerts,
    write_rules_file,
)

__all__ = [
    "ALERT_NAMES",
    "DEFAULT_SCHEDULE_SECONDS",
    "PROMETHEUS_RELEASE",
    "AlertsConfig",
    "MonitorAlerting",
    "gitops_alert_files",
    "group_name",
    "load_monitor_alerting",
    "prometheus_rule",
    "render",
    "rule_groups",
    "write_gitops_alerts",
    "write_rules_file",
]
