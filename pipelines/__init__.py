"""Dagster code location for SFE: one Definitions object built from defs/<area>/."""
