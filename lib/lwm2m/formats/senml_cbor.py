"""application/senml+cbor (content format 112): SenML CBOR (RFC 8428 §6) as
OMA-TS-LightweightM2M_Core V1.1 §7.4.5 uses it; the record model is in
lwm2m.formats.senml.

Labels are the RFC 8428 integers (bn -2, bt -3, n 0, v 2, vs 3, vb 4, t 6,
vd 8; bver -1, u 1, bu -4 read and ignored; bv -5, bs -6, s 5, ut 7 and
unknown negative labels refused) except "vlo", which has no integer and stays
a text label; other text and positive labels are ignored. Opaque is a byte string. Each record map is
written with its labels in the order bn, bt, n, value, t (the order of the
TS example), with definite lengths and the shortest integers and floats.

encode(records, base, type_of=None) -> bytes;
decode(payload, base, type_of, timed=False) -> records;
decode_paths(payload) -> [path] for Read-/Observe-Composite requests.
"""
import cbor
from lwm2m.formats.types import FormatError
from lwm2m.formats import senml

_LABELS = {"bn": -2, "bt": -3, "n": 0, "v": 2, "vs": 3, "vb": 4, "t": 6, "vd": 8}
_NAMES = {-1: "bver", -2: "bn", -3: "bt", -4: "bu", -5: "bv", -6: "bs",
          0: "n", 1: "u", 2: "v", 3: "vs", 4: "vb", 5: "s", 6: "t", 7: "ut", 8: "vd"}


def head(out, major, n):
    """Append a CBOR initial byte and argument (definite length n)."""
    ib = major << 5
    if n < 24:
        out.append(ib | n)
    elif n < 0x100:
        out.extend(bytes((ib | 24, n)))
    elif n < 0x10000:
        out.extend(bytes((ib | 25, n >> 8, n & 0xFF)))
    else:
        out.append(ib | 26)
        out.extend(n.to_bytes(4, "big"))


def encode(recs, base, type_of=None):
    pack = senml.pack(recs, base, type_of)
    out = bytearray()
    head(out, 4, len(pack))
    for fields in pack:
        head(out, 5, len(fields))
        for label, value in fields:
            cbor.dump_into(out, _LABELS.get(label, label))
            cbor.dump_into(out, value)
    return bytes(out)


def load(payload):
    """CBOR bytes -> list of records keyed by label names."""
    try:
        data = cbor.loads(bytes(payload))
    except ValueError as e:
        raise FormatError("bad CBOR: %s" % e)
    if not isinstance(data, list):
        raise FormatError("a SenML pack is an array")
    pack = []
    for rec in data:
        if not isinstance(rec, dict):
            raise FormatError("a SenML record is a map")
        named = {}
        for k, v in rec.items():
            if isinstance(k, int) and not isinstance(k, bool):
                if k not in _NAMES:
                    if k < 0:
                        raise FormatError("unknown base label %d" % k)
                    continue
                k = _NAMES[k]
            elif isinstance(k, str):
                if k.endswith("_"):
                    raise FormatError("must-understand label %s" % k)
                if k != "vlo":
                    continue
            else:
                continue
            named[k] = v
        pack.append(named)
    return pack


def _unbytes(v):
    if not isinstance(v, bytes):
        raise FormatError("vd must be a byte string")
    return v


def decode(payload, base, type_of, timed=False):
    return senml.values(load(payload), base, type_of, _unbytes, timed)


def decode_paths(payload):
    return senml.paths(load(payload))
