"""Atomic file output: write to a temporary sibling, then rename into place.

A reader never sees a half-written artifact: either the old file (or none) or the complete new
one. An exception or Ctrl-C while writing leaves the destination untouched and removes the
temporary file. ``os.replace`` is atomic on POSIX when source and destination share a folder,
which is why the temporary file is created next to the destination. A process killed outright
(SIGKILL, power loss) cannot clean up: the next write to the same destination removes the
temporaries such a writer left (``.<name>.*.tmp*`` and ``.<name>.*.old``), so one writer per
destination at a time is assumed, as in a run folder. Finished files and folders get the usual
permissions (``0o666`` / ``0o777`` less the umask), not the temporary's private ones.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

import yaml

__all__ = [
    "atomic_path",
    "atomic_dir",
    "write_bytes",
    "write_text",
    "write_json",
    "write_yaml",
    "write_csv",
    "save_figure",
    "save_figures",
]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _remove_leftovers(path: Path) -> None:
    """Delete the temporaries a killed writer of `path` left beside it."""
    for pattern in (f".{path.name}.*.tmp*", f".{path.name}.*.old"):
        for leftover in path.parent.glob(pattern):
            if leftover.is_dir():
                shutil.rmtree(leftover, ignore_errors=True)
            else:
                leftover.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path that is renamed to `path` when the block succeeds.

    Parameters
    ----------
    path : path-like
        Final destination. Its parent folder is created if missing.
    suffix : str, optional
        Suffix of the temporary file (some writers choose the format from it);
        defaults to the destination's full suffix, e.g. ``.nii.gz``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
    >>> with atomic_path(target) as tmp:
    ...     _ = tmp.write_text("done")
    >>> target.read_text()
    'done'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_leftovers(path)
    suffix = "".join(path.suffixes) if suffix is None else suffix
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{suffix}",
                                    dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary folder that replaces `path` when the block succeeds.

    An existing folder at `path` is removed only after the new one is complete, so an interrupted
    write leaves the previous version intact.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_leftovers(path)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())
        if path.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=path.parent))
            os.replace(path, old / path.name)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write `data` to `path` atomically and return the path."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write UTF-8 `text` to `path` atomically and return the path."""
    return write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write `obj` as indented, key-sorted JSON (stable bytes for equal content)."""
    return write_text(path, json.dumps(obj, indent=2, sort_keys=True, allow_nan=False) + "\n")


def write_yaml(path: str | os.PathLike, obj: Any) -> Path:
    """Write `obj` as block-style YAML, keys in insertion order."""
    return write_text(path, yaml.safe_dump(obj, sort_keys=False, default_flow_style=False))


def write_csv(path: str | os.PathLike, frame) -> Path:
    """Write a pandas DataFrame without its index, with ``\\n`` line endings."""
    return write_text(path, frame.to_csv(index=False, lineterminator="\n"))


def save_figure(fig, path: str | os.PathLike, *, dpi: int = 120) -> Path:
    """Save a Matplotlib figure atomically (PNG unless the suffix says otherwise).

    The metadata that Matplotlib stamps into files (software version, creation date) is cleared,
    so the same figure gives the same bytes on every run.
    """
    path = Path(path)
    metadata = {"Software": None} if path.suffix.lower() == ".png" else {"CreationDate": None}
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format=path.suffix.lstrip(".") or "png",
                    metadata=metadata)
    return path


def save_figures(figures, folder: str | os.PathLike, *, prefix: str = "") -> dict[str, Path]:
    """Save every figure of a step as ``<folder>/<prefix><name>.png`` (see :func:`save_figure`).

    Parameters
    ----------
    figures : mapping of str to matplotlib Figure, or None
    folder : path-like
    prefix : str, keyword-only
        Before each file name (``"tta_"``).

    Returns
    -------
    dict of str to Path
        ``"<name>.png"`` -> path; empty for no figures.
    """
    return {f"{name}.png": save_figure(fig, Path(folder) / f"{prefix}{name}.png")
            for name, fig in (figures or {}).items()}
