"""The HTTP server: a thin FastAPI layer over `memskill.Memory` speaking the MemOS Cloud v1 API."""

from memskill.server.app import create_app

__all__ = ["create_app"]
