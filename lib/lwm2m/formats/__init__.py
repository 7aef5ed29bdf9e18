"""LwM2M content formats (OMA-TS-LightweightM2M_Core V1.1 §7.4, V1.2 §7.4.6):
pure functions from records to bytes and back, no I/O, no state.

A record is (path, value): path a tuple of ints (object, instance, resource
[, resource instance]), each 0..65535; value a Python value of the
resource's type (see lwm2m.formats.types: int, float, bool, str, bytes, an
Objlnk 2-tuple). SenML records may carry a time: (path, value, time).

Every value codec module (text 0, opaque 42, tlv 11542, senml_json 110,
senml_cbor 112, lwm2m_cbor 11544) has

    encode(records, base, type_of=None) -> bytes
    decode(payload, base, type_of) -> [(path, value)]

`base` is the request path tuple: () for the root (Send, composite
operations), (3303,), (3303, 0), (3303, 0, 5700) or (3, 0, 6, 1). Records
must lie at or below it; decoded paths are absolute. `type_of(path)` gives
the type code of the resource a value belongs to (path has 3 or 4 parts),
or None for a resource the schema does not know. Decoders need it; encoders
use it when given to write each value as its resource's type (Time tagged
in LwM2M CBOR, an int in a Float resource as a float, Unsigned Integers as
unsigned in TLV) and otherwise go by the Python type.

Errors: decoders raise only `types.FormatError` (a ValueError: malformed
payload, value of the wrong type, record outside `base`; CoAP 4.00) and
`types.UnknownPath` (a KeyError: type_of returned None; CoAP 4.04), and never
return part of a payload. Encoders raise FormatError for records the format
cannot carry (answer 4.06).

link (40) differs: encode([(path, attrs)]) and decode(payload) -> [(uri, attrs)].
"""

CODECS = {0: "text", 42: "opaque", 11542: "tlv", 110: "senml_json",
          112: "senml_cbor", 11544: "lwm2m_cbor", 40: "link"}


def codec(content_format):
    """The codec module for a content format number, or None."""
    name = CODECS.get(content_format)
    if name is None:
        return None
    return __import__("lwm2m.formats." + name, None, None, (name,))
