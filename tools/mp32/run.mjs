// Run a Python file under a 32-bit (wasm32) MicroPython in Node.js.
//
//     node tools/mp32/run.mjs [--heapsize N[k|m]] [--pystack WORDS] [--dir DIR]... [--frames]
//                             script.py [args]
//
// The interpreter is the npm package @micropython/micropython-webassembly-pyscript
// (pinned in package.json; `npm ci` in tools/mp32). See README.md for what it can
// and cannot do. In short:
//
// - Files: the repository (this file's ../..) is copied into the in-memory
//   Emscripten file system at the same absolute path (.git, .venv, node_modules,
//   __pycache__, state/ left out), plus the script's own directory (its files,
//   not its subdirectories) and every --dir DIR (recursively). Writes stay in
//   memory; nothing is written back to the host.
// - sys.path is [script dir, tools/mp32/py] when the script starts (like the unix
//   port's [script dir, ...]); the script may change it. sys.argv is
//   [script, args...] (also in mp32.argv, tools/mp32/py/mp32.py).
// - Shims imported before the script, so they are outside any heap delta the
//   script measures: `os` gains urandom (the build has none; random.getrandbits,
//   not cryptographic) and `cryptolib` (absent from the build) is a pure-Python
//   AES-ECB (tools/mp32/py/cryptolib.py).
// - The GC: this build grows its heap instead of collecting while Python runs
//   (gc.collect() inside a script only marks a collection as pending; it happens
//   when control returns to JavaScript). A script gets real collections by
//   handing work to mp32.then(fn): after the script (and after every fn) returns,
//   the heap is collected and the next queued fn runs.
// - --heapsize N: the GC heap is N bytes and cannot grow (the wasm memory is
//   frozen and the C heap's free space taken), so an allocation that does not fit
//   raises MemoryError -- but remember that no collection happens inside a run of
//   Python code (see above). Without --heapsize the heap starts at 1 MiB and grows.
// - Exit status: 0, or the SystemExit code, or 1 after an uncaught exception
//   (MemoryError included; the traceback goes to stderr).
// - --frames: a process that exchanges frames `kind(1) length(4, big-endian) body`
//   with its parent on stdin/stdout (tools/budget_wire.py), the frame being the
//   step. The script registers mp32.serve(handler) (tools/mp32/py/mp32.py); after
//   the script and its queued steps, every frame read from stdin is written to
//   mp32.FRAME_IN in the in-memory file system and mp32._serve_one() called from
//   here -- a top-level call, so the heap is collected first -- which calls
//   handler(kind, body, live) and writes its reply frame to mp32.FRAME_OUT, copied
//   to stdout. The handler returns None to end (exit 0); an exception that escapes
//   it is answered with an `M` (MemoryError) or `E` frame holding its text, exit 1.
//   End of stdin ends the process (exit 0). Python's own stdout goes to stderr.

import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import url from "node:url";

const HERE = path.dirname(url.fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, "..", "..");
const PKG = path.join(HERE, "node_modules", "@micropython", "micropython-webassembly-pyscript",
                      "micropython.mjs");
const SKIP = new Set([".git", ".venv", "node_modules", "__pycache__", "state", ".pytest_cache",
                      ".hypothesis"]);
const MAX_FILE = 4 << 20;
const SLACK = 16 << 10;       // C-heap bytes left free under --heapsize (opendir, messages)

function usage(msg) {
  if (msg) process.stderr.write("run.mjs: " + msg + "\n");
  process.stderr.write("usage: node tools/mp32/run.mjs [--heapsize N[k|m]] [--pystack WORDS] " +
                       "[--dir DIR]... [--frames] script.py [args]\n");
  process.exit(2);
}

function size(text) {
  const m = /^(\d+)([kKmM]?)$/.exec(text || "");
  if (!m) usage("bad size " + JSON.stringify(text));
  return parseInt(m[1], 10) * ({ "": 1, k: 1024, m: 1 << 20 }[m[2].toLowerCase()]);
}

const argv = process.argv.slice(2);
let heapsize = null, pystack = 16384, frames = false;
const dirs = [];
while (argv.length && argv[0].startsWith("--")) {
  const opt = argv.shift();
  if (opt === "--heapsize") heapsize = size(argv.shift());
  else if (opt === "--pystack") pystack = size(argv.shift());
  else if (opt === "--frames") frames = true;
  else if (opt === "--dir") dirs.push(path.resolve(argv.shift() || usage("--dir needs a directory")));
  else usage("unknown option " + opt);
}
if (!argv.length) usage("no script");
if (heapsize !== null && heapsize < 4096) usage("--heapsize below 4096");
const script = path.resolve(argv[0]);
if (!fs.existsSync(script)) usage("no such file: " + argv[0]);
if (!fs.existsSync(PKG)) {
  process.stderr.write("run.mjs: " + PKG + " missing: run `npm ci` in " + HERE + "\n");
  process.exit(2);
}

// -- output: bytes from the interpreter, buffered per line ---------------------
function writer(stream) {
  let buf = [];
  const flush = () => { if (buf.length) { stream.write(Buffer.from(buf)); buf = []; } };
  const put = (data) => {
    for (const c of data) { buf.push(c); if (c === 10 || buf.length >= 8192) flush(); }
  };
  return { put, flush };
}
const err = writer(process.stderr);
const out = frames ? err : writer(process.stdout);    // --frames: stdout carries frames only

// -- a GC heap that cannot grow (--heapsize) -----------------------------------
// Emscripten grows the wasm memory through WebAssembly.Memory.prototype.grow and
// prints why when that fails; once frozen, growing fails and that message is
// dropped.
let frozen = false;
const grow = WebAssembly.Memory.prototype.grow;
WebAssembly.Memory.prototype.grow = function (pages) {
  if (frozen) throw new RangeError("mp32: memory frozen (--heapsize)");
  return grow.call(this, pages);
};
const consoleError = console.error;
console.error = (...args) => {
  const s = String(args[0]);
  if (frozen && /^(growMemory:|Failed to grow the heap|Cannot enlarge memory)/.test(s)) return;
  consoleError(...args);
};

const { loadMicroPython } = await import(PKG);
const mp = await loadMicroPython({
  heapsize: heapsize === null ? 1 << 20 : heapsize, pystack, linebuffer: false,
  stdout: (d) => out.put(d), stderr: (d) => err.put(d),
});
const FS = mp.FS;

// -- AES-ECB for the cryptolib stand-in (py/cryptolib.py): node:crypto on the
// interpreter's memory, as a C cryptolib works on the buffers in place; the
// stand-in passes addresses (uctypes.addressof) and allocates nothing per call.
const ciphers = new Map();
mp.registerJsModule("mp32js", {
  aes_ecb(key, keyLen, src, dst, n) {
    const heap = mp._module.HEAPU8;
    const k = Buffer.from(heap.subarray(key, key + keyLen));
    const id = k.toString("latin1");
    let c = ciphers.get(id);
    if (!c) {
      c = crypto.createCipheriv("aes-" + 8 * keyLen + "-ecb", k, null);
      c.setAutoPadding(false);
      ciphers.set(id, c);
    }
    heap.set(c.update(heap.subarray(src, src + n)), dst);
  },
});

// -- files -------------------------------------------------------------------------
function copyFile(src) {
  const st = fs.statSync(src);
  if (!st.isFile() || st.size > MAX_FILE) return;
  FS.mkdirTree(path.dirname(src));
  FS.writeFile(src, fs.readFileSync(src));
}
function copyTree(dir) {
  let entries;
  try { entries = fs.readdirSync(dir, { withFileTypes: true }); } catch { return; }
  FS.mkdirTree(dir);
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) { if (!SKIP.has(e.name)) copyTree(p); }
    else if (e.isFile()) copyFile(p);
  }
}
copyTree(ROOT);
for (const d of dirs) copyTree(d);
const sdir = path.dirname(script);
for (const e of fs.readdirSync(sdir, { withFileTypes: true })) {
  if (e.isFile()) copyFile(path.join(sdir, e.name));
}
try { FS.mkdirTree("/tmp"); } catch { /* exists */ }
FS.chdir(process.cwd().startsWith("/") && FS.analyzePath(process.cwd()).exists ? process.cwd() : sdir);

// -- Python ----------------------------------------------------------------------------
const py = (s) => JSON.stringify(s);
function run(code) {
  try {
    mp.runPython(code);
    return null;
  } catch (e) {
    if (e && e.name === "PythonError") return e;
    throw e;
  }
}
let e = run([
  "import sys, gc",
  "sys.path[:] = [" + py(path.join(HERE, "py")) + "]",
  "import mp32, os, cryptolib, socket",
  "sys.argv[:] = mp32.argv[:] = " + py([script].concat(argv.slice(1))),
  "mp32.driven = True",
  "__file__ = " + py(script),
  "sys.path[:] = [" + py(sdir) + ", " + py(path.join(HERE, "py")) + "]",
  "def _mp32_main(fn):",
  "    try:",
  "        fn()",
  "        return 0",
  "    except SystemExit as e:",
  "        c = e.args[0] if e.args else None",
  "        if c is None:",
  "            return 0",
  "        if isinstance(c, int):",
  "            return c",
  "        print(c, file=sys.stderr)",
  "        return 1",
  "    except BaseException as e:",
  "        sys.print_exception(e, sys.stderr)",
  "        return 1",
  "    finally:",
  "        gc.collect()",
  "def _mp32_file():",
  "    execfile(__file__)",
  "_mp32_rc = 0",
  "gc.collect()",
].join("\n"));
if (e) { process.stderr.write("run.mjs: prologue failed: " + e.type + "\n" + e.message); process.exit(3); }

if (heapsize !== null) {
  // Take the C heap's free space so that no GC area can be added; leave SLACK.
  frozen = true;
  const taken = [];
  for (let s = 1 << 24; s >= 16; s >>= 1) {
    for (;;) { const p = mp._module._malloc(s); if (!p) break; taken.push([p, s]); }
  }
  let freed = 0;
  while (freed < SLACK && taken.length) { const [p, s] = taken.pop(); mp._module._free(p); freed += s; }
}

// -- --frames ----------------------------------------------------------------------------
function readFull(buf) {       // false at end of input
  let got = 0;
  while (got < buf.length) {
    let n;
    try {
      n = fs.readSync(0, buf, got, buf.length - got, null);
    } catch (x) {
      if (x.code === "EAGAIN") { Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1); continue; }
      if (x.code === "EOF") return false;
      throw x;
    }
    if (n === 0) {
      if (got) throw new Error("run.mjs: end of input inside a frame");
      return false;
    }
    got += n;
  }
  return true;
}
function writeFull(buf) {
  let off = 0;
  while (off < buf.length) off += fs.writeSync(1, buf, off, buf.length - off);
}
function frame(kind, text) {
  const body = Buffer.from(text), head = Buffer.alloc(5);
  head.write(kind, 0, "latin1");
  head.writeUInt32BE(body.length, 1);
  return Buffer.concat([head, body]);
}
function serveFrames() {
  const mp32 = mp.pyimport("mp32");
  const IN = mp32.FRAME_IN, OUT = mp32.FRAME_OUT;
  if (!mp32._serving()) {
    return [null, 0];       // no mp32.serve(handler): nothing to serve
  }
  const head = Buffer.alloc(5);
  for (;;) {
    if (!readFull(head)) return [null, 0];
    const body = Buffer.alloc(head.readUInt32BE(1));
    if (!readFull(body)) throw new Error("run.mjs: end of input inside a frame");
    FS.writeFile(IN, Buffer.concat([head, body]));
    let rc;
    try {
      rc = mp32._serve_one();
    } catch (x) {
      if (!x || x.name !== "PythonError") throw x;
      rc = /MemoryError/.test(x.type) ? 2 : 3;
    }
    if (rc === 2 || rc === 3) {
      out.flush();
      writeFull(frame(rc === 2 ? "M" : "E", rc === 2 ? "MemoryError" : "exception (stderr)"));
      return [null, 1];
    }
    if (!rc) return [null, 0];
    writeFull(Buffer.from(FS.readFile(OUT)));
  }
}

const t0 = process.hrtime.bigint();
e = run("_mp32_rc = _mp32_main(_mp32_file)");
let rc = e ? 1 : mp.globals.get("_mp32_rc");
while (!e && rc === 0 && run("_mp32_rc = mp32._pending()") === null && mp.globals.get("_mp32_rc")) {
  e = run("_mp32_rc = _mp32_main(mp32._next)");
  rc = e ? 1 : mp.globals.get("_mp32_rc");
}
if (!e && rc === 0 && frames) [e, rc] = serveFrames();
if (e) err.put(Buffer.from(e.message));
out.flush(); err.flush();
if (process.env.MP32_TIME) {
  process.stderr.write("run.mjs: " + (Number(process.hrtime.bigint() - t0) / 1e6).toFixed(0) + " ms\n");
}
process.exitCode = typeof rc === "number" ? rc : 1;
