"""Reproducible benchmark for derivo: ``python -m bench --help``."""
