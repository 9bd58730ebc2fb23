"""What one batch did, for logs, flow results and reports."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields


@dataclass(slots=True)
class BatchResult:
    events: int = 0
    duplicates: int = 0
    enrolled: int = 0
    transitions: int = 0
    actions_scheduled: int = 0
    actions_cancelled: int = 0
    ended: int = 0
    timers: int = 0

    def __add__(self, other: BatchResult) -> BatchResult:
        return BatchResult(
            **{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)}
        )

    def as_dict(self) -> dict[str, int]:
        return asdict(self)

    def __str__(self) -> str:
        return ", ".join(f"{name.replace('_', ' ')} {n}" for name, n in self.as_dict().items())
