"""Everything that comes from a submission is data to be checked, never trusted as is.

Two jobs, one module:

* :func:`check_reply` validates a worker's reply before the grader uses it: known
  status, bounded text, a finite ``seconds``, and a value that is plain JSON data with
  finite numbers, 64-bit integers, bounded depth and size (a forged NaN or a
  thousand-digit number becomes an ``error`` with a reason, never a crash);
* :func:`clean_text` makes a submission-controlled string safe to print or write:
  lone surrogates and undecodable bytes become visible escapes, control and format
  characters (terminal escapes, carriage returns, bidi overrides) are escaped, and
  the length is bounded.
"""

from __future__ import annotations

import math
import unicodedata
from typing import Any

MAX_DEPTH = 100
MAX_INT = 2**63
MAX_TEXT = 2000
STATUSES = ("ok", "error", "timeout", "memory")


class BadReply(ValueError):  # noqa: N818 - reads as "a bad reply"
    """A reply from the sandbox that is not what the protocol allows."""


def clean_text(text: Any, limit: int = MAX_TEXT, *, newlines: bool = True) -> str:
    """``text`` as a safe, bounded, printable string.

    Examples
    --------
    >>> clean_text("ok\\x1b[2J\\rdone")
    'ok\\\\x1b[2J\\\\rdone'
    >>> clean_text("caf\\udce9")
    'caf\\\\udce9'
    >>> clean_text("a" * 10, 4)
    'aaa…'
    """
    if not isinstance(text, str):
        text = str(text)
    if len(text) > 4 * limit:  # bound the work before escaping
        text = text[: 4 * limit]
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    out = []
    for char in text:
        if char == "\n" and newlines:
            out.append(char)
        elif char == "\t":
            out.append(char if newlines else " ")
        elif unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp", "Cs", "Co"):
            code = ord(char)
            out.append({"\n": "\\n", "\r": "\\r"}.get(char) or (
                f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"))
        else:
            out.append(char)
    text = "".join(out)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def check_value(value: Any, depth: int = 0) -> Any:
    """Return ``value`` if it is plain data the grader accepts, else raise BadReply."""
    if depth > MAX_DEPTH:
        raise BadReply(f"the probe's data is nested more than {MAX_DEPTH} levels deep")
    kind = type(value)
    if value is None or kind is bool or kind is str:
        return value
    if kind is int:
        if not -MAX_INT <= value <= MAX_INT:
            raise BadReply("the probe's data holds an integer beyond 64 bits")
        return value
    if kind is float:
        if not math.isfinite(value):
            raise BadReply(f"the probe's data holds a non-finite number ({value!r})")
        return value
    if kind is list:
        return [check_value(v, depth + 1) for v in value]
    if kind is dict:
        return {check_value(k, depth + 1) if type(k) is str else _bad_key(k):
                check_value(v, depth + 1) for k, v in value.items()}
    raise BadReply(f"the probe's data holds a {kind.__name__}, which is not plain data")


def _bad_key(key: Any) -> str:
    raise BadReply(f"the probe's data has a {type(key).__name__} key")


def check_reply(reply: dict[str, Any]) -> dict[str, Any]:
    """A reply reduced to what the grader uses, validated; a bad one becomes an error."""
    status = reply.get("status")
    seconds = reply.get("seconds", 0.0)
    if type(seconds) not in (int, float) or not (0 <= seconds < 1e6):
        seconds = 0.0
    checked: dict[str, Any] = {"status": status if status in STATUSES else "error",
                               "seconds": float(seconds)}
    if status not in STATUSES:
        checked["error"] = f"the sandbox sent an unknown status {clean_text(status, 80)!r}"
    elif status != "ok":
        checked["error"] = clean_text(reply.get("error", ""), MAX_TEXT)
    else:
        try:
            checked["value"] = check_value(reply.get("value"))
        except (BadReply, RecursionError) as exc:
            checked.update(status="error", error=f"the grader refused the probe's reply: {exc}")
    tampered = reply.get("tampered")
    if tampered is not None:
        items = tampered if type(tampered) is list else [tampered]
        checked["tampered"] = [clean_text(t, 120, newlines=False) for t in items[:20]]
    return checked
