"""A simulation's defaults, apart from the code that uses them: the command line shows
them in its help without loading the simulation (SQLAlchemy, the renderer)."""

from __future__ import annotations

# `rendering.SampledRenderer`: the first messages of each kind, then one in this many.
RENDER_FIRST = 10
RENDER_EVERY = 50
# Fewer customers than this per shard: a process's start costs more than it saves.
MIN_SHARD = 1000
DEFAULT_SHARDS = 2
