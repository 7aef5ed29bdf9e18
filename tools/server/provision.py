"""Running a sequence of LwM2M operations on clients, with roll-back.

Owns: `Op` (one Create / Write / Delete / Read on one registered client,
through the normal Device API, i.e. over that client's own secured server
session; what answer counts as success; how to undo it; when to send it
again) and `Run`, which drives a flow -- a generator that yields Ops and
gets each back with its `result` -- sans-IO (callbacks; an answer that
comes back at once is queued and handled in a loop, not by recursion). A
flow may `yield from together(a, b)`: two flows side by side (e.g. one per
client: the provisioning then takes as long as the slower client, not
both), each going on as soon as its own answer is in.

Transactional flows (`rollback=True`): the first Op that fails (a `must` Op
answered with another code, a timeout, a client that is no longer
registered) or a `Refuse` raised by the flow stops it (no new Op starts in
any lane, those in flight are awaited), and the undo of every Op that
succeeded runs, one at a time, in the reverse order of success (a Create is undone by deleting the
instance named in its Location-Path, a Write by writing the old value).
Undo steps that fail are handed back as leftovers (the caller keeps them
for a later retry); once a client stops answering (a timeout, also of the
step that failed), its remaining undos are not tried now. Forward-only
flows (`rollback=False`: revocation, cleanup) look at each result
themselves.

A step that got no answer at all (timeout, client gone) may still have
happened: its undo is kept as a leftover too. That is why Creates name the
instance they make whenever they can: a lost answer then still says what to
delete.

`done(ok, value, leftovers)`: ok with the flow's return value, or not ok
with a one-line reason. Values written are never logged (key material).
"""
from coap.numbers import CREATED, CHANGED, DELETED, CONTENT, NOT_FOUND, BAD_REQUEST, LWM2M_TLV

from tools.server.operations import NotRegistered, path_text
from tools.server.results import Result

OK_CODES = {"create": (CREATED,), "write": (CHANGED,), "delete": (DELETED, NOT_FOUND),
            "read": (CONTENT,)}
# A request that timed out (CoAP gave up after MAX_RETRANSMIT) is sent once
# more: at 30% loss per hop one exchange fails ~1 time in 30, a flow of a
# dozen would fail one time in three without this.
RETRIES = 1


class Refuse(Exception):
    """Raised by a flow to stop it (and roll back) with a reason."""


class Op:
    """One operation. `path`: (O,) for create, else the target path.
    `values`: {rid: value} for create, the value for write. `iid`: for a
    create, the instance ID to ask for (None: the client picks; TLV).
    `must`: a failure stops a transactional flow. `undo(op) -> Op or None`
    after success. `label` names it in the log.

    Retries: a timed-out Write, Delete or Read is sent again (idempotent);
    a timed-out Create only when it names its instance and has `check`:
    if the second try gets 4.00 (the instance exists: the first try made it
    and only its answer was lost), the instance is read back and
    `check(result) -> bool` decides whether it is ours. A Create the
    client names (TLV, no instance ID) is never repeated: it could make a
    second instance."""

    def __init__(self, endpoint, kind, path, values=None, iid=None, must=True, undo=None,
                 label="", check=None, retries=None):
        self.endpoint = endpoint
        self.kind = kind
        self.path = tuple(path)
        self.values = values
        self.iid = iid
        self.must = must
        self.undo = undo
        self.label = label
        self.check = check
        if retries is None:
            retries = RETRIES if kind != "create" or (iid is not None and check) else 0
        self.retries = retries
        self.tries = 0
        self.timed_out = False
        self.verified = False
        self.result = None

    @property
    def ok(self):
        if self.verified:
            return True
        r = self.result
        return r is not None and r.code in OK_CODES[self.kind] and r.error is None

    @property
    def location(self):
        """(O, I) of a created instance, or None."""
        loc = self.result.location if self.result is not None else None
        if loc is not None and len(loc) == 2 and loc[0] == self.path[0]:
            return loc
        if self.iid is not None and self.ok:
            return (self.path[0], self.iid)
        return None

    def outcome(self):
        r = self.result
        if r is None:
            return "not sent"
        return r.error if r.code is None else r.code_text

    def describe(self):
        return "%s %s on %s" % (self.kind, path_text(self.path), self.endpoint)


def delete_created(op):
    """Undo of a create: delete the instance it made (the one it asked for
    when it named one, even without an answer)."""
    loc = op.location
    if loc is None and op.iid is not None:
        loc = (op.path[0], op.iid)
    return None if loc is None else Op(op.endpoint, "delete", loc, label="undo")


class Together:
    """Yielded by a flow: run these flows side by side (each one's Ops in
    its own order, each going on as soon as its own answer is in); the flow
    gets back the list of their return values. A failure in one stops them
    all: no new Op starts, the ones in flight are awaited, then the Run
    rolls back everything that succeeded, in any of them."""

    def __init__(self, *flows):
        self.flows = flows


def together(*flows):
    """`yield from together(a, b)` in a flow: see Together."""
    values = yield Together(*flows)
    return values


class _Lane:
    __slots__ = ("flow", "op", "value", "done", "parent")

    def __init__(self, flow, parent=None):
        self.flow = flow
        self.op = None              # the Op in flight (with its retries / read-back)
        self.value = None
        self.done = False
        self.parent = parent        # the lane waiting for this one (Together)


class Run:
    def __init__(self, server, flow, done, rollback=True, log=None, observer=None):
        """`observer(op)`, when given, sees every Op once its result is in."""
        self.server = server
        self.observer = observer
        self.flow = flow
        self.done = done
        self.rollback = rollback
        self.log = log or server.log
        self.undo = []              # Ops that undo what succeeded, in order of success
        self.leftovers = []         # undo Ops that failed (or were not tried)
        self.finished = False
        self._main = _Lane(flow)
        self._all = [self._main]    # every lane, to close them on a failure
        self._lanes = []            # lanes with an Op in flight
        self._ready = []            # (lane, settled Op or None) to advance
        self._failure = None        # why the forward phase stops
        self._undoing = None        # the undo Op in flight
        self._dead = set()          # endpoints that stopped answering
        self._kicking = False

    def start(self):
        self._ready.append((self._main, None))
        self._kick()
        return self

    # -- driving ----------------------------------------------------------------------
    def _kick(self):
        """Do what can be done now. Answers that come back at once (inside
        _send) are queued, never handled by recursion."""
        if self._kicking:
            return
        self._kicking = True
        try:
            while not self.finished:
                if self._ready:
                    lane, op = self._ready.pop(0)
                    if lane is None:
                        self._undo_answered(op)
                    else:
                        self._advance(lane, op)
                elif (self._failure is not None and not self._lanes
                      and self._undoing is None):
                    self._rollback_next()       # sends one undo, or finishes
                else:
                    return                      # answers are on their way
        finally:
            self._kicking = False

    def _advance(self, lane, op):
        """`op` (settled, or None to start) goes back into `lane`'s flow."""
        if op is not None:
            if op.ok:
                if self.rollback and op.undo is not None:
                    self._push_undo(op)
            elif op.must and self.rollback:
                if op.result.code is None:
                    # no answer: it may have happened all the same; its undo
                    # (and the others on that client) wait for it to come back
                    self._dead.add(op.endpoint)
                    if op.undo is not None:
                        self._push_undo(op)
                self._fail("%s: %s" % (op.describe(), op.outcome()))
        if self._failure is not None:
            return
        try:
            step = next(lane.flow) if op is None else lane.flow.send(op)
        except StopIteration as stop:
            self._lane_done(lane, stop.value)
            return
        except Refuse as e:
            self._fail(str(e))
            return
        except Exception as e:              # a bug in a flow: never half-provision
            self.log.exception("provisioning flow failed")
            self._fail("internal error: %s" % type(e).__name__)
            return
        self._start(lane, step)

    def _start(self, lane, step):
        if isinstance(step, Together):
            children = [_Lane(flow, lane) for flow in step.flows]
            self._all.extend(children)
            lane.op = children
            if not children:
                self._resume(lane)
            for child in children:
                self._ready.append((child, None))
            return
        lane.op = step
        self._lanes.append(lane)
        self._send(step, lane)

    def _lane_done(self, lane, value):
        lane.done = True
        lane.value = value
        parent = lane.parent
        if parent is None:
            self._finish(True, value)
            return
        if all(child.done for child in parent.op):
            self._resume(parent)

    def _resume(self, parent):
        values = [child.value for child in parent.op]
        parent.op = None
        try:
            step = parent.flow.send(values)
        except StopIteration as stop:
            self._lane_done(parent, stop.value)
            return
        except Refuse as e:
            self._fail(str(e))
            return
        except Exception as e:
            self.log.exception("provisioning flow failed")
            self._fail("internal error: %s" % type(e).__name__)
            return
        self._start(parent, step)

    def _fail(self, reason):
        if self._failure is None:
            self._failure = reason
            if self.rollback and self.undo:
                self.log.info("rolling back %d step(s): %s", len(self.undo), reason)

    # -- answers ----------------------------------------------------------------------
    def _answer(self, op, lane, result):
        """One answer to `op` (or to its read-back)."""
        op.result = result
        if self.observer is not None:
            try:
                self.observer(op)
            except Exception:
                self.log.exception("observer failed")
        again = self._settle(op, result)
        if again is not None:
            self._send(again, lane)
            return
        if lane is None:                        # an undo
            self._ready.append((None, op))
        else:
            settled = getattr(op, "parent", None) or op
            if lane in self._lanes:
                self._lanes.remove(lane)
            lane.op = None
            self._ready.append((lane, settled))
        self._kick()

    def _settle(self, op, result):
        """What to send again for the same step (a retry, a read-back), or
        None when this Op's result is final."""
        parent = getattr(op, "parent", None)
        if parent is not None:                  # the answer to a read-back
            try:
                parent.verified = op.ok and bool(parent.check(result))
            except Exception:
                parent.verified = False
            return None
        if result.code is None and result.error == "timeout" and op.tries < op.retries:
            op.tries += 1
            op.timed_out = True
            return op
        if (op.kind == "create" and op.timed_out and op.check is not None
                and op.iid is not None and result.code == BAD_REQUEST):
            read = Op(op.endpoint, "read", (op.path[0], op.iid), label="read-back", retries=0)
            read.parent = op
            return read
        return None

    def _push_undo(self, op):
        step = op.undo(op)
        if step is not None:
            self.undo.append(step)

    # -- roll-back ------------------------------------------------------------------------
    def _rollback_next(self):
        for lane in self._all:
            try:
                lane.flow.close()
            except Exception:
                pass
        self._all = []
        if not self.rollback:
            self._finish(False, self._failure)
            return
        while self.undo:
            op = self.undo.pop()
            if op.endpoint in self._dead:
                self.leftovers.append(op)
                continue
            self._undoing = op
            self._send(op, None)
            return
        self._finish(False, self._failure)

    def _undo_answered(self, op):
        self._undoing = None
        if not op.ok:
            self.leftovers.append(op)
            if op.result.code is None:          # timeout / not registered
                self._dead.add(op.endpoint)

    def _finish(self, ok, value):
        if self.finished:
            return
        self.finished = True
        self.done(ok, value, self.leftovers)

    # -- one request --------------------------------------------------------------
    def _send(self, op, lane):
        def callback(result, op=op, lane=lane):
            self._answer(op, lane, result)
        try:
            dev = self.server.device(op.endpoint)
            if op.kind == "create":
                if op.iid is None:
                    dev.create(op.path, op.values, content_format=LWM2M_TLV, callback=callback)
                else:
                    dev.create(op.path, op.values, iid=op.iid, callback=callback)
            elif op.kind == "write":
                dev.write(op.path, op.values, callback=callback)
            elif op.kind == "delete":
                dev.delete(op.path, callback=callback)
            elif op.kind == "read":
                dev.read(op.path, callback=callback)
            else:
                raise ValueError("unknown operation %r" % op.kind)
        except NotRegistered:
            callback(Result(op.kind, op.endpoint, op.path, error="not registered"))
        except ValueError as e:             # values that do not fit: a bug upstream
            callback(Result(op.kind, op.endpoint, op.path,
                            error="cannot encode: %s" % type(e).__name__))
