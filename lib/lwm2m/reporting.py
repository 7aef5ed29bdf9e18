"""The engine's information-reporting hook and its minimal default.

The engine hands every Observe, Discover and Write-Attributes request to one
hook object, and tells it of every value change; the full implementation
(observations with pmin/pmax/gt/lt/st/epmin/epmax, attribute storage,
notification storing) lives in lwm2m.observe / lwm2m.attributes and is
plugged in with `Client(..., reporting=ThatClass)`. The interface:

    hook = Factory(engine)                 # engine: lwm2m.engine.Client
    hook.observe(caller, peer, request, now_ms) -> response Message
        GET with an Observe option (0 register, 1 cancel), caller already
        allowed to read (R bit, Core V1.1 §7.3); the response carries the
        Observe option when an observation was registered.
    hook.discover(caller, path, request) -> response Message
        GET with Accept: 40 on 1-3 IDs (Core §6.3.2); may add attributes.
    hook.write_attributes(caller, path, request) -> response Message
        PUT with only Uri-Query and no payload (Core §6.3.4).
    hook.changed(oid, iid, rid)            # rid None: instance created/deleted
        Only mark what changed; notifications are built in step().
    hook.step(now_ms) -> next deadline in ms, or None
    hook.set_online(ssid, online)          # optional: registered / offline
        (disabled, registration lost): store notifications meanwhile.
    hook.cancel_server(ssid)               # optional: account removed or
        de-registered: drop its observations.
    hook.send(caller, peer, paths, callback, now_ms, security=None)
        # optional: LwM2M Send, used by engine.send().

A caller has `allowed(op, oid, iid)`, `bootstrap` (False), `key` (the
Short Server ID: stable, JSON-able) and `account` ((1, iid): its Server
object instance). What the engine offers the hook: `engine.dm`,
`engine.model`, `engine.endpoint` (to send notifications), `engine.client`
(for Send), `engine.store` (to persist attributes). Errors are returned as
responses (a raised lwm2m.model.Error becomes a 5.00 from the endpoint).

`Plain` is the default: Observe answers like a plain Read and registers
nothing, Discover lists the links without attributes, Write-Attributes is
accepted (2.04) and nothing is stored.
"""
from coap.numbers import CONTENT, CHANGED, LINK_FORMAT, BAD_REQUEST
from coap.server import reply
from lwm2m.model import Error
from lwm2m import links


def depth_of(request):
    """The `depth` query of a Discover (Core V1.1 §6.3.2), or None."""
    for q in request.query():
        if q.startswith("depth="):
            try:
                d = int(q[6:])
            except ValueError:
                raise Error(BAD_REQUEST, "bad depth")
            if not 0 <= d <= 3:
                raise Error(BAD_REQUEST, "bad depth")
            return d
    return None


class Plain:
    def __init__(self, engine):
        self.engine = engine

    def observe(self, caller, peer, request, now_ms):
        return self.engine.dm.handle(request, caller)

    def discover(self, caller, path, request):
        text = links.discover(self.engine.model, path, depth_of(request))
        return reply(CONTENT, text.encode(), LINK_FORMAT)

    def write_attributes(self, caller, path, request):
        return reply(CHANGED)

    def changed(self, oid, iid, rid):
        pass

    def step(self, now_ms):
        return None
