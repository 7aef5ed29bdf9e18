"""Server accounts: the joins of the Security (0), Server (1) and OSCORE (21)
objects the engine works from (OMA-TS-LightweightM2M_Core V1.1 §6.1, §E.1,
§E.2), and the Bootstrap-Finish consistency check.

An LwM2M Server account is a Security instance that is not a
Bootstrap-Server's (resource 1 false) plus the Server instance with the same
Short Server ID; the Bootstrap-Server account is the Security instance with
resource 1 true and has no Server instance. `Account.peer` is the transport
address of resource 0 (coap://host[:port]), found with the `resolve(host,
port)` the engine was given (DNS is I/O: on boards pass
transport.udp.resolve_peer; the default keeps the host as written, which is
what the fake radio and numeric addresses need).

Security modes: this client has no DTLS, so an account is usable with
Security Mode 3 (NoSec) only -- protected with OSCORE when resource 17 links
an OSCORE instance (Transport V1.1 §5.5), plain otherwise.
"""
from micropython import const
from lwm2m.objects import security as sec
from lwm2m.objects import server as srv

_COAP_PORT = const(5683)


def parse_uri(uri):
    """"coap://host:port/..." -> (scheme, host, port); ValueError if not a
    CoAP URI. IPv6 literals in brackets are returned without them."""
    i = uri.find("://")
    if i <= 0:
        raise ValueError("no scheme in %r" % uri)
    scheme = uri[:i].lower()
    rest = uri[i + 3:]
    for sep in "/?#":
        j = rest.find(sep)
        if j >= 0:
            rest = rest[:j]
    if scheme not in ("coap", "coaps"):
        raise ValueError("not a CoAP URI: %r" % uri)
    port = _COAP_PORT + (scheme == "coaps")
    if rest.startswith("["):
        j = rest.find("]")
        if j < 0:
            raise ValueError("bad IPv6 literal")
        host, tail = rest[1:j], rest[j + 1:]
        if tail:
            if not tail.startswith(":"):
                raise ValueError("bad port")
            port = int(tail[1:])
    elif ":" in rest:
        host, p = rest.rsplit(":", 1)
        port = int(p)
    else:
        host = rest
    if not host or not 0 < port < 65536:
        raise ValueError("bad host or port in %r" % uri)
    return scheme, host, port


def default_resolve(host, port):
    return (host, port)


class Account:
    """A server (or the Bootstrap-Server, ssid None) account."""

    def __init__(self, ssid, sec_iid, srv_iid, uri, oscore_iid, mode):
        self.ssid = ssid
        self.sec_iid = sec_iid
        self.srv_iid = srv_iid
        self.uri = uri
        self.oscore_iid = oscore_iid
        self.mode = mode
        self.peer = None
        self._usable = None         # usable(), computed once (uri and mode are fixed)

    @property
    def bootstrap(self):
        return self.ssid is None

    def usable(self):
        """NoSec over coap:// (optionally with OSCORE): what this client can do."""
        if self._usable is None:
            try:
                self._usable = self.mode == sec.NOSEC and parse_uri(self.uri)[0] == "coap"
            except ValueError:
                self._usable = False
        return self._usable

    def resolve(self, resolve):
        """The peer address (cached); raises OSError/ValueError when unknown."""
        if self.peer is None:
            _, host, port = parse_uri(self.uri)
            self.peer = resolve(host, port)
        return self.peer

    def key(self):
        return (self.ssid, self.sec_iid, self.srv_iid, self.uri, self.oscore_iid, self.mode)


def _account(model, iid, ssid, srv_iid):
    s = model.find(0)
    return Account(ssid, iid, srv_iid, s.get(iid, sec.URI) or "",
                   s.oscore_iid(iid), s.get(iid, sec.MODE, sec.NOSEC))


def server_accounts(model):
    """{ssid: Account} of the complete LwM2M Server accounts."""
    out = {}
    s, v = model.find(0), model.find(1)
    if s is None or v is None:
        return out
    for iid in s.iids():
        ssid = s.get(iid, sec.SSID)
        if s.is_bootstrap(iid) or ssid is None or ssid in out:
            continue
        srv_iid = v.find(ssid)
        if srv_iid is not None:
            out[ssid] = _account(model, iid, ssid, srv_iid)
    return out


def bootstrap_account(model):
    """The Bootstrap-Server account, or None."""
    s = model.find(0)
    iid = None if s is None else s.bootstrap_iid()
    return None if iid is None else _account(model, iid, None, None)


def check(model):
    """Bootstrap-Finish consistency check (Core V1.1 §6.1.8: the client
    verifies the configuration and answers 4.06 when it cannot use it).
    Returns None when consistent, else a one-line diagnostic."""
    s, v, o = model.find(0), model.find(1), model.find(21)
    if s is None or v is None:
        return "no Security or Server object"
    seen = {}
    boot = 0
    for iid in s.iids():
        if s.is_bootstrap(iid):
            boot += 1
            continue
        ssid = s.get(iid, sec.SSID)
        if not isinstance(ssid, int) or not 1 <= ssid <= 65534:
            return "Security instance %d has no valid Short Server ID" % iid
        if ssid in seen:
            return "Short Server ID %d used by two Security instances" % ssid
        seen[ssid] = iid
        if v.find(ssid) is None:
            return "no Server instance for Short Server ID %d" % ssid
        try:
            parse_uri(s.get(iid, sec.URI) or "")
        except ValueError:
            return "Security instance %d has no valid server URI" % iid
    if boot > 1:
        return "more than one Bootstrap-Server account"
    for iid in v.iids():
        ssid = v.get(iid, srv.SSID)
        if ssid not in seen:
            return "Server instance %d has no Security instance" % iid
        lifetime = v.get(iid, srv.LIFETIME)
        if lifetime is not None and lifetime < 0:
            return "Server instance %d has a negative lifetime" % iid
    for iid in s.iids():
        link = s.get(iid, sec.OSCORE)
        if link is None:
            continue
        if link[0] != 21 or o is None or not o.complete(link[1]):
            return "Security instance %d links no usable OSCORE instance" % iid
    if not seen:
        return "no LwM2M Server account"
    usable = [ssid for ssid, iid in seen.items()
              if _account(model, iid, ssid, None).usable()]
    if not usable:
        return "no account this client can use (NoSec/OSCORE over coap://)"
    return None
