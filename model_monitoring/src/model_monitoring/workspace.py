"""The Evidently workspace: one project per model; every monitoring run is added as a
snapshot, so the Evidently UI (`mlops monitor ui`) shows the history as a dashboard."""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger("mlops.monitor")

DASHBOARD_TAB = "Monitoring"


def project_for(workspace_path: Path, model_name: str):
    """The model's project in the workspace, created with its dashboard the first time."""
    from evidently.ui.workspace import Workspace

    workspace_path.mkdir(parents=True, exist_ok=True)
    ws = Workspace(str(workspace_path))
    found = ws.search_project(model_name)
    if found:
        return ws, found[0]
    project = ws.create_project(
        model_name, description=f"Drift and quality of the traffic served by model {model_name}"
    )
    _dashboard(ws, project, model_name)
    return ws, project


def _dashboard(ws, project, model_name: str) -> None:
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
        line_plot_panel(
            title="RMSE (labelled traffic)",
            values=[PanelMetric(legend="rmse", metric="RMSE")],
            size="half",
        ),
    ]
    tab = DashboardTabModel(id=uuid.uuid4(), title=DASHBOARD_TAB, panels=[p.id for p in panels])
    ws.save_dashboard(project.id, DashboardModel(tabs=[tab], panels=panels))


def add_snapshot(workspace_path: Path, model_name: str, snapshot, name: str) -> str:
    """Add a run under `name` (the report's title) to the model's project; its snapshot id."""
    ws, project = project_for(workspace_path, model_name)
    ref = ws.add_run(project.id, snapshot, name=name)
    return str(ref.id)
