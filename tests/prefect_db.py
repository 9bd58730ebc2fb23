"""A Prefect database already migrated, for the Prefect servers the tests start.

A Prefect server on a new home first migrates its database: on the 2-core machine it
answered after 12.1 s, against 4.7 s with a database already at the newest revision
(the migration alone, `prefect server database upgrade`, takes about 8 s of CPU). The
suite starts three such servers (test_jobs' harness, `journeyflow serve` in
test_webhooks_e2e, the wheel's `prefect deploy`): the first to need one migrates a
template under a lock, the others copy it. It is kept in the temp folder, named by
Prefect's version, so a later run on the same machine migrates nothing; the server
still checks the revision as it starts, so a template is never used behind the code.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import tempfile
from importlib.metadata import version
from pathlib import Path

DATABASE = "prefect.db"  # the file a Prefect home keeps its database in


def migrated_template() -> Path:
    """A migrated Prefect database (SQLite) to copy; made on first use."""
    folder = Path(tempfile.gettempdir()) / f"journeyflow-tests-prefect-{version('prefect')}"
    template = folder / DATABASE
    if template.exists():
        return template
    folder.mkdir(exist_ok=True)
    with (folder / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another worker may be making it right now
        if not template.exists():
            home = Path(tempfile.mkdtemp(dir=folder))
            env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
            env.update(PREFECT_HOME=str(home), PREFECT_SERVER_ANALYTICS_ENABLED="false")
            command = [sys.executable, "-m", "prefect", "server", "database", "upgrade", "-y"]
            done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
            assert done.returncode == 0, done.stdout + done.stderr
            # Whole or not at all: a run stopped half-way leaves no template behind.
            os.replace(home / DATABASE, template)
            shutil.rmtree(home, ignore_errors=True)
    return template


def migrated_home(home: Path) -> Path:
    """`home`, a Prefect home whose database is a copy of the migrated template."""
    home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(migrated_template(), home / DATABASE)
    return home
