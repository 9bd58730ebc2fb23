"""The sandboxed Jinja2 environment, template lookup by locale, and rendering."""

from __future__ import annotations

import re
import weakref
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import jinja2
from jinja2 import nodes
from jinja2.bccache import Bucket
from jinja2.sandbox import SandboxedEnvironment

from ..types import LOCALE_PATTERN
from .budget import MAX_VALUE_CHARS, BudgetExceeded, budget_range, charge, rendering
from .filters import FILTERS
from .guards import guard_filter
from .sandbox import BudgetedSandbox
from .sms import sms_segments

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


class TemplateEnvironment(BudgetedSandbox):
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

    def join_path(self, template: str, parent: str) -> str:
        # '_layouts/email.j2' in 'de/x.email.j2' means 'de/_layouts/email.j2'.
        head = parent.split("/", 1)[0]
        if _LOCALE_RE.match(template.split("/", 1)[0]) or not _LOCALE_RE.match(head):
            return template
        return f"{head}/{template}"


class _SharedCode(jinja2.BytecodeCache):
    """Compiled templates, shared by every environment of the process: the journeys'
    check renders each template once, and the dispatcher's renderer would compile it all
    over again. Every environment is made by `make_environment`, so the code differs
    only by escaping (the `plain` overlay's is off); a changed source misses the cache
    by its checksum."""

    def __init__(self) -> None:
        self._code: dict[str, bytes] = {}

    def get_bucket(
        self, environment: jinja2.Environment, name: str, filename: str | None, source: str
    ) -> Bucket:
        escaping = "plain" if environment.autoescape is False else "escaped"
        return super().get_bucket(environment, f"{escaping}:{name}", filename, source)

    def load_bytecode(self, bucket: Bucket) -> None:
        code = self._code.get(bucket.key)
        if code is not None:
            bucket.bytecode_from_string(code)

    def dump_bytecode(self, bucket: Bucket) -> None:
        self._code[bucket.key] = bucket.bytecode_to_string()


_SHARED_CODE = _SharedCode()


def make_environment(templates_dir: Path) -> TemplateEnvironment:
    env = TemplateEnvironment(
        loader=_LocaleLoader(str(templates_dir)),
        bytecode_cache=_SHARED_CODE,
        undefined=jinja2.StrictUndefined,
        autoescape=_escapes,
        trim_blocks=True,
        lstrip_blocks=True,
        # The optimizer folds constants while compiling: `'x' * 10**9` would be computed
        # there, unchecked. Without it, the budget checks it at render time.
        optimized=False,
    )
    env.filters.update(FILTERS)
    env.filters.update({name: guard_filter(name, f) for name, f in env.filters.items()})
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
_PARENTS: weakref.WeakKeyDictionary[TemplateEnvironment, dict[tuple[str, str], str | None]] = (
    weakref.WeakKeyDictionary()
)


def _ancestors(env: TemplateEnvironment, template: jinja2.Template) -> list[str]:
    """The templates `template` extends, nearest first (cached per compiled template)."""
    known = _ANCESTORS.get(template)
    if known is None:
        known, name = [], template.name
        assert env.loader is not None
        parents = _PARENTS.setdefault(env, {})
        while name:
            source = env.loader.get_source(env, name)[0]
            if (name, source) not in parents:  # every email's chain ends in the same layout
                tree = env.parse(source)
                target = getattr(next(tree.find_all(nodes.Extends), None), "template", None)
                parents[(name, source)] = (
                    env.join_path(target.value, name) if isinstance(target, nodes.Const) else None
                )
            name = parents[(name, source)]
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
            raise BudgetExceeded(f"{what} exceeds {limit:,} characters")
        out.append(chunk)
        charge()
    return "".join(out)


class RenderError(jinja2.TemplateRuntimeError):
    """A template raised a plain Python error (1/0, a number too large to print, ...)."""


@contextmanager
def _template_errors() -> Iterator[None]:
    # Every failure of a render is the template's: callers catch TemplateError alone.
    try:
        yield
    except jinja2.TemplateError:
        raise
    except Exception as exc:  # ZeroDivisionError, RecursionError, MemoryError, TypeError ...
        raise RenderError(f"{type(exc).__name__}: {exc}") from exc


def where(exc: BaseException, template: str) -> str:
    """`file:line` of the template line that raised (Jinja maps its frames to them)."""
    line, file = None, template
    error: BaseException | None = exc
    while error is not None and line is None:
        tb = error.__traceback__
        while tb is not None:
            name = tb.tb_frame.f_code.co_filename
            if name.endswith(".j2"):
                file, line = name, tb.tb_lineno
            tb = tb.tb_next
        error = error.__cause__
    return f"{file}:{line}" if line else file


# Far above any real message, far below what would hurt a dispatcher or a provider.
MAX_PART_CHARS = MAX_VALUE_CHARS
MAX_SMS_SEGMENTS = 10  # the most any journey may allow (settings.sms_max_segments)
MAX_SMS_OUTPUT = 16_000  # before blank lines and runs of spaces are dropped


def render_email(env: TemplateEnvironment, name: str, context: Mapping[str, Any]) -> RenderedEmail:
    plain = cast(TemplateEnvironment, env.plain)
    with rendering(), _template_errors():
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
    with rendering(), _template_errors():
        template = env.plain.get_template(name)  # compiling may fail too: nesting too deep
        rendered = _bounded(template.generate(context), MAX_SMS_OUTPUT, "the SMS")
    text = rendered.translate(_GSM_SAFE)
    lines = (" ".join(line.split()) for line in text.replace("…", "...").splitlines())
    sms = "\n".join(line for line in lines if line)
    length = sms_segments(sms)
    if length.segments > MAX_SMS_SEGMENTS:
        raise BudgetExceeded(
            f"the SMS exceeds {MAX_SMS_SEGMENTS} segments: {length.characters:,} "
            f"{length.encoding} characters are {length.segments:,} segments"
        )
    return sms
