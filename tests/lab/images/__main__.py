"""`python -m tests.lab.images [--refresh]`: build or reuse the lab images, print the archive and its info."""

import json
import os
import sys
from pathlib import Path

from tests.lab import images

path, info = images.ensure(
    Path(os.environ.get("LOSTOPS_LAB_CACHE", "/var/cache/lostops-lab")),
    "http://deb.debian.org/debian",
    refresh="--refresh" in sys.argv,
)
print(path)
print(json.dumps(info, indent=1))
