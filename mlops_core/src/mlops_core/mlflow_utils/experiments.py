"""MLflow experiments of the platform: created as classic-ML experiments, linked so the UI
opens them on their runs."""

from __future__ import annotations

from typing import Any

from mlops_core.contracts import Tag
from mlops_core.errors import BadInput
from mlops_core.mlflow_utils.failures import error_code

# The MLflow UI reads this experiment tag for an experiment's kind ("Machine learning" vs
# "GenAI apps & agents"); its kind selector writes the same tag.
CLASSIC_ML = "custom_model_development"
# MLflow 3.17's UI chooses an experiment's first page by the workflow type in its URL (or
# the user's saved toggle, GenAI by default): a link to an experiment carries it.
WORKFLOW_QUERY = "workflowType=machine_learning"


def ensure_experiment(client: Any, name: str) -> Any:
    """The experiment `name`, created as a classic ML one when missing.

    An existing experiment without a kind gets it; a kind a user chose is left as it is.
    """
    from mlflow.exceptions import MlflowException

    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        try:
            client.create_experiment(name, tags={Tag.EXPERIMENT_KIND.value: CLASSIC_ML})
        except MlflowException as exc:  # another command created it meanwhile
            if error_code(exc) != "RESOURCE_ALREADY_EXISTS":
                raise
        experiment = client.get_experiment_by_name(name)
    if experiment.lifecycle_stage == "deleted":
        raise BadInput(
            f"the MLflow experiment {name!r} is deleted; restore it (mlflow experiments "
            f"restore --experiment-id {experiment.experiment_id}) or delete it for good"
        )
    if Tag.EXPERIMENT_KIND.value not in experiment.tags:
        client.set_experiment_tag(experiment.experiment_id, Tag.EXPERIMENT_KIND.value, CLASSIC_ML)
    return experiment


def experiment_url(tracking_uri: str, experiment_id: str) -> str:
    """The UI page of an experiment, opening on its runs."""
    return f"{tracking_uri.rstrip('/')}/#/experiments/{experiment_id}?{WORKFLOW_QUERY}"


def run_url(tracking_uri: str, experiment_id: str, run_id: str) -> str:
    """The UI page of a run."""
    return f"{tracking_uri.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}"


def model_version_url(tracking_uri: str, name: str, version: str) -> str:
    """The UI page of a registered model version."""
    return f"{tracking_uri.rstrip('/')}/#/models/{name}/versions/{version}"
