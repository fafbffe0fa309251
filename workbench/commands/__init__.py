"""Subcommands of the ``workbench`` CLI, one module each with ``register(subparsers)``."""
