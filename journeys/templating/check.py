"""Static checks of templates against the render context, without rendering them."""

from __future__ import annotations

import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from jinja2 import meta, nodes

from ..errors import did_you_mean
from .context import CONTEXT_SPEC
from .environment import EMAIL_PARTS, TemplateEnvironment
from .sandbox import UNSAFE_ATTRIBUTES

# --- static check ---------------------------------------------------------------------------


@dataclass(frozen=True)
class TemplateIssue:
    message: str
    file: Path
    line: int | None = None

    def __str__(self) -> str:
        return f"{self.file}{f':{self.line}' if self.line else ''}: {self.message}"


# The sandbox refuses these when the message renders; the check says so first.
_PRIVATE = (
    "attribute '{name}' is not allowed: names starting with '_' reach Python's internals, "
    "and the sandbox refuses them at send time"
)
_DEEP = (
    "the template nests expressions or blocks too deeply to be read; "
    "split it up with {% set %} or macros"
)
_UNSAFE = (
    "attribute '{name}' is not allowed: it reaches Python's internals, "
    "and the sandbox refuses it at send time"
)


def _check_unsafe(name: Any, line: int, report: Callable[[str, int | None], None]) -> None:
    if not isinstance(name, str):
        return
    if name.startswith("_"):
        report(_PRIVATE.format(name=name), line)
    elif name in UNSAFE_ATTRIBUTES:
        report(_UNSAFE.format(name=name), line)


def _stand_in(*_: Any) -> Any:
    return ""


def _hint(value: str, valid: Mapping[str, Any]) -> str:
    # Only the closest match: the full lists of Jinja's filters and tests are too long to help.
    return did_you_mean(value, valid).split(";", 1)[0]


def _check_tree(
    env: TemplateEnvironment, tree: nodes.Template, file: Path, has_promo_code: bool
) -> list[TemplateIssue]:
    issues: list[TemplateIssue] = []

    def report(message: str, line: int | None) -> None:
        issues.append(TemplateIssue(message, file, line))

    def first_use(name: str) -> int | None:
        uses = (n.lineno for n in tree.find_all(nodes.Name) if n.name == name and n.ctx == "load")
        return next(uses, None)

    bad_filters = {f.name for f in tree.find_all(nodes.Filter) if f.name not in env.filters}
    bad_tests = {t.name for t in tree.find_all(nodes.Test) if t.name not in env.tests}
    for node in [*tree.find_all(nodes.Filter), *tree.find_all(nodes.Test)]:
        kind, known = (
            ("filter", env.filters) if isinstance(node, nodes.Filter) else ("test", env.tests)
        )
        if node.name not in known:
            report(f"unknown {kind} '{node.name}'{_hint(node.name, known)}", node.lineno)
    if bad_filters or bad_tests:
        # find_undeclared_variables refuses unknown filters; stand-ins let it carry on.
        probe = env.overlay()
        probe.filters = {**env.filters, **dict.fromkeys(bad_filters, _stand_in)}
        probe.tests = {**env.tests, **dict.fromkeys(bad_tests, _stand_in)}
        tree.set_environment(probe)
    try:
        undeclared = meta.find_undeclared_variables(tree)
    except jinja2.TemplateAssertionError as exc:
        report(exc.message or str(exc), exc.lineno)
        return issues
    except jinja2.TemplateError as exc:
        # Jinja folds constant expressions while it reads the template: one that fails
        # (`(0).mro` joined to text) would fail every render too.
        report(f"an expression fails on every render: {exc.message or exc}", None)
        return issues

    for name in sorted(undeclared - set(CONTEXT_SPEC) - set(env.globals)):
        report(f"unknown variable '{name}'{did_you_mean(name, CONTEXT_SPEC)}", first_use(name))
    if "promo_code" in undeclared and not has_promo_code:
        report(
            "uses promo_code, but the action declares no promo code; add one to the action "
            "(promo_code: {discount: '10%'}) or take promo_code out of the template",
            first_use("promo_code"),
        )

    # A root the template assigns itself ({% set %}, loop or macro argument) may hold anything.
    own = {n.name for n in tree.find_all(nodes.Name) if n.ctx in ("store", "param")}

    def check_attribute(target: nodes.Expr, attr: Any, line: int) -> None:
        if not isinstance(target, nodes.Name) or target.name not in undeclared - own:
            return
        valid = CONTEXT_SPEC.get(target.name)
        if valid is not None and isinstance(attr, str) and attr not in valid:
            report(f"'{target.name}' has no attribute '{attr}'{did_you_mean(attr, valid)}", line)

    for get in tree.find_all(nodes.Getattr):
        _check_unsafe(get.attr, get.lineno, report)
        check_attribute(get.node, get.attr, get.lineno)
    for item in tree.find_all(nodes.Getitem):
        key = item.arg.value if isinstance(item.arg, nodes.Const) else None
        _check_unsafe(key, item.lineno, report)
    for flt in tree.find_all(nodes.Filter):  # {{ x|attr('__class__') }}
        if flt.name == "attr" and flt.args and isinstance(flt.args[0], nodes.Const):
            _check_unsafe(flt.args[0].value, flt.lineno, report)
    for item in tree.find_all(nodes.Getitem):
        if isinstance(item.arg, nodes.Const):
            check_attribute(item.node, item.arg.value, item.lineno)
    return issues


_Parsed = tuple[nodes.Template, list[TemplateIssue]] | TemplateIssue
# Per environment: every email extends the same layout, which is read and checked once.
_PARSED: weakref.WeakKeyDictionary[TemplateEnvironment, dict[tuple[Any, ...], _Parsed]] = (
    weakref.WeakKeyDictionary()
)


def _parsed(
    env: TemplateEnvironment,
    source: str,
    name: str,
    filename: str | None,
    file: Path,
    has_promo_code: bool,
) -> _Parsed:
    """The template's tree and the issues `_check_tree` finds, or why it cannot be read."""
    known = _PARSED.setdefault(env, {})
    key = (source, name, filename, has_promo_code)
    if key not in known:
        result: _Parsed
        try:
            tree = env.parse(source, name, filename)
            result = (tree, _check_tree(env, tree, file, has_promo_code))
        except jinja2.TemplateSyntaxError as exc:
            result = TemplateIssue(f"syntax error: {exc.message}", file, exc.lineno)
        except RecursionError:  # Jinja's parser and compiler recurse once per level
            result = TemplateIssue(_DEEP, file)
        if len(known) < 1000:
            known[key] = result
        return result
    return known[key]


def check_template(
    env: TemplateEnvironment, template: str | Path, has_promo_code: bool = False
) -> list[TemplateIssue]:
    """Check a template (a loader name or a file) and everything it extends, includes, imports.

    Reports syntax errors, unknown variables, attributes, filters and tests, promo_code
    without a declared promo code, and, for emails, missing or unfilled blocks.
    """
    loader = env.loader
    assert loader is not None
    direct: Path | None = None
    if isinstance(template, Path):
        try:
            name = template.resolve().relative_to(env.templates_dir.resolve()).as_posix()
        except ValueError:  # outside the templates folder: read the file itself
            name, direct = template.name, template
    else:
        name = template
    issues: list[TemplateIssue] = []
    trees: dict[str, nodes.Template] = {}
    parents: dict[str, str] = {}
    files: dict[str, Path] = {}

    def visit(name: str, direct: Path | None, referrer: tuple[Path, int | None]) -> None:
        trees.setdefault(name, nodes.Template([]))  # a placeholder stops include cycles
        filename: str | None
        try:
            if direct is not None:
                source, filename = direct.read_text(encoding="utf-8"), str(direct)
            else:
                source, filename, _ = loader.get_source(env, name)
        except (jinja2.TemplateNotFound, OSError):
            del trees[name]
            issues.append(TemplateIssue(f"template '{name}' not found", *referrer))
            return
        files[name] = file = Path(filename or name)
        parsed = _parsed(env, source, name, filename, file, has_promo_code)
        if isinstance(parsed, TemplateIssue):
            issues.append(parsed)
            return
        tree = trees[name] = parsed[0]
        issues.extend(parsed[1])
        refs = (nodes.Extends, nodes.Include, nodes.Import, nodes.FromImport)
        for ref in tree.find_all(refs):
            target = getattr(ref, "template", None)
            if isinstance(target, nodes.Const) and isinstance(target.value, str):
                path = env.join_path(target.value, name)
                if isinstance(ref, nodes.Extends):
                    parents[name] = path
                if path not in trees:
                    visit(path, None, (file, ref.lineno))

    visit(name, direct, (direct or env.templates_dir / name, None))
    if name.endswith(".email.j2") and name in files and not issues:
        blocks: dict[str, nodes.Block] = {}
        current: str | None = name
        while current is not None:  # the most derived definition of a block wins
            for block in trees[current].find_all(nodes.Block):
                blocks.setdefault(block.name, block)
            current = parents.get(current)
        for part in EMAIL_PARTS:
            if part not in blocks:
                issues.append(
                    TemplateIssue(
                        f"email has no '{part}' block; an email needs subject, text and html: "
                        "extend _layouts/email.j2 and fill in subject, text_body and html_body",
                        files[name],
                    )
                )
        for key, block in blocks.items():
            if block.required:
                message = f"block '{key}' must be filled in: the layout requires it"
                issues.append(TemplateIssue(message, files[name]))
    return issues
