/**
 * Loop-invariant code motion on kernel IR: a `let` inside a `for` whose value
 * does not change between iterations (no loop variable, nothing assigned in
 * the loop, no buffer written in the loop) moves before the loop; so do
 * index-check `if`s that only store loop-invariant values to buffers nothing
 * else in the loop touches. Used for the JS target, where V8 does little of
 * this itself (a fused gather in a matmul operand would reload its index
 * every step of the K loop); GPU compilers do their own.
 *
 * A hoisted value is computed even when the loop runs zero times; values that
 * depend only on thread coordinates read in-bounds positions, so that is safe.
 */
import { walkExpr, type Expr, type Stmt } from "../kernel_ir";

interface Effects {
  /** Variables assigned, declared mutable, or declared in a nested block anywhere in the statements. */
  readonly assigned: Set<string>;
  /** Buffers and shared arrays written anywhere in the statements. */
  readonly written: Set<string>;
  barrier: boolean;
}

/** What statements change; lets declared in nested blocks count as changing (they are scoped inside). */
function effectsOf(
  ss: readonly Stmt[],
  into: Effects = { assigned: new Set(), written: new Set(), barrier: false },
  nested = false,
): Effects {
  for (const s of ss) {
    switch (s.kind) {
      case "let":
        if (s.mutable || nested) into.assigned.add(s.name);
        break;
      case "assign":
        into.assigned.add(s.name);
        break;
      case "store":
      case "atomicAdd":
        into.written.add(s.buffer);
        break;
      case "sharedStore":
        into.written.add(s.array);
        break;
      case "barrier":
        into.barrier = true;
        break;
      case "if":
        effectsOf(s.then, into, true);
        if (s.else) effectsOf(s.else, into, true);
        break;
      case "for":
        into.assigned.add(s.var);
        effectsOf(s.body, into, true);
        break;
      default:
        break;
    }
  }
  return into;
}

/** Whether `e` has the same value on every iteration, given what varies. */
function invariant(e: Expr, variant: ReadonlySet<string>, fx: Effects): boolean {
  switch (e.kind) {
    case "const":
    case "size":
    case "builtin":
      return true;
    case "var":
      return !variant.has(e.name);
    case "load":
      return !fx.written.has(e.buffer) && invariant(e.index, variant, fx);
    case "sharedLoad":
      return !fx.written.has(e.array) && !fx.barrier && invariant(e.index, variant, fx);
    case "unary":
    case "cast":
      return invariant(e.arg, variant, fx);
    case "binary":
      return invariant(e.lhs, variant, fx) && invariant(e.rhs, variant, fx);
    case "select":
      return invariant(e.cond, variant, fx) && invariant(e.onTrue, variant, fx) && invariant(e.onFalse, variant, fx);
    case "call":
      return e.args.every((a) => invariant(a, variant, fx));
  }
}

function buffersRead(e: Expr, out: Set<string>): Set<string> {
  walkExpr(e, (x) => {
    if (x.kind === "load") out.add(x.buffer);
    else if (x.kind === "sharedLoad") out.add(x.array);
  });
  return out;
}

/** Buffers a statement reads or writes. */
function touched(s: Stmt, out = new Set<string>()): Set<string> {
  switch (s.kind) {
    case "let":
      return buffersRead(s.init, out);
    case "assign":
      return buffersRead(s.value, out);
    case "store":
    case "atomicAdd":
      out.add(s.buffer);
      buffersRead(s.index, out);
      return buffersRead(s.value, out);
    case "sharedStore":
      out.add(s.array);
      buffersRead(s.index, out);
      return buffersRead(s.value, out);
    case "if":
      buffersRead(s.cond, out);
      s.then.forEach((t) => touched(t, out));
      s.else?.forEach((t) => touched(t, out));
      return out;
    case "for":
      buffersRead(s.start, out);
      buffersRead(s.end, out);
      if (s.step) buffersRead(s.step, out);
      s.body.forEach((t) => touched(t, out));
      return out;
    default:
      return out;
  }
}

/** An `if` that only stores invariant values (an index check): idempotent, so running it once is enough. */
function isInvariantCheck(s: Stmt, variant: ReadonlySet<string>, fx: Effects): boolean {
  if (s.kind !== "if" || s.else?.length) return false;
  if (!s.then.every((t) => t.kind === "store" && invariant(t.index, variant, fx) && invariant(t.value, variant, fx)))
    return false;
  const stored = new Set(s.then.map((t) => (t as Extract<Stmt, { kind: "store" }>).buffer));
  const fxWithout: Effects = { ...fx, written: new Set([...fx.written].filter((b) => !stored.has(b))) };
  return invariant(s.cond, variant, fxWithout);
}

// i32 values worth a hoisted let: a size or a thread builtin is already a name (and stays in the
// sum where it is, not folded into the hoisted part of an index).
const typeIsI32 = (e: Expr) => e.kind !== "size" && e.kind !== "builtin" && e.type === "i32";

function loadFree(e: Expr): boolean {
  switch (e.kind) {
    case "load":
    case "sharedLoad":
      return false;
    case "unary":
    case "cast":
      return loadFree(e.arg);
    case "binary":
      return loadFree(e.lhs) && loadFree(e.rhs);
    case "select":
      return loadFree(e.cond) && loadFree(e.onTrue) && loadFree(e.onFalse);
    case "call":
      return e.args.every(loadFree);
    default:
      return true;
  }
}

const trivial = (e: Expr) => e.kind === "const" || e.kind === "var" || e.kind === "size" || e.kind === "builtin";

/** Terms of an i32 sum (wrapping adds reassociate exactly). */
function terms(e: Expr, out: Expr[] = []): Expr[] {
  if (e.kind === "binary" && e.op === "add" && e.type === "i32") {
    terms(e.lhs, out);
    terms(e.rhs, out);
  } else out.push(e);
  return out;
}

const sum = (xs: Expr[]): Expr => xs.reduce((a, b) => ({ kind: "binary", op: "add", lhs: a, rhs: b, type: "i32" }));

/**
 * Rewrites `e` so its loop-invariant arithmetic (no loads: always safe to
 * evaluate early) is computed once: invariant subtrees and the invariant part
 * of i32 sums become lets made by `hoist`.
 */
function splitExpr(e: Expr, isInvariant: (x: Expr) => boolean, hoist: (x: Expr) => Expr): Expr {
  if (trivial(e)) return e;
  if (isInvariant(e) && loadFree(e)) return hoist(e);
  const rec = (x: Expr) => splitExpr(x, isInvariant, hoist);
  switch (e.kind) {
    case "binary": {
      if (e.op === "add" && e.type === "i32") {
        const ts = terms(e);
        const inv = ts.filter((t) => isInvariant(t) && loadFree(t));
        const rest = ts.filter((t) => !inv.includes(t)).map(rec);
        if (inv.length === 0) return sum(rest);
        const base = inv.length === 1 && trivial(inv[0]!) ? inv[0]! : hoist(sum(inv));
        return sum([base, ...rest]);
      }
      return { ...e, lhs: rec(e.lhs), rhs: rec(e.rhs) };
    }
    case "unary":
    case "cast":
      return { ...e, arg: rec(e.arg) };
    case "select":
      return { ...e, cond: rec(e.cond), onTrue: rec(e.onTrue), onFalse: rec(e.onFalse) };
    case "call":
      return { ...e, args: e.args.map(rec) };
    case "load":
    case "sharedLoad":
      return { ...e, index: rec(e.index) };
    default:
      return e;
  }
}

function splitStmt(s: Stmt, f: (e: Expr) => Expr): Stmt {
  switch (s.kind) {
    case "let":
      return { ...s, init: f(s.init) };
    case "assign":
      return { ...s, value: f(s.value) };
    case "store":
    case "sharedStore":
    case "atomicAdd":
      return { ...s, index: f(s.index), value: f(s.value) };
    case "if":
      return {
        ...s,
        cond: f(s.cond),
        then: s.then.map((t) => splitStmt(t, f)),
        ...(s.else ? { else: s.else.map((t) => splitStmt(t, f)) } : {}),
      };
    case "for":
      return {
        ...s,
        start: f(s.start),
        end: f(s.end),
        ...(s.step ? { step: f(s.step) } : {}),
        body: s.body.map((t) => splitStmt(t, f)),
      };
    default:
      return s;
  }
}

/** Moves loop-invariant lets (and index checks) out of every `for` loop, innermost first. */
export function hoistInvariants(body: readonly Stmt[], counter = { n: 0 }): Stmt[] {
  const out: Stmt[] = [];
  for (const s of body) {
    if (s.kind === "if") {
      out.push({
        ...s,
        then: hoistInvariants(s.then, counter),
        ...(s.else ? { else: hoistInvariants(s.else, counter) } : {}),
      });
      continue;
    }
    if (s.kind !== "for") {
      out.push(s);
      continue;
    }
    const inner = hoistInvariants(s.body, counter);
    const fx = effectsOf(inner);
    const variant = new Set<string>([s.var, ...fx.assigned]);
    // A check may move only if no other statement of the loop touches the buffers it stores to.
    const candidate = (t: Stmt) => t.kind === "if" && !t.else?.length && t.then.every((q) => q.kind === "store");
    const others = new Set<string>();
    for (const t of inner) if (!candidate(t)) touched(t, others);
    const hoisted: Stmt[] = [];
    const kept: Stmt[] = [];
    for (const t of inner) {
      if (t.kind === "let" && !t.mutable && invariant(t.init, variant, fx)) hoisted.push(t);
      else if (
        candidate(t) &&
        isInvariantCheck(t, variant, fx) &&
        (t as Extract<Stmt, { kind: "if" }>).then.every(
          (q) => !others.has((q as Extract<Stmt, { kind: "store" }>).buffer),
        )
      )
        hoisted.push(t);
      else {
        if (t.kind === "let") variant.add(t.name);
        kept.push(t);
      }
    }
    // Invariant arithmetic inside what stays (e.g. the row part of a flat index).
    const isInvariant = (e: Expr) => invariant(e, variant, fx);
    const hoist = (e: Expr): Expr => {
      const name = `hx${counter.n++}`;
      hoisted.push({ kind: "let", name, type: "i32", init: e });
      return { kind: "var", name, type: "i32" };
    };
    const split = kept.map((t) => splitStmt(t, (e) => splitExpr(e, (x) => typeIsI32(x) && isInvariant(x), hoist)));
    out.push(...hoisted, { ...s, body: split });
  }
  return out;
}
