/**
 * The WGSL renderer: one kernel-IR `Kernel` as a WebGPU compute shader.
 *
 * The statement skeleton, identifiers and literals come from the shared
 * C-style writer (`c_style.ts`); WGSL's fix-ups run first as kernel-IR
 * rewrites (`wgsl_rewrites.ts`); unary ops are spelled by the op table
 * (`kernel_ops.ts`); what is left here is WGSL syntax as tables (types,
 * builtins) and hooks: storage-buffer declarations
 * (`@group(0) @binding(i)`, atomics as `atomic<T>`, split buffers through
 * accessors: `wgsl_layout.ts`), a uniform struct of i32 sizes, the 1-D thread
 * builtins unfolded from the runtime's 2-D/3-D launch, shared arrays as
 * `var<workgroup>`, and prelude helpers (`wgsl_prelude.ts`) where WGSL's
 * builtins differ from the interpreter.
 */
import { type BinaryOp, type Builtin, type Expr, type Kernel, type ScalarType } from "../kernel_ir";
import { UNARY_OPS, type HelperSource, type WgslOpContext } from "../kernel_ops";
import { BINARY_OPS } from "../kernel_ops_binary";
import {
  CStyleWriter,
  claimNames,
  floatLiteral,
  i32Literal,
  usesType,
  type FloatSpelling,
  type StmtOf,
} from "./c_style";
import { prepareKernel } from "./prepare";
import { registerEmitter } from "./emitter";
import {
  accessorName,
  accessorSource,
  splitProblem,
  wgslLayout,
  type AccessKind,
  type WgslEmitOptions,
  type WgslSplit,
} from "./wgsl_layout";
import { WGSL_RESERVED } from "./wgsl_names";
import { WGSL_REWRITES } from "./wgsl_rewrites";
import { wgslIsNan, wgslPrelude, type WgslHelper } from "./wgsl_prelude";

export { wgslLayout, type WgslEmitOptions, type WgslLayout, type WgslSplit } from "./wgsl_layout";

/** A kernel the WGSL target cannot express (f64, colliding names, bad splits). */
export class WgslEmitError extends Error {
  override name = "WgslEmitError";
}

/**
 * Renders `kernel` as a WGSL compute shader (entry point `main`).
 * Throws `WgslEmitError` naming the kernel when it uses something WGSL lacks (f64).
 * @example
 * const src = emitWgsl(kernel);                 // readable WGSL with the Program's names in comments
 * device.createShaderModule({ code: src });
 */
export function emitWgsl(kernel: Kernel, options: WgslEmitOptions = {}): string {
  const fail = (why: string) =>
    new WgslEmitError(`wgsl: kernel "${kernel.name}"${kernel.comment ? ` (${kernel.comment})` : ""}: ${why}`);
  if (usesType(kernel, "f64"))
    throw fail(
      `uses f64, which WGSL does not have; run f64 programs on the "cpu" or "interp" backend, or cast to f32 first`,
    );
  const problem = splitProblem(kernel, options);
  if (problem) throw fail(problem);
  const docs = kernel.params.map((p) => `${p.name} (${p.type}${p.atomic ? " atomic" : ""}`);
  return new WgslWriter(prepareKernel(kernel, WGSL_REWRITES), options, fail).render(docs);
}

registerEmitter({
  target: "wgsl",
  // f16 needs the device's "shader-f16" feature: the webgpu backend checks that when it creates the pipeline.
  supports: (type) =>
    type === "f64" ? "WGSL has no 64-bit floats (run f64 programs on the cpu or interp backend)" : true,
  render: (kernel) => emitWgsl(kernel),
});

// ---------------------------------------------------------------- tables

type Wgsl = Exclude<ScalarType, "f64">;

/** The registers the kernel prologue defines for the thread builtins (all i32). */
const BUILTINS: Readonly<Record<Builtin, string>> = {
  globalLinear: "mf_global",
  groupLinear: "mf_group",
  localLinear: "mf_local",
  numGroupsLinear: "mf_num_groups",
};

const isFloat = (t: ScalarType): t is "f32" | "f16" => t === "f32" || t === "f16";

/** Non-finite values from their f32 bits at run time (WGSL rejects them as constants). */
const spelling = (type: "f32" | "f16", w: WgslWriter): FloatSpelling => ({
  suffix: type === "f16" ? "h" : "f",
  max: type === "f16" ? 65504 : 3.4028234663852886e38,
  nonFinite: (value) => {
    const bits = Number.isNaN(value) ? "0x7fc00000u" : value > 0 ? "0x7f800000u" : "0xff800000u";
    const x = `${w.helper("f32_bits")}(${bits})`;
    return type === "f16" ? `f16(${x})` : x;
  },
});

// ---------------------------------------------------------------- the writer

class WgslWriter extends CStyleWriter implements WgslOpContext {
  readonly language = "WGSL";
  protected readonly barrier = "workgroupBarrier()";
  protected readonly earlyReturn = "return";
  private readonly helpers = new Set<WgslHelper>();
  private readonly accessors = new Map<string, string>();
  /** Buffer and shared-array identifiers, by IR name. */
  private readonly ids: ReadonlyMap<string, string>;
  private readonly params: ReadonlyMap<string, Kernel["params"][number]>;

  constructor(
    private readonly kernel: Kernel,
    private readonly options: WgslEmitOptions,
    fail: (why: string) => Error,
  ) {
    super(WGSL_RESERVED);
    const declared = [
      ...kernel.params.map((p) => ({ name: p.name, what: "buffer" })),
      ...kernel.shared.map((s) => ({ name: s.name, what: "shared array" })),
    ];
    this.ids = claimNames(declared, this, fail);
    this.params = new Map(kernel.params.map((p) => [p.name, p]));
  }

  helper(h: WgslHelper): string {
    this.helpers.add(h);
    return `mf_${h}`;
  }

  /** Helpers the op table's cells define (after the prelude's). */
  private readonly cellHelpers = new Map<string, string>();
  fn(f: HelperSource): string {
    this.cellHelpers.set(f.name, f.source);
    return f.name;
  }

  /** The shader; `docs` describe each param as the caller's kernel declares it (before the rewrites). */
  render(docs: readonly string[]): string {
    const k = this.kernel;
    const body = this.lines(k.body, 1).join("\n");
    const layout = wgslLayout(k, this.options);
    const decls: string[] = [];
    const bindingDocs: string[] = [];
    for (const [i, p] of k.params.entries()) {
      const access = p.access === "read" ? "read" : "read_write";
      const elem = p.atomic ? `atomic<${p.type}>` : p.type;
      const bindings = layout.params[i]!.bindings;
      const split = this.split(p.name);
      const id = this.ids.get(p.name)!;
      const ids = split ? bindings.map((_, c) => `${id}_${c}`) : [id];
      ids.forEach((name, c) =>
        decls.push(`@group(0) @binding(${bindings[c]}) var<storage, ${access}> ${name}: array<${elem}>;`),
      );
      const splitDoc = split ? `, ${split.chunks} chunks of ${split.chunkElements}` : "";
      bindingDocs.push(`${bindings.join(",")} = ${docs[i]}, ${access}${splitDoc})`);
    }
    const fields = k.sizes.map((s) => `  ${this.ident(s)}: i32,`);
    decls.push(`struct MfSizes {\n  mf_groups: i32,\n${fields.join("\n")}${fields.length ? "\n" : ""}}`);
    decls.push(`@group(0) @binding(${layout.uniformBinding}) var<uniform> mf_sizes: MfSizes;`);
    bindingDocs.push(`${layout.uniformBinding} = mf_sizes (uniform i32: ${layout.uniformFields.join(", ")})`);
    for (const s of k.shared) decls.push(`var<workgroup> ${this.ids.get(s.name)}: array<${s.type}, ${s.length}>;`);
    const prelude = [wgslPrelude(this.helpers), ...this.cellHelpers.values()].filter((x) => x).join("\n\n");
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
      ...(usesType(k, "f16") ? ["enable f16;"] : []),
      "",
      decls.join("\n"),
      ...(prelude ? ["", prelude] : []),
      ...(this.accessors.size ? ["", [...this.accessors.values()].join("\n\n")] : []),
      "",
      main.join("\n"),
      "",
    ].join("\n");
  }

  // ---------------------------------------------------------------- statement hooks

  protected condition(e: Expr): string {
    return this.expr(e, "bool");
  }

  protected declare(s: StmtOf<"let">): string {
    return `${s.mutable ? "var" : "let"} ${this.ident(s.name)}: ${s.type} = ${this.expr(s.init, s.type)}`;
  }

  protected assign(s: StmtOf<"assign">): string {
    return `${this.ident(s.name)} = ${this.expr(s.value, s.value.type)}`;
  }

  protected bufferWrite(s: StmtOf<"store" | "sharedStore" | "atomicAdd">): string {
    if (s.kind === "sharedStore") {
      const a = this.kernel.shared.find((x) => x.name === s.array)!;
      return `${this.ids.get(s.array)}[${this.expr(s.index)}] = ${this.expr(s.value, a.type)}`;
    }
    const p = this.params.get(s.buffer)!;
    const index = this.index(s.index, s.buffer);
    const value = this.expr(s.value, p.type);
    if (this.split(s.buffer)) return `${this.accessor(s.buffer, s.kind)}(${index}, ${value})`;
    const ref = `${this.ids.get(s.buffer)}[${index}]`;
    if (s.kind === "atomicAdd") return `atomicAdd(&${ref}, ${value})`;
    return p.atomic ? `atomicStore(&${ref}, ${value})` : `${ref} = ${value}`;
  }

  protected loopHeader(s: StmtOf<"for">): string {
    const v = this.ident(s.var);
    const step = s.step ? this.expr(s.step, "i32") : "1";
    return `var ${v}: i32 = ${this.expr(s.start, "i32")}; ${v} < ${this.expr(s.end, "i32")}; ${v} += ${step}`;
  }

  // ---------------------------------------------------------------- expressions

  /** The WGSL type an expression has as rendered: the IR type, except that sizes and thread builtins are i32 here. */
  private typeOf(e: Expr): Wgsl {
    return (e.kind === "size" || e.kind === "builtin" ? "i32" : e.type) as Wgsl;
  }

  /** Renders `e`, converting it to `want` when its own type differs. */
  private expr(e: Expr, want?: ScalarType): string {
    return this.convert(this.raw(e), this.typeOf(e), want);
  }

  private convert(s: string, t: ScalarType, want?: ScalarType): string {
    return want === undefined || want === t ? s : `${want}(${s})`;
  }

  private split(buffer: string): WgslSplit | undefined {
    return this.options.splits?.[buffer];
  }

  /** An index (i32 or u32; i32 when it goes to a split buffer's accessor). */
  private index(e: Expr, buffer?: string): string {
    return this.expr(e, buffer !== undefined && this.split(buffer) ? "i32" : undefined);
  }

  private raw(e: Expr): string {
    switch (e.kind) {
      case "const":
        return this.constant(e.value, e.type as Wgsl);
      case "var":
        return this.ident(e.name);
      case "size":
        return `mf_sizes.${this.ident(e.name)}`;
      case "builtin":
        return BUILTINS[e.name];
      case "load": {
        const p = this.params.get(e.buffer)!;
        const index = this.index(e.index, e.buffer);
        const ref = `${this.ids.get(e.buffer)}[${index}]`;
        const value = this.split(e.buffer)
          ? `${this.accessor(e.buffer, "load")}(${index})`
          : p.atomic
            ? `atomicLoad(&${ref})`
            : ref;
        return value;
      }
      case "sharedLoad":
        return `${this.ids.get(e.array)}[${this.index(e.index)}]`;
      case "unary":
        return UNARY_OPS[e.op].wgsl.render(this.expr(e.arg, e.type), e.type as Wgsl, this);
      case "binary":
        return this.binary(e.op, e.lhs, e.rhs, e.type as Wgsl);
      case "select":
        return `select(${this.expr(e.onFalse, e.type)}, ${this.expr(e.onTrue, e.type)}, ${this.expr(e.cond, "bool")})`;
      case "cast":
        return this.expr(e.arg, e.type);
      case "call":
        return this.call(e);
    }
  }

  private constant(value: number, type: Wgsl): string {
    switch (type) {
      case "bool":
        return value ? "true" : "false";
      case "i32":
        return i32Literal(value, "i", (text) => `i32(${text})`);
      case "u32":
        return `${value >>> 0}u`;
      case "f32":
      case "f16":
        return floatLiteral(value, spelling(type, this));
    }
  }

  /** The table's WGSL cell (kernel_ops_binary.ts), on operands converted to the type the op computes in. */
  private binary(op: BinaryOp, lhs: Expr, rhs: Expr, type: Wgsl): string {
    const row = BINARY_OPS[op];
    const operand = row.kind === "logical" ? "bool" : row.kind === "compare" ? this.operandType(lhs, rhs) : type;
    const a = this.expr(lhs, operand);
    const b = this.expr(rhs, row.kind === "shift" ? "u32" : operand);
    const divisor = rhs.kind === "const" ? rhs.value : null;
    return row.wgsl(a, b, { type, operand, divisor }, this);
  }

  /** The type both sides of a comparison are converted to: a float side wins, then an explicitly typed side. */
  private operandType(lhs: Expr, rhs: Expr): Wgsl {
    const a = this.typeOf(lhs);
    const b = this.typeOf(rhs);
    if (a === b) return a;
    if (isFloat(a) !== isFloat(b)) return isFloat(a) ? a : b;
    const untyped = (e: Expr) => e.kind === "size" || e.kind === "builtin";
    return untyped(lhs) ? b : a;
  }

  private call(e: Extract<Expr, { kind: "call" }>): string {
    // An identity function: the operation it feeds is not a const-expression (wgsl_rewrites.ts).
    if (e.fn === "opaque") return `${this.helper(`rt_${this.typeOf(e.args[0]!)}`)}(${this.expr(e.args[0]!)})`;
    if (e.fn === "isNan") return wgslIsNan(this.expr(e.args[0]!), this.typeOf(e.args[0]!) as "f32" | "f16");
    const xs = e.args.map((a) => this.expr(a, "u32"));
    if (e.fn === "bitsToUniform") return this.convert(`${this.helper("bits_to_uniform")}(${xs[0]})`, "f32", e.type);
    const word = `${this.helper("threefry2x32")}(${xs.join(", ")}).${e.fn === "threefry2x32_0" ? "x" : "y"}`;
    return this.convert(word, "u32", e.type);
  }

  /** The accessor function of a split param (emitted once per param and kind). */
  private accessor(buffer: string, kind: AccessKind): string {
    const id = this.ids.get(buffer)!;
    const name = accessorName(id, kind);
    if (!this.accessors.has(name)) {
      const p = this.params.get(buffer)!;
      this.accessors.set(name, accessorSource(p, id, p.type, this.split(buffer)!, kind));
    }
    return name;
  }
}
