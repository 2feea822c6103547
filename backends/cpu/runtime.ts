/**
 * Runs a JS-target KernelBundle over typed arrays: allocates the bundle's
 * buffers for the bound dims, runs the launch schedule, returns the outputs.
 * Needs nothing from moeforge but the bundle (the same contract a WebGPU or
 * CUDA runtime follows).
 */
import { allocArray, type AnyTypedArray } from "../../dsl/dtype";
import { evalSize, type KernelBundle, type ScalarType } from "../../codegen/kernel_ir";

/** A compiled kernel: `(buffers, sizes, numGroups) => void`. */
type KernelFn = (buffers: AnyTypedArray[], sizes: number[], numGroups: number) => void;

const compiled = new WeakMap<KernelBundle, Map<string, KernelFn>>();

function kernelsOf(bundle: KernelBundle): Map<string, KernelFn> {
  let fns = compiled.get(bundle);
  if (!fns) {
    if (bundle.target !== "js") throw new Error(`cpu runtime: bundle was compiled for target "${bundle.target}", expected "js"`);
    fns = new Map();
    for (const k of bundle.kernels) fns.set(k.name, new Function(`return ${k.source}`)() as KernelFn);
    compiled.set(bundle, fns);
  }
  return fns;
}

/** A zeroed typed array for `n` elements of `t` (f16 is held as f32, bool as u8, u32 as i32 bits). */
export function allocFor(t: ScalarType, n: number): AnyTypedArray {
  return allocArray(t === "u32" ? "i32" : t, n);
}

/**
 * Executes `bundle` on host arrays. `inputs` follow `bundle.inputs`; `dims`
 * binds the bundle's named dims. Returns one array per `bundle.outputs`.
 * @example const [y] = runBundle(compile(p, { target: "js" }), [x], new Map([["N", 8]]));
 */
export function runBundle(bundle: KernelBundle, inputs: readonly AnyTypedArray[], dims: ReadonlyMap<string, number>): AnyTypedArray[] {
  const fns = kernelsOf(bundle);
  if (inputs.length !== bundle.inputs.length) throw new Error(`cpu runtime: expected ${bundle.inputs.length} inputs, got ${inputs.length}`);
  const arrays = new Map<string, AnyTypedArray>();
  bundle.inputs.forEach((name, i) => arrays.set(name, inputs[i]!));
  for (const b of bundle.buffers) {
    if (arrays.has(b.name)) continue;
    const n = evalSize(b.size, dims);
    const a = allocFor(b.type, n);
    if (b.init) a.set(b.init);
    arrays.set(b.name, a);
  }
  const sizesOf = new Map<string, number[]>();
  for (const k of bundle.kernels) sizesOf.set(k.name, k.sizes.map((s) => evalSize(s, dims)));
  for (const launch of bundle.schedule) {
    const groups = evalSize(launch.grid, dims);
    if (groups <= 0) continue;
    const kernel = bundle.kernels.find((k) => k.name === launch.kernel)!;
    const buffers = kernel.params.map((p) => arrays.get(launch.bindings[p.name]!)!);
    fns.get(launch.kernel)!(buffers, sizesOf.get(launch.kernel)!, groups);
  }
  if (bundle.checks) {
    const flag = arrays.get(bundle.checks.buffer)!;
    if (flag[0]) {
      const message = bundle.checks.messages[flag[0] - 1] ?? "an index is out of range";
      throw new RangeError(message.replaceAll("{index}", String(flag[1])).replaceAll("{size}", String(flag[2])));
    }
  }
  return bundle.outputs.map((name) => arrays.get(name)!);
}
