"""Where a point lies: the in-memory router over a version's snapshot
(`router`, `snapshot`, `spatial_index`, `raster_kernels`), its result types (`types`)
and addresses: read into their parts (`addresses`), found as points (`geocode`).

This module is the package's entry point: api/, geodata/, gridmap_cli/ and
web_map/ use only what `__all__` lists (tests/test_foundation.py checks it).
"""

from gridmap.routing import addresses, geocode
from gridmap.routing.router import BatchRouting, Router
from gridmap.routing.types import PointRouter

__all__ = [
    "BatchRouting",
    "PointRouter",
    "Router",
    "addresses",
    "geocode",
]
