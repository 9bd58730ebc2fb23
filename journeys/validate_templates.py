"""Checks of a journey's message templates: present in every locale, using only the
variables the render context provides, and SMS within their segment limit.

Also run for a file whose schema failed, on the stages that are valid on their own:
one schema error must not hide the template errors of the other stages.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from .errors import JourneyError, Problem
from .loader import SourceMap, read_yaml
from .model import Journey, Settings, Stage, _MessageAction
from .types import LOCALE_PATTERN
from .validate_places import Places

_LOCALE = re.compile(LOCALE_PATTERN)


def check_templates(
    journey: Journey, spots: SourceMap, file: str, templates: Path
) -> list[Problem]:
    """Every message template exists for every locale and uses only known variables."""
    stages = list(enumerate(journey.stages))
    limit = journey.settings.sms_max_segments
    return _template_problems(stages, journey.all_locales, spots, file, templates, limit)


def _template_problems(
    stages: list[tuple[int, Stage]],
    locales: list[str],
    spots: SourceMap,
    file: str,
    templates: Path,
    sms_limit: int,
) -> list[Problem]:
    from .templating import find_template

    c = Places(spots, file)
    memo = _memo_for(templates)
    checked: set[tuple[Path, bool]] = set()  # each template reported once per journey
    for i, stage in stages:
        for a, action in enumerate(stage.on_enter):
            if not isinstance(action, _MessageAction):
                continue
            path = ("stages", i, "on_enter", a, action.kind)
            for name in action.templates:
                for locale in locales:
                    found = find_template(templates, locale, name, action.kind)
                    if found is None:
                        c.add(
                            path,
                            f"template '{name}' for {action.kind} is missing in locale "
                            f"'{locale}'; create {templates / locale / f'{name}.{action.kind}.j2'}",
                        )
                        continue
                    has_code = action.promo_code is not None
                    if (found, has_code) in checked:
                        continue
                    checked.add((found, has_code))
                    for message, severity in memo.findings(found, action.kind, has_code, sms_limit):
                        c.add(path, message, severity)
    return c.problems


Finding = tuple[str, str]  # (message, severity)


class _TemplateMemo:
    """What checking each template found, for one state of a templates folder.

    Checking parses, compiles and renders every template with sample values: seconds
    for the shipped journeys, and every command, test and worker loads them. The result
    depends only on the files, so it is kept while none of them changes (same names,
    sizes and modification times) and shared by every journey that sends the template.
    """

    def __init__(self, templates: Path) -> None:
        self.templates = templates
        self._env: Any = None
        self._found: dict[tuple[Path, str, bool, int], list[Finding]] = {}

    def findings(self, found: Path, kind: str, has_code: bool, sms_limit: int) -> list[Finding]:
        key = (found, kind, has_code, sms_limit if kind == "sms" else 0)
        if key not in self._found:
            self._found[key] = self._check(found, kind, has_code, sms_limit)
        return self._found[key]

    def _check(self, found: Path, kind: str, has_code: bool, sms_limit: int) -> list[Finding]:
        from .templating import check_template, make_environment

        if self._env is None:
            self._env = make_environment(self.templates)
        out: list[Finding] = []
        issues = check_template(self._env, found, has_promo_code=has_code)
        for issue in issues:
            where = f"{issue.file}:{issue.line}" if issue.line else str(issue.file)
            out.append((f"template {where}: {issue.message}", "error"))
        if issues:
            return out
        name = found.relative_to(self.templates).as_posix()
        locale = found.parent.name
        if kind == "sms":
            out += _check_sms_length(self._env, name, locale, has_code, sms_limit)
        elif kind == "email":
            out += _check_email_render(self._env, name, locale, has_code)
        return out


_MEMOS: dict[Path, tuple[tuple[tuple[str, int, int], ...], _TemplateMemo]] = {}
_MEMO_FOLDERS = 16  # test suites and editors switch between a few folders


def _memo_for(templates: Path) -> _TemplateMemo:
    state = _folder_state(templates)
    kept = _MEMOS.get(templates)
    if kept is not None and kept[0] == state:
        return kept[1]
    memo = _TemplateMemo(templates)
    _MEMOS.pop(templates, None)
    if len(_MEMOS) >= _MEMO_FOLDERS:
        del _MEMOS[next(iter(_MEMOS))]
    _MEMOS[templates] = (state, memo)
    return memo


def _folder_state(templates: Path) -> tuple[tuple[str, int, int], ...]:
    """Every file under the folder with its size and modification time (nanoseconds)."""
    entries: list[tuple[str, int, int]] = []
    for root, _dirs, files in os.walk(templates):
        for name in files:
            full = os.path.join(root, name)
            try:
                st = os.stat(full)
            except OSError:
                continue
            entries.append((full, st.st_size, st.st_mtime_ns))
    entries.sort()
    return tuple(entries)


def _check_email_render(env: Any, template: str, locale: str, has_code: bool) -> list[Finding]:
    """Render with sample values, on the send-time budget, and find the legal footer.

    Every email must carry the postal address and the unsubscribe link (UWG § 7, DDG § 5,
    CAN-SPAM); a template that overrides the layout's text or html block loses them.
    """
    from .templating import render_email, sample_context, where

    context = sample_context(locale, promo_code=has_code)
    try:
        email = render_email(env, template, context)
    except Exception as exc:
        message = f"template {where(exc, template)}: does not render with sample values: {exc}"
        return [(message, "error")]
    out: list[Finding] = []
    unsubscribe, address = context["links"]["unsubscribe"], context["company"]["address"]
    for part, body in (("text", email.text), ("html", email.html.replace("&amp;", "&"))):
        if unsubscribe not in body or address not in body:
            message = (
                f"template {template}: the {part} part has no footer with the postal address "
                "and the unsubscribe link; fill in text_body and html_body instead of "
                f"overriding the layout's {part} block"
            )
            out.append((message, "error"))
    return out


def _check_sms_length(
    env: Any, template: str, locale: str, has_code: bool, limit: int
) -> list[Finding]:
    """Render with sample values: every segment is billed, and carriers cap the count."""
    from .templating import render_sms, sample_context, sms_segments, where

    name = template
    try:
        text = render_sms(env, name, sample_context(locale, promo_code=has_code))
    except Exception as exc:  # a template that cannot render is reported by check_template
        message = f"template {where(exc, template)}: does not render with sample values: {exc}"
        return [(message, "error")]
    length = sms_segments(text)
    summary = (
        f"template {template} renders to {length.characters} {length.encoding} characters "
        f"= {length.segments} SMS segments with sample values"
    )
    if length.segments > limit:
        shorten = f"the limit is {limit} (settings.sms_max_segments): shorten it"
        return [(f"{summary}; {shorten}", "error")]
    if length.segments > 1:
        return [(f"{summary}; each segment is billed", "warning")]
    return []


def templates_of_valid_stages(text: str, file: str, templates: Path) -> list[Problem]:
    try:
        data, spots = read_yaml(text, file)
    except JourneyError:
        return []  # the YAML itself is broken: already reported
    if not isinstance(data, dict) or not isinstance(data.get("stages"), list):
        return []
    more = data.get("locales") or []
    locales = [data.get("locale"), *(more if isinstance(more, list) else [None])]
    if not all(isinstance(code, str) and _LOCALE.fullmatch(code) for code in locales):
        return []  # reported by the schema check; and a locale names a folder to look in
    stages = []
    for i, raw in enumerate(data["stages"]):
        try:
            stages.append((i, Stage.model_validate(raw)))
        except ValidationError:
            continue  # its own problems are reported by the schema check
    limit = Settings().sms_max_segments  # the file's own settings may be what failed
    unique = list(dict.fromkeys(locales))
    return _template_problems(stages, unique, spots, file, templates, limit)
