"""Relations between resources, as declared in resources.yaml.

- includes.py: which names `?include=` accepts for a resource (relations and belongs-to references).
- service.py: embedding (one `= ANY($1)` query per included name per request) and the SQL the
  nested routes need, compiled once per shape.
- nested.py: the routes generated from many-to-many declarations (/api/teams/{id}/members ...).

Nothing here knows the example app: every route, query and rule comes from the spec.
"""
