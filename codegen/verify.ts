/**
 * The kernel-IR verifier: one pass that states the rules every kernel obeys,
 * whatever the target. Lowering output is verified, and so is the result of
 * every kernel-IR rewrite, so emitters may assume a well-formed kernel and a
 * kernel the JS target accepts is one WGSL and CUDA accept too.
 *
 * Rules:
 * - types: every expression's type follows from its operands (arithmetic on
 *   equal types, comparisons give bool, logic on bool, bit ops and shifts on
 *   integers, index expressions i32 or u32, stored values of the buffer's type);
 * - scope: a variable is read only where its `let` (or `for`) is visible, with
 *   the declared type; only mutable lets are assigned; no name is declared twice
 *   where the first is still visible; loop variables are never assigned;
 * - buffers: loads from params and declared shared arrays, stores only to
 *   read-write params, atomics only on atomic integer params; every named size
 *   read is in `kernel.sizes`;
 * - barriers only in workgroup-uniform control flow: at the top level or inside
 *   `for` loops whose bounds are uniform (literals, sizes, workgroup ids and
 *   lets of those), never under an `if`; a kernel with barriers never returns
 *   early (its threads must all reach every barrier).
 */
import type { Expr, Intrinsic, Kernel, KernelParam, ScalarType, SharedArray, Stmt } from "./kernel_ir";
import { OPERAND_CLASS_NAMES, OPERAND_TYPES, UNARY_OPS } from "./kernel_ops";
import { BINARY_OPS, binaryOperandTypes } from "./kernel_ops_binary";
import { exprToText, stmtToText } from "./kernel_text";
import { CompileError } from "./types";

/** A kernel that breaks a kernel-IR rule (a bug in lowering or in a rewrite, never in user code). */
export class KernelVerifyError extends CompileError {
  override readonly name = "KernelVerifyError";
}

const FLOATS: ReadonlySet<ScalarType> = new Set(["f32", "f16", "f64"]);
const INTEGERS: ReadonlySet<ScalarType> = new Set(["i32", "u32"]);

/** Argument and result types of each intrinsic (a float parameter accepts any float type). */
const INTRINSICS: {
  readonly [I in Intrinsic]: {
    readonly args: readonly ("u32" | "float" | "any")[];
    /** `arg`: the type of the first argument. */
    readonly result: "u32" | "bool" | "float" | "arg";
  };
} = {
  threefry2x32_0: { args: ["u32", "u32", "u32", "u32"], result: "u32" },
  threefry2x32_1: { args: ["u32", "u32", "u32", "u32"], result: "u32" },
  bitsToUniform: { args: ["u32"], result: "float" },
  isNan: { args: ["float"], result: "bool" },
  opaque: { args: ["any"], result: "arg" },
};

interface Binding {
  readonly type: ScalarType;
  readonly mutable: boolean;
  readonly loopVar: boolean;
  /** The value is the same for every thread of a workgroup. */
  readonly uniform: boolean;
}

/**
 * Checks `kernel` against the kernel-IR rules; throws a KernelVerifyError naming
 * the kernel, the statement and the rule broken.
 * @example verifyKernel(bundle.kernels[0]) // returns, or throws: kernel "k0": `barrier`: ...
 */
export function verifyKernel(kernel: Kernel): void {
  new Verifier(kernel).run();
}

class Verifier {
  private readonly params = new Map<string, KernelParam>();
  private readonly shared = new Map<string, SharedArray>();
  private readonly sizes: ReadonlySet<string>;
  private readonly scopes: Map<string, Binding>[] = [new Map()];
  private readonly hasBarrier: boolean;
  private current: Stmt | undefined;

  constructor(private readonly kernel: Kernel) {
    this.sizes = new Set(kernel.sizes);
    this.hasBarrier = containsBarrier(kernel.body);
  }

  run(): void {
    const k = this.kernel;
    if (!Number.isInteger(k.workgroupSize) || k.workgroupSize < 1)
      this.fail(`workgroup size ${k.workgroupSize}; expected a positive integer`);
    for (const p of k.params) {
      if (this.params.has(p.name)) this.fail(`buffer param "${p.name}" is declared twice`);
      if (p.atomic && !INTEGERS.has(p.type))
        this.fail(`atomic param "${p.name}" has type ${p.type}; expected i32 or u32`);
      if (p.atomic && p.access !== "readWrite") this.fail(`atomic param "${p.name}" is read-only`);
      this.params.set(p.name, p);
    }
    for (const s of k.shared) {
      if (this.shared.has(s.name) || this.params.has(s.name)) this.fail(`shared array "${s.name}" is declared twice`);
      if (!Number.isInteger(s.length) || s.length < 1)
        this.fail(`shared array "${s.name}" has length ${s.length}; expected a positive integer`);
      this.shared.set(s.name, s);
    }
    this.block(k.body, { uniform: true });
  }

  private block(body: readonly Stmt[], flow: { uniform: boolean }): void {
    this.scopes.push(new Map());
    for (const s of body) this.stmt(s, flow);
    this.scopes.pop();
  }

  private stmt(s: Stmt, flow: { uniform: boolean }): void {
    this.current = s;
    switch (s.kind) {
      case "let": {
        const t = this.expr(s.init);
        if (t !== s.type) this.fail(`let ${s.name}: ${s.type} is initialised with a ${t}`);
        this.declare(s.name, {
          type: s.type,
          mutable: !!s.mutable,
          loopVar: false,
          uniform: !s.mutable && this.isUniform(s.init),
        });
        return;
      }
      case "assign": {
        const b = this.lookup(s.name);
        if (!b) this.fail(`assigns to "${s.name}", which is not declared here`);
        if (b.loopVar) this.fail(`assigns to the loop variable "${s.name}"`);
        if (!b.mutable) this.fail(`assigns to "${s.name}", which is not a mutable let`);
        const t = this.expr(s.value);
        if (t !== b.type) this.fail(`assigns a ${t} to "${s.name}", declared ${b.type}`);
        return;
      }
      case "store":
      case "atomicAdd": {
        const p = this.params.get(s.buffer);
        if (!p)
          this.fail(`${s.kind === "store" ? "stores" : "atomically adds"} to "${s.buffer}", which is not a param`);
        if (p.access !== "readWrite") this.fail(`writes "${s.buffer}", which is declared read-only`);
        if (s.kind === "atomicAdd" && !p.atomic) this.fail(`atomicAdd on "${s.buffer}", which is not declared atomic`);
        this.index(s.index);
        const t = this.expr(s.value);
        if (t !== p.type) this.fail(`stores a ${t} into "${s.buffer}" of ${p.type}`);
        return;
      }
      case "sharedStore": {
        const a = this.shared.get(s.array);
        if (!a) this.fail(`stores to shared array "${s.array}", which is not declared`);
        this.index(s.index);
        const t = this.expr(s.value);
        if (t !== a.type) this.fail(`stores a ${t} into shared array "${s.array}" of ${a.type}`);
        return;
      }
      case "if": {
        const t = this.expr(s.cond);
        if (t !== "bool") this.fail(`if condition has type ${t}; expected bool`);
        this.block(s.then, { uniform: false });
        if (s.else) this.block(s.else, { uniform: false });
        return;
      }
      case "for": {
        for (const e of [s.start, s.end, ...(s.step ? [s.step] : [])]) {
          const t = this.expr(e);
          if (t !== "i32") this.fail(`loop bound ${exprToText(e)} has type ${t}; expected i32`);
        }
        const uniform = flow.uniform && [s.start, s.end, ...(s.step ? [s.step] : [])].every((e) => this.isUniform(e));
        this.scopes.push(new Map());
        this.declare(s.var, { type: "i32", mutable: false, loopVar: true, uniform });
        this.block(s.body, { uniform });
        this.scopes.pop();
        return;
      }
      case "barrier":
        if (!flow.uniform)
          this.fail(
            "barrier in control flow that may differ between threads (under an if, or a loop with per-thread bounds)",
          );
        return;
      case "return":
        if (this.hasBarrier) this.fail("early return in a kernel with barriers (every thread must reach each barrier)");
        return;
      case "comment":
        return;
    }
  }

  private index(e: Expr): void {
    const t = this.expr(e);
    if (!INTEGERS.has(t)) this.fail(`index ${exprToText(e)} has type ${t}; expected i32 or u32`);
  }

  /** Checks `e` and returns its type. */
  private expr(e: Expr): ScalarType {
    switch (e.kind) {
      case "const":
        return e.type;
      case "var": {
        const b = this.lookup(e.name);
        if (!b) this.fail(`reads "${e.name}", which is not declared here (out of scope or never declared)`);
        if (b.type !== e.type) this.fail(`reads "${e.name}" as ${e.type}; it is declared ${b.type}`);
        return e.type;
      }
      case "size":
        if (!this.sizes.has(e.name)) this.fail(`reads size "${e.name}", which is not in the kernel's sizes`);
        return e.type;
      case "builtin":
        return e.type;
      case "load": {
        const p = this.params.get(e.buffer);
        if (!p) this.fail(`loads from "${e.buffer}", which is not a param`);
        this.index(e.index);
        if (e.type !== p.type) this.fail(`loads a ${e.type} from "${e.buffer}" of ${p.type}`);
        return e.type;
      }
      case "sharedLoad": {
        const a = this.shared.get(e.array);
        if (!a) this.fail(`loads from shared array "${e.array}", which is not declared`);
        this.index(e.index);
        if (e.type !== a.type) this.fail(`loads a ${e.type} from shared array "${e.array}" of ${a.type}`);
        return e.type;
      }
      case "unary": {
        // The op's typing rule is its row in kernel_ops.ts: an operand class, the result of the operand's type.
        const t = this.expr(e.arg);
        const cls = UNARY_OPS[e.op].operands;
        if (!OPERAND_TYPES[cls].includes(t)) this.fail(`${e.op} of ${t}; expected ${OPERAND_CLASS_NAMES[cls]}`);
        if (t !== e.type) this.fail(`${e.op} of ${t} typed ${e.type}; expected the operand's type`);
        return e.type;
      }
      case "binary": {
        const l = this.expr(e.lhs);
        const r = this.expr(e.rhs);
        const what = `${exprToText(e)}: ${e.op} of ${l} and ${r} typed ${e.type}`;
        const { kind } = BINARY_OPS[e.op];
        const accepted = binaryOperandTypes(e.op);
        if (kind === "shift") {
          if (!accepted.includes(l) || !accepted.includes(r) || e.type !== l)
            this.fail(`${what}; expected integer operands`);
        } else if (l !== r) {
          this.fail(`${what}; expected operands of one type (cast one)`);
        } else if (kind === "compare") {
          if (e.type !== "bool") this.fail(`${what}; comparisons give bool`);
          if (!accepted.includes(l)) this.fail(`${what}; ordered comparisons take number operands`);
        } else if (kind === "logical") {
          if (l !== "bool" || e.type !== "bool") this.fail(`${what}; expected bool operands`);
        } else if (!accepted.includes(l) || e.type !== l) {
          const bitwise = BINARY_OPS[e.op].operands === "integerOrBool";
          this.fail(`${what}; expected ${bitwise ? "integer operands" : "number operands of the result's type"}`);
        }
        return e.type;
      }
      case "select": {
        const c = this.expr(e.cond);
        const a = this.expr(e.onTrue);
        const b = this.expr(e.onFalse);
        if (c !== "bool") this.fail(`select condition has type ${c}; expected bool`);
        if (a !== e.type || b !== e.type) this.fail(`select of ${a} and ${b} typed ${e.type}; expected one type`);
        return e.type;
      }
      case "cast":
        this.expr(e.arg);
        return e.type;
      case "call": {
        const sig = INTRINSICS[e.fn];
        if (!sig) this.fail(`calls unknown intrinsic "${e.fn}"`);
        if (e.args.length !== sig.args.length)
          this.fail(`intrinsic ${e.fn} takes ${sig.args.length} arguments, got ${e.args.length}`);
        e.args.forEach((a, i) => {
          const t = this.expr(a);
          const want = sig.args[i]!;
          if (want === "float" ? !FLOATS.has(t) : want !== "any" && t !== want)
            this.fail(`argument ${i + 1} of ${e.fn} has type ${t}; expected ${want === "float" ? "a float" : want}`);
        });
        const result = sig.result === "arg" ? e.args[0]!.type : sig.result;
        const ok = result === "float" ? FLOATS.has(e.type) : e.type === result;
        if (!ok) this.fail(`${e.fn} is typed ${e.type}; it gives ${result === "float" ? "a float" : result}`);
        return e.type;
      }
    }
  }

  /** Same value in every thread of a workgroup (so control flow on it keeps barriers uniform). */
  private isUniform(e: Expr): boolean {
    switch (e.kind) {
      case "const":
      case "size":
        return true;
      case "builtin":
        return e.name === "groupLinear" || e.name === "numGroupsLinear";
      case "var":
        return this.lookup(e.name)?.uniform ?? false;
      case "load":
      case "sharedLoad":
        return false;
      case "unary":
      case "cast":
        return this.isUniform(e.arg);
      case "binary":
        return this.isUniform(e.lhs) && this.isUniform(e.rhs);
      case "select":
        return this.isUniform(e.cond) && this.isUniform(e.onTrue) && this.isUniform(e.onFalse);
      case "call":
        return e.args.every((a) => this.isUniform(a));
    }
  }

  private declare(name: string, b: Binding): void {
    if (this.lookup(name)) this.fail(`declares "${name}" while an outer "${name}" is visible (shadowing)`);
    this.scopes[this.scopes.length - 1]!.set(name, b);
  }

  private lookup(name: string): Binding | undefined {
    for (let i = this.scopes.length - 1; i >= 0; i--) {
      const b = this.scopes[i]!.get(name);
      if (b) return b;
    }
    return undefined;
  }

  private fail(why: string): never {
    const where = this.current ? `\`${stmtToText(this.current)}\`: ` : "";
    throw new KernelVerifyError(`kernel "${this.kernel.name}": ${where}${why}`);
  }
}

function containsBarrier(body: readonly Stmt[]): boolean {
  return body.some(
    (s) =>
      s.kind === "barrier" ||
      (s.kind === "if" && (containsBarrier(s.then) || (s.else !== undefined && containsBarrier(s.else)))) ||
      (s.kind === "for" && containsBarrier(s.body)),
  );
}
