"""Who is calling: the callers of incoming requests and the OSCORE contexts
that identify them (OMA-TS-LightweightM2M_Core V1.1 §7.1 security, Transport
V1.1 §5.5 OSCORE).

`Callers(engine).resolvers` is a list of `fn(request, peer, security) ->
caller or None`, tried in order (`security`: the oscore.secure.Security the
request came through, None without OSCORE). The two built in:
- an LwM2M Server account: through the context of the OSCORE instance its
  Security instance links (resource 17); a NoSec account without OSCORE by
  source address == its resolved server URI. An OSCORE account is never
  matched by address alone. While a bootstrap runs, no server is; nor is a
  server that Disabled us (1/x/4: "the LwM2M Client MUST ... ignore all the
  messages from the LwM2M Server for the period").
- the Bootstrap-Server account, the same way.
The C2C extension appends a resolver for peers (objects 11000-11002).

A caller has `allowed(op, oid, iid)` and `bootstrap`; a ServerCaller also
`ssid`/`key` (Short Server ID) and `account` (its Server instance, (1, iid)).

Contexts: one oscore.context.SecurityContext per OSCORE (21) instance in
use, built from the instance with the engine's store (SSN persisted ahead,
RFC 8613 B.1.1), dropped when the instance changes. The server-side
oscore.secure.SecureHandler is built on the first OSCORE request and holds
every context in use (a context built later is added to it).
"""
from lwm2m import accounts
from lwm2m.registration import DISABLED


class ServerCaller:
    """An LwM2M Server account as a DM caller (rights from lwm2m.access)."""
    bootstrap = False

    def __init__(self, access, acc):
        self.access = access
        self.acc = acc
        self.ssid = self.key = acc.ssid
        self.account = (1, acc.srv_iid)

    def allowed(self, op, oid, iid):
        return self.access.allowed(self.ssid, op, oid, iid)


class BootstrapCaller:
    """The Bootstrap-Server: may do anything the bootstrap interface offers."""
    bootstrap = True
    ssid = key = account = None

    def allowed(self, op, oid, iid):
        return True


class Callers:
    def __init__(self, engine):
        self.engine = engine
        self.resolvers = [self.server, self.bootstrap_server]
        self.contexts = {}           # OSCORE instance ID -> SecurityContext
        self.secure = None           # oscore.secure.SecureHandler, on demand
        self._synced = None          # the engine.accounts() the contexts were made for
        self._servers = {}           # ssid -> its ServerCaller (stateless: one per account)

    # -- OSCORE contexts --------------------------------------------------------
    def context(self, iid):
        """The SecurityContext of OSCORE instance `iid` (ValueError when the
        instance is incomplete or asks for algorithms we do not have)."""
        ctx = self.contexts.get(iid)
        if ctx is None:
            ctx = self.engine.model.get(21).context(iid, self.engine.store)
            if self.secure is not None:
                self.secure.add(ctx)         # ValueError: Recipient ID in use
            self.contexts[iid] = ctx
        return ctx

    def drop(self, iid=None):
        """Forget the context of instance `iid` (all with None)."""
        self._synced = None
        for i in ([iid] if iid is not None else list(self.contexts)):
            ctx = self.contexts.pop(i, None)
            if ctx is not None and self.secure is not None:
                self.secure.remove(ctx)

    def secure_handler(self, inner):
        """The SecureHandler in front of `inner`, holding the contexts of
        every OSCORE account."""
        eng = self.engine
        if self.secure is None:
            from oscore.secure import SecureHandler
            self.secure = SecureHandler(inner, list(self.contexts.values()), eng._rand)
        current = eng.accounts()     # a new dict whenever objects 0, 1 or 21 change
        if current is self._synced:
            return self.secure       # every context of these accounts is held
        self._synced = current
        accs = list(current.values())
        bs = accounts.bootstrap_account(eng.model)
        if bs is not None:
            accs.append(bs)
        for acc in accs:
            if acc.oscore_iid is not None and acc.oscore_iid not in self.contexts:
                try:
                    self.context(acc.oscore_iid)
                except Exception as e:        # ValueError, model.Error: unusable
                    eng.log("OSCORE instance %d: %s" % (acc.oscore_iid, e))
        return self.secure

    def protection(self, acc):
        """The client-side security hook for requests to `acc`, or None."""
        if acc.oscore_iid is None:
            return None
        from oscore.secure import Protection
        return Protection(self.context(acc.oscore_iid))

    # -- resolvers ----------------------------------------------------------------
    def matches(self, acc, peer, security):
        if not acc.usable():
            return False
        if security is not None:
            return (acc.oscore_iid is not None
                    and self.contexts.get(acc.oscore_iid) is security.ctx)
        if acc.oscore_iid is not None:
            return False                # an OSCORE account speaks OSCORE only
        try:
            return acc.resolve(self.engine.resolve) == peer
        except (OSError, ValueError):
            return False

    def server(self, request, peer, security):
        eng = self.engine
        if eng.bootstrap.active:
            return None                 # servers wait while we are bootstrapped
        for acc in eng.accounts().values():
            if self.matches(acc, peer, security):
                reg = eng.registrar.regs.get(acc.ssid)
                if reg is not None and reg.state == DISABLED:
                    return None
                caller = self._servers.get(acc.ssid)
                if caller is None or caller.acc is not acc:     # accounts were rebuilt
                    caller = self._servers[acc.ssid] = ServerCaller(eng.access, acc)
                return caller
        return None

    def bootstrap_server(self, request, peer, security):
        acc = accounts.bootstrap_account(self.engine.model)
        if acc is not None and self.matches(acc, peer, security):
            return BootstrapCaller()
        return None

    def identify(self, request, peer):
        security = getattr(request, "security", None)
        for resolver in self.resolvers:
            caller = resolver(request, peer, security)
            if caller is not None:
                return caller
        return None
