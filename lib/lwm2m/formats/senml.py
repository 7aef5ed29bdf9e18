"""The SenML (RFC 8428) model shared by senml_json (110) and senml_cbor (112),
as OMA-TS-LightweightM2M_Core V1.1 §7.4.4/§7.4.5 profiles it.

A record is a dict of labels. Names: the resolved name is bn + n (bn carries
over to later records until the next bn) and must be an LwM2M path,
"/3/0/1" or "/3/0/6/0". Values by resource type:

    Integer, Unsigned Integer, Float, Time   "v"   number
    Boolean                                  "vb"
    String, Corelnk                          "vs"
    Opaque                                   "vd"  (base64url text in JSON,
                                                    a byte string in CBOR)
    Objlnk                                   "vlo" "objID:instID" (label
                                                    "vlo" in CBOR too)

Times: the resolved time is bt + t (bt carries over). Records given to the
encoders may carry it as a third element (path, value, time); decode(...,
timed=True) returns (path, value, time) with time None where the pack has
none (resolved time 0, "now" in RFC 8428). Values below 2**28 are relative
to now (RFC 8428 §4.5.3); they are returned as they are.

Encoding: the first record gets bn = the request path plus "/" and every
record n = the rest of its path ("n" left out when it is empty, and bn then
is the request path itself). For the root (Send, composite operations) each
object instance starts a new bn "/o/i/". Label order: bn, bt, n, value, t.
The first timed record carries bt; later ones a t relative to it when that
is exact, else a new bt.

Decoding checks that labels have the right types, that each record has
exactly one LwM2M value field, rejects labels ending in "_" (must
understand), bver above 10 and the labels LwM2M cannot use (bv, bs, s, ut);
other labels are ignored.
"""
from lwm2m.formats.types import (STRING, INTEGER, UNSIGNED, FLOAT, BOOLEAN,
                                 OPAQUE, TIME, OBJLNK, CORELNK, FormatError,
                                 records, typed, coerce, schema_type,
                                 path_str, parse_path, under, check_path)
from lwm2m.formats.text import parse_objlnk

_VALUE_LABEL = {INTEGER: "v", UNSIGNED: "v", FLOAT: "v", TIME: "v",
                BOOLEAN: "vb", STRING: "vs", CORELNK: "vs", OPAQUE: "vd",
                OBJLNK: "vlo"}
VALUE_LABELS = ("v", "vs", "vb", "vd", "vlo")
_TEXT_LABELS = ("bn", "n", "vs", "vlo", "u", "bu")
_NUMBER_LABELS = ("bt", "t", "bver")
_REFUSED = ("bv", "bs", "s", "ut")


def _is_number(x):
    return isinstance(x, (int, float)) and x is not True and x is not False


# ---------------------------------------------------------------- encoding

def pack(recs, base, type_of):
    """[[(label, value), ...] per record]; Opaque values stay bytes."""
    recs = records(recs, base, timed=True)
    whole = False
    if base:
        at_base = [r[0] == base for r in recs]
        whole = all(at_base)
        if any(at_base) and not whole:
            raise FormatError("records both at and below the request path")
    out = []
    prefix = None
    bt = None
    for path, value, time in recs:
        fields = []
        if base:
            if prefix is None:
                prefix = base
                fields.append(("bn", path_str(base) if whole else path_str(base) + "/"))
            rel = path[len(base):]
        else:
            if path[:2] != prefix:
                prefix = path[:2]
                fields.append(("bn", path_str(prefix) + "/"))
            rel = path[2:]
        if time is None:
            if bt:
                fields.append(("bt", 0))
                bt = None
            dt = 0
        elif bt is None:
            fields.append(("bt", time))
            bt, dt = time, 0
        else:
            dt = time - bt
            if bt + dt != time or type(bt + dt) is not type(time):
                fields.append(("bt", time))
                bt, dt = time, 0
        if rel:
            fields.append(("n", "/".join([str(p) for p in rel])))
        t, v = typed(type_of, path, value)
        if t == OBJLNK:
            v = "%d:%d" % v
        fields.append((_VALUE_LABEL[t], v))
        if dt:
            fields.append(("t", dt))
        out.append(fields)
    return out


# ---------------------------------------------------------------- decoding

def _check_record(rec):
    if not isinstance(rec, dict):
        raise FormatError("a SenML record is a map")
    for label, v in rec.items():
        if not isinstance(label, str):
            raise FormatError("unknown label %r" % (label,))
        if label.endswith("_") or label in _REFUSED:
            raise FormatError("label %s not supported" % label)
        if label in _TEXT_LABELS:
            ok = isinstance(v, str)
        elif label in _NUMBER_LABELS:
            ok = _is_number(v) and v == v and v - v == 0   # finite
        elif label == "v":
            ok = _is_number(v)          # CBOR may carry NaN and infinities
        elif label == "vb":
            ok = v is True or v is False
        elif label == "vd":
            ok = isinstance(v, (str, bytes))
        else:
            ok = True
        if not ok:
            raise FormatError("label %s has the wrong type" % label)
    if "bver" in rec and not (isinstance(rec["bver"], int) and 0 < rec["bver"] <= 10):
        raise FormatError("unsupported SenML version")


def _names(pack_):
    """Yield (record, path, time or None) with names and times resolved."""
    if not isinstance(pack_, list):
        raise FormatError("a SenML pack is an array")
    bn = ""
    bt = 0
    for rec in pack_:
        _check_record(rec)
        bn = rec.get("bn", bn)
        bt = rec.get("bt", bt)
        name = bn + rec.get("n", "")
        if not name:
            raise FormatError("record without a name")
        t = rec.get("t", 0)
        yield rec, parse_path(name), (None if bt == 0 and t == 0 else bt + t)


def values(pack_, base, type_of, unbytes, timed=False):
    """Records of a decoded pack; unbytes turns a "vd" value into bytes."""
    check_path(base, 0, 4)
    out = []
    for rec, path, time in _names(pack_):
        check_path(path)
        if not under(path, base):
            raise FormatError("record %s outside the request path" % path_str(path))
        found = [label for label in VALUE_LABELS if label in rec]
        if len(found) != 1:
            raise FormatError("a record needs exactly one value")
        label = found[0]
        raw = rec[label]
        t = schema_type(type_of, path)
        if _VALUE_LABEL.get(t) != label:
            raise FormatError("%s does not fit the type of %s" % (label, path_str(path)))
        if t == OBJLNK:
            raw = parse_objlnk(raw)
        elif t == OPAQUE:
            raw = unbytes(raw)
        elif t != FLOAT and isinstance(raw, float):
            if raw - raw != 0 or raw != int(raw):
                raise FormatError("fraction for an integer resource")
            raw = int(raw)
        v = coerce(t, raw)[1]
        out.append((path, v, time) if timed else (path, v))
    return out


def paths(pack_):
    """The paths of a Read-/Observe-Composite request pack (names only)."""
    out = []
    for rec, path, _ in _names(pack_):
        for label in VALUE_LABELS:
            if label in rec:
                raise FormatError("a path list has no values")
        out.append(path)
    return out
