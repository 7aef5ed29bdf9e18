"""LwM2M data model: objects, instances, resources and their definitions.

An object is an `LwObject` (subclass per object ID) holding its instances as
`instances[iid] = {rid: value}`; a multiple resource's value is a dict
`{riid: value}`. Definitions come from the generated tables in `lwm2m.defs`
(type, operations, multiple, mandatory per resource). The DM layer checks
operations and types against them; objects add behaviour by overriding
`read()` (computed values), `written()` (actuators), `execute()` and
`created()`/`deleted()`. Drivers and application code change values with
`set()`, which tells the engine (observations) through `on_change`.
A server's Write is checked with `validate()` for every value before the
first one is stored (all-or-nothing), then stored with `write()`.

Errors are `Error(code)` with a CoAP response code, raised towards the DM
layer which answers with that code.
"""
from micropython import const
from coap.numbers import BAD_REQUEST, NOT_FOUND, METHOD_NOT_ALLOWED
from lwm2m.formats import types

R = const(0x10)
W = const(0x20)
E = const(0x40)
MULTIPLE = const(0x80)
MANDATORY = const(0x100)
_TYPE = const(0x0F)
NO_INSTANCE = const(65535)


class Error(Exception):
    """An LwM2M operation failed with CoAP response `code`."""

    def __init__(self, code, reason=""):
        super().__init__(reason)
        self.code = code


def lookup(table, rid):
    """Flags of resource `rid` in a defs table, or None (binary search)."""
    lo, hi = 0, len(table) >> 2
    while lo < hi:
        mid = (lo + hi) >> 1
        i = mid << 2
        key = table[i] << 8 | table[i + 1]
        if key == rid:
            return table[i + 2] << 8 | table[i + 3]
        if key < rid:
            lo = mid + 1
        else:
            hi = mid
    return None


def table_ids(table):
    return [table[i] << 8 | table[i + 1] for i in range(0, len(table), 4)]


def type_of(flags):
    return flags & _TYPE


def check_type(flags, value):
    """Raise Error(4.00) unless `value` fits the resource type in `flags`."""
    t = flags & _TYPE
    if t == types.BOOLEAN:
        ok = value is True or value is False
    elif t in (types.INTEGER, types.TIME):
        ok = isinstance(value, int) and value is not True and value is not False
    elif t == types.UNSIGNED:
        ok = isinstance(value, int) and value >= 0 and not isinstance(value, bool)
    elif t == types.FLOAT:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif t in (types.STRING, types.CORELNK):
        ok = isinstance(value, str)
    elif t == types.OPAQUE:
        ok = isinstance(value, (bytes, bytearray))
    elif t == types.OBJLNK:
        ok = isinstance(value, tuple) and len(value) == 2
    else:
        ok = False
    if not ok:
        raise Error(BAD_REQUEST, "value does not fit the resource type")


class LwObject:
    """Base of every object. Subclasses set `oid`, `table` (from lwm2m.defs)
    and `multiple` (several instances allowed); `version` is the object
    version for the Register payload (None: the one in lwm2m.defs, else
    "1.0"). An object whose instances cannot be created or deleted by a
    server raises Error(4.05) from `create()`/`delete()`."""
    oid = 0
    table = b""
    multiple = True
    version = None

    def __init__(self):
        self.instances = {}
        self.on_change = None       # engine callback: on_change(oid, iid, rid)

    # -- definitions ------------------------------------------------------
    def flags(self, rid):
        return lookup(self.table, rid)

    def resource_ids(self):
        return table_ids(self.table)

    # -- instances ---------------------------------------------------------
    def iids(self):
        return sorted(self.instances)

    def instance(self, iid):
        inst = self.instances.get(iid)
        if inst is None:
            raise Error(NOT_FOUND, "no such instance")
        return inst

    def present(self, iid):
        """IDs of the resources instance `iid` has, sorted."""
        return sorted(self.instance(iid))

    def iid_where(self, rid, value):
        """The first instance (lowest ID) whose resource `rid` holds `value`,
        or None: e.g. the Server instance of a Short Server ID."""
        for iid in self.iids():
            if self.get(iid, rid) == value:
                return iid
        return None

    def new_iid(self):
        iid = 0
        while iid in self.instances:
            iid += 1
        return iid

    def create(self, iid, values):
        """Add instance `iid` with `values` {rid: value} (checked by the caller)."""
        if iid in self.instances or (not self.multiple and self.instances):
            raise Error(BAD_REQUEST, "instance exists")
        self.instances[iid] = self.defaults(iid)
        self.instances[iid].update(values)
        self.created(iid)
        self._changed(iid, None)

    def delete(self, iid):
        self.instance(iid)
        del self.instances[iid]
        self.deleted(iid)
        self._changed(iid, None)

    # -- values ----------------------------------------------------------------
    def read(self, iid, rid):
        """Current value of a resource (a dict riid -> value if multiple)."""
        inst = self.instance(iid)
        if rid not in inst:
            raise Error(NOT_FOUND, "no such resource")
        return inst[rid]

    def write(self, iid, rid, value):
        """Store a value written by a server or peer; `written()` acts on it."""
        self.instance(iid)[rid] = value
        self.written(iid, rid, value)
        self._changed(iid, rid)

    def remove(self, iid, rid):
        self.instance(iid).pop(rid, None)

    def get(self, iid, rid, default=None):
        """The stored value of a resource, `default` when the instance or the
        resource is absent (no computation, no error: for the engine's own
        reads of configuration objects)."""
        inst = self.instances.get(iid)
        if inst is None:
            return default
        return inst.get(rid, default)

    def set(self, iid, rid, value):
        """Update a value from the device side (drivers, application);
        observers hear of it only when it really changed."""
        inst = self.instance(iid)
        if inst.get(rid) != value:
            inst[rid] = value
            self._changed(iid, rid)

    def _changed(self, iid, rid):
        if self.on_change is not None:
            self.on_change(self.oid, iid, rid)

    # -- behaviour hooks (override) ----------------------------------------------
    def defaults(self, iid):
        """Initial values of a new instance."""
        return {}

    def validate(self, iid, rid, value):
        """Raise Error(4.00) unless a server may store `value` (a dict
        riid -> value for a multiple resource) in `rid`; called for every
        value of a Write or Create before anything is stored."""
        pass

    def written(self, iid, rid, value):
        pass

    def execute(self, iid, rid, args):
        raise Error(METHOD_NOT_ALLOWED, "not executable")

    def created(self, iid):
        pass

    def deleted(self, iid):
        pass

    def readable(self, iid, rid):
        """False hides a resource from Read although its flags say R (keys)."""
        return True


def parse_path(segments):
    """Uri-Path segments -> tuple of ints (1 to 4 long); Error 4.04 when not a
    valid LwM2M path (§6 of the TS: IDs are 0..65535)."""
    if not 1 <= len(segments) <= 4:
        raise Error(NOT_FOUND, "not an LwM2M path")
    out = []
    for seg in segments:
        if not seg or not seg.isdigit() or len(seg) > 5:
            raise Error(NOT_FOUND, "not an LwM2M path")
        n = int(seg)
        if n > 65535:
            raise Error(NOT_FOUND, "not an LwM2M path")
        out.append(n)
    return tuple(out)


def path_str(path):
    return "/" + "/".join(str(p) for p in path)

