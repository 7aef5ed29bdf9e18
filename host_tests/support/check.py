"""Assertion helpers that work under pytest and under the MicroPython runner alike."""
import json

ROOT = __file__.rsplit("/host_tests/", 1)[0]


class raises:
    """`with raises(ValueError): ...` -- fails unless the block raises `exc`."""

    def __init__(self, exc):
        self.exc = exc
        self.value = None

    def __enter__(self):
        return self

    def __exit__(self, kind, value, tb):
        if kind is None:
            raise AssertionError("did not raise %s" % self.exc.__name__)
        if not issubclass(kind, self.exc):
            return False
        self.value = value
        return True


def load_vectors(name):
    """Load a JSON vector file shipped in host_tests/vectors/."""
    with open(ROOT + "/host_tests/vectors/" + name) as f:
        return json.load(f)


def unhex(text):
    return bytes.fromhex(text) if text else b""


def empty_dir(d):
    """Remove the files of directory `d` (missing: nothing to do); both ports."""
    import os
    try:
        names = os.listdir(d)
    except OSError:
        return
    for n in names:
        os.remove(d + "/" + n)
