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
import { analyzeRanges, type KernelRanges } from "../analysis/ranges";
import {
  walkBodyExprs,
  walkExpr,
  type ContractionEpilogue,
  type Expr,
  type Kernel,
  type ScalarType,
  type Stmt,
} from "../kernel_ir";
import { commentLines, CStyleWriter, usesType, wordSet, type StmtOf } from "./c_style";
import { convert, renderExpr, type ExprScope, type Rendered } from "./cuda_expr";
import { CUDA_REWRITES } from "./cuda_rewrites";
import { CUDA_PRELUDE } from "./cuda_prelude";
import { cudaStorageType, cudaType, type CudaStorageType, type CudaType } from "./cuda_types";
import { registerEmitter, type Emitter } from "./emitter";
import { prepareKernel } from "./prepare";
import { emitTensorCoreKernel, TENSOR_CORE_PRELUDE, tensorCoreSupport } from "./cuda_tensor_core";

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
 * and index arithmetic that range analysis cannot keep below 2^31 is computed in `long long`.
 *
 * @example
 * const src = emitCudaKernel({ name: "scale", params: [...], sizes: ["N"], shared: [], workgroupSize: 256, body: [...] });
 * // extern "C" __global__ void __launch_bounds__(256) scale(const float* __restrict__ x, float* __restrict__ y,
 * //                                                       int N, long long mf_num_groups) { ... }
 */
export function emitCudaKernel(kernel: Kernel, options: CudaKernelOptions = {}): string {
  const where = `CUDA emitter, kernel "${kernel.name}"`;
  checkLaunchShape(kernel, where);
  for (const p of kernel.params) cudaStorageType(p.type, `${where}, buffer "${p.name}"`);
  for (const s of kernel.shared) cudaStorageType(s.type, `${where}, shared array "${s.name}"`);
  if (usesType(kernel, "f64")) cudaType("f64", where); // throws the f64 error
  const prepared = prepareKernel(kernel, CUDA_REWRITES);
  const w = new CudaWriter(prepared);
  const restrict = (options.restrict ?? true) ? " __restrict__" : "";
  const params = [
    ...kernel.params.map(
      (p) => `${p.access === "read" ? "const " : ""}${cudaStorageType(p.type)}*${restrict} ${w.ident(p.name)}`,
    ),
    ...kernel.sizes.map((s) => `int ${w.ident(s)}`),
    "long long mf_num_groups",
  ];
  // Under the tensor-core schedule a GEMM kernel's Contraction renders as mma tiles; the body is its FMA definition.
  if (kernel.contraction && tensorCoreSupport(kernel) === true) {
    const epilogue = kernel.contraction.epilogue;
    const ctx = {
      ident: (n: string) => w.ident(n),
      params,
      epilogue: (bindings: readonly string[], indent: number) => epilogueLines(kernel, epilogue!, bindings, indent),
    };
    return TENSOR_CORE_PRELUDE + emitTensorCoreKernel(kernel, ctx, kernelComment(kernel));
  }
  const lines = [
    ...kernelComment(kernel),
    `extern "C" __global__ void __launch_bounds__(${kernel.workgroupSize}) ${w.ident(kernel.name)}(${params.join(", ")}) {`,
    ...kernel.shared.map((s) => `  __shared__ ${cudaStorageType(s.type)} ${w.ident(s.name)}[${s.length}];`),
    ...prologue(prepared),
    ...w.lines(prepared.body, 1),
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
      `${where}: shared arrays need ${sharedBytes} bytes, more than the ${MAX_STATIC_SHARED_BYTES} bytes ` +
        "of static shared memory a CUDA block may declare",
    );
  }
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
  const used = new Set<string>();
  walkBodyExprs(kernel.body, (e) => e.kind === "builtin" && used.add(e.name));
  const lines = [
    "  const long long mf_group = (long long)blockIdx.y * gridDim.x + blockIdx.x;",
    "  if (mf_group >= mf_num_groups) return;  // padding block of a folded grid",
  ];
  if (used.has("globalLinear")) lines.push("  const long long mf_global = mf_group * blockDim.x + threadIdx.x;");
  if (used.has("localLinear")) lines.push("  const int mf_local = (int)threadIdx.x;");
  return lines;
}

/**
 * A Contraction epilogue's statements for the tensor-core renderer: `bindings` (C++ declarations of its row,
 * col, group and sums) then its body, rendered in a kernel of their own (CUDA rewrites and the verifier run
 * on it, the epilogue's variables declared by placeholders that are not printed). Integer values computed
 * from the output's position are `long long`: range analysis does not see the tile's row and column.
 */
function epilogueLines(kernel: Kernel, ep: ContractionEpilogue, bindings: readonly string[], indent: number): string[] {
  const bound: [string, ScalarType][] = [
    [ep.row, "i32"],
    [ep.col, "i32"],
    ...(ep.group ? [[ep.group, "i32"] as [string, ScalarType]] : []),
    ...ep.sums.map((s): [string, ScalarType] => [s, "f32"]),
  ];
  const placeholders: Stmt[] = bound.map(([name, type]) => ({
    kind: "let",
    name,
    type,
    init: { kind: "const", type, value: 0 },
  }));
  const { contraction: _, ...rest } = kernel;
  const prepared = prepareKernel({ ...rest, body: [...placeholders, ...ep.body] }, CUDA_REWRITES);
  const wide = new Set<string>(bound.map(([n]) => n));
  declaredNames(ep.body, wide);
  const base = analyzeRanges(prepared);
  const touches = (e: Expr) => {
    let hit = false;
    walkExpr(e, (x) => (hit ||= x.kind === "var" && wide.has(x.name)));
    return hit;
  };
  const ranges: KernelRanges = {
    ...base,
    mayExceedI32: (e) => touches(e) || base.mayExceedI32(e),
    varMayExceedI32: (n) => wide.has(n) || base.varMayExceedI32(n),
  };
  const w = new CudaWriter(prepared, ranges);
  const pad = "  ".repeat(indent);
  return [...bindings.map((b) => pad + b), ...w.lines(prepared.body.slice(placeholders.length), indent)];
}

/** Adds the names `body` declares (lets and loop variables, nested blocks included) to `into`. */
function declaredNames(body: readonly Stmt[], into: Set<string>): void {
  for (const s of body) {
    if (s.kind === "let") into.add(s.name);
    else if (s.kind === "for") {
      into.add(s.var);
      declaredNames(s.body, into);
    } else if (s.kind === "if") {
      declaredNames(s.then, into);
      if (s.else) declaredNames(s.else, into);
    }
  }
}

/** C++ and CUDA names an IR identifier must not shadow. */
const CUDA_RESERVED = wordSet(`
  alignas alignof and asm auto bool break case catch char class const constexpr continue default delete do double
  else enum explicit extern false float for friend goto if inline int long mutable namespace new noexcept not nullptr
  operator or private protected public register return short signed sizeof static struct switch template this throw
  true try typedef typename union unsigned using virtual void volatile while xor threadIdx blockIdx blockDim gridDim
  warpSize half uint2 make_uint2 expf logf log1pf sqrtf rsqrtf tanhf fabsf sinf cosf powf fmodf fmaxf fminf abs llabs
  atomicAdd`);

/** The statements of a kernel body; variables never read are marked `[[maybe_unused]]`. */
class CudaWriter extends CStyleWriter implements ExprScope {
  readonly language = "CUDA";
  protected readonly barrier = "__syncthreads()";
  protected readonly earlyReturn = "return";
  readonly kernelName: string;
  readonly storage: ReadonlyMap<string, CudaStorageType>;
  readonly ranges: KernelRanges;
  private readonly read = new Set<string>();

  constructor(
    private readonly kernel: Kernel,
    ranges?: KernelRanges,
  ) {
    super(CUDA_RESERVED);
    this.kernelName = kernel.name;
    this.storage = new Map([...kernel.params, ...kernel.shared].map((x) => [x.name, cudaStorageType(x.type)]));
    this.ranges = ranges ?? analyzeRanges(kernel);
    walkBodyExprs(kernel.body, (e) => e.kind === "var" && this.read.add(e.name));
  }

  private expr(e: Expr, inIndex = false): Rendered {
    return renderExpr(e, this, inIndex);
  }

  /** The C++ type of a variable: `long long` for index math that may pass 2^31. */
  private varType(name: string, type: ScalarType): CudaType {
    return type === "i32" && this.ranges.varMayExceedI32(name) ? "long long" : cudaType(type);
  }

  protected condition(e: Expr): string {
    return convert(this.expr(e), "bool");
  }

  protected declare(s: StmtOf<"let">): string {
    const t = this.varType(s.name, s.type);
    const unused = this.read.has(s.name) ? "" : "[[maybe_unused]] ";
    return `${unused}${s.mutable ? "" : "const "}${t} ${this.ident(s.name)} = ${convert(this.expr(s.init), t)}`;
  }

  protected assign(s: StmtOf<"assign">): string {
    return `${this.ident(s.name)} = ${convert(this.expr(s.value), this.varType(s.name, s.value.type))}`;
  }

  protected bufferWrite(s: StmtOf<"store" | "sharedStore" | "atomicAdd">): string {
    const name = s.kind === "sharedStore" ? s.array : s.buffer;
    // Buffer offsets can pass 2^31; shared-array offsets are bounded by the array's length.
    const ref = `${this.ident(name)}[${this.expr(s.index, s.kind !== "sharedStore").code}]`;
    const storage = this.storage.get(name)!;
    if (s.kind === "atomicAdd") return `atomicAdd(&${ref}, ${convert(this.expr(s.value), storage as CudaType)})`;
    return `${ref} = ${convert(this.expr(s.value), storage)}`;
  }

  protected loopHeader(s: StmtOf<"for">): string {
    const t = this.varType(s.var, "i32");
    const v = this.ident(s.var);
    const step = s.step ? `${v} += ${convert(this.expr(s.step), t)}` : `++${v}`;
    return `${t} ${v} = ${convert(this.expr(s.start), t)}; ${v} < ${this.expr(s.end).code}; ${step}`;
  }
}
