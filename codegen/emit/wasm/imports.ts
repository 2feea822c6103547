/**
 * Host functions wasm kernels import (module "mf"): the transcendental math
 * WebAssembly lacks, with exactly the JS target's semantics (the same Math
 * functions and helper sources), so both cpu targets compute the same values.
 * Implementations are JS source text, so worker threads build the same
 * functions from the same table.
 */
import { JS_HELPERS } from "../js";
import type { FuncType } from "./module";

export interface HostImport {
  readonly type: FuncType;
  /** A JS expression evaluating to the function. */
  readonly source: string;
}

const f64ToF64: FuncType = { params: ["f64"], results: ["f64"] };
const f64f64ToF64: FuncType = { params: ["f64", "f64"], results: ["f64"] };

/** Every import, in function-index order. */
export const HOST_IMPORTS = {
  exp: { type: f64ToF64, source: "Math.exp" },
  log: { type: f64ToF64, source: "Math.log" },
  log1p: { type: f64ToF64, source: "Math.log1p" },
  tanh: { type: f64ToF64, source: "Math.tanh" },
  sin: { type: f64ToF64, source: "Math.sin" },
  cos: { type: f64ToF64, source: "Math.cos" },
  pow: { type: f64f64ToF64, source: "Math.pow" },
  fmod: { type: f64f64ToF64, source: "(a, b) => a % b" },
  sigmoid: { type: f64ToF64, source: `(() => { ${JS_HELPERS.mf_sigmoid}; return mf_sigmoid; })()` },
  /** JS ToInt32 (x | 0) for floats outside (-2^31, 2^31): wraps modulo 2^32, NaN and infinities give 0. */
  toInt32: { type: { params: ["f64"], results: ["i32"] }, source: "(x) => x | 0" },
  threefry: {
    type: { params: ["i32", "i32", "i32", "i32", "i32"], results: ["i32"] },
    source: `(() => { ${JS_HELPERS.mf_threefry}; return (k0, k1, c0, c1, w) => mf_threefry(k0, k1, c0, c1, w) | 0; })()`,
  },
} as const satisfies Record<string, HostImport>;

export type HostImportName = keyof typeof HOST_IMPORTS;
export const HOST_IMPORT_NAMES = Object.keys(HOST_IMPORTS) as HostImportName[];

/** Source of a JS expression building the import object's "mf" functions (for `new Function`). */
export function hostImportsSource(): string {
  return `({ ${HOST_IMPORT_NAMES.map((n) => `${n}: ${HOST_IMPORTS[n].source}`).join(", ")} })`;
}
