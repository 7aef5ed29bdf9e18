"""Device Management operations on the data model (OMA-TS-LightweightM2M_Core
V1.1 §6.3, and §6.1 for Bootstrap-Write/Read/Delete).

`Model` is the set of objects of a client. `DeviceManagement.handle()` turns
a CoAP request into Read, Write (replace or partial update), Execute, Create
or Delete, checks the caller's rights, negotiates the content format, and
answers with a response `Message`. Observe, Discover and Write-Attributes
are the engine's (they need per-server state); this module gives them
`read_records()` and `encode()`.

A caller is any object with `allowed(op, oid, iid) -> bool` (op: one of the
access bits READ..CREATE, the ACL bits of objects 2 and 11002) and
`bootstrap` (True for a Bootstrap-Server, which may write anything).

Writes are all-or-nothing: every record is decoded and checked before the
first value is stored, so a failed multi-resource write changes nothing.
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

# Access bits (ACL values of objects 2 and 11002)
READ = const(1)
WRITE = const(2)
EXECUTE = const(4)
DELETE_OP = const(8)
CREATE = const(16)

FORMATS = (TEXT_PLAIN, OCTET_STREAM, LWM2M_TLV, SENML_JSON, SENML_CBOR, LWM2M_CBOR)
_SINGLE_ONLY = (TEXT_PLAIN, OCTET_STREAM)


def codec(cf):
    """The format module for content format `cf`, or None if unsupported."""
    if cf == LWM2M_TLV:
        from lwm2m.formats import tlv as m
    elif cf == SENML_CBOR:
        from lwm2m.formats import senml_cbor as m
    elif cf == SENML_JSON:
        from lwm2m.formats import senml_json as m
    elif cf == LWM2M_CBOR:
        from lwm2m.formats import lwm2m_cbor as m
    elif cf == TEXT_PLAIN:
        from lwm2m.formats import text as m
    elif cf == OCTET_STREAM:
        from lwm2m.formats import opaque as m
    else:
        return None
    return m


class Model:
    """The objects of one client, by object ID."""

    def __init__(self, objects=()):
        self.objects = {}
        for obj in objects:
            self.add(obj)

    def add(self, obj):
        self.objects[obj.oid] = obj

    def get(self, oid):
        obj = self.objects.get(oid)
        if obj is None:
            raise Error(NOT_FOUND, "no such object")
        return obj

    def type_of(self, path):
        """Type code of the resource at `path` (for decoders), None if unknown."""
        obj = self.objects.get(path[0])
        flags = obj.flags(path[2]) if obj is not None and len(path) > 2 else None
        return None if flags is None else type_of(flags)

    def read_records(self, path, caller=None):
        """[(path, value)] of everything readable under `path`."""
        obj = self.get(path[0])
        if len(path) > 1:
            obj.instance(path[1])
            iids = [path[1]]
        else:
            iids = [i for i in obj.iids()
                    if caller is None or caller.allowed(READ, obj.oid, i)]
        records = []
        for iid in iids:
            explicit = len(path) > 2
            for rid in ([path[2]] if explicit else obj.present(iid)):
                flags = obj.flags(rid)
                if flags is None:
                    raise Error(NOT_FOUND, "no such resource")
                if not flags & R or not obj.readable(iid, rid):
                    if explicit:
                        raise Error(METHOD_NOT_ALLOWED, "not readable")
                    continue
                value = obj.read(iid, rid)
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
    """Content format for a Read of `path`: the Accept if supported (else
    4.06), otherwise text/plain or opaque for one single resource, TLV else."""
    if accept is not None:
        if accept not in FORMATS:
            raise Error(NOT_ACCEPTABLE, "unsupported Accept")
        return accept
    if len(path) >= 3:
        t = model.type_of(path)
        flags = model.get(path[0]).flags(path[2])
        if flags is not None and (len(path) == 4 or not flags & MULTIPLE):
            return OCTET_STREAM if t == types.OPAQUE else TEXT_PLAIN
    return LWM2M_TLV


def encode(records, path, cf):
    m = codec(cf)
    if cf in _SINGLE_ONLY and len(records) != 1:
        raise Error(NOT_ACCEPTABLE, "format holds a single value")
    try:
        return m.encode(records, path)
    except ValueError:
        raise Error(NOT_ACCEPTABLE, "value cannot be encoded in this format")


class DeviceManagement:
    def __init__(self, model):
        self.model = model

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
        return reply(CONTENT, encode(records, path, cf), cf)

    def decode(self, request, base):
        cf = request.content_format
        if cf is None:
            raise Error(BAD_REQUEST, "Content-Format required")
        m = codec(cf)
        if m is None:
            raise Error(UNSUPPORTED_CONTENT_FORMAT)
        try:
            return m.decode(bytes(request.payload), base, self.model.type_of)
        except KeyError:
            raise Error(NOT_FOUND, "unknown resource in payload")
        except ValueError:
            raise Error(BAD_REQUEST, "malformed payload")

    def write(self, path, request, caller, replace):
        if len(path) == 1 or (len(path) == 4 and replace is False):
            raise Error(METHOD_NOT_ALLOWED)
        self._check(caller, WRITE, path)
        obj = self.model.get(path[0])
        obj.instance(path[1])
        records = self.decode(request, path)
        plan = self._plan(obj, path, records, caller, path[1])
        if replace and len(path) == 2:
            # Replace (§6.3.3): optional writable resources absent from the
            # payload are removed.
            given = set(rid for rid in plan)
            for rid in obj.present(path[1]):
                flags = obj.flags(rid)
                if (flags is not None and flags & W and not flags & MANDATORY
                        and rid not in given):
                    obj.remove(path[1], rid)
        for rid, value in plan.items():
            obj.write(path[1], rid, self._merge(obj, path, rid, value, replace))
        return reply(CHANGED)

    def _merge(self, obj, path, rid, value, replace):
        """A partial update, or a write to one resource instance, of a
        multiple resource keeps its other instances."""
        if isinstance(value, dict) and (not replace or len(path) == 4):
            merged = dict(obj.instances[path[1]].get(rid) or {})
            merged.update(value)
            return merged
        return value

    def _plan(self, obj, path, records, caller, iid):
        """Check every record; return {rid: value or {riid: value}}."""
        plan = {}
        for rpath, value in records:
            if rpath[:len(path)] != path or len(rpath) < 3 or rpath[1] != iid:
                raise Error(BAD_REQUEST, "record outside the target")
            flags = obj.flags(rpath[2])
            if flags is None:
                raise Error(NOT_FOUND, "no such resource")
            if not caller.bootstrap and not flags & W:
                raise Error(METHOD_NOT_ALLOWED, "not writable")
            check_type(flags, value)
            if flags & MULTIPLE:
                if len(rpath) != 4:
                    raise Error(BAD_REQUEST, "multiple resource needs instances")
                plan.setdefault(rpath[2], {})[rpath[3]] = value
            elif len(rpath) != 3:
                raise Error(BAD_REQUEST, "single resource has no instances")
            else:
                plan[rpath[2]] = value
        return plan

    def execute(self, path, request, caller):
        self._check(caller, EXECUTE, path)
        obj = self.model.get(path[0])
        obj.instance(path[1])
        flags = obj.flags(path[2])
        if flags is None:
            raise Error(NOT_FOUND, "no such resource")
        if not flags & E:
            raise Error(METHOD_NOT_ALLOWED, "not executable")
        try:
            args = bytes(request.payload).decode()
        except UnicodeError:
            raise Error(BAD_REQUEST, "arguments are not text")
        obj.execute(path[1], path[2], args)
        return reply(CHANGED)

    def create(self, path, request, caller):
        self._check(caller, CREATE, path)
        obj = self.model.get(path[0])
        records = self.decode(request, path)
        iids = set(p[1] for p, _ in records)
        if len(iids) > 1:
            raise Error(BAD_REQUEST, "one instance per Create")
        iid = iids.pop() if iids else obj.new_iid()
        if iid in obj.instances:
            raise Error(BAD_REQUEST, "instance exists")
        if not obj.multiple and obj.instances:
            raise Error(BAD_REQUEST, "single-instance object")
        plan = self._plan(obj, (path[0],), records, _Anything(caller), iid)
        for rid in obj.resource_ids():
            flags = obj.flags(rid)
            if flags & MANDATORY and flags & W and rid not in plan:
                raise Error(BAD_REQUEST, "mandatory resource missing")
        obj.create(iid, plan)
        response = reply(CREATED)
        response.add(LOCATION_PATH, str(path[0]))
        response.add(LOCATION_PATH, str(iid))
        return response

    def delete(self, path, caller):
        if len(path) != 2 and not (caller.bootstrap and len(path) <= 2):
            raise Error(METHOD_NOT_ALLOWED)
        self._check(caller, DELETE_OP, path)
        obj = self.model.get(path[0])
        for iid in ([path[1]] if len(path) == 2 else obj.iids()):
            obj.delete(iid)
        return reply(DELETED)

    def _check(self, caller, op, path):
        if not caller.allowed(op, path[0], path[1] if len(path) > 1 else None):
            raise Error(UNAUTHORIZED, "access denied")


class _Anything:
    """A Create may set any resource the payload names (§6.3.6), writable or not."""

    def __init__(self, caller):
        self.bootstrap = True
        self.caller = caller
