/**
 * Dead-let elimination on kernel IR: immutable `let`s whose variable is never
 * read are dropped, repeatedly (dropping one can leave its inputs unread).
 * Kernel-IR expressions are pure, so nothing else changes. Lowering binds index
 * components eagerly (a thread's multi-index, say) and often ends up reading
 * the flat offset instead; this keeps the emitted source free of that residue.
 */
import type { Expr, Stmt } from "../kernel_ir";

function countExpr(e: Expr, uses: Map<string, number>): void {
  switch (e.kind) {
    case "var":
      uses.set(e.name, (uses.get(e.name) ?? 0) + 1);
      return;
    case "load":
    case "sharedLoad":
      return countExpr(e.index, uses);
    case "unary":
    case "cast":
      return countExpr(e.arg, uses);
    case "binary":
      countExpr(e.lhs, uses);
      return countExpr(e.rhs, uses);
    case "select":
      countExpr(e.cond, uses);
      countExpr(e.onTrue, uses);
      return countExpr(e.onFalse, uses);
    case "call":
      return e.args.forEach((a) => countExpr(a, uses));
    case "const":
    case "size":
    case "builtin":
      return;
  }
}

function countStmts(ss: readonly Stmt[], uses: Map<string, number>): void {
  for (const s of ss) {
    switch (s.kind) {
      case "let":
        countExpr(s.init, uses);
        break;
      case "assign":
        countExpr(s.value, uses);
        break;
      case "store":
      case "sharedStore":
      case "atomicAdd":
        countExpr(s.index, uses);
        countExpr(s.value, uses);
        break;
      case "if":
        countExpr(s.cond, uses);
        countStmts(s.then, uses);
        if (s.else) countStmts(s.else, uses);
        break;
      case "for":
        countExpr(s.start, uses);
        countExpr(s.end, uses);
        if (s.step) countExpr(s.step, uses);
        countStmts(s.body, uses);
        break;
      case "barrier":
      case "return":
      case "comment":
        break;
    }
  }
}

function prune(ss: readonly Stmt[], uses: ReadonlyMap<string, number>, removed: { count: number }): Stmt[] {
  const out: Stmt[] = [];
  for (const s of ss) {
    if (s.kind === "let" && !s.mutable && !uses.has(s.name)) {
      removed.count++;
      continue;
    }
    if (s.kind === "if") out.push({ ...s, then: prune(s.then, uses, removed), ...(s.else ? { else: prune(s.else, uses, removed) } : {}) });
    else if (s.kind === "for") out.push({ ...s, body: prune(s.body, uses, removed) });
    else out.push(s);
  }
  return out;
}

/** `body` without immutable lets that nothing reads. */
export function removeDeadLets(body: readonly Stmt[]): Stmt[] {
  let current = [...body];
  for (;;) {
    const uses = new Map<string, number>();
    countStmts(current, uses);
    const removed = { count: 0 };
    current = prune(current, uses, removed);
    if (removed.count === 0) return current;
  }
}
