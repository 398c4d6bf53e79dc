"""A small Dockerfile reader: stages, instructions and the exec-form commands they hold."""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str
    line: int

    def exec_form(self) -> list[str]:
        """The instruction's command as argv: the JSON form as written, the shell form via sh -c."""
        text = self.args
        if self.keyword == "HEALTHCHECK":
            text = healthcheck_command_text(text)
        text = text.strip()
        if text.startswith("["):
            argv = json.loads(text)
            assert isinstance(argv, list)
            assert all(isinstance(a, str) for a in argv)
            return argv
        return ["/bin/sh", "-c", text]


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def last(self, keyword: str) -> Instruction | None:
        found = self.all(keyword)
        return found[-1] if found else None

    def env(self) -> dict[str, str]:
        """ENV key=value pairs of this stage (the only ENV form the project uses)."""
        values: dict[str, str] = {}
        for instruction in self.all("ENV"):
            for token in shlex.split(instruction.args):
                key, sep, value = token.partition("=")
                assert sep, f"ENV without '=' at line {instruction.line}: use ENV KEY=value"
                values[key] = value
        return values


def healthcheck_command_text(args: str) -> str:
    """The part of a HEALTHCHECK after its --options and the CMD keyword."""
    rest = args.strip()
    while rest.startswith("--"):
        _, _, rest = rest.partition(" ")
        rest = rest.lstrip()
    keyword, _, command = rest.partition(" ")
    assert keyword.upper() == "CMD", f"HEALTHCHECK {args!r} has no CMD"
    return command


def healthcheck_options(args: str) -> dict[str, str]:
    return dict(re.findall(r"--([a-z-]+)=(\S+)", args.split(" CMD ", 1)[0]))


def logical_lines(text: str) -> list[tuple[int, str]]:
    """Lines with continuations joined and comments dropped, each with its first line number."""
    lines: list[tuple[int, str]] = []
    current: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and not current):
            continue
        if not current:
            start = number
        if stripped.endswith("\\"):
            current.append(stripped[:-1].strip())
            continue
        current.append(stripped)
        lines.append((start, " ".join(part for part in current if part)))
        current = []
    if current:
        lines.append((start, " ".join(current)))
    return lines


def parse(path: Path) -> list[Stage]:
    stages: list[Stage] = []
    for number, line in logical_lines(path.read_text()):
        keyword, _, args = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            words = args.split()
            words = [w for w in words if not w.startswith("--platform")]
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            stages.append(Stage(base=words[0], name=name))
            continue
        assert stages, f"{path}:{number}: {keyword} before any FROM"
        stages[-1].instructions.append(Instruction(keyword, args.strip(), number))
    return stages


# A tag pinned to an exact release: v2.53.4, 3.11.15-slim-bookworm, 1.29.5-alpine, 0.11.3.
_PINNED_TAG = re.compile(r"^v?\d+\.\d+\.\d+([-.][A-Za-z0-9.-]+)?$")


def is_pinned(image: str) -> bool:
    """An image reference with an exact version tag (or a digest), never :latest or bare."""
    if "@sha256:" in image:
        return True
    name, _, tag = image.rpartition(":")
    if not name or "/" in tag:  # no tag at all (a registry port is not a tag)
        return False
    return bool(_PINNED_TAG.match(tag))
