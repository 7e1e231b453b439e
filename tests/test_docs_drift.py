"""Reference docs cannot drift: every key of the resources.yaml meta-schema and every hook in
engine/hookspecs.py has its section in docs/. (Datasette's docs-as-tests, test_docs.py.)

The convention (stated at the top of docs/resources.md):
- a key is described by a `### key` heading; a dotted heading (`### permissions.read`) may say
  where it sits, and one heading may name several keys separated by commas;
- a key inside a described key may instead be described in its parent's section, where it
  appears in backticks (a table row `` | `through` | ... ``, a sentence) or as `key:` in an example.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from engine import hookspecs
from engine.spec.loader import metaschema

DOCS = Path(__file__).resolve().parent.parent / "docs"
HEADING = re.compile(r"^(#{2,4})\s+(.+?)\s*$", re.MULTILINE)


def sections(markdown: str) -> dict[str, str]:
    """`### name` heading -> its text (up to the next heading); a heading may name several keys."""
    found: dict[str, str] = {}
    matches = list(HEADING.finditer(markdown))
    for i, match in enumerate(matches):
        if len(match.group(1)) != 3:
            continue
        end = matches[i + 1].start() if i + 1 < len(matches) else len(markdown)
        title = re.sub(r"\s*\(.*\)$", "", match.group(2).replace("`", ""))  # "plugins (resource)" -> plugins
        for name in re.split(r"\s*[,/]\s*", title):
            found[name.strip()] = found.get(name.strip(), "") + markdown[match.end() : end]
    return found


def metaschema_keys(schema: dict | None = None, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every key path of the meta-schema (map entries and list items add no name of their own)."""
    root = metaschema()
    schema = root if schema is None else schema
    while "$ref" in schema:
        schema = root["$defs"][schema["$ref"].rsplit("/", 1)[-1]]
    keys: list[tuple[str, ...]] = []
    for branch in (*schema.get("oneOf", ()), *schema.get("anyOf", ()), *schema.get("allOf", ())):
        keys += metaschema_keys(branch, path)
    for name, sub in schema.get("properties", {}).items():
        keys.append((*path, name))
        keys += metaschema_keys(sub, (*path, name))
    for nested in ("additionalProperties", "items"):
        if isinstance(schema.get(nested), dict):
            keys += metaschema_keys(schema[nested], path)
    return list(dict.fromkeys(keys))


def heading_for(path: tuple[str, ...], headed: dict[str, str]) -> str | None:
    """The heading naming `path` by any dotted suffix (`through`, `relations.through` ...)."""
    for start in range(len(path)):
        name = ".".join(path[start:])
        if name in headed:
            return name
    return None


def described(path: tuple[str, ...], headed: dict[str, str]) -> bool:
    if heading_for(path, headed):
        return True
    for depth in range(len(path) - 1, 0, -1):
        parent = heading_for(path[:depth], headed)
        if parent is not None:
            key = re.escape(path[-1])
            mention = re.compile(rf"`{key}`|^\s*{key}:", re.MULTILINE)  # `key` in text, or `key:` in an example
            return bool(mention.search(headed[parent]))
    return False


def hook_names() -> list[str]:
    return sorted(
        name for name, value in vars(hookspecs).items() if callable(value) and hasattr(value, "resource_engine_spec")
    )


def test_metaschema_has_keys_to_check():
    assert ("resources", "owner") in metaschema_keys()


def test_hookspecs_has_hooks_to_check():
    assert "register_openapi" in hook_names()


@pytest.mark.parametrize("path", metaschema_keys(), ids=".".join)
def test_every_resources_yaml_key_is_described_in_resources_md(path):
    headed = sections((DOCS / "resources.md").read_text())
    assert described(path, headed), (
        f"docs/resources.md does not describe {'.'.join(path)}: add a `### {path[-1]}` section "
        "(or a row starting with it in backticks in its parent's section)"
    )


@pytest.mark.parametrize("hook", hook_names())
def test_every_hook_is_described_in_plugins_md_with_an_example(hook):
    text = sections((DOCS / "plugins.md").read_text()).get(hook)
    assert text is not None, f"docs/plugins.md has no `### {hook}` section"
    assert "```python" in text and f"def {hook}(" in text, f"the `### {hook}` section needs a python example"


def test_a_key_missing_from_the_docs_is_reported():
    headed = sections("### relations (many-to-many)\n\n| `through` | the join resource |\n")
    assert described(("resources", "relations", "through"), headed)
    assert not described(("resources", "relations", "key"), headed)
    assert not described(("resources", "owner"), headed)
