"""Writing a file so that a reader never sees half of it (a crash, a full disk, a kill mid-write)."""

from __future__ import annotations

import os
from pathlib import Path


def write_text_atomic(path: Path, text: str) -> Path:
    """Write beside the target, flush to disk, then one rename: the old file or the whole new one, never a part.
    On an error (e.g. a full disk) the temporary file is removed and the old file is left as it was."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "w") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
