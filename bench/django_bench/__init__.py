"""Bench-only Django settings and URLs: the project plus what the benchmark needs in-process.

Importable as `django_bench` when `bench/` is on `PYTHONPATH` (`_servers.py` sets it).
"""
