"""Reproduction and speed benchmarks (run as scripts; see each module's docstring)."""
