/**
 * Host functions wasm kernels import (module "mf"): the transcendental math
 * WebAssembly lacks, with exactly the JS target's semantics (the same Math
 * functions and helper sources: the unary ones come from the op table,
 * kernel_ops.ts), so both cpu targets compute the same values.
 * Implementations are JS source text, so worker threads build the same
 * functions from the same table.
 */
import { UNARY_OP_NAMES, UNARY_OPS, type JsFunction, type UnaryOp } from "../../kernel_ops";
import { JS_HELPERS } from "../js";
import type { FuncType } from "./module";

export interface HostImport {
  readonly type: FuncType;
  /** A JS expression evaluating to the function. */
  readonly source: string;
}

const f64f64ToF64: FuncType = { params: ["f64", "f64"], results: ["f64"] };

/** A JS expression evaluating to `fn` (a global, or a helper built from its source). */
function jsFunctionSource(fn: JsFunction): string {
  return typeof fn === "string" ? fn : `(() => { ${fn.source}; return ${fn.name}; })()`;
}

/** The unary ops whose wasm cell is a host import (kernel_ops.ts), each imported under the op's name. */
export const UNARY_IMPORT_OPS: readonly UnaryOp[] = UNARY_OP_NAMES.filter((op) => "import" in UNARY_OPS[op].wasm);

/** Every other import. */
export const HOST_IMPORTS = {
  pow: { type: f64f64ToF64, source: "Math.pow" },
  fmod: { type: f64f64ToF64, source: "(a, b) => a % b" },
  /** JS ToInt32 (x | 0) for floats outside (-2^31, 2^31): wraps modulo 2^32, NaN and infinities give 0. */
  toInt32: { type: { params: ["f64"], results: ["i32"] }, source: "(x) => x | 0" },
  threefry: {
    type: { params: ["i32", "i32", "i32", "i32", "i32"], results: ["i32"] },
    source: `(() => { ${JS_HELPERS.mf_threefry}; return (k0, k1, c0, c1, w) => mf_threefry(k0, k1, c0, c1, w) | 0; })()`,
  },
} as const satisfies Record<string, HostImport>;

export type HostImportName = keyof typeof HOST_IMPORTS;
export const HOST_IMPORT_NAMES = Object.keys(HOST_IMPORTS) as HostImportName[];

/** The unary ops' imports (f64 -> f64), by op name. */
export function unaryImport(op: UnaryOp): HostImport {
  const cell = UNARY_OPS[op].wasm;
  if (!("import" in cell)) throw new Error(`wasm: unary op ${op} is not a host import`);
  return { type: { params: ["f64"], results: ["f64"] }, source: jsFunctionSource(cell.import) };
}

/** Source of a JS expression building the import object's "mf" functions (for `new Function`). */
export function hostImportsSource(): string {
  const entries = [
    ...HOST_IMPORT_NAMES.map((n) => `${n}: ${HOST_IMPORTS[n].source}`),
    ...UNARY_IMPORT_OPS.map((op) => `${op}: ${unaryImport(op).source}`),
  ];
  return `({ ${entries.join(", ")} })`;
}
