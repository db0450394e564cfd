"""A value read from a project's files, with the ``file:line`` it came from."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from trayapp.config.load import Provenance

T = TypeVar("T")


@dataclass(frozen=True)
class Fact(Generic[T]):
    """``value`` as read at ``file`` (relative to the project root, ``/``-separated) line ``line``
    (1-based; 0 when the file has no lines to point at). ``said`` is what is written there, shown
    to the user (redacted: never a password)."""

    value: T
    file: str
    line: int
    said: str

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file

    def provenance(self, key: str) -> Provenance:
        return Provenance(key=key, where=self.where, said=self.said)

    def __str__(self) -> str:
        return f"{self.where} {self.said}"
