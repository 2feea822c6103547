/**
 * Which elementwise (one thread per item) kernels the wasm target runs four
 * items at a time in SIMD128 lanes, and how each value of their body varies
 * over the four lanes (vector_kernel.ts renders the plan).
 *
 * A kernel vectorises when its body is `let i = i32(globalLinear); if (i >= count) return;`
 * then `let`s, `store`s (outside loops, one index per buffer, so no item
 * writes where another does and the lanes keep the scalar order), and loops
 * with item-independent bounds over mutable accumulators (a top-k combine's
 * f32 sum: each lane adds its item's terms in the scalar order, rounded at
 * each assignment as the scalar emitter rounds), whose item-dependent values
 * use only ops whose lanes give the scalar emitter's bits (kernel.ts):
 * - f32 `+ - * /` and `sqrt` on f32 values. The scalar emitter computes them in
 *   f64 and rounds on bind or store; since f64 has more than 2 * 24 + 2
 *   significand bits, rounding the f64 result of one such op on f32 inputs to
 *   f32 gives the correctly rounded f32 result (no double-rounding error), so
 *   f32x4 arithmetic equals it. This holds for one op only: the scalar emitter
 *   keeps an unbound `a * b + c` in f64, so an op whose operand is another
 *   op's unrounded result keeps the kernel scalar (lowering binds each op, so
 *   this is rare). `neg` and `abs` commute with rounding and are exact.
 * - f32 `min`, `max`, comparisons, `select`: f32x4.min / max propagate NaN and
 *   order -0 below +0 as f64.min / max do (the JS target's Math.min / max); on
 *   exact f32 operands they pick the same value (NaN payloads are not
 *   preserved by either target and are not compared).
 * - i32 / u32 `+ - *`, min / max, bitwise ops, shifts by an item-independent
 *   count, comparisons (all wrap or compare as the scalar i32 ops);
 *   bools held like the scalar emitter's (the loaded byte, or 0 / 1).
 * - exact casts: integers and bools to f32 (one rounding either way), f32 /
 *   integers to bool.
 * - lane by lane, with the scalar emitter's own cell on each lane's scalar (f32
 *   promoted to f64, the result rounded into the lane as a bind rounds it): ops
 *   with no v128 form of the same bits: transcendentals (host imports), pow and
 *   float `%`, integer `/` and `%` (x / 0 = 0), shifts by item-dependent counts,
 *   float-to-int casts (JS ToInt32). Their float results are unrounded, like
 *   `+ - * /`, and their float operands must be rounded f32 values.
 * Not vectorised (the reason is returned): f64 values, intrinsic calls per item,
 * selects whose branches load (the scalar emitter evaluates only the taken
 * one), scatters, kernels that read a buffer they write, contractions and
 * weight packs (their own SIMD paths), `if`s other than the item guard,
 * reductions with f64 sums.
 *
 * Item-independent values (`uniform`) are computed once per four items by the
 * scalar writer and splatted where a vector needs them. Integer values affine
 * in the item (`affine`: lane l is lane 0 + l * stride) are computed as their
 * lane-0 scalar: loads and stores through a stride-1 index are v128 loads and
 * stores; `(item + c) / n` with n and c multiples of 4 is uniform over the
 * four lanes and `(item + c) % n` affine, because the vector loop starts at
 * items that are multiples of 4 (a scalar prologue gets there). Other indices
 * are gathers: four lane loads.
 */
import { BINARY_OPS, type BinaryOp } from "../../kernel_ops_binary";
import { walkExpr, type Expr, type Kernel, type ScalarType, type Stmt, type UnaryOp } from "../../kernel_ir";
import { exprToText } from "../../kernel_text";
import { exprType, hasLoad, isF32, wasmRenderable } from "./kernel";

/** How a value varies over the four lanes of one vector step. */
export type Lanes =
  | { readonly kind: "uniform"; readonly exact: boolean }
  | {
      readonly kind: "affine";
      /** Lane l is lane 0 + l * stride (i32, wrapping like the scalar ops). */
      readonly stride: number;
      /** Lane 0 is a multiple of 4. */
      readonly aligned: boolean;
      /** Lane 0 is >= 0 (trunc division then equals floor division). */
      readonly nonneg: boolean;
    }
  | {
      readonly kind: "varying";
      /**
       * For floats: the scalar emitter's f64 value is an f32 (exact), or only its
       * f32 rounding equals the lanes (usable where the scalar emitter rounds: bind, store).
       */
      readonly exact: boolean;
    };

const UNIFORM: Lanes = { kind: "uniform", exact: true };

/** The operand type the scalar emitter converts a binary op's operands to (kernel.ts `binary`). */
export function operandType(e: Expr & { kind: "binary" }): ScalarType {
  const t = BINARY_OPS[e.op].kind === "compare" ? exprType(e.lhs) : e.type;
  return t === "bool" && !["and", "or", "eq", "ne"].includes(e.op) ? "i32" : t;
}

const exactLeaf = (e: Expr) => e.kind === "load" || e.kind === "var" || e.kind === "const";

/** An item-independent value: its scalar is an f32 when it is a leaf (as in the scalar emitter's `bind`). */
const uniform = (e: Expr): Lanes => ({ kind: "uniform", exact: !isF32(exprType(e)) || exactLeaf(e) });

/** Lanes of a value converted from `from` to `to` as the scalar emitter converts (`convert`), or why not. */
export function converted(l: Lanes, from: ScalarType, to: ScalarType): Lanes | string {
  if (from === to || (isF32(from) && isF32(to))) return l;
  if (from === "f64" || to === "f64") return "it converts f64 values";
  if (l.kind === "uniform") return UNIFORM;
  if (isF32(to)) return { kind: "varying", exact: true }; // from an integer or bool: one rounding
  if (isF32(from)) {
    // To bool: abs(x) > 0 in lanes; to an integer: JS ToInt32 lane by lane.
    if (l.kind === "varying" && !l.exact) return "it converts an unrounded f32 value";
    return { kind: "varying", exact: true };
  }
  return l.kind === "affine" && to !== "bool" ? l : { kind: "varying", exact: true };
}

const FLOAT_ARITH: ReadonlySet<BinaryOp> = new Set(["add", "sub", "mul", "div"]);
const FLOAT_EXACT: ReadonlySet<BinaryOp> = new Set(["min", "max", "eq", "ne", "lt", "le", "gt", "ge"]);
const UNARY_VECTOR: Readonly<Partial<Record<UnaryOp, "float" | "any" | "int">>> = {
  neg: "any",
  abs: "any",
  sqrt: "float",
  not: "int",
  bitNot: "int",
};

/** Whether unary `op` on `t` values has a v128 form (else it runs lane by lane with the scalar cell). */
export function unaryInLanes(op: UnaryOp, t: ScalarType): boolean {
  const allowed = UNARY_VECTOR[op];
  return !!allowed && !(allowed === "float" && !isF32(t)) && !(allowed === "int" && isF32(t));
}

/** The lane classification of the values a kernel body binds, built statement by statement. */
export class LaneEnv {
  private readonly vars = new Map<string, Lanes>();
  private readonly types = new Map<string, ScalarType>();

  constructor(private readonly kernel: Kernel) {}

  /** Binds `name` (a `let`): bound f32 values are rounded by the scalar emitter, so they are exact. */
  bind(name: string, type: ScalarType, l: Lanes): void {
    this.vars.set(name, l.kind === "affine" || !isF32(type) ? l : { ...l, exact: true });
    this.types.set(name, type);
  }

  /** The type a variable was declared with. */
  typeOf(name: string): ScalarType {
    const t = this.types.get(name);
    if (!t) throw new Error(`vectorise: ${name} is not declared`);
    return t;
  }

  /** How `e` varies over the lanes, or why it cannot be vectorised. */
  lanes(e: Expr): Lanes | string {
    switch (e.kind) {
      case "const":
      case "size":
        return UNIFORM;
      case "builtin":
        return "it reads a thread builtin other than through the item index";
      case "var": {
        const l = this.vars.get(e.name);
        return l ?? `variable ${e.name} is read before it is declared`;
      }
      case "sharedLoad":
        return "it uses shared memory";
      case "call": {
        const args = this.all(e.args);
        if (typeof args === "string") return args;
        return args.every((a) => a.kind === "uniform") ? uniform(e) : `it calls ${e.fn} per item`;
      }
      case "load":
        return this.load(e);
      case "unary":
        return this.unary(e);
      case "binary":
        return this.binary(e);
      case "select":
        return this.select(e);
      case "cast": {
        const l = this.lanes(e.arg);
        return typeof l === "string" ? l : l.kind === "uniform" ? uniform(e) : converted(l, exprType(e.arg), e.type);
      }
    }
  }

  private all(es: readonly Expr[]): Lanes[] | string {
    const out: Lanes[] = [];
    for (const x of es) {
      const l = this.lanes(x);
      if (typeof l === "string") return l;
      out.push(l);
    }
    return out;
  }

  private load(e: Expr & { kind: "load" }): Lanes | string {
    const p = this.kernel.params.find((q) => q.name === e.buffer);
    if (!p) return `it loads from unknown buffer ${e.buffer}`;
    if (p.type === "f64") return "it reads an f64 buffer";
    if (p.type !== e.type && !(isF32(p.type) && isF32(e.type))) return "a load converts its element type";
    const i = this.lanes(e.index);
    if (typeof i === "string") return i;
    return i.kind === "uniform" ? UNIFORM : { kind: "varying", exact: true };
  }

  private unary(e: Expr & { kind: "unary" }): Lanes | string {
    const a = this.lanes(e.arg);
    if (typeof a === "string") return a;
    if (a.kind === "uniform") return uniform(e);
    const t = e.type;
    if (t === "f64") return "it computes f64 values";
    if (!unaryInLanes(e.op, t)) {
      // Lane by lane with the scalar cell (transcendentals: the host's Math): unrounded, as in the scalar emitter.
      if (isF32(t) && a.kind === "varying" && !a.exact) return `${e.op} of an unrounded f32 value`;
      return { kind: "varying", exact: !isF32(t) };
    }
    if (e.op === "sqrt" && a.kind === "varying" && !a.exact) return "sqrt of an unrounded f32 value";
    if (isF32(t)) return { kind: "varying", exact: e.op === "sqrt" ? false : a.kind === "varying" && a.exact };
    if (e.op === "neg" && a.kind === "affine")
      return { kind: "affine", stride: -a.stride, aligned: a.aligned, nonneg: false };
    return { kind: "varying", exact: true };
  }

  private binary(e: Expr & { kind: "binary" }): Lanes | string {
    const op = operandType(e);
    const ls = this.all([e.lhs, e.rhs]);
    if (typeof ls === "string") return ls;
    const conv = [converted(ls[0]!, exprType(e.lhs), op), converted(ls[1]!, exprType(e.rhs), op)];
    const [a, b] = conv;
    if (typeof a === "string") return a;
    if (typeof b === "string") return b;
    if (a.kind === "uniform" && b.kind === "uniform") return uniform(e);
    if (op === "f64") return "it computes f64 values";
    if (isF32(op)) {
      const exact = (l: Lanes) => l.kind !== "affine" && l.exact;
      if (!exact(a) || !exact(b)) return `${e.op} of an unrounded f32 value (the scalar emitter holds it in f64)`;
      if (FLOAT_ARITH.has(e.op)) return { kind: "varying", exact: false };
      if (FLOAT_EXACT.has(e.op)) return { kind: "varying", exact: true };
      return { kind: "varying", exact: false }; // pow, rem: lane by lane through the host
    }
    if (op === "i32") {
      const affine = this.affine(e.op, a, b, e.lhs, e.rhs);
      if (affine) return affine;
    }
    // Ops without an i32x4 form (division: x / 0 = 0; shifts by item-dependent counts) go lane by lane.
    return { kind: "varying", exact: true };
  }

  /** Index arithmetic that stays affine in the item (i32 only). */
  private affine(op: BinaryOp, a: Lanes, b: Lanes, lhs: Expr, rhs: Expr): Lanes | null {
    if (a.kind === "uniform" && b.kind === "affine" && (op === "add" || op === "mul"))
      return this.affine(op, b, a, rhs, lhs);
    const k = rhs.kind === "const" ? rhs.value : null;
    if (a.kind === "affine" && b.kind === "uniform") {
      if (op === "add" || op === "sub") {
        const step = k !== null && k % 4 === 0;
        const nonneg = a.nonneg && k !== null && (op === "add" ? k >= 0 : k <= 0);
        return { kind: "affine", stride: a.stride, aligned: a.aligned && step, nonneg };
      }
      if (op === "mul" && k !== null)
        return { kind: "affine", stride: a.stride * k, aligned: a.aligned, nonneg: false };
      // Four lanes from a multiple of 4 stay in one row of n (a multiple of 4).
      const rows = a.stride === 1 && a.aligned && a.nonneg && k !== null && k > 0 && k % 4 === 0;
      if (op === "div" && rows) return UNIFORM;
      if (op === "rem" && rows) return { kind: "affine", stride: 1, aligned: true, nonneg: true };
      return null;
    }
    if (a.kind === "affine" && b.kind === "affine" && (op === "add" || op === "sub")) {
      const stride = op === "add" ? a.stride + b.stride : a.stride - b.stride;
      return { kind: "affine", stride, aligned: a.aligned && b.aligned, nonneg: false };
    }
    return null;
  }

  private select(e: Expr & { kind: "select" }): Lanes | string {
    const ls = this.all([e.cond, e.onTrue, e.onFalse]);
    if (typeof ls === "string") return ls;
    if (ls.every((l) => l.kind === "uniform")) return uniform(e);
    if (hasLoad(e.onTrue) || hasLoad(e.onFalse))
      return "a select's branches load (the scalar emitter evaluates only the taken branch)";
    if (e.type === "f64") return "it computes f64 values";
    const c = converted(ls[0]!, exprType(e.cond), "bool");
    const t = converted(ls[1]!, exprType(e.onTrue), e.type);
    const f = converted(ls[2]!, exprType(e.onFalse), e.type);
    for (const x of [c, t, f]) if (typeof x === "string") return x;
    const exact = [t, f].every((x) => typeof x !== "string" && (x.kind === "affine" || x.exact));
    return { kind: "varying", exact };
  }
}

/** The item index's variable and the guard's count, when the body starts with the one-thread-per-item skeleton. */
export function itemSkeleton(body: readonly Stmt[]): { readonly item: string; readonly count: Expr } | string {
  const [first, guard] = body;
  const isItem =
    first?.kind === "let" &&
    first.type === "i32" &&
    first.init.kind === "cast" &&
    first.init.arg.kind === "builtin" &&
    first.init.arg.name === "globalLinear";
  if (!isItem) return "it does not start with the item index (i32(globalLinear))";
  const c = guard?.kind === "if" ? guard.cond : null;
  const guards =
    c?.kind === "binary" &&
    c.op === "ge" &&
    c.lhs.kind === "var" &&
    c.lhs.name === first.name &&
    guard?.kind === "if" &&
    !guard.else?.length &&
    guard.then.length === 1 &&
    guard.then[0]!.kind === "return";
  if (!guards) return "it has no item guard (if (item >= count) return)";
  let sized = true;
  walkExpr(c.rhs, (x) => (sized &&= x.kind === "const" || x.kind === "size" || x.kind === "binary"));
  if (!sized || exprType(c.rhs) !== "i32") return "its item count is not an i32 expression of sizes";
  return { item: first.name, count: c.rhs };
}

/** The lanes of each statement after the skeleton, or why the kernel stays scalar. */
export function planBody(kernel: Kernel, item: string, body: readonly Stmt[]): LaneEnv | string {
  const env = new LaneEnv(kernel);
  env.bind(item, "i32", { kind: "affine", stride: 1, aligned: true, nonneg: true });
  const plan = new BodyPlan(kernel, env);
  const why = plan.stmts(body, false);
  if (why) return why;
  for (const b of plan.stored.keys()) if (plan.loaded.has(b)) return `it reads buffer ${b}, which it writes`;
  return env;
}

class BodyPlan {
  /** Each stored buffer's one index (as text): items then never write one another's elements. */
  readonly stored = new Map<string, string>();
  readonly loaded = new Set<string>();
  private readonly mutables = new Set<string>();

  constructor(
    private readonly kernel: Kernel,
    private readonly env: LaneEnv,
  ) {}

  /** Why `body` cannot be vectorised, or null. */
  stmts(body: readonly Stmt[], inLoop: boolean): string | null {
    for (const s of body) {
      const why = this.stmt(s, inLoop);
      if (why) return why;
    }
    return null;
  }

  /** The lanes of `e` converted to `t`, noting the buffers it loads. */
  private value(e: Expr, t: ScalarType): Lanes | string {
    walkExpr(e, (x) => x.kind === "load" && this.loaded.add(x.buffer));
    const l = this.env.lanes(e);
    return typeof l === "string" ? l : converted(l, exprType(e), t);
  }

  private stmt(s: Stmt, inLoop: boolean): string | null {
    const env = this.env;
    switch (s.kind) {
      case "comment":
        return null;
      case "let": {
        if (s.type === "f64") return "it binds f64 values";
        const l = this.value(s.init, s.type);
        if (typeof l === "string") return l;
        // A mutable variable is a vector (its assignments may vary over the lanes).
        if (s.mutable) this.mutables.add(s.name);
        env.bind(s.name, s.type, s.mutable ? { kind: "varying", exact: true } : l);
        return null;
      }
      case "assign": {
        if (!this.mutables.has(s.name)) return `it assigns ${s.name}, which is not a mutable variable`;
        const l = this.value(s.value, env.typeOf(s.name));
        return typeof l === "string" ? l : null;
      }
      case "for": {
        for (const e of [s.start, s.end, ...(s.step ? [s.step] : [])]) {
          const l = this.value(e, "i32");
          if (typeof l === "string") return l;
          if (l.kind !== "uniform") return "a loop's bounds depend on the item";
        }
        env.bind(s.var, "i32", { kind: "uniform", exact: true });
        return this.stmts(s.body, true);
      }
      case "store": {
        if (inLoop) return "it stores inside a loop";
        const p = this.kernel.params.find((q) => q.name === s.buffer);
        if (!p) return `it stores to unknown buffer ${s.buffer}`;
        if (p.type === "f64") return "it writes an f64 buffer";
        const index = this.value(s.index, "i32");
        if (typeof index === "string") return index;
        if (index.kind !== "affine" || index.stride !== 1)
          return "it stores other than to consecutive items (a scatter)";
        const text = exprToText(s.index);
        if ((this.stored.get(s.buffer) ?? text) !== text) return `it stores to ${s.buffer} at two different indices`;
        this.stored.set(s.buffer, text);
        const v = this.value(s.value, p.type);
        return typeof v === "string" ? v : null;
      }
      default:
        return `it has a${s.kind === "if" ? "n" : ""} ${s.kind} statement after the item guard`;
    }
  }
}

/**
 * Whether the wasm target renders `kernel` with the vector loop (vector_kernel.ts), or why not.
 * @example vectorisable(reluKernel) // true; vectorisable(softmaxRows) // "it has a for statement after the item guard"
 */
export function vectorisable(kernel: Kernel): true | string {
  const renderable = wasmRenderable(kernel);
  if (renderable !== true) return renderable;
  if (kernel.contraction) return "it is a contraction (the SIMD micro-kernels render it)";
  if (kernel.name.includes("pack_panels")) return "it packs weight panels (a SIMD path of its own)";
  const skeleton = itemSkeleton(kernel.body);
  if (typeof skeleton === "string") return skeleton;
  const plan = planBody(kernel, skeleton.item, kernel.body.slice(2));
  return typeof plan === "string" ? plan : true;
}
