"""Run one `mlops ... --json` command as a pipeline task, the same way in a pod and locally.

An orchestrator (Airflow) needs three things from a stage command: its logs, its `--json`
result, and whether its exit code is an outcome the pipeline branches on (the gate refused:
3, drift: 6, too little data: 7) or a failure. This module runs the command, streams its
output, reads the last JSON object it printed, adds `exit_code` to it, and

- in a Kubernetes pod (`python -m mlops_core.taskrun --xcom-file /airflow/xcom/return.json
  --accept 0,3 -- mlops train --json`) writes that object where the KubernetesPodOperator's
  XCom sidecar reads it, exiting 0 for an accepted code and with the command's own code
  otherwise;
- in a local Airflow worker, is called in-process by the DAGs' task factory, which returns
  the object as the task's XCom.

Empty arguments are dropped, so a templated argument that renders to "" (an option not
given) disappears from the command line. It is imported by Airflow workers and by every
stage image, so it needs only the standard library and `mlops_core.contracts` (pydantic,
which Airflow ships too): `read_result` is the one parser of a command's result.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mlops_core.contracts import read_result
from mlops_core.mlflow_utils.connect import request_env

# Exit codes that end a task as failed without retrying: retrying cannot change the answer.
NOT_RETRYABLE = frozenset({2, 3, 4, 6, 7})

LineSink = Callable[[str, str], None]


@dataclass
class TaskResult:
    argv: list[str]
    exit_code: int
    result: dict = field(default_factory=dict)
    stderr_tail: list[str] = field(default_factory=list)

    def payload(self) -> dict:
        """The command's JSON result plus its exit code: what the task pushes as XCom."""
        return {**self.result, "exit_code": self.exit_code}


class TaskFailed(Exception):
    """The command exited with a code the task does not accept."""

    def __init__(self, outcome: TaskResult) -> None:
        last = next((line for line in reversed(outcome.stderr_tail) if line.strip()), None)
        error = outcome.result.get("error") or last or "no output; see the log above"
        super().__init__(
            f"`{' '.join(outcome.argv)}` exited with code {outcome.exit_code}: {error}"
        )
        self.outcome = outcome

    @property
    def retryable(self) -> bool:
        return self.outcome.exit_code not in NOT_RETRYABLE


def _default_sink(stream: str, line: str) -> None:
    target = sys.stdout if stream == "stdout" else sys.stderr
    target.write(line + "\n")
    target.flush()


def resolve_argv(argv: Iterable[object]) -> list[str]:
    """Drop empty arguments; find `mlops` next to this interpreter first (the venv's bin)."""
    args = [str(a) for a in argv if a is not None and str(a) != ""]
    if not args:
        raise ValueError("empty command")
    if args[0] == "mlops":
        here = Path(sys.executable).parent / "mlops"
        found = str(here) if here.exists() else shutil.which("mlops")
        if found is None:
            raise FileNotFoundError("the mlops command is not installed here")
        args[0] = found
    return args


def run(
    argv: Iterable[object],
    *,
    accept: Iterable[int] = (0,),
    env: Mapping[str, str] | None = None,
    sink: LineSink | None = None,
    xcom_file: Path | None = None,
) -> TaskResult:
    """Run the command; return its result when its exit code is accepted, else raise
    TaskFailed. With xcom_file, the accepted result is written there atomically."""
    sink = sink or _default_sink
    args = resolve_argv(argv)
    display = ["mlops", *args[1:]] if Path(args[0]).name == "mlops" else args
    sink("stderr", f"running: {' '.join(display)}")
    out_lines: list[str] = []
    err_lines: deque[str] = deque(maxlen=20)  # the tail, for the failure message

    def pump(stream, name: str, keep) -> None:
        for raw in stream:
            line = raw.rstrip("\n")
            if keep is not None:
                keep.append(line)
            sink(name, line)

    with subprocess.Popen(
        args,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        # MLflow's HTTP settings default to fail-in-seconds; the caller's environment wins.
        env={**request_env(), **os.environ, **(env or {})},
        text=True,
        errors="replace",
    ) as proc:
        threads = [
            threading.Thread(target=pump, args=(proc.stdout, "stdout", out_lines), daemon=True),
            threading.Thread(target=pump, args=(proc.stderr, "stderr", err_lines), daemon=True),
        ]
        for t in threads:
            t.start()
        code = proc.wait()
        for t in threads:
            t.join()
    outcome = TaskResult(display, code, read_result("\n".join(out_lines)), list(err_lines))
    if code not in set(accept):
        raise TaskFailed(outcome)
    if xcom_file is not None:
        write_json_atomic(xcom_file, outcome.payload())
    return outcome


def write_json_atomic(path: Path, value: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(value, default=str, sort_keys=True))
    tmp.replace(path)


def _codes(text: str) -> list[int]:
    try:
        return [int(c) for c in text.split(",") if c.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"--accept wants comma-separated integers: {text}"
        ) from exc


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m mlops_core.taskrun",
        description="Run an `mlops ... --json` command as a pipeline task.",
        epilog="Example: python -m mlops_core.taskrun --xcom-file /airflow/xcom/return.json "
        "--accept 0,3 -- mlops train --json",
    )
    parser.add_argument("--xcom-file", type=Path, help="write the accepted JSON result here")
    parser.add_argument("--accept", type=_codes, default=[0], help="accepted exit codes")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- mlops COMMAND ...")
    ns = parser.parse_args(argv)
    command = ns.command[1:] if ns.command[:1] == ["--"] else ns.command
    if not [c for c in command if c]:
        parser.error("no command given")
    try:
        outcome = run(command, accept=ns.accept, xcom_file=ns.xcom_file)
    except TaskFailed as exc:
        print(f"task failed: {exc}", file=sys.stderr)
        return exc.outcome.exit_code or 1
    except (OSError, ValueError) as exc:
        print(f"task failed: {exc}", file=sys.stderr)
        return 2
    print(
        f"task result: exit code {outcome.exit_code} (accepted)"
        + (f", written to {ns.xcom_file}" if ns.xcom_file else ""),
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
