"""``python -m mlops_course.service.server --bundle DIR [--host H] [--port N]``: uvicorn
serving one bundle (``mlops-course serve`` exports the bundle, then runs this in a fresh
interpreter, so the server never loads scikit-learn or pandas).

One worker process, one event loop, ONNX Runtime on one thread: on a 2-core laptop the
other core is left to the clients (and to the OS).
"""

from __future__ import annotations

import argparse
import os
import sys


def main(argv: list[str] | None = None) -> int:
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")  # before numpy and onnxruntime load
    parser = argparse.ArgumentParser(prog="mlops_course.service.server")
    parser.add_argument("--bundle", required=True, help="a folder written by export_bundle")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--log-file", default=None, help="JSON lines, one per prediction")
    parser.add_argument("--canary", default=None, help="a second bundle, for a canary")
    parser.add_argument("--canary-weight", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)

    import uvicorn

    from mlops_course.errors import MlopsCourseError
    from mlops_course.service.app import create_app

    try:
        app = create_app(args.bundle, log_path=args.log_file, canary=args.canary,
                         canary_weight=args.canary_weight, seed=args.seed)
    except MlopsCourseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"serving {app.version} on http://{args.host}:{args.port} (docs: /docs)", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False,
                workers=1, timeout_graceful_shutdown=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
