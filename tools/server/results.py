"""What operations return: `Result`, `Pending` and `Observation`.

Owns: the outcome of one request or notification as the API hands it out
(code, decoded records / value / links, location, raw payload, or an error),
a request in flight with its callback and blocking `wait()`, and the state of
one Observe registration (active, count, last notification, local stop).
Built by tools/server/operations.py; no CoAP sending here.
"""
from coap.numbers import code_text


def _path_text(path):
    return "/" + "/".join(str(i) for i in path)


class Result:
    """The outcome of one operation (or of one notification).

    code            CoAP response code (int) or None when no response came
    error           None, or why there is no usable response: 'timeout',
                    'reset', or a text (e.g. a block-wise failure)
    payload         raw response payload (bytes)
    content_format  Content-Format of the response, or None
    records         decoded [(path, value)] (Read, Observe), or None
    value           the value when exactly one record answers the path asked
    links           parsed Discover answer: list of linkformat.Link
    location        Location-Path of a Create answer as a path tuple
    observe         Observe sequence number of a notification
    decode_error    why the payload could not be decoded (records is None)
    """

    def __init__(self, op, endpoint, path, response=None, error=None):
        self.op = op
        self.endpoint = endpoint
        self.path = path
        self.error = error
        self.code = None
        self.payload = b""
        self.content_format = None
        self.observe = None
        self.records = None
        self.value = None
        self.links = None
        self.location = None
        self.decode_error = None
        if response is not None:
            self.code = response.code
            self.payload = bytes(response.payload)
            self.content_format = response.content_format
            self.observe = response.observe

    @property
    def ok(self):
        return self.error is None and self.code is not None and self.code >> 5 == 2

    @property
    def code_text(self):
        return None if self.code is None else code_text(self.code)

    def __repr__(self):
        what = self.error if self.code is None else self.code_text
        return "<Result %s %s %s>" % (self.op, _path_text(self.path), what)


class Pending:
    """A request in flight. `done` turns True when `result` is in;
    `callback(result)` (optional) runs then. `wait()` blocks on the server's
    driver until done (or `timeout_ms`)."""

    def __init__(self, server, op, endpoint, path, callback=None):
        self.server = server
        self.op = op
        self.endpoint = endpoint
        self.path = path
        self.callback = callback
        self.done = False
        self.result = None

    def complete(self, result):
        if self.done:
            return
        self.result = result
        self.done = True
        if self.callback is not None:
            self.callback(result)

    def wait(self, timeout_ms=None):
        return self.server.wait(self, timeout_ms)


class Observation(Pending):
    """An Observe registration (Core V1.1 §6.4.1). `result` is the answer to
    the Observe request; every later notification is decoded into a Result
    and passed to `on_notify(result)`; `last` and `count` follow them.
    `active` is False once the client answered with an error, the request
    failed, or the observation was cancelled."""

    def __init__(self, server, endpoint, path, on_notify=None, callback=None):
        super().__init__(server, "observe", endpoint, path, callback)
        self.on_notify = on_notify
        self.active = False
        self.count = 0
        self.last = None
        self.operation = None       # the coap Operation (token, cancel)
        self.reg = None

    @property
    def token(self):
        return None if self.operation is None else self.operation.token

    def stop(self):
        """Forget the observation locally (no message): a later notification
        is answered with RST, which cancels it on the client (§6.4.3)."""
        self.active = False
        if self.operation is not None:
            self.operation.cancel()
        if self.reg is not None and self.reg.observations.get(self.path) is self:
            del self.reg.observations[self.path]
