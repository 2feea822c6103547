/**
 * Which code-generation target the cpu backend runs: `wasm` (WebAssembly
 * kernels, SIMD128 contractions) where the engine validates SIMD128, else
 * `js`. MOEFORGE_CPU_TARGET=js|wasm overrides the choice (wasm fails clearly
 * where SIMD128 is missing). On wasm, the reason also says whether contractions
 * use relaxed SIMD (`relaxedSimd()`: on by default, in Node 20 through V8's flag;
 * MOEFORGE_RELAXED_SIMD=0 turns it off). Threads: a worker pool over one shared memory
 * where SharedArrayBuffer exists (Node; browsers when cross-origin isolated),
 * else the calling thread alone.
 */
import { wasmSimdAvailable } from "../../codegen/emit/wasm/emitter";
import { relaxedSimd } from "../../codegen/emit/wasm/relaxed_simd";

export type CpuTarget = "js" | "wasm";

export interface CpuTargetChoice {
  readonly target: CpuTarget;
  /** Why this target, in words (for logs and benchmarks). */
  readonly reason: string;
}

/**
 * The cpu backend's target and why.
 * @example cpuTarget() // { target: "wasm", reason: "WebAssembly SIMD128 validates in this engine; relaxed SIMD ..." }
 */
export function cpuTarget(): CpuTargetChoice {
  const choice = chooseTarget();
  return choice.target === "wasm" ? { ...choice, reason: `${choice.reason}; ${relaxedSimd().reason}` } : choice;
}

function chooseTarget(): CpuTargetChoice {
  const env = typeof process !== "undefined" ? process.env?.MOEFORGE_CPU_TARGET : undefined;
  if (env !== undefined && env !== "") {
    if (env !== "js" && env !== "wasm") throw new Error(`MOEFORGE_CPU_TARGET=${env}: expected "js" or "wasm"`);
    if (env === "wasm" && !wasmSimdAvailable())
      throw new Error("MOEFORGE_CPU_TARGET=wasm: this engine does not validate WebAssembly SIMD128; use js");
    return { target: env, reason: `MOEFORGE_CPU_TARGET=${env}` };
  }
  return wasmSimdAvailable()
    ? { target: "wasm", reason: "WebAssembly SIMD128 validates in this engine" }
    : { target: "js", reason: "WebAssembly SIMD128 does not validate in this engine (JS kernels instead)" };
}
