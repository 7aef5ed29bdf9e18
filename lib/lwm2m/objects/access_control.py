"""LwM2M Access Control object (2, OMA-TS-LightweightM2M_Core V1.1 §7.3 and
§E.3): one instance per Object Instance it protects (Object ID 0, Object
Instance ID 1 -- 65535 for the object itself, i.e. Create), the ACL (2,
resource instance ID = Short Server ID, 0 = default) and the Access Control
Owner (3). The rules that use it are in lwm2m.access.
"""
from micropython import const
from lwm2m.model import LwObject
from lwm2m.defs import ACCESS_CONTROL

OBJECT_ID = const(0)
INSTANCE_ID = const(1)
ACL = const(2)
OWNER = const(3)
BOOTSTRAP_OWNER = const(65535)     # MAX_ID: created and changed in bootstrap only


class AccessControlObject(LwObject):
    oid = 2
    table = ACCESS_CONTROL

    def find_all(self, oid, iid):
        """The instances protecting Object Instance (oid, iid), sorted."""
        return [aco for aco in self.iids()
                if self.instances[aco].get(OBJECT_ID) == oid
                and self.instances[aco].get(INSTANCE_ID) == iid]

    def find(self, oid, iid):
        """The (first) instance protecting Object Instance (oid, iid), or None."""
        found = self.find_all(oid, iid)
        return found[0] if found else None

    def add(self, oid, iid, owner, acl=None, aco=None):
        """Create the instance for (oid, iid); acl: {ssid (11002: scid) or
        0: bits}."""
        aco = self.new_iid() if aco is None else aco
        values = {OBJECT_ID: oid, INSTANCE_ID: iid, OWNER: owner}
        if acl:
            values[ACL] = dict(acl)
        self.create(aco, values)
        return aco
