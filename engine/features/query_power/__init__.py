"""Query power on lists: counts, grouped aggregates, boolean filter groups, full-text search (settings).

The mechanism lives where each layer needs it: parsing in engine.http.query_power, SQL in
engine.sql.aggregates / boolean / search, execution under the access rules in
engine.resources.query_power, OpenAPI in engine.features.openapi.query_power.
"""
