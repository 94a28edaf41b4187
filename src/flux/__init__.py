"""Flux: a self-hostable, PostgreSQL-first backend platform."""

__version__ = "0.1.0"
