"""What the run page marks on its waterfall: the critical path and the stragglers.

The page never computes them. ``analysis.critical_path`` does (``RunDetail.critical_path``);
``marks_from_critical_path`` reads its result into the small typed input the page draws from,
so the page depends only on the ids it has to highlight.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol


class _PathSegment(Protocol):
    @property
    def kind(self) -> str: ...
    @property
    def span_id(self) -> str | None: ...


class _Straggler(Protocol):
    @property
    def batch(self) -> str: ...
    @property
    def span_id(self) -> str: ...
    @property
    def held_up_ms(self) -> int: ...


class CriticalPathLike(Protocol):
    """The fields of ``analysis.results.CriticalPath`` that the page reads."""

    @property
    def segments(self) -> Sequence[_PathSegment]: ...
    @property
    def stragglers(self) -> Sequence[_Straggler]: ...


@dataclass(frozen=True)
class StragglerMark:
    span_id: str
    batch: str
    held_up_ms: int


@dataclass(frozen=True)
class RunMarks:
    """The span ids on the critical path, and each batch's straggler."""

    critical: frozenset[str] = frozenset()
    stragglers: tuple[StragglerMark, ...] = field(default_factory=tuple)

    def straggler_of(self, span_id: str) -> StragglerMark | None:
        return next((s for s in self.stragglers if s.span_id == span_id), None)


NO_MARKS = RunMarks()


def marks_from_critical_path(path: CriticalPathLike | None) -> RunMarks:
    """The marks of a critical-path result: its task segments' spans (idle segments have none)
    and its stragglers. None (no analysis) marks nothing."""
    if path is None:
        return NO_MARKS
    critical = frozenset(s.span_id for s in path.segments if s.kind == "task" and s.span_id is not None)
    stragglers = tuple(StragglerMark(s.span_id, s.batch, s.held_up_ms) for s in path.stragglers)
    return RunMarks(critical=critical, stragglers=stragglers)
