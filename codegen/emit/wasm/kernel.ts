/**
 * Kernel IR as a WebAssembly module (scalar code). Semantics are the JS
 * target's, value for value: f32 values live in f64 registers and are rounded
 * to f32 whenever a variable is bound, a value is cast or stored (as the JS
 * target's `Math.fround`), i32 arithmetic wraps, integer division by zero
 * gives 0, float-to-int casts follow JS ToInt32, transcendentals are the host's
 * Math functions (imports.ts). So the wasm and JS targets agree bit for bit on
 * every kernel they both run, and the random-program suites hold for both.
 *
 * The module imports one memory ("mf"."memory"); buffers are byte offsets into
 * it. It exports `kernel(base_0, ..., size_0, ..., numGroups, first, last)`,
 * which runs workgroups [first, last) (threads one after another, like the JS
 * target), so a worker pool over one shared memory splits launches by workgroups.
 * Kernels with shared arrays or barriers are not rendered here (`wasmRenderable`).
 * Elementwise kernels that `vectorisable` (vectorise.ts) accepts run this
 * writer's thread loop only for the items around vector_kernel.ts's four-lane loop.
 */
import { walkExpr, type Expr, type Kernel, type ScalarType, type Stmt, type UnaryOp } from "../../kernel_ir";
import type { FunctionBody, Label } from "./code";
import { UNARY_OPS, type WasmHelper, type WasmOpContext } from "../../kernel_ops";
import { BINARY_OPS } from "../../kernel_ops_binary";
import { HOST_IMPORTS, HOST_IMPORT_NAMES, UNARY_IMPORT_OPS, unaryImport, type HostImportName } from "./imports";
import type { InlineMath } from "./inline_exp";
import { ModuleBuilder } from "./module";
import type { Op, ValType } from "./opcodes";

/** How kernels see their memory: shared (worker threads) or not (browsers without cross-origin isolation). */
export interface WasmMemoryKind {
  readonly shared: boolean;
}

/** Largest memory a kernel accepts: 65536 pages of 64 KiB (4 GiB, wasm32's whole address space). */
export const MAX_PAGES = 65536;

/** Bytes per element of a buffer of each type (f16 is held as f32, bool as u8, like the JS target). */
export const ELEMENT_BYTES: Record<ScalarType, number> = { f32: 4, f16: 4, f64: 8, i32: 4, u32: 4, bool: 1 };
/** log2 of ELEMENT_BYTES. */
export const SHIFT: Record<ScalarType, number> = { f32: 2, f16: 2, f64: 3, i32: 2, u32: 2, bool: 0 };

const isFloat = (t: ScalarType) => t === "f32" || t === "f16" || t === "f64";
export const isF32 = (t: ScalarType) => t === "f32" || t === "f16";
/** The wasm type a value of `t` is held in: floats in f64, the rest in i32. */
const stackType = (t: ScalarType): ValType => (isFloat(t) ? "f64" : "i32");
export const exprType = (e: Expr): ScalarType => (e.kind === "size" ? "i32" : e.kind === "builtin" ? "u32" : e.type);

function stmtsHave(ss: readonly Stmt[], pred: (s: Stmt) => boolean): boolean {
  return ss.some(
    (s) =>
      pred(s) ||
      (s.kind === "if" && (stmtsHave(s.then, pred) || stmtsHave(s.else ?? [], pred))) ||
      (s.kind === "for" && stmtsHave(s.body, pred)),
  );
}

/** Whether the scalar wasm emitter renders `kernel` (no shared arrays, no barriers: those stay on the JS target). */
export function wasmRenderable(kernel: Kernel): true | string {
  if (kernel.shared.length) return "it uses workgroup shared memory";
  if (stmtsHave(kernel.body, (s) => s.kind === "barrier")) return "it has barriers";
  return true;
}

/** A module's imported host functions: the fixed ones by name, the op table's unary imports by op. */
export interface Imports {
  readonly host: Record<HostImportName, number>;
  readonly unary: ReadonlyMap<UnaryOp, number>;
}

interface Local {
  readonly index: number;
  readonly type: ScalarType;
}

/** Whether `e` loads or calls (a select then evaluates only the branch it takes). */
export function hasLoad(e: Expr): boolean {
  let found = false;
  walkExpr(e, (x) => (found ||= x.kind === "load" || x.kind === "call"));
  return found;
}

export class KernelWriter implements WasmOpContext {
  private readonly vars = new Map<string, Local>();
  private readonly bases = new Map<string, { index: number; type: ScalarType }>();
  private readonly sizes = new Map<string, number>();
  private readonly gid: number;
  private readonly group: number;
  private readonly lid: number;
  private readonly numGroups: number;
  private next: Label | null = null;

  constructor(
    private readonly kernel: Kernel,
    readonly fb: FunctionBody,
    private readonly imports: Imports,
    private readonly helpers: Record<WasmHelper, number>,
    /** exp and sigmoid computed in wasm instead of the host's (the fused GEMM epilogue: inline_exp.ts). */
    private readonly inline: InlineMath | null = null,
  ) {
    kernel.params.forEach((p, i) => this.bases.set(p.name, { index: i, type: p.type }));
    kernel.sizes.forEach((s, i) => this.sizes.set(s, kernel.params.length + i));
    const extra = kernel.params.length + kernel.sizes.length;
    this.numGroups = extra;
    this.gid = fb.local("i32");
    this.group = fb.local("i32");
    this.lid = fb.local("i32");
  }

  /** The thread loop over workgroups [first, last), each thread's body in a block that `return` exits. */
  run(): void {
    const end = this.startThreads();
    this.threads(() => this.fb.get(this.gid).get(end).op("i32.ge_u"));
  }

  /** The global thread index's local (the vector loop of vector_kernel.ts steps it by 4). */
  get item(): number {
    return this.gid;
  }

  /** Sets the first thread of workgroups [first, last) and returns a local holding the end of that range. */
  startThreads(): number {
    const fb = this.fb;
    const wg = this.kernel.workgroupSize;
    const [first, last] = [this.numGroups + 1, this.numGroups + 2];
    const end = fb.local("i32");
    fb.get(last).i32(wg).op("i32.mul").set(end);
    fb.get(first).i32(wg).op("i32.mul").set(this.gid);
    return end;
  }

  /** Runs threads one after another from the current one until `stop` (an i32 condition) holds. */
  threads(stop: () => void): void {
    const fb = this.fb;
    const wg = this.kernel.workgroupSize;
    fb.block((done) =>
      fb.loop((thread) => {
        stop();
        fb.brIf(done);
        if (wg === 1) fb.get(this.gid).set(this.group).i32(0).set(this.lid);
        else {
          fb.get(this.gid).i32(wg).op("i32.div_u").set(this.group);
          fb.get(this.gid).i32(wg).op("i32.rem_u").set(this.lid);
        }
        fb.block((next) => {
          this.next = next;
          this.stmts(this.kernel.body);
        });
        fb.get(this.gid).i32(1).op("i32.add").set(this.gid);
        fb.br(thread);
      }),
    );
  }

  /**
   * Renders `body` (no `return`) with `bound` variables already held in locals: a
   * contraction epilogue inside the SIMD micro-kernel, whose function takes the
   * kernel's params in the same positions (gemm_tile.ts).
   */
  statements(
    bound: readonly { readonly name: string; readonly type: ScalarType; readonly index: number }[],
    body: readonly Stmt[],
  ): void {
    for (const b of bound) this.vars.set(b.name, { index: b.index, type: b.type });
    if (stmtsHave(body, (s) => s.kind === "return")) throw new Error("wasm emitter: an epilogue cannot return");
    this.stmts(body);
  }

  /** One statement of the body as scalar code (the vector loop's item-independent and index statements). */
  scalarStmt(s: Stmt): void {
    this.stmt(s);
  }

  /** Pushes `e` as a scalar of type `t` (f32 in an f64, unrounded unless a cast or bind rounds it). */
  scalarExpr(e: Expr, t: ScalarType): void {
    this.exprAs(e, t);
  }

  /** The local of a parameter's base address, and its element type. */
  buffer(name: string): { readonly index: number; readonly type: ScalarType } {
    const b = this.bases.get(name);
    if (!b) throw new Error(`wasm emitter: unknown buffer ${name}`);
    return b;
  }

  private local(name: string, type: ScalarType): Local {
    const have = this.vars.get(name);
    if (have && stackType(have.type) === stackType(type)) return have;
    const l = { index: this.fb.local(stackType(type)), type };
    this.vars.set(name, l);
    return l;
  }

  /** Rounds the f64 on the stack to f32 (a no-op for other types). */
  private round(t: ScalarType): void {
    if (isF32(t)) this.fb.op("f32.demote_f64").op("f64.promote_f32");
  }

  private stmts(ss: readonly Stmt[]): void {
    for (const s of ss) this.stmt(s);
  }

  private stmt(s: Stmt): void {
    const fb = this.fb;
    switch (s.kind) {
      case "let": {
        const l = this.local(s.name, s.type);
        this.bind(s.init, s.type);
        fb.set(l.index);
        return;
      }
      case "assign": {
        const l = this.vars.get(s.name);
        if (!l) throw new Error(`wasm emitter: assignment to undeclared variable ${s.name}`);
        this.bind(s.value, l.type);
        fb.set(l.index);
        return;
      }
      case "store":
      case "atomicAdd": {
        const b = this.bases.get(s.buffer);
        if (!b) throw new Error(`wasm emitter: store to unknown buffer ${s.buffer}`);
        this.address(b.index, b.type, s.index);
        this.exprAs(s.value, b.type);
        if (s.kind === "atomicAdd") {
          if (b.type !== "i32" && b.type !== "u32")
            throw new Error(`wasm emitter: atomicAdd on a ${b.type} buffer (only i32/u32)`);
          fb.atomic("i32.atomic.rmw.add").op("drop");
        } else this.storeOp(b.type);
        return;
      }
      case "if":
        this.exprAs(s.cond, "bool");
        fb.if(() => this.stmts(s.then), s.else?.length ? () => this.stmts(s.else!) : undefined);
        return;
      case "for": {
        const v = this.local(s.var, "i32");
        this.exprAs(s.start, "i32");
        fb.set(v.index);
        fb.block((exit) =>
          fb.loop((again) => {
            fb.get(v.index);
            this.exprAs(s.end, "i32");
            fb.op("i32.ge_s").brIf(exit);
            this.stmts(s.body);
            fb.get(v.index);
            if (s.step) this.exprAs(s.step, "i32");
            else fb.i32(1);
            fb.op("i32.add").set(v.index);
            fb.br(again);
          }),
        );
        return;
      }
      case "return":
        fb.br(this.next!);
        return;
      case "comment":
        return;
      case "barrier":
      case "sharedStore":
        throw new Error(`wasm emitter: ${s.kind} is not supported (kernel ${this.kernel.name} stays on the JS target)`);
    }
  }

  /** A value bound to a variable of type `t`: f32 values are rounded (as the JS target's Math.fround). */
  private bind(e: Expr, t: ScalarType): void {
    this.exprAs(e, t);
    if (isF32(t) && !(isF32(exprType(e)) && (e.kind === "load" || e.kind === "var" || e.kind === "const")))
      this.round(t);
  }

  private address(base: number, type: ScalarType, index: Expr): void {
    this.fb.get(base);
    this.exprAs(index, "i32");
    if (SHIFT[type]) this.fb.i32(SHIFT[type]).op("i32.shl");
    this.fb.op("i32.add");
  }

  private storeOp(t: ScalarType): void {
    if (isF32(t)) this.fb.op("f32.demote_f64").mem("f32.store");
    else if (t === "f64") this.fb.mem("f64.store");
    else if (t === "bool") this.fb.mem("i32.store8");
    else this.fb.mem("i32.store");
  }

  /** Pushes `e` converted to type `t` (rounded when `t` is f32). */
  private exprAs(e: Expr, t: ScalarType): void {
    const from = exprType(e);
    this.expr(e);
    this.convert(from, t);
  }

  /** Converts the value on the stack from `from` to `to` (the JS target's cast). */
  convert(from: ScalarType, to: ScalarType): void {
    const fb = this.fb;
    if (from === to || (isF32(from) && isF32(to))) return;
    if (to === "bool") {
      if (isFloat(from))
        fb.op("f64.abs").f64(0).op("f64.gt"); // !!x: false for 0, -0 and NaN
      else fb.i32(0).op("i32.ne");
      return;
    }
    if (isFloat(to)) {
      if (from === "i32") fb.op("f64.convert_i32_s");
      else if (from === "u32" || from === "bool") fb.op("f64.convert_i32_u");
      this.round(to);
      return;
    }
    // to i32 / u32 (same bits)
    if (isFloat(from)) fb.call(this.helpers.toInt32);
  }

  private expr(e: Expr): void {
    const fb = this.fb;
    switch (e.kind) {
      case "const":
        if (isFloat(e.type)) fb.f64(isF32(e.type) ? Math.fround(e.value) : e.value);
        else if (e.type === "bool") fb.i32(e.value ? 1 : 0);
        else fb.i32(e.value | 0);
        return;
      case "var": {
        const l = this.vars.get(e.name);
        if (!l) throw new Error(`wasm emitter: variable ${e.name} is read before it is declared`);
        fb.get(l.index);
        return;
      }
      case "size": {
        const i = this.sizes.get(e.name);
        if (i === undefined) throw new Error(`wasm emitter: size ${e.name} is not among the kernel's sizes`);
        fb.get(i);
        return;
      }
      case "builtin":
        fb.get(
          e.name === "globalLinear"
            ? this.gid
            : e.name === "groupLinear"
              ? this.group
              : e.name === "localLinear"
                ? this.lid
                : this.numGroups,
        );
        return;
      case "load": {
        const b = this.bases.get(e.buffer);
        if (!b) throw new Error(`wasm emitter: load from unknown buffer ${e.buffer}`);
        this.address(b.index, b.type, e.index);
        if (isF32(b.type)) fb.mem("f32.load").op("f64.promote_f32");
        else if (b.type === "f64") fb.mem("f64.load");
        else if (b.type === "bool") fb.mem("i32.load8_u");
        else fb.mem("i32.load");
        this.convert(b.type, e.type);
        return;
      }
      case "sharedLoad":
        throw new Error(`wasm emitter: shared memory is not supported (kernel ${this.kernel.name})`);
      case "unary":
        this.exprAs(e.arg, e.type === "bool" ? "bool" : e.type);
        return this.unary(e.op, e.type);
      case "binary":
        return this.binary(e);
      case "select": {
        const t = stackType(e.type);
        // Branches that load or call are evaluated only when taken (a select would run both).
        if (hasLoad(e.onTrue) || hasLoad(e.onFalse)) {
          this.exprAs(e.cond, "bool");
          fb.if(
            () => this.exprAs(e.onTrue, e.type),
            () => this.exprAs(e.onFalse, e.type),
            t,
          );
        } else {
          this.exprAs(e.onTrue, e.type);
          this.exprAs(e.onFalse, e.type);
          this.exprAs(e.cond, "bool");
          fb.op("select");
        }
        return;
      }
      case "cast":
        return this.exprAs(e.arg, e.type);
      case "call":
        return this.call(e);
    }
  }

  /** The table's wasm cell (kernel_ops.ts). Like the JS target, results stay unrounded until bound (`bind`). */
  unary(op: UnaryOp, t: ScalarType): void {
    const cell = UNARY_OPS[op].wasm;
    if (this.inline && (op === "exp" || op === "sigmoid")) this.fb.call(this.inline[op]);
    else if (typeof cell === "function") cell(this, t);
    else if ("op" in cell) this.fb.op(cell.op);
    else this.fb.call(this.unaryImport(op));
  }

  helper(h: WasmHelper): number {
    return this.helpers[h];
  }

  unaryImport(op: UnaryOp): number {
    const index = this.imports.unary.get(op);
    if (index === undefined) throw new Error(`wasm emitter: unary op ${op} is not imported`);
    return index;
  }

  private readonly scratches = new Map<ValType, number>();
  /** A scratch local, used only within one operation (never across sub-expressions). */
  scratch(t: ValType): number {
    let i = this.scratches.get(t);
    if (i === undefined) this.scratches.set(t, (i = this.fb.local(t)));
    return i;
  }

  /** The table's wasm cell (kernel_ops_binary.ts) for the operand type on the stack. */
  private binary(e: Expr & { kind: "binary" }): void {
    const opType = BINARY_OPS[e.op].kind === "compare" ? exprType(e.lhs) : e.type;
    const operand = opType === "bool" && !["and", "or", "eq", "ne"].includes(e.op) ? "i32" : opType;
    this.exprAs(e.lhs, operand);
    this.exprAs(e.rhs, operand);
    this.applyBinary(e, operand);
  }

  /** `e`'s op on its two operands on the stack, converted to `operand` (also one lane of the vector loop's). */
  applyBinary(e: Expr & { kind: "binary" }, operand: ScalarType): void {
    const cells = BINARY_OPS[e.op].wasm;
    const step = isFloat(operand) ? cells.float : operand === "u32" ? cells.uint : cells.int;
    if (step === undefined) throw new Error(`wasm emitter: ${e.op} on ${operand} values`);
    if (typeof step === "function") step(this, e.rhs.kind === "const" ? e.rhs.value : null);
    else this.fb.op(step);
  }

  host(fn: "pow" | "fmod"): number {
    return this.imports.host[fn];
  }

  private call(e: Expr & { kind: "call" }): void {
    const fb = this.fb;
    switch (e.fn) {
      case "threefry2x32_0":
      case "threefry2x32_1":
        for (const a of e.args) this.exprAs(a, "u32");
        fb.i32(e.fn === "threefry2x32_0" ? 0 : 1).call(this.imports.host.threefry);
        return;
      case "bitsToUniform":
        this.exprAs(e.args[0]!, "u32");
        if (e.type === "f64") fb.op("f64.convert_i32_u").f64(2.3283064365386963e-10).op("f64.mul");
        else fb.i32(8).op("i32.shr_u").op("f64.convert_i32_u").f64(5.960464477539063e-8).op("f64.mul");
        return;
      case "opaque":
        return this.exprAs(e.args[0]!, e.type);
      case "isNan": {
        const x = this.scratch("f64");
        this.exprAs(e.args[0]!, "f64");
        fb.tee(x).get(x).op("f64.ne");
        return;
      }
    }
  }
}

/** Defines the integer helpers (JS-target edge cases: x / 0 = 0, INT_MIN / -1 wraps, ToInt32 casts). */
export function defineHelpers(m: ModuleBuilder, imports: Imports): Record<WasmHelper, number> {
  const ii: { params: ValType[]; results: ValType[] } = { params: ["i32", "i32"], results: ["i32"] };
  const out = {} as Record<WasmHelper, number>;
  const divLike = (op: Op, signed: boolean) =>
    m.func(ii, (f) => {
      // b == 0 ? 0 : (signed && b == -1 ? (op is div ? -a : 0) : a op b)
      f.get(1).op("i32.eqz");
      f.if(
        () => f.i32(0),
        () => {
          if (signed) {
            f.get(1).i32(-1).op("i32.eq");
            f.if(
              () => (op === "i32.div_s" ? f.i32(0).get(0).op("i32.sub") : f.i32(0)),
              () => f.get(0).get(1).op(op),
              "i32",
            );
          } else f.get(0).get(1).op(op);
        },
        "i32",
      );
    }).index;
  out.idiv = divLike("i32.div_s", true);
  out.irem = divLike("i32.rem_s", true);
  out.udiv = divLike("i32.div_u", false);
  out.urem = divLike("i32.rem_u", false);
  const pick = (cmp: Op) => m.func(ii, (f) => f.get(0).get(1).get(0).get(1).op(cmp).op("select")).index;
  out.imax = pick("i32.gt_s");
  out.imin = pick("i32.lt_s");
  out.umax = pick("i32.gt_u");
  out.umin = pick("i32.lt_u");
  out.iabs = m.func({ params: ["i32"], results: ["i32"] }, (f) =>
    f.get(0).i32(0).get(0).op("i32.sub").get(0).i32(0).op("i32.ge_s").op("select"),
  ).index;
  out.fsign = m.func({ params: ["f64"], results: ["f64"] }, (f) => {
    // x > 0 ? 1 : x < 0 ? -1 : 0 (NaN and -0 give 0)
    f.f64(1).f64(-1).f64(0).get(0).f64(0).op("f64.lt").op("select").get(0).f64(0).op("f64.gt").op("select");
  }).index;
  out.toInt32 = m.func({ params: ["f64"], results: ["i32"] }, (f) => {
    f.get(0).op("f64.abs").f64(2147483648).op("f64.lt");
    f.if(
      () => f.get(0).misc("i32.trunc_sat_f64_s"),
      () => f.get(0).call(imports.host.toInt32),
      "i32",
    );
  }).index;
  return out;
}

/** The module imports: memory, then every host function (HOST_IMPORTS order, then the unary ops' imports). */
export function importHost(m: ModuleBuilder, memory: WasmMemoryKind): Imports {
  m.importMemory({ module: "mf", name: "memory", initial: 0, maximum: MAX_PAGES, shared: memory.shared });
  const host = {} as Record<HostImportName, number>;
  for (const n of HOST_IMPORT_NAMES) host[n] = m.importFunc("mf", n, HOST_IMPORTS[n].type);
  const unary = new Map(UNARY_IMPORT_OPS.map((op) => [op, m.importFunc("mf", op, unaryImport(op).type)]));
  return { host, unary };
}

/**
 * The wasm module of a kernel (see the file comment for its interface).
 * @example const bytes = renderWasmKernel(kernel, { shared: true }); WebAssembly.validate(bytes) // true
 */
export function renderWasmKernel(
  kernel: Kernel,
  memory: WasmMemoryKind,
  /** Writes the function body (default: the scalar thread loop; vector_kernel.ts passes its vector loop). */
  write: (w: KernelWriter) => void = (w) => w.run(),
): Uint8Array<ArrayBuffer> {
  const ok = wasmRenderable(kernel);
  if (ok !== true) throw new Error(`wasm emitter: kernel ${kernel.name} cannot be rendered: ${ok}`);
  const m = new ModuleBuilder();
  const imports = importHost(m, memory);
  const helpers = defineHelpers(m, imports);
  const params: ValType[] = [...kernel.params.map(() => "i32" as const), ...kernel.sizes.map(() => "i32" as const)];
  params.push("i32", "i32", "i32"); // numGroups, first, last
  const { index, body } = m.func({ params, results: [] });
  write(new KernelWriter(kernel, body, imports, helpers));
  m.export("kernel", index);
  return m.encode();
}
