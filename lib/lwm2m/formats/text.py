"""text/plain (content format 0): one resource or resource instance value
(OMA-TS-LightweightM2M_Core V1.1 §7.4.1 and Appendix C).

    String, Corelnk   the UTF-8 text itself
    Integer, Time     signed decimal ("-12"), Time in seconds since 1970
    Unsigned Integer  decimal
    Float             decimal, the shortest that reads back exactly ("22.5")
    Boolean           "1" or "0"
    Objlnk            "objID:instID" ("3:0")
    Opaque            base64 (RFC 4648 §4, padded)

encode(records, base, type_of=None) -> bytes and
decode(payload, base, type_of) -> [(base, value)]: exactly one value, at
`base` itself, which must be a resource or resource instance path.
"""
from lwm2m.formats.types import (STRING, INTEGER, UNSIGNED, FLOAT, BOOLEAN,
                                 OPAQUE, TIME, OBJLNK, CORELNK, FormatError,
                                 records, typed, coerce, schema_type, utf8,
                                 check_path, parse_id)
from lwm2m.formats.numtext import float_text, parse_int, parse_float, b64encode, b64decode


def single(recs, base, type_of):
    """The one (type, value) a single-value format carries for `base`."""
    recs = records(recs, base)
    if len(recs) != 1 or recs[0][0] != base:
        raise FormatError("a single-value format holds exactly the value at the request path")
    return typed(type_of, base, recs[0][1])


def encode(recs, base, type_of=None):
    t, v = single(recs, base, type_of)
    if t in (STRING, CORELNK):
        return v.encode()
    if t == BOOLEAN:
        return b"1" if v else b"0"
    if t == FLOAT:
        return float_text(v).encode()
    if t == OPAQUE:
        return b64encode(v).encode()
    if t == OBJLNK:
        return ("%d:%d" % v).encode()
    return str(v).encode()      # INTEGER, UNSIGNED, TIME


def decode(payload, base, type_of):
    check_path(base)
    t = schema_type(type_of, base)
    s = utf8(bytes(payload))
    if t in (STRING, CORELNK):
        v = s
    elif t in (INTEGER, UNSIGNED, TIME):
        v = parse_int(s)
    elif t == FLOAT:
        v = parse_float(s)
    elif t == BOOLEAN:
        if s not in ("0", "1"):
            raise FormatError("Boolean text must be 0 or 1")
        v = s == "1"
    elif t == OPAQUE:
        v = b64decode(s)
    elif t == OBJLNK:
        v = parse_objlnk(s)
    else:
        raise FormatError("unknown type code %d" % t)
    return [(base, coerce(t, v)[1])]


def parse_objlnk(s):
    """"66:0" -> (66, 0)."""
    i = s.find(":")
    if i < 0:
        raise FormatError("Objlnk text must be objID:instID")
    return (parse_id(s[:i]), parse_id(s[i + 1:]))
