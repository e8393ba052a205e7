"""Tests of fossilct.dashboard.background: a job's result, its error, and cancelling."""

import threading

from fossilct.dashboard.background import Job


def test_job_hands_over_the_result_or_the_error():
    seen = []
    Job(lambda job: 1, done=seen.append, failed=seen.append).start().join(5)
    failing = Job(lambda job: 1 / 0, done=seen.append, failed=seen.append).start()
    failing.join(5)
    assert seen[0] == 1 and isinstance(seen[1], ZeroDivisionError)


def test_an_error_while_showing_the_result_is_reported():
    seen = []
    Job(lambda job: 1, done=lambda r: 1 / 0, failed=seen.append).start().join(5)
    assert isinstance(seen[0], ZeroDivisionError)


def test_cancel_stops_the_work_at_its_next_check():
    started, steps, seen = threading.Event(), [], []

    def work(job):
        started.set()
        while not job.cancelled() and len(steps) < 10 ** 7:
            steps.append(1)
        return len(steps)

    job = Job(work, done=seen.append, failed=seen.append).start()
    started.wait(5)
    job.cancel()
    job.join(5)
    assert not job.running() and seen and seen[0] < 10 ** 7
