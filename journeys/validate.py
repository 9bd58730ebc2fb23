"""Checks beyond the schema: the stage graph, cross-references and templates.

The schema (journeys/model.py) says what each field may hold; this module says
whether the journey as a whole makes sense: every stage reachable and able to move
on, no loop without a delay, every template present in every locale and using only
variables the render context provides.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .enabled import enabled as enabled  # re-exported: where callers found it first
from .enabled import overlaps
from .errors import JourneyError, Problem, UnknownJourneyError, did_you_mean
from .loader import (
    PLAN_FILE,
    Path_,
    SourceMap,
    journey_files,
    locate,
    parse_journey,
    read_source,
)
from .model import (
    MESSAGE_KINDS,
    EventTrigger,
    Journey,
    MoveToAction,
    PromoCodeSpec,
    SegmentTrigger,
    SetAttributeAction,
    _MessageAction,
)
from .promo import choose_prefix
from .tracking import TrackingPlan, load_plan
from .validate_legal import check_legal
from .validate_places import Places
from .validate_segments import check_segments
from .validate_templates import check_templates, templates_of_valid_stages
from .validate_tracking import check_tracking


class _Checker(Places):
    """The problems of one journey, with what cross-checks need of it."""

    def __init__(self, journey: Journey, spots: SourceMap, file: str) -> None:
        super().__init__(spots, file)
        self.journey = journey

    def stage_ref(self, path: Path_, key: str) -> bool:
        if key in self.journey.stage_map:
            return True
        self.add(path, f"unknown stage '{key}'{did_you_mean(key, self.journey.stage_keys)}")
        return False


def check_graph(journey: Journey, spots: SourceMap, file: str) -> list[Problem]:
    """Stage references, reachability, dead ends, loops without a delay, action keys."""
    c = _Checker(journey, spots, file)
    seen: dict[str, int] = {}
    for i, stage in enumerate(journey.stages):
        if stage.key in seen:
            c.add(
                ("stages", i, "key"),
                f"stage '{stage.key}' is defined twice "
                f"(first as stages[{seen[stage.key]}]); stage keys must be unique",
            )
        seen.setdefault(stage.key, i)

    for i, key in enumerate(journey.entry.stages or ()):
        c.stage_ref(("entry", "stages", i), key)

    # edges[a] = stages reachable from a in one step; instant[a] = reached with no delay
    edges: dict[str, set[str]] = {s.key: set() for s in journey.stages}
    instant: dict[str, set[str]] = {s.key: set() for s in journey.stages}
    for i, stage in enumerate(journey.stages):
        for t, trig in enumerate(stage.enter_when):
            if isinstance(trig, SegmentTrigger) and trig.from_ is None:
                continue  # an entry into the journey (validate_segments), no edge
            sources = trig.from_
            if sources is None:
                for other in edges:
                    if other != stage.key:
                        edges[other].add(stage.key)
                continue
            for k, src in enumerate(sources):
                if c.stage_ref(("stages", i, "enter_when", t, "from", k), src):
                    edges[src].add(stage.key)
        keys: dict[str, int] = {}
        for a, action in enumerate(stage.on_enter):
            path = ("stages", i, "on_enter", a)
            akey = action.action_key
            if akey in keys:
                c.add(
                    path,
                    f"action key '{akey}' is used twice in stage '{stage.key}' "
                    f"(also on_enter[{keys[akey]}]); give one of them its own 'key:'",
                )
            keys.setdefault(akey, a)
            if isinstance(action, MoveToAction) and c.stage_ref((*path, "move_to"), action.move_to):
                edges[stage.key].add(action.move_to)
                if action.after is None:
                    instant[stage.key].add(action.move_to)
            _check_prefixes(c, path, getattr(action, "promo_code", None))
            if isinstance(action, SetAttributeAction) and action.after is not None:
                c.add(
                    (*path, "after"),
                    "set_attribute takes effect when the stage is entered "
                    "and cannot be delayed; move it to a stage entered by an 'after:' trigger",
                )
            if isinstance(action, _MessageAction) and action.variants:
                names = [v.key for v in action.variants]
                for dup in sorted({n for n in names if names.count(n) > 1}):
                    c.add((*path, "variants"), f"variant key '{dup}' is used twice")
                ab = action.ab_test
                if ab is not None and ab.metric == "goal" and c.journey.goal is None:
                    c.add(
                        (*path, "ab_test", "metric"),
                        "the A/B test's metric is the journey's goal, but the journey has no "
                        "'goal:'; declare one, or name the metric: click, redemption or "
                        "{event: <type>}",
                    )
        if stage.final and (edges[stage.key] - {stage.key}):
            pass  # a final stage ends the enrollment; its outgoing triggers never fire
    _check_entry(c)
    _check_reachability(c, edges)
    _check_instant_loops(c, instant)
    return c.problems


def _check_prefixes(c: _Checker, path: Path_, spec: PromoCodeSpec | None) -> None:
    """A prefix per language should name each language the journey writes in."""
    if spec is None or not isinstance(spec.prefix, dict):
        return
    given = {key.lower() for key in spec.prefix}
    for locale in c.journey.all_locales:
        if locale.lower() not in given and locale.split("-")[0].lower() not in given:
            fallback = choose_prefix(spec.prefix, None, c.journey.locale)
            c.add(
                (*path, "promo_code", "prefix"),
                f"the promo code prefix has none for locale '{locale}': its customers get "
                f"'{fallback}'; add {locale}: <PREFIX>",
                severity="warning",
            )


def _check_entry(c: _Checker) -> None:
    j = c.journey
    for key in j.entry_stages:
        stage = j.stage_map.get(key)
        if stage is None:
            continue
        if not any(
            isinstance(t, SegmentTrigger | EventTrigger) and t.from_ is None
            for t in stage.enter_when
        ):
            index = j.stage_keys.index(key)
            c.add(
                ("stages", index, "enter_when"),
                f"entry stage '{key}' has no event trigger without 'from' and no "
                "segment, so no customer can ever enter the journey there; "
                "add one such as {event: order.completed}",
            )


def _check_reachability(c: _Checker, edges: dict[str, set[str]]) -> None:
    j = c.journey
    reached = {k for k in j.entry_stages if k in edges}
    todo = list(reached)
    while todo:
        for nxt in edges[todo.pop()] - reached:
            reached.add(nxt)
            todo.append(nxt)
    # A final stage completes the enrollment: nothing moves a customer on from it.
    final = {s.key for s in j.stages if s.final}
    live = {k for k in j.entry_stages if k in edges}
    todo = list(live)
    while todo:
        current = todo.pop()
        if current in final:
            continue
        for nxt in edges[current] - live:
            live.add(nxt)
            todo.append(nxt)
    for i, stage in enumerate(j.stages):
        if stage.key in reached and stage.key not in live:
            behind = sorted(f for f in final & live if stage.key in edges[f])
            c.add(
                ("stages", i, "key"),
                f"stage '{stage.key}' is reachable only from the final stage(s) "
                f"{', '.join(behind) or 'of the journey'}; a customer there has completed "
                "the journey, so it is never entered: move the trigger, or unmark 'final'",
                severity="warning",
            )
        elif stage.key not in reached:
            c.add(
                ("stages", i, "key"),
                f"stage '{stage.key}' is unreachable from the entry "
                f"stages ({', '.join(j.entry_stages)}); add a trigger that leads to it, "
                "or list it under entry.stages",
            )
        elif not stage.final and not (edges[stage.key] - {stage.key}):
            c.add(
                ("stages", i, "key"),
                f"stage '{stage.key}' is a dead end: nothing moves a "
                "customer on from it; add a trigger with 'from: [" + stage.key + "]', "
                "a move_to action, or mark it 'final: true'",
            )


def _check_instant_loops(c: _Checker, instant: dict[str, set[str]]) -> None:
    """A cycle of move_to actions without 'after' would move a customer forever."""
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(instant.get(node, ())):
            if state.get(nxt) == 1:
                loop = [*trail[trail.index(nxt) :], nxt] if nxt in trail else [node, nxt]
                index = c.journey.stage_keys.index(node)
                c.add(
                    ("stages", index, "on_enter"),
                    "stages form a loop without a delay: "
                    + " -> ".join(loop)
                    + "; give one move_to an 'after:'",
                )
            elif nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = 2

    for key in instant:
        if key not in state:
            visit(key, [key])


def check_timing(journey: Journey, spots: SourceMap, file: str) -> list[Problem]:
    """Send windows that quiet hours would keep closed forever."""
    c = _Checker(journey, spots, file)
    quiet = journey.settings.quiet_hours
    for i, stage in enumerate(journey.stages):
        for a, action in enumerate(stage.on_enter):
            if not (isinstance(action, _MessageAction) and action.marketing):
                continue
            if action.at is not None and quiet is not None:
                start, end = quiet
                inside = (
                    start <= action.at < end
                    if start < end
                    else (action.at >= start or action.at < end)
                )
                if inside:
                    c.add(
                        ("stages", i, "on_enter", a, "at"),
                        f"the send window at {action.at:%H:%M} lies in the quiet hours "
                        f"{start:%H:%M}-{end:%H:%M}: the message would wait forever; "
                        "choose a time outside them",
                    )
    return c.problems


def check_migrations(journey: Journey, spots: SourceMap, file: str) -> list[Problem]:
    c = _Checker(journey, spots, file)
    for m, mig in enumerate(journey.migrations):
        if mig.from_version >= journey.version:
            c.add(
                ("migrations", m, "from_version"),
                f"a migration comes from an older version; "
                f"{mig.from_version} is not older than this version {journey.version}",
            )
        for old, new in mig.stages.items():
            c.stage_ref(("migrations", m, "stages", old), new)
    return c.problems


assert set(MESSAGE_KINDS) == {"email", "sms"}


@dataclass
class Report:
    """The outcome of validating a set of files: the journeys that loaded, and every problem."""

    journeys: list[Journey] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(p.severity == "error" for p in self.problems)


def validate_paths(
    paths: Iterable[str | Path],
    templates: Path | None = None,
    company: Mapping[str, Any] | None = None,
) -> Report:
    """Load and check every journey file under `paths`; never raises for bad journeys.

    With `company` (the render settings' company details), also warns where a journey
    writes to German recipients and a legally required detail is empty.
    """
    from .config import templates_dir

    tdir = templates if templates is not None else templates_dir()
    report = Report()
    plan, plan_problems = _plan_of(paths)
    report.problems.extend(plan_problems)
    owners: dict[str, str] = {}
    loaded: list[tuple[Journey, SourceMap, str]] = []
    for path in journey_files(paths):
        report.files.append(path)
        try:
            text = read_source(path)
        except FileNotFoundError:
            report.problems.append(Problem("no such file", str(path)))
            continue
        except OSError as exc:
            report.problems.append(Problem(f"cannot read the file: {exc.strerror}", str(path)))
            continue
        except JourneyError as exc:
            report.problems.extend(exc.problems)
            continue
        try:
            journey, spots = parse_journey(text, str(path))
        except JourneyError as exc:
            report.problems.extend(exc.problems)
            # The stages that are valid on their own still get their templates checked:
            # one schema error must not hide the template errors of the other stages.
            report.problems.extend(templates_of_valid_stages(text, str(path), tdir))
            continue
        file = str(path)
        found = (
            check_graph(journey, spots, file)
            + check_timing(journey, spots, file)
            + check_migrations(journey, spots, file)
            + check_templates(journey, spots, file, tdir)
            + check_segments(journey, spots, file, plan)
        )
        if plan is not None:
            found += check_tracking(journey, plan, spots, file, tdir)
        if company is not None:
            found += check_legal(journey, spots, file, company)
        if journey.journey in owners:
            line, col = locate(spots, ("journey",))
            found.append(
                Problem(
                    f"journey key '{journey.journey}' is already defined in "
                    f"{owners[journey.journey]}; journey keys must be unique",
                    file,
                    line,
                    col,
                    ("journey",),
                )
            )
        owners.setdefault(journey.journey, file)
        report.problems.extend(found)
        if not any(p.severity == "error" for p in found):
            report.journeys.append(journey)
            loaded.append((journey, spots, file))
    try:
        report.problems.extend(overlaps(loaded))
    except UnknownJourneyError as exc:  # JOURNEYFLOW_ENABLED_JOURNEYS names no journey here
        report.problems.append(Problem(f"JOURNEYFLOW_ENABLED_JOURNEYS: {exc}", "(settings)"))
    return report


def _plan_of(paths: Iterable[str | Path]) -> tuple[TrackingPlan | None, list[Problem]]:
    """The tracking plan of the journeys' folder (the first folder named, or the folder
    of the first file), and its own problems."""
    first = (
        next(iter(paths), None)
        if not isinstance(paths, list | tuple)
        else (paths[0] if paths else None)
    )
    if first is None:
        return None, []
    folder = Path(first) if Path(first).is_dir() else Path(first).parent
    try:
        return load_plan(folder), []
    except JourneyError as exc:
        return None, list(exc.problems)
    except OSError as exc:
        return None, [Problem(f"cannot read the file: {exc.strerror}", str(folder / PLAN_FILE))]


def load_journeys(
    paths: Iterable[str | Path] | None = None, templates: Path | None = None
) -> list[Journey]:
    """Load and fully validate journeys; raise one JourneyError listing every problem.
    The same bytes validated before give the same journeys again (`validate_cache`)."""
    from .config import definitions_dir, templates_dir
    from .validate_cache import inputs_digest, kept

    chosen = list(paths) if paths is not None else [definitions_dir()]
    tdir = templates if templates is not None else templates_dir()
    return kept(inputs_digest(chosen, tdir), lambda: validate_paths(chosen, tdir))
