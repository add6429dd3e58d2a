"""A process's resident memory, from ``/proc/self`` (Linux), for the benchmarks' child processes.

``status_bytes("VmRSS")`` is the resident set now, ``status_bytes("VmHWM")`` its high-water mark,
which :func:`reset_peak` sets back to the current RSS, so that a peak can be taken around one call.
"""

from __future__ import annotations


def status_bytes(field: str) -> int | None:
    """A ``/proc/self/status`` memory field (``VmRSS``, ``VmHWM``) in bytes; None off Linux."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def reset_peak() -> bool:
    """Reset ``VmHWM`` to the current RSS (Linux >= 4.0); False where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False
