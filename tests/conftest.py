"""Shared fixtures live in engine.testing (a pytest plugin); these add the example app's users."""
