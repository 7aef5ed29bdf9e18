"""make demo: a light follows a switch directly and securely (LwM2M
client-to-client with third-party authorization), on one machine.

    python tools/demo.py [--toggles N] [--period-ms MS]

The reference server (tools/server, with the /ac service and
tools/server/demo_policy.json) runs in this process; three unix-port
MicroPython nodes (firmware/main.py on $MICROPYTHON, default
.venv/bin/micropython) run as subprocesses: a switch toggling every
MS ms, a light told to follow it (config "follow", firmware/apps.py) and a
temperature sensor. They reach the server through a recording UDP NAT
(tools/udpnat.py), which also carries everything between the nodes.
Steps:
 1. all register over OSCORE, each with its own fresh random context;
 2. the light observes the switch directly and is refused: 4.01 + {1: URI};
 3. it asks the server: POST /ac?ep=switch&c;
 4. the server provisions both nodes (the grant line; never keys);
 5. the light observes the switch over OSCORE and follows N toggles;
 6. the server observes the switch and writes the light (server-centric),
    for N toggles, while the direct observation goes on: both latencies,
    switch event -> light event, on the same toggles;
 7. the rule is withdrawn and the grant revoked: the observation ends with
    4.01, the light's next direct request is refused.
Every step is checked against what happened -- the server's records, the
NAT's datagrams, the nodes' `event` lines (wall-clock ns) -- never assumed.
A summary follows; exit status 0 only when every step happened as stated
(1 otherwise, 130 on Ctrl-C). Every process started is stopped with SIGINT
(the node de-registers), killed if it is still there 5 s later.
"""
import json
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]   # tools/coap.py
sys.path.insert(0, os.path.dirname(_HERE))                                  # is not coap
from tools.loopback import Hub, NodeProc, MICROPYTHON, ROOT, wall_ms  # noqa: E402
from tools.udpnat import Nat  # noqa: E402
from tools.server.policy import Policy  # noqa: E402
from host_tests.cpython.procs import free_port  # noqa: E402
import cbor  # noqa: E402
from coap.message import decode  # noqa: E402
from coap.numbers import (OSCORE, URI_PATH, OBSERVE, CBOR, GET, UNAUTHORIZED,  # noqa: E402
                          code_text)

POLICY = os.path.join(ROOT, "tools", "server", "demo_policy.json")
SWITCH, LIGHT = "/3342/0/5500", "/3311/0/5850"
STEP_MS = 10000                     # how long a step may wait for what it expects


def config(kind, period_ms, switch_uri=None):
    """The --config of each node (board keys: boards/README.md)."""
    none = {"temperature": [], "switch": None, "light": None, "lifetime": 120}
    if kind == "switch":
        return dict(none, switch={"kind": "sim", "period_ms": period_ms},
                    c2c={"allow_nosec": False})
    if kind == "light":
        return dict(none, light={"kind": "sim", "rated_w": 5.0},
                    follow={"endpoint": "switch", "path": SWITCH, "target": LIGHT,
                            "address": switch_uri, "retry_ms": 1000})
    return dict(none, temperature=[{"kind": "sim", "seed": 3, "period_ms": 1000}])


def follows(toggles, lights, end_ns):
    """[(switch event, the light event that followed it or None)]: the first
    light event with the toggle's value after it, before the next toggle."""
    out = []
    for i, s in enumerate(toggles):
        nxt = toggles[i + 1]["t_ns"] if i + 1 < len(toggles) else end_ns
        out.append((s, next((e for e in lights if s["t_ns"] <= e["t_ns"] < nxt
                             and e["value"] == s["value"]), None)))
    return out


def stats(values):
    return (statistics.median(values), max(values)) if values else (float("nan"),) * 2


class Demo:
    def __init__(self, toggles=5, period_ms=500, out=print):
        self.n = toggles
        self.period = period_ms
        self.out = out
        self.steps = []             # (number, title, ok, ms)
        self.latency = {}           # path -> [ms]
        self.nodes = {}
        self.hub = self.nat = None
        self.tmp = tempfile.mkdtemp(prefix="lwm2m-demo-")
        self.ac_seen = []           # what reached /ac: (t_ns, requester, query, grants)
        self.stopped = None

    # -- reporting ----------------------------------------------------------------------
    def step(self, number, title, ok, ms, details=()):
        self.steps.append((number, title, bool(ok), ms))
        self.out("%2s. %-58s %-4s %7.1f ms" % (number, title, "ok" if ok else "FAIL", ms))
        for d in details:
            self.out("      " + d)

    def fail(self, number, title, why):
        self.step(number, title, False, 0, [why])
        raise _Stop()

    # -- set-up -------------------------------------------------------------------------
    def start(self):
        shutil.copy(POLICY, os.path.join(self.tmp, "policy.json"))
        self.policy_file = os.path.join(self.tmp, "policy.json")
        self.hub = Hub.start(policy=Policy.load(self.policy_file))
        self.authz = self.hub.server.authz
        self._spy_ac()
        self.nat = self.hub.add(Nat(self.hub.address))
        self.registered = {}
        self.hub.server.on_event(self._on_server_event)
        self.contexts = {}
        self.out("make demo: LwM2M client-to-client on loopback -- server in this process "
                 "(%s),\n  nodes on %s behind a recording NAT; policy: %s"
                 % (self.hub.uri, os.path.relpath(MICROPYTHON, ROOT),
                    "; ".join(Policy.load(self.policy_file).describe())))

    def _spy_ac(self):
        """Record what reaches /ac (after OSCORE): requester, query, grant map."""
        routes = self.hub.server.routes
        handler, attrs = routes["ac"]

        def spy(request, peer, now_ms, security, path):
            reg = self.hub.server.sender(peer, security)
            try:
                grants = cbor.loads(bytes(request.payload))
            except ValueError:
                grants = None
            self.ac_seen.append((time.time_ns(), reg.endpoint if reg else None,
                                 request.query(), grants, security is not None))
            return handler(request, peer, now_ms, security, path)
        routes["ac"] = (spy, attrs)

    def _on_server_event(self, kind, reg, info):
        if kind == "registered":
            self.registered[reg.endpoint] = (time.monotonic(), reg)

    def launch(self, name):
        port = free_port()
        self.nat.add(name, ("127.0.0.1", port))
        ctx, spec = self.hub.oscore_client()
        self.contexts[name] = ctx
        path = os.path.join(self.tmp, name + ".json")
        with open(path, "w") as f:
            json.dump(config(name, self.period, self.nat.uri("switch")), f)
        self.nodes[name] = NodeProc(name, self.nat.server_uri(), spec, path,
                                    os.path.join(self.tmp, name),
                                    ["--bind", "127.0.0.1:%d" % port])
        return time.monotonic()

    # -- the steps ----------------------------------------------------------------------
    def run(self):
        t_all = time.monotonic()
        try:
            self.start()
            self.register()
            self.refused()
            self.asked()
            self.provisioned()
            self.direct()
            self.relayed()
            self.revoked()
        except _Stop:
            pass
        finally:
            self.stop()             # also on Ctrl-C
        self.summary(time.monotonic() - t_all)
        return all(ok for _, _, ok, _ in self.steps) and len(self.steps) == 8

    def register(self):
        title = "switch, light, sensor register over OSCORE"
        t0 = time.monotonic()
        started = dict((name, self.launch(name)) for name in ("switch", "sensor"))
        self.hub.run(lambda: all(n in self.registered for n in started), STEP_MS)
        started["light"] = self.launch("light")   # it starts its request when registered
        self.hub.run(lambda: len(self.registered) == 3, STEP_MS)
        details, ok = [], len(self.registered) == 3
        for name in ("switch", "light", "sensor"):
            got = self.registered.get(name)
            if got is None:
                ok = False
                details.append("%-7s not registered: %s" % (name, self.nodes[name].lines[-3:]))
                continue
            at, reg = got
            secure = reg.security is self.contexts[name]
            ok = ok and secure and reg.peer == self.nat.public[name].getsockname()
            details.append("%-7s %s in %4.0f ms, OSCORE kid %s (a fresh random context)" % (
                name, "/rd/" + reg.id if hasattr(reg, "id") else "", (at - started[name]) * 1000,
                bytes(reg.security.recipient_id).hex() if secure else "NONE"))
        if ok:
            r = self.hub.server.device("sensor").read("/3303/0/5700").wait(STEP_MS)
            ok = r is not None and r.ok
            details.append("sensor  temperature %s Cel (a Read over its OSCORE session)"
                           % (r.value if ok else r))
        self.step(1, title, ok, (time.monotonic() - t0) * 1000, details)
        if not ok:
            raise _Stop()

    def refused(self):
        title = "light observes the switch directly: refused + hint"
        light, switch = self.nodes["light"], self.nodes["switch"]
        self.hub.run(lambda: light.events("c2c-denied"), STEP_MS)
        sent = light.events("c2c-send", mode="plain")
        denied = light.events("c2c-denied")
        refused = switch.events("c2c-refused", path=SWITCH)
        wire = self.nat.between("light", "switch")
        back = self.nat.between("switch", "light")
        if not (sent and denied and refused and wire and back):
            self.fail(2, title, "no refusal seen: %s" % (light.lines[-5:],))
        req, ans = decode(wire[0].data), decode(back[0].data)
        hint = cbor.loads(bytes(ans.payload)) if ans.content_format == CBOR else None
        ok = (req.code == GET and req.observe == 0 and not req.has(OSCORE)
              and ans.code == UNAUTHORIZED and hint == {1: self.nat.server_uri()}
              and denied[0]["hint"] == self.nat.server_uri() and ans.token == req.token)
        self.step(2, title, ok, wall_ms(sent[0]["t_ns"], denied[0]["t_ns"]), [
            "light -> switch  GET /%s Observe=0, in the clear (no account yet)"
            % "/".join(req.path()),
            "switch -> light  %s, Content-Format 60, {1: \"%s\"} = the server both use"
            % (code_text(ans.code), (hint or {}).get(1))])

    def asked(self):
        title = "light asks the server: POST /ac?ep=switch&c"
        light = self.nodes["light"]
        self.hub.run(lambda: light.events("c2c-ac-answer"), STEP_MS)
        ac, denied = light.events("c2c-ac"), light.events("c2c-denied")
        seen = [s for s in self.ac_seen if s[1] == "light"]
        ok = bool(ac and seen and seen[0][2] == ["ep=switch", "c"]
                  and seen[0][3] == {(3342, 0): 1} and seen[0][4])
        detail = ["from light over its OSCORE session: query %s, grant map %s (R on /3342/0)"
                  % ("&".join(seen[0][2]), seen[0][3])] if seen else ["nothing reached /ac"]
        self.step(3, title, ok, wall_ms(denied[0]["t_ns"], ac[0]["t_ns"]) if ac else 0, detail)
        if not ok:
            raise _Stop()

    def provisioned(self):
        title = "the server provisions both (policy allows R on /3342/0)"
        light = self.nodes["light"]
        answer = light.events("c2c-ac-answer")
        grants = self.authz.grants()
        made = dict((ep, sorted("%d/%d" % (oid, i) for oid, iids in
                                self.authz.book.node(ep).iids.items() for i in iids))
                    for ep in ("switch", "light"))
        ok = (answer and answer[0]["code"] == "2.01" and len(grants) == 1
              and (grants[0].requester, grants[0].host) == ("light", "switch")
              and sorted(m.split("/")[0] for m in made["switch"])
              == ["11000", "11001", "11002", "21"]
              and sorted(m.split("/")[0] for m in made["light"]) == ["11000", "11001", "21"])
        self.grant = grants[0] if grants else None
        ac = light.events("c2c-ac")
        self.step(4, title, ok, wall_ms(ac[0]["t_ns"], answer[0]["t_ns"]) if answer else 0, [
            "grant: " + "; ".join(self.authz.lines()),
            "created on switch: %s; on light: %s (fresh keys, unique IDs)"
            % (" ".join(made["switch"]), " ".join(made["light"])),
            "light <- server  %s to /ac" % (answer[0]["code"] if answer else "nothing")])
        if not ok:
            raise _Stop()

    def wait_follow(self, since_ns, source, n):
        """Run until n toggles after since_ns were followed by a light event
        from `source`; the pairs."""
        switch, light = self.nodes["switch"], self.nodes["light"]

        def pairs():
            toggles = switch.events("switch", since_ns)[:n]
            return follows(toggles, light.events("light", since_ns, source=source),
                           time.time_ns())
        self.hub.run(lambda: sum(1 for _, e in pairs() if e) >= n,
                     (n + 3) * self.period + STEP_MS)
        return pairs()

    def direct(self):
        title = "light observes over OSCORE, follows %d toggles" % self.n
        light = self.nodes["light"]
        self.hub.run(lambda: light.events("c2c-observing"), STEP_MS)
        obs = light.events("c2c-observing")
        if not obs:
            self.fail(5, title, "no observation: %s" % light.lines[-4:])
        t0 = obs[0]["t_ns"]
        pairs = self.wait_follow(t0, "c2c", self.n)
        lat = [wall_ms(s["t_ns"], e["t_ns"]) for s, e in pairs if e]
        self.latency["direct"] = lat
        grant_ns = light.events("c2c-ac-answer")[0]["t_ns"]
        out = self.nat.between("light", "switch", grant_ns)
        back = self.nat.between("switch", "light", grant_ns)
        sealed = all(decode(d.data).has(OSCORE) and not decode(d.data).has(URI_PATH)
                     for d in out + back)
        notes = sum(1 for d in back if decode(d.data).has(OBSERVE)) - 1   # the 2.05 first
        ok = len(lat) == self.n and len(pairs) == self.n and sealed and out
        med, mx = stats(lat)
        self.step(5, title, ok, wall_ms(t0, time.time_ns()), [
            "on the wire since the grant: light -> switch %d, switch -> light %d datagrams, "
            "%s" % (len(out), len(back), "every one OSCORE, no Uri-Path in the clear"
                    if sealed else "NOT ALL PROTECTED"),
            "%d toggles, each followed by the light (the 2.05, then %d notifications): "
            "latency median %.2f ms, max %.2f ms" % (len(lat), notes, med, mx)])

    def relayed(self):
        title = "server-centric: server observes switch, writes light"
        server = self.hub.server
        switch, light = server.device("switch"), server.device("light")
        writes = []

        def on_notify(result):
            if result.ok:
                server.defer(lambda v=result.value: writes.append(light.write(LIGHT, v)))
        t0 = time.monotonic()
        obs = switch.observe(SWITCH, on_notify=on_notify)
        first = obs.wait(STEP_MS)
        if first is None or not first.ok:
            self.fail(6, title, "the server could not observe the switch: %s" % first)
        since = time.time_ns()
        pairs = self.wait_follow(since, "write", self.n)
        lat = [wall_ms(s["t_ns"], e["t_ns"]) for s, e in pairs if e]
        same = follows([s for s, _ in pairs], self.nodes["light"].events(
            "light", since, source="c2c"), time.time_ns())
        lat_c2c = [wall_ms(s["t_ns"], e["t_ns"]) for s, e in same if e]
        self.latency["relayed"], self.latency["direct, same toggles"] = lat, lat_c2c
        cancel = switch.cancel_observation(SWITCH)
        done = cancel.wait(STEP_MS) if cancel is not None else None
        ok = (len(lat) == self.n and len(lat_c2c) == self.n and done is not None and done.ok
              and all(w.done and w.result.ok for w in writes[:self.n]))
        (m1, x1), (m2, x2) = stats(lat), stats(lat_c2c)
        self.step(6, title, ok, (time.monotonic() - t0) * 1000, [
            "%d toggles: switch -> server -> light  median %.2f ms, max %.2f ms"
            % (len(lat), m1, x1),
            "same toggles:  switch -> light directly  median %.2f ms, max %.2f ms"
            % (m2, x2), "observation cancelled: %s" % (done.code_text if done else None)])

    def revoked(self):
        title = "rule withdrawn, grant revoked: observation ends, refused"
        light, switch = self.nodes["light"], self.nodes["switch"]
        with open(self.policy_file, "w") as f:
            json.dump({"rules": []}, f)
        self.authz.load_policy(self.policy_file)        # = console `policy reload`
        t0 = time.time_ns()
        outcome = self.authz.revoke(self.grant.id).wait(STEP_MS)
        self.hub.run(lambda: light.events("c2c-end", t0, code="4.03"), STEP_MS)
        ended = light.events("c2c-end", t0)
        denied = light.events("c2c-denied", t0)
        refused = switch.events("c2c-refused", t0, path=SWITCH)
        plain = [d for d in self.nat.between("light", "switch", t0)
                 if not decode(d.data).has(OSCORE)]
        decisions = [d for d in self.authz.decisions if d.requester == "light"]
        ok = (outcome is not None and outcome.ok and self.authz.grants() == []
              and len(ended) >= 2 and ended[0]["code"] == "4.01"
              and denied and refused and plain and decisions
              and decisions[-1].code >> 5 == 4 and decisions[-1].code & 31 == 3)
        # and the light no longer follows: a toggle after that changes nothing
        last = time.time_ns()
        self.hub.run(lambda: switch.events("switch", last), 2 * self.period + 1000)
        after = light.events("light", last, source="c2c")
        ok = ok and switch.events("switch", last) and not after
        self.step(7, title, ok, wall_ms(t0, ended[-1]["t_ns"]) if ended else 0, [
            "revoke %s: %s; grants now: %s" % (self.grant.id, "done" if outcome and outcome.ok
                                              else outcome, self.authz.lines() or "none"),
            "light: observation ended %s (%s), %.1f ms after the revocation started"
            % (ended[0]["code"], ended[0]["reason"], wall_ms(t0, ended[0]["t_ns"]))
            if ended else "light: the observation did not end",
            "light retried: direct request in the clear -> switch answered 4.01 + hint; "
            "/ac -> %s (%s)" % ("%d.%02d" % (decisions[-1].code >> 5, decisions[-1].code & 31)
                                if decisions else "-", decisions[-1].reason if decisions else ""),
            "the switch toggled again; the light did not follow"
            if not after else "the light still followed"])

    # -- the end ------------------------------------------------------------------------
    def stop(self):
        """SIGINT to every node (it de-registers), kill after 5 s."""
        if self.hub is None:
            return
        gone = []
        self.hub.server.on_event(lambda kind, reg, info: gone.append(reg.endpoint)
                                 if kind == "deregistered" else None)
        t0 = time.monotonic()
        for node in self.nodes.values():
            if node.alive():
                node.proc.send_signal(signal.SIGINT)
        self.hub.run(lambda: not any(n.alive() for n in self.nodes.values()), 5000)
        status = dict((name, node.stop()) for name, node in self.nodes.items())
        ms = (time.monotonic() - t0) * 1000
        self.hub.run(None, 100)
        self.stopped = (sorted(gone), status)
        secrets = [ctx.master_secret.hex() for ctx in self.hub.contexts]
        leaked = [n for n, node in self.nodes.items()
                  if any(s in line for line in node.lines for s in secrets)]
        ok = (sorted(gone) == sorted(getattr(self, "registered", ())) and not leaked
              and not any(status.values()))
        self.step(8, "stop: SIGINT, every node de-registers and exits", ok, ms,
                  ["de-registered: %s; exit status %s%s" % (", ".join(sorted(gone)) or "none",
                                                           status, "; KEYS IN " + str(leaked)
                                                           if leaked else "")])
        self.hub.close()
        self.hub = None
        shutil.rmtree(self.tmp, ignore_errors=True)

    def kill(self):
        """The last resort (a second Ctrl-C during stop())."""
        for node in self.nodes.values():
            if node.alive():
                node.proc.kill()
        if self.hub is not None:
            self.hub.close()
            self.hub = None
        shutil.rmtree(self.tmp, ignore_errors=True)

    def summary(self, seconds):
        passed = sum(1 for s in self.steps if s[2])
        self.out("")
        self.out("Summary: %d of 8 steps as stated, %.1f s." % (passed, seconds))
        light = self.nodes.get("light")
        first = light.events("c2c-send") if light else []
        obs = light.events("c2c-observing") if light else []
        if first and obs:
            self.out("  light's first direct request -> observing over OSCORE: %.1f ms "
                     "(4.01 + hint, /ac, both provisioned, retry)"
                     % wall_ms(first[0]["t_ns"], obs[0]["t_ns"]))
        for path, label in (("direct", "direct, C2C over OSCORE  "),
                            ("relayed", "server-centric relay     "),
                            ("direct, same toggles", "direct, during step 6    ")):
            lat = self.latency.get(path)
            if lat:
                med, mx = stats(lat)
                self.out("  switch event -> light event, %s median %6.2f ms  max %6.2f ms  "
                         "(%d toggles)" % (label, med, mx, len(lat)))
        for number, title, ok, _ in self.steps:
            if not ok:
                self.out("  FAILED: step %s, %s" % (number, title))


class _Stop(Exception):
    """A step failed: later steps depend on it."""


def main(argv):
    toggles, period = 5, 500
    i = 0
    while i < len(argv):
        if argv[i] in ("--toggles", "--period-ms") and i + 1 < len(argv) \
                and argv[i + 1].isdigit() and int(argv[i + 1]) > 0:
            if argv[i] == "--toggles":
                toggles = int(argv[i + 1])
            else:
                period = int(argv[i + 1])
            i += 2
        else:
            sys.stderr.write("usage: python tools/demo.py [--toggles N] [--period-ms MS]\n")
            return 2
    if not os.path.exists(MICROPYTHON):
        sys.stderr.write("demo: no unix-port MicroPython at %s (make setup)\n" % MICROPYTHON)
        return 2

    def term(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, term)
    demo = Demo(toggles, period)
    try:
        return 0 if demo.run() else 1
    except KeyboardInterrupt:
        print("interrupted: every node stopped")
        return 130
    finally:
        demo.kill()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
