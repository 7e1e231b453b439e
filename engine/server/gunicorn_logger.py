"""gunicorn's own messages (worker booted, worker killed, shutting down) in the engine's log format."""

from __future__ import annotations

import logging

from gunicorn import glogging

from engine.kernel.logs import LogSettings, configure_logging


class GunicornLogger(glogging.Logger):
    """Configures the engine's logging in the master (workers inherit it) and routes gunicorn's lines to it."""

    def setup(self, cfg) -> None:
        super().setup(cfg)
        configure_logging(LogSettings.from_env())
        for logger in (self.error_log, self.access_log):
            for handler in list(logger.handlers):
                logger.removeHandler(handler)
            logger.propagate = True
        self.error_log.setLevel(logging.getLogger().level)
        self.access_log.disabled = True  # one line per request comes from engine.access
