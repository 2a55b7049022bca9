"""Running an ASGI app with uvicorn in a background thread, on loopback (tests, benchmarks, notebooks)."""

from __future__ import annotations

import logging
import threading
import time
from types import TracebackType

import uvicorn
from starlette.types import ASGIApp

logger = logging.getLogger(__name__)


class BackgroundServer:
    """A uvicorn server in a daemon thread.

    Examples:
        >>> from nacre.serve import BackgroundServer, MockUpstream
        >>> with BackgroundServer(MockUpstream()) as url:  # doctest: +SKIP
        ...     print(url)  # http://127.0.0.1:<port>

    Args:
        app: The ASGI application.
        host: Address to bind.
        port: Port; 0 picks a free one.
        log_level: uvicorn's log level.
        startup_timeout_s: Most seconds to wait for the server to accept connections.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        log_level: str = "warning",
        startup_timeout_s: float = 60.0,
    ) -> None:
        self._config = uvicorn.Config(app, host=host, port=port, log_level=log_level, access_log=False, lifespan="auto")
        self._server = uvicorn.Server(self._config)
        self._thread: threading.Thread | None = None
        self._timeout = startup_timeout_s
        self.url = ""

    def start(self) -> str:
        """Start serving.

        Returns:
            The base URL, e.g. ``http://127.0.0.1:53211``.

        Raises:
            RuntimeError: If the server does not start in time (port in use, failing start-up).
        """
        self._thread = threading.Thread(target=self._server.run, name="nacre-uvicorn", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + self._timeout
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError(f"the server on {self._config.host}:{self._config.port} failed to start")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the server did not start within {self._timeout:g} s")
            time.sleep(0.01)
        sockets = [s for server in self._server.servers for s in server.sockets]
        port = sockets[0].getsockname()[1] if sockets else self._config.port
        self.url = f"http://{self._config.host}:{port}"
        return self.url

    def stop(self) -> None:
        """Stop serving and wait for the thread (running the app's shutdown)."""
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=30)
            if self._thread.is_alive():
                logger.warning("the background server did not stop within 30 s")
            self._thread = None

    def __enter__(self) -> str:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
