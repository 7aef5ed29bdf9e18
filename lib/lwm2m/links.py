"""The LwM2M client's CoRE Link Format (RFC 6690) payloads built from its
data model (OMA-TS-LightweightM2M_Core V1.1 §6.2.1 Register, §6.1
Bootstrap-Discover); each link is written by lwm2m.formats.link.link().
Discover (§6.3.2), whose links carry the server's attributes, is
lwm2m.attributes.

- `register(model, formats)`: `</>;rt="oma.lwm2m";ct="..."` then the Objects
  and Object Instances. Core §6.2.1: Security (0) and OSCORE (21) are never
  listed; an object without instances is listed as `</oid>`; the object
  version goes on an object link `</oid>;ver=X.Y` when it is not 1.0. The
  content formats are one quoted, space-separated `ct` value (RFC 7252
  §7.2.1; Leshan rejects repeated `ct=` parameters), and `rt="oma.lwm2m"`
  marks the root link (some servers reject a root link without it).
- `bootstrap_discover(model, oid=None)`: `lwm2m="1.1"` then every instance
  (Security and OSCORE included), `ssid` on Security/Server instances and
  `uri` on Security instances (Core V1.1 §6.1, Bootstrap-Discover).
- `ver(obj)`: the `ver` attribute of an object link (none for 1.0).
"""
from lwm2m import defs
from lwm2m.formats.link import link

_HIDDEN = (0, 21)


def ver(obj):
    """[("ver", X.Y)] unless the object's version is 1.0 (obj.version, else
    the one in lwm2m.defs); unquoted (ver=1.1) as a number, quoted when it
    does not read as one."""
    v = obj.version
    if v is None:
        entry = defs.OBJECTS.get(obj.oid)
        v = entry[1] if entry is not None else "1.0"
    if v == "1.0":
        return []
    try:
        return [("ver", float(v))]
    except ValueError:
        return [("ver", v)]


def _object_links(obj, out, attrs=None):
    """The object link when it has a version or no instance, then one link
    per instance, with `attrs(oid, iid) -> [(name, value)]` when given."""
    iids = obj.iids()
    v = ver(obj)
    if v or not iids:
        out.append(link((obj.oid,), v))
    for iid in iids:
        out.append(link((obj.oid, iid), attrs(obj.oid, iid) if attrs else ()))


def register(model, formats):
    out = [link("/", [("rt", "oma.lwm2m"), ("ct", formats)])]
    for oid in model.oids():
        if oid not in _HIDDEN:
            _object_links(model.find(oid), out)
    return ",".join(out)


def bootstrap_discover(model, oid=None):
    def attrs(o, iid):
        if o == 0:
            s = model.find(0)
            ssid = s.get(iid, 10)
            out = [] if ssid is None or s.is_bootstrap(iid) else [("ssid", ssid)]
            return out + [("uri", s.get(iid, 0) or "")]
        if o == 1:
            return [("ssid", model.find(1).get(iid, 0))]
        return ()

    out = ['lwm2m="1.1"']
    for o in ([oid] if oid is not None else model.oids()):
        _object_links(model.get(o), out, attrs)
    return ",".join(out)
