"""Compiled kernels (private). Only the Python API layer calls these; they never validate."""
