"""Extract: one task chunk → a task record, facts, preferences and tool lessons, without an LLM.

The approach is rule-based and deterministic:

- **Text units.** User messages are cleaned (code blocks, long quotations and material pasted
  after an instruction such as "Translate this:" are dropped), split into sentences
  (`split_sentences`) and, for Chinese, into clauses at commas; a clause opening with 比起 or 先
  joins the one after it.
- **Preferences** come only from user messages. Each clause meets blockers first (questions,
  hypotheticals, other people as the subject), then an ordered table of rules: comparisons
  (比起A更喜欢B), dislikes (不喜欢, I can't stand), likes (喜欢, I prefer), prohibitions (别, don't,
  skip the), standing instructions (以后, from now on), wishes (尽量, make sure to), procedures
  (出发前先…, 先…再…), requirements on a known subject (行程要紧凑, 节奏慢一点) and
  self-descriptions (我是那种…的人, I'm a night owl: implicit). A complaint ("太长了", "too long")
  makes the instruction after it a correction, or is one by itself when it is the whole message.
  The same format asked for twice gives an implicit preference. The topic comes from a keyword
  table, else from the clause's main noun.
- **Facts**: first-person statements about the user (我住在, I work at, my X is) become
  `UserMemory`; plans and constraints of the task (我打算…, we are 3 people, the budget is …)
  become `LongTermMemory`, rewritten in the third person ("用户…", "The user …").
- **Tool lessons**: calls are joined to results by `tool_call_id`; a result that reads like an
  error marks the call failed; a failure followed by a success of the same tool with other
  arguments gives "what failed and what fixed it".
- **Task record**: title and goal from the first substantive request; steps from the user's
  requests and instructions in order; steps, preferences and corrections pass through
  `memskill.generalise`, so a skill built from them fits the next similar task.
"""

from memskill.extract.facts import extract_facts
from memskill.extract.preferences import extract_preferences
from memskill.extract.record import build_task_record, extract
from memskill.extract.text import detect_language, split_sentences
from memskill.extract.tools import extract_tool_lessons

__all__ = [
    "build_task_record",
    "detect_language",
    "extract",
    "extract_facts",
    "extract_preferences",
    "extract_tool_lessons",
    "split_sentences",
]
