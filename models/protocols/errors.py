"""Errors a protocol file or a protocol choice can raise; each line names file, rule and problem."""

from __future__ import annotations

from collections.abc import Iterable


class ProtocolError(ValueError):
    """One or more problems with protocol data, one human-readable line each in `problems`."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems: tuple[str, ...] = tuple(problems)
        super().__init__("\n".join(self.problems))


class UnknownProtocolError(ProtocolError):
    """A patient names a protocol id the catalog does not hold."""


class ProtocolMismatchError(ProtocolError):
    """A patient names a protocol written for another cancer site."""
