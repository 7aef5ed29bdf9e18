"""application/vnd.oma.lwm2m+cbor (content format 11544), LwM2M CBOR of
OMA-TS-LightweightM2M_Core V1.2 §7.4.6.

The payload is one CBOR map keyed by path components from the Object ID
down, whatever the request path: {3: {0: {0: "Open Mobile Alliance", 6: {0:
1, 1: 5}}}}. A key may also be an array of several components ({[3, 0]:
{...}} or {[3, 0, 0]: "..."}), and both forms may mix. Leaves are the
values:

    Integer      integer              Unsigned Integer  unsigned integer
    Float        float (shortest exact width)
    Boolean      true / false         String, Corelnk   text string
    Opaque       byte string          Objlnk            text "objID:instID"
    Time         tag 1 (epoch-based date/time) around an integer

encode(records, base, type_of=None) writes nested maps, one level per path
component, definite lengths, keys in ascending order (RFC 8949 §4.2.1
deterministic encoding); pass type_of so Time values get their tag.
decode(payload, base, type_of) reads either key form, indefinite lengths
too; a path given twice, a value above a resource, a map below a resource
instance, or a record outside `base` is a FormatError.
"""
import cbor
from lwm2m.formats.types import (TIME, OBJLNK, FLOAT, FormatError, records,
                                 typed, coerce, schema_type, check_path, under,
                                 path_str)
from lwm2m.formats.text import parse_objlnk
from lwm2m.formats.senml_cbor import head


# ---------------------------------------------------------------- encoding

def encode(recs, base, type_of=None):
    recs = records(recs, base)
    recs.sort(key=lambda r: r[0])
    out = bytearray()
    _map(out, recs, 0, type_of)
    return bytes(out)


def _map(out, recs, depth, type_of):
    groups = []
    for r in recs:
        if groups and groups[-1][0] == r[0][depth]:
            groups[-1][1].append(r)
        else:
            groups.append((r[0][depth], [r]))
    head(out, 5, len(groups))
    for key, group in groups:
        head(out, 0, key)
        path, value, _ = group[0]
        if len(path) == depth + 1:
            if len(group) != 1:
                raise FormatError("%s given twice or with instances" % path_str(path))
            t, v = typed(type_of, path, value)
            if t == OBJLNK:
                v = "%d:%d" % v
            elif t == TIME:
                v = cbor.Tag(1, v)
            out.extend(cbor.dumps(v))
        else:
            _map(out, group, depth + 1, type_of)


# ---------------------------------------------------------------- decoding

def decode(payload, base, type_of):
    check_path(base, 0, 4)
    try:
        data = cbor.loads(bytes(payload))
    except ValueError as e:
        raise FormatError("bad CBOR: %s" % e)
    if not isinstance(data, dict):
        raise FormatError("LwM2M CBOR is a map")
    out = []
    _walk(data, (), base, type_of, out)
    paths = set([r[0] for r in out])
    if len(paths) != len(out):
        raise FormatError("a path given twice")
    for path in paths:
        if len(path) == 4 and path[:3] in paths:
            raise FormatError("%s has both a value and instances" % path_str(path[:3]))
    return out


def _walk(node, prefix, base, type_of, out):
    for key, value in node.items():
        parts = key if isinstance(key, tuple) else (key,)
        if not parts:
            raise FormatError("empty path key")
        for p in parts:
            if not isinstance(p, int) or p is True or p is False or not 0 <= p <= 0xFFFF:
                raise FormatError("path keys are IDs 0..65535")
        path = prefix + parts
        if len(path) > 4:
            raise FormatError("path deeper than a resource instance")
        if isinstance(value, dict):
            _walk(value, path, base, type_of, out)
            continue
        check_path(path)
        if not under(path, base):
            raise FormatError("record %s outside the request path" % path_str(path))
        out.append((path, _value(path, value, type_of)))


def _value(path, v, type_of):
    t = schema_type(type_of, path)
    if isinstance(v, cbor.Tag):
        if t != TIME or v.tag != 1:
            raise FormatError("unexpected tag %d" % v.tag)
        v = v.value
    if t == OBJLNK:
        if not isinstance(v, str):
            raise FormatError("an Objlnk is a text string")
        v = parse_objlnk(v)
    elif t != FLOAT and isinstance(v, float):
        raise FormatError("float for an integer resource")
    return coerce(t, v)[1]
