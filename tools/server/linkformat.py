"""CoRE Link Format (RFC 6690) for the server: parsing what clients send.

Owns: splitting a link-format payload into links (target + attributes), and
reading the two LwM2M uses of it on the server side:
- the Register/Update payload (OMA-TS-LightweightM2M_Core V1.1 §6.2.1): the
  root link `</>` (or an alternate path `</x>;rt="oma.lwm2m"`) with the
  content formats the client supports (`ct=`), and the Objects and Object
  Instances (`</1/0>,</3/0>,</3303>;ver=1.1`);
- the Discover response (§6.3.2): object/instance/resource paths with their
  attributes (`dim`, `pmin`, ...).

Lenient where real clients are (white space around separators, `ct` given as
one number or as a quoted space-separated list, RFC 7252 §7.2.1), strict where
it matters (every target must be a path, IDs 0..65535): malformed input
raises ValueError and nothing else.
"""

_MAX_ID = 65535


class Link:
    """One link-value: `target` (the URI reference between <>), `attrs` (dict
    name -> str, or None for a parameter without value), `path` (tuple of
    ints when the target is an LwM2M path, else None)."""

    __slots__ = ("target", "attrs", "path")

    def __init__(self, target, attrs):
        self.target = target
        self.attrs = attrs
        self.path = lwm2m_path(target)

    def __repr__(self):
        return "Link(%r, %r)" % (self.target, self.attrs)

    def __str__(self):
        out = "<%s>" % self.target
        for name, value in self.attrs.items():
            out += ";" + name if value is None else ";%s=%s" % (name, _quote(value))
        return out


def _quote(value):
    """A ptoken stays bare; anything else becomes a quoted-string."""
    if value and all(c.isalnum() or c in "!#$%&'()*+-.:<=>?@[]^_`{|}~/" for c in value):
        return value
    return '"%s"' % value.replace("\\", "\\\\").replace('"', '\\"')


def lwm2m_path(target, root=""):
    """(oid[, iid[, rid[, riid]]]) for '/3/0', () for '/', None when the target
    is not an LwM2M path under `root` (e.g. '/lwm2m' for an alternate path)."""
    if root:
        if target == root or target == root + "/":
            return ()
        if not target.startswith(root + "/"):
            return None
        target = target[len(root):]
    if not target.startswith("/"):
        return None
    segs = [s for s in target[1:].split("/")]
    if segs == [""]:
        return ()
    if len(segs) > 4:
        return None
    out = []
    for seg in segs:
        if not seg.isdigit() or len(seg) > 5 or int(seg) > _MAX_ID:
            return None
        out.append(int(seg))
    return tuple(out)


def parse(text):
    """List of Link from a link-format payload (str or bytes). ValueError
    when it is not link format."""
    if isinstance(text, (bytes, bytearray, memoryview)):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeError:
            raise ValueError("link format is not UTF-8")
    links = []
    i, n = 0, len(text)
    i = _skip_ws(text, i)
    if i == n:
        return links
    while True:
        if i >= n or text[i] != "<":
            raise ValueError("link expected at %d" % i)
        end = text.find(">", i + 1)
        if end < 0:
            raise ValueError("unterminated <target>")
        target = text[i + 1:end]
        if not target or any(c in target for c in "<>, \"") :
            raise ValueError("bad link target %r" % target)
        i = _skip_ws(text, end + 1)
        attrs = {}
        while i < n and text[i] == ";":
            i = _skip_ws(text, i + 1)
            j = i
            while j < n and (text[j].isalnum() or text[j] in "!#$&+-.^_`|~*"):
                j += 1
            name = text[i:j]
            if not name:
                raise ValueError("empty parameter name at %d" % i)
            i = _skip_ws(text, j)
            value = None
            if i < n and text[i] == "=":
                i = _skip_ws(text, i + 1)
                if i < n and text[i] == '"':
                    value, i = _quoted(text, i)
                else:
                    j = i
                    while j < n and text[j] not in ",;\" \t\r\n":
                        j += 1
                    value = text[i:j]
                    i = j
                i = _skip_ws(text, i)
            if name in attrs:
                raise ValueError("parameter %s repeated" % name)
            attrs[name] = value
        links.append(Link(target, attrs))
        if i >= n:
            return links
        if text[i] != ",":
            raise ValueError("',' expected at %d" % i)
        i = _skip_ws(text, i + 1)


def _skip_ws(text, i):
    while i < len(text) and text[i] in " \t\r\n":
        i += 1
    return i


def _quoted(text, i):
    out = []
    i += 1
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
            continue
        if c == '"':
            return "".join(out), i + 1
        out.append(c)
        i += 1
    raise ValueError("unterminated quoted string")


def content_formats(value):
    """Content-Format numbers of a `ct` value: '110', '"60 110"' (already
    unquoted to '60 110'). ValueError for anything else."""
    if value is None:
        raise ValueError("ct without value")
    out = []
    for part in value.split():
        if not part.isdigit() or int(part) > 65535:
            raise ValueError("bad ct value %r" % value)
        out.append(int(part))
    if not out:
        raise ValueError("empty ct")
    return out


class RegisteredObjects:
    """What a Register/Update payload says (Core V1.1 §6.2.1, §6.2.2).

    root:      '' or the alternate path ('/lwm2m') the client's objects live
               under (`rt="oma.lwm2m"` on that link).
    formats:   content formats from `ct` of the root link ([] when absent).
    objects:   {oid: {"ver": str or None, "instances": sorted list of iids}}.
    links:     the parsed links, for display.
    """

    def __init__(self, root, formats, objects, links):
        self.root = root
        self.formats = formats
        self.objects = objects
        self.links = links

    def has(self, oid, iid=None):
        obj = self.objects.get(oid)
        if obj is None:
            return False
        return iid is None or iid in obj["instances"]

    def link_text(self):
        return ",".join(str(link) for link in self.links)


def parse_registration(payload):
    """RegisteredObjects from a Register/Update payload; ValueError when it
    is malformed or lists something that is not an object or an instance."""
    links = parse(payload)
    if not links:
        raise ValueError("no objects listed")
    root = ""
    for link in links:
        rt = link.attrs.get("rt")
        if rt is not None and "oma.lwm2m" in rt.split():
            # §6.2.1: an alternate path is announced with rt="oma.lwm2m"
            if not link.target.startswith("/") or link.target == "/":
                root = ""
            else:
                root = link.target.rstrip("/")
            break
    formats = []
    objects = {}
    for link in links:
        path = lwm2m_path(link.target, root)
        if path is None:
            raise ValueError("not an object or instance: %s" % link.target)
        if path == ():
            ct = link.attrs.get("ct")
            if ct is not None:
                formats = content_formats(ct)
            continue
        if len(path) > 2:
            raise ValueError("only objects and instances belong here: %s" % link.target)
        obj = objects.setdefault(path[0], {"ver": None, "instances": []})
        ver = link.attrs.get("ver")
        if ver is not None:
            parts = ver.split(".")
            if len(parts) != 2 or not all(p.isdigit() for p in parts):
                raise ValueError("bad ver %r" % ver)
            obj["ver"] = ver
        if len(path) == 2 and path[1] not in obj["instances"]:
            obj["instances"].append(path[1])
    for obj in objects.values():
        obj["instances"].sort()
    return RegisteredObjects(root, formats, objects, links)
