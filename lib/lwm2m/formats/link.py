"""application/link-format (content format 40), CoRE Link Format (RFC 6690
§2), as far as LwM2M uses it: Register/Update payloads, Discover and
Bootstrap-Discover results (OMA-TS-LightweightM2M_Core V1.1 §6.2, §6.3.1,
§5.2.7.3), e.g. </3303/0/5700>;dim=2;pmin=10.

link(path, attrs) -> str builds one link; `path` is a path tuple or a URI
string, `attrs` a list of (name, value) pairs, or a dict whose entries are
written in the order pmin, pmax, gt, lt, st, epmin, epmax, dim, ver, ssid,
uri, ct, rt, then by name (so the text is the same on every port). Values:
True or None -> a bare flag (";obs"), int or float -> a number ("gt=20.5"),
str -> a quoted string (uri="coap://h"), tuple/list -> a quoted
space-separated list (ct="60 110").

encode(links) -> bytes joins [(path, attrs)] with ",".
decode(payload) -> [(uri, {name: value})]: quoted values are str, unquoted
ones int or float when they read as numbers else str, bare names True.
Whitespace around "," is tolerated; anything else malformed is a
FormatError, as is a parameter given twice in one link.
"""
from lwm2m.formats.types import FormatError, path_str, utf8
from lwm2m.formats.numtext import float_text, parse_float, parse_int

ORDER = ("pmin", "pmax", "gt", "lt", "st", "epmin", "epmax", "dim", "ver",
         "ssid", "uri", "ct", "rt")
_NAME_CHARS = "!#$&+-.^_`|~"
_TOKEN_CHARS = "!#$%&'()*+-./:<=>?@[]^_`{|}~"
_WS = " \t\r\n"


def _ascii_alnum(c):
    return "a" <= c <= "z" or "A" <= c <= "Z" or "0" <= c <= "9"


def _ptoken(c):
    return _ascii_alnum(c) or c in _TOKEN_CHARS


def _name_ok(name):
    if not name:
        return False
    for c in name:
        if not (_ascii_alnum(c) or c in _NAME_CHARS):
            return False
    return True


def _ordered(attrs):
    if isinstance(attrs, dict):
        return sorted(attrs.items(),
                      key=lambda kv: (ORDER.index(kv[0]) if kv[0] in ORDER else len(ORDER), kv[0]))
    return attrs


def _quote(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def link(path, attrs=()):
    uri = path_str(path) if isinstance(path, tuple) else path
    if not isinstance(uri, str) or ">" in uri:
        raise FormatError("bad link target")
    out = ["<" + uri + ">"]
    for name, value in _ordered(attrs):
        if not isinstance(name, str) or not _name_ok(name):
            raise FormatError("bad parameter name %r" % (name,))
        if value is True or value is None:
            out.append(name)
        elif value is False:
            continue
        elif isinstance(value, int):
            out.append("%s=%d" % (name, value))
        elif isinstance(value, float):
            out.append("%s=%s" % (name, float_text(value)))
        elif isinstance(value, str):
            out.append("%s=%s" % (name, _quote(value)))
        elif isinstance(value, (tuple, list)):
            out.append("%s=%s" % (name, _quote(" ".join([str(v) for v in value]))))
        else:
            raise FormatError("bad value for %s" % name)
    return ";".join(out)


def encode(links):
    return ",".join([link(p, a) for p, a in links]).encode()


def _number(text):
    try:
        return parse_int(text) if "." not in text and "e" not in text.lower() else parse_float(text)
    except FormatError:
        return text


def decode(payload):
    s = utf8(bytes(payload))
    out = []
    i, n = 0, len(s)
    while True:
        while i < n and s[i] in _WS:
            i += 1
        if i == n:
            if out:
                raise FormatError("trailing comma")
            return out
        if s[i] != "<":
            raise FormatError("link must start with <")
        j = s.find(">", i + 1)
        if j < 0:
            raise FormatError("unterminated <")
        uri = s[i + 1:j]
        attrs = {}
        i = j + 1
        while i < n and s[i] == ";":
            k = i + 1
            while k < n and s[k] not in "=;," and s[k] not in _WS:
                k += 1
            name = s[i + 1:k]
            if not _name_ok(name) or name in attrs:
                raise FormatError("bad or repeated parameter name %r" % name)
            if k < n and s[k] == "=":
                k += 1
                if k < n and s[k] == '"':
                    value, k = _quoted(s, k)
                else:
                    m = k
                    while m < n and _ptoken(s[m]):
                        m += 1
                    if m == k:
                        raise FormatError("empty parameter value")
                    value, k = _number(s[k:m]), m
            else:
                value = True
            attrs[name] = value
            i = k
        out.append((uri, attrs))
        while i < n and s[i] in _WS:
            i += 1
        if i == n:
            return out
        if s[i] != ",":
            raise FormatError("unexpected %r after a link" % s[i])
        i += 1


def _quoted(s, i):
    """The quoted-string starting at s[i] == '"': (text, index after it)."""
    out = []
    i += 1
    while i < len(s):
        c = s[i]
        if c == '"':
            return "".join(out), i + 1
        if c == "\\":
            i += 1
            if i == len(s):
                break
            c = s[i]
        out.append(c)
        i += 1
    raise FormatError("unterminated quoted string")
