"""application/octet-stream (content format 42): the raw bytes of one Opaque
resource or resource instance (OMA-TS-LightweightM2M_Core V1.1 §7.4.2).

encode(records, base, type_of=None) -> bytes and
decode(payload, base, type_of) -> [(base, bytes)]; any other resource type
is a FormatError.
"""
from lwm2m.formats.types import OPAQUE, FormatError, check_path, schema_type
from lwm2m.formats.text import single


def encode(recs, base, type_of=None):
    t, v = single(recs, base, type_of)
    if t != OPAQUE:
        raise FormatError("octet-stream carries Opaque values only")
    return v


def decode(payload, base, type_of):
    check_path(base)
    if schema_type(type_of, base) != OPAQUE:
        raise FormatError("octet-stream carries Opaque values only")
    return [(base, bytes(payload))]
