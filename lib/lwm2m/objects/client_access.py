"""LwM2M Client Access Control object (11002, C2C extension, see docs
c2c-extension.md): like Access Control (2), one instance per Object Instance
it protects -- Object ID (0), Object Instance ID (1; 65535 = the object
itself, i.e. Create and object-level requests), the ACL (2; resource
instance ID = Short Client ID of the peer, 0 = default for any known peer;
bits R=1 W=2 E=4 D=8 C=16) and the Access Control Owner (3; the Short
Server ID of the server that manages the instance -- it grants nothing by
itself, unlike the reference implementation). Several instances for the
same Object Instance (a server adding one per grant) are read together.
The rules are in lwm2m.peers.
"""
from micropython import const
from coap.numbers import BAD_REQUEST
from lwm2m.model import LwObject, Error
from lwm2m.defs import CLIENT_ACCESS_CONTROL

OBJECT_ID = const(0)
INSTANCE_ID = const(1)
ACL = const(2)
OWNER = const(3)
_ALL = const(31)


class ClientAccessControl(LwObject):
    oid = 11002
    table = CLIENT_ACCESS_CONTROL

    def validate(self, iid, rid, value):
        if rid in (OBJECT_ID, INSTANCE_ID, OWNER) and not 0 <= value <= 65535:
            raise Error(BAD_REQUEST, "ID out of range")
        if rid == ACL:
            for scid, bits in value.items():
                if not 0 <= scid <= 65534 or not 0 <= bits <= _ALL:
                    raise Error(BAD_REQUEST, "bad ACL entry")

    def find(self, oid, iid):
        """The (first) instance protecting (oid, iid), or None."""
        for aci in self.iids():
            inst = self.instances[aci]
            if inst.get(OBJECT_ID) == oid and inst.get(INSTANCE_ID) == iid:
                return aci
        return None

    def find_all(self, oid, iid):
        return [aci for aci in self.iids()
                if self.instances[aci].get(OBJECT_ID) == oid
                and self.instances[aci].get(INSTANCE_ID) == iid]

    def add(self, oid, iid, owner, acl=None, aci=None):
        """Create the instance for (oid, iid); acl: {scid or 0: bits}."""
        aci = self.new_iid() if aci is None else aci
        values = {OBJECT_ID: oid, INSTANCE_ID: iid, OWNER: owner}
        if acl:
            values[ACL] = dict(acl)
        self.create(aci, values)
        return aci

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
