"""Benchmarks: a synthetic Rubin-scale production and what cm does with it (bench/README.md)."""
