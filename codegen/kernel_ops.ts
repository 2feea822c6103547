/**
 * The kernel-IR elementwise ops as tables: for each op, its typing rule
 * (what `verifyKernel` checks) and how every target spells it, in the style of
 * tinygrad's renderer tables but across targets. This file holds the operand
 * classes, the targets' cell contexts and the unary ops; the binary ops are
 * kernel_ops_binary.ts. `UnaryOp` and `BinaryOp` are the tables' keys and each
 * row must fill every column, so a new op is one row and `tsc` rejects a row
 * that misses a target.
 *
 * A cell receives operands already rendered (and converted to the operand
 * type) by its target's writer, plus a small context for what the target's
 * preludes provide (JS helpers, WGSL prelude functions, wasm helpers and host
 * imports). Target quirks that are not spelling (f16 through f32 on WGSL,
 * 64-bit index math on CUDA) stay in the targets' rewrites and writers.
 */
import type { FunctionBody } from "./emit/wasm/code";
import type { Op, ValType } from "./emit/wasm/opcodes";
import type { WgslHelper } from "./emit/wgsl_prelude";
import { erfScalar } from "../dsl/primitives/elementwise";
import type { ScalarType } from "./kernel_ir";

// ---------------------------------------------------------------- typing

/** Operand types an op accepts. An elementwise op's result has its operand's type. */
export type OperandClass = "float" | "signed" | "number" | "integer" | "bool";

/** The scalar types of each operand class. */
export const OPERAND_TYPES: { readonly [C in OperandClass]: readonly ScalarType[] } = {
  float: ["f32", "f16", "f64"],
  signed: ["f32", "f16", "f64", "i32"],
  number: ["f32", "f16", "f64", "i32", "u32"],
  integer: ["i32", "u32"],
  bool: ["bool"],
};

/** What the operand class is called in verifier messages. */
export const OPERAND_CLASS_NAMES: { readonly [C in OperandClass]: string } = {
  float: "a float type",
  signed: "a float type or i32",
  number: "a number type",
  integer: "an integer type",
  bool: "bool",
};

// ---------------------------------------------------------------- target contexts

/** A JS function a kernel calls: a global (`Math.exp`) or a helper defined by its source. */
export type JsFunction = string | HelperSource;

/** What a JS cell may ask of the JS writer. */
export interface JsOpContext {
  /** The callable name of `fn` (a helper is included in the kernel once). */
  fn(fn: JsFunction): string;
}

/** A function a cell defines itself, by name and source. */
export interface HelperSource {
  readonly name: string;
  readonly source: string;
}

/** What a WGSL cell may ask of the WGSL writer. */
export interface WgslOpContext {
  /** The name of a prelude helper (the prelude includes it). */
  helper(h: WgslHelper): string;
  /** The name of a helper the cell defines (the shader includes its source once). */
  fn(f: HelperSource): string;
}

/** The integer and float helpers every wasm kernel module defines (JS-target edge cases). */
export type WasmHelper =
  "idiv" | "irem" | "udiv" | "urem" | "imax" | "imin" | "umax" | "umin" | "iabs" | "fsign" | "toInt32";

/** What a wasm cell may ask of the wasm writer; the operand is on the stack (floats as f64, the rest as i32). */
export interface WasmOpContext {
  readonly fb: FunctionBody;
  /** A scratch local of type `t`, for use within this op only. */
  scratch(t: ValType): number;
  /** The function index of a module helper. */
  helper(h: WasmHelper): number;
  /** The function index of an imported unary host function (an op whose wasm cell is `{ import }`). */
  unaryImport(op: UnaryOp): number;
  /** The function index of a binary host import (f64, f64) -> f64. */
  host(fn: "pow" | "fmod"): number;
}

/** CUDA operand classes (by C++ type); `wide` is 64-bit index math. */
export type CudaOpClass = "float" | "int" | "uint" | "wide" | "bool";

type Fmt1 = (a: string) => string;

// ---------------------------------------------------------------- unary ops

/** One unary op: its typing rule and its spelling on every target. */
export interface UnaryOpRow {
  readonly operands: OperandClass;
  /** JS source for operand `x` of type `t` (a JS number; f32 is rounded where it is bound). */
  readonly js: (x: string, t: ScalarType, js: JsOpContext) => string;
  /**
   * WGSL source for operand `x` (f64 never reaches WGSL). `f16ViaF32`: f16
   * operands compute in f32 (a kernel-IR rewrite, `wgsl_rewrites.ts`).
   */
  readonly wgsl: {
    readonly render: (x: string, t: Exclude<ScalarType, "f64">, w: WgslOpContext) => string;
    readonly f16ViaF32?: true;
  };
  /** CUDA source per operand class; a class the typing rule accepts must be present. */
  readonly cuda: Partial<Record<CudaOpClass, Fmt1>>;
  /**
   * Wasm: one opcode on the operand, a host import (JS semantics, so both cpu
   * targets agree bit for bit), or instructions written by a function.
   */
  readonly wasm: { readonly op: Op } | { readonly import: JsFunction } | ((w: WasmOpContext, t: ScalarType) => void);
}

const call1 =
  (fn: string): Fmt1 =>
  (a) =>
    `${fn}(${a})`;
const prefix =
  (op: string): Fmt1 =>
  (a) =>
    `(${op}${a})`;
const cudaNumeric = (f: Fmt1) => ({ float: f, int: f, uint: f, wide: f });
const cudaInteger = (f: Fmt1) => ({ int: f, uint: f, wide: f });

/** `Math.<name>(x)` on JS, imported from `Math` on wasm. */
const math = (name: string) => ({
  js: (x: string) => `Math.${name}(${x})`,
  wasm: { import: `Math.${name}` },
});
/** A WGSL prelude helper per float type (`mf_exp_f32`, `mf_exp_f16`). */
const wgslFloatHelper = (name: "exp" | "log" | "log1p" | "tanh" | "sigmoid"): UnaryOpRow["wgsl"] => ({
  render: (x, t, w) => `${w.helper(`${name}_${t === "f16" ? "f16" : "f32"}`)}(${x})`,
});
const wgslCall = (fn: string): UnaryOpRow["wgsl"] => ({ render: (x) => `${fn}(${x})` });

/** The numerically stable logistic function (one source for the JS target and the wasm import). */
const JS_SIGMOID = {
  name: "mf_sigmoid",
  source: "function mf_sigmoid(x) { return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x)); }",
};
/** The interpreter's own erf (its source is `Math`-only), so the cpu targets equal the interpreter bit for bit. */
const JS_ERF = { name: "mf_erf", source: `const mf_erf = ${erfScalar.toString()};` };
/** erf in f32 for WGSL, which has none: the interpreter's algorithm with f32-sized term counts (|error| < 6e-7). */
const WGSL_ERF = {
  name: "mf_erf",
  source: `fn mf_erf(x: f32) -> f32 {
  let a = abs(x);
  if (a >= 6.0) { return sign(x); }
  if (a < 2.0) {
    let x2 = x * x;
    var term = x;
    var sum = x;
    for (var n = 1; n < 24; n++) {
      term *= -x2 / f32(n);
      sum += term / f32(2 * n + 1);
    }
    return sum * 1.1283791670955126;
  }
  var f = a;
  for (var k = 30; k >= 1; k--) { f = a + f32(k) * 0.5 / f; }
  let erfc = exp(-a * a) / (1.7724538509055159 * f);
  return select(1.0 - erfc, erfc - 1.0, x < 0.0);
}`,
};
const JS_SIGN = { name: "mf_sign", source: "function mf_sign(x) { return x > 0 ? 1 : x < 0 ? -1 : 0; }" };

const UNARY_ROWS = {
  neg: {
    operands: "number",
    js: (x, t) => (t === "i32" ? `((-${x}) | 0)` : `(-${x})`),
    wgsl: { render: (x, t) => (t === "u32" ? `(0u - ${x})` : `(-${x})`) },
    cuda: cudaNumeric(prefix("-")),
    wasm: ({ fb }, t) => void (isFloat(t) ? fb.op("f64.neg") : fb.i32(-1).op("i32.mul")),
  },
  exp: { operands: "float", ...math("exp"), wgsl: wgslFloatHelper("exp"), cuda: { float: call1("expf") } },
  log: { operands: "float", ...math("log"), wgsl: wgslFloatHelper("log"), cuda: { float: call1("logf") } },
  log1p: { operands: "float", ...math("log1p"), wgsl: wgslFloatHelper("log1p"), cuda: { float: call1("log1pf") } },
  sqrt: {
    operands: "float",
    js: (x) => `Math.sqrt(${x})`,
    wgsl: wgslCall("sqrt"),
    cuda: { float: call1("sqrtf") },
    wasm: { op: "f64.sqrt" },
  },
  rsqrt: {
    operands: "float",
    js: (x) => `(1 / Math.sqrt(${x}))`,
    wgsl: wgslCall("inverseSqrt"),
    cuda: { float: call1("rsqrtf") },
    wasm: (w) => {
      const x = w.scratch("f64");
      w.fb.set(x).f64(1).get(x).op("f64.sqrt").op("f64.div");
    },
  },
  tanh: { operands: "float", ...math("tanh"), wgsl: wgslFloatHelper("tanh"), cuda: { float: call1("tanhf") } },
  sigmoid: {
    operands: "float",
    js: (x, _t, js) => `${js.fn(JS_SIGMOID)}(${x})`,
    wgsl: wgslFloatHelper("sigmoid"),
    cuda: { float: call1("mf_sigmoid") },
    wasm: { import: JS_SIGMOID },
  },
  abs: {
    operands: "signed",
    js: (x, t) => (t === "i32" ? `(Math.abs(${x}) | 0)` : `Math.abs(${x})`),
    wgsl: wgslCall("abs"),
    cuda: { float: call1("fabsf"), int: call1("abs"), wide: call1("llabs"), uint: (a) => a },
    wasm: (w, t) => void (isFloat(t) ? w.fb.op("f64.abs") : w.fb.call(w.helper("iabs"))),
  },
  sign: {
    operands: "signed",
    js: (x, _t, js) => `${js.fn(JS_SIGN)}(${x})`,
    wgsl: wgslCall("sign"),
    cuda: { float: call1("mf_sign"), int: call1("mf_sign"), wide: call1("mf_sign") },
    wasm: (w, t) => {
      if (isFloat(t)) return void w.fb.call(w.helper("fsign"));
      const x = w.scratch("i32");
      // (x > 0) - (x < 0)
      w.fb.tee(x).i32(0).op("i32.gt_s").get(x).i32(0).op("i32.lt_s").op("i32.sub");
    },
  },
  // WGSL's sin/cos are only accurate to 2^-11 absolute: the prelude's are f32-accurate (f16 goes via f32).
  sin: {
    operands: "float",
    ...math("sin"),
    wgsl: { render: (x, _t, w) => `${w.helper("sin")}(${x})`, f16ViaF32: true },
    cuda: { float: call1("sinf") },
  },
  cos: {
    operands: "float",
    ...math("cos"),
    wgsl: { render: (x, _t, w) => `${w.helper("cos")}(${x})`, f16ViaF32: true },
    cuda: { float: call1("cosf") },
  },
  erf: {
    operands: "float",
    js: (x, _t, js) => `${js.fn(JS_ERF)}(${x})`,
    wgsl: { render: (x, _t, w) => `${w.fn(WGSL_ERF)}(${x})`, f16ViaF32: true },
    cuda: { float: call1("erff") },
    wasm: { import: JS_ERF },
  },
  /** Logical not. */
  not: {
    operands: "bool",
    js: (x) => `(!${x})`,
    wgsl: { render: (x) => `(!${x})` },
    cuda: { bool: prefix("!") },
    wasm: { op: "i32.eqz" },
  },
  /** Bitwise not. */
  bitNot: {
    operands: "integer",
    js: (x, t) => (t === "u32" ? `((~${x}) >>> 0)` : `(~${x})`),
    wgsl: { render: (x) => `(~${x})` },
    cuda: cudaInteger(prefix("~")),
    wasm: ({ fb }) => void fb.i32(-1).op("i32.xor"),
  },
} as const satisfies Record<string, UnaryOpRow>;

/** The kernel-IR unary ops (the keys of the table). */
export type UnaryOp = keyof typeof UNARY_ROWS;

/** Every unary op's row (typed as rows, so targets read each column alike). */
export const UNARY_OPS: { readonly [op in UnaryOp]: UnaryOpRow } = UNARY_ROWS;

/** The unary ops, in table order. */
export const UNARY_OP_NAMES = Object.keys(UNARY_ROWS) as UnaryOp[];

function isFloat(t: ScalarType): boolean {
  return t === "f32" || t === "f16" || t === "f64";
}
