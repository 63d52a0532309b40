"""Named crash points, for the fault tests (tests/test_faults.py) only.

With ``SFE_CRASH_POINT=<name>`` set, a process that reaches that point creates the file named by
``SFE_CRASH_POINT_FILE`` and then waits to be killed, so a test can SIGKILL it at an exact moment
(half of the partitions written, the new serving DB copied but not yet swapped in, …). Without the
variable a crash point does nothing.
"""

from __future__ import annotations

import os
import time
from pathlib import Path


def reached(name: str) -> None:
    if os.environ.get("SFE_CRASH_POINT") != name:
        return
    marker = os.environ.get("SFE_CRASH_POINT_FILE")
    if marker:
        Path(marker).write_text(f"{os.getpid()}\n", encoding="utf-8")
    while True:  # until the test kills us
        time.sleep(1)
