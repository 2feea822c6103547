/**
 * The WGSL emitter: renders one kernel-IR `Kernel` as a WebGPU compute shader.
 *
 * Everything WGSL-specific lives here as tables (scalar types, unary and binary
 * ops) plus a few hooks: storage-buffer declarations (`@group(0) @binding(i)`,
 * bool stored as u32, atomics as `atomic<i32>`), a uniform struct of i32 sizes,
 * the 1-D thread builtins unfolded from the runtime's 2-D/3-D launch, shared
 * arrays as `var<workgroup>`, and prelude helpers (see `wgsl_prelude.ts`).
 *
 * Binding layout (the runtime and `wgslLayout` agree on it): each param in
 * order takes one binding (or `chunks` consecutive bindings when it is split,
 * see `WgslSplit`), then one uniform buffer `mf_sizes` of i32 fields:
 * `mf_groups` (the kernel's 1-D workgroup count) followed by `kernel.sizes`.
 */
import type { BinaryOp, Expr, Kernel, KernelParam, ScalarType, Stmt, UnaryOp } from "../kernel_ir";
import { registerEmitter } from "./emitter";
import { wgslIdent } from "./wgsl_names";
import { wgslIsNan, wgslPrelude, type WgslHelper } from "./wgsl_prelude";

/**
 * A param stored as several bindings: element `i` lives in chunk
 * `floor(i / chunkElements)`. The runtime splits buffers larger than the
 * device's `maxStorageBufferBindingSize` this way, so any access pattern
 * (gathers, scatters, atomics) still works; the emitter routes every access
 * through a small accessor function.
 */
export interface WgslSplit {
  readonly chunks: number;
  readonly chunkElements: number;
}

export interface WgslEmitOptions {
  /** Params (by kernel param name) bound as several chunks. */
  readonly splits?: Readonly<Record<string, WgslSplit>>;
}

/** Where each param and the size uniform are bound (group 0). */
export interface WgslLayout {
  /** For each kernel param in order: its binding indices (one per chunk). */
  readonly params: readonly { readonly name: string; readonly bindings: readonly number[] }[];
  readonly uniformBinding: number;
  /** The uniform's i32 fields in order: "mf_groups" (1-D workgroup count), then the kernel's sizes. */
  readonly uniformFields: readonly string[];
}

/** A kernel the WGSL target cannot express (f64, unknown names, ...). */
export class WgslEmitError extends Error {
  override name = "WgslEmitError";
}

/**
 * The binding layout of `kernel` as emitted with `options`.
 * @example wgslLayout(k).uniformBinding === k.params.length // when nothing is split
 */
export function wgslLayout(kernel: Kernel, options: WgslEmitOptions = {}): WgslLayout {
  let next = 0;
  const params = kernel.params.map((p) => {
    const n = options.splits?.[p.name]?.chunks ?? 1;
    const bindings = Array.from({ length: n }, () => next++);
    return { name: p.name, bindings };
  });
  return { params, uniformBinding: next, uniformFields: ["mf_groups", ...kernel.sizes] };
}

/**
 * Renders `kernel` as a WGSL compute shader (entry point `main`).
 * Throws `WgslEmitError` naming the kernel when it uses something WGSL lacks (f64).
 * @example
 * const src = emitWgsl(kernel);                 // readable WGSL with the Program's names in comments
 * device.createShaderModule({ code: src });
 */
export function emitWgsl(kernel: Kernel, options: WgslEmitOptions = {}): string {
  return new WgslKernelWriter(kernel, options).write();
}

registerEmitter({
  target: "wgsl",
  // f16 needs the device's "shader-f16" feature: the webgpu backend checks that when it creates the pipeline.
  supports: (type) =>
    type === "f64" ? "WGSL has no 64-bit floats (run f64 programs on the cpu or interp backend)" : true,
  render: (kernel) => emitWgsl(kernel),
});

// ---------------------------------------------------------------- tables

/** Scalar types in registers and workgroup memory. */
const VALUE_TYPE: Readonly<Record<ScalarType, string | null>> = {
  f32: "f32",
  f16: "f16",
  i32: "i32",
  u32: "u32",
  bool: "bool",
  f64: null,
};

/** Element types in storage buffers: bool is not host-shareable, so it is stored as u32 (0 or 1). */
const STORAGE_TYPE: Readonly<Record<ScalarType, string | null>> = {
  f32: "f32",
  f16: "f16",
  i32: "i32",
  u32: "u32",
  bool: "u32",
  f64: null,
};

type Render = (x: string, t: ScalarType, w: WgslKernelWriter) => string;

const UNARY: Readonly<Record<UnaryOp, Render>> = {
  neg: (x, t) => (t === "u32" ? `(0u - ${x})` : `(-${x})`),
  exp: (x, t, w) => `${w.helper(t === "f16" ? "exp_f16" : "exp_f32")}(${x})`,
  log: (x, t, w) => `${w.helper(t === "f16" ? "log_f16" : "log_f32")}(${x})`,
  log1p: (x, t, w) => `${w.helper(t === "f16" ? "log1p_f16" : "log1p_f32")}(${x})`,
  sqrt: (x) => `sqrt(${x})`,
  rsqrt: (x) => `inverseSqrt(${x})`,
  tanh: (x, t, w) => `${w.helper(t === "f16" ? "tanh_f16" : "tanh_f32")}(${x})`,
  sigmoid: (x, t, w) => `${w.helper(t === "f16" ? "sigmoid_f16" : "sigmoid_f32")}(${x})`,
  abs: (x) => `abs(${x})`,
  sign: (x) => `sign(${x})`,
  // WGSL's sin/cos are only accurate to 2^-11 absolute: use the prelude's f32-accurate ones.
  sin: (x, t, w) => (t === "f16" ? `f16(${w.helper("sin")}(f32(${x})))` : `${w.helper("sin")}(${x})`),
  cos: (x, t, w) => (t === "f16" ? `f16(${w.helper("cos")}(f32(${x})))` : `${w.helper("cos")}(${x})`),
  not: (x) => `(!${x})`,
  bitNot: (x) => `(~${x})`,
};

const INFIX: Partial<Readonly<Record<BinaryOp, string>>> = {
  add: "+",
  sub: "-",
  mul: "*",
  rem: "%",
  eq: "==",
  ne: "!=",
  lt: "<",
  le: "<=",
  gt: ">",
  ge: ">=",
  and: "&&",
  or: "||",
  bitAnd: "&",
  bitOr: "|",
  bitXor: "^",
  shl: "<<",
  shr: ">>",
};

const COMPARISONS: ReadonlySet<BinaryOp> = new Set(["eq", "ne", "lt", "le", "gt", "ge"]);
const isFloatType = (t: ScalarType) => t === "f32" || t === "f16" || t === "f64";

/** Renders an f32 constant: the shortest decimal that rounds back to it, or a bit pattern for inf/NaN. */
function floatLiteral(value: number, type: "f32" | "f16", w: WgslKernelWriter): string {
  const f = Math.fround(value);
  const max = type === "f16" ? 65504 : 3.4028234663852886e38;
  if (!Number.isFinite(f) || Math.abs(f) > max) {
    const bits = Number.isNaN(f) ? "0x7fc00000u" : f > 0 ? "0x7f800000u" : "0xff800000u";
    const x = `${w.helper("f32_bits")}(${bits})`;
    return type === "f16" ? `f16(${x})` : x;
  }
  const abs = Math.abs(f);
  let text = String(abs);
  for (let p = 1; p <= 9; p++) {
    const s = String(Number(abs.toPrecision(p)));
    if (Math.fround(Number(s)) === abs && Number(s) <= max) {
      text = s;
      break;
    }
  }
  if (!/[.e]/.test(text)) text += ".0";
  const lit = text + (type === "f16" ? "h" : "f");
  return f < 0 || Object.is(f, -0) ? `(-${lit})` : lit;
}

// ---------------------------------------------------------------- the writer

interface ParamInfo {
  readonly param: KernelParam;
  readonly id: string;
  readonly split?: WgslSplit;
}

class WgslKernelWriter {
  private readonly helpers = new Set<WgslHelper>();
  private readonly params = new Map<string, ParamInfo>();
  private readonly shared = new Map<string, { id: string; type: ScalarType }>();
  private readonly sizes = new Map<string, string>();
  /** Declared local variables (name -> type), innermost scope last. */
  private readonly scopes: Map<string, ScalarType>[] = [];
  private usesF16 = false;
  private readonly accessors: string[] = [];

  constructor(
    private readonly kernel: Kernel,
    private readonly options: WgslEmitOptions,
  ) {
    const taken = new Map<string, string>();
    const claim = (name: string, what: string) => {
      const id = wgslIdent(name);
      const prev = taken.get(id);
      if (prev !== undefined)
        throw this.error(`${what} "${name}" and ${prev} both map to the WGSL name "${id}"; rename one`);
      taken.set(id, `${what} "${name}"`);
      return id;
    };
    for (const p of kernel.params) {
      const split = options.splits?.[p.name];
      if (split && (split.chunks < 1 || split.chunkElements < 1))
        throw this.error(`split of buffer "${p.name}" needs chunks >= 1 and chunkElements >= 1`);
      this.params.set(p.name, { param: p, id: claim(p.name, "buffer"), split });
    }
    for (const s of kernel.shared) this.shared.set(s.name, { id: claim(s.name, "shared array"), type: s.type });
    for (const s of kernel.sizes) this.sizes.set(s, wgslIdent(s));
    for (const name of Object.keys(options.splits ?? {})) {
      if (!this.params.has(name))
        throw this.error(`a split is given for "${name}", which is not a param of this kernel`);
    }
  }

  private error(msg: string): WgslEmitError {
    const what = this.kernel.comment ? ` (${this.kernel.comment})` : "";
    return new WgslEmitError(`wgsl: kernel "${this.kernel.name}"${what}: ${msg}`);
  }

  helper(h: WgslHelper): string {
    this.helpers.add(h);
    return `mf_${h}`;
  }

  private valueType(t: ScalarType): string {
    if (t === "f16") this.usesF16 = true;
    const s = VALUE_TYPE[t];
    if (s === null) {
      throw this.error(
        `uses ${t}, which WGSL does not have; run f64 programs on the "cpu" or "interp" backend, or cast to f32 first`,
      );
    }
    return s;
  }

  private storageType(p: KernelParam): string {
    const base = STORAGE_TYPE[p.type];
    if (base === null) this.valueType(p.type); // throws the f64 error
    if (p.type === "f16") this.usesF16 = true;
    if (p.atomic) {
      if (p.type !== "i32" && p.type !== "u32")
        throw this.error(`atomic buffer "${p.name}" has type ${p.type}; WGSL atomics are i32 or u32`);
      return `atomic<${base}>`;
    }
    return base!;
  }

  write(): string {
    const k = this.kernel;
    if (!Number.isInteger(k.workgroupSize) || k.workgroupSize < 1)
      throw this.error(`workgroup size ${k.workgroupSize} must be a positive integer`);
    const body = this.block(k.body, 1);
    const layout = wgslLayout(k, this.options);
    const decls: string[] = [];
    const bindingDocs: string[] = [];
    for (const [i, p] of k.params.entries()) {
      const info = this.params.get(p.name)!;
      const access = p.access === "read" ? "read" : "read_write";
      const elem = this.storageType(p);
      const bindings = layout.params[i]!.bindings;
      const ids = info.split ? bindings.map((_, c) => `${info.id}_${c}`) : [info.id];
      ids.forEach((id, c) =>
        decls.push(`@group(0) @binding(${bindings[c]}) var<storage, ${access}> ${id}: array<${elem}>;`),
      );
      const splitDoc = info.split ? `, ${info.split.chunks} chunks of ${info.split.chunkElements}` : "";
      bindingDocs.push(
        `${bindings.join(",")} = ${p.name} (${p.type}${p.atomic ? " atomic" : ""}, ${access}${splitDoc})`,
      );
    }
    const fields = [...this.sizes.values()].map((id) => `  ${id}: i32,`);
    decls.push(`struct MfSizes {\n  mf_groups: i32,\n${fields.join("\n")}${fields.length ? "\n" : ""}}`);
    decls.push(`@group(0) @binding(${layout.uniformBinding}) var<uniform> mf_sizes: MfSizes;`);
    bindingDocs.push(`${layout.uniformBinding} = mf_sizes (uniform i32: ${layout.uniformFields.join(", ")})`);
    for (const s of k.shared) {
      if (!Number.isInteger(s.length) || s.length < 1)
        throw this.error(`shared array "${s.name}" has length ${s.length}; expected a positive integer`);
      decls.push(`var<workgroup> ${this.shared.get(s.name)!.id}: array<${this.valueType(s.type)}, ${s.length}>;`);
    }
    const prelude = wgslPrelude(this.helpers);
    const header = [
      `// moeforge kernel "${k.name}"${k.comment ? ":" : ""}`,
      ...(k.comment ? k.comment.split("\n").map((line) => `//   ${line}`) : []),
      `// bindings (group 0): ${bindingDocs.join("; ")}`,
      `// launch: a 1-D count of workgroups, folded by the runtime into x/y/z; extra folded groups exit at once`,
    ];
    const main = [
      `@compute @workgroup_size(${k.workgroupSize})`,
      `fn main(@builtin(workgroup_id) mf_wid: vec3<u32>, @builtin(num_workgroups) mf_nwg: vec3<u32>, @builtin(local_invocation_index) mf_lid: u32) {`,
      `  // unfold the launch grid into the kernel's 1-D workgroup index (uniform across the workgroup, so barriers stay valid)`,
      `  let mf_group = i32(mf_wid.x + mf_nwg.x * (mf_wid.y + mf_nwg.y * mf_wid.z));`,
      `  if (mf_group >= mf_sizes.mf_groups) { return; }`,
      `  let mf_local = i32(mf_lid);`,
      `  let mf_global = mf_group * ${k.workgroupSize} + mf_local;`,
      `  let mf_num_groups = mf_sizes.mf_groups;`,
      body,
      `}`,
    ];
    return [
      ...header,
      ...(this.usesF16 ? ["enable f16;"] : []),
      "",
      decls.join("\n"),
      ...(prelude ? ["", prelude] : []),
      ...(this.accessors.length ? ["", this.accessors.join("\n\n")] : []),
      "",
      main.join("\n"),
      "",
    ].join("\n");
  }

  // ---------------------------------------------------------------- statements

  private block(stmts: readonly Stmt[], depth: number): string {
    this.scopes.push(new Map());
    const lines = stmts.map((s) => this.stmt(s, depth));
    this.scopes.pop();
    return lines.join("\n");
  }

  private declare(name: string, type: ScalarType): void {
    this.scopes[this.scopes.length - 1]!.set(name, type);
  }

  private typeOfVar(name: string): ScalarType {
    for (let i = this.scopes.length - 1; i >= 0; i--) {
      const t = this.scopes[i]!.get(name);
      if (t !== undefined) return t;
    }
    throw this.error(`assigns to "${name}", which is not declared (declare it with a mutable let first)`);
  }

  private stmt(s: Stmt, depth: number): string {
    const pad = "  ".repeat(depth);
    switch (s.kind) {
      case "let": {
        const init = this.expr(s.init, s.type);
        const t = this.valueType(s.type);
        this.declare(s.name, s.type);
        return `${pad}${s.mutable ? "var" : "let"} ${wgslIdent(s.name)}: ${t} = ${init};`;
      }
      case "assign":
        return `${pad}${wgslIdent(s.name)} = ${this.expr(s.value, this.typeOfVar(s.name))};`;
      case "store": {
        const p = this.param(s.buffer);
        if (p.param.access === "read") throw this.error(`stores to "${s.buffer}", which is declared read-only`);
        const index = this.index(s.index, p);
        const raw = this.expr(s.value, p.param.type);
        const value = p.param.type === "bool" ? `select(0u, 1u, ${raw})` : raw;
        if (p.split) return `${pad}${this.accessor(p, "store")}(${index}, ${value});`;
        if (p.param.atomic) return `${pad}atomicStore(&${p.id}[${index}], ${value});`;
        return `${pad}${p.id}[${index}] = ${value};`;
      }
      case "sharedStore": {
        const a = this.sharedArray(s.array);
        return `${pad}${a.id}[${this.index(s.index)}] = ${this.expr(s.value, a.type)};`;
      }
      case "atomicAdd": {
        const p = this.param(s.buffer);
        if (!p.param.atomic) throw this.error(`atomicAdd on "${s.buffer}", which is not declared atomic`);
        const index = this.index(s.index, p);
        const value = this.expr(s.value, p.param.type);
        if (p.split) return `${pad}${this.accessor(p, "atomicAdd")}(${index}, ${value});`;
        return `${pad}atomicAdd(&${p.id}[${index}], ${value});`;
      }
      case "if": {
        const head = `${pad}if (${this.expr(s.cond, "bool")}) {\n${this.block(s.then, depth + 1)}\n${pad}}`;
        return s.else?.length ? `${head} else {\n${this.block(s.else, depth + 1)}\n${pad}}` : head;
      }
      case "for": {
        const v = wgslIdent(s.var);
        const start = this.expr(s.start, "i32");
        const end = this.expr(s.end, "i32");
        const step = s.step ? this.expr(s.step, "i32") : "1";
        this.scopes.push(new Map([[s.var, "i32"]]));
        const body = this.block(s.body, depth + 1);
        this.scopes.pop();
        return `${pad}for (var ${v}: i32 = ${start}; ${v} < ${end}; ${v} += ${step}) {\n${body}\n${pad}}`;
      }
      case "barrier":
        return `${pad}workgroupBarrier();`;
      case "return":
        return `${pad}return;`;
      case "comment":
        return `${pad}// ${oneLine(s.text)}`;
    }
  }

  // ---------------------------------------------------------------- expressions

  private param(name: string): ParamInfo {
    const p = this.params.get(name);
    if (!p)
      throw this.error(
        `accesses buffer "${name}", which is not a param (params: ${[...this.params.keys()].join(", ") || "none"})`,
      );
    return p;
  }

  private sharedArray(name: string): { id: string; type: ScalarType } {
    const a = this.shared.get(name);
    if (!a) throw this.error(`accesses shared array "${name}", which is not declared`);
    return a;
  }

  /**
   * The WGSL type an expression has as rendered: the IR type, except that the
   * size uniforms and the unfolded thread builtins are declared as i32 here.
   */
  private typeOf(e: Expr): ScalarType {
    return e.kind === "size" || e.kind === "builtin" ? "i32" : e.type;
  }

  /** Renders `e`, converting it to `want` when its own type differs. */
  private expr(e: Expr, want?: ScalarType): string {
    const s = this.raw(e);
    return this.convert(s, this.typeOf(e), want);
  }

  private convert(s: string, t: ScalarType, want?: ScalarType): string {
    if (want === undefined || want === t) return s;
    return `${this.valueType(want)}(${s})`;
  }

  /**
   * Renders the operands of an operation; when they are all literals, the first
   * goes through an identity function so the operation is not a WGSL
   * const-expression (whose overflow would be a compile error).
   */
  private operands(args: readonly { e: Expr; want?: ScalarType }[]): string[] {
    const out = args.map(({ e, want }) => this.expr(e, want));
    if (args.every(({ e }) => e.kind === "const")) {
      const { e, want } = args[0]!;
      const t = want ?? this.typeOf(e);
      if (t !== "f64") out[0] = `${this.helper(`rt_${t}` as const)}(${out[0]})`;
    }
    return out;
  }

  /** Renders an index (i32 or u32; i32 when it goes to a split buffer's accessor). */
  private index(e: Expr, into?: ParamInfo): string {
    const t = this.typeOf(e);
    if (t !== "i32" && t !== "u32") throw this.error(`an index has type ${t}; indices must be i32 or u32`);
    return this.expr(e, into?.split ? "i32" : undefined);
  }

  private raw(e: Expr): string {
    switch (e.kind) {
      case "const":
        return this.constant(e.value, e.type);
      case "var":
        return wgslIdent(e.name);
      case "size": {
        const id = this.sizes.get(e.name);
        if (!id)
          throw this.error(
            `reads size "${e.name}", which is not in its sizes (${this.kernel.sizes.join(", ") || "none"})`,
          );
        return `mf_sizes.${id}`;
      }
      case "builtin":
        return {
          globalLinear: "mf_global",
          groupLinear: "mf_group",
          localLinear: "mf_local",
          numGroupsLinear: "mf_num_groups",
        }[e.name];
      case "load": {
        const p = this.param(e.buffer);
        const index = this.index(e.index, p);
        const raw = p.split
          ? `${this.accessor(p, "load")}(${index})`
          : p.param.atomic
            ? `atomicLoad(&${p.id}[${index}])`
            : `${p.id}[${index}]`;
        const value = p.param.type === "bool" ? `(${raw} != 0u)` : raw;
        return e.type === p.param.type ? value : `${this.valueType(e.type)}(${value})`;
      }
      case "sharedLoad": {
        const a = this.sharedArray(e.array);
        const value = `${a.id}[${this.index(e.index)}]`;
        return e.type === a.type ? value : `${this.valueType(e.type)}(${value})`;
      }
      case "unary": {
        this.valueType(e.type);
        return UNARY[e.op](this.operands([{ e: e.arg, want: e.type }])[0]!, e.type, this);
      }
      case "binary":
        return this.binary(e.op, e.lhs, e.rhs, e.type);
      case "select": {
        const [f, t, cond] = this.operands([
          { e: e.onFalse, want: e.type },
          { e: e.onTrue, want: e.type },
          { e: e.cond, want: "bool" },
        ]);
        return `select(${f}, ${t}, ${cond})`;
      }
      case "cast":
        return e.arg.kind === "const" && e.arg.type !== e.type
          ? this.convert(this.operands([{ e: e.arg }])[0]!, e.arg.type, e.type)
          : this.expr(e.arg, e.type);
      case "call":
        return this.call(e.fn, e.args, e.type);
    }
  }

  private constant(value: number, type: ScalarType): string {
    switch (type) {
      case "bool":
        return value ? "true" : "false";
      case "i32": {
        const v = value | 0;
        if (v === -2147483648) return "i32(-2147483647 - 1)";
        return v < 0 ? `(${v}i)` : `${v}i`;
      }
      case "u32":
        return `${value >>> 0}u`;
      case "f32":
      case "f16":
        this.valueType(type);
        return floatLiteral(value, type, this);
      case "f64":
        return this.valueType(type);
    }
  }

  private binary(op: BinaryOp, lhs: Expr, rhs: Expr, type: ScalarType): string {
    this.valueType(type);
    const operandType = op === "and" || op === "or" ? "bool" : COMPARISONS.has(op) ? this.operandType(lhs, rhs) : type;
    const rhsType = op === "shl" || op === "shr" ? "u32" : operandType;
    const [a, b] = this.operands([
      { e: lhs, want: operandType },
      { e: rhs, want: rhsType },
    ]);
    switch (op) {
      case "div":
        // Integer division by zero is 0 (the interpreter's rule); a nonzero literal divisor needs no check.
        if ((type === "i32" || type === "u32") && !(rhs.kind === "const" && rhs.value !== 0)) {
          return `${this.helper(type === "i32" ? "div_i32" : "div_u32")}(${a}, ${b})`;
        }
        return `(${a} / ${b})`;
      case "max":
      case "min":
        if (type === "f32" || type === "f16") return `${this.helper(`${op}_${type}`)}(${a}, ${b})`;
        return `${op}(${a}, ${b})`;
      case "ne":
        if (operandType === "f32" || operandType === "f16") return `${this.helper(`ne_${operandType}`)}(${a}, ${b})`;
        return `(${a} != ${b})`;
      case "pow":
        if (isFloatType(type)) return `${this.helper(type === "f16" ? "pow_f16" : "pow_f32")}(${a}, ${b})`;
        return `${this.valueType(type)}(${this.helper("pow_f32")}(f32(${a}), f32(${b})))`;
      default:
        return `(${a} ${INFIX[op]!} ${b})`;
    }
  }

  /** The type both sides of a comparison are converted to: a float side wins, then an explicitly typed side. */
  private operandType(lhs: Expr, rhs: Expr): ScalarType {
    const a = this.typeOf(lhs);
    const b = this.typeOf(rhs);
    if (a === b) return a;
    if (isFloatType(a) !== isFloatType(b)) return isFloatType(a) ? a : b;
    const untyped = (e: Expr) => e.kind === "size" || e.kind === "builtin";
    return untyped(lhs) ? b : a;
  }

  private call(fn: string, args: readonly Expr[], type: ScalarType): string {
    const arity = fn === "bitsToUniform" || fn === "isNan" ? 1 : 4;
    if (args.length !== arity) throw this.error(`intrinsic ${fn} takes ${arity} arguments, got ${args.length}`);
    if (fn === "isNan") {
      const t = this.typeOf(args[0]!);
      if (t !== "f32" && t !== "f16") throw this.error(`isNan of ${t} (a float expected)`);
      return wgslIsNan(this.expr(args[0]!), t);
    }
    const xs = args.map((a) => this.expr(a, "u32"));
    switch (fn) {
      case "threefry2x32_0":
      case "threefry2x32_1": {
        const word = `${this.helper("threefry2x32")}(${xs.join(", ")}).${fn.endsWith("0") ? "x" : "y"}`;
        return type === "u32" ? word : `${this.valueType(type)}(${word})`;
      }
      case "bitsToUniform": {
        const u = `${this.helper("bits_to_uniform")}(${xs[0]})`;
        return type === "f32" ? u : `${this.valueType(type)}(${u})`;
      }
      default:
        throw this.error(`unknown intrinsic "${fn}"`);
    }
  }

  /** The accessor function of a split param (emitted once per param and kind). */
  private accessor(p: ParamInfo, kind: "load" | "store" | "atomicAdd"): string {
    const name = `mf_${kind === "atomicAdd" ? "atomic_add" : kind}_${p.id}`;
    if (this.accessors.some((a) => a.includes(`fn ${name}(`))) return name;
    const { chunks, chunkElements } = p.split!;
    const elem = STORAGE_TYPE[p.param.type]!;
    const cases = Array.from({ length: chunks }, (_, c) => {
      const ref = `${p.id}_${c}[r]`;
      const action =
        kind === "load"
          ? p.param.atomic
            ? `return atomicLoad(&${ref});`
            : `return ${ref};`
          : kind === "store"
            ? p.param.atomic
              ? `atomicStore(&${ref}, v);`
              : `${ref} = v;`
            : `atomicAdd(&${ref}, v);`;
      return `    ${c === chunks - 1 ? "default" : `case ${c}`}: { ${action} }`;
    });
    const sig = kind === "load" ? `(i: i32) -> ${elem}` : `(i: i32, v: ${elem})`;
    this.accessors.push(
      [
        `// ${p.param.name} is bound as ${chunks} chunks of ${chunkElements} elements (over the device's binding size limit)`,
        `fn ${name}${sig} {`,
        `  let c = i / ${chunkElements};`,
        `  let r = i - c * ${chunkElements};`,
        `  switch c {`,
        ...cases,
        `  }`,
        `}`,
      ].join("\n"),
    );
    return name;
  }
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, " / ");
}
