// Runs a wasm32-wasip1 test binary under Node's built-in WASI, as cargo's target runner:
// CARGO_TARGET_WASM32_WASIP1_RUNNER="node .ci/wasi-runner.mjs". The host's file system is
// visible (fixtures are read by absolute path) and the exit code is the program's.
import { readFile } from "node:fs/promises";
import { WASI } from "node:wasi";
import { argv, env, exit } from "node:process";

const [wasm, ...args] = argv.slice(2);
const wasi = new WASI({
  version: "preview1",
  args: [wasm, ...args],
  env,
  preopens: { "/": "/" },
  returnOnExit: true,
});
const module = await WebAssembly.compile(await readFile(wasm));
const instance = await WebAssembly.instantiate(module, wasi.getImportObject());
exit(wasi.start(instance));
