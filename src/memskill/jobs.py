"""Durable background processing: worker threads that lease jobs from the store and run the pipeline.

A job is stored with its messages in one transaction (`Store.ingest`). A worker claims it with a lease;
the pipeline's writes and the job's completion commit together. If the process dies, the lease expires
and any worker (after a restart) takes the job again; because the job's writes were all-or-nothing,
the retry does the job once in effect. A job that keeps failing is retried with backoff, then marked
failed with its error, never dropped silently.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
import uuid

from memskill.models import Job
from memskill.pipeline import Pipeline
from memskill.stores.base import Store

log = logging.getLogger("memskill.jobs")

LEASE_MS = 120_000
"""How long a worker owns a job before another may take it over."""
MAX_ATTEMPTS = 3
RETRY_BACKOFF_MS = (1_000, 5_000, 30_000)


def run_job(store: Store, pipeline: Pipeline, job: Job, worker: str = "inline") -> None:
    """Run one claimed job; on error release it for a retry or, after the last attempt, fail it.

    Before each model call the worker's lease is renewed, so a job waiting on a slow model is not taken
    over by another worker while this one is alive.
    """

    def heartbeat() -> None:
        if not store.renew_lease(job.id, worker, LEASE_MS):
            log.warning("job %s: the lease of %s has lapsed; another worker may run it too", job.id, worker)

    try:
        pipeline.run(job, heartbeat)
    except Exception as error:  # the job must end in a recorded state whatever went wrong
        message = f"{type(error).__name__}: {error}"
        log.error("job %s failed (attempt %d): %s\n%s", job.id, job.attempts, message, traceback.format_exc())
        if job.attempts >= MAX_ATTEMPTS:
            store.finish_job(job.id, "failed", f"{message} (after {job.attempts} attempts)")
        else:
            backoff = RETRY_BACKOFF_MS[min(job.attempts, len(RETRY_BACKOFF_MS)) - 1]
            store.release_job(job.id, message, backoff)


class Workers:
    """A pool of daemon threads that process jobs until stopped."""

    def __init__(self, store: Store, pipeline: Pipeline, count: int = 1, poll_seconds: float = 0.5) -> None:
        self.store = store
        self.pipeline = pipeline
        self.count = count
        self.poll_seconds = poll_seconds
        self.name = f"worker-{uuid.uuid4().hex[:8]}"
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for index in range(self.count):
            thread = threading.Thread(target=self._loop, name=f"{self.name}-{index}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def wake(self) -> None:
        """Tell idle workers that a job was just stored."""
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()

    def _loop(self) -> None:
        worker = threading.current_thread().name
        while not self._stop.is_set():
            try:
                job = self.store.claim_job(worker, LEASE_MS)
            except Exception:  # a locked or broken database must not kill the worker
                log.exception("claiming a job failed; retrying")
                job = None
            if job is None:
                self._wake.wait(self.poll_seconds)
                self._wake.clear()
                continue
            run_job(self.store, self.pipeline, job, worker)

    def drain(self, timeout: float = 60.0) -> bool:
        """Wait until no job is running; False if `timeout` passed first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.store.count_jobs("running") == 0:
                return True
            self._wake.set()
            time.sleep(0.02)
        return False
