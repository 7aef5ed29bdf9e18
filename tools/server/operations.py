"""Operations on a registered client: Device Management (OMA-TS-
LightweightM2M_Core V1.1 §6.3) and Information Reporting (§6.4).

Owns: `Device` (the handle the API, tests and the console use for one client:
read, discover, write, write_attributes, execute, create, delete, observe,
cancel_observation), building the exact CoAP request of each operation (CoAP
mapping of _Transport V1.1 §6.4), `Result` (what came back: code, decoded
records / value / links, location, raw payload, or an error), `Pending` (a
request in flight: callback style, or `wait()` which runs the server's driver
until the answer is in) and `Observation` (an Observe registration whose
notifications go to a callback) -- those three live in results.py.

Every request leaves through `Server.request(reg, msg, ...)`, which passes the
registration's `security` to the channel: nothing here knows whether the
client is reached over NoSec or OSCORE.
"""
from coap.numbers import (CON, GET, PUT, POST, DELETE, ACCEPT, CONTENT_FORMAT,
                          OBSERVE, URI_QUERY, LOCATION_PATH, LINK_FORMAT,
                          TEXT_PLAIN, LWM2M_TLV)
from coap.message import Message
from coap.endpoint import TIMEOUT, RESET
from coap.client import copy_request

from tools.server import formats, linkformat
from tools.server.results import Result, Pending, Observation  # noqa: F401 (re-exported)

# Core V1.1 §5.1.2: the <NOTIFICATION> attributes, in the order we send them
ATTRIBUTES = ("pmin", "pmax", "gt", "lt", "st", "epmin", "epmax")
_INT_ATTRIBUTES = ("pmin", "pmax", "epmin", "epmax")


class NotRegistered(LookupError):
    """No client with that endpoint name is registered."""


def parse_path(path):
    """(oid, iid, rid, riid) prefix from '/3/0/1', '3/0' or a tuple; 1 to 4
    IDs of 0..65535. ValueError otherwise."""
    if isinstance(path, (tuple, list)):
        ids = tuple(path)
        if not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
            raise ValueError("path IDs must be integers")
    else:
        text = str(path).strip()
        parsed = linkformat.lwm2m_path(text if text.startswith("/") else "/" + text)
        if parsed is None:
            raise ValueError("not an LwM2M path: %r" % path)
        ids = parsed
    if not 1 <= len(ids) <= 4 or not all(0 <= i <= 65535 for i in ids):
        raise ValueError("not an LwM2M path: %r" % (path,))
    return ids


def path_text(path):
    return "/" + "/".join(str(i) for i in path)


def _number(name, value):
    """Attribute value text (Core V1.1 §5.1.2): integers for periods, decimal
    numbers for gt/lt/st, never an exponent."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError("%s needs a number" % name)
    if name in _INT_ATTRIBUTES:
        if not isinstance(value, int) and not float(value).is_integer():
            raise ValueError("%s needs whole seconds" % name)
        value = int(value)
        if value < 0:
            raise ValueError("%s cannot be negative" % name)
        return str(value)
    if isinstance(value, int):
        return str(value)
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError("%s needs a finite number" % name)
    text = repr(value)
    if "e" in text or "E" in text:
        text = ("%.20f" % value).rstrip("0").rstrip(".")
    return text


def to_records(path, value):
    """Records for a Write/Create at `path` from a value, a dict or a list.

    - a list of (path, value): taken as is (paths parsed);
    - a dict at an instance (or, for Create, an object): {rid: value, or
      {riid: value} for a multiple resource};
    - a dict at a resource: {riid: value} (a multiple resource);
    - anything else: the one value of `path`.
    Dict keys may be numeric strings (JSON)."""
    if isinstance(value, list):
        return [(parse_path(p), v) for p, v in value]
    if isinstance(value, dict):
        out = []
        for key, item in value.items():
            sub = path + (_id(key),)
            if isinstance(item, dict):
                if len(sub) != 3:
                    raise ValueError("nested values belong to a multiple resource")
                for riid, v in item.items():
                    out.append((sub + (_id(riid),), v))
            else:
                out.append((sub, item))
        if not out:
            raise ValueError("nothing to write")
        for p, _ in out:
            if len(p) > 4:
                raise ValueError("path too deep: %s" % path_text(p))
        return out
    return [(path, value)]


def _id(key):
    if isinstance(key, int) and not isinstance(key, bool) and 0 <= key <= 65535:
        return key
    if isinstance(key, str) and key.isdigit() and int(key) <= 65535:
        return int(key)
    raise ValueError("bad ID %r" % (key,))


class Device:
    """Operations on the client registered as `endpoint`. Each method returns
    a Pending (an Observation for observe) at once; pass `callback` for the
    sans-IO style, or call `.wait()` on the result for a blocking answer.
    Raises NotRegistered when the client is not (or no longer) registered,
    ValueError for a bad path or value."""

    def __init__(self, server, endpoint):
        self.server = server
        self.endpoint = endpoint

    @property
    def registration(self):
        reg = self.server.registry.by_endpoint(self.endpoint)
        if reg is None:
            raise NotRegistered("%s is not registered" % self.endpoint)
        return reg

    # -- Device Management (§6.3) -------------------------------------------------
    def read(self, path, accept=None, callback=None):
        """Read (§6.3.1): GET, with Accept when a format is asked for."""
        path = parse_path(path)
        msg = self._message(GET, path)
        if accept is not None:
            msg.add(ACCEPT, accept)
        return self._send("read", path, msg, callback)

    def discover(self, path, depth=None, callback=None):
        """Discover (§6.3.2): GET with Accept: application/link-format. `depth`
        (LwM2M 1.2) becomes Uri-Query depth=N; 1.1 clients may refuse it."""
        path = parse_path(path)
        msg = self._message(GET, path)
        msg.add(ACCEPT, LINK_FORMAT)
        if depth is not None:
            if isinstance(depth, bool) or not isinstance(depth, int) or not 0 <= depth <= 3:
                raise ValueError("depth is 0..3")
            msg.add(URI_QUERY, "depth=%d" % depth)
        return self._send("discover", path, msg, callback)

    def write(self, path, value, content_format=None, replace=True, callback=None):
        """Write (§6.3.3): PUT replaces, POST (replace=False, object instance
        only: POST on a resource would be Execute) updates partially.
        `value`: see to_records(). The format defaults to text/plain (opaque
        for bytes) for one value of a resource, else to the best multi-value
        format the client advertised."""
        path = parse_path(path)
        if len(path) < 2:
            raise ValueError("Write targets an object instance or a resource")
        if not replace and len(path) != 2:
            raise ValueError("a partial update (POST) targets an object instance")
        records = to_records(path, value)
        reg = self.registration
        cf = content_format
        if cf is None:
            single = len(records) == 1 and records[0][0] == path and len(path) >= 3
            opaque = single and isinstance(records[0][1], (bytes, bytearray))
            cf = formats.default_format(reg.formats, single, opaque)
        msg = self._message(PUT if replace else POST, path, reg)
        msg.add(CONTENT_FORMAT, cf)
        msg.payload = formats.encode(cf, records, path, self.server.objects.type_of)
        return self._send("write", path, msg, callback, reg)

    def write_attributes(self, path, callback=None, **attrs):
        """Write-Attributes (§6.3.4): PUT with the attributes as Uri-Query,
        no payload. An attribute given as None is removed (sent without a
        value, §5.1.2)."""
        path = parse_path(path)
        unknown = [k for k in attrs if k not in ATTRIBUTES]
        if unknown:
            raise ValueError("unknown attribute %s" % unknown[0])
        if not attrs:
            raise ValueError("no attribute given")
        msg = self._message(PUT, path)
        for name in ATTRIBUTES:
            if name in attrs:
                value = attrs[name]
                msg.add(URI_QUERY, name if value is None else
                        "%s=%s" % (name, _number(name, value)))
        return self._send("write-attributes", path, msg, callback)

    def execute(self, path, args="", callback=None):
        """Execute (§6.3.5): POST on a resource; the arguments (text, §5.4.5
        syntax, e.g. "0='v'") go as a text/plain payload."""
        path = parse_path(path)
        if len(path) != 3:
            raise ValueError("Execute targets a resource")
        msg = self._message(POST, path)
        if args:
            msg.add(CONTENT_FORMAT, TEXT_PLAIN)
            msg.payload = args.encode() if isinstance(args, str) else bytes(args)
        return self._send("execute", path, msg, callback)

    def create(self, path, records, iid=None, content_format=None, callback=None):
        """Create (§6.3.6): POST on an object. `records`: {rid: value} (or a
        list of records); `iid` (or a path /O/I) names the new instance,
        else the client picks one and tells it in Location-Path — only TLV
        can carry resources without their instance, so iid=None needs TLV."""
        path = parse_path(path)
        if len(path) == 2 and iid is None:
            path, iid = path[:1], path[1]
        if len(path) != 1:
            raise ValueError("Create targets an object")
        if iid is not None and not (isinstance(iid, int) and 0 <= iid < 65535):
            raise ValueError("bad instance ID %r" % (iid,))
        reg = self.registration
        cf = content_format
        if cf is None:
            cf = formats.default_format(reg.formats, False) if iid is not None else LWM2M_TLV
        if iid is not None:
            recs = to_records(path + (iid,), records) if isinstance(records, dict) \
                else [(parse_path(p), v) for p, v in records]
            payload = formats.encode(cf, recs, path, self.server.objects.type_of)
        else:
            if cf != LWM2M_TLV:
                raise ValueError("Create without an instance ID needs TLV")
            # resources only, no Object Instance TLV around them (§6.3.6)
            if not isinstance(records, dict):
                raise ValueError("Create without an instance ID takes {rid: value}")
            recs = to_records(path + (0,), records)
            payload = formats.encode(cf, recs, path + (0,), self.server.objects.type_of)
        msg = self._message(POST, path, reg)
        msg.add(CONTENT_FORMAT, cf)
        msg.payload = payload
        return self._send("create", path, msg, callback, reg)

    def delete(self, path, callback=None):
        """Delete (§6.3.7): DELETE on an object instance."""
        path = parse_path(path)
        return self._send("delete", path, self._message(DELETE, path), callback)

    # -- Information Reporting (§6.4) ----------------------------------------------
    def observe(self, path, on_notify=None, accept=None, callback=None):
        """Observe (§6.4.1): GET with Observe=0. `callback(result)` gets the
        answer to the Observe request, `on_notify(result)` every notification
        after it. Observing a path again replaces the earlier observation."""
        path = parse_path(path)
        reg = self.registration
        old = reg.observations.get(path)
        if old is not None:
            old.stop()
        msg = self._message(GET, path, reg)
        if accept is not None:
            msg.add(ACCEPT, accept)
        obs = Observation(self.server, self.endpoint, path, on_notify, callback)
        obs.reg = reg
        reg.observations[path] = obs

        def on_response(response, error):
            result = self._result("notify" if obs.done else "observe", path, response, error)
            if not obs.done:
                obs.active = result.ok and response.has(OBSERVE)
                if not obs.active and reg.observations.get(path) is obs:
                    del reg.observations[path]
                obs.complete(result)
                return
            if not obs.active:
                return
            obs.count += 1
            obs.last = result
            if not result.ok:                   # an error ends it (RFC 7641 §4.2)
                obs.active = False
                if reg.observations.get(path) is obs:
                    del reg.observations[path]
            if obs.on_notify is not None:
                obs.on_notify(result)
        try:
            obs.operation = self.server.request(reg, msg, on_response, observe=True)
        except Exception as e:                  # table full, no channel for its security
            if reg.observations.get(path) is obs:
                del reg.observations[path]
            obs.complete(Result("observe", self.endpoint, path, error=str(e)))
        return obs

    def cancel_observation(self, path, proactive=True, callback=None):
        """Cancel Observation (§6.4.3). Proactive: GET with Observe=1 and the
        observation's token (RFC 7641 §3.6), returns its Pending; reactive:
        forget it here and let the next notification be reset, returns None.
        KeyError when `path` is not observed."""
        path = parse_path(path)
        reg = self.registration
        obs = reg.observations.get(path)
        if obs is None:
            raise KeyError("%s is not observed" % path_text(path))
        operation = obs.operation
        obs.stop()
        if not proactive or operation is None or operation.token is None:
            return None
        msg = copy_request(operation.template, CON)
        msg.code = GET
        msg.set(OBSERVE, 1)
        pending = Pending(self.server, "cancel", self.endpoint, path, callback)

        def on_response(response, error):
            pending.complete(self._result("cancel", path, response, error))
        try:
            self.server.follow_up(reg, operation, msg, on_response)
        except Exception as e:
            pending.complete(Result("cancel", self.endpoint, path, error=str(e)))
        return pending

    def observations(self):
        return dict(self.registration.observations)

    # -- plumbing --------------------------------------------------------------------
    def _message(self, code, path, reg=None):
        reg = reg or self.registration
        msg = Message(CON, code)
        root = [s for s in reg.root.split("/") if s]
        msg.set_path(root + [str(i) for i in path])
        return msg

    def _send(self, op, path, msg, callback, reg=None):
        reg = reg or self.registration
        pending = Pending(self.server, op, self.endpoint, path, callback)

        def on_response(response, error):
            pending.complete(self._result(op, path, response, error))
        try:
            self.server.request(reg, msg, on_response)
        except Exception as e:                  # table full, no channel for its security
            pending.complete(Result(op, self.endpoint, path, error=str(e)))
        return pending

    def _result(self, op, path, response, error):
        if response is None:
            why = ("timeout" if error == TIMEOUT else "reset" if error == RESET
                   else str(error))
            return Result(op, self.endpoint, path, error=why)
        result = Result(op, self.endpoint, path, response)
        if response.has(LOCATION_PATH):
            try:
                result.location = parse_path("/" + "/".join(response.location_path()))
            except ValueError:
                pass
        if not result.payload or result.code >> 5 != 2:
            return result
        cf = result.content_format
        if cf == LINK_FORMAT:
            try:
                result.links = linkformat.parse(result.payload)
            except ValueError as e:
                result.decode_error = str(e)
            return result
        if cf is None:                  # no Content-Format: nothing to decode by
            return result
        records, why = formats.decode(cf, result.payload, path, self.server.objects.type_of)
        result.records = records
        result.decode_error = why
        if records is not None and len(records) == 1 and records[0][0] == path:
            result.value = records[0][1]
        return result
