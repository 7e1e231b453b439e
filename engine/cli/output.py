"""Terminal output: colored on a terminal, plain otherwise (and when NO_COLOR is set).

Each stream decides for itself: `check 2>errors.log` keeps its log plain while the terminal
still shows color. FORCE_COLOR turns color on for both (CI logs that render ANSI codes).
"""

from __future__ import annotations

import argparse
from typing import TextIO

from engine.kernel.settings import value
from engine.spec import Spec, SpecError, load_spec

_COLORS = {"ok": "32", "warn": "33", "error": "31", "info": "36"}


def _wants_color(stream: TextIO) -> bool:
    """NO_COLOR (any value) wins; then FORCE_COLOR; otherwise only a terminal gets color."""
    if value("NO_COLOR"):
        return False
    if value("FORCE_COLOR"):
        return True
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


class Printer:
    def __init__(self, out: TextIO, err: TextIO):
        self.out, self.err = out, err
        self.color = _wants_color(out)
        self.error_color = _wants_color(err)

    def _write(self, stream: TextIO, kind: str | None, text: str) -> None:
        if kind and (self.error_color if stream is self.err else self.color):
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

    def warning(self, text: str) -> None:
        """A warning on stderr: a command whose output is data (openapi, token) keeps it clean."""
        self._write(self.err, "warn", text)

    def error(self, text: str) -> None:
        self._write(self.err, "error", text)


def spec_or_exit(args: argparse.Namespace, out: Printer) -> Spec:
    """The spec, or every problem printed and exit code 1."""
    try:
        spec = load_spec(args.spec)
    except SpecError as exc:
        for line in exc.errors:
            out.error(line)
        out.error(f"{len(exc.errors)} problem{'s' if len(exc.errors) != 1 else ''} in {args.spec}")
        raise SystemExit(1) from None
    for warning in spec.warnings:
        out.warning(f"warning: {warning}")
    return spec
