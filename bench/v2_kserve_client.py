"""KServe's own REST client (the `kserve` package, unchanged) against the service's Open
Inference Protocol routes: a check that a client written for KServe works as it is.

Not a test dependency and not in the workspace: run it from a throwaway venv, against a
running `mlops serve`, with rows of the model's schema (a JSON list of records):

    uv venv /tmp/kserve-venv && VIRTUAL_ENV=/tmp/kserve-venv uv pip install kserve
    /tmp/kserve-venv/bin/python bench/v2_kserve_client.py http://127.0.0.1:8000 \
        house-price rows.json [--api-key KEY]

It calls what a KServe client calls (server live and ready, model ready, model metadata
through httpx as KServe has no REST call for it), then infers the rows twice: one tensor
per column with `content_type: "pd"` (how KServe's sklearn server takes a DataFrame), and
one 2-D tensor written by `InferInput.set_data_from_numpy` (KServe's way to send an array;
an object array of mixed columns becomes BYTES text). It prints one JSON line: what each
call returned and whether both inferences give the same predictions as /v1 batch.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

import httpx
import numpy as np
import pandas as pd
from kserve import InferenceRESTClient, InferInput, InferRequest, RESTConfig

NUMPY = {"INT64": np.int64, "FP64": np.float64, "BYTES": np.object_}


async def main(url: str, model: str, rows: list[dict], key: str | None) -> dict:
    headers = {"X-API-Key": key} if key else None
    meta = httpx.get(f"{url}/v2/models/{model}", headers=headers, timeout=30).json()
    frame = pd.DataFrame(rows)[[t["name"] for t in meta["inputs"]]]
    client = InferenceRESTClient(RESTConfig(protocol="v2", timeout=30))
    out: dict = {
        "server_live": await client.is_server_live(url),
        "server_ready": await client.is_server_ready(url),
        "model_ready": await client.is_model_ready(url, model),
        "metadata_inputs": len(meta["inputs"]),
    }

    # One tensor per column, the DataFrame as KServe's sklearn server takes one.
    columns = []
    for tensor in meta["inputs"]:
        values = frame[tensor["name"]].to_numpy().astype(NUMPY[tensor["datatype"]])
        column = InferInput(tensor["name"], [len(frame)], tensor["datatype"])
        column.set_data_from_numpy(values, binary_data=False)
        columns.append(column)
    request = InferRequest(model, columns, parameters={"content_type": "pd"})
    per_column = await client.infer(url, request, model_name=model, headers=headers)

    # One 2-D tensor: the rows as an array (object dtype with category columns).
    array = frame.to_numpy()
    table = InferInput("input-0", list(array.shape), "BYTES" if array.dtype == object else "FP64")
    table.set_data_from_numpy(array, binary_data=False)
    two_d = await client.infer(url, InferRequest(model, [table]), model_name=model, headers=headers)
    await client.close()

    v1 = httpx.post(
        f"{url}/v1/models/{model}/predict/batch",
        json={"records": rows},
        headers=headers,
        timeout=30,
    ).json()["predictions"]
    for label, response in (("per_column", per_column), ("table", two_d)):
        first = response.outputs[0]
        predicted = first.as_numpy().tolist()
        out[label] = {
            "id": response.id,
            "model_name": response.model_name,
            "outputs": [(o.name, o.datatype, o.shape) for o in response.outputs],
            "equals_v1": predicted == v1,
        }
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("model")
    parser.add_argument("rows", help="a JSON file: a list of records of the model's schema")
    parser.add_argument("--api-key")
    args = parser.parse_args()
    with open(args.rows) as f:
        records = json.load(f)
    result = asyncio.run(main(args.url.rstrip("/"), args.model, records, args.api_key))
    print(json.dumps(result))
    ok = all(result[k]["equals_v1"] for k in ("per_column", "table"))
    sys.exit(0 if ok and result["server_ready"] and result["model_ready"] else 1)
