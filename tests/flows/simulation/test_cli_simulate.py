"""`journeyflow simulate`: tables or JSON whose totals are the sums of its days, the
same in one process and in shards; the store it keeps (the shards' merged) is the one
`journeyflow report` reads; bad options and models are clear
errors with exit codes 2 and 1, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from flows.cli import app
from flows.simulation.model import SHIPPED_MODEL
from journeys.store import dispose_engines

runner = CliRunner(env={"COLUMNS": "200"})  # error boxes on one line
SMALL = ["--customers", "30", "--days", "6", "--tick", "6h"]


def _said(output: str) -> str:
    return " ".join(output.split())


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    database = tmp_path_factory.mktemp("cli") / "simulated.db"
    result = runner.invoke(
        app,
        [
            "simulate",
            "customer_lifecycle",
            "newsletter_opt_in",
            *SMALL,
            "--seed",
            "3",
            "--database",
            str(database),
            "--shards",
            "2",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout), database


def test_the_shards_change_no_figure_but_the_rendered_sample(
    simulated: tuple[dict[str, Any], Path],
) -> None:
    doc, _ = simulated
    args = ["customer_lifecycle", "newsletter_opt_in", *SMALL, "--seed", "3", "--json"]
    result = runner.invoke(app, ["simulate", *args, "--shards", "1"])
    assert result.exit_code == 0, result.output
    alone = json.loads(result.stdout)
    sample = {"seconds", "rendered", "unrendered"}
    assert {k: v for k, v in alone.items() if k not in sample} == {
        k: v for k, v in doc.items() if k not in sample
    }
    assert alone["rendered"] + alone["unrendered"] == doc["rendered"] + doc["unrendered"] > 0


def test_json_totals_are_the_sums_of_the_days(simulated: tuple[dict[str, Any], Path]) -> None:
    doc, _ = simulated
    assert doc["journeys"] == ["customer_lifecycle", "newsletter_opt_in"]
    assert doc["seed"] == 3 and len(doc["days"]) == 6
    assert doc["customers"] == sum(d["appeared"] for d in doc["days"]) > 0
    assert doc["events"] == sum(d["events"] for d in doc["days"]) > 0
    for section in ("sent", "skipped", "failed", "deferred"):
        totals: dict[tuple[str, str | None, str], int] = {}
        for day in doc["days"]:
            for c in day[section]:
                key = (c["channel"], c["journey"], c["what"])
                totals[key] = totals.get(key, 0) + c["n"]
        assert {(c["channel"], c["journey"], c["what"]): c["n"] for c in doc[section]} == totals
    assert doc["report"]["stages"], "the funnel and KPIs at the end come along"


def test_the_kept_store_is_the_one_the_report_reads(
    simulated: tuple[dict[str, Any], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    doc, database = simulated
    monkeypatch.setenv("JOURNEYFLOW_DATABASE_URL", f"sqlite:///{database}")
    try:
        result = runner.invoke(app, ["report", "--until", doc["end"], "--json"])
    finally:
        dispose_engines()
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["stages"] == doc["report"]["stages"]
    assert report["messages"] == doc["report"]["messages"]


def test_the_tables_show_each_prediction() -> None:
    result = runner.invoke(app, ["simulate", *SMALL])

    assert result.exit_code == 0, result.output
    out = _said(result.output)
    assert "customers over 6 days" in out
    # The demo's journeys by default.
    assert (
        "journeys abandoned_cart, birthday_club, customer_lifecycle, event_registration, "
        "newsletter_opt_in" in out
    )
    for title in (
        "Per day",
        "Messages sent",
        "Stage populations",
        "Peak send rate",
        "Funnel and KPIs at the end",
        "through their templates",
    ):
        assert title in out, title


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--customers", "0"], "'--customers'"),
        (["--days", "0"], "'--days'"),
        (["--tick", "7m"], "the tick must divide a day"),
        (["--tick", "soon"], "'--tick'"),
        (["--render-every", "0"], "'--render-every'"),
        (["--shards", "0"], "'--shards'"),
        (["customer_lifecycel"], "did you mean 'customer_lifecycle'"),
    ],
)
def test_a_bad_option_is_exit_code_2_naming_it(args: list[str], says: str) -> None:
    days = [] if "--days" in args else ["--days", "1"]
    result = runner.invoke(app, ["simulate", *args, *days])

    assert result.exit_code == 2, result.output
    assert says in _said(result.output)
    assert "Traceback" not in result.output


def test_a_bad_model_is_exit_code_1_with_file_line_and_field(tmp_path: Path) -> None:
    text = SHIPPED_MODEL.read_text(encoding="utf-8")
    broken = text.replace("then: order.delivered", "then: order.deliverd", 1)
    path = tmp_path / "behaviour.yaml"
    path.write_text(broken, encoding="utf-8")
    line = next(n for n, text in enumerate(broken.splitlines(), 1) if "order.deliverd" in text)

    result = runner.invoke(app, ["simulate", "--model", str(path), *SMALL])

    assert result.exit_code == 1
    out = _said(result.output)
    assert f"{path}:{line}:" in out and "defaults.behaviour.0.then" in out
    assert "did you mean 'order.delivered'" in out and "Traceback" not in out
