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
"""
argv = []
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
