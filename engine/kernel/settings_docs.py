"""The configuration tables of README.md and docs/*.md, generated from the settings registry.

A table sits between ``<!-- settings: TOKENS -->`` and ``<!-- /settings -->``; each token is a
group (``auth``, ``protection`` ...) or a variable name, in the order the rows should come.
``python -m engine.kernel.settings_docs --write`` rewrites every table; ``--check`` exits 1 when
one drifted (tests/test_settings_registry.py does the same); ``--markdown TOKENS`` prints one.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from engine.kernel.settings import Setting, all_settings

ROOT = Path(__file__).resolve().parents[2]
BLOCK = re.compile(r"(<!-- settings: (?P<tokens>[^>]*?) -->\n)(?P<body>.*?)(<!-- /settings -->)", re.DOTALL)
HEADER = "| variable | default | meaning |\n| --- | --- | --- |\n"
YAML_HEADER = "| variable | default | also in resources.yaml | meaning |\n| --- | --- | --- | --- |\n"


def documents(root: Path = ROOT) -> list[Path]:
    """The files that may hold generated tables."""
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


def selected(tokens: list[str]) -> list[Setting]:
    """Settings named by `tokens` (groups or variable names), each once, in token order."""
    declared = all_settings()
    chosen: dict[str, Setting] = {}
    for token in tokens:
        if token in declared:
            chosen[token] = declared[token]
            continue
        group = [s for s in declared.values() if s.group == token]
        if not group:
            raise KeyError(f"{token!r} is neither a settings group nor a declared variable")
        chosen.update((s.name, s) for s in group)
    return list(chosen.values())


def shown_default(setting: Setting) -> str:
    if setting.shown is not None:
        return setting.shown
    if setting.default is None:
        return "unset"
    if isinstance(setting.default, float):
        return f"`{setting.default:g}`"
    return f"`{setting.default}`"


def row(setting: Setting, with_yaml: bool) -> str:
    cells = [f"`{setting.name}`", shown_default(setting)]
    if with_yaml:
        cells.append(f"`{setting.yaml}`" if setting.yaml else "")
    return "| " + " | ".join([*cells, setting.help]) + " |\n"


def table(tokens: list[str]) -> str:
    """A markdown table; with a resources.yaml column when one of its settings can be set there."""
    chosen = selected(tokens)
    with_yaml = any(setting.yaml for setting in chosen)
    return (YAML_HEADER if with_yaml else HEADER) + "".join(row(setting, with_yaml) for setting in chosen)


def render(text: str) -> str:
    """`text` with every marked table regenerated."""
    return BLOCK.sub(lambda m: m.group(1) + table(m["tokens"].split()) + m.group(4), text)


def tokens_in(text: str) -> list[str]:
    return [token for match in BLOCK.finditer(text) for token in match["tokens"].split()]


def drifted(root: Path = ROOT) -> list[Path]:
    """Documents whose tables differ from the registry."""
    return [path for path in documents(root) if render(path.read_text()) != path.read_text()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m engine.kernel.settings_docs", description=__doc__.split("\n")[0])
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--write", action="store_true", help="regenerate the tables in README.md and docs/*.md")
    action.add_argument("--check", action="store_true", help="exit 1 when a table differs from the registry")
    action.add_argument("--markdown", nargs="+", metavar="TOKEN", help="print the table of these groups/variables")
    args = parser.parse_args(argv)
    if args.markdown:
        sys.stdout.write(table(args.markdown))
        return 0
    stale = drifted()
    for path in stale:
        if args.write:
            path.write_text(render(path.read_text()))
        print(f"{'rewrote' if args.write else 'drifted'}: {path.relative_to(ROOT)}")
    return 1 if stale and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
