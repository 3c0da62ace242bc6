"""The SQLite store: one file, the embedded default.

store.py       the data path: connections, transactions, messages and jobs, memory items
jobs.py        messages and jobs (a mixin of the store)
skills.py      task clusters, task records and skills (a mixin of the store)
search.py      keyword (FTS5) and vector search
admin.py       API keys and the console's overviews
dump.py        whole-store reads and writes for `memskill.archive`
migrations.py  the schema, as named migrations applied in order
"""

from memskill.stores.sqlite.store import SQLiteStore

__all__ = ["SQLiteStore"]
