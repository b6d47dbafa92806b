"""KServe's Python model server with the model class of KServe's sklearn runtime
(kserve/python/sklearnserver: a joblib-loaded estimator whose `predict` gets
`get_predict_input(payload)`), run from its own virtual environment by bench/serve.py.

    python kserve_sklearn.py --model_name NAME --model_path model.joblib --http_port PORT
"""

import argparse

import joblib
import kserve
from kserve.utils.utils import get_predict_input, get_predict_response


class SKLearnModel(kserve.Model):
    def __init__(self, name: str, path: str) -> None:
        super().__init__(name)
        self.path = path
        self.load()

    def load(self) -> bool:
        self._model = joblib.load(self.path)
        self.ready = True
        return self.ready

    def predict(self, payload, headers=None):
        return get_predict_response(
            payload, self._model.predict(get_predict_input(payload)), self.name
        )


if __name__ == "__main__":
    # kserve parses its own flags (--http_port, --workers, ...) from sys.argv at import.
    ap = argparse.ArgumentParser(parents=[kserve.model_server.parser], add_help=False)
    ap.add_argument("--model_path", required=True)
    args, _ = ap.parse_known_args()
    kserve.ModelServer(enable_grpc=False).start([SKLearnModel(args.model_name, args.model_path)])
