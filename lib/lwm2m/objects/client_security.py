"""LwM2M Client Security object (11000, C2C extension, see
docs c2c-extension.md "New objects"): one instance per peer client, like
Security (0) for a server. A peer account is one 11000 instance plus the
11001 instance with the same Short Client ID (resource 10).

This client has no DTLS: a usable peer speaks OSCORE (Security Mode 3 with
resource 17 linking an OSCORE (21) instance) or, only where the node allows
insecure C2C, plain NoSec (mode 3 without a link). Secret Key (5) is never
readable by anyone (left out of instance Reads; a Read of /11000/x/5 gets
4.05). Resource 17 has no operation in the generated table; here the
owning server may also Write it (re-grant points it at a new 21 instance).

`validate()` refuses (4.00) what would make peers ambiguous or borrow a
server's credentials: a Short Client ID outside 1..65534 or held by another
instance, and a link to a 21 instance that a Security (0) instance or
another 11000 instance already uses (each node finds a context by kid
alone: design.md pitfalls). Only servers reach this object: peers never
get any right on it (lwm2m.peers).
"""
from micropython import const
from coap.numbers import BAD_REQUEST
from lwm2m.model import LwObject, Error, R, W
from lwm2m.defs import CLIENT_SECURITY
from lwm2m.objects.client import check_scid

URI = const(0)
MODE = const(2)
IDENTITY = const(3)
PUBLIC_KEY = const(4)
SECRET_KEY = const(5)
SCID = const(10)
OSCORE = const(17)

PSK = const(0)
NOSEC = const(3)
NO_LINK = const(65535)


def link_target(link):
    """The 21 instance an objlnk names, or None (absent, 21:65535, other object)."""
    if link is None or link[0] != 21 or link[1] == NO_LINK:
        return None
    return link[1]


class ClientSecurity(LwObject):
    oid = 11000
    table = CLIENT_SECURITY

    def flags(self, rid):
        f = LwObject.flags(self, rid)
        return f | R | W if rid == OSCORE else f

    def readable(self, iid, rid):
        return rid != SECRET_KEY

    def defaults(self, iid):
        # Mandatory resources a server may leave out: OSCORE needs no PSK.
        return {URI: "", MODE: NOSEC, IDENTITY: b"", PUBLIC_KEY: b"", SECRET_KEY: b""}

    def validate(self, iid, rid, value):
        if rid == SCID:
            check_scid(self, iid, value)
        elif rid == MODE and value not in (PSK, NOSEC):
            raise Error(BAD_REQUEST, "Security Mode 0 or 3")
        elif rid == OSCORE:
            target = link_target(value)
            if value[0] != 21 or (target is None and value[1] != NO_LINK):
                raise Error(BAD_REQUEST, "resource 17 links an OSCORE instance")
            if target is not None and self.linked(target, iid):
                raise Error(BAD_REQUEST, "OSCORE instance already in use")

    def linked(self, osc_iid, skip=None):
        """True when another instance than `skip` or a Security (0) instance
        links OSCORE instance `osc_iid` (lwm2m.c2c sets `model`)."""
        for iid in self.iids():
            if iid != skip and self.oscore_iid(iid) == osc_iid:
                return True
        sec = self.model.find(0) if getattr(self, "model", None) else None
        if sec is not None:
            for iid in sec.iids():
                if sec.oscore_iid(iid) == osc_iid:
                    return True
        return False

    def add(self, scid, uri="", oscore=None, mode=NOSEC, iid=None):
        """Provision a peer from firmware; `oscore`: the 21 instance ID."""
        iid = self.new_iid() if iid is None else iid
        values = {SCID: scid, URI: uri, MODE: mode}
        if oscore is not None:
            values[OSCORE] = (21, oscore)
        self.create(iid, values)
        return iid

    def find(self, scid):
        """The instance of Short Client ID `scid`, or None."""
        return self.iid_where(SCID, scid)

    def oscore_iid(self, iid):
        return link_target(self.get(iid, OSCORE))
