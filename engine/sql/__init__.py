"""Layer 2: the spec turned into SQL: DDL, and one compiled statement per query shape."""
