/**
 * Where a WGSL kernel's buffers are bound, and buffers split over several
 * bindings. The runtime splits a buffer larger than the device's
 * `maxStorageBufferBindingSize` into chunks; the emitter then routes every
 * access of it (loads, stores, atomics) through a small accessor function.
 *
 * Binding layout (the runtime and `wgslLayout` agree on it): each param in
 * order takes one binding (or `chunks` consecutive bindings when it is split),
 * then one uniform buffer `mf_sizes` of i32 fields: `mf_groups` (the kernel's
 * 1-D workgroup count) followed by `kernel.sizes`.
 */
import type { Kernel, KernelParam } from "../kernel_ir";

/** A param stored as several bindings: element `i` lives in chunk `floor(i / chunkElements)`. */
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

/** Checks `options.splits` against the kernel; returns a message, or undefined when they are valid. */
export function splitProblem(kernel: Kernel, options: WgslEmitOptions): string | undefined {
  for (const [name, split] of Object.entries(options.splits ?? {})) {
    if (!kernel.params.some((p) => p.name === name))
      return `a split is given for "${name}", which is not a param of this kernel`;
    if (split.chunks < 1 || split.chunkElements < 1)
      return `split of buffer "${name}" needs chunks >= 1 and chunkElements >= 1`;
  }
  return undefined;
}

export type AccessKind = "load" | "store" | "atomicAdd";

/** Name of the accessor function of a split param. */
export const accessorName = (id: string, kind: AccessKind) => `mf_${kind === "atomicAdd" ? "atomic_add" : kind}_${id}`;

/** Source of the accessor function routing one kind of access of a split param to its chunk. */
export function accessorSource(
  param: KernelParam,
  id: string,
  elem: string,
  split: WgslSplit,
  kind: AccessKind,
): string {
  const { chunks, chunkElements } = split;
  const cases = Array.from({ length: chunks }, (_, c) => {
    const ref = `${id}_${c}[r]`;
    const action = {
      load: param.atomic ? `return atomicLoad(&${ref});` : `return ${ref};`,
      store: param.atomic ? `atomicStore(&${ref}, v);` : `${ref} = v;`,
      atomicAdd: `atomicAdd(&${ref}, v);`,
    }[kind];
    return `    ${c === chunks - 1 ? "default" : `case ${c}`}: { ${action} }`;
  });
  const sig = kind === "load" ? `(i: i32) -> ${elem}` : `(i: i32, v: ${elem})`;
  return [
    `// ${param.name} is bound as ${chunks} chunks of ${chunkElements} elements (over the device's binding size limit)`,
    `fn ${accessorName(id, kind)}${sig} {`,
    `  let c = i / ${chunkElements};`,
    `  let r = i - c * ${chunkElements};`,
    `  switch c {`,
    ...cases,
    `  }`,
    `}`,
  ].join("\n");
}
