"""LwM2M Client Access Control object (11002, C2C extension, see docs
c2c-extension.md): like Access Control (2), one instance per Object Instance
it protects -- Object ID (0), Object Instance ID (1; 65535 = the object
itself, i.e. Create and object-level requests), the ACL (2; resource
instance ID = Short Client ID of the peer, 0 = default for any known peer;
bits R=1 W=2 E=4 D=8 C=16) and the Access Control Owner (3; the Short
Server ID of the server that manages the instance -- it grants nothing by
itself, unlike the reference implementation). Several instances for the
same Object Instance (a server adding one per grant) are read together.
The rules are in lwm2m.peers; find(), find_all() and add() are Access
Control's.
"""
from micropython import const
from coap.numbers import BAD_REQUEST
from lwm2m.model import Error
from lwm2m.defs import CLIENT_ACCESS_CONTROL
from lwm2m.objects.access_control import AccessControlObject

OBJECT_ID = const(0)
INSTANCE_ID = const(1)
ACL = const(2)
OWNER = const(3)
_ALL = const(31)


class ClientAccessControl(AccessControlObject):
    oid = 11002
    table = CLIENT_ACCESS_CONTROL

    def validate(self, iid, rid, value):
        if rid in (OBJECT_ID, INSTANCE_ID, OWNER) and not 0 <= value <= 65535:
            raise Error(BAD_REQUEST, "ID out of range")
        if rid == ACL:
            for scid, bits in value.items():
                if not 0 <= scid <= 65534 or not 0 <= bits <= _ALL:
                    raise Error(BAD_REQUEST, "bad ACL entry")

    def rights(self, scid, oid, iid):
        """ACL[scid], else ACL[0], else 0, of the instances for (oid, iid).
        A server may keep one instance per grant for the same target (one
        per requester): their entries are combined."""
        own = default = 0
        found = False
        for aci in self.find_all(oid, iid):
            acl = self.instances[aci].get(ACL) or {}
            if scid in acl:
                own |= acl[scid]
                found = True
            default |= acl.get(0, 0)
        return own if found else default

    def forget(self, scid):
        """Drop the ACL entries of peer `scid` (its account is gone)."""
        for aci in self.iids():
            acl = self.instances[aci].get(ACL)
            if acl and scid in acl:
                acl = dict(acl)
                del acl[scid]
                self.write(aci, ACL, acl)
