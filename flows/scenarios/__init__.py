"""Scenario tests of journeys: YAML scenarios run through the production path.

- `model`: the scenario file format (one pydantic model; `scenario.schema.json`);
- `source`, `crosscheck`: reading a file, with file:line errors, and checking it
  against its journey;
- `runner`: a scenario on a fake clock through the engine, store, send rules and
  renderer, with recording channels (`recording`), into a `records.ScenarioRun`;
- `expect`: its expectations against the run, with diffs;
- `coverage`: what of each journey the scenarios reached;
- `suite`, `report`: many files at once, printed like pytest (`journeyflow test`).
"""
