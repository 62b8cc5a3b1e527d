"""The service layer: FastAPI app, settings, storage, privacy at ingest, auth and CLI.

The only package that does I/O (DESIGN.md §2).
"""

__version__ = "0.1.0"
