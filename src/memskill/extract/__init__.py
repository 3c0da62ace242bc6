"""Extract: one task chunk → a task record, facts, preferences and tool lessons, without an LLM.

User turns are read once by the turn tagger (`memskill.tagger`, through `turns.py`): each turn is cut
into clauses and each clause labelled — task request, step, limit, like, dislike, standing rule,
correction, acknowledgement, complaint, personal fact, question, side request, small talk — by a model
trained on the team's labelled corpus, not by phrase tables. From the labels:

- **Preferences** (`preferences.py`): likes, dislikes and standing rules, as statements about the user
  or as the instruction given; limits and corrections of the task stay with its record (and count as
  preferences when sent as feedback).
- **Facts** (`facts.py`): personal facts in the third person ("用户…", "The user …"); with a date in
  them, the task's plans (`LongTermMemory`), else `UserMemory`.
- **Tool lessons** (`tools.py`): calls are joined to results by `tool_call_id`; a result that reads like
  an error marks the call failed; a failure followed by a success of the same tool with other arguments
  gives "what failed and what fixed it".
- **Task record** (`record.py`): title and goal from the first turn that asks for something; steps
  from the requests and steps in order; the limits and corrections beside the preferences; all passed
  through `memskill.generalise`, so a skill built from them fits the next similar task.

`prose.py` holds what stays a rule because it is exact or structural: sentence ends, code fences and
pasted material, the fillers trimmed off a clause, the subject rewritten in the third person.
"""

from memskill.extract.facts import extract_facts
from memskill.extract.preferences import extract_preferences
from memskill.extract.prose import detect_language, split_sentences
from memskill.extract.record import answers_before, asks_for_a_task, build_task_record, extract, task_chunks
from memskill.extract.tools import extract_tool_lessons
from memskill.extract.turns import reacts_to_answer

__all__ = [
    "answers_before",
    "asks_for_a_task",
    "build_task_record",
    "detect_language",
    "extract",
    "extract_facts",
    "extract_preferences",
    "extract_tool_lessons",
    "reacts_to_answer",
    "split_sentences",
    "task_chunks",
]
