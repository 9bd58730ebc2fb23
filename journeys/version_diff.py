"""What changed between two versions of a journey: stages, their triggers and actions.

Stages are matched by key, then by the newer version's migration mapping (old -> new),
then by content: a stage the old version had and the new one lacks, with the same
triggers, actions and `final` as a stage only the new version has, was renamed. Stage
keys inside triggers (`from:`) and `move_to` are compared through the renames, so a
rename alone changes no trigger or action. Pure: the figures of customers in flight
come from the store (`journeys.store.state.migrating`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from .model import Journey, Stage
from .types import format_duration

__all__ = ["ActionChange", "JourneyDiff", "StageDiff", "diff_journeys", "trigger_text"]

_TOP_LEVEL_SKIPPED = {"journey", "version", "stages", "migrations", "enabled"}


@dataclass(frozen=True)
class ActionChange:
    key: str
    change: Literal["added", "removed", "changed"]
    details: tuple[str, ...] = ()  # "after: 3d -> 2d", for a changed action


@dataclass(frozen=True)
class StageDiff:
    """One stage across the two versions. `old` is None for an added stage, `new` for a
    removed one; `renamed` says how a rename was found ('mapping' or 'content')."""

    old: str | None
    new: str | None
    renamed: Literal["mapping", "content"] | None = None
    triggers_removed: tuple[str, ...] = ()
    triggers_added: tuple[str, ...] = ()
    triggers_reordered: bool = False
    actions: tuple[ActionChange, ...] = ()
    final_changed: bool = False

    @property
    def how(self) -> Literal["added", "removed", "renamed", "changed", "unchanged"]:
        if self.old is None:
            return "added"
        if self.new is None:
            return "removed"
        if self.old != self.new:
            return "renamed"
        return "changed" if self.changed else "unchanged"

    @property
    def changed(self) -> bool:
        return bool(
            self.triggers_removed
            or self.triggers_added
            or self.triggers_reordered
            or self.actions
            or self.final_changed
        )


@dataclass(frozen=True)
class JourneyDiff:
    journey: str
    from_version: int
    to_version: int
    stages: tuple[StageDiff, ...]
    # Mapping entries that send customers of a stage the new version still has elsewhere.
    moves: tuple[tuple[str, str], ...]
    other: tuple[str, ...]  # top-level fields that changed: goal, exit, settings, …
    has_migration: bool

    @property
    def changed(self) -> bool:
        return bool(self.moves or self.other or any(s.how != "unchanged" for s in self.stages))


def trigger_text(trigger: Any, renames: Mapping[str, str] | None = None) -> str:
    """A trigger in one line, e.g. `event order.delivered where "rating >= 4" from [a]`;
    stage keys in `from` are read through `renames` (old key -> new key)."""
    names = renames or {}
    if trigger.kind == "event":
        text = f"event {trigger.event}"
        if trigger.where:
            text += f' where "{trigger.where}"'
    elif trigger.kind in ("after", "no_event_for"):
        text = f"{trigger.kind} {format_duration(getattr(trigger, trigger.kind))}"
    elif trigger.kind == "segment":
        text = f'segment "{trigger.segment}"'
    elif trigger.kind == "every":
        zone = f" ({trigger.timezone})" if trigger.timezone else ""
        text = f'every "{trigger.every}"{zone}'
    else:
        text = f"every_year {trigger.every_year} at {trigger.at:%H:%M}"
    if trigger.from_ is not None:
        text += " from [" + ", ".join(names.get(k, k) for k in trigger.from_) + "]"
    return text


def _action_fields(action: Any, renames: Mapping[str, str]) -> dict[str, Any]:
    data: dict[str, Any] = action.model_dump(mode="json", by_alias=True, exclude_none=True)
    data.pop("key", None)
    if "move_to" in data:
        data["move_to"] = renames.get(data["move_to"], data["move_to"])
    return data


def _signature(stage: Stage, renames: Mapping[str, str]) -> tuple[Any, ...]:
    triggers = tuple(trigger_text(t, renames) for t in stage.enter_when)
    actions = tuple(
        (a.action_key, sorted(_action_fields(a, renames).items(), key=str)) for a in stage.on_enter
    )
    return triggers, repr(actions), stage.final


def _fmt(value: Any) -> str:
    return "-" if value is None else str(value)


def _action_changes(old: Stage, new: Stage, renames: Mapping[str, str]) -> list[ActionChange]:
    before = {a.action_key: _action_fields(a, renames) for a in old.on_enter}
    after = {a.action_key: _action_fields(a, renames) for a in new.on_enter}
    changes = [ActionChange(k, "removed") for k in before if k not in after]
    for key, fields in after.items():
        if key not in before:
            changes.append(ActionChange(key, "added"))
        elif fields != before[key]:
            names = sorted(set(fields) | set(before[key]))
            details = tuple(
                f"{n}: {_fmt(before[key].get(n))} -> {_fmt(fields.get(n))}"
                for n in names
                if before[key].get(n) != fields.get(n)
            )
            changes.append(ActionChange(key, "changed", details))
    return changes


def _compare(old: Stage, new: Stage, renames: Mapping[str, str], how: Any) -> StageDiff:
    before = [trigger_text(t, renames) for t in old.enter_when]
    after = [trigger_text(t) for t in new.enter_when]
    removed = tuple(t for t in before if t not in after)
    added = tuple(t for t in after if t not in before)
    return StageDiff(
        old.key,
        new.key,
        how,
        removed,
        added,
        not removed and not added and before != after,
        tuple(_action_changes(old, new, renames)),
        old.final != new.final,
    )


def diff_journeys(old: Journey, new: Journey) -> JourneyDiff:
    """Compare two versions of one journey (`old` the earlier)."""
    migration = next((m for m in new.migrations if m.from_version == old.version), None)
    mapping = dict(migration.stages) if migration else {}
    gone = [k for k in old.stage_keys if k not in new.stage_map]
    fresh = [k for k in new.stage_keys if k not in old.stage_map]
    renames = {k: mapping[k] for k in gone if mapping.get(k) in fresh}
    by_content: dict[str, str] = {}
    for key in gone:
        if key in renames:
            continue
        signature = _signature(old.stage(key), renames)
        for candidate in fresh:
            taken = candidate in renames.values() or candidate in by_content.values()
            if not taken and _signature(new.stage(candidate), {}) == signature:
                by_content[key] = candidate
                break
    names = {**renames, **by_content}
    stages: list[StageDiff] = []
    for key in old.stage_keys:
        if key in new.stage_map:
            stages.append(_compare(old.stage(key), new.stage(key), names, None))
        elif key in names:
            how = "mapping" if key in renames else "content"
            stages.append(_compare(old.stage(key), new.stage(names[key]), names, how))
        else:
            stages.append(StageDiff(key, None))
    stages += [StageDiff(None, k) for k in fresh if k not in names.values()]
    moves = tuple((k, v) for k, v in mapping.items() if k in new.stage_map and k != v)
    before = old.model_dump(mode="json", by_alias=True)
    after = new.model_dump(mode="json", by_alias=True)
    other = tuple(k for k in after if k not in _TOP_LEVEL_SKIPPED and before.get(k) != after.get(k))
    return JourneyDiff(
        new.journey,
        old.version,
        new.version,
        tuple(stages),
        moves,
        other,
        migration is not None,
    )
