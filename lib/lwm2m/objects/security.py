"""LwM2M Security object (0, version 1.1, OMA-TS-LightweightM2M_Core V1.1
§E.1): one instance per server account and one for the Bootstrap-Server.

Only a Bootstrap-Server reads or writes it (the resources have no
operations in the object table, and lwm2m.access refuses every LwM2M Server
with 4.01). Key material is never readable at all: Secret Key (5) and SMS
Binding Secret Keys (8) are left out of every Read and Bootstrap-Read.

`add()` provisions an instance from firmware (factory bootstrap, §6.1.2.1).
"""
from micropython import const
from lwm2m.model import LwObject
from lwm2m.defs import SECURITY

URI = const(0)
BOOTSTRAP = const(1)
MODE = const(2)
IDENTITY = const(3)
SERVER_KEY = const(4)
SECRET_KEY = const(5)
SMS_SECRET = const(8)
SSID = const(10)
HOLD_OFF = const(11)
BS_ACCOUNT_TIMEOUT = const(12)
OSCORE = const(17)

# Security Mode (resource 2)
PSK = const(0)
RPK = const(1)
CERTIFICATE = const(2)
NOSEC = const(3)
EST = const(4)

_SECRETS = (SECRET_KEY, SMS_SECRET)


class Security(LwObject):
    oid = 0
    table = SECURITY

    def readable(self, iid, rid):
        return rid not in _SECRETS

    def defaults(self, iid):
        # The mandatory resources a Bootstrap-Write may leave out (§E.1):
        # NoSec needs no key material.
        return {URI: "", BOOTSTRAP: False, MODE: NOSEC, IDENTITY: b"",
                SERVER_KEY: b"", SECRET_KEY: b""}

    def add(self, uri, bootstrap=False, ssid=None, mode=NOSEC, oscore=None,
            hold_off=None, iid=None):
        """Provision an account: `oscore` is the iid of the OSCORE (21)
        instance protecting it (resource 17). Returns the instance ID."""
        iid = self.new_iid() if iid is None else iid
        values = {URI: uri, BOOTSTRAP: bool(bootstrap), MODE: mode}
        if ssid is not None:
            values[SSID] = ssid
        if oscore is not None:
            values[OSCORE] = (21, oscore)
        if hold_off is not None:
            values[HOLD_OFF] = hold_off
        self.create(iid, values)
        return iid

    def is_bootstrap(self, iid):
        return self.get(iid, BOOTSTRAP) is True

    def bootstrap_iid(self):
        """The Bootstrap-Server account's instance, or None."""
        for iid in self.iids():
            if self.is_bootstrap(iid):
                return iid
        return None

    def oscore_iid(self, iid):
        """The OSCORE (21) instance resource 17 links to, or None."""
        link = self.get(iid, OSCORE)
        if link is None or link[0] != 21 or link[1] == 65535:
            return None
        return link[1]
