"""Fakes for testing code that calls a model, shipped with the package so that users' tests can use them.

    fake_openai.py   FakeOpenAI: an OpenAI-compatible HTTP server on loopback (chat completions,
                     embeddings, models), scripted per task, with the failures of real endpoints
    fake_chat.py     FakeChat: the same scripts answered in process, as a `ChatModel` the engine takes
                     directly (no HTTP: for tests of what the stages do with an answer)
    script.py        the scripts both answer from, and the request as it was recorded
    faults.py        the failures the fakes simulate and the replies they are made of
    schema.py        a minimal instance of a JSON schema (what an unscripted request is answered with)
    http_server.py   the HTTP plumbing of FakeOpenAI
    processes.py     real `memskill serve` / `memskill worker` processes for end-to-end tests and benches

`python -m memskill.testing [--port N] [--api-key K]` serves FakeOpenAI in the foreground until Ctrl-C.
"""

from memskill.testing.fake_chat import FakeChat
from memskill.testing.fake_openai import FakeOpenAI
from memskill.testing.faults import FAULTS, Fault
from memskill.testing.schema import schema_instance
from memskill.testing.script import RecordedRequest, Reply, ScriptEntry

__all__ = [
    "FAULTS",
    "FakeChat",
    "FakeOpenAI",
    "Fault",
    "RecordedRequest",
    "Reply",
    "ScriptEntry",
    "schema_instance",
]
