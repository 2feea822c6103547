/**
 * Ahead-of-time export: a model function and its input description -> the
 * files `moeforge compile` writes (kernels, manifest.json, the TypeScript host
 * module, the CUDA launcher and header, an example driver). Pure: the same
 * model and options give byte-identical files.
 */
import type { DeviceClass } from "../codegen/device";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { compile } from "../codegen/index";
import type { KernelBundle } from "../codegen/kernel_ir";
import { trace } from "../dsl/api";
import type { Program } from "../dsl/program";
import { canonicalVars } from "./canonical";
import { CUDA_KERNEL_FILES, cudaExport } from "./cuda_api";
import { dimMul, type Dim } from "../dsl/dims";
import { atomOf, formatBinding, type DimBinding, type DynamicDim } from "./dims";
import { hostModuleSource } from "./host_module";
import { outputSlots, resolveInputs, type ResolvedInputs, type TensorSlot } from "./inputs";
import {
  derivedDims,
  dimRanges,
  manifestJson,
  manifestProgram,
  SCHEMA_VERSION,
  sealManifest,
  tensorEntry,
  type Manifest,
  type ManifestProgram,
} from "./manifest";
import { splitGradient } from "./split";
import type { WeightBinding } from "./weights";

export type ExportTarget = "wgsl" | "cuda";
export const EXPORT_TARGETS: readonly ExportTarget[] = ["wgsl", "cuda"];

export interface ExportOptions {
  /** The export's identifier: file names, the host module's `create<Name>`, the C API prefix. */
  readonly name: string;
  readonly targets: readonly ExportTarget[];
  readonly grad: boolean;
  readonly dims: ReadonlyMap<string, DimBinding>;
  /** For the manifest: where the model came from. */
  readonly model: { readonly file: string; readonly export: string };
  /** With --params: the inputs the host module reads from a safetensors buffer. */
  readonly weights?: readonly WeightBinding[];
  /** Reports progress (one line per step). */
  readonly progress?: (step: string) => void;
  /**
   * The device class the kernels are scheduled for (`--device`); default: the
   * generic GPU schedule (shared-memory GEMM tiles, tree reductions), which is
   * what the `discrete` and `integrated` classes get.
   */
  readonly device?: DeviceClass;
}

/** One generated file, its path relative to the output directory. */
export interface ExportFile {
  readonly path: string;
  readonly content: string;
}

/** The traced programs of an export. */
export interface TracedModel {
  readonly inputs: ResolvedInputs;
  readonly program: Program;
  readonly outputs: readonly TensorSlot[];
}

/** The version of this moeforge (package.json next to the sources or the build). */
export function moeforgeVersion(): string {
  for (const rel of ["../package.json", "../../package.json"]) {
    try {
      const pkg = JSON.parse(readFileSync(fileURLToPath(new URL(rel, import.meta.url)), "utf8")) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === "moeforge" && pkg.version) return pkg.version;
    } catch {
      // not there: try the next
    }
  }
  return "0.0.0";
}

/** Traces `fn` with the inputs `description` describes, under the `dims` bindings. */
export function traceModel(
  fn: (...args: never[]) => unknown,
  description: unknown,
  dims: ReadonlyMap<string, DimBinding>,
  what: string,
): TracedModel {
  const inputs = resolveInputs(description, dims, what);
  const program = trace(fn, ...inputs.specs);
  return { inputs, program, outputs: outputSlots(program.outTree, program.outputs) };
}

const kernelFile = (program: string, kernel: string, ext: string) => `kernels/${program}_${kernel}.${ext}`;

/**
 * Compiles a traced model for the targets and renders every file.
 * @example
 * const files = exportModel(traceModel(layer, layerInputs, parseDims("T=dynamic,D=16"), "layerInputs"), options);
 */
export function exportModel(traced: TracedModel, options: ExportOptions): ExportFile[] {
  const { name, targets, grad } = options;
  const progress = options.progress ?? (() => undefined);
  const device = options.device ? { device: options.device } : {};
  const split = grad ? splitGradient(traced.program) : undefined;
  const forwardProgram = canonicalVars(split ? split.forward : traced.program);
  const backwardProgram = split ? canonicalVars(split.backward) : undefined;
  const bundles: Record<"forward" | "backward", Partial<Record<ExportTarget, KernelBundle>>> = {
    forward: {},
    backward: {},
  };
  for (const target of targets) {
    progress(`compiling the forward for ${target}`);
    bundles.forward[target] = compile(forwardProgram, { target, ...device });
    if (split) {
      progress(`compiling the backward for ${target}`);
      bundles.backward[target] = compile(backwardProgram!, { target, ...device });
    }
  }
  const files: ExportFile[] = [];
  const programsOf = (which: "forward" | "backward") => {
    const out: Partial<Record<ExportTarget, ManifestProgram>> = {};
    for (const target of targets) {
      const b = bundles[which][target];
      if (!b) continue;
      const ext = "wgsl";
      out[target] = manifestProgram(b, (k) =>
        target === "wgsl" ? kernelFile(which, k, ext) : CUDA_KERNEL_FILES[which],
      );
      if (target === "wgsl") {
        for (const k of b.kernels) files.push({ path: kernelFile(which, k.name, ext), content: k.source });
      }
    }
    return out;
  };
  const forwardPrograms = programsOf("forward");
  const backwardPrograms = split ? programsOf("backward") : undefined;
  const nOut = traced.outputs.length;
  const dynamic = new Map(traced.inputs.dynamic.map((d) => [d, options.dims.get(d) as DynamicDim]));
  // A multiple of K traces as K * <dim>_div<K>; tensor shapes show the dim itself.
  const shown = new Map<Dim, string>(
    [...dynamic].filter(([, b]) => b.multipleOf > 1).map(([d, b]) => [dimMul(b.multipleOf, atomOf(d, b)), d]),
  );
  const entry = (s: TensorSlot) => tensorEntry({ ...s, shape: s.shape.map((d) => shown.get(d) ?? d) });
  const derived = derivedDims(dynamic);
  const allBundles = [...Object.values(bundles.forward), ...Object.values(bundles.backward)];
  const unsealed: Omit<Manifest, "contentHash"> = {
    schemaVersion: SCHEMA_VERSION,
    moeforgeVersion: moeforgeVersion(),
    name,
    model: options.model,
    dims: Object.fromEntries([...options.dims].map(([k, b]) => [k, formatBinding(b)])),
    dynamicDims: dimRanges(allBundles, dynamic),
    deviceClass: options.device ?? "generic",
    ...(Object.keys(derived).length ? { derivedDims: derived } : {}),
    ...(options.weights ? { weights: options.weights.map((w) => ({ ...w, shape: [...w.shape] })) } : {}),
    inputs: traced.inputs.leaves.map(entry),
    outputs: traced.outputs.map(entry),
    ...(split
      ? {
          saved: split.saved.map((v, i) => entry({ path: `saved[${i}]`, dtype: v.dtype, shape: v.shape })),
          cotangents: traced.outputs.map(entry),
          gradients: split.wrt.map((i) => entry(traced.inputs.leaves[i]!)),
        }
      : {}),
    programs: { forward: forwardPrograms, ...(backwardPrograms ? { backward: backwardPrograms } : {}) },
  };
  const manifest = sealManifest(unsealed);
  if (split && split.outputCount !== nOut) throw new Error("internal: output count mismatch");
  files.push({ path: "manifest.json", content: manifestJson(manifest) });
  if (targets.includes("wgsl")) {
    progress("generating the TypeScript host module");
    const sourcesOf = (b: KernelBundle | undefined) => new Map((b?.kernels ?? []).map((k) => [k.name, k.source]));
    files.push({
      path: `${name}.ts`,
      content: hostModuleSource({
        manifest,
        sources: {
          forward: sourcesOf(bundles.forward.wgsl),
          ...(split ? { backward: sourcesOf(bundles.backward.wgsl) } : {}),
        },
      }),
    });
  }
  if (targets.includes("cuda")) {
    progress("generating the CUDA launcher");
    const c = cudaExport(manifest, name, bundles.forward.cuda!, bundles.backward.cuda);
    files.push({ path: `${name}.cu`, content: c.cu });
    files.push({ path: `${name}.h`, content: c.header });
    files.push({ path: `${name}_example.cpp`, content: c.example });
    files.push({ path: CUDA_KERNEL_FILES.forward, content: c.kernels.forward });
    if (c.kernels.backward) files.push({ path: CUDA_KERNEL_FILES.backward, content: c.kernels.backward });
  }
  return files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}
