"""Datasets: content-addressed versions, diff, validation, checkout and lineage."""
