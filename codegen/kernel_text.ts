/**
 * Kernel IR as short, readable text, for error messages and debugging:
 * `store y[gid] = exp(load x[gid]: f32): f32`. Not a renderer: no target
 * syntax, no guarantee it parses as anything.
 */
import { BINARY_OPS } from "./kernel_ops_binary";
import type { Expr, Stmt } from "./kernel_ir";

/** One expression as text. @example exprToText(add(x, c(1, "i32"))) // "(x + 1)" */
export function exprToText(e: Expr): string {
  switch (e.kind) {
    case "const":
      return String(e.value);
    case "var":
      return e.name;
    case "size":
      return `size(${e.name})`;
    case "builtin":
      return e.name;
    case "load":
      return `${e.buffer}[${exprToText(e.index)}]`;
    case "sharedLoad":
      return `shared ${e.array}[${exprToText(e.index)}]`;
    case "unary":
      return `${e.op}(${exprToText(e.arg)})`;
    case "binary": {
      const op = BINARY_OPS[e.op].infix;
      return op
        ? `(${exprToText(e.lhs)} ${op} ${exprToText(e.rhs)})`
        : `${e.op}(${exprToText(e.lhs)}, ${exprToText(e.rhs)})`;
    }
    case "select":
      return `select(${exprToText(e.cond)}, ${exprToText(e.onTrue)}, ${exprToText(e.onFalse)})`;
    case "cast":
      return `${e.type}(${exprToText(e.arg)})`;
    case "call":
      return `${e.fn}(${e.args.map(exprToText).join(", ")})`;
  }
}

/** The head of one statement as text (a block's body is elided). */
export function stmtToText(s: Stmt): string {
  switch (s.kind) {
    case "let":
      return `let${s.mutable ? " mut" : ""} ${s.name}: ${s.type} = ${exprToText(s.init)}`;
    case "assign":
      return `${s.name} = ${exprToText(s.value)}`;
    case "store":
      return `store ${s.buffer}[${exprToText(s.index)}] = ${exprToText(s.value)}`;
    case "sharedStore":
      return `store shared ${s.array}[${exprToText(s.index)}] = ${exprToText(s.value)}`;
    case "atomicAdd":
      return `atomicAdd ${s.buffer}[${exprToText(s.index)}] += ${exprToText(s.value)}`;
    case "if":
      return `if ${exprToText(s.cond)} { ... }`;
    case "for":
      return `for ${s.var} in ${exprToText(s.start)}..${exprToText(s.end)}${s.step ? ` step ${exprToText(s.step)}` : ""} { ... }`;
    case "barrier":
      return "barrier";
    case "return":
      return "return";
    case "comment":
      return `// ${s.text}`;
  }
}
