"""The pull step of `prefect.yaml`: each flow run starts in its worker's project folder.

    pull:
      - flows.project_dir.enter_project: {}

A deployment names the installed package's flows (`flows.jobs.…`) and pins nothing of
the machine that deployed it; the worker's environment names its own folder
(`JOURNEYFLOW_PROJECT_DIR`), where journeys/, templates/, webhooks.yaml and the default
`var/` are found. Prefect's own `set_working_directory` would meet an unset variable
with `chdir('')` and a bare "No such file or directory: ''"; this step says what to set.
"""

from __future__ import annotations

import os
from pathlib import Path

VARIABLE = "JOURNEYFLOW_PROJECT_DIR"


class ProjectDirError(RuntimeError):
    """The worker's environment names no usable project folder."""


def project_dir(environ: dict[str, str] | None = None) -> Path:
    """The folder JOURNEYFLOW_PROJECT_DIR names; a clear error when it names none."""
    env = os.environ if environ is None else environ
    value = env.get(VARIABLE, "").strip()
    if not value:
        raise ProjectDirError(
            f"{VARIABLE} is not set in the worker's environment: set it to the project "
            "folder (the one with journeys/, templates/ and webhooks.yaml, as `journeyflow "
            "init` makes it) before `prefect worker start`"
        )
    try:
        path = Path(value).expanduser()
    except RuntimeError as exc:  # "~" with no home directory in the environment
        raise ProjectDirError(f"{VARIABLE}={value!r}: {exc}") from None
    try:
        if not path.is_absolute():
            # A flow run starts in a temporary folder of the worker: relative to nothing.
            raise ProjectDirError(f"{VARIABLE}={value!r} must be an absolute path")
        if not path.is_dir():
            raise ProjectDirError(f"{VARIABLE}={value!r} is not a folder on this machine")
    except (OSError, ValueError) as exc:  # a NUL byte, a name too long
        raise ProjectDirError(f"{VARIABLE}={value!r}: {exc}") from None
    return path


def enter_project() -> dict[str, str]:
    """Prefect pull step: change into the project folder; Prefect runs the flow there."""
    path = project_dir()
    os.chdir(path)
    # Prefect takes a step's "directory" output as the flow run's working directory.
    return {"directory": str(path)}
