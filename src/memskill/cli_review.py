"""`memskill skills approve|reject|retire|edit|rollback|history|pending`: the operator's review of skills.

Each action goes through `Memory.review` (`memskill.lifecycle`) and is recorded in the skill's history
with who (`--by`, default the login name) and when.
"""

from __future__ import annotations

import argparse
import getpass
import time
from pathlib import Path
from typing import Any, TextIO

from memskill.errors import InvalidRequest
from memskill.models import Scope

REVIEW_ACTIONS = ("pending", "approve", "reject", "retire", "edit", "rollback", "history")


def add_review_arguments(skills: argparse.ArgumentParser) -> None:
    """The review actions' own options on `memskill skills`."""
    skills.add_argument("--by", help="review: who acts, kept in the skill's history (default: login name)")
    skills.add_argument("--reason", default="", help="reject/retire/rollback: why, kept in the history")
    skills.add_argument("--file", help="edit: the edited SKILL.md")


def _actor(args: argparse.Namespace) -> str:
    if args.by:
        return str(args.by)
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "operator"


def _when(ms: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(ms / 1000))


def review_action(memory: Any, args: argparse.Namespace, out: TextIO) -> int:
    """Run one review action (a missing argument is an `InvalidRequest`, printed as an error)."""

    if args.action == "pending":
        if not args.user:
            raise InvalidRequest("`skills pending` needs --user")
        skills = memory.store.list_skills(Scope(args.user), statuses=("activated", "archived"))
        waiting = [s for s in skills if s.state == "candidate" or (s.live_version and s.state == "active")]
        for skill in waiting:
            why = "candidate" if skill.state == "candidate" else f"v{skill.current.version} waits"
            out.write(f"{skill.id}  {skill.current.name}  v{skill.current.version}  {why}\n")
        if not waiting:
            out.write(f"nothing waits for review for user {args.user!r}\n")
        return 0
    if not args.skill_id:
        raise InvalidRequest(
            f"`skills {args.action}` needs a SKILL_ID (see `memskill skills pending --user U`)."
        )
    review, actor = memory.review, _actor(args)
    if args.action == "history":
        skill, versions, events = review.history(args.skill_id)
        out.write(f"{skill.id}  {skill.current.name}  {skill.state}  reliability {skill.reliability:.2f}\n")
        for version in versions:
            out.write(f"  v{version.version}  {_when(version.create_time)}  by {version.author}\n")
            for reason in version.held_out:
                out.write(f"      held out: {reason}\n")
        for event in events:
            detail = f"  ({event.detail})" if event.detail else ""
            out.write(f"  {_when(event.time)}  {event.actor}  {event.action}  v{event.version}{detail}\n")
        return 0
    markdown = Path(args.file).read_text(encoding="utf-8") if args.action == "edit" and args.file else None
    skill = review.act(args.action, args.skill_id, actor, args.reason, args.version, markdown)
    out.write(f"{skill.id}  {skill.current.name}  v{skill.current.version}  {skill.state}\n")
    return 0
