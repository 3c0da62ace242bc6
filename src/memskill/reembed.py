"""Re-embedding: rebuild stored vectors after the embedder changed.

Every stored vector carries the id of the embedder that made it. After a switch (another model, another
endpoint, another dimension) the old vectors live in another space: vector search skips them (it
compares only vectors of the query's embedder and length) while keyword search keeps working, until
`reembed` has rebuilt them, in this order:

1. cluster centroids: the mean of the embeddings of the cluster's task records (`record_text`);
2. skills: `vectors.skill_vectors` of the rebuilt centroid and the skill's title and description;
3. memory items: from the text the pipeline embedded them by (`vectors.item_text`).

A cluster keeps no embedder id: it counts as stale when its centroid has another length, or while its
user has a stale item or skill. Clusters go first, so a run that stops half-way redoes them next time
rather than missing them. Each batch is embedded first and then written in its own short transaction;
the write lock is never held while embedding.

`Memory` re-embeds in a background thread (`Reembedding`) when it opens a store with stale vectors;
`memskill reembed` does it in the foreground.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from memskill.models import Scope, Skill
from memskill.providers.embedders import Embedder
from memskill.skillfile import SkillFormatError, parse
from memskill.stores.base import Store
from memskill.vectors import centroid, item_text, record_from_dict, record_text, skill_vectors

log = logging.getLogger("memskill.reembed")

TABLES = ("clusters", "skills", "items")
"""The tables holding vectors, in the order they are rebuilt."""

Progress = Callable[[int, int], None]
"""Called with (rows done, rows in all) after each batch."""


def stale_counts(store: Store, embedder_id: str, dim: int | None = None) -> dict[str, int]:
    """Per table, the vectors another embedder made (with `dim`, also those of another length)."""
    return {table: store.count_stale_vectors(table, embedder_id, dim) for table in TABLES}


def _skill_title(skill: Skill) -> str:
    """The title the skill's vector was made with: its SKILL.md heading (else its name)."""
    try:
        return parse(skill.current.markdown).title or skill.current.name
    except SkillFormatError:
        return skill.current.name


def _cluster_vectors(store: Store, embedder: Embedder, ids: Sequence[str]) -> dict[str, np.ndarray]:
    records = {cluster_id: store.task_records(cluster_id) for cluster_id in ids}
    texts = [record_text(record_from_dict(row.record)) for cluster_id in ids for row in records[cluster_id]]
    vectors = embedder.embed(texts) if texts else np.zeros((0, embedder.dim), dtype=np.float32)
    out: dict[str, np.ndarray] = {}
    start = 0
    for cluster_id in ids:
        count = len(records[cluster_id])
        if count:
            out[cluster_id] = centroid(vectors[start : start + count])
        else:  # no record to rebuild it from: a centroid that nothing joins
            out[cluster_id] = np.zeros(embedder.dim, dtype=np.float32)
        start += count
    return out


def _skill_vectors(store: Store, embedder: Embedder, ids: Sequence[str]) -> dict[str, np.ndarray]:
    skills = [skill for skill in (store.get_skill(skill_id) for skill_id in ids) if skill is not None]
    if not skills:
        return {}
    centroids: dict[str, np.ndarray] = {}
    for user_id in {skill.user_id for skill in skills}:
        centroids.update((cluster.id, cluster.centroid) for cluster in store.list_clusters(Scope(user_id)))
    dim = embedder.dim
    empty = np.zeros(dim, dtype=np.float32)
    rows = [centroids.get(skill.cluster_id, empty) for skill in skills]
    vectors = skill_vectors(
        [row if row.shape == (dim,) else empty for row in rows],
        [(_skill_title(skill), skill.current.description) for skill in skills],
        embedder,
    )
    return {skill.id: vector for skill, vector in zip(skills, vectors)}


def _item_vectors(store: Store, embedder: Embedder, ids: Sequence[str]) -> dict[str, np.ndarray]:
    items = store.get_items(ids)
    if not items:
        return {}
    return dict(zip([item.id for item in items], embedder.embed([item_text(item) for item in items])))


_BUILDERS = {"clusters": _cluster_vectors, "skills": _skill_vectors, "items": _item_vectors}


def reembed(
    store: Store,
    embedder: Embedder,
    batch: int = 128,
    progress: Progress | None = None,
    stop: threading.Event | None = None,
) -> dict[str, int]:
    """Rebuild every vector another embedder made; returns how many rows of each table were redone.

    `progress(done, total)` is called after each batch; setting `stop` ends the run after the current
    batch (what is done stays done). An embedder failure propagates (e.g. `UpstreamError`).
    """
    dim = embedder.dim
    total = sum(stale_counts(store, embedder.id, dim).values())
    done = dict.fromkeys(TABLES, 0)
    if progress is not None:
        progress(0, total)
    for table in TABLES:
        after = ""
        while stop is None or not stop.is_set():
            ids = store.stale_vectors(table, embedder.id, dim, max(1, batch), after)
            if not ids:
                break
            after = ids[-1]
            vectors = _BUILDERS[table](store, embedder, ids)
            with store.transaction():
                for row_id, vector in vectors.items():
                    store.set_vector(table, row_id, vector, embedder.id)
            done[table] += len(ids)
            finished = sum(done.values())
            total = max(total, finished)
            if progress is not None:
                progress(finished, total)
    return done


@dataclass(frozen=True)
class ReembedState:
    """Where a background re-embedding stands."""

    done: int
    """Rows re-embedded so far."""
    total: int
    """Rows that were stale when it started."""
    error: str | None = None
    """Why it stopped early (the embedder failed); None while it runs."""


class Reembedding:
    """Re-embeds a store's stale vectors in a daemon thread, then calls `then` (e.g. starts workers).

    `state` is None until stale vectors are found and again once all are rebuilt; it holds the progress
    meanwhile, and the error if the run failed. `then` runs whatever happened, unless `stop` was called.
    Progress is logged at every tenth of the way.
    """

    def __init__(
        self, store: Store, embedder: Embedder, then: Callable[[], None] | None = None, batch: int = 128
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.then = then
        self.batch = batch
        self.state: ReembedState | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="memskill-reembed", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the run has ended; False if `timeout` passed first."""
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        return not self._thread.is_alive()

    def stop(self, timeout: float | None = 60.0) -> None:
        """End the run after its current batch (and do not call `then`)."""
        self._stop.set()
        self.wait(timeout)

    def _report(self, done: int, total: int) -> None:
        if not total:
            return
        previous = self.state.done if self.state else None
        self.state = ReembedState(done, total)
        if previous is None or done == total or done * 10 // total > previous * 10 // total:
            log.info("re-embedded %d/%d vectors with %s", done, total, self.embedder.id)

    def _run(self) -> None:
        try:
            counts = reembed(self.store, self.embedder, self.batch, self._report, self._stop)
            if not self._stop.is_set():
                self.state = None
                if any(counts.values()):
                    log.info("re-embedding done: %s", counts)
        except Exception as error:  # recorded in `state` and the log; the workers start regardless
            if self._stop.is_set():
                return  # closing: the store may be gone, and what was done stays done
            reason = f"{type(error).__name__}: {error}"
            if self.state is None and self._nothing_stale():
                # The embedder could not say its vector length, but no vector of another embedder exists.
                log.warning(
                    "could not check the stored vectors' length with %s: %s", self.embedder.id, reason
                )
            else:
                state = self.state or ReembedState(0, 0)
                self.state = ReembedState(state.done, state.total, reason)
                log.error("re-embedding with %s failed: %s", self.embedder.id, reason)
        finally:
            if self.then is not None and not self._stop.is_set():
                self.then()

    def _nothing_stale(self) -> bool:
        """Whether no stored vector names another embedder (lengths unchecked)."""
        try:
            return not any(stale_counts(self.store, self.embedder.id).values())
        except Exception:  # the store failed too: assume there is work left
            return False
