"""Bootstrap interface, client side (OMA-TS-LightweightM2M_Core V1.1 §6.1):
Client Initiated Bootstrap and the operations a Bootstrap-Server performs.

Sequence. `start()` (no usable server account, a failed registration with
Bootstrap on Registration Failure, or a Bootstrap-Request Trigger) waits the
Client Hold Off Time (0/x/11), then sends `POST /bs?ep=NAME`. After its 2.04
the Bootstrap-Server writes the configuration and ends with Bootstrap-Finish
(`POST /bs`). A request from the Bootstrap-Server also starts a bootstrap on
its own (Server Initiated Bootstrap). While bootstrapping, registrations are
suspended. If no Bootstrap-Server request arrives for EXCHANGE_LIFETIME, the
bootstrap has failed (Anjay and Wakaama use the same timeout): the
configuration objects (0, 1, 2, 21 and the C2C 11000-11002) are put back as
they were, and a new Bootstrap-Request follows with the Communication Retry
back-off and defaults of §6.2.1.1 (a Bootstrap-Server account has no Server
object instance to configure them).

Operations (`handle()`):
- Bootstrap-Write: PUT on an object, instance or resource; any object incl.
  Security (0) and OSCORE (21); a missing instance is created; resources the
  client does not know are ignored in object/instance writes (Core V1.1:
  "the LwM2M Client MUST ignore optional resources it does not support").
- Bootstrap-Read: GET on the Server (1) or Access Control (2) object only
  (Core V1.1 restricts it to those); anything else is 4.05.
- Bootstrap-Discover: GET with Accept 40 on / or an object.
- Bootstrap-Delete: DELETE on /, an object or an instance; never the
  Bootstrap-Server account (its Security instance and the OSCORE instance it
  links) nor the Device object; instances an object refuses to delete (4.05)
  are left in place; a resource path is 4.00.
- Bootstrap-Finish: the accounts.check() consistency check: 2.04 and the
  configuration is saved and used; else 4.06 Not Acceptable with a one-line
  diagnostic, and the Bootstrap-Server may correct it and finish again.
After a successful Finish, a Bootstrap-Server Account Timeout (0/x/12) > 0
purges the Bootstrap-Server account that many seconds later (§E.1).
"""
from micropython import const
from coap.message import Message
from coap.numbers import (CON, GET, PUT, POST, DELETE, CHANGED, CONTENT, DELETED,
                          BAD_REQUEST, NOT_ACCEPTABLE, METHOD_NOT_ALLOWED,
                          URI_QUERY, LINK_FORMAT)
from coap.server import reply
from lwm2m.model import Error, parse_path
from lwm2m import dm, links, accounts
from lwm2m.formats import types
from lwm2m.objects import security as sec
from lwm2m.objects import server as srv

IDLE = const(0)
WAITING = const(1)          # hold-off or back-off before the Bootstrap-Request
REQUESTING = const(2)       # Bootstrap-Request in flight
ACTIVE = const(3)           # the Bootstrap-Server is configuring us
NAMES = ("idle", "waiting", "requesting", "active")

CONFIG = (0, 1, 2, 21, 11000, 11001, 11002)
_EXCHANGE_LIFETIME_MS = const(247000)       # RFC 7252 §4.8.2, default parameters


def snapshot(model):
    """A copy of the configuration objects' instances."""
    out = {}
    for oid in CONFIG:
        obj = model.find(oid)
        if obj is not None:
            out[oid] = dict((iid, dict((rid, dict(v) if isinstance(v, dict) else v)
                                       for rid, v in inst.items()))
                            for iid, inst in obj.instances.items())
    return out


class Bootstrap:
    def __init__(self, engine, timeout_ms=_EXCHANGE_LIFETIME_MS):
        self.engine = engine
        self.timeout_ms = timeout_ms
        self.state = IDLE
        self.due = 0
        self.attempt = 0
        self.sequence = 0
        self.saved = None           # configuration before this bootstrap
        self.op = None
        self.purge_at = None
        self.requests = self.finished = self.aborted = 0
        self.reason = None

    @property
    def active(self):
        return self.state != IDLE

    def name(self):
        return NAMES[self.state]

    # -- the sequence -------------------------------------------------------------
    def start(self, now_ms, reason=""):
        """Begin a Client Initiated Bootstrap (no-op while one runs). Returns
        False when there is no Bootstrap-Server account."""
        acc = accounts.bootstrap_account(self.engine.model)
        if acc is None:
            return False
        if self.state != IDLE:
            return True
        self.reason = reason
        self.engine.log("bootstrap: %s" % reason)
        self.saved = snapshot(self.engine.model)
        self.attempt = self.sequence = 0
        hold_off = self.engine.model.get(0).get(acc.sec_iid, sec.HOLD_OFF) or 0
        self.state = WAITING
        self.due = now_ms + hold_off * 1000
        self.engine.bootstrap_started()
        return True

    def step(self, now_ms):
        if self.purge_at is not None and now_ms >= self.purge_at and self.state == IDLE:
            self.purge_at = None
            self._purge()
        if self.state == WAITING and now_ms >= self.due:
            self._request(now_ms)
        elif self.state == ACTIVE and now_ms >= self.due:
            self.engine.log("bootstrap: no Bootstrap-Finish in time")
            self._abort(now_ms)
        if self.state in (WAITING, ACTIVE):
            return self.due
        if self.state == IDLE:
            return self.purge_at
        return None

    def _request(self, now_ms):
        acc = accounts.bootstrap_account(self.engine.model)
        if acc is None:
            self._end()
            return
        msg = Message(CON, POST).set_path(["bs"])
        msg.add(URI_QUERY, "ep=" + self.engine.endpoint_name)
        self.state = REQUESTING
        self.requests += 1
        try:
            self.op = self.engine.request(acc, msg, self._on_response, now_ms)
        except (OSError, ValueError) as e:
            self.engine.log("bootstrap: %s" % e)
            self._failed(now_ms)

    def _on_response(self, response, error):
        self.op = None
        if self.state != REQUESTING:
            return                          # the server went ahead of its 2.04
        now = self.engine.now_ms
        if response is not None and response.code == CHANGED:
            self.state = ACTIVE
            self.due = now + self.timeout_ms
        else:
            self.engine.log("bootstrap: Bootstrap-Request failed (%s)" % (
                error if response is None else response.code))
            self._failed(now)

    def _failed(self, now_ms):
        """Communication Retry back-off with the §6.2.1.1 defaults. When the
        client still has usable server accounts (a failed registration or a
        Bootstrap-Request Trigger brought us here), give up instead and let
        the registrations start over."""
        if self.engine.usable_accounts():
            self._end()
            self.engine.bootstrap_abandoned(now_ms)
            return
        self.attempt += 1
        if self.attempt < srv.DEFAULT_RETRY_COUNT:
            delay = srv.DEFAULT_RETRY_TIMER * 1000 * (1 << (self.attempt - 1))
        else:
            self.attempt = 0
            delay = srv.DEFAULT_SEQUENCE_DELAY * 1000
        self.state = WAITING
        self.due = now_ms + delay

    def _abort(self, now_ms):
        """No Finish: put the configuration back and try again later."""
        self.aborted += 1
        self._restore()
        self._failed(now_ms)

    def _restore(self):
        model = self.engine.model
        for oid, instances in (self.saved or {}).items():
            obj = model.find(oid)
            if obj is not None:
                obj.instances = instances
        self.saved = snapshot(model)
        self.engine.config_changed()

    def _end(self):
        self.state = IDLE
        self.saved = None
        if self.op is not None:
            self.op.cancel()
            self.op = None

    def _purge(self):
        model = self.engine.model
        acc = accounts.bootstrap_account(model)
        if acc is None:
            return
        model.get(0).delete(acc.sec_iid)
        if acc.oscore_iid is not None and 21 in model:
            model.get(21).instances.pop(acc.oscore_iid, None)
        self.engine.log("bootstrap: Bootstrap-Server account purged")
        self.engine.config_changed()
        self.engine.save_config()

    # -- the Bootstrap-Server's requests --------------------------------------------
    def handle(self, request, caller, now_ms):
        if self.state != ACTIVE:
            if self.state == IDLE:
                self.saved = snapshot(self.engine.model)
                self.engine.bootstrap_started()
            if self.op is not None:
                self.op.cancel()
                self.op = None
            self.state = ACTIVE             # Server Initiated, or ahead of the 2.04
        self.due = now_ms + self.timeout_ms
        try:
            segments = request.path()
            code = request.code
            if code == POST and segments == ["bs"]:
                return self.finish(now_ms)
            path = parse_path(segments) if segments else ()
            if code == GET:
                if request.accept == LINK_FORMAT:
                    return self.discover(path)
                return self.read(path, request, caller)
            if code == PUT:
                return self.write(path, request)
            if code == DELETE:
                return self.delete(path)
            raise Error(METHOD_NOT_ALLOWED)
        except Error as e:
            return reply(e.code)

    def discover(self, path):
        if len(path) > 1:
            raise Error(BAD_REQUEST, "Bootstrap-Discover on / or an object")
        text = links.bootstrap_discover(self.engine.model, path[0] if path else None)
        return reply(CONTENT, text.encode(), LINK_FORMAT)

    def read(self, path, request, caller):
        if not path or path[0] not in (1, 2):
            raise Error(METHOD_NOT_ALLOWED, "Bootstrap-Read on objects 1 and 2 only")
        return self.engine.dm.read(path, request.accept, caller)

    def write(self, path, request):
        if not path or len(path) > 3:
            raise Error(METHOD_NOT_ALLOWED, "Bootstrap-Write on an object, instance or resource")
        model = self.engine.model
        obj = model.get(path[0])

        def lenient(p):                     # unknown optional resources: ignored below
            t = model.type_of(p)
            return types.OPAQUE if t is None and len(path) < 3 else t
        records = dm.decode(_Schema(lenient), request, path)
        if len(path) < 3:
            records = [r for r in records if len(r[0]) > 2 and obj.flags(r[0][2]) is not None]
        groups = {}
        for rpath, value in records:
            if len(rpath) < 3:
                raise Error(BAD_REQUEST, "record without a resource")
            groups.setdefault(rpath[1], []).append((rpath, value))
        if len(path) > 1 and (list(groups) != [path[1]]):
            if groups:
                raise Error(BAD_REQUEST, "record outside the target")
            groups = {path[1]: []}
        plans = {}
        for iid, recs in groups.items():
            values = dm.plan(obj, path, recs, iid, False)
            dm.validate(obj, iid, values)
            plans[iid] = values
        if path[0] == 0:
            self._check_single_bootstrap(obj, plans)
        for iid, values in plans.items():
            if iid in obj.instances:
                for rid, value in values.items():
                    obj.write(iid, rid, value)
            else:
                obj.create(iid, values)
        return reply(CHANGED)

    def _check_single_bootstrap(self, obj, plans):
        count = 0
        for iid in set(obj.iids()) | set(plans):
            flag = plans.get(iid, {}).get(sec.BOOTSTRAP, obj.get(iid, sec.BOOTSTRAP))
            if flag is True:
                count += 1
        if count > 1:
            raise Error(BAD_REQUEST, "a second Bootstrap-Server account")

    def delete(self, path):
        if len(path) > 2:
            raise Error(BAD_REQUEST, "Bootstrap-Delete on /, an object or an instance")
        model = self.engine.model
        acc = accounts.bootstrap_account(model)
        keep = ()
        if acc is not None:
            keep = ((0, acc.sec_iid), (21, acc.oscore_iid))
        if len(path) == 2:
            if path[0] == 3 or path in keep:
                raise Error(BAD_REQUEST, "the Bootstrap-Server account and Device stay")
            obj = model.find(path[0])
            if obj is not None and path[1] in obj.instances:
                obj.delete(path[1])
            return reply(DELETED)
        for oid in ([path[0]] if path else model.oids()):
            obj = model.find(oid)
            if obj is None or oid == 3:
                continue
            for iid in obj.iids():
                if (oid, iid) in keep:
                    continue
                try:
                    obj.delete(iid)
                except Error:               # 4.05: the object keeps its instances
                    pass
        return reply(DELETED)

    def finish(self, now_ms):
        problem = accounts.check(self.engine.model)
        if problem is not None:
            self.engine.log("bootstrap: Bootstrap-Finish refused: " + problem)
            return reply(NOT_ACCEPTABLE, problem.encode())
        self.finished += 1
        self._end()
        self.attempt = self.sequence = 0
        acc = accounts.bootstrap_account(self.engine.model)
        timeout = None if acc is None else self.engine.model.get(0).get(
            acc.sec_iid, sec.BS_ACCOUNT_TIMEOUT)
        self.purge_at = now_ms + timeout * 1000 if timeout else None
        self.engine.bootstrap_finished(now_ms)
        return reply(CHANGED)


class _Schema:
    """A Model stand-in with another type_of (for lenient decoding)."""

    def __init__(self, type_of):
        self.type_of = type_of
