"""application/vnd.oma.lwm2m+tlv (content format 11542), OMA-TS-LightweightM2M_Core
V1.1 §7.4.3 and Appendix C.

Each TLV is a type byte (bits 7-6: 00 Object Instance, 01 Resource Instance,
10 Multiple Resource, 11 Resource with Value; bit 5: 16-bit identifier; bits
4-3: 0-3 length bytes follow, else bits 2-0 are the length), the identifier,
the length and the value. Values: Integer and Time in 1, 2, 4 or 8 bytes
two's complement, Unsigned Integer in 1, 2, 4 or 8 bytes, Float in 4 or 8
bytes IEEE 754, Boolean in one byte 0 or 1, Objlnk as two 16-bit IDs,
String/Corelnk as UTF-8, Opaque as is.

encode(records, base, type_of=None) writes what a Read of `base` returns:
    /o        one Object Instance TLV per instance (§7.4.3.2)
    /o/i      the Resource and Multiple Resource TLVs of the instance (§7.4.3.1)
    /o/i/r    one Resource TLV, or a Multiple Resource TLV when the records are
              resource instances (4-part paths)
    /o/i/r/ri one Resource Instance TLV
Integers take the fewest bytes that hold them (signed, or unsigned for an
Unsigned Integer resource when type_of says so); floats take 4 bytes when
single precision holds them exactly, else 8. Without type_of the Python type
decides, so pass it: a Float resource holding an int needs it.

decode(payload, base, type_of, new_instance=None) accepts those shapes, and
for an object path also bare resources (a Create without an Object Instance
TLV) when `new_instance` names the instance to create. IDs must agree with
`base`; a resource or instance given twice is an error. Records cannot say
"empty": a Multiple Resource TLV without instances, or an empty Object
Instance TLV, decodes to no records.
"""
import struct
from micropython import const
from lwm2m.formats.types import (STRING, INTEGER, UNSIGNED, FLOAT, BOOLEAN,
                                 OPAQUE, TIME, OBJLNK, CORELNK, FormatError,
                                 records, typed, coerce, schema_type, utf8,
                                 check_path)

_INST = const(0)
_RES_INST = const(1)
_MULTI = const(2)
_RES = const(3)
_MAX_LEN = const(0xFFFFFF)
_FLT_MAX = 3.4028234663852886e38


# ---------------------------------------------------------------- encoding

def _tlv(out, kind, ident, value):
    n = len(value)
    if n > _MAX_LEN:
        raise FormatError("TLV value longer than 16.7 MB")
    t = kind << 6
    if ident > 0xFF:
        t |= 0x20
    if n < 8:
        t |= n
        lb = b""
    elif n <= 0xFF:
        t |= 0x08
        lb = bytes((n,))
    elif n <= 0xFFFF:
        t |= 0x10
        lb = struct.pack(">H", n)
    else:
        t |= 0x18
        lb = struct.pack(">I", n)[1:]
    out.append(t)
    out.extend(struct.pack(">H", ident) if ident > 0xFF else bytes((ident,)))
    out.extend(lb)
    out.extend(value)


def value_bytes(t, v):
    if t in (STRING, CORELNK):
        return v.encode()
    if t == OPAQUE:
        return v
    if t == BOOLEAN:
        return b"\x01" if v else b"\x00"
    if t == OBJLNK:
        return struct.pack(">HH", v[0], v[1])
    if t == FLOAT:
        if v != v or abs(v) <= _FLT_MAX or abs(v) == float("inf"):
            single = struct.pack(">f", v)
            if v != v or struct.unpack(">f", single)[0] == v:
                return single
        return struct.pack(">d", v)
    if t == UNSIGNED:
        for fmt, lim in ((">B", 0x100), (">H", 0x10000), (">I", 0x100000000)):
            if v < lim:
                return struct.pack(fmt, v)
        return struct.pack(">Q", v)
    for fmt, lim in ((">b", 0x80), (">h", 0x8000), (">i", 0x80000000)):
        if -lim <= v < lim:
            return struct.pack(fmt, v)
    return struct.pack(">q", v)


def encode(recs, base, type_of=None):
    recs = records(recs, base)
    if not base:
        raise FormatError("TLV cannot carry a Read of the root")
    if not recs:
        return b""
    out = bytearray()
    if len(base) == 1:
        for iid, group in _groups(recs, 1):
            body = bytearray()
            _resources(body, group, type_of)
            _tlv(out, _INST, iid, body)
    elif len(base) == 4:
        path, v = recs[0][0], recs[0][1]
        if len(recs) != 1:
            raise FormatError("resource instance given twice")
        _tlv(out, _RES_INST, path[3], value_bytes(*typed(type_of, path, v)))
    else:
        _resources(out, recs, type_of)
    return bytes(out)


def _groups(recs, level):
    """[(id, [records])] grouped by path[level], in order of first appearance."""
    order = []
    index = {}
    for r in recs:
        k = r[0][level]
        if k not in index:
            index[k] = len(order)
            order.append((k, []))
        order[index[k]][1].append(r)
    return order


def _resources(out, recs, type_of):
    for rid, group in _groups(recs, 2):
        if len(group[0][0]) == 3:
            if len(group) != 1:
                raise FormatError("resource given twice or with instances")
            path, v = group[0][0], group[0][1]
            _tlv(out, _RES, rid, value_bytes(*typed(type_of, path, v)))
            continue
        body = bytearray()
        seen = set()
        for path, v, _ in group:
            if len(path) != 4 or path[3] in seen:
                raise FormatError("resource instance given twice or mixed with a value")
            seen.add(path[3])
            _tlv(body, _RES_INST, path[3], value_bytes(*typed(type_of, path, v)))
        _tlv(out, _MULTI, rid, body)


# ---------------------------------------------------------------- decoding

def _parse(buf, start, end):
    """[(kind, id, value_start, value_end)] of the TLVs filling buf[start:end]."""
    items = []
    i = start
    while i < end:
        t = buf[i]
        i += 1
        idlen = 2 if t & 0x20 else 1
        lenlen = (t >> 3) & 3
        if i + idlen + lenlen > end:
            raise FormatError("truncated TLV header")
        ident = buf[i] if idlen == 1 else buf[i] << 8 | buf[i + 1]
        i += idlen
        if lenlen:
            n = 0
            for _ in range(lenlen):
                n = n << 8 | buf[i]
                i += 1
        else:
            n = t & 7
        if n > end - i:
            raise FormatError("TLV length beyond the payload")
        items.append((t >> 6, ident, i, i + n))
        i += n
    return items


def decode(payload, base, type_of, new_instance=None):
    check_path(base, 1, 4)
    buf = bytes(payload)
    items = _parse(buf, 0, len(buf))
    out = []
    if len(base) == 1:
        if items and all(it[0] == _INST for it in items):
            seen = set()
            for _, iid, s, e in items:
                if iid in seen:
                    raise FormatError("object instance given twice")
                seen.add(iid)
                _instance(buf, _parse(buf, s, e), base + (iid,), type_of, out)
        elif new_instance is not None:
            _instance(buf, items, base + (new_instance,), type_of, out)
        elif items:
            raise FormatError("resources without an Object Instance TLV")
        return out
    if len(base) == 2:
        if items and items[0][0] == _INST:
            if len(items) != 1 or items[0][1] != base[1]:
                raise FormatError("object instance TLV does not match the path")
            items = _parse(buf, items[0][2], items[0][3])
        _instance(buf, items, base, type_of, out)
        return out
    if items and items[0][0] == _RES_INST:          # bare resource instances
        items = [(_MULTI, base[2], 0, len(buf))]
    if len(items) != 1 or items[0][1] != base[2] or items[0][0] not in (_RES, _MULTI):
        raise FormatError("one resource TLV for the path expected")
    if len(base) == 3:
        _instance(buf, items, base[:2], type_of, out)
        return out
    kind, _, s, e = items[0]
    if kind == _MULTI:
        sub = _parse(buf, s, e)
        if len(sub) != 1:
            raise FormatError("one resource instance expected")
        kind, ident, s, e = sub[0]
        if kind != _RES_INST or ident != base[3]:
            raise FormatError("resource instance TLV does not match the path")
    else:
        raise FormatError("resource instance TLV expected")
    out.append((base, _value(buf, s, e, base, type_of)))
    return out


def _instance(buf, items, ipath, type_of, out):
    seen = set()
    for kind, rid, s, e in items:
        if rid in seen:
            raise FormatError("resource given twice")
        seen.add(rid)
        path = ipath + (rid,)
        if kind == _RES:
            out.append((path, _value(buf, s, e, path, type_of)))
        elif kind == _MULTI:
            riids = set()
            for k2, riid, s2, e2 in _parse(buf, s, e):
                if k2 != _RES_INST or riid in riids:
                    raise FormatError("a multiple resource holds distinct resource instances")
                riids.add(riid)
                out.append((path + (riid,), _value(buf, s2, e2, path + (riid,), type_of)))
        else:
            raise FormatError("resource TLV expected")


_INT_FMT = {1: ">b", 2: ">h", 4: ">i", 8: ">q"}
_UINT_FMT = {1: ">B", 2: ">H", 4: ">I", 8: ">Q"}


def _value(buf, s, e, path, type_of):
    t = schema_type(type_of, path)
    b = buf[s:e]
    n = e - s
    if t in (STRING, CORELNK):
        v = utf8(b)
    elif t == OPAQUE:
        v = b if n else b""         # the constant: an empty key stays in the object
    elif t in (INTEGER, TIME, UNSIGNED):
        fmt = (_UINT_FMT if t == UNSIGNED else _INT_FMT).get(n)
        if fmt is None:
            raise FormatError("integers take 1, 2, 4 or 8 bytes")
        v = struct.unpack(fmt, b)[0]
    elif t == FLOAT:
        if n not in (4, 8):
            raise FormatError("floats take 4 or 8 bytes")
        v = struct.unpack(">f" if n == 4 else ">d", b)[0]
    elif t == BOOLEAN:
        if b not in (b"\x00", b"\x01"):
            raise FormatError("a Boolean is one byte, 0 or 1")
        v = b == b"\x01"
    elif t == OBJLNK:
        if n != 4:
            raise FormatError("an Objlnk takes 4 bytes")
        v = struct.unpack(">HH", b)
    else:
        raise FormatError("unknown type code %d" % t)
    return coerce(t, v)[1]
