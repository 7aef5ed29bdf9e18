"""Reference LwM2M 1.1 server for tests, demos and the console (CPython).

Built on this project's own CoAP core (lib/coap) and LwM2M content formats
(lib/lwm2m/formats); sans-IO like everything else: `Server.receive()` /
`Server.step()`, driven by tools/server/driver.py (UDP or the fake radio).

    server.py      Server: CoAP endpoint, routing (/rd, /dp, add_route() for
                   more), Register/Update/De-register, Send, expiry, events,
                   the security seam (Channel, enable_oscore)
    registry.py    Registration, Registry, Register/Update parameter checks
    operations.py  Device (read, discover, write, write_attributes, execute,
                   create, delete, observe, cancel_observation): the exact
                   request of each operation, decoding of the answer
    results.py     Result, Pending (callback / wait()), Observation
    formats.py     content format names, codecs, default choice, decoding
    linkformat.py  CoRE link format: Register payloads, Discover answers
    objects.py     resource types from the OMA object XML (for decoding)
    driver.py      UdpDriver, RadioDriver (blocking waits)
    authz.py       the C2C authorization service /ac: checks, the queue of
                   grants / revocations, separate 2.01 / 4.03, API, events
    flows.py       what a grant, revoke, cleanup does on the two clients
    policy.py      the policy file (JSON/TOML): who may get which bits where
    grants.py      records of what was provisioned (no keys), ID minting,
                   fresh key material
    provision.py   Op / Run: operations on clients one at a time, roll-back
    console.py     the command console (thin over the API)
    main.py        command line: python -m tools.server --bind HOST:PORT ...
"""
import os
import sys

_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
for _sub in ("lib", "tools/shims"):
    _path = os.path.join(_ROOT, _sub)
    if _path not in sys.path:
        sys.path.append(_path)
