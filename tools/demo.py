"""make demo: unix-port MicroPython nodes talking CoAP on loopback, step by step.

Starts a CoAP node (tools/coapd.py) on the unix-port MicroPython and drives it
with our command-line client (tools/coap.py), also on the unix port: GET, PUT,
POST, DELETE, a block-wise GET of 4 KB, a block-wise PUT, and an observation.
Each step prints its timing; the run ends with a summary and exits 0 only if
every step happened as stated. Every process it starts is stopped on exit,
also on Ctrl-C.
"""
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from host_tests.cpython.procs import MICROPYTHON, ROOT, free_port, start_line_process  # noqa: E402

STEPS = []


def client(*args):
    start = time.monotonic()
    proc = subprocess.run([MICROPYTHON, "tools/coap.py"] + list(args), cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    return proc.returncode, proc.stdout, (time.monotonic() - start) * 1000


def step(title, ok, ms, detail=""):
    STEPS.append((title, ok, ms))
    mark = "ok  " if ok else "FAIL"
    print("[%s] %-52s %7.1f ms  %s" % (mark, title, ms, detail))


def run(uri):
    rc, out, ms = client("get", uri + "hello")
    step("GET /hello", rc == 0 and "Hello from MicroPython" in out, ms,
         out.splitlines()[0] if out else "")
    rc, out, ms = client("put", uri + "store", "--payload", "light=on")
    step("PUT /store  (2.04 Changed)", rc == 0 and out.startswith("2.04"), ms)
    rc, out, ms = client("post", uri + "store", "--payload", ";dim=40")
    step("POST /store (2.01 Created)", rc == 0 and out.startswith("2.01"), ms)
    rc, out, ms = client("get", uri + "store")
    step("GET /store sees both writes", rc == 0 and "light=on;dim=40" in out, ms)
    rc, out, ms = client("get", uri + "big")
    lines = [line for line in out.splitlines() if line[:4].isdigit()]
    step("GET /big: 4096 bytes in 1024-byte blocks", rc == 0 and len(lines) == 64, ms)
    upload = os.path.join(ROOT, "build", "demo-upload.bin")
    os.makedirs(os.path.dirname(upload), exist_ok=True)
    with open(upload, "wb") as f:
        f.write(b"x" * 3000)
    rc, out, ms = client("put", uri + "store", "--payload-file", upload)
    rc2, out2, ms2 = client("get", uri + "store")
    step("PUT 3000 bytes block-wise, read back", rc == 0 and rc2 == 0
         and "x" * 3000 in out2, ms + ms2)
    rc, out, ms = client("get", uri + "counter", "--observe", "3", "--timeout", "5")
    values = [int(v) for v in out.splitlines() if v.isdigit()]
    step("Observe /counter: 3 notifications, increasing", rc == 0 and len(values) == 3
         and values == sorted(values) and len(set(values)) == 3, ms, str(values))
    rc, out, ms = client("delete", uri + "store")
    step("DELETE /store (2.02 Deleted)", rc == 0 and out.startswith("2.02"), ms)
    rc, out, ms = client("get", uri + "nothing")
    step("GET /nothing answers 4.04, exit status 1", rc == 1 and out.startswith("4.04"), ms)


def main():
    port = free_port()
    print("Starting a CoAP node on the unix-port MicroPython (%s)" % MICROPYTHON)
    start = time.monotonic()
    node = start_line_process([MICROPYTHON, "tools/coapd.py", "--bind",
                               "127.0.0.1:%d" % port, "--period", "300",
                               "--duration", "300"], "listening on")
    step("node up on 127.0.0.1:%d" % port, True, (time.monotonic() - start) * 1000)

    def stop(*_):
        node.kill()
        raise SystemExit(130)
    signal.signal(signal.SIGTERM, stop)
    try:
        run("coap://127.0.0.1:%d/" % port)
    except KeyboardInterrupt:
        print("interrupted")
        return 130
    finally:
        node.kill()
        node.wait()
    passed = sum(1 for _, ok, _ in STEPS if ok)
    print()
    print("Summary: %d of %d steps as stated; node stopped." % (passed, len(STEPS)))
    return 0 if passed == len(STEPS) else 1


if __name__ == "__main__":
    sys.exit(main())
