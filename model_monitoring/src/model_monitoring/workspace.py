"""The Evidently workspace: one project per model; every monitoring run is added as a
snapshot, so the Evidently UI (`mlops monitor ui`) shows the history as a dashboard."""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger("mlops.monitor")

DASHBOARD_TAB = "Monitoring"


def project_for(workspace_path: Path, model_name: str, task: str = "regression"):
    """The model's project in the workspace (named after the model), created with its
    dashboard the first time."""
    from evidently.ui.workspace import Workspace

    workspace_path.mkdir(parents=True, exist_ok=True)
    ws = Workspace(str(workspace_path))
    # search_project matches names loosely: only the project called exactly so is this one.
    found = [p for p in ws.search_project(model_name) if p.name == model_name]
    if found:
        return ws, found[0]
    project = ws.create_project(
        model_name, description=f"Drift and quality of the traffic served by model {model_name}"
    )
    _dashboard(ws, project, model_name, task)
    return ws, project


def find_project(workspace_path: Path, model_name: str):
    """The model's project, or None when no run of it was recorded yet."""
    from evidently.ui.workspace import Workspace

    if not workspace_path.is_dir():
        return None
    ws = Workspace(str(workspace_path))
    found = [p for p in ws.search_project(model_name) if p.name == model_name]
    return found[0] if found else None


def _quality_panels(task: str) -> list:
    from evidently.sdk.models import PanelMetric
    from evidently.sdk.panels import line_plot_panel

    if task == "classification":
        return [
            line_plot_panel(
                title="Accuracy and F1 (labelled traffic)",
                values=[
                    PanelMetric(legend="accuracy", metric="Accuracy"),
                    PanelMetric(legend="f1", metric="F1Score"),
                ],
                size="half",
            ),
            line_plot_panel(
                title="ROC AUC (labelled traffic with probabilities)",
                values=[PanelMetric(legend="roc_auc", metric="RocAuc")],
                size="half",
            ),
        ]
    return [
        line_plot_panel(
            title="RMSE (labelled traffic)",
            values=[PanelMetric(legend="rmse", metric="RMSE")],
            size="half",
        )
    ]


def _dashboard(ws, project, model_name: str, task: str) -> None:
    """Panels over the snapshots' metrics. Saved as one DashboardModel (Evidently 0.7.23's
    add_panel lists a panel twice when the tab already exists)."""
    import uuid

    from evidently.sdk.models import DashboardModel, DashboardTabModel, PanelMetric
    from evidently.sdk.panels import line_plot_panel, text_panel

    panels = [
        text_panel(title=f"Model {model_name}: drift and quality of served traffic"),
        line_plot_panel(
            title="Share of drifted feature columns",
            values=[
                PanelMetric(
                    legend="share",
                    metric="DriftedColumnsCount",
                    metric_labels={"value_type": "share"},
                )
            ],
            size="half",
        ),
        line_plot_panel(
            title="Rows compared",
            values=[PanelMetric(legend="rows", metric="RowCount")],
            size="half",
        ),
        *_quality_panels(task),
    ]
    tab = DashboardTabModel(id=uuid.uuid4(), title=DASHBOARD_TAB, panels=[p.id for p in panels])
    ws.save_dashboard(project.id, DashboardModel(tabs=[tab], panels=panels))


def add_snapshot(
    workspace_path: Path, model_name: str, snapshot, name: str, task: str = "regression"
) -> tuple[str, str]:
    """Add a run under `name` (the report's title) to the model's project; returns
    (project id, snapshot id)."""
    ws, project = project_for(workspace_path, model_name, str(task))
    ref = ws.add_run(project.id, snapshot, name=name)
    return str(project.id), str(ref.id)
