"""A small CoAP resource server on top of `Endpoint`: path dispatch, methods,
Observe (RFC 7641) and block-wise transfers (RFC 7959) done for the resource.

A resource is any object with some of `get/put/post/delete(request)` that
return a response `Message` (see `reply()`); `observable = True` lets GET
with Observe=0 register. A request that came through a security layer carries
`security` (see oscore.secure); its `protect(msg)` then wraps every
notification of the observation that request registers. Call `site.changed(path, now_ms)` when a resource's
state changes. `/.well-known/core` lists the resources in CoRE link format.
"""
from coap.numbers import (GET, POST, PUT, DELETE, CONTENT, CONTINUE, NOT_FOUND,
                          METHOD_NOT_ALLOWED, OBSERVE, BLOCK1, CONTENT_FORMAT,
                          LINK_FORMAT)
from coap.message import Message
from coap.observe import Observers
from coap import block

_METHODS = {GET: "get", POST: "post", PUT: "put", DELETE: "delete"}


def reply(code, payload=b"", content_format=None):
    """A response `Message` with an optional Content-Format."""
    msg = Message(code=code, payload=payload)
    if content_format is not None:
        msg.add(CONTENT_FORMAT, content_format)
    return msg


class Site:
    def __init__(self, endpoint, max_observers=8, max_body=4096, max_szx=6):
        self.endpoint = endpoint
        self.observers = Observers(endpoint, max_observers)
        self.uploads = block.Block1Receiver(max_body=max_body)
        self.max_szx = max_szx
        self._resources = {}
        endpoint.handler = self.handle

    def add(self, path, resource):
        self._resources[path.strip("/")] = resource

    def changed(self, path, now_ms):
        self.observers.notify(path.strip("/"), now_ms)

    def handle(self, request, peer, now_ms):
        key = "/".join(request.path())
        if key == ".well-known/core" and request.code == GET:
            return self._block2(reply(CONTENT, self._links(), LINK_FORMAT), request)
        resource = self._resources.get(key)
        if resource is None:
            return reply(NOT_FOUND)
        method = getattr(resource, _METHODS.get(request.code, "-"), None)
        if method is None:
            return reply(METHOD_NOT_ALLOWED)
        if request.code == GET:
            return self._get(resource, method, key, request, peer, now_ms)
        status, body = self.uploads.feed(peer, request, key, now_ms)
        if status == block.CONTINUE:
            return block.continue_response(request)
        if status != block.COMPLETE:
            return self.uploads.error_response(status)
        request.payload = body
        response = method(request)
        if request.has(BLOCK1):
            block.block1_echo(response, request)
        return response

    def _get(self, resource, method, key, request, peer, now_ms):
        observe = request.observe
        if observe == 1:
            self.observers.deregister(peer, key)
        response = self._render(method, request)
        if observe == 0 and getattr(resource, "observable", False) and response.code < 128:
            security = getattr(request, "security", None)
            seq = self.observers.register(
                peer, request, key, lambda req: self._render(method, req), now_ms,
                wrap=None if security is None else security.protect)
            if seq is not None:
                response.set(OBSERVE, seq)
        return response

    def _render(self, method, request):
        return self._block2(method(request), request)

    def _block2(self, response, request):
        if response.code < 128 and response.code != CONTINUE:
            body = response.payload
            error = block.serve_block2(response, body, request, max_szx=self.max_szx)
            if error is not None:
                return reply(error)
        return response

    def _links(self):
        links = []
        for path, res in sorted(self._resources.items()):
            attrs = ";obs" if getattr(res, "observable", False) else ""
            links.append("</%s>%s" % (path, attrs))
        return ",".join(links).encode()

