/**
 * Dead-let elimination on kernel IR: immutable `let`s whose variable is never
 * read are dropped, repeatedly (dropping one can leave its inputs unread).
 * Kernel-IR expressions are pure, so nothing else changes. Lowering binds index
 * components eagerly (a thread's multi-index, say) and often ends up reading
 * the flat offset instead; this keeps the emitted source free of that residue.
 */
import { walkBodyExprs, type Stmt } from "../kernel_ir";

/** Names of the variables `body` reads. */
function varsRead(body: readonly Stmt[]): Set<string> {
  const read = new Set<string>();
  walkBodyExprs(body, (e) => {
    if (e.kind === "var") read.add(e.name);
  });
  return read;
}

function prune(ss: readonly Stmt[], uses: ReadonlySet<string>, removed: { count: number }): Stmt[] {
  const out: Stmt[] = [];
  for (const s of ss) {
    if (s.kind === "let" && !s.mutable && !uses.has(s.name)) {
      removed.count++;
      continue;
    }
    if (s.kind === "if")
      out.push({ ...s, then: prune(s.then, uses, removed), ...(s.else ? { else: prune(s.else, uses, removed) } : {}) });
    else if (s.kind === "for") out.push({ ...s, body: prune(s.body, uses, removed) });
    else out.push(s);
  }
  return out;
}

/** `body` without immutable lets that nothing reads. */
export function removeDeadLets(body: readonly Stmt[]): Stmt[] {
  let current = [...body];
  for (;;) {
    const removed = { count: 0 };
    current = prune(current, varsRead(current), removed);
    if (removed.count === 0) return current;
  }
}
