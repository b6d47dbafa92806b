"""A BentoML service for the same pipeline: records in, predictions out, one worker, run
from BentoML's own virtual environment by bench/serve.py (`bentoml serve`).

MODEL_PATH names the joblib file of the pipeline.
"""

import os

import bentoml
import joblib
import pandas as pd


@bentoml.service(workers=1)
class Predictor:
    def __init__(self) -> None:
        self.model = joblib.load(os.environ["MODEL_PATH"])

    @bentoml.api
    def predict(self, records: list[dict]) -> list:
        return self.model.predict(pd.DataFrame.from_records(records)).tolist()
