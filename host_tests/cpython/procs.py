"""Starting our programs as subprocesses for loopback tests (CPython side)."""
import os
import select
import socket
import subprocess
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MICROPYTHON = os.environ.get("MICROPYTHON") or os.path.join(ROOT, ".venv/bin/micropython")
if not os.path.isabs(MICROPYTHON) and os.sep in MICROPYTHON:
    MICROPYTHON = os.path.join(ROOT, MICROPYTHON)


def free_port(family=socket.AF_INET, host="127.0.0.1"):
    """A UDP port that was free a moment ago on loopback."""
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def start_line_process(argv, ready_text, timeout=20, cwd=ROOT):
    """Start argv; wait until a line containing `ready_text` appears on stdout.
    Raises RuntimeError (with what it printed) if it exits or times out first."""
    proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, bufsize=1)
    seen = []
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        ready, _, _ = select.select([proc.stdout], [], [], 0.1)
        if ready:
            line = proc.stdout.readline()
            if not line:
                break
            seen.append(line)
            if ready_text in line:
                return proc
        elif proc.poll() is not None:
            break
    proc.kill()
    proc.wait()
    raise RuntimeError("%s did not start: %s" % (argv[1:2], "".join(seen)))
