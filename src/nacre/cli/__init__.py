"""The ``nacre`` command line."""

from nacre.cli._app import app, main

__all__ = ["app", "main"]
