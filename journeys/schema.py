"""The JSON Schema for editors and the reference docs, both derived from the model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .config import PROJECT_ROOT
from .model import Journey

SCHEMA_PATH = PROJECT_ROOT / "journeys" / "journey.schema.json"
REFERENCE_PATH = PROJECT_ROOT / "docs" / "journey-reference.md"
SCHEMA_ID = "https://journeyflow.dev/schema/journey.schema.json"
TRACKING_SCHEMA_PATH = PROJECT_ROOT / "journeys" / "tracking_plan.schema.json"
TEMPLATES_REFERENCE_PATH = PROJECT_ROOT / "docs" / "templates.md"


def json_schema() -> dict[str, Any]:
    """The model's schema, as editors (yaml-language-server) read it."""
    schema = Journey.model_json_schema(by_alias=True, mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "journeyflow journey",
        **schema,
    }


def schema_text() -> str:
    return json.dumps(json_schema(), indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def tracking_schema_text() -> str:
    """The tracking plan's JSON Schema (journeys/tracking.py), for editors."""
    from .tracking import TrackingPlan

    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://journeyflow.dev/schema/tracking_plan.schema.json",
        "title": "journeyflow tracking plan",
        **TrackingPlan.model_json_schema(by_alias=True, mode="validation"),
    }
    return json.dumps(schema, indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def _type_of(prop: dict[str, Any] | bool) -> str:
    if isinstance(prop, bool):
        return "any"
    if "$ref" in prop:
        return str(prop["$ref"]).rsplit("/", 1)[-1]
    for key in ("anyOf", "oneOf"):
        if key in prop:
            return " or ".join(_type_of(p) for p in prop[key])
    kind = prop.get("type", "any")
    if kind == "array":
        return f"list of {_type_of(prop.get('items', {}))}"
    if kind == "object" and "additionalProperties" in prop:
        return f"map of {_type_of(prop['additionalProperties'])}"
    if "enum" in prop:
        return " | ".join(f"`{v}`" for v in prop["enum"])
    if "const" in prop:
        return f"`{prop['const']}`"
    return str(kind)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _section(name: str, schema: dict[str, Any]) -> list[str]:
    lines = [f"## {name}", ""]
    if schema.get("description"):
        lines += [schema["description"].strip(), ""]
    props = schema.get("properties", {})
    if not props:
        return [*lines, f"Type: {_type_of(schema)}", ""]
    required = set(schema.get("required", []))
    lines += ["| field | type | required | default | description |", "|---|---|---|---|---|"]
    for field, prop in props.items():
        default = json.dumps(prop["default"], ensure_ascii=False) if "default" in prop else ""
        lines.append(
            f"| `{field}` | {_cell(_type_of(prop))} | {'yes' if field in required else ''} "
            f"| {_cell(default)} | {_cell(prop.get('description', ''))} |"
        )
    return [*lines, ""]


def reference_text() -> str:
    """Markdown reference of every object of the journey language."""
    schema = json_schema()
    lines = [
        "# Journey language reference",
        "",
        "Generated from `journeys/model.py` by `journeyflow schema --write`; do not edit by hand.",
        "Editors that speak JSON Schema get the same information from "
        "`journeys/journey.schema.json`.",
        "",
        *_section("Journey", schema),
    ]
    for name, sub in sorted(schema.get("$defs", {}).items()):
        lines += _section(name, sub)
    return "\n".join(lines).rstrip() + "\n"


def write_generated(schema_path: Path = SCHEMA_PATH, reference_path: Path = REFERENCE_PATH) -> None:
    schema_path.write_text(schema_text(), encoding="utf-8")
    schema_path.with_name(TRACKING_SCHEMA_PATH.name).write_text(
        tracking_schema_text(), encoding="utf-8"
    )
    reference_path.parent.mkdir(parents=True, exist_ok=True)
    reference_path.write_text(reference_text(), encoding="utf-8")
    from .templating.reference import reference_text as templates_reference

    templates_page = reference_path.with_name(TEMPLATES_REFERENCE_PATH.name)
    templates_page.write_text(templates_reference(), encoding="utf-8")
