"""Benchmarks: ``python -m bench NAME``, each writing JSON and a PNG under bench/results/."""
