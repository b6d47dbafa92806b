"""One step of the loop: a stage command through the task runner the DAGs use, or client
work; each timed, announced on stderr and logged. The platform's steps go to
run/pipeline.log, each model's to run/pipeline-<model>.log: one `Steps` per model, so the
models' loops can run side by side."""

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

    cancelled = False


class Cancelled(StepFailed):
    """Another model's step failed: this model's loop stopped before its next step."""

    cancelled = True


_PRINT = threading.Lock()


@dataclass
class Steps:
    """The steps run so far, and where their output goes. With `model`, every stage command
    gets `--model <model>` and every line shown names the model."""

    log_path: Path
    quiet: bool = False
    total: int = 14
    model: str | None = None
    cancel: threading.Event | None = None
    steps: list[Step] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @overload
    def stage(
        self,
        title: str,
        args: list[str],
        ok: tuple[int, ...] = ...,
        model: None = None,
        env: dict[str, str] | None = None,
    ) -> dict[str, Any]: ...
    @overload
    def stage(
        self,
        title: str,
        args: list[str],
        ok: tuple[int, ...] = ...,
        *,
        model: type[R],
        env: dict[str, str] | None = None,
    ) -> R: ...
    def stage(
        self,
        title: str,
        args: list[str],
        ok: tuple[int, ...] = (0,),
        model: type[R] | None = None,
        env: dict[str, str] | None = None,
    ) -> R | dict[str, Any]:
        """Run `mlops ARGS [--model M] --json` with mlops_core.taskrun, as a local Airflow
        task does (a stage task of M's DAG passes `--model M` the same way); returns its
        result (as `model` when given) with `exit_code` added."""
        started = time.perf_counter()
        self._announce(title)
        if self.model:
            args = [args[0], "--model", self.model, *args[1:]]
        argv = ["mlops", *args, "--json"]
        self._write(f"\n$ mlops {' '.join(args)} --json\n")
        try:
            outcome = taskrun.run(
                argv, accept=ok, env={"MLOPS_LOG_FORMAT": "json", **(env or {})}, sink=self._sink
            )
        except taskrun.TaskFailed as exc:
            self._failed(title, args, started, exc.outcome.exit_code, str(exc))
        except FileNotFoundError as exc:
            self._failed(title, args, started, int(ExitCode.UNAVAILABLE), str(exc))
        self._write(f"(exit {outcome.exit_code})\n")
        self.steps.append(
            Step(
                step=title,
                model=self.model,
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
        self.steps.append(
            Step(step=title, model=self.model, seconds=round(time.perf_counter() - started, 2))
        )
        return result

    def note(self, text: str) -> None:
        """The last step's one-line summary."""
        step = self.steps[-1]
        step.summary = text
        if not self.quiet:
            with _PRINT:
                stderr.print(
                    f"        {self._who()}{text} [dim]({step.seconds:.1f} s)[/]", highlight=False
                )

    def _failed(self, title: str, args: list[str], started: float, code: int, why: str) -> NoReturn:
        step = Step(
            step=title,
            model=self.model,
            command="mlops " + " ".join(args),
            exit_code=code,
            seconds=round(time.perf_counter() - started, 2),
        )
        self.steps.append(step)
        self.note(f"[red]failed[/] ({why})")
        known = {int(c) for c in ExitCode}
        where = f" of model {self.model}" if self.model else ""
        error = StepFailed(
            f"step {title!r}{where} failed: {why} (full log: {self.log_path})",
            details={
                "steps": [s.model_dump() for s in self.steps],
                "failed_step": title,
                "model": self.model,
            },
        )
        error.exit_code = ExitCode(code if code in known else int(ExitCode.FAILURE))
        raise error

    def _check_cancelled(self, title: str) -> None:
        if self.cancel is not None and self.cancel.is_set():
            raise Cancelled(f"{self.model or 'the loop'}: stopped before {title!r}")

    def _who(self) -> str:
        return f"[magenta]{self.model}[/]: " if self.model else ""

    def _announce(self, title: str) -> None:
        self._check_cancelled(title)
        if not self.quiet:
            with _PRINT:
                stderr.print(
                    f"[bold cyan][{len(self.steps) + 1:>2}/{self.total}][/] "
                    f"{self._who()}{title} ..."
                )

    def _sink(self, _stream: str, line: str) -> None:
        self._write(line + "\n")

    def _write(self, text: str) -> None:
        with self._lock, open(self.log_path, "a") as log:
            log.write(text)
