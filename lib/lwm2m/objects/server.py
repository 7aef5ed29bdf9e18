"""LwM2M Server object (1, version 1.1, OMA-TS-LightweightM2M_Core V1.1 §E.2):
one instance per LwM2M Server account, joined to its Security (0) instance
by Short Server ID (resource 0).

The Executable resources act through the engine, after the response went
out: Disable (4), Registration Update Trigger (8), Bootstrap-Request Trigger
(9). `execute()` only records the request in `pending` ((iid, rid) pairs);
the engine takes it in its next `step()`. Lifetime (1) and Binding (7)
changes reach the registration through the engine's change hook.
"""
from micropython import const
from lwm2m.model import LwObject, Error
from lwm2m.defs import SERVER
from coap.numbers import NOT_FOUND

SSID = const(0)
LIFETIME = const(1)
DEFAULT_PMIN = const(2)
DEFAULT_PMAX = const(3)
DISABLE = const(4)
DISABLE_TIMEOUT = const(5)
STORING = const(6)
BINDING = const(7)
UPDATE_TRIGGER = const(8)
BOOTSTRAP_TRIGGER = const(9)
INITIAL_DELAY = const(14)
BOOTSTRAP_ON_FAILURE = const(16)
RETRY_COUNT = const(17)
RETRY_TIMER = const(18)
SEQUENCE_DELAY = const(19)
SEQUENCE_RETRY_COUNT = const(20)

# Defaults of the TS where a resource is absent (Core V1.1 §6.2.1.1 for
# 17-20, §E.2 for the others).
DEFAULT_LIFETIME = const(86400)
DEFAULT_DISABLE_TIMEOUT = const(86400)
DEFAULT_RETRY_COUNT = const(5)
DEFAULT_RETRY_TIMER = const(60)
DEFAULT_SEQUENCE_DELAY = const(86400)
DEFAULT_SEQUENCE_RETRY_COUNT = const(1)

_EXECUTABLES = (DISABLE, UPDATE_TRIGGER, BOOTSTRAP_TRIGGER)


class Server(LwObject):
    oid = 1
    table = SERVER

    def __init__(self):
        LwObject.__init__(self)
        self.pending = []

    def defaults(self, iid):
        # Mandatory resources (§E.2; Notification Storing defaults to true)
        # and the Executables this client has.
        return {LIFETIME: DEFAULT_LIFETIME, STORING: True, BINDING: "U",
                DISABLE: None, UPDATE_TRIGGER: None, BOOTSTRAP_TRIGGER: None}

    def add(self, ssid, lifetime=DEFAULT_LIFETIME, binding="U", iid=None, extra=None):
        """Provision a server account's instance; `extra` maps resource IDs
        to values. Returns the instance ID."""
        iid = self.new_iid() if iid is None else iid
        values = {SSID: ssid, LIFETIME: lifetime, BINDING: binding}
        if extra:
            values.update(extra)
        self.create(iid, values)
        return iid

    def execute(self, iid, rid, args):
        if rid not in _EXECUTABLES:
            raise Error(NOT_FOUND, "not supported")
        self.pending.append((iid, rid))

    def find(self, ssid):
        """The instance of Short Server ID `ssid`, or None."""
        return self.iid_where(SSID, ssid)

    def value(self, iid, rid, default):
        v = self.get(iid, rid)
        return default if v is None else v
