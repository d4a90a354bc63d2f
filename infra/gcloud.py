"""Print every gcloud command, shell-quoted, and run it unless DRY_RUN=1.

Printing first means a deploy log is a script an operator can read, replay or
paste into a ticket. Secret values only ever travel on stdin: the printed line
shows where the value comes from (`<hint> | gcloud ... --data-file=-`), never
the value, so neither the terminal, CI logs nor `ps` ever see it.

`ensure` gives the "describe, then create (or update)" idempotency gcloud lacks
for most resources, so every command here can be re-run safely.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TextIO

Argv = Sequence[str]


class CommandFailed(RuntimeError):
    def __init__(self, argv: Argv, returncode: int) -> None:
        super().__init__(f"command failed ({returncode}): {shlex.join(argv)}")
        self.argv = list(argv)
        self.returncode = returncode


@dataclass(frozen=True)
class Result:
    returncode: int
    stdout: str = ""


class Executor(Protocol):
    def __call__(self, argv: Argv, *, stdin: str | None, capture: bool) -> Result: ...


def subprocess_executor(argv: Argv, *, stdin: str | None, capture: bool) -> Result:
    """Run one command; `capture` keeps stdout and silences stderr (for describe/query)."""
    env = {**os.environ, "CLOUDSDK_CORE_DISABLE_PROMPTS": "1"}
    try:
        proc = subprocess.run(
            list(argv),
            input=stdin,
            text=True,
            stdout=subprocess.PIPE if capture else None,
            stderr=subprocess.DEVNULL if capture else None,
            env=env,
            check=False,
        )
    except FileNotFoundError:
        raise SystemExit(f"{argv[0]}: not found; install the Google Cloud CLI or use DRY_RUN=1") from None
    return Result(proc.returncode, proc.stdout or "")


def dry_run_from_env() -> bool:
    return os.environ.get("DRY_RUN", "").strip().lower() not in ("", "0", "false", "no")


@dataclass
class Runner:
    """Prints each command as shell and executes it unless `dry_run`.

    `commands` records every argv that was (or would have been) run, in order,
    so tests can assert on structure instead of parsing printed text.
    """

    dry_run: bool
    out: TextIO = field(default_factory=lambda: sys.stdout)
    executor: Executor = subprocess_executor
    retry_delay_s: float = 5.0
    commands: list[list[str]] = field(default_factory=list)

    @classmethod
    def from_env(cls) -> Runner:
        return cls(dry_run=dry_run_from_env())

    def note(self, text: str) -> None:
        for line in text.splitlines() or [""]:
            self._print(f"# {line}" if line else "#")

    def run(
        self,
        argv: Argv,
        *,
        stdin: Callable[[], str] | None = None,
        stdin_hint: str = "",
        attempts: int = 1,
    ) -> None:
        """Run `argv`; `stdin` produces a secret lazily, only when it really runs.

        `attempts` > 1 retries, for IAM calls racing a just-created service
        account (IAM is eventually consistent).
        """
        self._print(_piped(stdin_hint, argv) if stdin else shlex.join(argv))
        self.commands.append(list(argv))
        self._execute(argv, stdin=stdin, attempts=attempts)

    def query(self, argv: Argv, *, placeholder: str, allow_empty: bool = False) -> str:
        """Run a read-only command and return its stdout; in a dry run, `placeholder`.

        Empty output is a failure unless `allow_empty` (a list filter that may match nothing).
        """
        self._print(
            f"{shlex.join(argv)}  # dry run: using {placeholder}" if self.dry_run else shlex.join(argv)
        )
        self.commands.append(list(argv))
        if self.dry_run:
            return placeholder
        result = self.executor(argv, stdin=None, capture=True)
        value = result.stdout.strip()
        if result.returncode != 0 or not (value or allow_empty):
            raise CommandFailed(argv, result.returncode or 1)
        return value

    def exists(self, describe: Argv) -> bool:
        """Whether `describe` finds the resource; a dry run assumes it does."""
        self._print(f"{shlex.join(describe)} >/dev/null 2>&1  # must exist")
        self.commands.append(list(describe))
        if self.dry_run:
            return True
        return self.executor(describe, stdin=None, capture=True).returncode == 0

    def ensure(
        self,
        describe: Argv,
        create: Argv,
        *,
        update: Argv | None = None,
        create_stdin: Callable[[], str] | None = None,
        stdin_hint: str = "",
        attempts: int = 1,
    ) -> None:
        """Create the resource `describe` does not find, else run `update` (if any)."""
        shown_create = _piped(stdin_hint, create) if create_stdin else shlex.join(create)
        probe = f"{shlex.join(describe)} >/dev/null 2>&1"
        if update is None:
            self._print(f"{probe} || {shown_create}")
        else:
            self._print(f"if {probe}; then {shlex.join(update)}; else {shown_create}; fi")
        self.commands.append(list(describe))
        if self.dry_run:
            self.commands.extend(list(c) for c in (create, update) if c is not None)
            return
        if self.executor(describe, stdin=None, capture=True).returncode == 0:
            if update is not None:
                self.commands.append(list(update))
                self._execute(update, stdin=None, attempts=attempts)
            return
        self.commands.append(list(create))
        self._execute(create, stdin=create_stdin, attempts=attempts)

    def _execute(self, argv: Argv, *, stdin: Callable[[], str] | None, attempts: int) -> None:
        if self.dry_run:
            return
        value = stdin() if stdin else None
        attempts = max(1, attempts)
        for attempt in range(1, attempts + 1):
            result = self.executor(argv, stdin=value, capture=False)
            if result.returncode == 0:
                return
            if attempt < attempts:
                self.note(f"retrying in {self.retry_delay_s:g}s ({attempt}/{attempts - 1})")
                time.sleep(self.retry_delay_s)
        raise CommandFailed(argv, result.returncode)

    def _print(self, line: str) -> None:
        print(line if line.startswith("#") else f"+ {line}", file=self.out, flush=True)


def _piped(hint: str, argv: Argv) -> str:
    return f"{hint or '<value on stdin>'} | {shlex.join(argv)}"
