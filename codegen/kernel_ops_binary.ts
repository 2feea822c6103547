/**
 * The kernel-IR binary ops as one table, the companion of the unary table
 * (kernel_ops.ts, which holds the operand classes and the targets' cell
 * contexts): for each op, its typing rule (what `verifyKernel` checks) and how
 * every target spells it. `BinaryOp` is the table's key and each row must fill
 * every column, so a new op is one row here and `tsc` rejects a row that
 * misses a target.
 *
 * Cells receive operands already rendered and converted by their target's
 * writer, which also decides the operand types (a comparison's operands meet
 * in one type, a shift count is u32 on WGSL); a cell only spells the op.
 * Target quirks that are not spelling (64-bit index math on CUDA and JS) are
 * chosen by the writers from range analysis; the cells for them are here too.
 */
import type { Op } from "./emit/wasm/opcodes";
import type { ScalarType } from "./kernel_ir";
import {
  OPERAND_TYPES,
  type CudaOpClass,
  type HelperSource,
  type JsOpContext,
  type OperandClass,
  type WasmOpContext,
  type WgslOpContext,
} from "./kernel_ops";

/**
 * How a binary op types: `arithmetic` gives the operands' type, `compare` and
 * `logical` give bool, `shift` takes any integer count and gives the shifted
 * operand's type.
 */
export type BinaryKind = "arithmetic" | "compare" | "logical" | "shift";

type Fmt2 = (a: string, b: string) => string;
type Wgsl = Exclude<ScalarType, "f64">;

/** What a WGSL cell knows besides its operands. */
export interface WgslBinaryInfo {
  /** The result type (bool for comparisons). */
  readonly type: Wgsl;
  /** The type both operands were converted to (a shift count is u32 whatever this says). */
  readonly operand: Wgsl;
  /** The right operand's value when it is a constant (a nonzero divisor needs no zero check), else null. */
  readonly divisor: number | null;
}

/**
 * A wasm instruction for operands on the stack: one opcode, or instructions
 * written by a function (`divisor`: the right operand's value when it is a
 * constant, else null).
 */
export type WasmStep = Op | ((w: WasmOpContext, divisor: number | null) => void);

/** One binary op: its typing rule and its spelling on every target. */
export interface BinaryOpRow {
  readonly kind: BinaryKind;
  /** Operand types (both operands have one type, except a shift's count). */
  readonly operands: OperandClass | "integerOrBool" | "any";
  /** The C-family infix operator, where the op has one (kernel-IR text prints it too). */
  readonly infix?: string;
  /**
   * JS source for operands of type `operand` and result type `t` (JS numbers:
   * i32 and u32 results are wrapped to 32 bits here, f32 is rounded where it is
   * bound; a bool is a JS boolean or, loaded from a Uint8Array, 0 or 1).
   */
  readonly js: (a: string, b: string, t: ScalarType, js: JsOpContext, operand: ScalarType) => string;
  /** JS source for i32 index math that may pass 2^31 (plain numbers, exact below 2^53); ops without it never widen. */
  readonly jsWide?: (a: string, b: string, js: JsOpContext) => string;
  readonly wgsl: (a: string, b: string, info: WgslBinaryInfo, w: WgslOpContext) => string;
  /** CUDA source per operand class (both operands already have one C++ type); a class the typing accepts must be present. */
  readonly cuda: Partial<Record<CudaOpClass, Fmt2>>;
  /** Wasm per operand class on the stack: floats as f64, i32 and bool as signed i32, u32 as unsigned i32. */
  readonly wasm: { readonly float?: WasmStep; readonly int?: WasmStep; readonly uint?: WasmStep };
}

// ---------------------------------------------------------------- spelling helpers

const call2 =
  (fn: string): Fmt2 =>
  (a, b) =>
    `${fn}(${a}, ${b})`;
const paren =
  (op: string): Fmt2 =>
  (a, b) =>
    `(${a} ${op} ${b})`;
const numeric = <F>(f: F): Partial<Record<CudaOpClass, F>> => ({ float: f, int: f, uint: f, wide: f });
const integer = <F>(f: F): Partial<Record<CudaOpClass, F>> => ({ int: f, uint: f, wide: f });

/** Wraps a JS integer result to 32 bits (i32: `| 0`, u32: `>>> 0`). */
const wrap = (code: string, t: ScalarType) =>
  t === "i32" ? `((${code}) | 0)` : t === "u32" ? `((${code}) >>> 0)` : `(${code})`;

/** Whether rendered JS is an integer literal other than zero (such a divisor needs no zero guard). */
function nonzeroLiteral(code: string): boolean {
  const m = /^\(?(-?\d+)\)?$/.exec(code);
  return m !== null && Number(m[1]) !== 0;
}

/** JS integer division and remainder with the interpreter's rule x / 0 = 0 (i32, u32 and wide index math). */
const jsHelper = (name: string, body: string): HelperSource => ({
  name,
  source: `function ${name}(a, b) { return b === 0 ? 0 : ${body}; }`,
});
const JS_IDIV = jsHelper("mf_idiv", "(a / b) | 0");
const JS_IREM = jsHelper("mf_irem", "(a % b) | 0");
const JS_UDIV = jsHelper("mf_udiv", "(a / b) >>> 0");
const JS_UREM = jsHelper("mf_urem", "(a % b) >>> 0");
const JS_WDIV = jsHelper("mf_wdiv", "Math.trunc(a / b)");
const JS_WREM = jsHelper("mf_wrem", "a % b");

/** `a <op> b` with the JS result wrapped to the result type. */
const jsWrapped =
  (op: string) =>
  (a: string, b: string, t: ScalarType): string =>
    wrap(`${a} ${op} ${b}`, t);

/** The C-family infix spelling on WGSL. */
const wgslInfix =
  (op: string) =>
  (a: string, b: string): string =>
    `(${a} ${op} ${b})`;

/** WGSL max/min: the IEEE-faithful prelude helper on floats, the builtin on integers. */
const wgslExtremum =
  (op: "max" | "min") =>
  (a: string, b: string, { type }: WgslBinaryInfo, w: WgslOpContext): string =>
    type === "f32" || type === "f16" ? `${w.helper(`${op}_${type}`)}(${a}, ${b})` : `${op}(${a}, ${b})`;

/** A wasm op whose signed and unsigned forms are one opcode. */
const wasmInt = (op: Op) => ({ int: op, uint: op });
/** A wasm comparison: the f64 opcode and the signed/unsigned i32 ones. */
const wasmCompare = (f: Op, s: Op, u: Op) => ({ float: f, int: s, uint: u });
/** A module helper call. */
const wasmHelper =
  (h: Parameters<WasmOpContext["helper"]>[0]): WasmStep =>
  (w) =>
    void w.fb.call(w.helper(h));
/** A divisor that can neither be 0 nor -1 (INT_MIN / -1 traps in wasm) lets the plain signed opcode run. */
const wasmSigned =
  (op: Op, helper: "idiv" | "irem"): WasmStep =>
  (w, divisor) =>
    void (divisor !== null && divisor !== 0 && divisor !== -1 ? w.fb.op(op) : w.fb.call(w.helper(helper)));
/** Integer pow as the JS target computes it: Math.pow on the numbers, then wrapped to 32 bits. */
const wasmIntPow =
  (unsigned: boolean): WasmStep =>
  (w) => {
    const b = w.scratch("i32");
    const convert = unsigned ? "f64.convert_i32_u" : "f64.convert_i32_s";
    w.fb.set(b).op(convert);
    w.fb.get(b).op(convert);
    w.fb.call(w.host("pow")).call(w.helper("toInt32"));
  };

// ---------------------------------------------------------------- the table

const BINARY_ROWS = {
  add: {
    kind: "arithmetic",
    operands: "number",
    infix: "+",
    js: jsWrapped("+"),
    jsWide: (a, b) => `(${a} + ${b})`,
    wgsl: wgslInfix("+"),
    cuda: numeric(paren("+")),
    wasm: { float: "f64.add", ...wasmInt("i32.add") },
  },
  sub: {
    kind: "arithmetic",
    operands: "number",
    infix: "-",
    js: jsWrapped("-"),
    jsWide: (a, b) => `(${a} - ${b})`,
    wgsl: wgslInfix("-"),
    cuda: numeric(paren("-")),
    wasm: { float: "f64.sub", ...wasmInt("i32.sub") },
  },
  mul: {
    kind: "arithmetic",
    operands: "number",
    infix: "*",
    js: (a, b, t) =>
      t === "i32" ? `Math.imul(${a}, ${b})` : t === "u32" ? `(Math.imul(${a}, ${b}) >>> 0)` : `(${a} * ${b})`,
    jsWide: (a, b) => `(${a} * ${b})`,
    wgsl: wgslInfix("*"),
    cuda: numeric(paren("*")),
    wasm: { float: "f64.mul", ...wasmInt("i32.mul") },
  },
  div: {
    kind: "arithmetic",
    operands: "number",
    infix: "/",
    // A nonzero literal divisor needs no division-by-zero guard (most index math).
    js: (a, b, t, js) => {
      if (t === "i32" && nonzeroLiteral(b)) return `((${a} / ${b}) | 0)`;
      if (t === "i32" || t === "u32") return `${js.fn(t === "i32" ? JS_IDIV : JS_UDIV)}(${a}, ${b})`;
      return `(${a} / ${b})`;
    },
    jsWide: (a, b, js) => (nonzeroLiteral(b) ? `Math.trunc(${a} / ${b})` : `${js.fn(JS_WDIV)}(${a}, ${b})`),
    // Integer division by zero is 0 (the interpreter's rule); a nonzero literal divisor needs no check.
    wgsl: (a, b, { type, divisor }, w) =>
      (type === "i32" || type === "u32") && !(divisor !== null && divisor !== 0)
        ? `${w.helper(`div_${type}`)}(${a}, ${b})`
        : `(${a} / ${b})`,
    // Indices are never divided by zero (sizes are positive), so wide math uses the plain operators.
    cuda: { float: paren("/"), int: call2("mf_div"), uint: call2("mf_div"), wide: paren("/") },
    wasm: { float: "f64.div", int: wasmSigned("i32.div_s", "idiv"), uint: wasmHelper("udiv") },
  },
  rem: {
    kind: "arithmetic",
    operands: "number",
    infix: "%",
    js: (a, b, t, js) => {
      if (t === "i32" && nonzeroLiteral(b)) return `((${a} % ${b}) | 0)`;
      if (t === "i32" || t === "u32") return `${js.fn(t === "i32" ? JS_IREM : JS_UREM)}(${a}, ${b})`;
      return `(${a} % ${b})`;
    },
    jsWide: (a, b, js) => (nonzeroLiteral(b) ? `(${a} % ${b})` : `${js.fn(JS_WREM)}(${a}, ${b})`),
    wgsl: wgslInfix("%"),
    cuda: { float: call2("fmodf"), int: call2("mf_rem"), uint: call2("mf_rem"), wide: paren("%") },
    wasm: {
      float: (w) => void w.fb.call(w.host("fmod")),
      int: wasmSigned("i32.rem_s", "irem"),
      uint: wasmHelper("urem"),
    },
  },
  max: {
    kind: "arithmetic",
    operands: "number",
    js: (a, b) => `Math.max(${a}, ${b})`,
    wgsl: wgslExtremum("max"),
    cuda: numeric(call2("mf_max")),
    wasm: { float: "f64.max", int: wasmHelper("imax"), uint: wasmHelper("umax") },
  },
  min: {
    kind: "arithmetic",
    operands: "number",
    js: (a, b) => `Math.min(${a}, ${b})`,
    wgsl: wgslExtremum("min"),
    cuda: numeric(call2("mf_min")),
    wasm: { float: "f64.min", int: wasmHelper("imin"), uint: wasmHelper("umin") },
  },
  pow: {
    kind: "arithmetic",
    operands: "number",
    js: (a, b) => `Math.pow(${a}, ${b})`,
    // Integer pow goes through f32 on WGSL (wgsl_rewrites.ts).
    wgsl: (a, b, { type }, w) => `${w.helper(`pow_${type as "f32" | "f16"}`)}(${a}, ${b})`,
    cuda: { float: call2("powf") },
    wasm: { float: (w) => void w.fb.call(w.host("pow")), int: wasmIntPow(false), uint: wasmIntPow(true) },
  },
  eq: {
    kind: "compare",
    operands: "any",
    infix: "==",
    // A loaded bool is 0 or 1 and a computed one true or false: bools compare by truth value.
    js: (a, b, _t, _js, operand) => (operand === "bool" ? `(!${a} === !${b})` : `(${a} === ${b})`),
    wgsl: wgslInfix("=="),
    cuda: { ...numeric(paren("==")), bool: paren("==") },
    wasm: wasmCompare("f64.eq", "i32.eq", "i32.eq"),
  },
  ne: {
    kind: "compare",
    operands: "any",
    infix: "!=",
    js: (a, b, _t, _js, operand) => (operand === "bool" ? `(!${a} !== !${b})` : `(${a} !== ${b})`),
    // WGSL may assume no NaNs in `!=`: floats compare through their bits (wgsl_ieee.ts).
    wgsl: (a, b, { operand }, w) =>
      operand === "f32" || operand === "f16" ? `${w.helper(`ne_${operand}`)}(${a}, ${b})` : `(${a} != ${b})`,
    cuda: { ...numeric(paren("!=")), bool: paren("!=") },
    wasm: wasmCompare("f64.ne", "i32.ne", "i32.ne"),
  },
  lt: {
    kind: "compare",
    operands: "number",
    infix: "<",
    js: (a, b) => `(${a} < ${b})`,
    wgsl: wgslInfix("<"),
    cuda: numeric(paren("<")),
    wasm: wasmCompare("f64.lt", "i32.lt_s", "i32.lt_u"),
  },
  le: {
    kind: "compare",
    operands: "number",
    infix: "<=",
    js: (a, b) => `(${a} <= ${b})`,
    wgsl: wgslInfix("<="),
    cuda: numeric(paren("<=")),
    wasm: wasmCompare("f64.le", "i32.le_s", "i32.le_u"),
  },
  gt: {
    kind: "compare",
    operands: "number",
    infix: ">",
    js: (a, b) => `(${a} > ${b})`,
    wgsl: wgslInfix(">"),
    cuda: numeric(paren(">")),
    wasm: wasmCompare("f64.gt", "i32.gt_s", "i32.gt_u"),
  },
  ge: {
    kind: "compare",
    operands: "number",
    infix: ">=",
    js: (a, b) => `(${a} >= ${b})`,
    wgsl: wgslInfix(">="),
    cuda: numeric(paren(">=")),
    wasm: wasmCompare("f64.ge", "i32.ge_s", "i32.ge_u"),
  },
  and: {
    kind: "logical",
    operands: "bool",
    infix: "&&",
    js: (a, b) => `(${a} && ${b})`,
    wgsl: wgslInfix("&&"),
    cuda: { bool: paren("&&") },
    wasm: { int: "i32.and" },
  },
  or: {
    kind: "logical",
    operands: "bool",
    infix: "||",
    js: (a, b) => `(${a} || ${b})`,
    wgsl: wgslInfix("||"),
    cuda: { bool: paren("||") },
    wasm: { int: "i32.or" },
  },
  bitAnd: {
    kind: "arithmetic",
    operands: "integerOrBool",
    infix: "&",
    js: jsWrapped("&"),
    wgsl: wgslInfix("&"),
    cuda: { ...integer(paren("&")), bool: paren("&") },
    wasm: wasmInt("i32.and"),
  },
  bitOr: {
    kind: "arithmetic",
    operands: "integerOrBool",
    infix: "|",
    js: jsWrapped("|"),
    wgsl: wgslInfix("|"),
    cuda: { ...integer(paren("|")), bool: paren("|") },
    wasm: wasmInt("i32.or"),
  },
  bitXor: {
    kind: "arithmetic",
    operands: "integerOrBool",
    infix: "^",
    js: jsWrapped("^"),
    wgsl: wgslInfix("^"),
    cuda: { ...integer(paren("^")), bool: paren("^") },
    wasm: wasmInt("i32.xor"),
  },
  // Shift counts are taken mod 32 as in JS (C++ leaves larger counts undefined);
  // a signed left shift goes through unsigned on CUDA so that it may wrap.
  shl: {
    kind: "shift",
    operands: "integer",
    infix: "<<",
    js: jsWrapped("<<"),
    wgsl: wgslInfix("<<"),
    cuda: {
      int: (a, b) => `(int)((unsigned int)${a} << (${b} & 31))`,
      uint: (a, b) => `(${a} << (${b} & 31u))`,
      wide: (a, b) => `(${a} << (${b} & 31))`,
    },
    wasm: wasmInt("i32.shl"),
  },
  // logical on u32, arithmetic on i32
  shr: {
    kind: "shift",
    operands: "integer",
    infix: ">>",
    js: (a, b, t) => (t === "u32" ? `(${a} >>> ${b})` : `(${a} >> ${b})`),
    wgsl: wgslInfix(">>"),
    cuda: {
      int: (a, b) => `(${a} >> (${b} & 31))`,
      uint: (a, b) => `(${a} >> (${b} & 31u))`,
      wide: (a, b) => `(${a} >> (${b} & 31))`,
    },
    wasm: { int: "i32.shr_s", uint: "i32.shr_u" },
  },
} as const satisfies Record<string, BinaryOpRow>;

/** The kernel-IR binary ops (the keys of the table). */
export type BinaryOp = keyof typeof BINARY_ROWS;

/** Every binary op's row. */
export const BINARY_OPS: { readonly [op in BinaryOp]: BinaryOpRow } = BINARY_ROWS;

/** The binary ops, in table order. */
export const BINARY_OP_NAMES = Object.keys(BINARY_ROWS) as BinaryOp[];

/** Whether `op` gives bool (a comparison or a logical op). */
export function givesBool(op: BinaryOp): boolean {
  const kind = BINARY_OPS[op].kind;
  return kind === "compare" || kind === "logical";
}

/** The operand types a binary op accepts. */
export function binaryOperandTypes(op: BinaryOp): readonly ScalarType[] {
  const cls = BINARY_OPS[op].operands;
  if (cls === "any") return [...OPERAND_TYPES.number, "bool"];
  if (cls === "integerOrBool") return [...OPERAND_TYPES.integer, "bool"];
  return OPERAND_TYPES[cls];
}
