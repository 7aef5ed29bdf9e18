"""Build a node from a checked config (firmware/config.py) and a board, and
step it: the engine, its objects and accounts, the drivers behind them.

    node = Node(cfg, board, log)     # objects, accounts, OSCORE, drivers
    deadline = node.step(now_ms)     # poll drivers, step the engine, act
    node.receive(datagram, peer, now_ms)

Objects: 0, 1 (one account per configured server, plus the
Bootstrap-Server), 3 (board facts; Reboot and Factory Reset are recorded in
`node.action` once their 2.04 went out), 3303 per temperature driver, 3342
and 3311 when the board has a switch / light, 2 when several servers (or a
Bootstrap-Server) manage the node, 21 when an account uses OSCORE (or a
Bootstrap-Server may provision one).

C2C (config "c2c"): lwm2m.c2c.C2C is installed on the engine (objects
11000-11002, peers served with the 4.01 + hint, `engine.peer_request`);
firmware/apps.py builds the behaviours that use it.

Factory configuration: the engine keeps what servers and bootstraps wrote
in the store and prefers it to the objects built here. When the configured
accounts change (a different --server, --oscore...), the stored
configuration (peer accounts included: the old servers made them) is
dropped first, so the command line always wins; a hash of the account
settings (never the keys themselves) is stored to tell.
OSCORE sequence numbers are never dropped.
"""
import hashlib
import binascii
from lwm2m.engine import Client
from lwm2m.store import FileStore, makedirs
from lwm2m.objects.security import Security
from lwm2m.objects.server import Server
from lwm2m.objects.access_control import AccessControlObject
from lwm2m.objects.oscore import Oscore
from lwm2m.objects.device import Device
from lwm2m.objects.temperature import Temperature
from lwm2m.objects.switch import OnOffSwitch
from lwm2m.objects.light import LightControl
from lwm2m.registration import REGISTERED, UPDATING
from transport.udp import resolve_peer

REBOOT = "reboot"
FACTORY_RESET = "factory-reset"
_CONFIG_KEYS = ("obj.0", "obj.1", "obj.2", "obj.21", "obj.11000", "obj.11001", "obj.11002",
                "c2c.lifetime")
_FULL = 1 | 2 | 4          # R, W, E: what every server may do on the devices by default
_PMIN, _PMAX, _STORING = 2, 3, 6
_DEDUP = 32                # requests remembered for duplicate detection: a board's heap
_UNIX_DEDUP = 128          # ...and the unix port's


def fingerprint(cfg):
    """Hex digest of the account settings (URIs, ssids, OSCORE material, ACLs)."""
    parts = []
    for s in cfg["servers"] + ([cfg["bootstrap"]] if cfg["bootstrap"] else []):
        o = s.get("oscore")
        parts.append("%s|%s|%s|%s" % (s["uri"], s.get("ssid"), s.get("lifetime"),
                                      _oscore_text(o)))
    for a in cfg["acl"]:
        parts.append("acl|%d|%d|%d|%s" % (a["object"], a["instance"], a["owner"],
                                          sorted(a["acl"].items())))
    h = hashlib.sha256("\n".join(parts).encode())
    return binascii.hexlify(h.digest()).decode()


def _oscore_text(o):
    if o is None:
        return "-"
    return ":".join(binascii.hexlify(o[k] or b"").decode()
                    for k in ("secret", "salt", "sid", "rid", "idctx"))


class Node:
    def __init__(self, cfg, board, log, endpoint=None):
        self.cfg = cfg
        self.board = board
        self.log = log
        self.endpoint = endpoint or cfg["endpoint"] or board.endpoint
        self.action = None          # REBOOT / FACTORY_RESET, once executed
        self.store_dir = cfg["state"] or board.store_dir
        makedirs(self.store_dir)
        self.store = FileStore(self.store_dir)
        self._check_factory(cfg)
        drv = board.drivers
        self.device = Device(board.now_ms, **self._device_info())
        objects = self._accounts(cfg) + [self.device]
        self.temperature = None
        if drv.get("temperature"):
            specs = (board.config.get("temperature") or [])
            self.temperature = Temperature()
            for i, d in enumerate(drv["temperature"]):
                spec = specs[i] if i < len(specs) else {}
                self.temperature.add(d, period_ms=spec.get("period_ms", 10000))
            objects.append(self.temperature)
        self.switch = OnOffSwitch(drv["switch"], clock=board.now_ms) \
            if drv.get("switch") is not None else None
        self.light = LightControl(drv["light"], clock=board.now_ms) \
            if drv.get("light") is not None else None
        objects += [o for o in (self.switch, self.light) if o is not None]
        dedup = cfg["dedup_size"] or (_UNIX_DEDUP if board.name == "unix" else _DEDUP)
        self.engine = Client(self.endpoint, objects, board.transport, store=self.store,
                             resolve=getattr(board, "resolve", resolve_peer),
                             log=log.info, dedup_size=dedup)
        if cfg.get("c2c") is not None:
            from lwm2m.c2c import C2C
            C2C(self.engine, allow_nosec=cfg["c2c"]["allow_nosec"])
        self._acl_defaults(cfg)
        self._seen = {}             # ssid -> location last announced

    # -- construction -----------------------------------------------------------
    def _device_info(self):
        info = self.board.device_info()
        info["reboot"] = self._reboot
        info["factory_reset"] = self._factory_reset
        return info

    def _reboot(self):
        self.action = REBOOT

    def _factory_reset(self):
        self.action = FACTORY_RESET

    def _check_factory(self, cfg):
        """Drop the stored configuration when the configured accounts changed."""
        fp = fingerprint(cfg)
        if self.store.load("factory") == fp:
            return
        for key in self.store.keys():
            if key in _CONFIG_KEYS or key.startswith("reg."):
                self.store.delete(key)
        self.store.save("factory", fp)

    def _accounts(self, cfg):
        sec, srv = Security(), Server()
        several = len(cfg["servers"]) > 1 or cfg["bootstrap"] is not None
        osc = Oscore() if (cfg["bootstrap"] is not None or
                           any(s["oscore"] for s in cfg["servers"])) else None
        for s in cfg["servers"]:
            o = _add_oscore(osc, s["oscore"])
            sec.add(s["uri"], ssid=s["ssid"], oscore=o)
            extra = {}
            for key, rid in (("pmin", _PMIN), ("pmax", _PMAX), ("storing", _STORING)):
                if key in s:
                    extra[rid] = s[key]
            srv.add(s["ssid"], lifetime=s["lifetime"], binding=s["binding"], extra=extra)
        b = cfg["bootstrap"]
        if b is not None:
            sec.add(b["uri"], bootstrap=True, oscore=_add_oscore(osc, b["oscore"]))
        out = [sec, srv]
        if several:
            out.append(AccessControlObject())
        if osc is not None:
            out.append(osc)
        return out

    def _acl_defaults(self, cfg):
        """Factory Access Control instances (several servers, Core V1.1 §7.3):
        each server owns its Server instance; the first server owns the
        device instances, on which every server may Read, Write and Execute;
        then the config's "acl" entries (replacing those of the same
        instance). Only when the store held no object 2."""
        aco = self.engine.model.find(2)
        if aco is None or aco.instances or self.store.load("obj.2") is not None:
            return
        servers = cfg["servers"]
        srv = self.engine.model.get(1)
        for s in servers:
            iid = srv.find(s["ssid"])
            if iid is not None:
                aco.add(1, iid, s["ssid"])
        entries = {}
        if servers:
            for oid in (3, 3303, 3342, 3311):
                obj = self.engine.model.find(oid)
                for iid in (obj.iids() if obj is not None else ()):
                    entries[(oid, iid)] = (servers[0]["ssid"], {0: _FULL})
        for a in cfg["acl"]:
            entries[(a["object"], a["instance"])] = (a["owner"], a["acl"])
        for (oid, iid), (owner, acl) in sorted(entries.items()):
            old = aco.find(oid, iid)
            if old is not None:
                aco.delete(old)
            aco.add(oid, iid, owner, acl)

    # -- running ------------------------------------------------------------------
    def receive(self, datagram, peer, now_ms):
        self.engine.receive(datagram, peer, now_ms)

    def poll(self, now_ms):
        """Poll the drivers; the next time a sensor needs it (or None)."""
        due = self.temperature.poll(now_ms) if self.temperature is not None else None
        if self.switch is not None:
            self.switch.poll(now_ms)
        if self.light is not None:
            self.light.poll(now_ms)
        return due

    def step(self, now_ms):
        """Drivers, then the engine, then what a server executed; returns the
        next deadline (ms) or None."""
        due = self.poll(now_ms)
        nxt = self.engine.step(now_ms)
        self.device.run_pending()           # the 2.04 went out in receive()
        self._announce()
        if due is not None and (nxt is None or due < nxt):
            nxt = due
        return nxt

    def _announce(self):
        """One line per new registration: "registered at URI as /rd/x"."""
        for ssid, reg in self.engine.registrar.regs.items():
            if reg.state == REGISTERED:
                if reg.location != self._seen.get(ssid):    # no string built per step
                    self._seen[ssid] = reg.location     # its own list: a Register replaces it
                    self.log.always("registered at %s as /%s" % (reg.account.uri,
                                                                 "/".join(reg.location)))
            elif reg.state != UPDATING:
                self._seen[ssid] = None

    def stop(self, now_ms):
        """Start de-registering from every server (then step until stopped())."""
        self.engine.deregister_all(now_ms)

    def stopped(self):
        return self.engine.stopped()

    def factory_reset(self):
        """Forget what servers configured (the next start uses the factory
        configuration); OSCORE sequence numbers are kept."""
        self.engine.factory_reset()
        self.store.delete("factory")


def _add_oscore(osc, spec):
    if spec is None:
        return None
    return osc.add(spec["secret"], spec["sid"], spec["rid"], master_salt=spec["salt"],
                   id_context=spec["idctx"])
