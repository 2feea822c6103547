/**
 * Which i32 values of a kernel are *indices* that the CUDA emitter computes in
 * 64 bits. Element offsets like `t * D * k + j` can pass 2^31 on large MoE
 * layers (T·D·k > 2^31) while each factor fits in 32 bits, so the emitter
 * widens index arithmetic to `long long`.
 *
 * An i32 expression is index-derived when it is built only from constants,
 * named sizes, thread builtins and other index-derived variables: such values
 * are exact positions, so 64-bit arithmetic only removes overflow. Only index
 * values that grow with the problem (see `indexWidths`) are widened. Values that
 * depend on loaded data (i32 tensor elements) keep 32-bit wrap-around
 * semantics, like the interpreter's Int32Array, except inside the index of a
 * load/store, where the emitter widens them too (a gathered row times a size).
 */
import type { Expr, Stmt } from "../kernel_ir";

/** The index variables of a kernel, and those of them computed in 64 bits. */
export interface IndexWidths {
  /** i32 variables whose every definition is index-derived. */
  readonly indexVars: ReadonlySet<string>;
  /** Index variables that can grow with the problem size: declared `long long`. */
  readonly wideVars: ReadonlySet<string>;
}

/**
 * Classifies the i32 variables (lets and loop counters) of a kernel body.
 * An index variable is *wide* when its value can scale with the problem:
 * some definition (or, for a loop counter, its bound) mentions a named size,
 * a block-level builtin (globalLinear, groupLinear, numGroupsLinear) or another
 * wide variable. Offsets within a workgroup (localLinear, constants, shared
 * tile positions) stay 32-bit, so hot loops over shared memory use 32-bit math.
 */
export function indexWidths(body: readonly Stmt[]): IndexWidths {
  const defs = new Map<string, Expr[]>();
  const bounds = new Map<string, Expr[]>();
  const push = (m: Map<string, Expr[]>, name: string, e: Expr): void => {
    const list = m.get(name);
    if (list) list.push(e);
    else m.set(name, [e]);
  };
  const nonIndex = new Set<string>();
  const visit = (stmts: readonly Stmt[]): void => {
    for (const s of stmts) {
      switch (s.kind) {
        case "let":
          if (s.type === "i32") push(defs, s.name, s.init);
          else nonIndex.add(s.name);
          break;
        case "assign":
          push(defs, s.name, s.value);
          break;
        case "for":
          // The counter takes the values start, start + step, ... below end.
          push(defs, s.var, s.start);
          if (s.step) push(defs, s.var, s.step);
          push(bounds, s.var, s.end);
          visit(s.body);
          break;
        case "if":
          visit(s.then);
          if (s.else) visit(s.else);
          break;
        default:
          break;
      }
    }
  };
  visit(body);

  // Greatest fixpoint: assume every i32 variable is an index, drop those with a
  // non-index definition until nothing changes (handles `i = i + 1` in loops).
  const indexVars = new Set([...defs.keys()].filter((n) => !nonIndex.has(n)));
  for (let changed = true; changed;) {
    changed = false;
    for (const name of [...indexVars]) {
      if (!defs.get(name)!.every((e) => isIndexExpr(e, indexVars))) {
        indexVars.delete(name);
        changed = true;
      }
    }
  }
  // Least fixpoint: an index variable becomes wide once a definition or bound mentions something unbounded.
  const wideVars = new Set<string>();
  for (let changed = true; changed;) {
    changed = false;
    for (const name of indexVars) {
      if (wideVars.has(name)) continue;
      const sources = [...defs.get(name)!, ...(bounds.get(name) ?? [])];
      if (sources.some((e) => mentionsUnbounded(e, wideVars))) {
        wideVars.add(name);
        changed = true;
      }
    }
  }
  return { indexVars, wideVars };
}

/** True when `e` reads a named size, a block-level builtin or a wide variable. */
function mentionsUnbounded(e: Expr, wideVars: ReadonlySet<string>): boolean {
  let found = false;
  walkExpr(e, (n) => {
    if (
      n.kind === "size" ||
      (n.kind === "builtin" && n.name !== "localLinear") ||
      (n.kind === "var" && wideVars.has(n.name))
    )
      found = true;
  });
  return found;
}

/** True when `e` is index-derived and can scale with the problem size: computed in 64 bits. */
export function isWideExpr(e: Expr, widths: IndexWidths): boolean {
  return isIndexExpr(e, widths.indexVars) && mentionsUnbounded(e, widths.wideVars);
}

/** True when `e` is an i32 expression computed only from constants, sizes, builtins and index variables. */
export function isIndexExpr(e: Expr, indexVars: ReadonlySet<string>): boolean {
  switch (e.kind) {
    case "const":
      return e.type === "i32";
    case "size":
    case "builtin":
      return true;
    case "var":
      return indexVars.has(e.name);
    case "unary":
      return e.type === "i32" && isIndexExpr(e.arg, indexVars);
    case "binary":
      return e.type === "i32" && isIndexExpr(e.lhs, indexVars) && isIndexExpr(e.rhs, indexVars);
    case "select":
      return e.type === "i32" && isIndexExpr(e.onTrue, indexVars) && isIndexExpr(e.onFalse, indexVars);
    case "cast":
      return e.type === "i32" && isIndexExpr(e.arg, indexVars);
    case "load":
    case "sharedLoad":
    case "call":
      return false;
  }
}

/** Every variable name read somewhere in `body`. */
export function readVariables(body: readonly Stmt[]): ReadonlySet<string> {
  const read = new Set<string>();
  forEachExpr(body, (e) => walkExpr(e, (n) => n.kind === "var" && read.add(n.name)));
  return read;
}

/** Every builtin a body uses. */
export function usedBuiltins(body: readonly Stmt[]): ReadonlySet<string> {
  const used = new Set<string>();
  forEachExpr(body, (e) => walkExpr(e, (n) => n.kind === "builtin" && used.add(n.name)));
  return used;
}

/** Calls `f` on `e` and every sub-expression, parents first. */
export function walkExpr(e: Expr, f: (e: Expr) => void): void {
  f(e);
  forEachChild(e, (child) => walkExpr(child, f));
}

function forEachChild(e: Expr, f: (e: Expr) => void): void {
  switch (e.kind) {
    case "load":
    case "sharedLoad":
      f(e.index);
      break;
    case "unary":
    case "cast":
      f(e.arg);
      break;
    case "binary":
      f(e.lhs);
      f(e.rhs);
      break;
    case "select":
      f(e.cond);
      f(e.onTrue);
      f(e.onFalse);
      break;
    case "call":
      e.args.forEach(f);
      break;
    default:
      break;
  }
}

/** Calls `f` on every top-level expression of every statement (recursing into nested statements). */
export function forEachExpr(body: readonly Stmt[], f: (e: Expr) => void): void {
  for (const s of body) {
    switch (s.kind) {
      case "let":
        f(s.init);
        break;
      case "assign":
        f(s.value);
        break;
      case "store":
      case "sharedStore":
      case "atomicAdd":
        f(s.index);
        f(s.value);
        break;
      case "if":
        f(s.cond);
        forEachExpr(s.then, f);
        if (s.else) forEachExpr(s.else, f);
        break;
      case "for":
        f(s.start);
        f(s.end);
        if (s.step) f(s.step);
        forEachExpr(s.body, f);
        break;
      default:
        break;
    }
  }
}
