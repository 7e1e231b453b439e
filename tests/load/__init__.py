"""Reliability toolkit shared by the fault, property and fuzz tests and the load test.

Importable from the test modules as ``load`` (pytest puts tests/ on sys.path) and runnable as
``python -m tests.load`` from the repository root (the nothing-lost load test, see __main__.py).
"""
