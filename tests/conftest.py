"""Settings for the whole suite."""

from __future__ import annotations

import os

# Many tests start Python processes (dispatchers killed in crash storms, the CLI, Prefect
# servers and workers, a fresh venv). Where the environment forbids bytecode caches,
# each of them would compile every module it imports again, a second or more each:
# let them cache (the folders are ignored by git).
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
