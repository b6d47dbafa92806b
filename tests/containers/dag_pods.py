"""Print, as one JSON object, the pods the DAGs' stage tasks would create with the
kubernetes task runner, built by the provider's own `build_pod_request_obj`:

    {dag_id: {"params": {name: default}, "pods": {task_id: pod as the API server gets it}}}

Run as a subprocess (`python dag_pods.py DAGS_FOLDER OUT.json`; Airflow logs to stdout)
with its own AIRFLOW_HOME, so the Airflow configuration of the test process is left alone.
The container tests run these pod specs with docker (podrun), so the DAGs' pods and what
runs here cannot drift apart."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: dag_pods.py DAGS_FOLDER OUT.json", file=sys.stderr)
        return 2
    dags = Path(argv[0]).resolve()
    os.environ["MLOPS_TASK_RUNNER"] = "kubernetes"
    from airflow.dag_processing.dagbag import BundleDagBag
    from kubernetes.client import ApiClient

    bag = BundleDagBag(str(dags), bundle_path=dags)
    if bag.import_errors:
        print(json.dumps(bag.import_errors, indent=2), file=sys.stderr)
        return 1
    out: dict[str, dict] = {}
    client = ApiClient()
    for dag_id, dag in sorted(bag.dags.items()):
        pods = {
            task.task_id: client.sanitize_for_serialization(
                task.build_pod_request_obj(context=None, dry_run=True)
            )
            for task in dag.tasks
            if hasattr(task, "build_pod_request_obj")
        }
        params = {name: dag.params[name] for name in dag.params}
        out[dag_id] = {"params": params, "pods": pods}
    Path(argv[1]).write_text(json.dumps(out, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
