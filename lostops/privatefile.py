"""Write a file that holds secrets: mode 0600 from the first byte, atomically, nothing left behind.

The temporary file is created exclusively (``tempfile.mkstemp``: ``O_CREAT |
O_EXCL``, an unpredictable name, mode 0600) next to the target, so a planted
file or symlink of a guessable name is never followed or reused; its name
matches ``.*.tmp``, which .gitignore ignores; and it is removed on any failure
(a full disk, an interrupt) before the error goes on.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def write_private(file: Path | str, text: str) -> Path:
    """Replace `file` with `text` (mode 0600). OSError when the directory is not writable."""
    file = Path(file)
    fd, tmp = tempfile.mkstemp(dir=file.parent, prefix=f".{file.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, file)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return file
