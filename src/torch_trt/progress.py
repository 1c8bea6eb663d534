"""Progress of a compile: a bar per stage and per engine build, drawn with ``rich``.

``progress=True`` (a compile setting; the command line turns it on when stderr is a terminal)
shows, on stderr, one line per stage as it runs (capture, lower, partition, convert, build, ...)
and, while TensorRT builds an engine, a bar over the build's top-level phases fed by TensorRT's
``IProgressMonitor`` (its nested phases appear below it while they run). ``progress=callable``
keeps the older form: ``callable(phase, step, total)`` is called during engine builds, nothing is
drawn. ``None`` / ``False``: nothing.

The stages report themselves through :meth:`torch_trt.report.Report.stage`, which calls
:func:`stage_started` / :func:`stage_finished`; those do nothing unless a display is active in
this context (:func:`active`).

Example:
    >>> compiled = torch_trt.dynamo.compile(model, [x], progress=True)
    ✓ capture      0:00:01
    ✓ lower        0:00:00
    ...
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator
from typing import Any

ProgressSetting = Callable[[str, int, int], None] | bool | None
BuildCallback = Callable[[str, int, int], None]

_ACTIVE: contextvars.ContextVar[Display | None] = contextvars.ContextVar(
    "torch_trt_progress", default=None
)


class Display:
    """A live ``rich`` progress display on stderr: stage lines and engine-build bars."""

    def __init__(self, console: Any = None) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        self.progress = Progress(
            SpinnerColumn(finished_text="[green]✓"),
            TextColumn("{task.description:<28}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console or Console(stderr=True),
        )
        self._stages: list[Any] = []  # task ids of the running stages (stages nest)
        self._rows: dict[str, Any] = {}  # stage name -> its line (a repeated stage reuses it)
        self._engine: dict[str, Any] = {}  # engine name -> task id of its build bar
        self._phases: dict[tuple[str, str], Any] = {}  # (engine, phase) -> task id

    def __enter__(self) -> Display:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def stage_started(self, name: str) -> None:
        """A line for stage ``name``, spinning until it finishes (again, when it repeats)."""
        task = self._rows.get(name)
        if task is None:
            task = self._rows[name] = self.progress.add_task(name, total=None)
        else:
            self.progress.update(task, total=None, completed=0)
        self._stages.append(task)

    def stage_finished(self, name: str) -> None:
        """Mark the innermost running stage done."""
        if self._stages:
            self.progress.update(self._stages.pop(), total=1, completed=1)

    def build_step(
        self, engine: str, phase: str, parent: str | None, step: int, total: int
    ) -> None:
        """One TensorRT progress event of ``engine``'s build (``parent`` None: top-level)."""
        if parent is None:
            task = self._engine.get(engine)
            if task is None:
                task = self._engine[engine] = self.progress.add_task(f"build {engine}", total=None)
            self.progress.update(task, total=max(total, 1), completed=step)
            return
        key = (engine, phase)
        if key not in self._phases:
            label = f"  {phase[:26]}"
            self._phases[key] = self.progress.add_task(label, total=max(total, 1))
        self.progress.update(self._phases[key], completed=step)
        if total and step >= total:  # a finished nested phase leaves the display
            self.progress.remove_task(self._phases.pop(key))


@contextlib.contextmanager
def active(setting: ProgressSetting) -> Iterator[None]:
    """Show a :class:`Display` while the block runs when ``setting is True`` (and no display is
    active yet); otherwise do nothing."""
    if setting is not True or _ACTIVE.get() is not None:
        yield
        return
    with Display() as display:
        token = _ACTIVE.set(display)
        try:
            yield
        finally:
            _ACTIVE.reset(token)


def stage_started(name: str) -> None:
    """Called by :meth:`Report.stage` when a stage starts."""
    display = _ACTIVE.get()
    if display is not None:
        display.stage_started(name)


def stage_finished(name: str) -> None:
    """Called by :meth:`Report.stage` when a stage ends."""
    display = _ACTIVE.get()
    if display is not None:
        display.stage_finished(name)


def build_monitor_callback(
    setting: ProgressSetting, engine: str
) -> Callable[[str, str | None, int, int], None] | None:
    """What TensorRT's progress monitor calls for ``engine``, ``(phase, parent, step,
    total)``; ``None`` when nothing wants build progress."""
    if callable(setting):
        user: BuildCallback = setting
        return lambda phase, parent, step, total: user(phase, step, total)
    display = _ACTIVE.get()
    if setting is True and display is not None:
        return lambda phase, parent, step, total: display.build_step(
            engine, phase, parent, step, total
        )
    return None
