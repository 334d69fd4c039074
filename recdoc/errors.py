"""User-facing errors: one clear line naming the file and line, mapped to an exit code by the CLI."""

from __future__ import annotations


class RecdocError(Exception):
    """An error the user can act on. `str()` is the one line the CLI prints."""

    exit_code = 2

    def __init__(self, message: str, path: str | None = None, line: int | None = None) -> None:
        self.message = message
        self.path = path
        self.line = line
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = ""
        if self.path is not None:
            where = f"{self.path}:{self.line}: " if self.line is not None else f"{self.path}: "
        return f"{where}{self.message}"


class InputError(RecdocError):
    """Bad input data or a bad run folder (exit 2)."""


class UsageError(RecdocError):
    """A flag combination that cannot work (exit 2)."""
