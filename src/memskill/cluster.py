"""Which of a user's task clusters a new task record joins (pipeline stage 4, algorithmic).

- **Incremental** (`assign`, `update_centroid`): a new task record joins the existing cluster whose
  centroid is most similar when the cosine reaches `ASSIGN_THRESHOLD`, else it opens a new cluster;
  centroids are running means, re-normalised.
- **A user's clusters** (`Chooser`): which cluster a new task record joins, with the conversation, the
  recognised kind of task, the tools called and the form of the accepted answer as evidence beside the
  similarity.

Batch clustering of many texts (k-means, choosing k) is `kmeans`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from memskill.consolidate import stable_id
from memskill.extract.scope_words import AS_BEFORE
from memskill.extract.shape import table_columns, unnamed_table
from memskill.generalise import names_in
from memskill.kinds import TaskKind
from memskill.models import Scope, TaskRecord, now_ms
from memskill.naming import kind_of_name, recognise, record_kind
from memskill.providers.embedders import Embedder
from memskill.segment import has_cue
from memskill.stores.base import ClusterRow, Store, TaskRecordRow

ASSIGN_THRESHOLD: float = 0.425
"""Cosine to a cluster centroid from which a new task joins that cluster."""


@dataclass(frozen=True)
class Assignment:
    """Where a new vector goes among existing clusters."""

    index: int | None
    """Index of the chosen existing centroid; None means: open a new cluster."""
    similarity: float
    """Cosine to the most similar centroid (0.0 when there are none)."""


# -- incremental assignment ------------------------------------------------------------------------


def assign(
    vector: np.ndarray,
    centroids: np.ndarray,
    threshold: float = ASSIGN_THRESHOLD,
    offsets: np.ndarray | None = None,
) -> Assignment:
    """The most similar centroid if its cosine (plus its `offsets` entry: other evidence) reaches
    `threshold`, else a new cluster."""
    matrix = np.asarray(centroids, dtype=np.float32)
    if matrix.size == 0:
        return Assignment(None, 0.0)
    similarity = matrix.reshape(len(matrix), -1) @ np.asarray(vector, dtype=np.float32).ravel()
    if offsets is not None:
        similarity = similarity + np.asarray(offsets, dtype=np.float32)
    best = int(np.argmax(similarity))
    value = float(similarity[best])
    return Assignment(best if value >= threshold else None, value)


def update_centroid(centroid: np.ndarray, count: int, vector: np.ndarray) -> np.ndarray:
    """The centroid after adding `vector` to a cluster of `count` members, re-normalised."""
    total = np.asarray(centroid, dtype=np.float32) * max(count, 0) + np.asarray(vector, dtype=np.float32)
    norm = float(np.linalg.norm(total))
    if norm == 0.0:
        return np.asarray(vector, dtype=np.float32).copy()
    return (total / norm).astype(np.float32)


# ---------------------------------------------------------------- a user's clusters: which one a task joins

CONTINUE_COSINE = 0.38
"""A task of no recognised kind joins the conversation's previous task's cluster at this similarity
(any other cluster needs `ASSIGN_THRESHOLD`). Of 0.30, 0.38 and 0.40 tried, 0.30 let dev-lin's
translation question join the trip; 0.38 and 0.40 change no dev-set assignment and keep the brief's
weather request (0.41 from its trip) in the trip's skill."""
KIND_JOIN_COSINE = 0.15
"""Tasks recognised as the same kind (same keyword family) join a cluster at this lower similarity."""
RECUR_COSINE = 0.3
"""A task the user says is done as before ("same as last time, usual shifts", "老规矩") joins the closest of
the user's clusters at this lower similarity: its own details (this week's names and dates) keep it under
`ASSIGN_THRESHOLD` (a food bank's rota of May, .38 to April's). The dev set's tasks reach at most .29 to a
cluster of another of the user's tasks."""
SAME_FORM_COSINE = 0.6
"""A task this close to a cluster joins it even when their answers' tables share no column: a weekly menu
and its stock order are one task of two tables (.79); a contract review and an evidence list of one
lawsuit, two (.50 and .58)."""
SAME_COLUMNS = 0.5
"""Two tables are one form when they share at least this share of their columns (Jaccard)."""
TOOL_WEIGHT = 0.1
"""Added to a cluster's similarity, times the Jaccard overlap of the tools its tasks and the new task
called: the same tools are evidence of the same kind of task. dev-maya's order-value query (run_sql,
cosine .42 to the SQL cluster) needs it; 0.1 changes no other dev-set assignment (tune and held-out)."""


class Chooser:
    """Which of a user's task clusters a new task record joins, or a new one (nothing is saved here).

    In this order: (a) the cluster of the conversation's previous task, when the record asks for no new
    task (no request) and names no other kind, when both are the same recognised kind, or when the
    record names no known kind and is close to that task (`CONTINUE_COSINE`) or names a place or person
    it named; (b) the closest cluster at `ASSIGN_THRESHOLD`, never one of another recognised kind;
    (c) a cluster of the same recognised kind at `KIND_JOIN_COSINE`; else a new cluster.
    """

    def __init__(self, store: Store, embedder: Embedder) -> None:
        self.store = store
        self.embedder = embedder

    def choose(
        self,
        scope: Scope,
        conversation_id: str,
        record: TaskRecord,
        text: str,
        existing: TaskRecordRow | None,
    ) -> ClusterRow:
        """The cluster `record` (embedded by `text`) joins, grown by it, or a new one; a record stored
        before stays in its cluster."""
        clusters = self.store.list_clusters(scope)
        if existing is not None:
            for cluster in clusters:
                if cluster.id == existing.cluster_id:
                    return cluster
        vector = self.embedder.embed([text])[0]
        moment = now_ms()
        continued = self._continued(scope, conversation_id, record, clusters, vector)
        if continued is not None:
            return continued
        if clusters:
            kind = record_kind(record.title, record.goal, record.ask)
            names = {s.cluster_id: s.current.name for s in self.store.list_skills(scope)}
            kinds = {c.id: kind_of_name(names.get(c.id, "")) or recognise([c.title]) for c in clusters}
            # A cluster of another recognised kind (an email cluster for a weekly report) is never joined,
            # however similar the texts: its skill would mix two procedures.
            rows = _Rows(self.store)  # each cluster's records, read once for both checks
            tools = self._tool_overlap(record, clusters, rows)
            other, same = self._forms(record, clusters, vector, tools, rows)
            centroids = np.stack(
                [
                    c.centroid
                    if (kind is None or kinds[c.id] in (None, kind)) and c.id not in other
                    else np.zeros_like(c.centroid)
                    for c in clusters
                ]
            )
            choice = assign(vector, centroids, offsets=tools * TOOL_WEIGHT)
            index = choice.index if choice.index is not None else _same_kind(kind, clusters, names, vector)
            if index is None:
                # Said to be done as before ("same as last time"), or answered in the same table as
                # one of the user's tasks (a risk assessment's hazard / controls / residual risk, .40)
                recurs = AS_BEFORE.search(record.goal)
                mask = np.array([[bool(recurs) or c.id in same] for c in clusters], dtype=np.float32)
                index = _closest(centroids * mask, vector, RECUR_COSINE)
            if index is not None:
                chosen = clusters[index]
                return replace(
                    chosen,
                    centroid=update_centroid(chosen.centroid, chosen.size, vector),
                    size=chosen.size + 1,
                    update_time=moment,
                )
        return ClusterRow(
            id=stable_id("clu_", scope.user_id, text, str(moment)),
            user_id=scope.user_id,
            agent_id=scope.agent_id,
            app_id=scope.app_id,
            title=record.title,
            centroid=vector,
            size=1,
            skill_id=None,
            create_time=moment,
            update_time=moment,
        )

    def _forms(
        self,
        record: TaskRecord,
        clusters: Sequence[ClusterRow],
        vector: np.ndarray,
        tools: np.ndarray,
        rows: _Rows,
    ) -> tuple[set[str], set[str]]:
        """The clusters (near enough to be joined at all) of another form and of the same form as the
        record's accepted answer. Of another: their tasks' answers were tables none of whose columns the
        record's table has (a paralegal's contract review, 条款 / 问题 / 风险等级 / 修改建议, and her
        evidence list, 序号 / 证据名称 / 证明目的 / 页码, are .50 alike in words, about one client and one
        lawsuit), or tables where it answered without one, or the reverse (a guesthouse's check-in guide
        in prose and its holiday price table, .43); not when close or calling the same tools. Of the
        same: one of their tables shares at least half of the two tables' columns. `tools` is
        `_tool_overlap` of the same clusters."""
        other: set[str] = set()
        same: set[str] = set()
        if not record.shape or unnamed_table(record.shape):
            # No answer (thanks, a correction not yet answered), or a table of unnamed columns (a plate
            # map's 1–12): its form is unknown.
            return other, same
        columns = table_columns(record.shape)
        for index, cluster in enumerate(clusters):
            similarity = float(cluster.centroid @ vector)
            if similarity < KIND_JOIN_COSINE:
                continue
            shapes = [row.record.get("shape", ()) for row in rows(cluster.id)]
            theirs = [table_columns(shape) for shape in shapes if shape]
            if columns and any(len(columns & mine) >= SAME_COLUMNS * len(columns | mine) for mine in theirs):
                same.add(cluster.id)
            elif (
                theirs
                and (all(not (columns & mine) for mine in theirs) if columns else all(theirs))
                and similarity < SAME_FORM_COSINE  # close texts or the same tools join, whatever the form
                and not tools[index]
            ):
                other.add(cluster.id)
        return other, same

    def _tool_overlap(self, record: TaskRecord, clusters: Sequence[ClusterRow], rows: _Rows) -> np.ndarray:
        """Per cluster, the Jaccard overlap of the tools its tasks called with those `record` called."""
        overlap = np.zeros(len(clusters), dtype=np.float32)
        called = set(record.tools)
        if not called:
            return overlap
        for index, cluster in enumerate(clusters):
            theirs = {str(t) for row in rows(cluster.id) for t in row.record.get("tools", [])}
            if theirs:
                overlap[index] = len(called & theirs) / len(called | theirs)
        return overlap

    def _continued(
        self,
        scope: Scope,
        conversation_id: str,
        record: TaskRecord,
        clusters: Sequence[ClusterRow],
        vector: np.ndarray,
    ) -> ClusterRow | None:
        """The cluster of this conversation's previous task when the record goes on with it.

        A conversation that returns to its task after a side question ("回到行程，住宿呢？") produces a new
        chunk whose text alone may not resemble the task; the conversation says it does.
        """
        kind = record_kind(record.title, record.goal, record.ask)
        previous = self.store.latest_task_record(scope.user_id, conversation_id)
        if previous is None:
            return None
        before = next((c for c in clusters if c.id == previous.cluster_id), None)
        if before is not None:
            rows = _Rows(self.store)
            tools = self._tool_overlap(record, [before], rows)
            if before.id in self._forms(record, [before], vector, tools, rows)[0]:
                return None
        previous_kind = record_kind(
            str(previous.record.get("title", "")),
            str(previous.record.get("goal", "")),
            str(previous.record.get("ask", "")),
        )
        if not record.requests and kind in (None, previous_kind):
            # It asks for nothing new (a correction, a step, a limit): the same task goes on, unless
            # it names another kind of task ("回到行程，住宿你建议住哪？" after a post: back to the trip)
            # or is another of the user's tasks again ("再写个家长群通知" after a flat search: .83 to the
            # notices, .39 to the search; the continuations of the dev set are at most .29 elsewhere).
            return None if _closer_elsewhere(before, clusters, vector) else before
        if kind is None:
            # A request of no known kind right after a task goes on with it when it is close to it, or
            # names a place or person that task named (its requests or the answer): the conversation is
            # evidence too ("帮我在规划的时候，提前确认一下天气" after a trip plan; "到沙溪的车是不是都很早？"
            # after a plan that ends in 沙溪). Not when the user says a new one begins ("Next thing: the
            # postmortem for that SMS outage", .45 to the refund it follows).
            # Nor when another of the user's tasks is closer ("再出份练习" after a health-check summary:
            # .41 to it, .59 to the exercise sheets).
            another = has_cue(record.goal) or _ALSO.match(record.goal.strip())
            if another or _closer_elsewhere(before, clusters, vector):
                return None
            if before is not None and float(before.centroid @ vector) >= CONTINUE_COSINE:
                return before
            said = " ".join(
                [*map(str, previous.record.get("requests", [])), str(previous.record.get("example", ""))]
            )
            if before is not None and names_in(" ".join(record.requests)) & names_in(said):
                return before
            return None
        return before if previous_kind == kind else None


_ALSO = re.compile(r"还有(?![，,、。：:\s]|就是|点|些|一点)")
"""A request that opens "还有" + what it is about ("还有下周的菜单和备货单，帮我排一下") brings another task;
"还有，…" / "还有就是…" goes on with the same one (segmentation, which cuts on cues, does not use it:
"还有" opens many a turn of one task)."""


class _Rows:
    """A cluster's task records, read from the store once per choice however many checks ask."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.read: dict[str, list[TaskRecordRow]] = {}

    def __call__(self, cluster_id: str) -> list[TaskRecordRow]:
        if cluster_id not in self.read:
            self.read[cluster_id] = self.store.task_records(cluster_id)
        return self.read[cluster_id]


def _closer_elsewhere(before: ClusterRow | None, clusters: Sequence[ClusterRow], vector: np.ndarray) -> bool:
    """Whether another cluster is closer to the task than the conversation's previous one and close
    enough to join (`ASSIGN_THRESHOLD`)."""
    if before is None:
        return False
    elsewhere = [float(c.centroid @ vector) for c in clusters if c.id != before.id]
    return max(elsewhere, default=0.0) >= max(ASSIGN_THRESHOLD, float(before.centroid @ vector))


def _closest(centroids: np.ndarray, vector: np.ndarray, floor: float) -> int | None:
    """The cluster closest to the task, when it reaches `floor`."""
    similarities = centroids @ vector
    best = int(np.argmax(similarities))
    return best if float(similarities[best]) >= floor else None


def _same_kind(
    kind: TaskKind | None, clusters: Sequence[ClusterRow], names: dict[str, str], vector: np.ndarray
) -> int | None:
    """A cluster of the same recognised kind of task (e.g. both trip planning), if fairly similar."""
    if kind is None:
        return None
    best: tuple[float, int] | None = None
    for index, cluster in enumerate(clusters):
        similarity = float(cluster.centroid @ vector)
        name = names.get(cluster.id, "")
        same = name == kind.name or name.startswith(kind.name + "-") or recognise([cluster.title]) == kind
        if same and similarity >= KIND_JOIN_COSINE and (best is None or similarity > best[0]):
            best = (similarity, index)
    return None if best is None else best[1]
