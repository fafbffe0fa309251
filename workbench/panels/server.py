"""The Voilà server behind ``workbench app``, with the Jupyter server's host check switched on.

Voilà's standalone server sets ``allow_remote_access=True``, which turns off jupyter_server's
``Host:`` header check; a page on another site could then reach the loopback server through
DNS rebinding.  :class:`LoopbackVoila` puts the check back: only loopback addresses and
``localhost`` are accepted as ``Host`` (every other name gets 403, token or not).  The token
and the kernel culling come in as configuration, never as command-line arguments.
"""
from __future__ import annotations

from typing import Any


def loopback_voila():
    """The Voilà application class with the host check on (imported lazily: Voilà is optional)."""
    from voila.app import Voila

    class LoopbackVoila(Voila):
        """Voilà that refuses requests whose ``Host`` is not loopback or ``localhost``."""

        def init_settings(self):
            settings = super().init_settings()
            settings["allow_remote_access"] = False
            settings["local_hostnames"] = ["localhost"]
            return settings

    return LoopbackVoila


def serve(argv: list[str], config: dict[str, Any]) -> None:
    """Run Voilà in this process with ``argv`` (public options) and ``config`` (token, culling)."""
    from traitlets.config import Config

    app = loopback_voila()(config=Config(config))
    app.initialize(argv)
    app.start()
