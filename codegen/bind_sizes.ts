/**
 * The bind-time hook: a bundle's buffer sizes evaluated once for the bound
 * dims, with the checks that only a binding can decide. A bundle compiled
 * with a symbolic T has sizes like `T*64`; `compile` checks concrete sizes,
 * this checks the symbolic ones when a call binds T, and the bundle's other
 * size limits (index values, threads, dims: `KernelBundle.limits`). Every
 * runtime calls it when it binds dims (per-target buffer limits plug in via
 * `maxElements`).
 */
import { MAX_I32_ELEMENTS, dimNames, dimToString, evalDim, type DimEnv } from "../dsl/dims";
import type { KernelBundle } from "./kernel_ir";
import { checkSizeLimits } from "./analysis/limits";

// i32 index math addresses buffers of fewer than 2^31 elements.
export { MAX_I32_ELEMENTS } from "../dsl/dims";

/**
 * Element count of every buffer of `bundle` for `dims`; throws naming the
 * buffer, its size expression and the binding when one exceeds `maxElements`,
 * or naming the size and the limit when another of `bundle.limits` is exceeded.
 * @example const sizes = bindBufferSizes(bundle, new Map([["T", 300]])); // Map { "in0" => 4800, ... }
 */
export function bindBufferSizes(
  bundle: KernelBundle,
  dims: DimEnv,
  maxElements = MAX_I32_ELEMENTS,
  what = "bundle",
): Map<string, number> {
  // The bundle's own limits first: compile() records one per symbolic buffer size, index bound and
  // thread count, each naming the ops involved. maxElements guards bundles built without them (by hand).
  checkSizeLimits(bundle.limits, dims, what);
  const out = new Map<string, number>();
  for (const b of bundle.buffers) {
    const n = evalDim(b.size, dims);
    if (n > maxElements) {
      const binding = dimNames(b.size)
        .map((d) => `${d} = ${dims.get(d)}`)
        .join(", ");
      throw new RangeError(
        `${what}: buffer ${b.name} (${b.type}[${dimToString(b.size)}]) has ${n} elements at ${binding}, ` +
          `more than the ${maxElements} that 32-bit index math addresses; bind smaller sizes or split the call`,
      );
    }
    if (n < 0) throw new RangeError(`${what}: buffer ${b.name} has size ${dimToString(b.size)} = ${n} < 0`);
    out.set(b.name, n);
  }
  return out;
}
