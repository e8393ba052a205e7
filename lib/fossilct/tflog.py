"""Keep TensorFlow's C++ log noise out of executed notebooks and run logs.

TensorFlow 2.21 writes some lines straight to the process's standard error (file descriptor 2)
before its logging is initialised, where ``TF_CPP_MIN_LOG_LEVEL`` has no effect yet::

    WARNING: All log messages before absl::InitializeLog() is called are written to STDERR
    I0000 00:00:1796402040.723263   20074 port.cc:153] oneDNN custom operations are on. ...

and a harmless error each time Keras builds a ``tf.data`` map (TensorFlow itself says "Unknown
attributes will be ignored")::

    E0000 00:00:1796402051.667590   20074 node_def_util.cc:682] NodeDef mentions attribute
    use_unbounded_threadpool which is not in the op definition ...

Neither environment variable helps: ``TF_CPP_MIN_LOG_LEVEL=3`` leaves the first two (and would
hide real errors), and ``TF_ENABLE_ONEDNN_OPTS=0`` removes the oneDNN line only by switching
oneDNN off, which changes speed and numerics. A notebook kernel therefore filters its own file
descriptor 2: the runner points ``PYTHONSTARTUP`` at :data:`KERNEL_STARTUP`, which the IPython
kernel runs at start-up, before any cell, and which calls :func:`filter_stderr`. The filter drops
C++ log lines below ``TF_CPP_MIN_LOG_LEVEL`` (as TensorFlow would once initialised), the absl
preamble and the known-harmless errors (:data:`HARMLESS_ERRORS`), and passes everything else on
unchanged, fatal lines always. Python warnings (``warnings.warn``) are written through
``sys.stderr``, not the descriptor, and are never filtered.
"""

from __future__ import annotations

import os
import re
import select
import threading
from pathlib import Path
from typing import Callable

__all__ = ["KERNEL_STARTUP", "ABSL_PREAMBLE", "HARMLESS_ERRORS", "is_tensorflow_noise",
           "StderrFilter", "filter_stderr", "install_from_environment"]

KERNEL_STARTUP = Path(__file__).with_name("_kernel_startup.py")
"""The start-up file for ``PYTHONSTARTUP``: it calls :func:`install_from_environment`."""

ABSL_PREAMBLE = ("WARNING: All log messages before absl::InitializeLog() is called are written "
                 "to STDERR")
"""The line absl prints before the first C++ log message of a process."""

HARMLESS_ERRORS = (
    re.compile(r"NodeDef mentions attribute \S+ which is not in the op definition.*"
               r"Unknown attributes will be ignored"),
)
"""ERROR-level C++ messages that TensorFlow itself declares harmless (matched by search)."""

_CPP_LOG_LINE = re.compile(  # absl: severity, MMDD, time (seconds since the epoch before init)
    r"^(?P<severity>[IWEF])\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ [^\s:\]]+:\d+\] (?P<message>.*)$")
_SEVERITY = {"I": 0, "W": 1, "E": 2, "F": 3}
FLUSH_SECONDS = 0.05
"""A partial line (no newline yet) is passed on unfiltered after waiting this long."""


def _check_level(min_log_level: int) -> None:
    if isinstance(min_log_level, bool) or not isinstance(min_log_level, int) or not (
            0 <= min_log_level <= 3):
        raise ValueError(f"`min_log_level` must be 0, 1, 2 or 3 (TF_CPP_MIN_LOG_LEVEL: 0 all, "
                         f"1 no INFO, 2 no WARNING, 3 no ERROR); got {min_log_level!r}.")


def is_tensorflow_noise(line: str, *, min_log_level: int = 2) -> bool:
    """Whether one line of standard error is TensorFlow C++ log noise to drop.

    Parameters
    ----------
    line : str
        One line, with or without its newline.
    min_log_level : {0, 1, 2, 3}, keyword-only
        As ``TF_CPP_MIN_LOG_LEVEL``: C++ log lines of a lower severity (INFO 0, WARNING 1,
        ERROR 2) are noise. Fatal lines never are.

    Returns
    -------
    bool
        True for the absl preamble, a C++ log line below `min_log_level`, or an ERROR line
        matching :data:`HARMLESS_ERRORS`; False for everything else (Python warnings,
        tracebacks, other programs' output).

    Raises
    ------
    ValueError
        If `min_log_level` is not 0..3.

    Examples
    --------
    >>> is_tensorflow_noise("I0000 00:00:1796402.5  20074 port.cc:153] oneDNN custom ops are on")
    True
    >>> is_tensorflow_noise("E0000 00:00:1796402.5  20074 gpu.cc:9] CUDA out of memory")
    False
    >>> is_tensorflow_noise("/x.py:1: UserWarning: few slices")
    False
    """
    _check_level(min_log_level)
    line = line.rstrip("\r\n")
    if line == ABSL_PREAMBLE:
        return True
    match = _CPP_LOG_LINE.match(line)
    if match is None:
        return False
    severity = _SEVERITY[match["severity"]]
    if severity == _SEVERITY["F"]:
        return False
    return severity < min_log_level or (
        severity == _SEVERITY["E"]
        and any(p.search(match["message"]) for p in HARMLESS_ERRORS))


class StderrFilter:
    """A running filter on a file descriptor (build it with :func:`filter_stderr`).

    The descriptor is replaced by a pipe; a daemon thread reads it line by line and writes the
    lines that `keep` accepts to the descriptor's previous target. Should the filtering fail, the
    descriptor is restored to its previous target, so that nothing written to it ever blocks.
    """

    def __init__(self, fd: int, keep: Callable[[str], bool]):
        self.fd, self._keep = fd, keep
        self._target = os.dup(fd)
        self._read_end, write_end = os.pipe()
        os.dup2(write_end, fd)
        os.close(write_end)
        self._thread = threading.Thread(target=self._pump, name="fossilct-stderr-filter",
                                        daemon=True)
        self._thread.start()

    def _forward(self, lines: list[bytes]) -> None:
        kept = b"".join(line for line in lines
                        if self._keep(line.decode("utf-8", errors="replace")))
        while kept:
            kept = kept[os.write(self._target, kept):]

    def _pump(self) -> None:
        pending = b""
        try:
            while True:
                ready, _, _ = select.select([self._read_end], [], [],
                                            FLUSH_SECONDS if pending else None)
                if not ready:  # a partial line waited long enough: pass it on as it is
                    self._forward([pending])
                    pending = b""
                    continue
                chunk = os.read(self._read_end, 1 << 16)
                if not chunk:
                    break
                *lines, pending = (pending + chunk).split(b"\n")
                self._forward([line + b"\n" for line in lines])
            self._forward([pending])
        except Exception:
            os.dup2(self._target, self.fd)  # never let writers block on a pipe nobody reads
            raise
        finally:
            os.close(self._read_end)

    def stop(self) -> None:
        """Restore the descriptor and wait until everything written before was passed on.

        Child processes that inherited the pipe keep it open: stop only after they exited.
        """
        os.dup2(self._target, self.fd)  # closes the pipe's last write end: the thread sees EOF
        self._thread.join()
        os.close(self._target)


def filter_stderr(*, min_log_level: int = 2, fd: int = 2) -> StderrFilter:
    """Drop TensorFlow C++ log noise (:func:`is_tensorflow_noise`) written to a descriptor.

    Parameters
    ----------
    min_log_level : {0, 1, 2, 3}, keyword-only
        As ``TF_CPP_MIN_LOG_LEVEL``.
    fd : int, keyword-only
        The descriptor to filter (2: standard error, where C++ code logs).

    Returns
    -------
    StderrFilter
        Running until :meth:`StderrFilter.stop` or the end of the process.

    Raises
    ------
    ValueError
        If `min_log_level` is not 0..3.
    """
    _check_level(min_log_level)
    return StderrFilter(fd, lambda line: not is_tensorflow_noise(line,
                                                                 min_log_level=min_log_level))


def install_from_environment() -> StderrFilter:
    """Filter descriptor 2 at the level of ``TF_CPP_MIN_LOG_LEVEL``: the kernel start-up hook,
    also used by the ``fossilct`` command.

    An unset or invalid variable counts as 0 (TensorFlow's default: only the preamble and the
    harmless errors are dropped).
    """
    text = os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0").strip()
    level = int(text) if text in {"0", "1", "2", "3"} else 0
    return filter_stderr(min_log_level=level)
