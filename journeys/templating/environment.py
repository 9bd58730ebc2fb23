"""The sandboxed Jinja2 environment, template lookup by locale, and rendering."""

from __future__ import annotations

import re
import weakref
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import jinja2
from jinja2 import nodes
from jinja2.sandbox import SandboxedEnvironment

from ..types import LOCALE_PATTERN
from .budget import (
    BudgetExceeded,
    budget_range,
    charge,
    checked_binop,
    rendering,
)
from .filters import FILTERS

CHANNELS = ("email", "sms")
EMAIL_PARTS = ("subject", "text", "html")
_LOCALE_RE = re.compile(LOCALE_PATTERN)

# --- environment and lookup -------------------------------------------------------------------


def _escapes(name: str | None) -> bool:
    # Escaping is the safe default; only SMS (plain text by nature) is exempt.
    return not (name or "").endswith(".sms.j2")


class _LocaleLoader(jinja2.FileSystemLoader):
    """Falls back from `de-AT/x` to `de/x`, so regional folders hold only what differs."""

    def get_source(
        self, environment: jinja2.Environment, template: str
    ) -> tuple[str, str, Callable[[], bool]]:
        try:
            return super().get_source(environment, template)
        except jinja2.TemplateNotFound:
            head, _, rest = template.partition("/")
            if "-" not in head or not rest:
                raise
            return super().get_source(environment, f"{head.split('-')[0]}/{rest}")


class TemplateEnvironment(SandboxedEnvironment):
    """The sandboxed environment, plus `plain`: the same one without HTML escaping.

    Escaping is fixed when a template compiles, for the whole template, yet an email holds
    an HTML part (must escape) and subject/text parts (must not: "Müller & Söhne" is not
    "Müller &amp; Söhne"). So the html block is rendered by this environment and the other
    parts by `plain`, an overlay sharing loader, filters and globals but with its own cache
    of compiled templates. Authors need no `|safe` or `{% autoescape %}`, which are easy to
    forget and each a hole when forgotten.
    """

    templates_dir: Path
    plain: SandboxedEnvironment

    # Every render is on a budget (see `budget`): sizes of * ** + are checked, every
    # call charges the clock.
    intercepted_binops = frozenset({"*", "**", "+"})

    def call_binop(
        self, context: jinja2.runtime.Context, operator: str, left: Any, right: Any
    ) -> Any:
        checked_binop(operator, left, right)
        return super().call_binop(context, operator, left, right)

    def call(
        __self, __context: jinja2.runtime.Context, __obj: Any, *args: Any, **kwargs: Any
    ) -> Any:
        charge()
        return super().call(__context, __obj, *args, **kwargs)

    def join_path(self, template: str, parent: str) -> str:
        # '_layouts/email.j2' in 'de/x.email.j2' means 'de/_layouts/email.j2'.
        head = parent.split("/", 1)[0]
        if _LOCALE_RE.match(template.split("/", 1)[0]) or not _LOCALE_RE.match(head):
            return template
        return f"{head}/{template}"


def make_environment(templates_dir: Path) -> TemplateEnvironment:
    env = TemplateEnvironment(
        loader=_LocaleLoader(str(templates_dir)),
        undefined=jinja2.StrictUndefined,
        autoescape=_escapes,
        trim_blocks=True,
        lstrip_blocks=True,
        # The optimizer folds constants while compiling: `'x' * 10**9` would be computed
        # there, unchecked. Without it, the budget checks it at render time.
        optimized=False,
    )
    env.filters.update(FILTERS)
    env.globals["range"] = budget_range
    del env.globals["lipsum"]  # placeholder text has no place in a message
    env.templates_dir = Path(templates_dir)
    env.plain = cast(SandboxedEnvironment, env.overlay(autoescape=False))
    return env


def locale_chain(locale: str) -> list[str]:
    """'de-AT' -> ['de-AT', 'de']: where to look for a template, most specific first."""
    return [locale, locale.split("-")[0]] if "-" in locale else [locale]


def template_name(locale: str, name: str, channel: str) -> str:
    """The loader name, e.g. 'de/review_request.email.j2'."""
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel '{channel}'; valid are: email, sms")
    return f"{locale}/{name}.{channel}.j2"


def template_path(templates_dir: Path, locale: str, name: str, channel: str) -> Path:
    """Where the template for exactly this locale belongs (whether or not it exists)."""
    return Path(templates_dir) / template_name(locale, name, channel)


def find_template(templates_dir: Path, locale: str, name: str, channel: str) -> Path | None:
    for loc in locale_chain(locale):
        path = template_path(templates_dir, loc, name, channel)
        if path.is_file():
            return path
    return None


# --- rendering ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


_ANCESTORS: weakref.WeakKeyDictionary[jinja2.Template, list[str]] = weakref.WeakKeyDictionary()


def _ancestors(env: TemplateEnvironment, template: jinja2.Template) -> list[str]:
    """The templates `template` extends, nearest first (cached per compiled template)."""
    known = _ANCESTORS.get(template)
    if known is None:
        known, name = [], template.name
        assert env.loader is not None
        while name:
            tree = env.parse(env.loader.get_source(env, name)[0])
            target = getattr(next(tree.find_all(nodes.Extends), None), "template", None)
            name = env.join_path(target.value, name) if isinstance(target, nodes.Const) else None
            known += [name] if name else []
        _ANCESTORS[template] = known
    return known


def _render_block(
    env: TemplateEnvironment, name: str, block: str, context: Mapping[str, Any]
) -> str:
    # Rendering one block alone: register the parents' blocks as Jinja's `extends` would.
    template = env.get_template(name)
    ctx = template.new_context(dict(context))
    for parent in _ancestors(env, template):
        for key, func in env.get_template(parent).blocks.items():
            ctx.blocks.setdefault(key, []).append(func)
    if block not in ctx.blocks:
        raise jinja2.TemplateError(f"template '{name}' has no '{block}' block")
    try:
        return _bounded(ctx.blocks[block][0](ctx), MAX_PART_CHARS, f"the {block} part")
    except Exception:
        env.handle_exception()


def _bounded(chunks: Iterator[str], limit: int, what: str) -> str:
    """Join rendered output, stopping as soon as it passes `limit` characters."""
    out, size = [], 0
    for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise BudgetExceeded(f"{what} renders to more than {limit:,} characters")
        out.append(chunk)
        charge()
    return "".join(out)


# Far above any real message, far below what would hurt a dispatcher or a provider.
MAX_PART_CHARS = 1_000_000
MAX_SMS_CHARS = 1_600  # 10 segments of 160


def render_email(env: TemplateEnvironment, name: str, context: Mapping[str, Any]) -> RenderedEmail:
    plain = cast(TemplateEnvironment, env.plain)
    with rendering():
        subject = " ".join(_render_block(plain, name, "subject", context).split())
        text = re.sub(r"[ \t]+\n", "\n", _render_block(plain, name, "text", context))
        html = _render_block(env, name, "html", context)
    text = re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"
    return RenderedEmail(subject, text, html.strip() + "\n")


# Babel's no-break spaces ('10 %') and typographic marks are not GSM-7: one of them would
# switch the whole SMS to UCS-2 and cut a segment from 160 to 70 characters.
_GSM_SAFE = str.maketrans("\u00a0\u202f„“”‚‘’–—", "  \"\"\"'''--")


def render_sms(env: TemplateEnvironment, name: str, context: Mapping[str, Any]) -> str:
    """The SMS text: GSM-7 friendly, single spaces, no blank lines (each one costs)."""
    template = env.plain.get_template(name)
    with rendering():
        rendered = _bounded(template.generate(context), MAX_SMS_CHARS, "the SMS")
    text = rendered.translate(_GSM_SAFE)
    lines = (" ".join(line.split()) for line in text.replace("…", "...").splitlines())
    return "\n".join(line for line in lines if line)
