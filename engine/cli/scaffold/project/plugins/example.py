"""An example plugin: every .py file in plugins/ is loaded at start-up.

Hooks are plain functions named after the hooks in resource-engine's engine/hookspecs.py (its
docs/plugins.md shows each with an example); declare only the arguments you use.
"""

from engine.plugin import ValidationFailed, hookimpl

MAX_PINNED = 10


@hookimpl
def before_validate(resource, action, data):
    """Tidy a note's title and tags before the JSON Schema checks them."""
    if resource.name != "notes":
        return
    if isinstance(data.get("title"), str):
        data["title"] = data["title"].strip()
    tags = data.get("tags")
    if isinstance(tags, list) and all(isinstance(tag, str) for tag in tags):
        data["tags"] = list(dict.fromkeys(tag.strip().lower() for tag in tags))  # the schema refuses the rest


@hookimpl
async def before_write(conn, resource, action, data, previous):
    """A business rule inside the write's transaction: at most MAX_PINNED pinned notes each.

    Raising a Problem rolls the write back and answers with it (here a 422 naming the field).
    """
    if resource.name != "notes" or action == "delete" or not data.get("pinned"):
        return
    if previous is not None and previous.get("pinned"):
        return  # it was pinned already
    owner = data.get("user_id") or (previous or {}).get("user_id")
    pinned = await conn.fetchval("SELECT count(*) FROM notes WHERE user_id = $1 AND pinned", owner)
    if pinned >= MAX_PINNED:
        raise ValidationFailed([{"path": "/pinned", "message": f"you already have {MAX_PINNED} pinned notes"}])
