"""Content formats as the server uses them: names, codecs, decoding answers.

Owns: the console names of the LwM2M content formats, the lookup of the
codec module for a format (lib/lwm2m/formats/*, imported on first use, each
with `encode(records, base)` / `decode(payload, base, type_of)`), the choice
of a default format for a Write/Create from what the client advertised in
its Register payload (`</>;ct=...`, Core V1.1 §6.2.1), and `decode()`, which
turns a response payload into records without ever raising.

Records are (path tuple, value) pairs, as everywhere in lib/lwm2m.
"""
from coap.numbers import (TEXT_PLAIN, LINK_FORMAT, OCTET_STREAM, SENML_JSON,
                          SENML_CBOR, LWM2M_TLV, LWM2M_CBOR)

NAMES = {
    "text": TEXT_PLAIN, "text/plain": TEXT_PLAIN, "plain": TEXT_PLAIN,
    "opaque": OCTET_STREAM, "octet-stream": OCTET_STREAM,
    "link": LINK_FORMAT, "link-format": LINK_FORMAT,
    "tlv": LWM2M_TLV,
    "senml-json": SENML_JSON, "senml+json": SENML_JSON, "senmljson": SENML_JSON,
    "senml-cbor": SENML_CBOR, "senml+cbor": SENML_CBOR, "senmlcbor": SENML_CBOR,
    "lwm2m-cbor": LWM2M_CBOR, "lwm2m+cbor": LWM2M_CBOR, "lwm2mcbor": LWM2M_CBOR,
}
LABELS = {TEXT_PLAIN: "text/plain", OCTET_STREAM: "opaque", LINK_FORMAT: "link-format",
          LWM2M_TLV: "TLV", SENML_JSON: "SenML-JSON", SENML_CBOR: "SenML-CBOR",
          LWM2M_CBOR: "LwM2M-CBOR"}
_MODULES = {TEXT_PLAIN: "text", OCTET_STREAM: "opaque", LWM2M_TLV: "tlv",
            SENML_JSON: "senml_json", SENML_CBOR: "senml_cbor", LWM2M_CBOR: "lwm2m_cbor",
            LINK_FORMAT: "link"}
SINGLE_VALUE = (TEXT_PLAIN, OCTET_STREAM)
# Formats that carry several values, in our order of preference for a Write
# or a Create when the client advertised more than one (Core V1.1 §7.4.x:
# SenML-CBOR is the compact 1.1 format; TLV is what every 1.0 client has).
MULTI_PREFERENCE = (SENML_CBOR, LWM2M_TLV, SENML_JSON, LWM2M_CBOR)
SEND_FORMATS = (SENML_CBOR, SENML_JSON, LWM2M_CBOR)   # Core V1.1 §6.4.6 (Send)


class FormatUnavailable(LookupError):
    """The codec for a content format is not (yet) in lib/lwm2m/formats."""


def parse_name(text):
    """Content-Format number from a console name or a number; ValueError."""
    key = text.strip().lower()
    if key in NAMES:
        return NAMES[key]
    if key.isdigit() and int(key) <= 65535:
        return int(key)
    raise ValueError("unknown content format %r" % text)


def label(cf):
    return LABELS.get(cf, str(cf))


def codec(cf):
    """The lib/lwm2m/formats module for `cf`. FormatUnavailable when the
    format is unknown or its module does not exist."""
    name = _MODULES.get(cf)
    if name is None:
        raise FormatUnavailable("content format %s is not supported" % cf)
    try:
        module = __import__("lwm2m.formats." + name, None, None, [name])
    except ImportError as e:
        raise FormatUnavailable("no codec for %s (%s)" % (label(cf), e))
    return module


def default_format(formats, single, opaque=False):
    """Content format for a Write/Create: text/plain (opaque for bytes) for
    one value of a single resource, else the first of MULTI_PREFERENCE the
    client advertised, else TLV (the LwM2M 1.0 default every client reads)."""
    if single:
        return OCTET_STREAM if opaque else TEXT_PLAIN
    for cf in MULTI_PREFERENCE:
        if cf in formats:
            return cf
    return LWM2M_TLV


def encode(cf, records, base, type_of=None):
    """Payload bytes for `records` in format `cf`; `type_of` writes each value
    as its resource's type (else the Python type decides). ValueError when
    the values do not fit the format."""
    if cf in SINGLE_VALUE and len(records) != 1:
        raise ValueError("%s holds exactly one value" % label(cf))
    return bytes(codec(cf).encode(records, base, type_of))


def decode(cf, payload, base, type_of):
    """(records, error): the records of a response payload, or None and a
    reason. Resources whose type nobody described are tried as each of a few
    types in turn (text/plain: string first; otherwise opaque first -- raw
    bytes are the honest reading of an unknown TLV value), the same type for
    all unknown resources of the payload; the first that decodes wins."""
    try:
        m = codec(cf)
    except FormatUnavailable as e:
        return None, str(e)
    payload = bytes(payload)
    try:
        return list(m.decode(payload, base, type_of)), None
    except Exception as first:          # a client sent garbage: report, never crash
        error = first
    try:
        from lwm2m.formats import types
    except ImportError:
        return None, "cannot decode %s: %s" % (label(cf), error)
    order = (types.STRING, types.OPAQUE) if cf == TEXT_PLAIN else (types.OPAQUE, types.STRING)
    for fallback in order + (types.FLOAT, types.INTEGER, types.BOOLEAN, types.OBJLNK):
        def lenient(path, fallback=fallback):
            t = type_of(path)
            return fallback if t is None else t
        try:
            return list(m.decode(payload, base, lenient)), None
        except Exception:
            pass
    return None, "cannot decode %s: %s" % (label(cf), error)
