"""Benchmarks: python3 dev.py bench [--quick]; results in docs/benchmarks.md."""
