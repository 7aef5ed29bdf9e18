"""Application behaviours of a node, from its config (firmware/config.py):
a light that follows a switch directly (client-to-client), and one
machine-readable line per event. The C2C extension itself is installed by
firmware/node.py (config "c2c"; "follow" implies it).

    app = apps.install(node, cfg, log)   # after Node(); None when nothing is configured
    app.stop()                           # on a stop: cancel the peer observation

"follow": {"endpoint", "path", "target", "address", "retry_ms"}: once the
node is registered, observe resource `path` of peer `endpoint` directly
(`engine.peer_request(..., observe=True)`, lwm2m.requester: a first plain
request to `address` (a coap:// URI) when given, else straight to the
server; 4.01 + hint -> POST /ac -> retry over the OSCORE context the
server provisioned) and write every value into our own resource `target`.
When the observation ends (the host revoked us) or cannot be made, it is
tried again after `retry_ms` (default 5000), doubling up to 5 minutes.

"events" (default: on with "c2c" or "follow"): a line per event, printed
whatever the log level, `event KIND key=value ... t_ns=NS` with NS from
time.time_ns() (wall clock: lines of two nodes on one machine compare):
    switch value=0|1                  a switch (3342/x/5500) changed
    light value=V source=c2c|write    the follow target was written: by
                                      following, or by a Write (a server's)
    c2c-send mode=plain|oscore        our request to the peer went out
    c2c-denied hint=URI               ... and came back 4.01 with the hint
    c2c-ac server=URI                 POST /ac sent to that server
    c2c-ac-answer code=TEXT           its answer (or the error)
    c2c-observing value=V             the peer accepted the observation
    c2c-notify value=V                each notification after that
    c2c-end code=C reason="..."       the observation ended, or failed
    c2c-refused path=P hint=URI       (host) a peer's request got 4.01
"""
import time
from coap.numbers import GET, TEXT_PLAIN, OBSERVE, code_text
from lwm2m.model import Error, parse_path
from lwm2m.formats import text

_SWITCH = 3342
_STATE = 5500
_MAX_RETRY_MS = 300000


def now_ns():
    f = getattr(time, "time_ns", None)
    return f() if f is not None else int(time.time() * 1000000000)


def path_of(text_path):
    """(oid, iid, rid) of "/O/I/R"; ValueError otherwise."""
    try:
        p = parse_path([s for s in text_path.split("/") if s])
    except Error:
        p = ()
    if len(p) != 3:
        raise ValueError("%r is not /O/I/R" % (text_path,))
    return p


def _value(v):
    if v is True or v is False:
        return int(v)
    return v


class App:
    """An engine extension (`changed()`, `step()`) doing what the config asks."""

    def __init__(self, node, cfg, log, events=True):
        self.node = node
        self.engine = eng = node.engine
        self.log = log
        follow = cfg.get("follow")
        self.follow = follow
        self.events = events
        self.op = None              # the live PeerRequest
        self.live = False           # it delivered its first answer
        self.due = 0                # now_ms when to (re)start following
        self.backoff = follow["retry_ms"] if follow else 0
        self._own = False           # we are writing the target
        if follow:
            self.target = path_of(follow["target"])
            self.source = path_of(follow["path"])
        c2c = getattr(eng, "c2c", None)
        if c2c is not None and self.events:
            c2c.trace = self._trace
            self._hint = eng.unauthorized
            eng.unauthorized = self._unauthorized
        eng.extensions.append(self)

    def event(self, kind, text=""):
        if self.events:
            self.log.always("event %s %st_ns=%d" % (kind, text + " " if text else "", now_ns()))

    # -- engine extension ---------------------------------------------------------
    def changed(self, oid, iid, rid):
        if not self.events or rid is None:
            return
        if oid == _SWITCH and rid == _STATE:
            self.event("switch", "value=%s" % _value(self.engine.model.get(oid).get(iid, rid)))
        elif self.follow and (oid, iid, rid) == self.target:
            v = self.engine.model.get(oid).get(iid, rid)
            self.event("light", "value=%s source=%s" % (_value(v),
                                                       "c2c" if self._own else "write"))

    def step(self, now_ms):
        if not self.follow or self.op is not None:
            return None
        if now_ms < self.due:
            return self.due
        if not any(r.registered for r in self.engine.registrar.regs.values()):
            return None
        self._start()
        return None

    def stop(self):
        """Cancel the observation at the peer (GET Observe=1)."""
        op, self.op = self.op, None
        self.follow = None
        if op is not None:
            op.cancel()

    # -- following -------------------------------------------------------------------
    def _start(self):
        f = self.follow
        self.live = False
        try:
            self.op = self.engine.peer_request(f["endpoint"], GET, f["path"], self._on_value,
                                               accept=TEXT_PLAIN, observe=True,
                                               address=f.get("address"))
        except (ValueError, OSError) as e:
            self._ended(None, str(e))

    def _on_value(self, response, error):
        if self.op is None:
            return
        ok = response is not None and response.code >> 5 == 2 and response.has(OBSERVE)
        if not ok:
            return self._ended(response, error or "not observable")
        try:
            value = self._decode(response)
        except (ValueError, KeyError) as e:
            self.event("c2c-notify", 'error="%s"' % e)
            return
        self.event("c2c-notify" if self.live else "c2c-observing",
                   "value=%s" % _value(value))
        if not self.live:
            self.live = True
            self.backoff = self.follow["retry_ms"]
        self._write(value)

    def _decode(self, response):
        t = self.engine.model.type_of(self.target)
        recs = text.decode(bytes(response.payload), self.source, lambda p: t)
        return recs[0][1]

    def _write(self, value):
        oid, iid, rid = self.target
        obj = self.engine.model.get(oid)
        try:
            obj.validate(iid, rid, value)
            self._own = True
            obj.write(iid, rid, value)
        except Error as e:
            self.event("c2c-notify", 'error="target refused: %s"' % code_text(e.code))
        finally:
            self._own = False

    def _ended(self, response, error):
        code = code_text(response.code) if response is not None else "-"
        self.event("c2c-end", 'code=%s reason="%s"' % (code, error))
        self.op = None
        now = self.engine.now_ms
        self.due = now + self.backoff
        self.backoff = min(self.backoff * 2, _MAX_RETRY_MS)

    # -- C2C traces ------------------------------------------------------------------
    def _trace(self, op, kind, detail):
        names = {"send": "mode", "denied": "hint", "ac": "server", "ac-answer": "code"}
        self.event("c2c-" + kind, "ep=%s %s=%s" % (op.endpoint, names.get(kind, "detail"),
                                                   detail))

    def _unauthorized(self, request, caller):
        response = self._hint(request, caller)
        hint = None
        try:
            from lwm2m.peers import parse_hint
            hint = parse_hint(response)
        except ImportError:
            pass
        self.event("c2c-refused", "path=/%s hint=%s" % ("/".join(request.path()), hint))
        return response


def install(node, cfg, log):
    """The App for `node` when its config asks for one, else None."""
    events = cfg.get("events")
    if events is None:
        events = cfg.get("c2c") is not None or cfg.get("follow") is not None
    if cfg.get("follow") is None and not events:
        return None
    return App(node, cfg, log, events)
