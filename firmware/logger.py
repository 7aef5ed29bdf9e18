"""Console log lines at a chosen level, for the firmware.

    log = Log("info", clock_ms)
    log.info("text")          # "[   12.345] info: text"
    log.always("registered at ...")   # printed at every level

One line per event on stdout, flushed at once (a supervisor or test reads
them as they come). Callers never pass key material; nothing here formats
objects on their own.
"""
import sys

LEVELS = ("debug", "info", "warning", "error")


class Log:
    def __init__(self, level="info", clock=None, out=None):
        self.level = LEVELS.index(level)
        self.clock = clock
        self.out = out or sys.stdout

    def _write(self, tag, text):
        t = self.clock() if self.clock is not None else 0
        line = "[%5d.%03d] %s%s\n" % (t // 1000, t % 1000, tag, text)
        self.out.write(line)
        flush = getattr(self.out, "flush", None)
        if flush is not None:
            flush()

    def debug(self, text):
        if self.level <= 0:
            self._write("debug: ", text)

    def info(self, text):
        if self.level <= 1:
            self._write("", text)

    def warning(self, text):
        if self.level <= 2:
            self._write("warning: ", text)

    def error(self, text):
        self._write("error: ", text)

    def always(self, text):
        self._write("", text)

    def enabled(self, level):
        return LEVELS.index(level) >= self.level
