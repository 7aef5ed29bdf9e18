"""CPython stand-in for MicroPython's `micropython` module (only what lib/ uses)."""


def const(value):
    """On MicroPython `const()` folds the value at compile time; here it is identity."""
    return value
