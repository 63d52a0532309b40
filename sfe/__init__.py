"""SFE core package: domain code shared by the pipelines, the dashboards and the HTTP API."""

__version__ = "0.1.0"
