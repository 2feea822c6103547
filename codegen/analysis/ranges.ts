/**
 * Range analysis of a kernel's i32 index math, shared by every target.
 *
 * For each i32 expression the analysis gives an upper bound on its magnitude
 * as a SizeExpr of the named dims (a number when every size is static), or
 * says that it depends on loaded data. Index values (positions, loop counters,
 * sizes: built from constants, named sizes, thread builtins and clamped loads)
 * are the ones whose overflow would be a silent wrong answer; values computed
 * from unclamped loaded data keep 32-bit wrap-around semantics like the
 * interpreter's Int32Array, and are left out.
 *
 * Targets use the bounds in one of two ways: compute the values that may pass
 * 2^31 in wider arithmetic (CUDA `long long`, JS plain numbers), or reject the
 * program (WGSL) at compile time when the bound is a number, at bind time when
 * it depends on the dims (see `limits.ts`).
 */
import { walkBodyExprs, type Builtin, type Expr, type Kernel, type SizeExpr, type Stmt } from "../kernel_ir";

/** The largest value of an i32. */
export const I32_MAX = 2 ** 31 - 1;

/** What the analysis knows about one i32 value. */
export interface Range {
  /** Upper bound on |value|. `Infinity` when nothing bounds it (a builtin of a kernel without a grid). */
  readonly hi: SizeExpr;
  /** The value is known to be >= 0. */
  readonly nonNeg: boolean;
  /** The value depends on loaded data (or random bits): wrap-around semantics, no bound to prove. */
  readonly data: boolean;
  /** The exact value, when it is a function of the dims alone (constants, sizes). */
  readonly exact?: SizeExpr;
}

/** An index value of a kernel that the analysis could not prove to fit in an i32. */
export interface IndexValue {
  readonly bound: SizeExpr;
  /** What the value is, for messages: "loop counter r0", "index arithmetic". */
  readonly what: string;
}

/** The analysis of one kernel. */
export interface KernelRanges {
  /** The range of an i32 expression of the kernel (`undefined` for other types). */
  range(e: Expr): Range | undefined;
  /** Range of an i32 variable (let or loop counter). */
  varRange(name: string): Range | undefined;
  /** True when `e` is index math (i32, not computed from loaded data). */
  isIndex(e: Expr): boolean;
  /** True when `e` is index math that may not fit in an i32 (its bound is not a number <= 2^31 - 1). */
  mayExceedI32(e: Expr): boolean;
  /** True when the index variable `name` may not fit in an i32. */
  varMayExceedI32(name: string): boolean;
  /** Every index value whose bound is not provably within i32 (deduplicated). */
  readonly unproven: readonly IndexValue[];
}

const DATA: Range = { hi: I32_MAX + 1, nonNeg: false, data: true };

// ---- SizeExpr arithmetic, folded as it is built (bounds are non-negative) ----

const key = (e: SizeExpr): string => JSON.stringify(e);

function flat(op: "add" | "mul" | "max" | "min", xs: readonly SizeExpr[]): SizeExpr[] {
  return xs.flatMap((x) => (typeof x === "object" && x.op === op ? flat(op, x.args) : [x]));
}

function nary(op: "add" | "mul" | "max" | "min", xs: readonly SizeExpr[]): SizeExpr {
  const all = flat(op, xs);
  const nums = all.filter((x): x is number => typeof x === "number");
  const seen = new Set<string>();
  const rest = all.filter((x) => {
    if (typeof x === "number") return false;
    if (op === "add" || op === "mul") return true;
    const k = key(x);
    return seen.has(k) ? false : (seen.add(k), true);
  });
  const fold: Record<typeof op, (a: number, b: number) => number> = {
    add: (a, b) => a + b,
    mul: (a, b) => (a === 0 || b === 0 ? 0 : a * b),
    max: Math.max,
    min: Math.min,
  };
  const identity = { add: 0, mul: 1, max: 0, min: Infinity }[op];
  const n = nums.reduce((x, y) => fold[op](x, y), identity);
  if (op === "mul" && n === 0) return 0;
  if (rest.length === 0) return n;
  const args = n === identity ? rest : [...rest, n];
  return args.length === 1 ? args[0]! : { op, args };
}

export const sAdd = (...xs: SizeExpr[]): SizeExpr => nary("add", xs);
export const sMul = (...xs: SizeExpr[]): SizeExpr => nary("mul", xs);
export const sMax = (...xs: SizeExpr[]): SizeExpr => nary("max", xs);
export const sMin = (...xs: SizeExpr[]): SizeExpr => nary("min", xs);
/** floor(a / max(b, 1)). */
function sDiv(a: SizeExpr, b: SizeExpr): SizeExpr {
  if (typeof a === "number" && typeof b === "number") return Math.floor(a / Math.max(b, 1));
  if (b === 1) return a;
  return { op: "floorDiv", args: [a, typeof b === "number" ? Math.max(b, 1) : sMax(b, 1)] };
}

/** True when `b` is a number that fits in an i32. */
export function fitsI32(b: SizeExpr): boolean {
  return typeof b === "number" && b <= I32_MAX;
}

/** `e` rebuilt with the folding constructors (grids come from lowering unfolded). */
export function foldSize(e: SizeExpr): SizeExpr {
  if (typeof e !== "object") return e;
  const xs = e.args.map(foldSize);
  const [a, b] = xs;
  const nums = typeof a === "number" && typeof b === "number";
  switch (e.op) {
    case "add":
      return sAdd(...xs);
    case "mul":
      return sMul(...xs);
    case "max":
      return sMax(...xs);
    case "min":
      return sMin(...xs);
    case "floorDiv":
      return nums ? Math.floor(a / b) : { op: e.op, args: xs };
    case "ceilDiv":
      return nums ? Math.ceil(a / b) : { op: e.op, args: xs };
    case "mod":
      return nums ? a % b : { op: e.op, args: xs };
  }
}

// ---- the analysis ----

function builtinRange(name: Builtin, kernel: Kernel): Range {
  const groups: SizeExpr = kernel.grid === undefined ? Infinity : foldSize(kernel.grid);
  const hi: Record<Builtin, SizeExpr> = {
    localLinear: kernel.workgroupSize - 1,
    // Bounds are upper bounds: no subtraction in size expressions, so one past the largest id.
    groupLinear: groups,
    globalLinear: sMul(groups, kernel.workgroupSize),
    numGroupsLinear: groups,
  };
  return { hi: hi[name], nonNeg: true, data: false };
}

/** Analyses the i32 index math of `kernel` (its `grid`, when set, bounds the thread builtins). */
export function analyzeRanges(kernel: Kernel): KernelRanges {
  const defs = new Map<string, Expr[]>();
  const counters = new Map<string, { start: Expr; end: Expr; step?: Expr }>();
  const nonI32 = new Set<string>();
  const order: string[] = []; // i32 variables in program order (first definition)
  const visit = (stmts: readonly Stmt[]): void => {
    for (const s of stmts) {
      if (s.kind === "let") {
        if (s.type === "i32") push(defs, s.name, s.init);
        else nonI32.add(s.name);
        order.push(s.name);
      } else if (s.kind === "assign") push(defs, s.name, s.value);
      else if (s.kind === "for") {
        order.push(s.var);
        counters.set(s.var, { start: s.start, end: s.end, ...(s.step ? { step: s.step } : {}) });
        visit(s.body);
      } else if (s.kind === "if") {
        visit(s.then);
        if (s.else) visit(s.else);
      }
    }
  };
  visit(kernel.body);

  // Variables start at the bottom (no value yet) and grow to a fixpoint; a
  // variable still growing after a few rounds (a loop-carried update like
  // `lo = mid + 1`) has no bound the analysis can prove: it counts as data.
  const vars = new Map<string, Range>();
  const unbounded = new Set<string>();
  const exprRange = (e: Expr): Range | undefined => rangeOf(e, kernel, (n) => varLookup(n));
  const varLookup = (n: string): Range => {
    if (unbounded.has(n) || nonI32.has(n)) return DATA;
    return vars.get(n) ?? { hi: 0, nonNeg: true, data: false };
  };
  const defRange = (name: string): Range => {
    const c = counters.get(name);
    const parts: Range[] = [];
    if (c) {
      const [start, end, step] = [exprRange(c.start)!, exprRange(c.end)!, c.step ? exprRange(c.step)! : ONE];
      // The counter takes values below `end`; its last increment reaches end + step - 1.
      parts.push(start, { hi: sAdd(end.hi, step.hi), nonNeg: start.nonNeg, data: end.data || step.data });
    }
    for (const d of defs.get(name) ?? []) parts.push(exprRange(d) ?? DATA);
    return join(parts);
  };
  const names = [...new Set(order)].filter((n) => !nonI32.has(n));
  for (let round = 0; ; round++) {
    const changed: string[] = [];
    for (const n of names) {
      if (unbounded.has(n)) continue;
      const r = defRange(n);
      const old = vars.get(n);
      if (!old || key(old.hi) !== key(r.hi) || old.data !== r.data || old.nonNeg !== r.nonNeg) {
        vars.set(n, r);
        changed.push(n);
      }
    }
    if (changed.length === 0) break;
    if (round >= 4) {
      changed.forEach((n) => unbounded.add(n));
      vars.clear(); // recompute the rest without the unbounded ones
      round = -1;
    }
  }

  const unproven = new Map<string, IndexValue>();
  const note = (bound: SizeExpr, what: string) => {
    if (!fitsI32(bound)) unproven.set(key(bound), { bound, what });
  };
  walkBodyExprs(kernel.body, (e) => {
    if (e.kind === "const" && e.type === "i32") note(Math.abs(e.value), "a constant");
    if (
      (e.kind === "binary" && ["add", "sub", "mul", "shl"].includes(e.op)) ||
      (e.kind === "unary" && e.op === "neg")
    ) {
      const r = exprRange(e);
      if (r && !r.data) note(r.hi, "index arithmetic");
    }
  });
  for (const n of counters.keys()) {
    const r = varLookup(n);
    if (!r.data) note(r.hi, `loop counter ${n}`);
  }

  const mayExceed = (r: Range | undefined) => r !== undefined && !r.data && !fitsI32(r.hi);
  return {
    range: exprRange,
    varRange: (n) => (nonI32.has(n) ? undefined : varLookup(n)),
    isIndex: (e) => {
      const r = exprRange(e);
      return r !== undefined && !r.data;
    },
    mayExceedI32: (e) => mayExceed(exprRange(e)),
    varMayExceedI32: (n) => !nonI32.has(n) && mayExceed(varLookup(n)),
    unproven: [...unproven.values()],
  };
}

const ONE: Range = { hi: 1, nonNeg: true, data: false, exact: 1 };

function push(m: Map<string, Expr[]>, name: string, e: Expr): void {
  const list = m.get(name);
  if (list) list.push(e);
  else m.set(name, [e]);
}

/** The range covering every one of `rs` (the values a variable takes). */
function join(rs: readonly Range[]): Range {
  if (rs.length === 0) return DATA;
  return {
    hi: sMax(...rs.map((r) => r.hi)),
    nonNeg: rs.every((r) => r.nonNeg),
    data: rs.some((r) => r.data),
  };
}

const exactOf = (r: Range): SizeExpr | undefined => r.exact;

/** The range of an i32 expression (`undefined` for other types). */
function rangeOf(e: Expr, kernel: Kernel, varRange: (name: string) => Range): Range | undefined {
  const sub = (x: Expr) => rangeOf(x, kernel, varRange) ?? DATA;
  switch (e.kind) {
    case "const":
      return e.type === "i32"
        ? { hi: Math.abs(e.value), nonNeg: e.value >= 0, data: false, exact: e.value }
        : undefined;
    case "size":
      return { hi: e.name, nonNeg: true, data: false, exact: e.name };
    case "builtin":
      return builtinRange(e.name, kernel);
    case "var":
      return e.type === "i32" ? varRange(e.name) : undefined;
    case "load":
    case "sharedLoad":
    case "call":
      return e.type === "i32" ? DATA : undefined;
    case "cast": {
      if (e.type !== "i32") return undefined;
      const a = e.arg;
      if (a.kind === "builtin") return builtinRange(a.name, kernel);
      if (a.kind === "size") return sub(a);
      if (a.type === "bool") return ONE;
      return a.type === "i32" ? sub(a) : DATA; // floats, u32 bits: data
    }
    case "select": {
      if (e.type !== "i32") return undefined;
      return join([sub(e.onTrue), sub(e.onFalse)]);
    }
    case "unary": {
      if (e.type !== "i32") return undefined;
      const a = sub(e.arg);
      if (e.op === "neg") return { hi: a.hi, nonNeg: false, data: a.data };
      if (e.op === "abs") return { hi: a.hi, nonNeg: true, data: a.data };
      if (e.op === "sign") return { hi: 1, nonNeg: false, data: a.data };
      return DATA;
    }
    case "binary":
      return e.type === "i32" ? binaryRange(e.op, sub(e.lhs), sub(e.rhs)) : undefined;
  }
}

function binaryRange(op: Extract<Expr, { kind: "binary" }>["op"], a: Range, b: Range): Range {
  const data = a.data || b.data;
  const both = a.nonNeg && b.nonNeg;
  const ex = (f: (x: SizeExpr, y: SizeExpr) => SizeExpr) => {
    const [x, y] = [exactOf(a), exactOf(b)];
    return x !== undefined && y !== undefined ? { exact: f(x, y) } : {};
  };
  switch (op) {
    case "add":
      return { hi: sAdd(a.hi, b.hi), nonNeg: both, data, ...ex((x, y) => sAdd(x, y)) };
    case "sub":
      return { hi: sAdd(a.hi, b.hi), nonNeg: false, data };
    case "mul":
      return { hi: sMul(a.hi, b.hi), nonNeg: both, data, ...ex((x, y) => sMul(x, y)) };
    case "div": {
      // |a / b| <= |a| / |b|: exact when b is a function of the dims (sizes are positive in index math).
      const y = exactOf(b);
      const hi = y !== undefined && b.nonNeg ? sDiv(a.hi, y) : a.hi;
      return { hi, nonNeg: both, data, ...ex((p, q) => sDiv(p, q)) };
    }
    case "rem":
      return { hi: sMin(a.hi, b.hi), nonNeg: both, data };
    case "min":
      if (!data)
        return both ? { hi: sMin(a.hi, b.hi), nonNeg: true, data } : { hi: sMax(a.hi, b.hi), nonNeg: false, data };
      // min(a, b) with a >= 0 lies in [min(0, b), b], so |min(a, b)| <= |b| whatever a is:
      // clamping loaded data (`min(max(j, 0), n - 1)`) gives an index.
      if (a.nonNeg && !b.data) return { hi: b.hi, nonNeg: b.nonNeg, data: false };
      if (b.nonNeg && !a.data) return { hi: a.hi, nonNeg: a.nonNeg, data: false };
      return { hi: sMax(a.hi, b.hi), nonNeg: both, data };
    case "max":
      return { hi: sMax(a.hi, b.hi), nonNeg: a.nonNeg || b.nonNeg, data };
    case "bitAnd":
      if (a.nonNeg && !a.data) return { hi: a.hi, nonNeg: true, data: false };
      if (b.nonNeg && !b.data) return { hi: b.hi, nonNeg: true, data: false };
      return DATA;
    case "shr":
      return a.nonNeg ? { hi: a.hi, nonNeg: true, data } : DATA;
    case "shl": {
      const k = exactOf(b);
      return typeof k === "number" && k >= 0 && k < 31 ? { hi: sMul(a.hi, 2 ** k), nonNeg: a.nonNeg, data } : DATA;
    }
    default:
      return DATA;
  }
}
