"""Templates checked against the ways into their stage: `event.data.<field>` must be
carried by every event that enters the stage (per the tracking plan), and guarded or
defaulted where the stage can be entered with no event (a yearly date, a schedule, a
`move_to`; a wait carries the event of the stage waited in).

The guard is what a template writer does anyway: `{% if event.data.total is defined
%}…{% endif %}` (also as the left side of an `and`), or `event.data.total|default(0)`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from jinja2 import TemplateError, nodes

from .errors import Problem, did_you_mean
from .loader import SourceMap
from .model import Journey, _MessageAction
from .tracking import TrackingPlan
from .validate_places import Places
from .validate_tracking import TIMER, contexts

_EVENT_OWN = ("type", "occurred_at", "data")


def _field(node: nodes.Node) -> str | None:
    """The data field an expression reads: event.data.x, event.data['x'] or event.x."""
    if isinstance(node, nodes.Getattr):
        name, inner = node.attr, node.node
    elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
        name, inner = str(node.arg.value), node.node
    else:
        return None
    if isinstance(inner, nodes.Getattr | nodes.Getitem):
        outer = _field(inner)
        if outer == "data":
            return name
        return None
    if isinstance(inner, nodes.Name) and inner.name == "event":
        return name if name not in _EVENT_OWN else ("data" if name == "data" else None)
    return None


def _defined_in(test: nodes.Node) -> set[str]:
    """Fields a test proves present: `event.data.x is defined` (alone or in an `and`)."""
    if isinstance(test, nodes.Test) and test.name == "defined":
        field = _field(test.node)
        return {field} if field and field != "data" else set()
    if isinstance(test, nodes.And):
        return _defined_in(test.left) | _defined_in(test.right)
    return set()


def _uses(node: nodes.Node, guarded: frozenset[str]) -> Iterator[tuple[str, int, bool]]:
    """(field, line, guarded) for every read of an event data field under `node`."""
    if isinstance(node, nodes.If):
        yield from _uses(node.test, guarded)
        inside = guarded | _defined_in(node.test)
        for child in node.body:
            yield from _uses(child, inside)
        for branch in (*node.elif_, *node.else_):
            yield from _uses(branch, guarded)
        return
    if isinstance(node, nodes.CondExpr):  # `a if event.data.x is defined else b`
        yield from _uses(node.test, guarded)
        yield from _uses(node.expr1, guarded | _defined_in(node.test))
        if node.expr2 is not None:
            yield from _uses(node.expr2, guarded)
        return
    if isinstance(node, nodes.And):
        yield from _uses(node.left, guarded)
        yield from _uses(node.right, guarded | _defined_in(node.left))
        return
    if isinstance(node, nodes.Test) and node.name == "defined":
        return  # asking is safe
    if isinstance(node, nodes.Filter) and node.name == "default" and node.node is not None:
        field = _field(node.node)
        if field and field != "data":
            yield field, node.lineno, True
            return
    field = _field(node)
    if field and field != "data":
        yield field, node.lineno, field in guarded
        return
    for child in node.iter_child_nodes():
        yield from _uses(child, guarded)


def check_event_templates(
    journey: Journey, plan: TrackingPlan, spots: SourceMap, file: str, templates: Path
) -> list[Problem]:
    from .templating import find_template, make_environment

    c = Places(spots, file)
    env = make_environment(templates)
    reach = contexts(journey, carried_by_moves=False, carried_by_waits=True)
    for i, stage in enumerate(journey.stages):
        ways = reach[stage.key]
        for a, action in enumerate(stage.on_enter):
            if not isinstance(action, _MessageAction):
                continue
            path = ("stages", i, "on_enter", a, action.kind)
            seen: set[tuple[str, str]] = set()
            for name in action.templates:
                for locale in journey.all_locales:
                    found = find_template(templates, locale, name, action.kind)
                    if found is None:
                        continue  # reported by the template checks
                    try:
                        tree = env.parse(found.read_text(encoding="utf-8"))
                    except (TemplateError, OSError, UnicodeDecodeError, RecursionError):
                        continue  # reported by the template checks
                    for field, line, guarded in _uses(tree, frozenset()):
                        where = f"{found.relative_to(templates)}:{line}"
                        if TIMER in ways and not guarded and (name, field) not in seen:
                            seen.add((name, field))
                            c.add(
                                path,
                                f"template '{name}' uses event.data.{field} ({where}), but "
                                f"stage '{stage.key}' is also entered by a timer or a move_to, "
                                f"with no event: guard it with {{% if event.data.{field} is "
                                f"defined %}} or give a default (|default(…))",
                            )
                        declared = [
                            plan.events[e]
                            for e in sorted(w for w in ways if w is not None)
                            if e in plan.events
                        ]
                        if guarded:
                            # Absent on some ways by design; on every way, a typo.
                            if not declared or any(field in d.data for d in declared):
                                continue
                            if ("*", field) in seen:
                                continue
                            seen.add(("*", field))
                            known = sorted({f for d in declared for f in d.data})
                            c.add(
                                path,
                                f"template '{name}' uses event.data.{field} ({where}), which no "
                                f"event entering stage '{stage.key}' carries in the tracking "
                                f"plan{did_you_mean(field, known)}",
                            )
                            continue
                        for event in sorted(e for e in ways if e is not None):
                            spec = plan.events.get(event)
                            if spec is None or field in spec.data or (event, field) in seen:
                                continue
                            seen.add((event, field))
                            c.add(
                                path,
                                f"template '{name}' uses event.data.{field} ({where}), which "
                                f"'{event}' does not carry in the tracking plan"
                                f"{did_you_mean(field, list(spec.data))}: guard it with "
                                f"{{% if event.data.{field} is defined %}}",
                            )
    return c.problems
