"""Durable background processing: worker threads that lease jobs from the store and run the pipeline.

A job is stored with its messages in one transaction (`Store.ingest`). A worker claims it with a lease;
the pipeline's writes and the job's completion commit together. While the process lives, it renews the
leases of the jobs it runs (`LeaseKeeper`), so a slow job is never run by two workers at once. If the
process dies, the lease expires and any worker (after a restart) takes the job again; because the job's
writes were all-or-nothing, the retry does the job once in effect. A job that keeps failing is retried
with backoff, then marked failed with its error, never dropped silently.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from memskill.errors import LeaseLost
from memskill.models import Job
from memskill.pipeline import Pipeline
from memskill.stores.base import Store

log = logging.getLogger("memskill.jobs")

LEASE_MS = 120_000
"""How long a job stays with its worker after the last renewal before another may take it over, unless
`Settings.lease_ms` (`MEMSKILL_LEASE_MS`) says otherwise."""
MAX_ATTEMPTS = 3
RETRY_BACKOFF_MS = (1_000, 5_000, 30_000)


class LeaseKeeper:
    """Renews, from one thread, the leases of the jobs this process is running, every third of the lease.

    A job is thus not taken over by another worker while the process running it is alive, however slow
    it is (a slow model, the first job of a process loading its dictionaries); when the process dies, the
    renewals stop and the lease runs out.
    """

    def __init__(self, store: Store, lease_ms: int = LEASE_MS) -> None:
        self.store = store
        self.lease_ms = lease_ms
        self._running: dict[str, str] = {}
        """job id → the worker running it."""
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @contextmanager
    def holding(self, job_id: str, worker: str) -> Iterator[None]:
        """Keep `worker`'s lease on the job renewed while the block runs."""
        with self._lock:
            self._running[job_id] = worker
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(target=self._renew, name="memskill-leases", daemon=True)
                self._thread.start()
        try:
            yield
        finally:
            with self._lock:
                self._running.pop(job_id, None)

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _renew(self) -> None:
        while not self._stop.wait(self.lease_ms / 3000):
            with self._lock:
                running = list(self._running.items())
            for job_id, worker in running:
                try:
                    renewed = self.store.renew_lease(job_id, worker, self.lease_ms)
                except Exception:  # a locked or broken database must not end the renewals
                    log.exception("renewing the lease of job %s failed; retrying", job_id)
                    continue
                with self._lock:
                    lapsed = not renewed and job_id in self._running
                if lapsed:
                    log.warning(
                        "job %s: the lease of %s has lapsed; another worker may run it too", job_id, worker
                    )


def run_job(
    store: Store,
    pipeline: Pipeline,
    job: Job,
    worker: str = "inline",
    lease_ms: int = LEASE_MS,
    leases: LeaseKeeper | None = None,
) -> None:
    """Run one claimed job; on error release it for a retry or, after the last attempt, fail it.

    `leases` keeps the worker's lease renewed while the job runs; it is renewed before each model call
    too, so a job is not taken over by another worker while this one is alive.
    """

    def heartbeat() -> None:
        if not store.renew_lease(job.id, worker, lease_ms):
            log.warning("job %s: the lease of %s has lapsed; another worker may run it too", job.id, worker)

    try:
        if leases is None:
            pipeline.run(job, heartbeat, worker)
        else:
            with leases.holding(job.id, worker):
                pipeline.run(job, heartbeat, worker)
    except LeaseLost as lost:
        log.warning("%s", lost)  # the worker now holding the lease finishes the job
    except Exception as error:  # the job must end in a recorded state whatever went wrong
        message = f"{type(error).__name__}: {error}"
        log.error("job %s failed (attempt %d): %s\n%s", job.id, job.attempts, message, traceback.format_exc())
        if job.attempts >= MAX_ATTEMPTS:
            store.finish_job(job.id, "failed", f"{message} (after {job.attempts} attempts)", worker=worker)
        else:
            backoff = RETRY_BACKOFF_MS[min(job.attempts, len(RETRY_BACKOFF_MS)) - 1]
            store.release_job(job.id, message, backoff, worker)


class Workers:
    """A pool of daemon threads that process jobs until stopped."""

    def __init__(
        self,
        store: Store,
        pipeline: Pipeline,
        count: int = 1,
        poll_seconds: float = 0.5,
        lease_ms: int = LEASE_MS,
    ) -> None:
        self.store = store
        self.pipeline = pipeline
        self.count = count
        self.poll_seconds = poll_seconds
        self.lease_ms = lease_ms
        self.leases = LeaseKeeper(store, lease_ms)
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
        self.leases.stop(timeout)

    def _loop(self) -> None:
        worker = threading.current_thread().name
        while not self._stop.is_set():
            try:
                job = self.store.claim_job(worker, self.lease_ms)
            except Exception:  # a locked or broken database must not kill the worker
                log.exception("claiming a job failed; retrying")
                job = None
            if job is None:
                self._wake.wait(self.poll_seconds)
                self._wake.clear()
                continue
            run_job(self.store, self.pipeline, job, worker, self.lease_ms, self.leases)

    def drain(self, timeout: float = 60.0) -> bool:
        """Wait until no job is running; False if `timeout` passed first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.store.count_jobs("running") == 0:
                return True
            self._wake.set()
            time.sleep(0.02)
        return False
