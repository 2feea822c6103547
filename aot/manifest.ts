/**
 * `manifest.json`: everything an application (or a host module generator for
 * another language) needs to run the exported kernels without moeforge:
 * tensors by pytree path, per program and target the kernels with their
 * explicit bind group layouts, workgroup sizes, uniforms, needed limits and
 * features, buffers with sizes as expressions of the dims, the launch
 * schedule, and the range each dynamic dim may take. The JSON Schema is
 * `aot/manifest.schema.json`; `SCHEMA_VERSION` changes with any incompatible
 * change to the format.
 */
import { createHash } from "node:crypto";
import { evalSize, sizeToText, type KernelBundle, type ScalarType, type SizeExpr } from "../codegen/kernel_ir";
import { wgslLayout } from "../codegen/emit/wgsl";
import { atomOf, type DynamicDim } from "./dims";
import type { TensorSlot } from "./inputs";

export const SCHEMA_VERSION = 1;

/** What `Manifest.deviceClass` holds: a device class (codegen/device.ts), or `generic` for the default GPU schedule. */
export type ManifestDeviceClass = "cpu" | "discrete" | "integrated" | "generic";

/** A tensor the application passes or receives, with its shape as dims (names are dynamic dims). */
export interface ManifestTensor {
  readonly path: string;
  readonly dtype: string;
  readonly shape: readonly SizeExpr[];
}

export interface ManifestBinding {
  readonly binding: number;
  readonly name: string;
  /** Element type in the kernel; `storage` is how it is stored (bool as u32, f16 as 16-bit halves). */
  readonly type: ScalarType;
  readonly storage: "f32" | "f16" | "i32" | "u32";
  readonly access: "read-only" | "read-write";
}

export interface ManifestKernel {
  readonly name: string;
  /** Path of the source, relative to the manifest. */
  readonly file: string;
  /** sha256 of the source text. */
  readonly sha256: string;
  readonly workgroupSize: number;
  readonly bindings: readonly ManifestBinding[];
  /** The uniform buffer of i32 fields: `mf_groups` (the 1-D workgroup count), then named dims. */
  readonly uniforms: { readonly binding: number; readonly fields: readonly string[] };
  readonly sharedBytes: number;
  readonly features: readonly string[];
  /** Minimum WebGPU limits (or CUDA block size) the kernel needs. */
  readonly limits: Readonly<Record<string, number>>;
  readonly comment?: string;
}

export interface ManifestBuffer {
  readonly name: string;
  readonly type: ScalarType;
  /** Element count as an expression of the dims (a number, a dim name, or { op, args }). */
  readonly size: SizeExpr;
  readonly sizeText: string;
  readonly role: "input" | "output" | "temp" | "const";
  readonly init?: readonly number[];
}

export interface ManifestLaunch {
  readonly kernel: string;
  readonly grid: SizeExpr;
  readonly gridText: string;
  readonly bindings: Readonly<Record<string, string>>;
}

/** One compiled program (forward or backward) for one target. */
export interface ManifestProgram {
  readonly target: "wgsl" | "cuda";
  readonly dims: readonly string[];
  readonly kernels: readonly ManifestKernel[];
  readonly buffers: readonly ManifestBuffer[];
  readonly schedule: readonly ManifestLaunch[];
  /** Buffer names, in the order of the program's tensors (see `Manifest.programs`). */
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly checks?: { readonly buffer: string; readonly messages: readonly string[] };
  /** Sizes that must stay within a limit for the dims given (the range analysis'; see docs/EXPORT.md). */
  readonly limits?: readonly {
    readonly size: SizeExpr;
    readonly limit: number;
    readonly what: string;
    readonly why: string;
  }[];
}

export interface DimRange {
  readonly min: number;
  /** The largest value (at most the one --dims gives) for which every buffer and launch stays inside 32-bit index math. */
  readonly max: number;
  /** The dim must be a multiple of this (absent: any integer in range). */
  readonly multipleOf?: number;
}

/** A tensor read from the `--params` safetensors file: its name there, the input it feeds, dtype and shape. */
export interface ManifestWeight {
  readonly name: string;
  readonly path: string;
  readonly dtype: string;
  readonly shape: readonly number[];
}

export interface Manifest {
  readonly schemaVersion: number;
  readonly moeforgeVersion: string;
  /** sha256 of this manifest without the field, kernel source hashes included: identifies the build. */
  readonly contentHash: string;
  readonly name: string;
  readonly model: { readonly file: string; readonly export: string };
  /** The --dims bindings as given: a size, or `dynamic` with its constraints (`dynamic:8..4096:%8`). */
  readonly dims: Readonly<Record<string, number | string>>;
  readonly dynamicDims: Readonly<Record<string, DimRange>>;
  /**
   * The device class the kernels were scheduled for (`--device`): `cpu` (barrier-free register
   * tiles, thread-per-row reductions: CPU adapters such as SwiftShader), or `generic` (no
   * `--device`: the shared-memory schedule that `discrete` and `integrated` GPUs also get).
   * Kernels run correctly anywhere; the WebGPU host module warns when the device is of the other kind.
   */
  readonly deviceClass: ManifestDeviceClass;
  /**
   * Dims the programs use that are defined by the dynamic dims: `T_div8 =
   * floorDiv(T, 8)` for `T` a multiple of 8. Evaluate them before any size.
   */
  readonly derivedDims?: Readonly<Record<string, SizeExpr>>;
  /** With --params: the inputs the host module reads from a safetensors buffer, by tensor name. */
  readonly weights?: readonly ManifestWeight[];
  readonly inputs: readonly ManifestTensor[];
  readonly outputs: readonly ManifestTensor[];
  /**
   * With --grad: the activations the forward saves for the backward, the
   * cotangents the backward takes (one per output) and the gradients it
   * returns (one per float input).
   */
  readonly saved?: readonly ManifestTensor[];
  readonly cotangents?: readonly ManifestTensor[];
  readonly gradients?: readonly ManifestTensor[];
  /**
   * forward: inputs -> outputs (+ saved with --grad).
   * backward: inputs, saved, cotangents -> gradients.
   */
  readonly programs: {
    readonly forward: Readonly<Partial<Record<"wgsl" | "cuda", ManifestProgram>>>;
    readonly backward?: Readonly<Partial<Record<"wgsl" | "cuda", ManifestProgram>>>;
  };
}

export const sha256 = (text: string): string => createHash("sha256").update(text).digest("hex");

const STORAGE: Record<ScalarType, ManifestBinding["storage"] | undefined> = {
  f32: "f32",
  f16: "f16",
  i32: "i32",
  u32: "u32",
  bool: "u32",
  f64: undefined,
};

export const tensorEntry = (s: TensorSlot): ManifestTensor => ({ path: s.path, dtype: s.dtype, shape: [...s.shape] });

/** A bundle as a manifest program; `file(kernel)` names each kernel's source file. */
export function manifestProgram(bundle: KernelBundle, file: (kernel: string) => string): ManifestProgram {
  const target = bundle.target;
  if (target !== "wgsl" && target !== "cuda") throw new Error("internal: the manifest describes GPU targets only");
  const kernels = bundle.kernels.map((k): ManifestKernel => {
    const layout = wgslLayout(k);
    const sharedBytes = k.shared.reduce((s, a) => s + a.length * (a.type === "f16" ? 2 : 4), 0);
    const usesF16 = [...k.params.map((p) => p.type), ...k.shared.map((s) => s.type)].includes("f16");
    const limits: Record<string, number> =
      bundle.target === "wgsl"
        ? {
            maxComputeInvocationsPerWorkgroup: k.workgroupSize,
            maxComputeWorkgroupSizeX: k.workgroupSize,
            maxComputeWorkgroupStorageSize: sharedBytes,
            maxStorageBuffersPerShaderStage: k.params.length,
          }
        : { maxThreadsPerBlock: k.workgroupSize, sharedMemPerBlock: sharedBytes };
    return {
      name: k.name,
      file: file(k.name),
      sha256: sha256(k.source),
      workgroupSize: k.workgroupSize,
      bindings: k.params.map((p, i) => ({
        binding: layout.params[i]!.bindings[0]!,
        name: p.name,
        type: p.type,
        storage: STORAGE[p.type]!,
        access: p.access === "read" ? "read-only" : "read-write",
      })),
      uniforms: { binding: layout.uniformBinding, fields: layout.uniformFields },
      sharedBytes,
      features: usesF16 && bundle.target === "wgsl" ? ["shader-f16"] : [],
      limits,
      ...(k.comment ? { comment: k.comment } : {}),
    };
  });
  return {
    target,
    dims: bundle.dims,
    kernels,
    buffers: bundle.buffers.map((b) => ({
      name: b.name,
      type: b.type,
      size: b.size,
      sizeText: sizeToText(b.size),
      role: b.role,
      ...(b.init ? { init: [...b.init] } : {}),
    })),
    schedule: bundle.schedule.map((l) => ({
      kernel: l.kernel,
      grid: l.grid,
      gridText: sizeToText(l.grid),
      bindings: l.bindings,
    })),
    inputs: bundle.inputs,
    outputs: bundle.outputs,
    ...(bundle.checks ? { checks: bundle.checks } : {}),
    ...(bundle.limits?.length ? { limits: bundle.limits } : {}),
  };
}

const I32_MAX = 2 ** 31 - 1;

/** The programs' dims for values of the dynamic dims: each dim, and `<dim>_div<K>` for a multiple of K. */
export function dimEnv(
  dynamic: ReadonlyMap<string, DynamicDim>,
  values: ReadonlyMap<string, number>,
): Map<string, number> {
  const env = new Map<string, number>();
  for (const [name, b] of dynamic) {
    const v = values.get(name)!;
    env.set(name, v);
    if (b.multipleOf > 1) env.set(atomOf(name, b), Math.floor(v / b.multipleOf));
  }
  return env;
}

/** The derived dims of the dynamic dims (`T_div8 = floorDiv(T, 8)`), for the manifest. */
export function derivedDims(dynamic: ReadonlyMap<string, DynamicDim>): Record<string, SizeExpr> {
  const out: Record<string, SizeExpr> = {};
  for (const [name, b] of dynamic)
    if (b.multipleOf > 1) out[atomOf(name, b)] = { op: "floorDiv", args: [name, b.multipleOf] };
  return out;
}

/**
 * The range of each dynamic dim: from its minimum up to the largest allowed
 * value (a multiple of its divisor, at most its given maximum) for which every
 * bundle's size limits hold (`KernelBundle.limits`, from the range analysis:
 * element counts, index values, threads per launch), other dynamic dims at
 * their minimum (sizes only grow with a dim).
 */
export function dimRanges(
  bundles: readonly KernelBundle[],
  dynamic: ReadonlyMap<string, DynamicDim>,
): Record<string, DimRange> {
  const fits = (dim: string, value: number): boolean => {
    const values = new Map([...dynamic].map(([d, b]) => [d, d === dim ? value : b.min]));
    const env = dimEnv(dynamic, values);
    return bundles.every((b) => (b.limits ?? []).every((l) => evalSize(l.size, env) <= l.limit));
  };
  const out: Record<string, DimRange> = {};
  for (const [d, b] of dynamic) {
    const k = b.multipleOf;
    // Search over q = value / k.
    let lo = b.min / k;
    let hi = Math.floor(Math.min(b.max ?? I32_MAX, I32_MAX) / k);
    if (!fits(d, lo * k)) throw new Error(`the model's buffers do not fit 32-bit indexing even with ${d} = ${lo * k}`);
    while (lo < hi) {
      const mid = Math.floor((lo + hi + 1) / 2);
      if (fits(d, mid * k)) lo = mid;
      else hi = mid - 1;
    }
    out[d] = { min: b.min, max: lo * k, ...(k > 1 ? { multipleOf: k } : {}) };
  }
  return out;
}

/** Stable JSON: object keys in insertion order (the builders fix it), two-space indent, final newline. */
export function manifestJson(m: Manifest): string {
  return JSON.stringify(m, null, 2) + "\n";
}

/** The manifest with its content hash filled in. */
export function sealManifest(m: Omit<Manifest, "contentHash">): Manifest {
  const { schemaVersion, moeforgeVersion, ...rest } = m;
  const hash = sha256(JSON.stringify({ schemaVersion, moeforgeVersion, ...rest }));
  return { schemaVersion, moeforgeVersion, contentHash: `sha256:${hash}`, ...rest };
}
