"""Problems of one journey file, each placed by its field path (file:line:column)."""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import Problem
from .loader import Path_, SourceMap, locate


@dataclass
class Places:
    """Problems of one file, each placed by its field path."""

    spots: SourceMap
    file: str
    problems: list[Problem] = field(default_factory=list)

    def add(self, path: Path_, message: str, severity: str = "error") -> None:
        line, col = locate(self.spots, path)
        self.problems.append(Problem(message, self.file, line, col, path, severity))
