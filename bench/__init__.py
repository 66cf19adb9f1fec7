"""Benchmark harness of the gateway; run ``bench/run_benchmarks.py`` from the root."""
