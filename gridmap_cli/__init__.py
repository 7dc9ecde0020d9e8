"""The `gridmap` command line: one door onto the same core the API uses."""
