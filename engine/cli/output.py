"""Terminal output: colored on a terminal, plain otherwise (and when NO_COLOR is set)."""

from __future__ import annotations

import os
from typing import TextIO

_COLORS = {"ok": "32", "warn": "33", "error": "31", "info": "36"}


class Printer:
    def __init__(self, out: TextIO, err: TextIO):
        self.out, self.err = out, err
        self.color = out.isatty() and "NO_COLOR" not in os.environ

    def _write(self, stream: TextIO, kind: str | None, text: str) -> None:
        if self.color and kind:
            text = f"\033[{_COLORS[kind]}m{text}\033[0m"
        print(text, file=stream, flush=True)

    def plain(self, text: str) -> None:
        self._write(self.out, None, text)

    def ok(self, text: str) -> None:
        self._write(self.out, "ok", text)

    def info(self, text: str) -> None:
        self._write(self.out, "info", text)

    def warn(self, text: str) -> None:
        self._write(self.out, "warn", text)

    def error(self, text: str) -> None:
        self._write(self.err, "error", text)
