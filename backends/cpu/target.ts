/**
 * Which code-generation target the cpu backend runs: `wasm` (WebAssembly
 * kernels, SIMD128 contractions) where the engine validates SIMD128, else
 * `js`. MOEFORGE_CPU_TARGET=js|wasm overrides the choice (wasm fails clearly
 * where SIMD128 is missing). Threads: a worker pool over one shared memory
 * where SharedArrayBuffer exists (Node; browsers when cross-origin isolated),
 * else the calling thread alone.
 */
import { wasmSimdAvailable } from "../../codegen/emit/wasm/emitter";

export type CpuTarget = "js" | "wasm";

export interface CpuTargetChoice {
  readonly target: CpuTarget;
  /** Why this target, in words (for logs and benchmarks). */
  readonly reason: string;
}

/**
 * The cpu backend's target and why.
 * @example cpuTarget() // { target: "wasm", reason: "WebAssembly SIMD128 validates in this engine" }
 */
export function cpuTarget(): CpuTargetChoice {
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
