"""The REST API (web hooks): read every level, act on it. Mounted at ``/api/v1/``."""
