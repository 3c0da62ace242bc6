"""Export a user's skills into an agent's skills folder, without touching what memskill did not write.

The target folder keeps a manifest, `.memskill.json`: for every skill folder memskill wrote there, the
skill's id, its user and a hash of what was written. An export then

- writes a skill whose folder is new (`written`), rewrites one it wrote before when the skill changed
  (`updated`), and leaves it alone when nothing changed (`unchanged`);
- refuses (`skipped`, with the reason) a folder of that name it did not write, or one it wrote for
  another skill or user, unless `force`; `prefix` names the folders per user (`alice-travel-…`), so
  several users fit in one target;
- with `sync`, also removes the folders it wrote for this user whose skill is gone (`removed`).

Nothing here reads the store: the engine passes the user's skills in.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from memskill.errors import InvalidRequest
from memskill.models import Skill
from memskill.skillfile import parse, render, write_folder

MANIFEST = ".memskill.json"
"""The manifest's file name inside the target folder."""

Action = Literal["written", "updated", "unchanged", "skipped", "removed"]


@dataclass(frozen=True)
class Exported:
    """What an export did with one skill folder."""

    name: str
    """The folder's name (the skill's name, with the prefix)."""
    action: Action
    folder: Path
    reason: str = ""
    """Why a folder was skipped."""


def export(
    skills: Sequence[Skill],
    user_id: str,
    target: Path,
    prefix: str = "",
    force: bool = False,
    sync: bool = False,
) -> list[Exported]:
    """Write `skills` (all of `user_id`) under `target` (see the module's doc); one entry per folder."""
    target = Path(target).expanduser()
    target.mkdir(parents=True, exist_ok=True)
    manifest = _load(target)
    folders: dict[str, Any] = manifest["folders"]
    done: list[Exported] = []
    for skill in skills:
        document = parse(skill.current.markdown)
        if prefix:
            document = replace(document, name=_prefixed(prefix, document.name))
        name, folder = document.name, target / document.name
        text = render(document)
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
        entry = folders.get(name)
        owner = entry is not None and (entry["skill_id"], entry["user_id"]) == (skill.id, skill.user_id)
        if not force and folder.exists() and entry is None:
            reason = "a folder memskill did not write; pass --force to replace it"
            done.append(Exported(name, "skipped", folder, reason))
            continue
        if not force and entry is not None and not owner:
            holds = f"skill {entry['skill_id']} of user {entry['user_id']!r}"
            reason = f"holds {holds}; pass --prefix to name folders per user"
            done.append(Exported(name, "skipped", folder, reason))
            continue
        if owner and entry is not None and entry["sha256"] == digest and _same(folder, text):
            done.append(Exported(name, "unchanged", folder))
            continue
        write_folder(document, target)
        folders[name] = {"skill_id": skill.id, "user_id": skill.user_id, "sha256": digest}
        done.append(Exported(name, "updated" if owner else "written", folder))
    if sync:
        kept = {e.name for e in done}
        for name in sorted(folders):
            entry = folders[name]
            if entry["user_id"] == user_id and name not in kept and name.startswith(prefix):
                shutil.rmtree(target / name, ignore_errors=True)
                del folders[name]
                done.append(Exported(name, "removed", target / name))
    _save(target, manifest)
    return done


def _prefixed(prefix: str, name: str) -> str:
    slug = "-".join(part for part in prefix.lower().replace("_", "-").split("-") if part)
    if not slug or not all(c.isascii() and (c.isalnum() or c == "-") for c in slug):
        raise InvalidRequest(f"--prefix {prefix!r}: use lowercase letters, digits and hyphens")
    return f"{slug}-{name}"[:64].rstrip("-")


def _same(folder: Path, text: str) -> bool:
    path = folder / "SKILL.md"
    return path.is_file() and path.read_text(encoding="utf-8") == text


def _load(target: Path) -> dict[str, Any]:
    path = target / MANIFEST
    if not path.is_file():
        return {"version": 1, "folders": {}}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, OSError) as error:
        raise InvalidRequest(
            f"{path} is not a memskill manifest ({error}); move it away and export again"
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("folders"), dict):
        raise InvalidRequest(f"{path} is not a memskill manifest; move it away and export again")
    return data


def _save(target: Path, manifest: dict[str, Any]) -> None:
    path = target / MANIFEST
    temporary = path.with_suffix(".tmp")
    temporary.write_text(
        json.dumps(manifest, ensure_ascii=False, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    temporary.replace(path)
