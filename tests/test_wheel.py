"""The built wheel in a fresh virtual environment, run from an empty folder, the way a
team installs journeyflow: every command finds what ships with it, and a team's own
project (`journeyflow init`) is found from its folder."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import shutil
import socket
import subprocess
import sys
import sysconfig
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prefect_db import migrated_home

from journeys.loader import journey_files

PROJECT_ROOT = Path(__file__).resolve().parents[1]
UV = Path(sys.executable).with_name("uv")
SECRET_BYTES = b"0123456789abcdef0123456789abcdef"


def _uv(*args: str) -> None:
    """uv from its cache alone (the Makefile's install filled it: hatchling, every
    dependency); only what the cache lacks is fetched from the package index."""
    offline = [str(UV), *args, "--offline"]
    done = subprocess.run(offline, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        done = subprocess.run([str(UV), *args], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr


def _wheel_and_venv(work: Path) -> tuple[Path, Path]:
    _uv("build", "--wheel", "-q", "-o", str(work / "dist"), str(PROJECT_ROOT))
    [wheel] = (work / "dist").glob("journeyflow-*.whl")
    venv = work / "venv"
    _uv("venv", "-q", "--python", sys.executable, str(venv))
    return wheel, venv


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The `bin` folder of a fresh venv with the wheel built from this checkout.

    The wheel alone is installed there; its dependencies are the test environment's,
    already compiled, on the path after it (a `.pth` line: that folder's own `.pth`
    files, among them this checkout's editable install, are not read). Installing and
    compiling Prefect and the rest anew costs a minute of CPU and tests uv more than
    the wheel: that is `test_the_wheel_alone_installs_and_runs` (`-m wheel`). Here
    uv still resolves the wheel's requirements, so a requirement that cannot be met
    fails, and `tests/test_dependencies.py` checks that every import is declared."""
    if not UV.exists():
        pytest.fail(f"{UV} is missing: the Makefile installs uv into the venv")
    wheel, venv = _wheel_and_venv(tmp_path_factory.mktemp("wheel"))
    python = str(venv / "bin" / "python")
    _uv("pip", "install", "-q", "--dry-run", "--python", python, str(wheel))
    _uv("pip", "install", "-q", "--no-deps", "--python", python, str(wheel))
    [site] = (venv / "lib").glob("python3*/site-packages")
    (site / "_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    yield venv / "bin"


@pytest.fixture(scope="module")
def installed_alone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The `bin` folder of a fresh venv with the wheel and every dependency it declares."""
    wheel, venv = _wheel_and_venv(tmp_path_factory.mktemp("wheel-alone"))
    _uv("pip", "install", "-q", "--python", str(venv / "bin" / "python"), str(wheel))
    yield venv / "bin"


def _env() -> dict[str, str]:
    # PYTHONDONTWRITEBYTECODE dropped as well: a team's Python keeps the bytecode of what it
    # imported, so only the first command compiles (uv, unlike pip, installs no bytecode).
    drop = ("JOURNEYFLOW_", "PREFECT_", "PYTHONDONTWRITEBYTECODE")
    keep = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    return {**keep, "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1"}


def _run(bin: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(bin / "journeyflow"), *args],
        cwd=cwd,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "Traceback" not in done.stdout + done.stderr, done.stdout + done.stderr
    return done


@pytest.fixture
def empty(tmp_path: Path) -> Path:
    folder = tmp_path / "empty"
    folder.mkdir()
    return folder


def test_the_installed_commands_work_from_an_empty_folder(installed: Path, empty: Path) -> None:
    # The package is the wheel's, not this checkout's.
    assert _module_file(installed, "journeys").is_relative_to(installed.parent)
    _the_commands_work(installed, empty)


@pytest.mark.wheel
def test_the_wheel_alone_installs_and_runs(installed_alone: Path, empty: Path) -> None:
    """The same commands with nothing but the wheel and what it declares."""
    for module in ("journeys", "prefect", "sendgrid"):
        assert _module_file(installed_alone, module).is_relative_to(installed_alone.parent)
    _the_commands_work(installed_alone, empty)


def _prefect(bin: Path) -> list[str]:
    """Prefect's command, run by the venv's Python (with the wheel alone installed, the
    script is the test environment's)."""
    own = bin / "prefect"
    return [str(own)] if own.exists() else [str(bin / "python"), str(UV.with_name("prefect"))]


def _module_file(bin: Path, module: str) -> Path:
    code = f"import {module}; print({module}.__file__)"
    found = subprocess.run(
        [str(bin / "python"), "-c", code], capture_output=True, text=True, cwd=bin, check=True
    )
    return Path(found.stdout.strip())


def _the_commands_work(installed: Path, empty: Path) -> None:
    assert _run(installed, empty, "--version").stdout.startswith("journeyflow 0.1")
    validate = _run(installed, empty, "validate")
    assert validate.returncode == 0, validate.stdout + validate.stderr
    shipped = len(list(journey_files([PROJECT_ROOT / "journeys" / "definitions"])))
    assert f"{shipped} file(s), {shipped} journey(s) valid, 0 error(s)" in validate.stdout
    assert "site-packages" in validate.stdout  # it says which folders it uses
    demo = _run(installed, empty, "demo")
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert len(list((empty / "var" / "outbox").rglob("*.eml"))) > 100
    # Its report: the page's template and plotly.js ship with the package.
    page = (empty / "var" / "demo-report.html").read_text(encoding="utf-8")
    assert page.startswith("<!doctype html>") and "Plotly.newPlot" in page
    preview = _run(
        installed, empty, "preview", "customer_lifecycle", "thank_you", "--sample", "--locale", "de"
    )
    assert preview.returncode == 0 and "Subject" in preview.stdout, preview.stderr
    tested = _run(installed, empty, "test", "--coverage")
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "site-packages/journeys/tests" in " ".join(tested.stdout.split())
    assert " passed in " in tested.stdout and "FAILED" not in tested.stdout
    once = _run(installed, empty, "serve", "--once")
    assert once.returncode == 0, once.stdout + once.stderr
    assert "journeys/shipped/webhooks.yaml" in once.stdout  # it says what it uses
    assert (empty / "var" / "journeyflow.db").exists()


def test_a_team_project_from_init_is_found_from_its_folder(installed: Path, empty: Path) -> None:
    created = _run(installed, empty, "init", "team")
    assert created.returncode == 0, created.stderr
    team = empty / "team"
    for name in ("journeys", "templates/de/_layouts", "webhooks.yaml", "prefect.yaml"):
        assert (team / name).exists(), name
    validate = _run(installed, team, "validate")
    assert validate.returncode == 0, validate.stdout + validate.stderr
    assert "1 file(s), 1 journey(s) valid" in validate.stdout
    assert f"journeys: {team / 'journeys'}" in " ".join(validate.stdout.split())
    tested = _run(installed, team, "test")
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "journeys/tests/moments_of_truth.yaml::" in tested.stdout
    again = _run(installed, empty, "init", "team")
    assert again.returncode == 2 and "not empty" in again.stderr


def test_a_team_deploys_its_prefect_yaml_and_a_worker_elsewhere_runs_it(
    installed: Path, empty: Path
) -> None:
    """`prefect deploy --all` from the folder `init` made, with the installed package: the
    shipped prefect.yaml's schedules, work pool and automation; a worker with a copy of
    the project in another folder runs the flows there."""
    from prefect.workers.process import ProcessWorker
    from sqlalchemy import create_engine, text

    from flows.serve import QUIET_SERVER_ENV, local_server

    assert _run(installed, empty, "init", "team").returncode == 0
    team = empty / "team"
    yaml_before = (team / "prefect.yaml").read_bytes()
    with local_server(
        home=migrated_home(empty / "prefect"), log=empty / "server.log", services=False, ui=False
    ) as api:
        pool = {
            "name": "journeyflow-local",
            "type": "process",
            "base_job_template": ProcessWorker.get_default_base_job_template(),
        }
        httpx.post(f"{api}/work_pools/", json=pool, timeout=30).raise_for_status()
        env = {**_env(), **QUIET_SERVER_ENV, "PREFECT_API_URL": api}
        env["PREFECT_HOME"] = str(empty / "cli")
        deploy = subprocess.run(
            [*_prefect(installed), "--no-prompt", "deploy", "--all"],
            cwd=team,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert deploy.returncode == 0, deploy.stdout + deploy.stderr
        found = httpx.post(f"{api}/deployments/filter", json={}, timeout=30).json()
        automations = httpx.post(f"{api}/automations/filter", json={}, timeout=30).json()
        deployments = {d["name"]: d for d in found}
        schedules = {
            name: [(s["schedule"]["cron"], s["schedule"]["timezone"]) for s in d["schedules"]]
            for name, d in deployments.items()
        }
        assert schedules == {
            "ingest": [("* * * * *", "UTC")],
            "timers": [("*/5 * * * *", "UTC")],
            "reengagement-sweep": [("0 9 * * *", "Europe/Berlin")],
            "dispatch": [("* * * * *", "UTC")],
            "daily-report": [("30 6 * * *", "Europe/Berlin")],
        }
        assert {d["work_pool_name"] for d in found} == {pool["name"]}
        assert deployments["reengagement-sweep"]["parameters"]["params"]["journeys"] == [
            "customer_lifecycle"
        ]
        assert deployments["dispatch"]["entrypoint"] == "flows.jobs.dispatch_due"
        # Nothing of the deploying machine is pinned: each worker names its own folder.
        assert deployments["dispatch"]["pull_steps"] == [{"flows.project_dir.enter_project": {}}]
        assert str(empty) not in json.dumps(found)
        # A new event in the inbox starts the ingest run at once (an automation).
        (trigger,) = [a["trigger"] for a in automations]
        assert trigger["expect"] == ["journeyflow.inbox.received"]
        assert (team / "prefect.yaml").read_bytes() == yaml_before  # deploy wrote nothing
        elsewhere = empty / "another" / "machine"
        shutil.copytree(team, elsewhere / "team")
        [dispatch] = [d for d in found if d["name"] == "dispatch"]
        run = httpx.post(
            f"{api}/deployments/{dispatch['id']}/create_flow_run",
            json={"parameters": {"params": {"max_batches": 1}}},
            timeout=30,
        ).json()
        worker = subprocess.run(
            [*_prefect(installed), "worker", "start", "--pool", pool["name"], "--run-once"],
            cwd=elsewhere,
            env={**env, "JOURNEYFLOW_PROJECT_DIR": str(elsewhere / "team")},
            capture_output=True,
            text=True,
            timeout=300,
        )
        state = httpx.get(f"{api}/flow_runs/{run['id']}", timeout=30).json()["state"]
    assert state["type"] == "COMPLETED", worker.stdout[-3000:] + worker.stderr[-3000:]
    assert not (team / "var").exists()  # the worker's copy did the work, in its folder
    engine = create_engine(f"sqlite:///{elsewhere / 'team' / 'var' / 'journeyflow.db'}")
    with engine.connect() as conn:
        keys = conn.execute(text("SELECT DISTINCT journey FROM journey_version")).scalars()
        assert sorted(keys) == ["moments_of_truth"]
    engine.dispose()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_the_installed_receiver_has_its_sources(installed: Path, empty: Path) -> None:
    port = _free_port()
    secret = "whsec_" + base64.b64encode(SECRET_BYTES).decode()
    env = {**_env(), "JOURNEYFLOW_SHOP_WEBHOOK_SECRET": secret}
    process = subprocess.Popen(
        [str(installed / "journeyflow"), "webhooks", "--port", str(port), "--no-process"],
        cwd=empty,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            except httpx.TransportError:
                assert process.poll() is None, process.stdout.read() if process.stdout else ""
                assert time.monotonic() < deadline, "the receiver did not start"
                time.sleep(0.2)
        assert "shop" in health.json()["sources"]
        body = json.dumps(
            {
                "type": "order.completed",
                "customer_id": "c-42",
                "occurred_at": "2026-03-01T10:15:00Z",
            }
        ).encode()
        msg_id, stamp = "msg-wheel-1", str(int(time.time()))
        mac = hmac.new(SECRET_BYTES, f"{msg_id}.{stamp}.".encode() + body, hashlib.sha256)
        response = httpx.post(
            f"http://127.0.0.1:{port}/webhooks/shop",
            content=body,
            headers={
                "content-type": "application/json",
                "webhook-id": msg_id,
                "webhook-timestamp": stamp,
                "webhook-signature": "v1," + base64.b64encode(mac.digest()).decode(),
            },
            timeout=30,  # the first event may wait for the journeys' first check
        )
        assert response.status_code == 200, response.text
        assert response.json()["new"] == 1
    finally:
        process.terminate()
        process.wait(30)
    shutil.rmtree(empty / "var", ignore_errors=True)
