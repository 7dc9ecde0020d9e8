"""The HTTP layer: parse, call the domain, serialise; domain errors to statuses."""
