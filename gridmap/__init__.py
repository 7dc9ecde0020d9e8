"""gridmap's domain: areas and versions, teams, events, routing, the workflow (no web stack here)."""

__version__ = "0.1.0"
