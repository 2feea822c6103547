/**
 * The CUDA emitter: renders a kernel-IR `Kernel` as an `extern "C" __global__`
 * CUDA C++ function. Target-specific text lives in the op tables of
 * `cuda_expr.ts`, the prelude (`cuda_prelude.ts`) and the few hooks below
 * (signature, thread builtins, shared arrays, barriers, atomics).
 *
 * Launch contract (what the host launcher in backends/cuda/bundle.ts does):
 * blockDim.x = workgroupSize; the kernel's 1-D count of workgroups is folded
 * into (gridDim.x, gridDim.y) and passed as the trailing `mf_num_groups`
 * argument; blocks past that count (padding of the fold) return at once.
 */
import type { Kernel, ScalarType, Stmt } from "../kernel_ir";
import { indexWidths, readVariables, usedBuiltins } from "./cuda_index_width";
import { convert, renderExpr, toStorage, type ExprScope } from "./cuda_expr";
import { CUDA_PRELUDE } from "./cuda_prelude";
import { cudaStorageType, cudaType, type CudaStorageType, type CudaType } from "./cuda_types";
import { registerEmitter, type Emitter } from "./emitter";

/** CUDA's per-block thread limit. */
const MAX_THREADS_PER_BLOCK = 1024;
/** Static `__shared__` memory a kernel may declare without opting in to more. */
const MAX_STATIC_SHARED_BYTES = 48 * 1024;

export interface CudaKernelOptions {
  /**
   * Declare buffer parameters `__restrict__` (the default). Only valid when no
   * launch binds one buffer to two parameters of which one is written; the
   * bundle builder turns it off for kernels launched that way.
   */
  readonly restrict?: boolean;
}

/**
 * Renders one kernel as CUDA C++ (without the prelude; see `cudaSource`).
 * Buffers become `const T* __restrict__` (read) or `T* __restrict__` (written)
 * parameters, named dims `int` parameters, shared arrays `__shared__` arrays,
 * and index arithmetic that can pass 2^31 is computed in `long long`.
 *
 * @example
 * const src = emitCudaKernel({ name: "scale", params: [...], sizes: ["N"], shared: [], workgroupSize: 256, body: [...] });
 * // extern "C" __global__ void __launch_bounds__(256) scale(const float* __restrict__ x, float* __restrict__ y, int N, long long mf_num_groups) { ... }
 */
export function emitCudaKernel(kernel: Kernel, options: CudaKernelOptions = {}): string {
  const where = `CUDA emitter, kernel "${kernel.name}"`;
  checkLaunchShape(kernel, where);
  const names = new CudaNames(where);
  const elements = new Map<
    string,
    { type: Kernel["params"][number]["type"]; storage: CudaStorageType; what: "buffer" | "shared array" }
  >();
  for (const p of kernel.params)
    elements.set(p.name, {
      type: p.type,
      storage: cudaStorageType(p.type, `${where}, buffer "${p.name}"`),
      what: "buffer",
    });
  for (const s of kernel.shared)
    elements.set(s.name, {
      type: s.type,
      storage: cudaStorageType(s.type, `${where}, shared array "${s.name}"`),
      what: "shared array",
    });
  const scope: ExprScope = {
    kernel: kernel.name,
    elements,
    sizes: new Set(kernel.sizes),
    widths: indexWidths(kernel),
    ident: (n) => names.ident(n),
  };
  const restrict = (options.restrict ?? true) ? " __restrict__" : "";
  const params = [
    ...kernel.params.map(
      (p) => `${p.access === "read" ? "const " : ""}${cudaStorageType(p.type)}*${restrict} ${names.ident(p.name)}`,
    ),
    ...kernel.sizes.map((s) => `int ${names.ident(s)}`),
    "long long mf_num_groups",
  ];
  const body = new StmtWriter(kernel, scope);
  const lines = [
    ...kernelComment(kernel),
    `extern "C" __global__ void __launch_bounds__(${kernel.workgroupSize}) ${names.ident(kernel.name)}(${params.join(", ")}) {`,
    ...kernel.shared.map((s) => `  __shared__ ${cudaStorageType(s.type)} ${names.ident(s.name)}[${s.length}];`),
    ...prologue(kernel),
    ...body.block(kernel.body, 1),
    "}",
  ];
  return lines.join("\n") + "\n";
}

/**
 * A complete CUDA translation unit: the device prelude followed by the kernels.
 *
 * @example
 * writeFileSync("kernels.cu", cudaSource(bundle.kernels));
 */
export function cudaSource(kernels: readonly Kernel[], options: CudaKernelOptions = {}): string {
  return [CUDA_PRELUDE, ...kernels.map((k) => emitCudaKernel(k, options))].join("\n");
}

/**
 * The registered CUDA emitter. `render` gives a self-contained translation unit
 * (prelude + kernel); the prelude has an include guard, so rendered kernels can
 * be concatenated into one `.cu`.
 *
 * @example
 * getEmitter("cuda").render(kernel); // "#ifndef MOEFORGE_CUDA_PRELUDE ... extern \"C\" __global__ void ..."
 */
export const cudaEmitter: Emitter = {
  target: "cuda",
  supports(type: ScalarType): true | string {
    return type === "f64"
      ? "the CUDA target has no f64 kernels (f64 runs on the interp and cpu backends; cast to f32)"
      : true;
  },
  render: (kernel) => cudaSource([kernel]),
};

registerEmitter(cudaEmitter);

function checkLaunchShape(kernel: Kernel, where: string): void {
  const wg = kernel.workgroupSize;
  if (!Number.isInteger(wg) || wg < 1 || wg > MAX_THREADS_PER_BLOCK) {
    throw new RangeError(
      `${where}: workgroup size ${wg} is outside CUDA's 1..${MAX_THREADS_PER_BLOCK} threads per block`,
    );
  }
  const sharedBytes = kernel.shared.reduce(
    (n, s) => n + s.length * (s.type === "f16" ? 2 : s.type === "bool" ? 1 : 4),
    0,
  );
  if (sharedBytes > MAX_STATIC_SHARED_BYTES) {
    throw new RangeError(
      `${where}: shared arrays need ${sharedBytes} bytes, more than the ${MAX_STATIC_SHARED_BYTES} bytes of static shared memory a CUDA block may declare`,
    );
  }
}

/** Comment text as lines; a trailing backslash would splice the next source line into the comment. */
function commentLines(text: string): string[] {
  return text.split("\n").map((l) => l.replace(/\\+\s*$/, ""));
}

function kernelComment(kernel: Kernel): string[] {
  const access = kernel.params.map((p) => `${p.name}: ${p.type} ${p.access === "read" ? "in" : "out"}`).join(", ");
  const lines = [`// kernel ${kernel.name} (${kernel.workgroupSize} threads per block)`];
  if (kernel.comment) lines.push(...commentLines(kernel.comment).map((l) => `//   ${l}`));
  if (access) lines.push(`//   buffers: ${access}`);
  return lines;
}

/** Defines the thread builtins the body uses, unfolding the (x, y) grid into a linear block index. */
function prologue(kernel: Kernel): string[] {
  const used = usedBuiltins(kernel.body);
  const lines = [
    "  const long long mf_group = (long long)blockIdx.y * gridDim.x + blockIdx.x;",
    "  if (mf_group >= mf_num_groups) return;  // padding block of a folded grid",
  ];
  if (used.has("globalLinear")) lines.push("  const long long mf_global = mf_group * blockDim.x + threadIdx.x;");
  if (used.has("localLinear")) lines.push("  const int mf_local = (int)threadIdx.x;");
  return lines;
}

/** Renders statements; tracks which variables are read so unread ones are marked `[[maybe_unused]]`. */
class StmtWriter {
  private readonly read: ReadonlySet<string>;
  private readonly params: ReadonlyMap<string, Kernel["params"][number]>;
  /** C++ type of each declared variable, for conversions on assignment. */
  private readonly declared = new Map<string, CudaType>();

  constructor(
    private readonly kernel: Kernel,
    private readonly scope: ExprScope,
  ) {
    this.read = readVariables(kernel.body);
    this.params = new Map(kernel.params.map((p) => [p.name, p]));
  }

  block(stmts: readonly Stmt[], depth: number): string[] {
    return stmts.flatMap((s) => this.stmt(s, depth));
  }

  private fail(why: string): never {
    throw new TypeError(`CUDA emitter, kernel "${this.kernel.name}": ${why}`);
  }

  private expr = (e: Parameters<typeof renderExpr>[0], inIndex = false) => renderExpr(e, this.scope, inIndex);

  private varType(name: string, type: Parameters<typeof cudaType>[0]) {
    return type === "i32" && this.scope.widths.isWideVar(name)
      ? "long long"
      : cudaType(type, `CUDA emitter, kernel "${this.kernel.name}", variable "${name}"`);
  }

  private stmt(s: Stmt, depth: number): string[] {
    const pad = "  ".repeat(depth);
    const id = (n: string) => this.scope.ident(n);
    switch (s.kind) {
      case "let": {
        const t = this.varType(s.name, s.type);
        this.declared.set(s.name, t);
        const unused = this.read.has(s.name) ? "" : "[[maybe_unused]] ";
        return [`${pad}${unused}${s.mutable ? "" : "const "}${t} ${id(s.name)} = ${convert(this.expr(s.init), t)};`];
      }
      case "assign": {
        const target =
          this.declared.get(s.name) ?? this.fail(`assignment to "${s.name}", which is not declared by an earlier let`);
        return [`${pad}${id(s.name)} = ${convert(this.expr(s.value), target)};`];
      }
      case "store":
      case "sharedStore": {
        const name = s.kind === "store" ? s.buffer : s.array;
        const el = this.scope.elements.get(name);
        if (!el) this.fail(`${s.kind} writes "${name}", which the kernel does not declare`);
        if (s.kind === "store" && this.params.get(name)!.access === "read")
          this.fail(`store to buffer "${name}", which is declared read-only`);
        // Buffer offsets can pass 2^31; shared-array offsets are bounded by the array's length.
        return [
          `${pad}${id(name)}[${this.expr(s.index, s.kind === "store").code}] = ${toStorage(this.expr(s.value), el.storage)};`,
        ];
      }
      case "atomicAdd": {
        const p =
          this.params.get(s.buffer) ?? this.fail(`atomicAdd on "${s.buffer}", which is not a buffer of the kernel`);
        if (p.access === "read") this.fail(`atomicAdd on buffer "${s.buffer}", which is declared read-only`);
        if (p.type !== "i32" && p.type !== "u32")
          this.fail(
            `atomicAdd on ${p.type} buffer "${s.buffer}": only i32/u32 atomics are emitted (float atomics are not deterministic)`,
          );
        const value = convert(this.expr(s.value), cudaType(p.type));
        return [`${pad}atomicAdd(&${id(s.buffer)}[${this.expr(s.index, true).code}], ${value});`];
      }
      case "if": {
        const lines = [`${pad}if (${convert(this.expr(s.cond), "bool")}) {`, ...this.block(s.then, depth + 1)];
        if (s.else && s.else.length > 0) lines.push(`${pad}} else {`, ...this.block(s.else, depth + 1));
        return [...lines, `${pad}}`];
      }
      case "for": {
        const t = this.varType(s.var, "i32");
        this.declared.set(s.var, t);
        const v = id(s.var);
        const step = s.step ? `${v} += ${convert(this.expr(s.step), t)}` : `++${v}`;
        return [
          `${pad}for (${t} ${v} = ${convert(this.expr(s.start), t)}; ${v} < ${this.expr(s.end).code}; ${step}) {`,
          ...this.block(s.body, depth + 1),
          `${pad}}`,
        ];
      }
      case "barrier":
        return [`${pad}__syncthreads();`];
      case "return":
        return [`${pad}return;`];
      case "comment":
        return commentLines(s.text).map((l) => `${pad}// ${l}`);
    }
  }
}

/** C++ and CUDA names an IR identifier must not shadow; such names get a trailing underscore. */
const RESERVED = new Set(
  (
    "alignas alignof and asm auto bool break case catch char class const constexpr continue default delete do double else enum explicit " +
    "extern false float for friend goto if inline int long mutable namespace new noexcept not nullptr operator or private protected public " +
    "register return short signed sizeof static struct switch template this throw true try typedef typename union unsigned using virtual " +
    "void volatile while xor threadIdx blockIdx blockDim gridDim warpSize half uint2 make_uint2 expf logf log1pf sqrtf rsqrtf tanhf " +
    "fabsf sinf cosf powf fmodf fmaxf fminf abs llabs atomicAdd"
  ).split(" "),
);

/** Maps IR names to C++ identifiers: validated, clear of keywords and of the emitter's own `mf_` names. */
class CudaNames {
  constructor(private readonly where: string) {}

  ident(name: string): string {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
      throw new SyntaxError(
        `${this.where}: "${name}" is not a valid identifier (expected letters, digits and _, not starting with a digit)`,
      );
    }
    if (name.startsWith("mf_") || name.startsWith("_")) return `v${name}`;
    return RESERVED.has(name) ? `${name}_` : name;
  }
}
