"""The data console: /console, a server-rendered browser app generated from the spec (docs/console.md)."""
