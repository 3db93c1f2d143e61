"""Benchmarks.

``python -m benchmarks`` (``make bench``): tt-storage against raw asyncpg (the limit) and the
seed's SQLAlchemy layer, on a database of its own; ``--quick`` is a smoke run.
See docs/BENCHMARKS.md.
``benchmarks.generate`` / ``benchmarks.scale``: the admin side at scale (docs/BENCHMARKS_SCALE.md).
"""
