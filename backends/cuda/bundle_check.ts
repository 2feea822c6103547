/**
 * Validation of a KernelBundle before it is turned into a CUDA translation
 * unit: every name a launch or a kernel uses must resolve, element types must
 * match, and the aliasing of each launch decides whether a kernel's buffers
 * may be declared `__restrict__`.
 */
import type { Kernel, KernelBundle, SizeExpr } from "../../codegen/kernel_ir";

/** A bundle the CUDA host launcher cannot be generated for. */
export class CudaBundleError extends Error {
  override name = "CudaBundleError";
}

/**
 * Throws a `CudaBundleError` naming the first inconsistency: an unknown
 * kernel, buffer or dim; a binding missing or of the wrong element type; a
 * named dim outside `bundle.dims`; an f64 buffer.
 *
 * @example
 * checkCudaBundle(compile(program, { target: "cuda" }));
 */
export function checkCudaBundle(bundle: KernelBundle): void {
  const fail = (why: string): never => {
    throw new CudaBundleError(`CUDA bundle: ${why}`);
  };
  if (bundle.target !== "cuda")
    fail(`the bundle was compiled for target "${bundle.target}"; compile it with { target: "cuda" }`);
  // Names end up in C identifiers, comments and printf formats: keep them plain identifiers.
  const plain = /^[A-Za-z_][A-Za-z0-9_]*$/;
  for (const [what, names] of [
    ["dim", bundle.dims],
    ["buffer", bundle.buffers.map((b) => b.name)],
    ["kernel", bundle.kernels.map((k) => k.name)],
  ] as const) {
    for (const n of names)
      if (!plain.test(n)) fail(`${what} name ${JSON.stringify(n)} is not a plain identifier (letters, digits, _)`);
  }
  const dims = new Set(bundle.dims);
  const checkSize = (e: SizeExpr, what: string): void => {
    for (const name of sizeNames(e))
      if (!dims.has(name))
        fail(`${what} uses dim "${name}", which is not among the bundle's dims [${bundle.dims.join(", ")}]`);
  };
  const buffers = new Map(bundle.buffers.map((b) => [b.name, b]));
  if (buffers.size !== bundle.buffers.length) fail("two buffers share a name");
  for (const b of bundle.buffers) {
    if (b.type === "f64")
      fail(`buffer "${b.name}" is f64; the CUDA target has no f64 kernels (f64 runs on the interp and cpu backends)`);
    checkSize(b.size, `the size of buffer "${b.name}"`);
    if (b.role === "const" && !b.init) fail(`const buffer "${b.name}" has no init values`);
  }
  for (const name of [...bundle.inputs, ...bundle.outputs])
    if (!buffers.has(name)) fail(`program input/output "${name}" is not a declared buffer`);
  const kernels = new Map(bundle.kernels.map((k) => [k.name, k]));
  for (const k of bundle.kernels)
    for (const s of k.sizes)
      if (!dims.has(s))
        fail(`kernel "${k.name}" reads size "${s}", which is not among the bundle's dims [${bundle.dims.join(", ")}]`);
  bundle.schedule.forEach((launch, i) => {
    const k =
      kernels.get(launch.kernel) ??
      fail(`launch ${i} runs kernel "${launch.kernel}", which the bundle does not contain`);
    checkSize(launch.grid, `the grid of launch ${i} (${k.name})`);
    for (const p of k.params) {
      const bufName = launch.bindings[p.name] ?? fail(`launch ${i} (${k.name}) binds no buffer to param "${p.name}"`);
      const buf =
        buffers.get(bufName) ??
        fail(`launch ${i} (${k.name}) binds param "${p.name}" to "${bufName}", which is not a declared buffer`);
      if (buf.type !== p.type)
        fail(`launch ${i} (${k.name}) binds ${p.type} param "${p.name}" to ${buf.type} buffer "${bufName}"`);
    }
  });
}

/** The named dims a size expression reads. */
export function sizeNames(e: SizeExpr): string[] {
  if (typeof e === "number") return [];
  if (typeof e === "string") return [e];
  return e.args.flatMap(sizeNames);
}

/**
 * Kernels that some launch binds so that one buffer is seen through two
 * params, at least one of them written: their params must not be `__restrict__`.
 */
export function aliasedKernels(bundle: KernelBundle): Set<string> {
  const kernels = new Map<string, Kernel>(bundle.kernels.map((k) => [k.name, k]));
  const aliased = new Set<string>();
  for (const launch of bundle.schedule) {
    const k = kernels.get(launch.kernel);
    if (!k) continue;
    const seen = new Map<string, boolean>(); // buffer -> written through some param
    for (const p of k.params) {
      const buf = launch.bindings[p.name]!;
      const written = p.access === "readWrite";
      const before = seen.get(buf);
      if (before !== undefined && (before || written)) aliased.add(k.name);
      seen.set(buf, (before ?? false) || written);
    }
  }
  return aliased;
}
