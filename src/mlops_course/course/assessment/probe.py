"""HTTP probe of a student's service, run by the checker as ``python -I -S probe.py PORT WAIT``.

Standard library only (it starts in milliseconds, and runs inside the service's network
namespace when there is one). Reads a JSON list of requests on stdin
(``{"name", "method", "path", "body", "content_type"}``), waits up to ``WAIT`` seconds for
``GET /health`` to answer at all, sends each request and prints one JSON object:
``{"ready_s": float, "results": [{"name", "status", "body"}]}``. Exit status 1: never ready.
"""

import http.client
import json
import sys
import time

MAX_BODY = 100_000


def _request(port, method, path, body=None, content_type="application/json"):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        headers = {"Content-Type": content_type} if body is not None else {}
        connection.request(method, path, body=body.encode() if body is not None else None,
                           headers=headers)
        response = connection.getresponse()
        return response.status, response.read(MAX_BODY).decode("utf-8", "replace")
    finally:
        connection.close()


def main():
    port, wait_s = int(sys.argv[1]), float(sys.argv[2])
    requests = json.loads(sys.stdin.read())
    start = time.monotonic()
    while True:
        try:
            _request(port, "GET", "/health")
            break
        except (OSError, http.client.HTTPException):
            if time.monotonic() - start > wait_s:
                return 1
            time.sleep(0.2)
    ready_s = time.monotonic() - start
    results = []
    for item in requests:
        try:
            status, body = _request(port, item["method"], item["path"], item.get("body"),
                                    item.get("content_type", "application/json"))
        except (OSError, http.client.HTTPException) as exc:
            status, body = None, f"{type(exc).__name__}: {exc}"
        results.append({"name": item["name"], "status": status, "body": body})
    print(json.dumps({"ready_s": ready_s, "results": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
