"""LwM2M Client object (11001, C2C extension, see docs c2c-extension.md):
one instance per peer client, like Server (1) for a server, joined to its
Client Security (11000) instance by Short Client ID (resource 0).

Lifetime (1) is how long the peer account is valid, 0 = no expiry; **ours**
(the doc's): it is enforced -- lwm2m.c2c removes an expired account and
ends its observations. Default Min/Max Period (2, 3) and Notification
Storing (6) apply to the observations the peer makes (lwm2m.observe reads
them through the caller's `account`). Endpoint Name (9) is the peer's name
at the server: what an application names a peer by, and what a NoSec peer's
`ep=` query is matched against. Disable (4) only records the request in
`pending`; lwm2m.c2c then refuses the peer for Disable Timeout (5) seconds.
"""
from micropython import const
from coap.numbers import BAD_REQUEST, NOT_FOUND
from lwm2m.model import LwObject, Error
from lwm2m.defs import CLIENT

SCID = const(0)
LIFETIME = const(1)
DEFAULT_PMIN = const(2)
DEFAULT_PMAX = const(3)
DISABLE = const(4)
DISABLE_TIMEOUT = const(5)
STORING = const(6)
BINDING = const(7)
ENDPOINT = const(9)

DEFAULT_DISABLE_TIMEOUT = const(86400)
_NON_NEGATIVE = (LIFETIME, DEFAULT_PMIN, DEFAULT_PMAX, DISABLE_TIMEOUT)


def check_scid(obj, iid, scid):
    """4.00 unless `scid` is a Short Client ID (1..65534) that no other
    instance of `obj` (11000 or 11001: `find(scid)`) has."""
    if not 1 <= scid <= 65534:
        raise Error(BAD_REQUEST, "Short Client ID is 1..65534")
    if obj.find(scid) not in (None, iid):
        raise Error(BAD_REQUEST, "Short Client ID in use")


class Client(LwObject):
    oid = 11001
    table = CLIENT

    def __init__(self):
        LwObject.__init__(self)
        self.pending = []           # instance IDs whose Disable was executed

    def defaults(self, iid):
        return {LIFETIME: 0, STORING: False, BINDING: "U", DISABLE: None,
                ENDPOINT: ""}

    def validate(self, iid, rid, value):
        if rid == SCID:
            check_scid(self, iid, value)
        elif rid in _NON_NEGATIVE and value < 0:
            raise Error(BAD_REQUEST, "negative period")

    def execute(self, iid, rid, args):
        if rid != DISABLE:
            raise Error(NOT_FOUND, "not supported")
        self.pending.append(iid)

    def add(self, scid, endpoint, lifetime=0, iid=None, extra=None):
        """Provision a peer's instance from firmware; returns its ID."""
        iid = self.new_iid() if iid is None else iid
        values = {SCID: scid, ENDPOINT: endpoint, LIFETIME: lifetime}
        if extra:
            values.update(extra)
        self.create(iid, values)
        return iid

    def find(self, scid):
        """The instance of Short Client ID `scid`, or None."""
        return self.iid_where(SCID, scid)
