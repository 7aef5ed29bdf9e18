"""Resource data types, errors, paths and value checks shared by the codecs.

Type codes are the LwM2M data types of OMA-TS-LightweightM2M_Core V1.1
Appendix C (they fit in 4 bits; the object tables store them so). Values are
plain Python objects:

    STRING, CORELNK  str             INTEGER, TIME  int (64-bit signed)
    UNSIGNED         int (0..2**64-1) FLOAT          float
    BOOLEAN          bool            OPAQUE         bytes
    OBJLNK           2-tuple (object ID, instance ID), each 0..65535
    NONE             no value (executable resources)

`ObjLnk(obj, inst)` builds a checked Objlnk tuple (a tuple subclass cannot be
built with two arguments on MicroPython, so values are plain tuples).

Errors: `FormatError(ValueError)` for a malformed or unrepresentable payload
(the DM layer answers 4.00, or 4.06 when encoding), `UnknownPath(KeyError)`
for a value whose resource the schema does not know (4.04).
"""
from micropython import const
from cbor import decode_utf8

NONE = const(0)
STRING = const(1)
INTEGER = const(2)
UNSIGNED = const(3)
FLOAT = const(4)
BOOLEAN = const(5)
OPAQUE = const(6)
TIME = const(7)
OBJLNK = const(8)
CORELNK = const(9)

# Object definition (XML) type names -> type codes
NAMES = {"String": STRING, "Integer": INTEGER, "Unsigned Integer": UNSIGNED,
         "Float": FLOAT, "Boolean": BOOLEAN, "Opaque": OPAQUE, "Time": TIME,
         "Objlnk": OBJLNK, "Corelnk": CORELNK, "": NONE, "none": NONE}

_I64 = 1 << 63
_U64 = 1 << 64


class FormatError(ValueError):
    """The payload is malformed, or the records cannot be put in this format."""


class UnknownPath(KeyError):
    """The payload names a resource the schema (type_of) does not know."""

    def __str__(self):
        return "unknown resource %s" % (self.args[0] if self.args else "")


def ObjLnk(obj, inst):
    """An Objlnk value: the tuple (obj, inst), both 0..65535."""
    if not (_is_u16(obj) and _is_u16(inst)):
        raise FormatError("Objlnk parts must be 0..65535")
    return (obj, inst)


def _is_u16(n):
    return isinstance(n, int) and not isinstance(n, bool) and 0 <= n <= 0xFFFF


# ---------------------------------------------------------------- paths

def path_str(path):
    """(3, 0, 1) -> "/3/0/1"; () -> "/"."""
    return "/" + "/".join([str(p) for p in path])


def parse_path(text):
    """"/3/0/1" -> (3, 0, 1); "/" -> (). FormatError unless every part is a
    decimal ID 0..65535 without sign or leading zeros, at most 4 of them."""
    if not isinstance(text, str) or not text.startswith("/"):
        raise FormatError("path must start with /")
    if text == "/":
        return ()
    parts = text[1:].split("/")
    if len(parts) > 4:
        raise FormatError("path too deep")
    out = []
    for p in parts:
        out.append(parse_id(p))
    return tuple(out)


def parse_id(p):
    if not p or len(p) > 5 or (len(p) > 1 and p[0] == "0") or not _digits(p):
        raise FormatError("bad path component %r" % p)
    n = int(p)
    if n > 0xFFFF:
        raise FormatError("ID above 65535")
    return n


def _digits(s):
    for c in s:
        if not "0" <= c <= "9":
            return False
    return True


def check_path(path, lo=3, hi=4):
    """Raise FormatError unless `path` is a tuple of lo..hi IDs."""
    if not isinstance(path, tuple) or not lo <= len(path) <= hi:
        raise FormatError("a value needs a resource or resource instance path")
    for p in path:
        if not _is_u16(p):
            raise FormatError("path IDs must be 0..65535")


def under(path, base):
    """True if `path` is `base` or lies below it."""
    return path[:len(base)] == base


# ---------------------------------------------------------------- values

def infer(value):
    """The type code a Python value stands for when there is no schema."""
    if value is True or value is False:
        return BOOLEAN
    if isinstance(value, int):
        return UNSIGNED if value >= _I64 else INTEGER
    if isinstance(value, float):
        return FLOAT
    if isinstance(value, str):
        return STRING
    if isinstance(value, (bytes, bytearray, memoryview)):
        return OPAQUE
    if isinstance(value, tuple):
        return OBJLNK
    raise FormatError("no LwM2M type for %s" % type(value).__name__)


def coerce(t, value):
    """`value` checked (and converted where lossless) for type `t`; a type
    of None means "whatever the Python type says". Returns (t, value)."""
    if t is None:
        t = infer(value)
    is_bool = value is True or value is False
    if t == FLOAT:
        if isinstance(value, (int, float)) and not is_bool:
            try:
                return t, float(value)
            except OverflowError:
                pass
    elif t in (INTEGER, TIME):
        if isinstance(value, int) and not is_bool and -_I64 <= value < _I64:
            return t, value
    elif t == UNSIGNED:
        if isinstance(value, int) and not is_bool and 0 <= value < _U64:
            return t, value
    elif t == BOOLEAN:
        if is_bool:
            return t, value
    elif t in (STRING, CORELNK):
        if isinstance(value, str):
            return t, value
    elif t == OPAQUE:
        if isinstance(value, (bytes, bytearray, memoryview)):
            return t, bytes(value)
    elif t == OBJLNK:
        if isinstance(value, tuple) and len(value) == 2:
            return t, ObjLnk(value[0], value[1])
    raise FormatError("value does not fit type %d" % t)


def schema_type(type_of, path):
    """type_of(path) for a decoded value: UnknownPath if None, FormatError
    for an executable resource (it has no value)."""
    t = type_of(path)
    if t is None:
        raise UnknownPath(path_str(path))
    if t == NONE:
        raise FormatError("executable resource %s has no value" % path_str(path))
    return t


def records(recs, base, lo=3, timed=False):
    """Check encoder input: each record (path, value) or (path, value, time)
    with path a tuple of lo..4 IDs at or below `base`. Returns a list of
    (path, value, time) with time None when absent."""
    check_path(base, 0, 4)
    out = []
    for r in recs:
        if not isinstance(r, tuple) or not 2 <= len(r) <= 3:
            raise FormatError("a record is (path, value[, time])")
        path = r[0]
        check_path(path, lo)
        if not under(path, base):
            raise FormatError("record %s outside %s" % (path_str(path), path_str(base)))
        time = r[2] if len(r) == 3 else None
        if time is not None:
            if not timed:
                raise FormatError("this format carries no time")
            if time is True or time is False or not isinstance(time, (int, float)) \
                    or time - time != 0:
                raise FormatError("time must be a finite number")
        out.append((path, r[1], time))
    return out


def typed(type_of, path, value):
    """coerce() with the schema type when a schema is given (encoders)."""
    t = type_of(path) if type_of is not None else None
    if t == NONE:
        raise FormatError("executable resource %s has no value" % path_str(path))
    return coerce(t, value)


def utf8(b):
    """Strict UTF-8 decoding on both ports (see cbor.decode_utf8)."""
    try:
        return decode_utf8(b)
    except ValueError:  # UnicodeError too
        raise FormatError("invalid UTF-8")
