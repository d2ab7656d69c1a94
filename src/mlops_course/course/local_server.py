"""Run a real WSGI server on 127.0.0.1 in a background thread, for the length of a
``with`` block: lessons talk to their apps over HTTP, then nothing is left running."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def wsgi_server(app: Any, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve a WSGI app (Flask, …) with werkzeug's server; yield its base URL.

    ``port=0`` picks a free port. The server is shut down when the block ends,
    even if it raised.

    Examples
    --------
    >>> from flask import Flask
    >>> app = Flask("demo")
    >>> _ = app.get("/")(lambda: "hi")
    >>> import urllib.request
    >>> with wsgi_server(app) as url:
    ...     urllib.request.urlopen(url + "/").read()
    b'hi'
    """
    from werkzeug.serving import WSGIRequestHandler, make_server

    class QuietHandler(WSGIRequestHandler):
        def log_request(self, *args: Any, **kwargs: Any) -> None:  # one line per request: noise
            pass

    server = make_server(host, port, app, threaded=True, request_handler=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="wsgi-server", daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
