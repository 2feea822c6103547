/**
 * What the C-family renderers (WGSL, CUDA, JS) share, after tinygrad's
 * `CStyleLanguage`: the statement skeleton (blocks, indentation, if/else,
 * counted loops, comments), one identifier sanitiser and literal spelling (the
 * ops are spelled by the op tables, kernel_ops.ts and kernel_ops_binary.ts). A
 * target supplies tables (reserved words, literal spellings) and a few hooks:
 * how a declaration, an assignment, a buffer write and a loop header read. Renderers may assume `verifyKernel`'s
 * rules hold (codegen/verify.ts): every expression is typed, names are in
 * scope, buffers exist with the right access, so no renderer re-checks them.
 */
import { walkBodyExprs, type Expr, type Kernel, type ScalarType, type Stmt } from "../kernel_ir";

/** Reserved words given as one space-separated string (keeps long lists compact). */
export const wordSet = (words: string): ReadonlySet<string> => new Set(words.split(/\s+/).filter(Boolean));

/**
 * A valid, readable identifier for a kernel-IR name on every C-family target:
 * characters outside `[A-Za-z0-9_]` become `_`; a name starting with a digit or
 * `_` (reserved in C++, `__` in WGSL) gets a `v` in front; a name the target
 * reserves, or one in the renderers' own `mf_` namespace, gets a trailing `_`.
 * @example identifier("x.grad", wordSet("let")) // "x_grad"; identifier("let", wordSet("let")) // "let_"
 */
export function identifier(name: string, reserved: ReadonlySet<string>): string {
  let id = name.replace(/[^A-Za-z0-9_]/g, "_");
  if (id === "" || /^[0-9_]/.test(id)) id = "v" + id;
  if (reserved.has(id) || id.startsWith("mf_")) id += "_";
  return id;
}

/** How a target spells float literals. */
export interface FloatSpelling {
  /** Appended to the digits: "f" (f32), "h" (WGSL f16). */
  readonly suffix: string;
  /** The largest finite magnitude of the type; larger values are spelled as infinities. */
  readonly max: number;
  /** NaN or an infinity (the target's run-time bit pattern: shader compilers reject them as constants). */
  nonFinite(value: number): string;
}

/**
 * A float literal that reads back as exactly the f32 value `Math.fround(x)`:
 * the shortest decimal (at most 9 significant digits, which always suffice for
 * f32) whose nearest f32 is that value; negative values (and -0) in parentheses.
 * @example floatLiteral(0.1, { suffix: "f", max: 3.4e38, nonFinite: String }) // "0.1f"
 */
export function floatLiteral(x: number, spelling: FloatSpelling): string {
  const f = Math.fround(x);
  if (!Number.isFinite(f) || Math.abs(f) > spelling.max)
    return spelling.nonFinite(Number.isNaN(f) ? NaN : f > 0 ? Infinity : -Infinity);
  const abs = Math.abs(f);
  let text = String(abs);
  for (let digits = 1; digits <= 9; digits++) {
    const candidate = String(Number(abs.toPrecision(digits)));
    if (Math.fround(Number(candidate)) === abs && Number(candidate) <= spelling.max) {
      text = candidate;
      break;
    }
  }
  if (!/[.e]/.test(text)) text += ".0";
  const literal = text + spelling.suffix;
  return f < 0 || Object.is(f, -0) ? `(-${literal})` : literal;
}

/**
 * An i32 literal (wrapped to 32 bits like an Int32Array store); negative values
 * in parentheses, INT_MIN spelled so that it is not a negated overflow.
 * @example i32Literal(-3, "i", (s) => s) // "(-3i)"
 */
export function i32Literal(value: number, suffix: string, intMin: (text: string) => string): string {
  const v = value | 0;
  if (v === -2147483648) return intMin("-2147483647 - 1");
  return v < 0 ? `(${v}${suffix})` : `${v}${suffix}`;
}

/** Whether any buffer, shared array or expression of `kernel` has type `t` (a target lacking `t` rejects the kernel). */
export function usesType(kernel: Kernel, t: ScalarType): boolean {
  let found = kernel.params.some((p) => p.type === t) || kernel.shared.some((s) => s.type === t);
  walkBodyExprs(kernel.body, (e) => (found ||= e.type === t));
  return found;
}

/** Comment text as lines; a trailing backslash would splice the next source line into a `//` comment. */
export function commentLines(text: string): string[] {
  return text.split("\n").map((l) => l.replace(/\\+\s*$/, ""));
}

export type StmtOf<K extends Stmt["kind"]> = Extract<Stmt, { kind: K }>;

/**
 * The statement skeleton of a C-family kernel body. It owns blocks,
 * indentation (two spaces a level), `if`/`else`, counted loops, comments and
 * semicolons; a target writes each statement's own text through the hooks.
 */
export abstract class CStyleWriter {
  /** `barrier` and `return` as the target spells them (without the semicolon). */
  protected abstract readonly barrier: string;
  protected abstract readonly earlyReturn: string;
  /** The target language's name, for messages. */
  abstract readonly language: string;

  constructor(protected readonly reserved: ReadonlySet<string>) {}

  /** The target identifier of a kernel-IR name (see `identifier`). */
  ident(name: string): string {
    return identifier(name, this.reserved);
  }

  /** A boolean expression, as an `if` condition. */
  protected abstract condition(e: Expr): string;
  /** `let`: declaration and initial value, without the semicolon. */
  protected abstract declare(s: StmtOf<"let">): string;
  /** `name = value`, without the semicolon. */
  protected abstract assign(s: StmtOf<"assign">): string;
  /** A buffer or shared-array write (store, sharedStore, atomicAdd), without the semicolon. */
  protected abstract bufferWrite(s: StmtOf<"store" | "sharedStore" | "atomicAdd">): string;
  /** What goes between the parentheses of `for (...)`. */
  protected abstract loopHeader(s: StmtOf<"for">): string;
  /** Called before a loop body is written (targets tracking loop variables use it). */
  protected enterLoop(_s: StmtOf<"for">): void {}

  /** `body` as source lines indented `depth` levels. */
  lines(body: readonly Stmt[], depth: number): string[] {
    return body.flatMap((s) => this.stmt(s, depth));
  }

  private stmt(s: Stmt, depth: number): string[] {
    const pad = "  ".repeat(depth);
    switch (s.kind) {
      case "let":
        return [`${pad}${this.declare(s)};`];
      case "assign":
        return [`${pad}${this.assign(s)};`];
      case "store":
      case "sharedStore":
      case "atomicAdd":
        return [`${pad}${this.bufferWrite(s)};`];
      case "if": {
        const head = [`${pad}if (${this.condition(s.cond)}) {`, ...this.lines(s.then, depth + 1)];
        const orElse = s.else?.length ? [`${pad}} else {`, ...this.lines(s.else, depth + 1)] : [];
        return [...head, ...orElse, `${pad}}`];
      }
      case "for": {
        const head = `${pad}for (${this.loopHeader(s)}) {`;
        this.enterLoop(s);
        return [head, ...this.lines(s.body, depth + 1), `${pad}}`];
      }
      case "barrier":
        return [`${pad}${this.barrier};`];
      case "return":
        return [`${pad}${this.earlyReturn};`];
      case "comment":
        return commentLines(s.text).map((l) => `${pad}// ${l}`);
    }
  }
}

/**
 * Maps each declared name (buffers, shared arrays) to its target identifier and
 * rejects two that map to the same one (`a.b` and `a_b`), naming both.
 */
export function claimNames(
  names: readonly { readonly name: string; readonly what: string }[],
  writer: { ident(name: string): string; readonly language: string },
  fail: (why: string) => Error,
): Map<string, string> {
  const ids = new Map<string, string>();
  const taken = new Map<string, string>();
  for (const { name, what } of names) {
    const id = writer.ident(name);
    const prev = taken.get(id);
    if (prev !== undefined)
      throw fail(`${what} "${name}" and ${prev} both map to the ${writer.language} name "${id}"; rename one`);
    taken.set(id, `${what} "${name}"`);
    ids.set(name, id);
  }
  return ids;
}
