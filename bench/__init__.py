"""Benchmarks: scripts that print figures (no assertions)."""
