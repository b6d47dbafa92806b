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
    project = ws.create_project(model_name, description=f"Monitoring of model {model_name!r}")
    _dashboard(project)
    return ws, project


def _dashboard(project) -> None:
    from evidently.sdk.models import PanelMetric
    from evidently.sdk.panels import line_plot_panel, text_panel

    dash = project.dashboard
    dash.add_panel(text_panel(title="Drift and quality of served traffic"), tab=DASHBOARD_TAB)
    dash.add_panel(
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
        tab=DASHBOARD_TAB,
    )
    dash.add_panel(
        line_plot_panel(
            title="Rows compared",
            values=[PanelMetric(legend="rows", metric="RowCount")],
            size="half",
        ),
        tab=DASHBOARD_TAB,
    )
    dash.add_panel(
        line_plot_panel(
            title="RMSE (labelled traffic)",
            values=[PanelMetric(legend="rmse", metric="RMSE")],
            size="half",
        ),
        tab=DASHBOARD_TAB,
    )


def add_snapshot(workspace_path: Path, model_name: str, snapshot, name: str) -> str:
    ws, project = project_for(workspace_path, model_name)
    ref = ws.add_run(project.id, snapshot, name=name)
    return str(ref.id)
