"""Server-side timestamps of one Explore answer, for the classroom benchmark (off unless asked for).

With `VITDEMO_TIMING_LOG=/path/file.jsonl` set, `mark("top3", digest, model_index)` appends one JSON
line {"t": wall-clock seconds, "session": id, "event": ..., "digest": ..., "model": ...}. The
benchmark records the wall-clock time of each upload and reads this file back, so it can report the
server's own answer time (upload → element handed to Streamlit) next to what the browser shows:
on a 2-core machine twenty tabs in one Chromium are a load of their own, and the two must not be
confused. Without the variable `mark` is a no-op costing one dict lookup.
"""

from __future__ import annotations

import json
import os
import threading
import time

from streamlit.runtime.scriptrunner import get_script_run_ctx

TIMING_LOG_ENV = "VITDEMO_TIMING_LOG"
_WRITE_LOCK = threading.Lock()


def mark(event: str, digest: str = "", model: int | None = None) -> None:
    """Record that `event` happened now in this session (for image `digest`, model number `model`)."""
    path = os.environ.get(TIMING_LOG_ENV)
    if not path:
        return
    ctx = get_script_run_ctx()
    line = {
        "t": time.time(),
        "session": ctx.session_id if ctx else None,
        "event": event,
        "digest": digest[:12],
        "model": model,
    }
    with _WRITE_LOCK, open(path, "a") as log:
        log.write(json.dumps(line) + "\n")
