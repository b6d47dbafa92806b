"""One step of the loop: a stage command through the task runner the DAGs use, or client
work; each timed, announced on stderr and logged to run/pipeline.log."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn, TypeVar, overload

from mlops_core import taskrun
from mlops_core.contracts import ExitCode, Result, parse_payload
from mlops_core.contracts.pipeline import Step
from mlops_core.errors import MlopsError
from mlops_core.output import stderr

R = TypeVar("R", bound=Result)
T = TypeVar("T")


class StepFailed(MlopsError):
    """A stage command failed: its exit code is the pipeline's."""


@dataclass
class Steps:
    """The steps run so far, and where their output goes."""

    log_path: Path
    quiet: bool = False
    total: int = 14
    steps: list[Step] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @overload
    def stage(
        self, title: str, args: list[str], ok: tuple[int, ...] = ..., model: None = None
    ) -> dict[str, Any]: ...
    @overload
    def stage(
        self, title: str, args: list[str], ok: tuple[int, ...] = ..., *, model: type[R]
    ) -> R: ...
    def stage(
        self,
        title: str,
        args: list[str],
        ok: tuple[int, ...] = (0,),
        model: type[R] | None = None,
    ) -> R | dict[str, Any]:
        """Run `mlops ARGS --json` with mlops_core.taskrun, as a local Airflow task does;
        returns its result (as `model` when given) with `exit_code` added."""
        started = time.perf_counter()
        self._announce(title)
        argv = ["mlops", *args, "--json"]
        self._write(f"\n$ mlops {' '.join(args)} --json\n")
        try:
            outcome = taskrun.run(
                argv, accept=ok, env={"MLOPS_LOG_FORMAT": "json"}, sink=self._sink
            )
        except taskrun.TaskFailed as exc:
            self._failed(title, args, started, exc.outcome.exit_code, str(exc))
        except FileNotFoundError as exc:
            self._failed(title, args, started, int(ExitCode.UNAVAILABLE), str(exc))
        self._write(f"(exit {outcome.exit_code})\n")
        self.steps.append(
            Step(
                step=title,
                command="mlops " + " ".join(args),
                exit_code=outcome.exit_code,
                seconds=round(time.perf_counter() - started, 2),
            )
        )
        payload = outcome.payload()
        return payload if model is None else parse_payload(payload, model)

    def client(self, title: str, work: Callable[[], T]) -> T:
        """Run work that is not a stage command (client traffic), timed as a step."""
        started = time.perf_counter()
        self._announce(title)
        result = work()
        self.steps.append(Step(step=title, seconds=round(time.perf_counter() - started, 2)))
        return result

    def note(self, text: str) -> None:
        """The last step's one-line summary."""
        step = self.steps[-1]
        step.summary = text
        if not self.quiet:
            stderr.print(f"        {text} [dim]({step.seconds:.1f} s)[/]", highlight=False)

    def _failed(self, title: str, args: list[str], started: float, code: int, why: str) -> NoReturn:
        step = Step(
            step=title,
            command="mlops " + " ".join(args),
            exit_code=code,
            seconds=round(time.perf_counter() - started, 2),
        )
        self.steps.append(step)
        self.note(f"[red]failed[/] ({why})")
        known = {int(c) for c in ExitCode}
        error = StepFailed(
            f"step {title!r} failed: {why} (full log: {self.log_path})",
            details={"steps": [s.model_dump() for s in self.steps], "failed_step": title},
        )
        error.exit_code = ExitCode(code if code in known else int(ExitCode.FAILURE))
        raise error

    def _announce(self, title: str) -> None:
        if not self.quiet:
            stderr.print(f"[bold cyan][{len(self.steps) + 1:>2}/{self.total}][/] {title} ...")

    def _sink(self, _stream: str, line: str) -> None:
        self._write(line + "\n")

    def _write(self, text: str) -> None:
        with self._lock, open(self.log_path, "a") as log:
            log.write(text)
