/**
 * The JS emitter: kernel IR rendered as a plain JavaScript function over typed
 * arrays, run by the `cpu` backend. Semantics follow the interpreter: f32
 * values are rounded (`Math.fround`) whenever a variable is bound or cast, i32
 * arithmetic wraps, integer division by zero gives 0. Index math that the range
 * analysis cannot prove below 2^31 (`codegen/analysis/ranges.ts`) is computed
 * with plain JS numbers instead (exact up to 2^53), so it never wraps.
 *
 * A kernel becomes `(function name(buffers, sizes, numGroups, first?, last?) { ... })`:
 * `buffers` are typed arrays in param order, `sizes` the named dims in
 * `kernel.sizes` order; it runs workgroups [first, last) of `numGroups`
 * (all by default), so a runtime can split a launch across threads. Threads run one after another in a loop (a `return`
 * ends the current thread). Kernels with barriers run each workgroup's threads
 * as generators that yield at every barrier, with shared arrays per workgroup:
 * slow, but the same IR the GPU targets run, so GPU schedules can be tested on CPU.
 */
import { analyzeRanges, type KernelRanges } from "../analysis/ranges";
import type { Builtin, Expr, Intrinsic, Kernel, ScalarType, Stmt, UnaryOp } from "../kernel_ir";
import { UNARY_OPS, type JsFunction, type JsOpContext } from "../kernel_ops";
import { BINARY_OPS } from "../kernel_ops_binary";
import { CStyleWriter, wordSet, type StmtOf } from "./c_style";
import { registerEmitter, type Emitter } from "./emitter";
import { prepareKernel } from "./prepare";

type Rendered = string;

const JS_RESERVED = wordSet(`
  break case catch class const continue debugger default delete do else enum export extends false finally for function
  if import in instanceof new null return super switch this throw true try typeof var void while with yield let static
  implements interface package private protected public await arguments eval undefined NaN Infinity Math`);

const sizeId = (name: string) => `mf_d_${name}`;

/** Helper functions kernels may call besides the op tables'; each kernel includes the ones it uses. */
export const JS_HELPERS: Record<string, string> = {
  mf_threefry: [
    "function mf_rotl(x, r) { return ((x << r) | (x >>> (32 - r))) >>> 0; }",
    "const mf_ROT = [13, 15, 26, 6, 17, 29, 16, 24];",
    "// Threefry-2x32, 20 rounds (Salmon et al. 2011): word `w` of the block for key (k0, k1) and counter (c0, c1).",
    "function mf_threefry(k0, k1, c0, c1, w) {",
    "  const ks = [k0 >>> 0, k1 >>> 0, (k0 ^ k1 ^ 0x1bd11bda) >>> 0];",
    "  let x0 = (c0 + ks[0]) >>> 0, x1 = (c1 + ks[1]) >>> 0;",
    "  for (let g = 0; g < 5; g++) {",
    "    const base = (g % 2) * 4;",
    "    for (let r = 0; r < 4; r++) { x0 = (x0 + x1) >>> 0; x1 = mf_rotl(x1, mf_ROT[base + r]); x1 = (x1 ^ x0) >>> 0; }",
    "    x0 = (x0 + ks[(g + 1) % 3]) >>> 0; x1 = (x1 + ks[(g + 2) % 3] + g + 1) >>> 0;",
    "  }",
    "  return w === 0 ? x0 : x1;",
    "}",
  ].join("\n"),
};

const isF32 = (t: ScalarType) => t === "f32" || t === "f16";

/** Whether `e`'s rendered value is already exactly representable in type `t` (no rounding needed). */
function exact(e: Expr, t: ScalarType): boolean {
  switch (e.kind) {
    case "const":
    case "var":
    case "size":
    case "builtin":
      return true;
    case "load":
    case "sharedLoad":
      return e.type === t || (isF32(e.type) && isF32(t));
    case "cast":
      return e.type === t;
    case "binary":
      return t === "bool" || ((t === "i32" || t === "u32") && e.type === t && !["max", "min", "pow"].includes(e.op));
    case "unary":
      return t === "bool" || ((t === "i32" || t === "u32") && e.type === t && e.op !== "sign");
    case "select":
      return exact(e.onTrue, t) && exact(e.onFalse, t);
    default:
      return t === "bool";
  }
}

/** Rounds a JS number to what a variable of type `t` holds. */
function coerce(e: Expr, code: Rendered, t: ScalarType): Rendered {
  if (exact(e, t)) return code;
  if (isF32(t)) return `Math.fround(${code})`;
  if (t === "i32") return `(${code} | 0)`;
  if (t === "u32") return `(${code} >>> 0)`;
  if (t === "bool") return `(!!${code})`;
  return code;
}

function literal(x: number): Rendered {
  return x < 0 || Object.is(x, -0) ? `(${Object.is(x, -0) ? "-0" : String(x)})` : String(x);
}

class JsWriter extends CStyleWriter implements JsOpContext {
  readonly language = "JS";
  /** Helper sources the kernel uses, by name, in first-use order. */
  readonly helperSources = new Map<string, string>();
  protected readonly barrier: string;
  protected readonly earlyReturn: string;
  constructor(
    private readonly kernel: Kernel,
    private readonly generator: boolean,
    private readonly ranges: KernelRanges,
  ) {
    super(JS_RESERVED);
    // Threads run one at a time: a barrier is a generator's yield (or nothing), a return ends the thread.
    this.barrier = generator ? "yield" : "/* barrier: no-op with one thread at a time */";
    this.earlyReturn = generator ? "return" : "continue mf_thread";
  }

  builtin(b: Builtin): Rendered {
    const wg = this.kernel.workgroupSize;
    switch (b) {
      case "globalLinear":
        return "mf_gid";
      case "groupLinear":
        return this.generator || wg !== 1 ? "mf_group" : "mf_gid";
      case "localLinear":
        return this.generator || wg !== 1 ? "mf_lid" : "0";
      case "numGroupsLinear":
        return "mf_numGroups";
    }
  }

  /** The table's JS cell (kernel_ops.ts). */
  unary(op: UnaryOp, x: Rendered, t: ScalarType): Rendered {
    return UNARY_OPS[op].js(x, t, this);
  }

  /** A function a cell calls: its helper source is included in the kernel once. */
  fn(f: JsFunction): string {
    if (typeof f === "string") return f;
    this.helperSources.set(f.name, f.source);
    return f.name;
  }

  call(fn: Intrinsic, args: Rendered[], t: ScalarType): Rendered {
    switch (fn) {
      case "threefry2x32_0":
      case "threefry2x32_1":
        this.fn({ name: "mf_threefry", source: JS_HELPERS.mf_threefry! });
        return `mf_threefry(${args.join(", ")}, ${fn === "threefry2x32_0" ? 0 : 1})`;
      case "bitsToUniform":
        return t === "f64"
          ? `((${args[0]} >>> 0) * 2.3283064365386963e-10)`
          : `((${args[0]} >>> 8) * 5.960464477539063e-8)`;
      case "opaque":
        return args[0]!;
      case "isNan":
        return `Number.isNaN(${args[0]})`;
    }
  }

  cast(x: Rendered, from: ScalarType, to: ScalarType): Rendered {
    if (from === to) return x;
    if (to === "bool") return `(!!${x})`;
    if (from === "bool") return isF32(to) || to === "f64" || to === "i32" || to === "u32" ? `(${x} ? 1 : 0)` : x;
    if (isF32(to)) return `Math.fround(${x})`;
    if (to === "f64") return x;
    if (to === "i32") return `(${x} | 0)`;
    return `(${x} >>> 0)`;
  }

  expr(e: Expr): Rendered {
    switch (e.kind) {
      case "const":
        if (e.type === "bool") return e.value ? "true" : "false";
        if (Number.isNaN(e.value)) return "NaN";
        if (e.value === Infinity) return "Infinity";
        if (e.value === -Infinity) return "(-Infinity)";
        if (isF32(e.type)) return literal(Math.fround(e.value));
        return e.value < 0 || Object.is(e.value, -0)
          ? `(${Object.is(e.value, -0) ? "-0" : String(e.value)})`
          : String(e.value);
      case "var":
        return this.ident(e.name);
      case "size":
        return sizeId(e.name);
      case "builtin":
        return this.builtin(e.name);
      case "load":
        return `${this.ident(e.buffer)}[${this.expr(e.index)}]`;
      case "sharedLoad":
        return `${this.ident(e.array)}[${this.expr(e.index)}]`;
      case "unary":
        if (e.op === "neg" && e.type === "i32" && this.ranges.mayExceedI32(e)) return `(-${this.expr(e.arg)})`;
        return this.unary(e.op, this.expr(e.arg), e.type);
      case "binary": {
        // The table's JS cells (kernel_ops_binary.ts); index math that may pass 2^31 uses plain numbers.
        const [a, b] = [this.expr(e.lhs), this.expr(e.rhs)];
        const row = BINARY_OPS[e.op];
        if (row.jsWide && e.type === "i32" && this.ranges.mayExceedI32(e)) return row.jsWide(a, b, this);
        return row.js(a, b, e.type, this, e.lhs.type);
      }
      case "select":
        return `(${this.expr(e.cond)} ? ${this.expr(e.onTrue)} : ${this.expr(e.onFalse)})`;
      case "cast":
        return this.cast(this.expr(e.arg), e.arg.type, e.type);
      case "call":
        return this.call(
          e.fn,
          e.args.map((a) => this.expr(a)),
          e.type,
        );
    }
  }

  /** The value a variable is bound to, rounded to its type (wide index variables hold exact integers already). */
  private bind(name: string, e: Expr, t: ScalarType): Rendered {
    const code = this.expr(e);
    return t === "i32" && this.ranges.varMayExceedI32(name) ? code : coerce(e, code, t);
  }

  protected condition(e: Expr): string {
    return this.expr(e);
  }

  protected declare(s: StmtOf<"let">): string {
    return `${s.mutable ? "let" : "const"} ${this.ident(s.name)} = ${this.bind(s.name, s.init, s.type)}`;
  }

  protected assign(s: StmtOf<"assign">): string {
    return `${this.ident(s.name)} = ${this.bind(s.name, s.value, s.value.type)}`;
  }

  protected bufferWrite(s: StmtOf<"store" | "sharedStore" | "atomicAdd">): string {
    const target = `${this.ident(s.kind === "sharedStore" ? s.array : s.buffer)}[${this.expr(s.index)}]`;
    // One thread at a time on the CPU: a plain read-modify-write is atomic.
    return `${target} ${s.kind === "atomicAdd" ? "+=" : "="} ${this.expr(s.value)}`;
  }

  protected loopHeader(s: StmtOf<"for">): string {
    const v = this.ident(s.var);
    return `let ${v} = ${this.expr(s.start)}; ${v} < ${this.expr(s.end)}; ${v} += ${s.step ? this.expr(s.step) : "1"}`;
  }
}

function hasBarrier(ss: readonly Stmt[]): boolean {
  return ss.some(
    (s) =>
      s.kind === "barrier" ||
      (s.kind === "if" && (hasBarrier(s.then) || hasBarrier(s.else ?? []))) ||
      (s.kind === "for" && hasBarrier(s.body)),
  );
}

const TYPED: Record<ScalarType, string> = {
  f32: "Float32Array",
  f16: "Float32Array",
  f64: "Float64Array",
  i32: "Int32Array",
  u32: "Uint32Array",
  bool: "Uint8Array",
};

/**
 * Renders a kernel as a JS function expression `(buffers, sizes, numGroups, first = 0, last = numGroups) => void`.
 * @example const run = new Function(`return ${renderJs(kernel)}`)(); run([x, y], [n], groups);
 */
export function renderJs(lowered: Kernel): string {
  // No JS fix-ups yet: the target end of the pipeline is still rewrites -> verify -> render, as for WGSL and CUDA.
  const kernel = prepareKernel(lowered, []);
  const generator = hasBarrier(kernel.body);
  const w = new JsWriter(kernel, generator, analyzeRanges(kernel));
  const body = w.lines(kernel.body, generator ? 3 : 2);
  const wg = kernel.workgroupSize;
  const lines: string[] = [];
  lines.push(`(function ${w.ident(kernel.name)}(mf_buffers, mf_sizes, mf_numGroups, mf_first, mf_last) {`);
  if (kernel.comment) for (const l of kernel.comment.split("\n")) lines.push(`  // ${l}`);
  lines.push(`  "use strict";`);
  lines.push(`  const mf_lo = mf_first ?? 0, mf_hi = mf_last ?? mf_numGroups;`);
  if (kernel.params.length)
    lines.push(`  const [${kernel.params.map((p) => w.ident(p.name)).join(", ")}] = mf_buffers;`);
  kernel.sizes.forEach((s, i) => lines.push(`  const ${sizeId(s)} = mf_sizes[${i}];`));
  for (const source of w.helperSources.values()) lines.push(...source.split("\n").map((l) => `  ${l}`));
  if (!generator) {
    lines.push(`  const mf_end = mf_hi * ${wg};`);
    lines.push(`  mf_thread: for (let mf_gid = mf_lo * ${wg}; mf_gid < mf_end; mf_gid++) {`);
    if (wg !== 1) lines.push(`    const mf_group = (mf_gid / ${wg}) | 0, mf_lid = mf_gid % ${wg};`);
    lines.push(...body);
    lines.push("  }");
  } else {
    lines.push(`  for (let mf_group = mf_lo; mf_group < mf_hi; mf_group++) {`);
    for (const s of kernel.shared) lines.push(`    const ${w.ident(s.name)} = new ${TYPED[s.type]}(${s.length});`);
    lines.push(`    const mf_threads = [];`);
    lines.push(`    for (let mf_l = 0; mf_l < ${wg}; mf_l++) mf_threads.push((function* (mf_lid) {`);
    lines.push(`      const mf_gid = mf_group * ${wg} + mf_lid;`);
    lines.push(...body);
    lines.push(`    })(mf_l));`);
    lines.push(`    // Run every thread to its next barrier, round after round, until all have returned.`);
    lines.push(`    for (let mf_live = mf_threads.length; mf_live > 0; ) {`);
    lines.push(`      mf_live = 0;`);
    lines.push(`      for (const t of mf_threads) if (!t.next().done) mf_live++;`);
    lines.push(`    }`);
    lines.push("  }");
  }
  lines.push("})");
  return lines.join("\n");
}

export const jsEmitter: Emitter = {
  target: "js",
  supports: () => true,
  render: renderJs,
};

registerEmitter(jsEmitter);
