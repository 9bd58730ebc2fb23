"""Message templates: the Jinja2 environment, locale filters and the render context contract.

Templates live in `templates/<locale>/<name>.<channel>.j2` (channel `email` or `sms`). An
email template extends `_layouts/email.j2` and fills in the blocks `subject`, `text_body`
and `html_body`; the layout turns them into the `subject`, `text` and `html` parts. The
journey validator checks templates statically with `check_template`; the channels render
them with `render_email` / `render_sms` against a context shaped like `RenderContext`.
"""

from .check import TemplateIssue, check_template
from .context import CONTEXT_SPEC, RenderContext, sample_context
from .environment import (
    CHANNELS,
    EMAIL_PARTS,
    RenderedEmail,
    RenderError,
    TemplateEnvironment,
    find_template,
    locale_chain,
    make_environment,
    render_email,
    render_sms,
    template_name,
    template_path,
    where,
)
from .filters import FILTERS
from .sms import SmsLength, sms_segments

__all__ = [
    "CHANNELS",
    "CONTEXT_SPEC",
    "EMAIL_PARTS",
    "FILTERS",
    "RenderContext",
    "RenderError",
    "RenderedEmail",
    "SmsLength",
    "TemplateEnvironment",
    "TemplateIssue",
    "check_template",
    "find_template",
    "locale_chain",
    "make_environment",
    "render_email",
    "render_sms",
    "sample_context",
    "sms_segments",
    "template_name",
    "template_path",
    "where",
]
