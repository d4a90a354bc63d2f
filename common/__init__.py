"""Shared library of the assistant service. Nothing here imports from `functions/`."""
