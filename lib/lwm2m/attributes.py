"""Notification attributes and Discover (OMA-TS-LightweightM2M_Core V1.1
§5.1.2 "Attributes", §6.3.4 Write-Attributes, §6.3.2 Discover).

Owns the <NOTIFICATION> class attributes one LwM2M Server (or C2C peer) has
attached to paths of the data model: `Attributes.table[key][path] = {name:
value}`, `key` being the server's stable key (e.g. its Short Server ID) and
`path` an object, instance, resource or resource instance tuple. Values are
seconds (int) for pmin, pmax, epmin, epmax and numbers (int or float, as
written) for gt, lt, st. The table is bounded (`max_entries` paths over all
servers; a Write-Attributes that needs one more gets 5.03) and persisted
through `store.save("attrs", [[key, [ids], {name: value}], ...])`.

Rules applied (V1.1 §5.1.2, Table 5.1.2-2 and the text after it):
- pmin, pmax, epmin, epmax may be attached at every level; gt, lt, st only to
  a Resource or Resource Instance of a numeric type (Integer, Unsigned
  Integer, Float). Anything else -- an unknown or <PROPERTIES> attribute
  (dim, ver, ...), a bad number, a threshold on another type or level -- is
  4.00 Bad Request and changes nothing.
- "?pmin" without a value removes the attribute (§6.3.4).
- At one path the result must keep lt < gt, lt + 2*st < gt and epmin <= epmax
  (4.00 otherwise). pmax < pmin is not an error: that pmax is ignored when
  notifying (Table 5.1.2-2), as is epmax < epmin met through inheritance.
- Inheritance: a Resource Instance inherits from its Resource, which inherits
  from its Object Instance, which inherits from its Object; pmin/pmax fall
  back to the server account's Default Minimum/Maximum Period (resources 2
  and 3 of the Server object, or of C2C object 11001); pmin defaults to 0,
  pmax to none.

Discover (`discover()`): the links of the target and what lies below it down
to `depth` levels (default: Object -> its instances and their resources,
Instance -> its resources, Resource -> itself; `?depth=0..3` as in V1.2),
each with the attributes attached there for this server; a Resource target
also shows what it inherits from its instance and object (the TS example
`</3/0/7>;dim=8;pmin=10;pmax=60;gt=50;lt=42.2`). A multiple resource carries
`dim=` (its number of instances); an Object whose version is not 1.0 `ver=`
(lwm2m.links.ver).

`write_request()` and `discover_request()` answer the engine's requests
(through lwm2m.observe.Reporter) with a response Message.
"""
from micropython import const
from coap.numbers import (BAD_REQUEST, NOT_FOUND, SERVICE_UNAVAILABLE,
                          UNAUTHORIZED, CONTENT, CHANGED, LINK_FORMAT)
from coap.server import reply
from lwm2m.model import Error, MULTIPLE, type_of, parse_path
from lwm2m.formats import types
from lwm2m.formats.types import FormatError
from lwm2m.formats.numtext import parse_int, parse_float
from lwm2m.formats import link
from lwm2m import links

PMIN = "pmin"
PMAX = "pmax"
GT = "gt"
LT = "lt"
ST = "st"
EPMIN = "epmin"
EPMAX = "epmax"
NAMES = (PMIN, PMAX, GT, LT, ST, EPMIN, EPMAX)
_PERIODS = (PMIN, PMAX, EPMIN, EPMAX)
_NUMERIC = (types.INTEGER, types.UNSIGNED, types.FLOAT)
STORE_KEY = "attrs"
_READ = const(1)             # dm.READ: Read, Observe, Write-Attributes (§7.3)
_DISCOVER = const(0)         # lwm2m.access.DISCOVER: no ACL bit of its own
_RES_DEFAULT_PMIN = const(2)
_RES_DEFAULT_PMAX = const(3)
_MAX_PERIOD = 2147483647      # seconds; a plain int (not a small int on 32-bit)


def parse_query(query):
    """Uri-Query strings ["pmin=10", "gt"] -> {name: number or None (remove)}.
    Error 4.00 for a name that is not a writable notification attribute or
    a value that is not a number of the right kind."""
    out = {}
    for q in query:
        name, eq, text = q.partition("=")
        if name not in NAMES:
            raise Error(BAD_REQUEST, "not a writable attribute")
        if not eq:
            out[name] = None
            continue
        try:
            if name in _PERIODS:
                value = parse_int(text)
                if not 0 <= value <= _MAX_PERIOD:
                    raise FormatError("period out of range")
            elif "." in text or "e" in text or "E" in text:
                value = parse_float(text)
            else:
                value = parse_int(text)
        except FormatError:
            raise Error(BAD_REQUEST, "bad attribute value")
        if name == ST and value < 0:
            raise Error(BAD_REQUEST, "negative step")
        out[name] = value
    return out


def check(attrs):
    """Raise Error(4.00) unless one path's attributes are consistent."""
    gt, lt, st = attrs.get(GT), attrs.get(LT), attrs.get(ST)
    if gt is not None and lt is not None:
        if not lt < gt:
            raise Error(BAD_REQUEST, "lt must be below gt")
        if st is not None and not lt + 2 * st < gt:
            raise Error(BAD_REQUEST, "lt + 2*st must be below gt")
    epmin, epmax = attrs.get(EPMIN), attrs.get(EPMAX)
    if epmin is not None and epmax is not None and epmin > epmax:
        raise Error(BAD_REQUEST, "epmin above epmax")


def account_defaults(model, account):
    """(default pmin, default pmax or None) from the server account instance
    `account` = (oid, iid) of object 1 or 11001 (None: 0 and none)."""
    pmin, pmax = 0, None
    if account is not None:
        try:
            obj = model.get(account[0])
            inst = obj.instance(account[1])
        except Error:
            return pmin, pmax
        v = inst.get(_RES_DEFAULT_PMIN)
        if isinstance(v, int) and not isinstance(v, bool) and v >= 0:
            pmin = v
        v = inst.get(_RES_DEFAULT_PMAX)
        if isinstance(v, int) and not isinstance(v, bool) and v > 0:
            pmax = v
    return pmin, pmax


class Attributes:
    def __init__(self, store=None, max_entries=64):
        self.store = store
        self.max_entries = max_entries
        self.table = {}
        self.version = 0        # bumped on every change (observers re-read)
        self.load()

    # -- persistence ---------------------------------------------------------
    def load(self):
        data = None
        if self.store is not None:
            try:
                data = self.store.load(STORE_KEY)
            except Exception:       # missing or unreadable: start empty
                data = None
        self.table = {}
        for entry in data or ():
            try:
                key, path, attrs = entry
                self.table.setdefault(key, {})[tuple(path)] = dict(attrs)
            except (TypeError, ValueError):
                continue

    def save(self):
        self.version += 1
        if self.store is None:
            return
        data = []
        for key in sorted(self.table, key=str):
            paths = self.table[key]
            for path in sorted(paths):
                data.append([key, list(path), paths[path]])
        self.store.save(STORE_KEY, data)

    def __len__(self):
        n = 0
        for paths in self.table.values():
            n += len(paths)
        return n

    # -- reading -------------------------------------------------------------
    def attached(self, key, path):
        """The attributes attached at exactly `path` (do not modify)."""
        return self.table.get(key, {}).get(path, {})

    def inherited(self, key, path):
        """Attached attributes of `path` and its ancestors merged, the
        deeper level winning (no server defaults)."""
        paths = self.table.get(key)
        out = {}
        if paths:
            for n in range(1, len(path) + 1):
                out.update(paths.get(path[:n], ()))
        return out

    def effective(self, key, path, defaults=(0, None)):
        """Every attribute name -> the value in force for an observation of
        `path` (None where unset). pmax is None when 0 or below pmin, epmax
        when below epmin: the TS says such a value is ignored."""
        out = self.inherited(key, path)
        if out.get(PMIN) is None:
            out[PMIN] = defaults[0]
        if out.get(PMAX) is None:
            out[PMAX] = defaults[1]
        for name in NAMES:
            out.setdefault(name, None)
        if out[PMAX] is not None and (out[PMAX] <= 0 or out[PMAX] < out[PMIN]):
            out[PMAX] = None
        if out[EPMAX] is not None and out[EPMIN] is not None and out[EPMAX] < out[EPMIN]:
            out[EPMAX] = None
        return out

    # -- changing ------------------------------------------------------------
    def write(self, key, path, query, rtype=None):
        """Apply a Write-Attributes query (list of Uri-Query strings) to
        `path` for server `key`. `rtype` is the resource's type code for a
        resource (instance) path. Raises Error; nothing changes on error."""
        changes = parse_query(query)
        if not changes:
            raise Error(BAD_REQUEST, "no attributes")
        for name in (GT, LT, ST):
            if name in changes:
                if len(path) < 3 or rtype not in _NUMERIC:
                    raise Error(BAD_REQUEST, "gt/lt/st need a numeric resource")
        paths = self.table.get(key, {})
        attrs = dict(paths.get(path, ()))
        for name, value in changes.items():
            if value is None:
                attrs.pop(name, None)
            else:
                attrs[name] = value
        check(attrs)
        if path not in paths and attrs and len(self) >= self.max_entries:
            raise Error(SERVICE_UNAVAILABLE, "attribute table full")
        if attrs:
            self.table.setdefault(key, {})[path] = attrs
        elif path in paths:
            del paths[path]
            if not paths:
                del self.table[key]
        self.save()

    def forget(self, key=None, path=None):
        """Drop the attributes of server `key` (all servers if None) at and
        below `path` (everywhere if None): a deleted account or instance."""
        changed = False
        for k in list(self.table):
            if key is not None and k != key:
                continue
            paths = self.table[k]
            for p in list(paths):
                if path is None or p[:len(path)] == path:
                    del paths[p]
                    changed = True
            if not paths:
                del self.table[k]
        if changed:
            self.save()

    # -- requests (the engine's hook: lwm2m.observe.Reporter) ----------------------
    def write_request(self, model, caller, path, request):
        """Write-Attributes: PUT with Uri-Query only -> 2.04 or the error."""
        try:
            path = parse_path(request.path()) if path is None else path
            check_access(caller, path)
            rtype = resource_type(model, path)
            self.write(_key(caller), path, request.query(), rtype)
            return reply(CHANGED)
        except Error as e:
            return reply(e.code)

    def discover_request(self, model, caller, path, request):
        """Discover: GET with Accept 40 -> 2.05 link-format or the error."""
        try:
            path = parse_path(request.path()) if path is None else path
            check_access(caller, path, _DISCOVER)
            found = self.discover(model, _key(caller), path,
                                  parse_depth(request.query()), caller)
            return reply(CONTENT, link.encode(found), LINK_FORMAT)
        except Error as e:
            return reply(e.code)

    # -- Discover --------------------------------------------------------------
    def discover(self, model, key, path, depth=None, caller=None):
        """[(path, [(name, value)])] for a Discover of `path` (a tuple of
        1..4 IDs) by server `key`; Error 4.04 for a missing target."""
        obj = model.get(path[0])
        if depth is None:
            depth = 2 if len(path) == 1 else (1 if len(path) == 2 else 0)
        last = min(len(path) + depth, 4)
        out = []
        if len(path) == 1:
            out.append((path, self._object_attrs(obj, key)))
            iids = [i for i in obj.iids()
                    if caller is None or caller.allowed(_READ, obj.oid, i)]
        else:
            obj.instance(path[1])
            iids = [path[1]]
        for iid in iids:
            ipath = (path[0], iid)
            if len(path) <= 2 and last >= 2:
                out.append((ipath, self._pairs(self.attached(key, ipath))))
            if last < 3:
                continue
            rids = obj.present(iid) if len(path) <= 2 else [path[2]]
            for rid in rids:
                self._resource(out, obj, key, path, iid, rid, last)
        return out

    def _resource(self, out, obj, key, target, iid, rid, last):
        flags = obj.flags(rid)
        inst = obj.instance(iid)
        if flags is None or rid not in inst:
            raise Error(NOT_FOUND, "no such resource")
        rpath = (obj.oid, iid, rid)
        value = _instances(obj, iid, rid, flags)
        if len(target) == 4:
            if value is None or target[3] not in value:
                raise Error(NOT_FOUND, "no such resource instance")
            out.append((target, self._pairs(self.inherited(key, target))))
            return
        own = self.inherited(key, rpath) if len(target) == 3 else self.attached(key, rpath)
        pairs = self._pairs(own)
        if value is not None:
            pairs.insert(0, ("dim", len(value)))
        out.append((rpath, pairs))
        if value is not None and last >= 4:
            for riid in sorted(value):
                ripath = rpath + (riid,)
                out.append((ripath, self._pairs(self.attached(key, ripath))))

    def _object_attrs(self, obj, key):
        return links.ver(obj) + self._pairs(self.attached(key, (obj.oid,)))

    @staticmethod
    def _pairs(attrs):
        return [(n, attrs[n]) for n in NAMES if attrs.get(n) is not None]


def _instances(obj, iid, rid, flags):
    """{riid: value} of a multiple resource (None for a single one)."""
    if not flags & MULTIPLE:
        return None
    try:
        value = obj.read(iid, rid)
    except Error:
        value = obj.instance(iid).get(rid)
    return value if isinstance(value, dict) else {}


def check_access(caller, path, op=_READ):
    """Error 4.01 unless `caller` has right `op` on the path's instance."""
    if not caller.allowed(op, path[0], path[1] if len(path) > 1 else None):
        raise Error(UNAUTHORIZED, "access denied")


def _key(caller):
    return getattr(caller, "key", None)


def parse_depth(query):
    """The `depth` of a Discover query (None when absent); 4.00 unless 0..3.
    Other query parameters are ignored."""
    depth = None
    for q in query:
        name, eq, text = q.partition("=")
        if name == "depth":
            try:
                depth = parse_int(text) if eq else -1
            except FormatError:
                depth = -1
            if not 0 <= depth <= 3:
                raise Error(BAD_REQUEST, "depth must be 0..3")
    return depth


def resource_type(model, path):
    """Type code of the resource at `path` (None above resource level);
    Error 4.04 when the path does not exist."""
    obj = model.get(path[0])
    if len(path) == 1:
        return None
    inst = obj.instance(path[1])
    if len(path) == 2:
        return None
    flags = obj.flags(path[2])
    if flags is None or path[2] not in inst:
        raise Error(NOT_FOUND, "no such resource")
    if len(path) == 4:
        value = _instances(obj, path[1], path[2], flags)
        if value is None or path[3] not in value:
            raise Error(NOT_FOUND, "no such resource instance")
    return type_of(flags)

