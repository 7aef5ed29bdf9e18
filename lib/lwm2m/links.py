"""CoRE Link Format (RFC 6690) payloads of the LwM2M client
(OMA-TS-LightweightM2M_Core V1.1 §6.2.1 Register, §6.3.2 Discover, §6.1
Bootstrap-Discover), built as text.

- `register(model, formats)`: `</>;rt="oma.lwm2m";ct="..."` then the Objects
  and Object Instances. Core §6.2.1: Security (0) and OSCORE (21) are never
  listed; an object without instances is listed as `</oid>`; the object
  version goes on an object link `</oid>;ver=X.Y` when it is not 1.0. The
  content formats are one quoted, space-separated `ct` value (RFC 7252
  §7.2.1; Leshan rejects repeated `ct=` parameters), and `rt="oma.lwm2m"`
  marks the root link (some servers reject a root link without it).
- `discover(model, path, depth=None, attrs=None)`: the Discover answer
  without attributes unless `attrs(path) -> [(name, value)]` is given (the
  observe module adds the Write-Attributes ones). Multiple resources carry
  `dim`. Default depth: resources of an object's instances, the resources of
  an instance, the resource itself.
- `bootstrap_discover(model, oid=None)`: `lwm2m="1.1"` then every instance
  (Security and OSCORE included), `ssid` on Security/Server instances and
  `uri` on Security instances (Core V1.1 §6.1, Bootstrap-Discover).
"""
from coap.numbers import NOT_FOUND
from lwm2m.model import MULTIPLE, Error
from lwm2m import defs

_HIDDEN = (0, 21)


def version(obj):
    """The object's version string ("1.0" when unknown)."""
    if obj.version is not None:
        return obj.version
    entry = defs.OBJECTS.get(obj.oid)
    return entry[1] if entry is not None else "1.0"


def _object_links(obj, out):
    ver = version(obj)
    iids = obj.iids()
    if ver != "1.0":
        out.append("</%d>;ver=%s" % (obj.oid, ver))
    elif not iids:
        out.append("</%d>" % obj.oid)
    for iid in iids:
        out.append("</%d/%d>" % (obj.oid, iid))


def register(model, formats):
    out = ['</>;rt="oma.lwm2m";ct="%s"' % " ".join(str(f) for f in formats)]
    for oid in model.oids():
        if oid not in _HIDDEN:
            _object_links(model.find(oid), out)
    return ",".join(out)


def _link(path, attrs):
    text = "</" + "/".join(str(p) for p in path) + ">"
    for name, value in attrs:
        text += ";%s" % name if value is None else ";%s=%s" % (name, value)
    return text


def discover(model, path, depth=None, attrs=None):
    """Links for a Discover of `path` (1-3 IDs). Raises lwm2m.model.Error
    4.04 for a missing object/instance/resource."""
    obj = model.get(path[0])
    if depth is None:
        depth = 2 if len(path) == 1 else (1 if len(path) == 2 else 0)
    out = []

    def add(p, extra):
        a = list(extra)
        if attrs is not None:
            a.extend(attrs(p))
        out.append(_link(p, a))

    def resource(iid, rid, level):
        flags = obj.flags(rid)
        value = obj.instance(iid).get(rid)
        multiple = flags is not None and flags & MULTIPLE and isinstance(value, dict)
        add((obj.oid, iid, rid), [("dim", len(value))] if multiple else [])
        if multiple and level < depth:
            for riid in sorted(value):
                add((obj.oid, iid, rid, riid), [])

    def instance(iid, level):
        add((obj.oid, iid), [])
        if level < depth:
            for rid in obj.present(iid):
                resource(iid, rid, level + 1)

    if len(path) == 1:
        ver = version(obj)
        add((obj.oid,), [("ver", ver)] if ver != "1.0" else [])
        if depth > 0:
            for iid in obj.iids():
                instance(iid, 1)
    elif len(path) == 2:
        obj.instance(path[1])
        instance(path[1], 0)
    else:
        if path[2] not in obj.instance(path[1]):
            raise Error(NOT_FOUND, "no such resource")
        resource(path[1], path[2], 0)
    return ",".join(out)


def bootstrap_discover(model, oid=None):
    out = ['lwm2m="1.1"']
    s, v = model.find(0), model.find(1)
    for o in ([oid] if oid is not None else model.oids()):
        obj = model.get(o)
        iids = obj.iids()
        ver = version(obj)
        if ver != "1.0" or not iids:
            out.append(_link((o,), [("ver", ver)] if ver != "1.0" else []))
        for iid in iids:
            attrs = []
            if o == 0:
                ssid = s.get(iid, 10)
                if ssid is not None and not s.is_bootstrap(iid):
                    attrs.append(("ssid", ssid))
                attrs.append(("uri", '"%s"' % (s.get(iid, 0) or "")))
            elif o == 1:
                attrs.append(("ssid", v.get(iid, 0)))
            out.append(_link((o, iid), attrs))
    return ",".join(out)
