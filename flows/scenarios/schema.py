"""The JSON Schema of scenario files, for editors (`$schema=…/scenario.schema.json`).

Derived from the model, as the journey schema is; `journeyflow schema --write` writes
it next to this module, where the shipped scenario files point.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .model import ScenarioFile

SCHEMA_PATH = Path(__file__).resolve().parent / "scenario.schema.json"
SCHEMA_ID = "https://journeyflow.dev/schema/scenario.schema.json"


def json_schema() -> dict[str, Any]:
    schema = ScenarioFile.model_json_schema(by_alias=True, mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "journeyflow scenario tests",
        **schema,
    }


def schema_text() -> str:
    return json.dumps(json_schema(), indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def write_schema(path: Path = SCHEMA_PATH) -> Path:
    path.write_text(schema_text(), encoding="utf-8")
    return path
