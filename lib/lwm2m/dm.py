"""Device Management operations on the data model (OMA-TS-LightweightM2M_Core
V1.1 §6.3): Read, Write (replace and partial update), Execute, Create and
Delete, with content-format negotiation and the TS response codes.

`Model` is the set of objects of a client. `DeviceManagement.handle()` turns
a CoAP request into one operation, checks the caller's rights and answers
with a response `Message`. Observe, Discover and Write-Attributes belong to
the engine's reporting hook; Bootstrap-Write/Read/Delete to lwm2m.bootstrap,
which reuse `decode()`, `plan()` and `encode()` from here.

A caller is any object with `allowed(op, oid, iid) -> bool` (op: one of the
access bits READ..CREATE, the ACL bits of objects 2 and 11002; iid None for
an object-level operation) and `bootstrap` (True for a Bootstrap-Server,
which may write resources that have no W operation).

Writes are all-or-nothing (issue: "a failed multi-resource write changes
nothing"): the payload is decoded and every record checked -- path, W
operation, type, `LwObject.validate()` -- before the first value is stored.
`listener` (the engine) hears of `created(caller, oid, iid)` and
`deleted(caller, oid, iid)` after a Create/Delete succeeded.
"""
from micropython import const
from coap.numbers import (GET, PUT, POST, DELETE, CONTENT, CHANGED, CREATED,
                          DELETED, BAD_REQUEST, UNAUTHORIZED, NOT_FOUND,
                          METHOD_NOT_ALLOWED, NOT_ACCEPTABLE,
                          UNSUPPORTED_CONTENT_FORMAT, LOCATION_PATH,
                          TEXT_PLAIN, OCTET_STREAM, SENML_JSON, SENML_CBOR,
                          LWM2M_TLV, LWM2M_CBOR)
from coap.server import reply
from lwm2m.model import (Error, R, W, E, MULTIPLE, MANDATORY, check_type,
                         type_of, parse_path)
from lwm2m.formats import types

# Access bits (ACL values of objects 2 and 11002, Core §E.3 / c2c-extension.md)
READ = const(1)
WRITE = const(2)
EXECUTE = const(4)
DELETE_OP = const(8)
CREATE = const(16)

# Data formats in order of preference for the Register `ct` list; a format is
# offered only when its codec module is installed (see `supported()`).
FORMATS = (TEXT_PLAIN, OCTET_STREAM, LWM2M_TLV, SENML_JSON, SENML_CBOR, LWM2M_CBOR)
_MODULES = {TEXT_PLAIN: "text", OCTET_STREAM: "opaque", LWM2M_TLV: "tlv",
            SENML_JSON: "senml_json", SENML_CBOR: "senml_cbor",
            LWM2M_CBOR: "lwm2m_cbor"}
_SINGLE_ONLY = (TEXT_PLAIN, OCTET_STREAM)
_codecs = {}


def codec(cf):
    """The format module for content format `cf`, or None if not installed."""
    m = _codecs.get(cf)
    if m is None:
        m = False
        if cf in _MODULES:
            try:
                m = __import__("lwm2m.formats." + _MODULES[cf], None, None, ("encode",))
            except ImportError:
                pass
        _codecs[cf] = m
    return m or None


def supported():
    """The data content formats this build can encode and decode."""
    return [cf for cf in FORMATS if codec(cf) is not None]


class Model:
    """The objects of one client, by object ID."""

    def __init__(self, objects=()):
        self.objects = {}
        for obj in objects:
            self.add(obj)

    def add(self, obj):
        self.objects[obj.oid] = obj

    def __contains__(self, oid):
        return oid in self.objects

    def find(self, oid):
        """The object, or None."""
        return self.objects.get(oid)

    def get(self, oid):
        obj = self.objects.get(oid)
        if obj is None:
            raise Error(NOT_FOUND, "no such object")
        return obj

    def oids(self):
        return sorted(self.objects)

    def type_of(self, path):
        """Type code of the resource at `path` (for codecs), None if unknown."""
        obj = self.objects.get(path[0]) if path else None
        flags = obj.flags(path[2]) if obj is not None and len(path) > 2 else None
        return None if flags is None else type_of(flags)

    def read_records(self, path, caller=None):
        """[(path, value)] of everything readable under `path` (Read §6.3.1).
        At object level, instances the caller may not read are left out."""
        obj = self.get(path[0])
        if len(path) > 1:
            obj.instance(path[1])
            iids = [path[1]]
        else:
            iids = [i for i in obj.iids()
                    if caller is None or caller.allowed(READ, obj.oid, i)]
        explicit = len(path) > 2
        records = []
        for iid in iids:
            rids = [path[2]] if explicit else obj.present(iid)
            for rid in rids:
                flags = obj.flags(rid)
                if flags is None or (explicit and rid not in obj.instance(iid)):
                    raise Error(NOT_FOUND, "no such resource")
                if not flags & R or not obj.readable(iid, rid):
                    if explicit:
                        raise Error(METHOD_NOT_ALLOWED, "not readable")
                    continue
                value = obj.read(iid, rid)
                if value is None:               # e.g. a time not known yet
                    if explicit:
                        raise Error(NOT_FOUND, "no value")
                    continue
                base = (obj.oid, iid, rid)
                if flags & MULTIPLE:
                    if len(path) == 4 and path[3] not in value:
                        raise Error(NOT_FOUND, "no such resource instance")
                    for riid in sorted(value):
                        if len(path) < 4 or riid == path[3]:
                            records.append((base + (riid,), value[riid]))
                else:
                    if len(path) == 4:
                        raise Error(NOT_FOUND, "not a multiple resource")
                    records.append((base, value))
        return records


def choose_format(model, path, accept):
    """Content format for a Read of `path` (§7.1): the Accept if supported
    (else 4.06); without Accept, text/plain or opaque for one single value,
    TLV otherwise (the LwM2M 1.0 default, which every server reads)."""
    if accept is not None:
        if accept not in FORMATS or codec(accept) is None:
            raise Error(NOT_ACCEPTABLE, "unsupported Accept")
        return accept
    if len(path) >= 3:
        flags = model.get(path[0]).flags(path[2])
        if flags is not None and (len(path) == 4 or not flags & MULTIPLE):
            return OCTET_STREAM if type_of(flags) == types.OPAQUE else TEXT_PLAIN
    return LWM2M_TLV


def encode(model, records, path, cf):
    """Payload of `records` read at `path` in format `cf`; 4.06 when the
    format cannot hold them (text/plain for several values)."""
    if cf in _SINGLE_ONLY and (len(records) != 1 or records[0][0] != path):
        raise Error(NOT_ACCEPTABLE, "format holds a single value")
    try:
        return codec(cf).encode(records, path, model.type_of)
    except ValueError:
        raise Error(NOT_ACCEPTABLE, "value cannot be encoded in this format")


def decode(model, request, base, new_instance=None):
    """Records of a Write/Create payload: 4.00 without Content-Format or for
    a malformed payload, 4.15 for an unsupported format, 4.04 for a resource
    the object does not define."""
    cf = request.content_format
    if cf is None:
        raise Error(BAD_REQUEST, "Content-Format required")
    m = codec(cf)
    if m is None:
        raise Error(UNSUPPORTED_CONTENT_FORMAT)
    try:
        if cf == LWM2M_TLV and new_instance is not None:
            return m.decode(bytes(request.payload), base, model.type_of, new_instance)
        return m.decode(bytes(request.payload), base, model.type_of)
    except KeyError:                       # types.UnknownPath
        raise Error(NOT_FOUND, "unknown resource in payload")
    except ValueError:                     # types.FormatError, UnicodeError
        raise Error(BAD_REQUEST, "malformed payload")


def plan(obj, base, records, iid, writable_only=True):
    """Check every record of a write into instance `iid` of `obj`; return
    {rid: value or {riid: value}}. Nothing is stored here."""
    out = {}
    for rpath, value in records:
        if rpath[:len(base)] != base or len(rpath) < 3 or rpath[1] != iid:
            raise Error(BAD_REQUEST, "record outside the target")
        flags = obj.flags(rpath[2])
        if flags is None:
            raise Error(NOT_FOUND, "no such resource")
        if writable_only and not flags & W:
            raise Error(METHOD_NOT_ALLOWED, "not writable")
        if flags & E or type_of(flags) == types.NONE:
            raise Error(METHOD_NOT_ALLOWED, "executable resources hold no value")
        check_type(flags, value)
        if flags & MULTIPLE:
            if len(rpath) != 4:
                raise Error(BAD_REQUEST, "multiple resource needs instances")
            out.setdefault(rpath[2], {})[rpath[3]] = value
        elif len(rpath) != 3:
            raise Error(BAD_REQUEST, "single resource has no instances")
        elif rpath[2] in out:
            raise Error(BAD_REQUEST, "resource given twice")
        else:
            out[rpath[2]] = value
    return out


def validate(obj, iid, values):
    for rid, value in values.items():
        obj.validate(iid, rid, value)


def parse_arguments(text):
    """Execute arguments (§5.4.3 of the Transport TS): `0='abc',1` ->
    [(0, 'abc'), (1, None)]; Error 4.00 when malformed."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if not "0" <= c <= "9":
            raise Error(BAD_REQUEST, "argument must start with a digit")
        i += 1
        value = None
        if i < n and text[i] == "=":
            if i + 1 >= n or text[i + 1] != "'":
                raise Error(BAD_REQUEST, "argument value must be quoted")
            end = text.find("'", i + 2)
            if end < 0:
                raise Error(BAD_REQUEST, "unterminated argument value")
            value = text[i + 2:end]
            i = end + 1
        out.append((int(c), value))
        if i < n:
            if text[i] != "," or i + 1 == n:
                raise Error(BAD_REQUEST, "arguments are separated by commas")
            i += 1
    return out


class DeviceManagement:
    def __init__(self, model, listener=None):
        self.model = model
        self.listener = listener

    def handle(self, request, caller):
        """Answer a DM request (GET without Observe/Discover, PUT, POST, DELETE)."""
        try:
            path = parse_path(request.path())
            code = request.code
            if code == GET:
                return self.read(path, request.accept, caller)
            if code == PUT:
                return self.write(path, request, caller, replace=True)
            if code == POST:
                if len(path) == 1:
                    return self.create(path, request, caller)
                if len(path) == 2:
                    return self.write(path, request, caller, replace=False)
                if len(path) == 3:
                    return self.execute(path, request, caller)
                raise Error(METHOD_NOT_ALLOWED)
            if code == DELETE:
                return self.delete(path, caller)
            raise Error(METHOD_NOT_ALLOWED)
        except Error as e:
            return reply(e.code)

    def read(self, path, accept, caller):
        self._check(caller, READ, path)
        cf = choose_format(self.model, path, accept)
        records = self.model.read_records(path, caller)
        if len(path) >= 3 and not records:
            raise Error(NOT_FOUND, "empty resource")
        return reply(CONTENT, encode(self.model, records, path, cf), cf)

    def write(self, path, request, caller, replace):
        """Write (§6.3.3): PUT replaces the target, POST on an instance
        updates the resources given (partial update)."""
        if len(path) == 1:
            raise Error(METHOD_NOT_ALLOWED, "Write on an object")
        self._check(caller, WRITE, path)
        obj = self.model.get(path[0])
        obj.instance(path[1])
        records = decode(self.model, request, path)
        values = plan(obj, path, records, path[1], not caller.bootstrap)
        if len(path) > 2 and path[2] not in values:
            raise Error(BAD_REQUEST, "payload does not hold the target")
        iid = path[1]
        values = dict((rid, self._merge(obj, path, rid, v, replace))
                      for rid, v in values.items())
        validate(obj, iid, values)
        if replace and len(path) == 2:
            # Replace an instance: optional writable resources absent from
            # the payload go away (§6.3.3 "replace").
            for rid in obj.present(iid):
                flags = obj.flags(rid)
                if (flags is not None and flags & W and not flags & MANDATORY
                        and rid not in values):
                    obj.remove(iid, rid)
        for rid, value in values.items():
            obj.write(iid, rid, value)
        return reply(CHANGED)

    def _merge(self, obj, path, rid, value, replace):
        """A partial update of an instance, and a write to one resource
        instance, keep the multiple resource's other instances."""
        if isinstance(value, dict) and (not replace or len(path) == 4):
            merged = dict(obj.get(path[1], rid) or {})
            merged.update(value)
            return merged
        return value

    def execute(self, path, request, caller):
        """Execute (§6.3.5) with optional arguments, checked for syntax."""
        self._check(caller, EXECUTE, path)
        obj = self.model.get(path[0])
        inst = obj.instance(path[1])
        flags = obj.flags(path[2])
        if flags is None:
            raise Error(NOT_FOUND, "no such resource")
        if not flags & E:
            raise Error(METHOD_NOT_ALLOWED, "not executable")
        if path[2] not in inst:
            raise Error(NOT_FOUND, "resource not instantiated")
        try:
            args = bytes(request.payload).decode()
        except UnicodeError:
            raise Error(BAD_REQUEST, "arguments are not text")
        parse_arguments(args)
        obj.execute(path[1], path[2], args)
        return reply(CHANGED)

    def create(self, path, request, caller):
        """Create (§6.3.6): POST on an object, with or without the new
        instance's ID. The payload may set any resource the object defines."""
        self._check(caller, CREATE, path)
        obj = self.model.get(path[0])
        records = decode(self.model, request, path, obj.new_iid())
        iids = set(p[1] for p, _ in records if len(p) > 1)
        if len(iids) > 1:
            raise Error(BAD_REQUEST, "one instance per Create")
        iid = iids.pop() if iids else obj.new_iid()
        if iid == 65535:
            raise Error(BAD_REQUEST, "instance ID 65535 is reserved")
        if iid in obj.instances:
            raise Error(BAD_REQUEST, "instance exists")
        if not obj.multiple and obj.instances:
            raise Error(BAD_REQUEST, "single-instance object")
        values = plan(obj, (path[0],), records, iid, False)
        defaults = obj.defaults(iid)
        for rid in obj.resource_ids():
            flags = obj.flags(rid)
            if (flags & MANDATORY and flags & W and rid not in values
                    and rid not in defaults):
                raise Error(BAD_REQUEST, "mandatory resource missing")
        validate(obj, iid, values)
        obj.create(iid, values)
        if self.listener is not None:
            self.listener.created(caller, obj.oid, iid)
        response = reply(CREATED)
        response.add(LOCATION_PATH, str(path[0]))
        response.add(LOCATION_PATH, str(iid))
        return response

    def delete(self, path, caller):
        """Delete (§6.3.7) of an object instance."""
        if len(path) != 2:
            raise Error(METHOD_NOT_ALLOWED, "Delete needs an object instance")
        self._check(caller, DELETE_OP, path)
        obj = self.model.get(path[0])
        obj.delete(path[1])
        if self.listener is not None:
            self.listener.deleted(caller, obj.oid, path[1])
        return reply(DELETED)

    def _check(self, caller, op, path):
        if not caller.allowed(op, path[0], path[1] if len(path) > 1 else None):
            raise Error(UNAUTHORIZED, "access denied")
