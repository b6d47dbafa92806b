"""The Airflow DAG processor's check of the model folders: no DAG, only an import error.

The training, monitoring and rollback DAG files build one DAG per model folder and leave
out a folder that is not one (a bad name, no schema.yaml), so a broken folder never takes
the other models' DAGs down. This file is where such a folder shows: it raises an error
naming every broken folder and why, and Airflow lists it among the DAG import errors (the
UI's banner, `airflow dags list-import-errors`). Fix or remove the folder and the error
goes away on the next parse.
"""

from __future__ import annotations

from mlops_models import models_dir, scan


class BrokenModelFolder(ValueError):
    """A folder under the models directory that yields no DAGs."""


_names, _broken = scan()
if _broken:
    raise BrokenModelFolder(
        f"{len(_broken)} folder(s) under {models_dir()} are not model folders and have no "
        "DAGs (the other models' DAGs are unaffected): " + "; ".join(b.describe() for b in _broken)
    )
