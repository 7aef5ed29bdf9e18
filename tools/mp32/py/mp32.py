"""Helpers for scripts run by tools/mp32/run.mjs (32-bit wasm MicroPython).

argv: [script, args...], as sys.argv (which this build has but cannot
rebind; run.mjs fills it in place).

then(fn): run fn() after the current code returns to JavaScript and the heap
has been collected. This build never collects while Python code runs
(gc.collect() only marks a collection as pending; the heap grows, or under
--heapsize raises MemoryError, instead), so a script that needs the live heap
or needs garbage freed between steps splits its work into such steps. fn may
queue more steps; they run in order, each after a collection.

run(): where no run.mjs drives the queue (the unix port, CPython), drain it
here, with a gc.collect() before each step, so one script measures the same
way on both interpreters. Under run.mjs it returns at once (driven is True).

serve(handler): under `run.mjs --frames`, the frames read from stdin after the
script (and its queued steps) are handed to handler(kind, body, live) one at a
time, each as a top-level call from JavaScript, so the heap has been
collected when it starts: `live` is gc.mem_alloc() then, before the frame was
read. kind is one byte (bytes), body the frame's bytes; the handler returns
the reply (kind, body), written to stdout as one frame, or None to end.
An exception that escapes it ends the process with an `M` (MemoryError) or
`E` frame (run.mjs), without reaching JavaScript (converting it would need
heap, and a full heap cannot be collected inside the call).
"""
argv = []
FRAME_IN = "/tmp/mp32-frame-in"
FRAME_OUT = "/tmp/mp32-frame-out"
_handler = []
driven = False          # set by run.mjs
_queue = []


def run():
    if driven:
        return
    import gc
    while _queue:
        gc.collect()
        _queue.pop(0)()


def then(fn):
    _queue.append(fn)


def _pending():
    return len(_queue) > 0


def _next():
    _queue.pop(0)()


def serve(handler):
    _handler[:] = [handler]


def _serving():
    return len(_handler) > 0


def _serve_one():
    # 1: replied, 0: the end, 2: MemoryError, 3: another exception (printed). An
    # exception must not reach JavaScript: converting it needs heap, and a full
    # heap cannot be collected before the call returns (run.mjs then hangs).
    import gc
    try:
        live = gc.mem_alloc()           # a top-level call: collected just before
        with open(FRAME_IN, "rb") as f:
            data = f.read()
        reply = _handler[0](data[:1], data[5:], live)
        data = None
        if reply is None:
            return 0
        kind, body = reply
        with open(FRAME_OUT, "wb") as f:
            f.write(kind + len(body).to_bytes(4, "big"))
            f.write(body)
        reply = body = None
        return 1
    except MemoryError:
        return 2
    except BaseException as e:      # noqa: BLE001 - reported to run.mjs
        try:
            import sys
            sys.print_exception(e)
        except BaseException:       # noqa: BLE001
            pass
        return 3
    finally:
        gc.collect()                # only marks a collection pending: done before the next call
