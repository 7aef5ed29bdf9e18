"""LwM2M Send (OMA-TS-LightweightM2M_Core V1.1 §6.4, Send operation): the
client reports values to a server unasked, `POST /dp` with a SenML CBOR
(content format 112) pack of full paths, answered 2.04 Changed.

collect(model, paths, caller=None, time_s=None) -> records
    [(path, value[, time])] of everything readable at or below each path
    (an Error from the data model propagates: 4.04 for a missing path);
    `time_s`, the Unix time when known, is given to every record (the
    Device object's clock may be unset: then no time is sent, never 1970).
payload(model, records) -> bytes      the SenML CBOR pack, base path "/".
muted(model, account) -> bool         Mute Send, resource 23 of the Server
    instance `account` = (1, iid): "If true or the Resource is not present,
    the LwM2M Client Send command capability is de-activated" (object 1 V1.1).
send(client, peer, records, callback, now_ms, security=None, model=None,
     account=None) -> Operation or None
    POSTs the records through coap.client.Client `client` to `peer`
    (protected by `security`, e.g. oscore.secure.Protection);
    `callback(response, error)` as coap.client documents. When `account` is
    given and muted, nothing is sent: `callback(None, MUTED)` and None.
"""
from micropython import const
from coap.numbers import CON, POST, CONTENT_FORMAT, SENML_CBOR
from coap.message import Message
from lwm2m.model import Error
from lwm2m.formats import senml_cbor

MUTED = "send muted"
PATH = "dp"
_RES_MUTE_SEND = const(23)


def collect(model, paths, caller=None, time_s=None):
    records = []
    for path in paths:
        for r in model.read_records(tuple(path), caller):
            records.append(r if time_s is None else (r[0], r[1], time_s))
    return records


def payload(model, records):
    return senml_cbor.encode(records, (), model.type_of if model is not None else None)


def muted(model, account):
    try:
        v = model.get(account[0]).instance(account[1]).get(_RES_MUTE_SEND)
    except Error:
        return True
    return v is not False


def request(body):
    msg = Message(CON, POST, payload=body)
    msg.set_path(PATH)
    msg.add(CONTENT_FORMAT, SENML_CBOR)
    return msg


def send(client, peer, records, callback, now_ms, security=None, model=None,
         account=None):
    if account is not None and model is not None and muted(model, account):
        callback(None, MUTED)
        return None
    msg = request(payload(model, records))
    if security is None:
        return client.request(peer, msg, callback, now_ms)
    return client.request(peer, msg, callback, now_ms, security=security)
