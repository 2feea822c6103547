/**
 * Whether the wasm target's contraction kernels use `f32x4.relaxed_madd`
 * (relaxed SIMD) and why. On by default where the engine validates it; Node 20's
 * V8 validates it only behind `--experimental-wasm-relaxed-simd`, so in Node the
 * first call sets that flag (a process-wide V8 flag: worker threads, which
 * instantiate the modules compiled here, see it too) and probes again.
 * `MOEFORGE_RELAXED_SIMD=0` (or `off`) turns it off: plain f32x4 mul + add, whose
 * results are the same on every machine, where relaxed_madd may be fused (one
 * rounding) on one and unfused (two) on another, differing in the last bit.
 */
import { ModuleBuilder } from "./module";

export interface RelaxedSimdChoice {
  /** Whether contraction kernels emit f32x4.relaxed_madd. */
  readonly enabled: boolean;
  /** Why, in words (reported with the cpu backend's target). */
  readonly reason: string;
}

/** Whether this engine validates relaxed SIMD (f32x4.relaxed_madd) now. */
function validates(): boolean {
  const m = new ModuleBuilder();
  m.func({ params: ["v128"], results: ["v128"] }, (f) => f.get(0).get(0).get(0).simd("f32x4.relaxed_madd"));
  return typeof WebAssembly === "object" && WebAssembly.validate(m.encode());
}

/** The V8 flag that turns relaxed SIMD on in Node 20's engine. */
const NODE_FLAG = "--experimental-wasm-relaxed-simd";

function choose(env: string | undefined): RelaxedSimdChoice {
  if (env !== undefined && env !== "" && env !== "0" && env !== "off" && env !== "1" && env !== "on")
    throw new Error(`MOEFORGE_RELAXED_SIMD=${env}: expected 0/off or 1/on`);
  if (env === "0" || env === "off")
    return { enabled: false, reason: "relaxed SIMD off (MOEFORGE_RELAXED_SIMD): f32x4 mul + add" };
  if (validates()) return { enabled: true, reason: "relaxed SIMD (f32x4.relaxed_madd) validates in this engine" };
  const v8 = typeof process !== "undefined" ? process.getBuiltinModule?.("node:v8") : undefined;
  if (v8) {
    v8.setFlagsFromString(NODE_FLAG);
    if (validates())
      return {
        enabled: true,
        reason: `relaxed SIMD (f32x4.relaxed_madd) on with V8's ${NODE_FLAG} (MOEFORGE_RELAXED_SIMD=0: mul + add)`,
      };
  }
  return { enabled: false, reason: "relaxed SIMD does not validate in this engine: f32x4 mul + add" };
}

let choice: RelaxedSimdChoice | undefined;

/**
 * Whether contraction kernels use relaxed_madd, and why: decided once per
 * process (in Node, possibly setting V8's flag; see the file's TSDoc).
 * @example relaxedSimd() // { enabled: true, reason: "relaxed SIMD (f32x4.relaxed_madd) on with V8's ..." }
 */
export function relaxedSimd(): RelaxedSimdChoice {
  return (choice ??= choose(typeof process !== "undefined" ? process.env?.MOEFORGE_RELAXED_SIMD : undefined));
}

/** Whether relaxed SIMD validates in this engine (after `relaxedSimd()` has had its say), checked now. */
export function relaxedSimdAvailable(): boolean {
  relaxedSimd();
  return validates();
}
