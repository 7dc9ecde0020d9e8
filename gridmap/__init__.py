"""gridmap's domain: areas, versions, teams, events, routing, the workflow (no web stack)."""

__version__ = "0.1.0"
