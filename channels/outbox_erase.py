"""Removing an erased customer's messages from the outbox folder.

The folder finds a message by its idempotency key (`.index/<sha256 of the key>.json`,
the metadata file under a second name); the metadata names the body file. All three
names go. What the store erased is authoritative: this only removes copies on disk.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path

from channels.outbox import INDEX_DIR


def erase_outbox_files(directory: str | os.PathLike[str], keys: Iterable[str]) -> int:
    """Delete the files of the messages with these keys; returns how many were found."""
    root = Path(directory)
    found = 0
    for key in keys:
        entry = root / INDEX_DIR / f"{hashlib.sha256(key.encode('utf-8')).hexdigest()}.json"
        try:
            meta = json.loads(entry.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        found += 1
        names = [entry]
        file = meta.get("file") if isinstance(meta, dict) else None
        if isinstance(file, str) and ".." not in file:
            body = root / file
            names += [body, body.parent / f"{meta.get('message_id')}.json"]
        for name in names:
            with contextlib.suppress(FileNotFoundError):
                name.unlink()
    return found
