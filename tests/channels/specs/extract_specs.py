"""Regenerate the schema excerpts in this folder from the providers' OpenAPI specs.

    .venv/bin/python tests/channels/specs/extract_specs.py SPECS_DIR

The tests never read the full specs; they validate requests against these excerpts.
Each excerpt is a JSON Schema with every ``$ref`` resolved in place, descriptions,
examples and ``x-*`` extensions dropped, and OpenAPI 3.0's ``nullable: true``
rewritten as a ``"null"`` type so that plain JSON Schema validators understand it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
DROP = {"description", "example", "examples", "summary"}
PROVENANCE = {
    "sendgrid": (
        "github.com/sendgrid/sendgrid-oai commit bef1536aeed2eb7b1ad4fde110a8ec65c583c4c5 "
        "(2024-07-09), file oai_v3_stoplight.json"
    ),
    "twilio": (
        "github.com/twilio/twilio-oai commit d50069b44ea8cd23141385bdb6db48f16ff75bb5 "
        "(2026-04-14), file spec/json/twilio_api_v2010.json"
    ),
}


def resolve(node: Any, root: dict[str, Any], seen: tuple[str, ...] = ()) -> Any:
    if isinstance(node, list):
        return [resolve(item, root, seen) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        ref = node["$ref"]
        if ref in seen:
            raise ValueError(f"recursive $ref {ref}")
        target: Any = root
        for part in ref.removeprefix("#/").split("/"):
            target = target[part]
        return resolve(target, root, (*seen, ref))
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in DROP or key.startswith("x-"):
            continue
        if key == "properties":
            out[key] = {name: resolve(sub, root, seen) for name, sub in value.items()}
        else:
            out[key] = resolve(value, root, seen)
    if out.pop("nullable", False) and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    return out


def excerpt(schema: dict[str, Any], source: str, where: str) -> dict[str, Any]:
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$comment": f"Excerpt of {where} from {PROVENANCE[source]}; regenerate with "
        "extract_specs.py. Descriptions, examples and x-* extensions dropped; $refs resolved.",
        **schema,
    }


def write(name: str, schema: dict[str, Any]) -> None:
    (HERE / name).write_text(json.dumps(schema, indent=1, ensure_ascii=False) + "\n")
    print("wrote", name)


def main(specs: Path) -> None:
    sendgrid = json.loads((specs / "sendgrid" / "oai_v3_stoplight.json").read_text())
    op = sendgrid["paths"]["/mail/send"]["post"]
    body = op["requestBody"]["content"]["application/json"]["schema"]
    write(
        "sendgrid_mail_send.schema.json",
        excerpt(resolve(body, sendgrid), "sendgrid", "the request body of POST /mail/send"),
    )
    error = sendgrid["components"]["schemas"]["global_error_response_schema"]
    write(
        "sendgrid_error.schema.json",
        excerpt(
            resolve(error, sendgrid), "sendgrid", "components/schemas/global_error_response_schema"
        ),
    )

    twilio = json.loads((specs / "twilio" / "twilio_api_v2010.json").read_text())
    path = twilio["paths"]["/2010-04-01/Accounts/{AccountSid}/Messages.json"]["post"]
    form = path["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]
    schema = resolve(form, twilio)
    schema["$defs"] = {
        p["name"]: resolve(p["schema"], twilio) for p in path["parameters"] if p["in"] == "path"
    }
    write(
        "twilio_create_message.schema.json",
        excerpt(
            schema,
            "twilio",
            "the form parameters of POST /2010-04-01/Accounts/{AccountSid}/Messages.json "
            "(path parameters under $defs)",
        ),
    )
    message = twilio["components"]["schemas"]["api.v2010.account.message"]
    write(
        "twilio_message.schema.json",
        excerpt(resolve(message, twilio), "twilio", "components/schemas/api.v2010.account.message"),
    )


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: extract_specs.py SPECS_DIR  (the folder holding sendgrid/ and twilio/)")
    main(Path(sys.argv[1]))
