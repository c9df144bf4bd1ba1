"""Stored originals: the uploaded files, kept so a collection can be re-indexed (e.g. with another template).

Layout: ``<originals_dir>/<tenant>/<collection>/<job id>/<nnnn>_<name>`` plus ``<...>.upload.json`` holding what the
upload said about the file (user metadata, ACL groups, template parameters). A file is removed once no document
refers to it any more (`release`): after its document is deleted, or replaced by a newer upload of the same name.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

SIDECAR = ".upload.json"


def write_sidecar(path: Path, spec: dict[str, Any]) -> None:
    """Record the upload's parameters for this original (read back by a re-index)."""
    Path(str(path) + SIDECAR).write_text(json.dumps(spec, ensure_ascii=False), encoding="utf-8")


def read_sidecar(path: str | Path) -> dict[str, Any]:
    """The upload parameters of an original; empty when none were recorded."""
    try:
        return json.loads(Path(str(path) + SIDECAR).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def remove_original(path: str | Path) -> None:
    """Delete an original, its sidecar, and its job folder when that is now empty. Missing files are fine."""
    p = Path(path)
    for f in (p, Path(str(p) + SIDECAR)):
        try:
            f.unlink(missing_ok=True)
        except OSError as e:  # never fail a delete of the index because a file could not be removed
            log.warning("cannot remove stored original %s: %s", f, e)
    try:
        p.parent.rmdir()
    except OSError:
        pass  # not empty: other files of the same upload remain
