"""Work off the kernel's main thread, so the page stays responsive and Cancel can be clicked.

A :class:`Job` runs one function in a daemon thread and hands its result, or the exception it
raised, to a callback. Widget updates from that thread reach the browser (ipywidgets sends comm
messages from any thread). Cancelling sets an event that the function checks between units of
work (``job.cancelled``); the thread then ends by itself.
"""

from __future__ import annotations

import threading
from typing import Callable

__all__ = ["Job"]


class Job:
    """Run ``work(job)`` in a thread; then ``done(result)``, or ``failed(exception)`` when the
    work or `done` raised.

    Examples
    --------
    >>> results = []
    >>> job = Job(lambda job: 6 * 7, done=results.append, failed=results.append)
    >>> job.start().join(timeout=5)
    >>> results
    [42]
    """

    def __init__(self, work: Callable, *, done: Callable, failed: Callable):
        self._work, self._done, self._failed = work, done, failed
        self._cancel = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            result = self._work(self)
        except Exception as error:  # reported to the user by the panel, never lost
            self._failed(error)
            return
        try:
            self._done(result)
        except Exception as error:  # showing the result failed: report that too
            self._failed(error)

    def start(self) -> "Job":
        """Start the thread; returns the job."""
        self._thread.start()
        return self

    def cancel(self) -> None:
        """Ask the work to stop at its next check."""
        self._cancel.set()

    def cancelled(self) -> bool:
        """Whether :meth:`cancel` was called."""
        return self._cancel.is_set()

    def running(self) -> bool:
        """Whether the thread is still working."""
        return self._thread.is_alive()

    def join(self, timeout: float | None = None) -> None:
        """Wait for the thread (tests and benchmarks)."""
        self._thread.join(timeout)
