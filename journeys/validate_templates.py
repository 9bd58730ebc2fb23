"""Checks of a journey's message templates: present in every locale, using only the
variables the render context provides, and SMS within their segment limit.

Also run for a file whose schema failed, on the stages that are valid on their own:
one schema error must not hide the template errors of the other stages.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from .errors import JourneyError, Problem
from .loader import Path_, SourceMap, read_yaml
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
    from .templating import check_template, find_template, make_environment

    c = Places(spots, file)
    env = make_environment(templates)
    checked: set[tuple[Path, bool]] = set()
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
                    issues = check_template(env, found, has_promo_code=has_code)
                    for issue in issues:
                        where = f"{issue.file}:{issue.line}" if issue.line else str(issue.file)
                        c.add(path, f"template {where}: {issue.message}")
                    loader_name = found.relative_to(templates).as_posix()
                    if action.kind == "sms" and not issues:
                        _check_sms_length(
                            c, path, env, loader_name, found.parent.name, has_code, sms_limit
                        )
                    elif action.kind == "email" and not issues:
                        _check_email_render(c, path, env, loader_name, found.parent.name, has_code)
    return c.problems


def _check_email_render(
    c: Places, path: Path_, env: Any, template: str, locale: str, has_code: bool
) -> None:
    """Render with sample values, on the send-time budget, and find the legal footer.

    Every email must carry the postal address and the unsubscribe link (UWG § 7, DDG § 5,
    CAN-SPAM); a template that overrides the layout's text or html block loses them.
    """
    from .templating import render_email, sample_context, where

    context = sample_context(locale, promo_code=has_code)
    try:
        email = render_email(env, template, context)
    except Exception as exc:
        c.add(path, f"template {where(exc, template)}: does not render with sample values: {exc}")
        return
    unsubscribe, address = context["links"]["unsubscribe"], context["company"]["address"]
    for part, body in (("text", email.text), ("html", email.html.replace("&amp;", "&"))):
        if unsubscribe not in body or address not in body:
            c.add(
                path,
                f"template {template}: the {part} part has no footer with the postal address "
                "and the unsubscribe link; fill in text_body and html_body instead of "
                f"overriding the layout's {part} block",
            )


def _check_sms_length(
    c: Places, path: Path_, env: Any, template: str, locale: str, has_code: bool, limit: int
) -> None:
    """Render with sample values: every segment is billed, and carriers cap the count."""
    from .templating import render_sms, sample_context, sms_segments, where

    name = template
    try:
        text = render_sms(env, name, sample_context(locale, promo_code=has_code))
    except Exception as exc:  # a template that cannot render is reported by check_template
        c.add(path, f"template {where(exc, template)}: does not render with sample values: {exc}")
        return
    length = sms_segments(text)
    summary = (
        f"template {template} renders to {length.characters} {length.encoding} characters "
        f"= {length.segments} SMS segments with sample values"
    )
    if length.segments > limit:
        c.add(path, f"{summary}; the limit is {limit} (settings.sms_max_segments): shorten it")
    elif length.segments > 1:
        c.add(path, f"{summary}; each segment is billed", severity="warning")


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
