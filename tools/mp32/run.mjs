// Run a Python file under a 32-bit (wasm32) MicroPython in Node.js.
//
//     node tools/mp32/run.mjs [--heapsize N[k|m]] [--pystack WORDS] [--dir DIR]... script.py [args]
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
                       "[--dir DIR]... script.py [args]\n");
  process.exit(2);
}

function size(text) {
  const m = /^(\d+)([kKmM]?)$/.exec(text || "");
  if (!m) usage("bad size " + JSON.stringify(text));
  return parseInt(m[1], 10) * ({ "": 1, k: 1024, m: 1 << 20 }[m[2].toLowerCase()]);
}

const argv = process.argv.slice(2);
let heapsize = null, pystack = 16384;
const dirs = [];
while (argv.length && argv[0].startsWith("--")) {
  const opt = argv.shift();
  if (opt === "--heapsize") heapsize = size(argv.shift());
  else if (opt === "--pystack") pystack = size(argv.shift());
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
const out = writer(process.stdout), err = writer(process.stderr);

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

const t0 = process.hrtime.bigint();
e = run("_mp32_rc = _mp32_main(_mp32_file)");
let rc = e ? 1 : mp.globals.get("_mp32_rc");
while (!e && rc === 0 && run("_mp32_rc = mp32._pending()") === null && mp.globals.get("_mp32_rc")) {
  e = run("_mp32_rc = _mp32_main(mp32._next)");
  rc = e ? 1 : mp.globals.get("_mp32_rc");
}
if (e) err.put(Buffer.from(e.message));
out.flush(); err.flush();
if (process.env.MP32_TIME) {
  process.stderr.write("run.mjs: " + (Number(process.hrtime.bigint() - t0) / 1e6).toFixed(0) + " ms\n");
}
process.exitCode = typeof rc === "number" ? rc : 1;
