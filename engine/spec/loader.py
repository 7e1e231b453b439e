"""Load resources.yaml + schemas into a Spec, collecting every error before raising once.

Every message names file:line:column and the dotted path, so `resource-engine check` output
reads like a compiler's: the author fixes all of them in one pass.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from functools import cache
from importlib import resources as package_files
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError, best_match

from engine.spec.access import MODES, resolve_rules
from engine.spec.distribution import check_distribution
from engine.spec.model import (
    ACTIONS,
    ACTIVE,
    PENDING,
    History,
    IndexColumn,
    Invite,
    Reference,
    Relation,
    Resource,
    Settings,
    SoftDelete,
    Spec,
)
from engine.spec.positions import Path, PositionedDocument, dotted, load_positioned
from engine.spec.query_power import resolve_aggregates, resolve_search
from engine.spec.schema_keywords import unknown_keywords
from engine.spec.secret_fields import check_property, check_uses
from engine.spec.types import TypeProblem, deleted_at, derive_field, engine_fields


class SpecError(Exception):
    """All problems found in a spec; str() is the full report, one line per problem."""

    def __init__(self, errors: list[str]):
        self.errors = errors
        super().__init__("\n".join(errors))


@cache
def metaschema() -> dict[str, Any]:
    return json.loads(package_files.files("engine.spec").joinpath("metaschema.json").read_text())


class _Collector:
    def __init__(self, filename: str, doc: PositionedDocument | None):
        self.filename = filename
        self.doc = doc
        self.errors: list[str] = []
        self.warnings: list[str] = []

    def add(
        self,
        path: Path,
        message: str,
        *,
        key: bool = False,
        filename: str | None = None,
        doc: PositionedDocument | None = None,
    ) -> None:
        doc = doc if doc is not None else self.doc
        pos = doc.position(path, key=key) if doc else None
        where = f"{filename or self.filename}:{pos.line}:{pos.column}" if pos else (filename or self.filename)
        self.errors.append(f"{where}: {dotted(path) or '(top)'}: {message}")

    def warn(self, path: Path, message: str, *, filename: str, doc: PositionedDocument | None) -> None:
        pos = doc.position(path, key=True) if doc else None
        where = f"{filename}:{pos.line}:{pos.column}" if pos else filename
        self.warnings.append(f"{where}: {dotted(path) or '(top)'}: {message}")


def load_spec(path: str) -> Spec:
    """Read and check a spec; raises SpecError listing every problem."""
    path = os.path.abspath(path)
    root = os.path.dirname(path)
    filename = os.path.relpath(path)
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as exc:
        raise SpecError([f"{filename}: cannot read: {exc.strerror}"]) from None
    try:
        doc = load_positioned(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f"{filename}:{mark.line + 1}:{mark.column + 1}" if mark else filename
        problem = getattr(exc, "problem", None) or str(exc)
        raise SpecError([f"{where}: invalid YAML: {problem}"]) from None
    errors = _Collector(filename, doc)
    invalid = _check_metaschema(doc, errors)
    if any(len(p) < 2 or p[0] != "resources" for p in invalid):
        raise SpecError(errors.errors)
    # Resources the meta-schema refused are skipped; the others are still cross-checked, so one
    # run reports every problem.
    spec = _build(doc.data, root, errors, skip={p[1] for p in invalid})
    if errors.errors:
        raise SpecError(errors.errors)
    return replace(spec, warnings=tuple(dict.fromkeys(errors.warnings))) if errors.warnings else spec


_JSON_TYPES = {"object": dict, "array": list, "string": str, "number": (int, float), "integer": int, "boolean": bool}


def _meant_for(branch: dict[str, Any], value: Any) -> bool:
    """Whether a oneOf/anyOf branch takes this kind of value (by its type, or its enum's values)."""
    if branch.get("$ref", "").startswith("#/$defs/"):
        branch = metaschema()["$defs"][branch["$ref"].removeprefix("#/$defs/")]
    if "type" in branch:
        types = branch["type"] if isinstance(branch["type"], list) else [branch["type"]]
        return any(isinstance(value, _JSON_TYPES.get(t, object)) for t in types)
    if "enum" in branch:
        return any(type(v) is type(value) for v in branch["enum"])
    return True


def _check_metaschema(doc: PositionedDocument, errors: _Collector) -> set[Path]:
    """Report every meta-schema violation; returns the paths that failed."""
    validator = Draft202012Validator(metaschema())
    invalid: set[Path] = set()
    for error in sorted(validator.iter_errors(doc.data), key=lambda e: list(map(str, e.absolute_path))):
        if error.validator in ("oneOf", "anyOf") and error.context:
            # Explain by the branches meant for this kind of value: a mapping rule's own mistake,
            # not "{...} is not one of ['owner', 'anyone']".
            branches = error.schema[error.validator]
            meant = [e for e in error.context if _meant_for(branches[e.relative_schema_path[0]], error.instance)]
            error = best_match(meant or error.context)
        path = tuple(error.absolute_path)
        invalid.add(path)
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            allowed = set(error.schema.get("properties", {}))
            for extra in sorted(set(error.instance) - allowed, key=str):
                hint = f"; expected one of: {', '.join(sorted(allowed))}" if allowed else ""
                errors.add((*path, extra), f"unknown key {extra!r}{hint}", key=True)
            continue
        if error.validator == "pattern" and error.schema.get("description"):  # words, not the regular expression
            errors.add(path, f"{error.instance!r} does not fit: {error.schema['description']}")
            continue
        if (
            error.validator == "not"
            and isinstance(error.validator_value, dict)
            and error.validator_value.get("required")
        ):
            errors.add(path, f"give one of {' or '.join(error.validator_value['required'])}, not both")
            continue
        if error.validator == "propertyNames":
            bad = error.instance
            errors.add((*path, bad), f"{bad!r} is not a valid name (lowercase letters, digits, _)", key=True)
            continue
        errors.add(path, error.message)
    return invalid


def _load_schema(root: str, ref: str, where: Path, errors: _Collector) -> tuple[dict | None, PositionedDocument | None]:
    file_path = os.path.normpath(os.path.join(root, ref))
    if not os.path.isfile(file_path):
        errors.add(where, f"schema file {ref!r} does not exist")
        return None, None
    try:
        with open(file_path, encoding="utf-8") as fh:
            text = fh.read()
        schema = json.loads(text)
    except json.JSONDecodeError as exc:  # where in the schema file, not where resources.yaml names it
        errors.errors.append(f"{ref}:{exc.lineno}:{exc.colno}: (top): not valid JSON: {exc.msg}")
        return None, None
    except (OSError, ValueError) as exc:
        errors.add(where, f"schema file {ref!r} cannot be read: {exc}")
        return None, None
    try:
        doc = load_positioned(text)
    except yaml.YAMLError:
        doc = None
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        errors.add(tuple(exc.absolute_path), f"not a valid draft 2020-12 schema: {exc.message}", filename=ref, doc=doc)
        return None, None
    declared = schema.get("$schema")
    if declared and "2020-12" not in declared:
        errors.add(("$schema",), f"must be draft 2020-12, found {declared!r}", filename=ref, doc=doc)
    if schema.get("type") != "object" or not isinstance(schema.get("properties"), dict):
        errors.add((), "a resource schema must be an object with 'properties'", filename=ref, doc=doc)
        return None, None
    for keyword_path, message in unknown_keywords(schema):
        errors.warn(keyword_path, message, filename=ref, doc=doc)
    for i, name in enumerate(schema.get("required", ())):
        if name not in schema["properties"]:  # no body could ever satisfy it: unknown fields are refused
            known = ", ".join(schema["properties"])
            errors.add(("required", i), f"{name!r} is not a property (properties: {known})", filename=ref, doc=doc)
    return schema, doc


def _build(data: dict[str, Any], root: str, errors: _Collector, skip: set[str] | None = None) -> Spec:
    resources: dict[str, Resource] = {}
    for name, raw in data["resources"].items():
        if skip and name in skip:
            continue
        resource = _build_resource(name, raw, root, errors)
        if resource is not None:
            resources[name] = resource
    _cross_check(data, resources, errors)
    _check_secrets_plugin(data, resources, errors)
    _check_row_plugins(data, resources, errors)
    check_distribution(resources, errors.add)
    settings_raw = dict(data.get("settings") or {})
    known = {k: settings_raw.pop(k) for k in list(settings_raw) if k in Settings.__dataclass_fields__}
    plugins = data.get("plugins") or {}
    return Spec(
        path=os.path.join(root, os.path.basename(errors.filename)),
        root=root,
        resources=resources,
        settings=Settings(**known, extra=settings_raw),
        disabled_plugins=tuple(plugins.get("disabled", ())),
        plugin_settings=dict(plugins.get("settings") or {}),
    )


def _build_resource(name: str, raw: dict[str, Any], root: str, errors: _Collector) -> Resource | None:
    where: Path = ("resources", name)
    schema, schema_doc = _load_schema(root, raw["schema"], (*where, "schema"), errors)
    if schema is None:
        return None
    ref = raw["schema"]
    properties: dict[str, Any] = schema["properties"]
    required = set(schema.get("required", ()))
    primary_key = raw.get("primary_key", "id")
    owner = raw.get("owner")
    fields = {}
    for prop_name, prop in properties.items():
        if not isinstance(prop_name, str) or not _is_identifier(prop_name):
            errors.add(
                ("properties", prop_name),
                "property names must be lowercase identifiers (letters, digits, _; at most 63 characters)",
                filename=ref,
                doc=schema_doc,
                key=True,
            )
            continue
        if prop_name in ("created_at", "updated_at"):
            errors.add(
                ("properties", prop_name),
                f"{prop_name!r} is maintained by the engine; remove it from the schema",
                filename=ref,
                doc=schema_doc,
                key=True,
            )
            continue
        try:
            fields[prop_name] = derive_field(
                prop_name,
                prop,
                required=prop_name in required,
                primary_key=prop_name == primary_key,
                owner=prop_name == owner,
            )
        except TypeProblem as exc:
            errors.add(("properties", prop_name), f"property {prop_name!r} {exc}", filename=ref, doc=schema_doc)
            continue
        if fields[prop_name].write_only:
            check_property(
                prop_name, prop, fields[prop_name], lambda p, m: errors.add(p, m, filename=ref, doc=schema_doc)
            )
    fields.update(engine_fields())
    soft_delete = _soft_delete(raw.get("soft_delete"), fields, where, errors)
    check_uses(raw, fields, primary_key, lambda p, m: errors.add((*where, *p), m))

    def must_be_field(column: str, path: Path, what: str) -> bool:
        if column in fields:
            return True
        errors.add(path, f"{what} {column!r} is not a property of {ref}")
        return False

    must_be_field(primary_key, (*where, "primary_key"), "primary key")
    if owner is not None:
        must_be_field(owner, (*where, "owner"), "owner")
    unique = []
    for i, cols in enumerate(raw.get("unique", ())):
        if all([must_be_field(c, (*where, "unique", i, j), "unique column") for j, c in enumerate(cols)]):
            unique.append(tuple(cols))
    indexes = []
    for i, cols in enumerate(raw.get("indexes", ())):
        index = tuple(IndexColumn(c.lstrip("-"), c.startswith("-")) for c in cols)
        if all([must_be_field(c.name, (*where, "indexes", i, j), "index column") for j, c in enumerate(index)]):
            indexes.append(index)
    for i, protected in enumerate(raw.get("protected", ())):
        must_be_field(protected, (*where, "protected", i), "protected field")
    roles_field = raw.get("roles_field")
    if roles_field is not None:
        known = must_be_field(roles_field, (*where, "roles_field"), "roles field")
        roles_field = _roles_field(name, raw, properties.get(roles_field), where, errors) if known else None
    references = {}
    for column, ref_raw in (raw.get("references") or {}).items():
        if must_be_field(column, (*where, "references", column), "reference column"):
            references[column] = Reference(
                column, ref_raw["resource"], ref_raw.get("on_delete", "restrict"), ref_raw.get("check", "read")
            )
    events = raw.get("events") or {}
    for i, excluded in enumerate(events.get("exclude", ())):
        must_be_field(excluded, (*where, "events", "exclude", i), "excluded field")
    return Resource(
        name=name,
        table=raw.get("table", name),
        schema_path=ref,
        schema=schema,
        primary_key=primary_key,
        fields=fields,
        unique=tuple(unique),
        indexes=tuple(indexes),
        references=references,
        owner=owner,
        protected=tuple(raw.get("protected", ())),
        roles_field=roles_field,
        permissions={a: tuple(r) for a, r in (raw.get("permissions") or {}).items() if a in ACTIONS},
        events={
            "emit": tuple(events.get("emit", ("created", "updated", "deleted"))),
            "exclude": tuple(events.get("exclude", ())),
        },
        relations={},  # resolved in _cross_check once every resource is known
        access={},  # resolved in _cross_check: rules follow relations of other resources
        plugins=dict(raw.get("plugins") or {}),
        rate_limit=raw.get("rate_limit"),
        cache=raw.get("cache"),
        aggregates=resolve_aggregates(
            raw.get("aggregates"), fields, lambda p, m: errors.add((*where, "aggregates", *p), m)
        ),
        search=resolve_search(raw.get("search"), fields, lambda p, m: errors.add((*where, "search", *p), m)),
        history=_history(raw.get("history")),
        soft_delete=soft_delete,
        transitions=_transitions(raw.get("transitions"), fields, primary_key, owner, (*where, "transitions"), errors),
        distribute_by=raw.get("distribute_by"),
    )


USERS = "users"  # the resource whose rows are the users (token `sub`, owners, API keys)


def _is_string_array(prop: Any) -> bool:
    kinds = prop.get("type") if isinstance(prop, dict) else None
    items = prop.get("items") if isinstance(prop, dict) else None
    array = kinds == "array" or (isinstance(kinds, list) and set(kinds) in ({"array"}, {"array", "null"}))
    return array and isinstance(items, dict) and items.get("type") == "string"


def _roles_field(name: str, raw: dict[str, Any], prop: Any, where: Path, errors: _Collector) -> str | None:
    """`roles_field`: the users resource's protected array of role names (answers `user_roles`)."""
    path, field_name = (*where, "roles_field"), raw["roles_field"]
    problem = None
    if name != USERS:
        problem = f"only the {USERS!r} resource holds users' roles"
    elif field_name in (raw.get("primary_key", "id"), raw.get("owner")):
        problem = f"{field_name!r} is the primary key or the owner, not a list of roles"
    elif not _is_string_array(prop) or prop.get("writeOnly"):
        problem = f"{field_name!r} must be an array of strings (type: array, items: {{type: string}})"
    elif field_name not in raw.get("protected", ()):
        problem = f"{field_name!r} must also be listed in `protected`, so that only admins change anyone's roles"
    if problem is None:
        return field_name
    errors.add(path, problem)
    return None


UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def seconds(age: str | None) -> int | None:
    """`90d` -> seconds (the meta-schema checked the form)."""
    return None if age is None else int(age[:-1]) * UNITS[age[-1]]


def _history(raw: dict[str, Any] | None) -> History | None:
    if raw is None:
        return None
    return History(keep=raw.get("keep"), max_age=seconds(raw.get("max_age")))


def _soft_delete(raw: dict[str, Any] | None, fields: dict, where: Path, errors: _Collector) -> SoftDelete | None:
    """`soft_delete` adds the engine's `deleted_at` column, which a schema property may not take."""
    if raw is None:
        return None
    soft = SoftDelete(purge_after=seconds(raw.get("purge_after")))
    if soft.column in fields:
        errors.add((*where, "soft_delete"), f"{soft.column!r} is kept by the engine; remove it from the schema")
        return None
    fields[soft.column] = deleted_at()
    return soft


def _transitions(
    raw: dict[str, Any] | None, fields: dict, primary_key: str, owner: str | None, where: Path, errors: _Collector
) -> dict[str, dict[str, tuple[str, ...]]]:
    """`transitions:` per field, state -> next states: a required string field, its targets listed
    states, and with an `enum` each value a state (a value left out could never be left, or reached)."""
    found: dict[str, dict[str, tuple[str, ...]]] = {}
    for name, states in (raw or {}).items():
        path = (*where, name)
        spec_field = fields.get(name)
        problem = None
        if spec_field is None:
            problem = f"{name!r} is not a property of the schema"
        elif name in (primary_key, owner) or spec_field.write_only or spec_field.engine_managed:
            problem = f"{name!r} is the primary key, the owner, a secret or kept by the engine: it has no moves"
        elif spec_field.sql_type != "text":
            problem = f"{name!r} must be a string (its states are strings), not {spec_field.sql_type}"
        elif spec_field.nullable:
            problem = f"{name!r} must always have a value: make it required or give it a default"
        if problem is not None:
            errors.add(path, problem)
            continue
        problems = [
            ((*path, state), f"{target!r} is not one of the states listed for {name!r}; list it, with [] if final")
            for state, targets in states.items()
            for target in targets
            if target not in states
        ]
        if spec_field.enum is not None:
            missing = [v for v in spec_field.enum if v not in states]
            if missing:
                problems.append((path, f"list each value of {name!r}'s enum, with [] if final; missing: {missing}"))
            problems += [
                ((*path, state), f"{state!r} is not a value of {name!r}'s enum {list(spec_field.enum)}")
                for state in states
                if state not in spec_field.enum
            ]
        for problem_path, message in problems:
            errors.add(problem_path, message)
        if not problems:
            found[name] = {state: tuple(targets) for state, targets in states.items()}
    return found


def _check_secrets_plugin(data: dict[str, Any], resources: dict[str, Resource], errors: _Collector) -> None:
    """Without the secrets plugin a writeOnly field would be stored in plain text."""
    disabled = list((data.get("plugins") or {}).get("disabled") or ())
    if "secrets" in disabled and any(f.write_only for r in resources.values() for f in r.fields.values()):
        errors.add(
            ("plugins", "disabled", disabled.index("secrets")),
            "the secrets plugin encrypts writeOnly fields; it cannot be disabled while a schema has one",
        )


def _check_row_plugins(data: dict[str, Any], resources: dict[str, Resource], errors: _Collector) -> None:
    """Without its plugin, `soft_delete` rows would show once deleted, `history` would record nothing
    and `transitions` would allow any move."""
    disabled = list((data.get("plugins") or {}).get("disabled") or ())
    for plugin, key in (("soft_delete", "soft_delete"), ("history", "history"), ("transitions", "transitions")):
        users = [name for name, r in resources.items() if getattr(r, key)]
        if plugin in disabled and users:
            errors.add(
                ("plugins", "disabled", disabled.index(plugin)),
                f"the {plugin} plugin serves `{key}:` ({', '.join(users)}); it cannot be disabled while declared",
            )


def _is_identifier(name: str) -> bool:
    return (
        0 < len(name) <= 63
        and (name[0].isascii() and (name[0].islower() or name[0] == "_"))
        and all(c.isascii() and (c.islower() or c.isdigit() or c == "_") for c in name)
    )


def _cross_check(data: dict[str, Any], resources: dict[str, Resource], errors: _Collector) -> None:
    tables: dict[str, str] = {}
    for name, resource in resources.items():
        where: Path = ("resources", name)
        if resource.table in tables:
            errors.add((*where, "table"), f"table {resource.table!r} is also used by {tables[resource.table]!r}")
        tables[resource.table] = name
        if resource.history is not None:
            history_table = History.table_of(resource.table)
            if history_table in tables or any(r.table == history_table for r in resources.values()):
                errors.add(
                    (*where, "history"), f"its versions table {history_table!r} is the table of another resource"
                )
        for column, reference in resource.references.items():
            target = resources.get(reference.resource)
            if target is None:
                if reference.resource not in data["resources"]:
                    errors.add(
                        (*where, "references", column, "resource"),
                        f"references unknown resource {reference.resource!r}",
                    )
                continue
            ours, theirs = resource.fields[column], target.pk
            if ours.sql_type != theirs.sql_type:
                errors.add(
                    (*where, "references", column),
                    f"{column!r} is {ours.sql_type} but {reference.resource}.{target.primary_key} is {theirs.sql_type}",
                )
            if reference.on_delete == "set null" and not ours.nullable:
                errors.add((*where, "references", column, "on_delete"), f"'set null' needs {column!r} to be nullable")
        raw_relations = data["resources"][name].get("relations") or {}
        for rel_name, raw in raw_relations.items():
            relation = _relation(name, rel_name, raw, resources, errors)
            if relation is not None:
                resource.relations[rel_name] = relation
    for name, resource in resources.items():  # rules may follow the relations of any resource
        _resolve_access(resources, resource, data["resources"][name].get("access") or {}, errors)


def _resolve_access(resources: dict[str, Resource], resource: Resource, raw: dict, errors: _Collector) -> None:
    """Fill `resource.access` and `resource.field_access` from the access block (see engine.spec.access)."""
    where: Path = ("resources", resource.name, "access")
    problems: list[tuple[Path, str]] = []
    for mode in MODES:
        if mode in raw:
            resource.access[mode] = resolve_rules(resources, resource, raw[mode], (*where, mode), problems)
    for name, modes in (raw.get("fields") or {}).items():
        if name not in resource.fields or name == resource.primary_key:
            message = f"{name!r} is not a field of {resource.name} that rules may hide"
            problems.append(((*where, "fields", name), message))
            continue
        resource.field_access[name] = {
            mode: resolve_rules(resources, resource, rules, (*where, "fields", name, mode), problems)
            for mode, rules in modes.items()
        }
    for path, message in problems:
        errors.add(path, message)


def _relation(
    name: str, rel_name: str, raw: dict, resources: dict[str, Resource], errors: _Collector
) -> Relation | None:
    where: Path = ("resources", name, "relations", rel_name)
    if rel_name in resources[name].fields:
        errors.add(where, f"relation {rel_name!r} has the name of a field; embedded rows would hide it", key=True)
        return None
    for key, route in (("history", "versions"), ("soft_delete", "restore")):  # /api/{name}/{id}/<route>
        if rel_name == route and getattr(resources[name], key) is not None:
            errors.add(where, f"relation {rel_name!r} would take the path of the {key} routes: rename it", key=True)
            return None
    through = resources.get(raw["through"])
    if through is None:
        errors.add((*where, "through"), f"unknown resource {raw['through']!r}")
        return None
    ok = True
    for part in ("key", "other"):
        column = raw[part]
        if column not in through.references:
            errors.add((*where, part), f"{raw['through']}.{column} must be declared under references")
            ok = False
    if not ok:
        return None
    if through.references[raw["key"]].resource != name:
        errors.add((*where, "key"), f"{raw['through']}.{raw['key']} must reference {name!r}")
        return None
    invite = _invite(resources[name], through, raw.get("invite"), (*where, "invite"), errors)
    target = through.references[raw["other"]].resource
    kept = (raw["key"], raw["other"], through.primary_key, *(n for n, f in through.fields.items() if f.engine_managed))
    owner_joins = raw.get("owner_joins")
    if owner_joins is not None:
        parent = resources[name]
        owners = parent.references[parent.owner].resource if parent.owner in parent.references else USERS
        if parent.owner is None:
            errors.add((*where, "owner_joins"), f"{name} has no `owner` to join its {rel_name}")
        elif owners != target:
            errors.add(
                (*where, "owner_joins"),
                f"{name}'s owner is a row of {owners!r}, but {raw['through']}.{raw['other']} references {target!r}",
            )
        _link_values(through, owner_joins, kept, (*where, "owner_joins"), errors)
    keep_one = raw.get("keep_one")
    if keep_one is not None:
        _link_values(through, keep_one, kept, (*where, "keep_one"), errors)
    return Relation(
        rel_name,
        raw["through"],
        raw["key"],
        raw["other"],
        target,
        raw.get("attach", "any"),
        invite,
        owner_joins,
        keep_one,
    )


def _link_values(through: Resource, values: dict, kept: tuple[str, ...], where: Path, errors: _Collector) -> None:
    """Values of a link (`owner_joins`, `keep_one`): fields of the join resource the URL or the engine
    does not set, each a value its enum allows."""
    for field_name, value in values.items():
        spec_field = through.fields.get(field_name)
        if spec_field is None:
            errors.add((*where, field_name), f"{field_name!r} is not a field of {through.name}")
        elif field_name in kept:
            errors.add((*where, field_name), f"{field_name!r} is set by the relation or the engine, not here")
        elif spec_field.enum is not None and value not in spec_field.enum:
            errors.add((*where, field_name), f"{value!r} is not a value of {through.name}.{field_name}'s enum")


def _invite(parent: Resource, through: Resource, raw: dict | None, where: Path, errors: _Collector) -> Invite | None:
    """`invite`: the status field must be the join resource's enum holding pending and active, and the
    parent fields shown to invitees must exist (they are all an invitee learns of the parent)."""
    if raw is None:
        return None
    status = through.fields.get(raw["status_field"])
    if status is None or not status.enum or not {PENDING, ACTIVE} <= set(status.enum):
        errors.add(
            (*where, "status_field"),
            f"{through.name}.{raw['status_field']} must be a field whose enum holds {PENDING!r} and {ACTIVE!r}",
        )
    for i, field_name in enumerate(raw.get("parent_fields") or ()):
        if field_name not in parent.fields:
            errors.add((*where, "parent_fields", i), f"{field_name!r} is not a field of {parent.name}")
    return Invite(raw["status_field"], tuple(raw.get("parent_fields") or ()))
