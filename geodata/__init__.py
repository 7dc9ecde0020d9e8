"""Data in and out: readers, normalisation, validation, grid generation, import/export, demos."""
