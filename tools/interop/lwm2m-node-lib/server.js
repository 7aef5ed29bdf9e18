#!/usr/bin/env node
/*
 * An independent LwM2M server for interop checks: Telefonica's lwm2m-node-lib
 * (an LwM2M 1.0-era server on node-coap), pinned in package.json.
 *
 *   node server.js --port PORT
 *
 * Listens on UDP PORT (udp4; the library binds every interface, the tests
 * talk to it on 127.0.0.1 only). Everything goes through stdout/stdin as
 * JSON lines:
 *   out {"event":"listening","port":P}
 *   out {"event":"registration","endpoint":E,"lifetime":"60","version":"1.1",
 *        "binding":"U","payload":"</>;ct=...,</1/0>,...","links":[{"path":"/1/0",...}]}
 *   out {"event":"update","endpoint":E,"address":A,"port":P,"payload":"..."}
 *   out {"event":"deregistration","endpoint":E}   (also on lifetime expiry)
 *   out {"event":"notify","endpoint":E,"path":"/3303/0/5700","value":"21.5"}
 *        ("path" as given to observe)
 *   in  {"id":1,"op":"read","endpoint":E,"path":"/3/0/0"[,"accept":"text/plain"]}
 *   in  {"id":2,"op":"write","endpoint":E,"path":"/3311/0/5850","value":"1"}
 *   in  {"id":3,"op":"execute","endpoint":E,"path":"/1/0/8"[,"value":"args"]}
 *   in  {"id":4,"op":"observe","endpoint":E,"path":"/3303/0/5700"[,"accept":...]}
 *   in  {"id":5,"op":"cancel","endpoint":E,"path":"/3303/0/5700"}
 *   in  {"id":6,"op":"discover","endpoint":E,"path":"/3303/0"}
 *   in  {"id":7,"op":"writeAttributes","endpoint":E,"path":"/3303/0/5700",
 *        "attributes":{"pmin":0,"pmax":5}}
 *   out {"id":N,"ok":true,"value":"..."} or {"id":N,"ok":false,"error":"...","code":"4.04"}
 * Commands run one at a time, in order. The library hands every payload back
 * as a UTF-8 string (it has no TLV/binary decoding); "accept" is any name
 * registered below (text/plain, application/link-format, SenML/LwM2M JSON,
 * TLV). Read/observe of an object instance: path "/O/I" (the library always
 * appends a resource segment; an empty one is dropped by node-coap). The
 * library's cancel only forgets the observation locally. A command whose
 * request gets no answer (or an Observe answered 4.04, which the library
 * drops) never replies and holds the queue (node-coap retransmits for minutes):
 * callers bound their waits. Commands use the address of the latest
 * Register/Update at the time they run.
 */
'use strict';

var lwm2m = require('lwm2m-node-lib').server,
    readline = require('readline');

function out(obj) {
    process.stdout.write(JSON.stringify(obj) + '\n');
}

function arg(name, dflt) {
    var i = process.argv.indexOf(name);
    return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : dflt;
}

var port = Number(arg('--port', '5683'));
var DEFAULT_ACCEPT = 'text/plain';
var config = {
    port: port,
    lifetimeCheckInterval: 1000,
    udpWindow: 100,
    defaultType: 'Device',
    logLevel: 'FATAL',
    ipProtocol: 'udp4',
    serverProtocol: 'udp4',
    // The standard numbers (the library's defaults are pre-standard 1541..1544).
    formats: [
        {name: 'application/vnd.oma.lwm2m+tlv', value: 11542},
        {name: 'application/vnd.oma.lwm2m+json', value: 11543},
        {name: 'application/senml+json', value: 110}
    ],
    writeFormat: 'text/plain',
    defaultAcceptFormat: DEFAULT_ACCEPT
};

// A CoRE link list (RFC 6690) as [{path, attrs}] -- just enough for a Register payload.
function parseLinks(text) {
    var links = [];
    (text || '').split(',').forEach(function (item) {
        var m = item.trim().match(/^<([^>]*)>(.*)$/);
        if (!m) {
            return;
        }
        var attrs = {};
        m[2].split(';').forEach(function (a) {
            if (a) {
                var kv = a.split('=');
                attrs[kv[0]] = kv.length > 1 ? kv.slice(1).join('=').replace(/^"|"$/g, '') : true;
            }
        });
        links.push({path: m[1], attrs: attrs});
    });
    return links;
}

function splitPath(path) {
    return String(path).split('/').filter(function (s) { return s !== ''; });
}

function errorOf(err) {
    return {error: (err && (err.name || err.message)) || String(err),
            code: err && err.code, message: err && err.message};
}

function run(cmd, done) {
    function reply(err, value) {
        var r = {id: cmd.id, ok: !err};
        if (err) {
            Object.assign(r, errorOf(err));
        } else {
            r.value = value;
        }
        out(r);
        done();
    }

    lwm2m.getDevice(cmd.endpoint, function (err, device) {
        if (err) {
            return reply(err);
        }
        var p = splitPath(cmd.path), id = device.id,
            res = p.length > 2 ? p[2] : '';     // '/O/I/' -> Uri-Path O, I
        config.defaultAcceptFormat = cmd.accept || DEFAULT_ACCEPT;
        try {
            switch (cmd.op) {
            case 'read':
                lwm2m.read(id, p[0], p[1], res, reply);
                break;
            case 'write':
                lwm2m.write(id, p[0], p[1], p[2], String(cmd.value), reply);
                break;
            case 'execute':
                lwm2m.execute(id, p[0], p[1], p[2], cmd.value || '', reply);
                break;
            case 'observe':
                lwm2m.observe(id, p[0], p[1], res, function (value, o, i, r) {
                    out({event: 'notify', endpoint: cmd.endpoint, path: cmd.path,
                         value: value});
                }, reply);
                break;
            case 'cancel':
                lwm2m.cancelObserver(id, p[0], p[1], res, reply);
                break;
            case 'discover':
                if (p.length >= 3) {
                    lwm2m.discover(id, p[0], p[1], p[2], reply);
                } else if (p.length === 2) {
                    lwm2m.discover(id, p[0], p[1], reply);
                } else {
                    lwm2m.discover(id, p[0], reply);
                }
                break;
            case 'writeAttributes':
                lwm2m.writeAttributes(id, p[0], p[1], p[2], cmd.attributes || {}, reply);
                break;
            default:
                reply({name: 'UnknownOperation', message: String(cmd.op)});
            }
        } catch (e) {
            reply({name: 'Exception', message: String(e && e.stack || e)});
        } finally {
            config.defaultAcceptFormat = DEFAULT_ACCEPT;
        }
    });
}

var queue = [], busy = false;

function pump() {
    if (busy || !queue.length) {
        return;
    }
    busy = true;
    run(queue.shift(), function () {
        busy = false;
        setImmediate(pump);
    });
}

lwm2m.start(config, function (error, serverInfo) {
    if (error) {
        out({event: 'error', error: errorOf(error)});
        process.exit(1);
    }
    lwm2m.setHandler(serverInfo, 'registration', function (endpoint, lifetime, version, binding,
                                                           payload, callback) {
        out({event: 'registration', endpoint: endpoint, lifetime: lifetime, version: version,
             binding: binding, payload: payload, links: parseLinks(payload)});
        callback();
    });
    lwm2m.setHandler(serverInfo, 'updateRegistration', function (device, payload, callback) {
        out({event: 'update', endpoint: device.name, lifetime: device.lifetime,
             address: device.address, port: device.port, payload: payload});
        callback();
    });
    function deregistered(device, callback) {
        out({event: 'deregistration', endpoint: device.name});
        callback();
    }
    lwm2m.setHandler(serverInfo, 'unregistration', deregistered);
    // setHandler re-arms the lifetime check with an undefined interval (a 1 ms
    // timer in lwm2m-node-lib 1.4.0); arm it again with ours.
    lwm2m.getRegistry().checkLifetime(config.lifetimeCheckInterval, deregistered);

    var rl = readline.createInterface({input: process.stdin});
    rl.on('line', function (line) {
        if (!line.trim()) {
            return;
        }
        try {
            queue.push(JSON.parse(line));
        } catch (e) {
            out({event: 'error', error: 'bad command', line: line});
            return;
        }
        pump();
    });
    rl.on('close', function () {
        lwm2m.stop(serverInfo, function () {
            process.exit(0);
        });
    });
    out({event: 'listening', port: port});
});
