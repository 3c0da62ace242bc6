"""The PostgreSQL + pgvector store, for several processes over one database.

store.py       the data path: connections, transactions, retries, memory items
jobs.py        messages and jobs (a mixin of the store)
skills.py      task clusters, task records and skills (a mixin of the store)
search.py      keyword (tsvector) and vector (HNSW, or exact under a threshold) search
vectors.py     in-process vector indexes of users below the HNSW threshold
text.py        jieba tokens as tsvector / tsquery
pool.py        the connection pool and the driver
admin.py       API keys and the console's overviews
dump.py        whole-store reads and writes for `memskill.archive`
migrations.py  the schema, as named migrations applied in order under an advisory lock
"""

from memskill.stores.postgres.store import PostgresStore

__all__ = ["PostgresStore"]
