"""Benchmarks.

``python -m benchmarks`` (``make bench``): tt-storage against raw asyncpg (the limit) and the
seed's SQLAlchemy layer, on a database of its own; ``--quick`` is a smoke run. See BENCHMARKS.md.
``benchmarks.generate`` / ``benchmarks.scale``: the admin side at scale (BENCHMARKS_SCALE.md).
"""
