/**
 * Size limits per target, from the range analysis: what a target cannot
 * compute exactly is rejected, at compile time when the size is static, at
 * bind time when it depends on named dims (`KernelBundle.limits`, evaluated
 * by every runtime with `checkSizeLimits` and by the CUDA host launcher).
 *
 *   target  elements/buffer  index values                     threads/launch  named dims
 *   wgsl    2^31 - 1         2^31 - 1 (i32)                   2^31 - 1        2^31 - 1
 *   js      2^31 - 1         2^53 (plain numbers)             2^31 - 1        -
 *   wasm    2^31 - 1         static: 2^53 (kernel run as JS)  2^31 - 1        2^31 - 1
 *                            symbolic: 2^31 - 1 (i32)
 *   cuda    2^53 - 1         long long where needed           (grid fold)     2^31 - 1 (int params)
 */
import { dimNames, dimToString } from "../../dsl/dims";
import { evalSize, type Kernel, type SizeExpr, type SizeLimit, type Target } from "../kernel_ir";
import { CompileError } from "../types";
import { targetCapabilities } from "../targets";
import { analyzeRanges, foldSize, I32_MAX, sMax, sMul, type KernelRanges } from "./ranges";

const I32 = "2^31 - 1";
const limitText = (n: number) => (n === I32_MAX ? I32 : n === Number.MAX_SAFE_INTEGER ? "2^53 - 1" : String(n));

/** The ops a kernel computes, from its comment (one equation a line): "reduceSum, mul". */
export function kernelOps(k: Kernel): string {
  const ops = new Set<string>();
  for (const line of (k.comment ?? "").split("\n")) {
    const m = /^\S+ = (\w+)/.exec(line.trim());
    if (m) ops.add(m[1]!);
  }
  const first = (k.comment ?? "").split("\n")[0]!.trim();
  return `kernel ${k.name} (${[...ops].join(", ") || "no ops"}${first ? `: ${first}` : ""})`;
}

/**
 * Whether a kernel's index math has a static bound past 2^31 - 1: the wasm
 * target renders such a kernel as JS (plain numbers) instead of rejecting it.
 */
export function staticIndexPastI32(ranges: KernelRanges): boolean {
  return ranges.unproven.some((u) => typeof u.bound === "number" && u.bound > I32_MAX);
}

/** "temp, [T*64], written by kernel k2_map (reshape, mul: ...)": what a buffer holds and which ops write it. */
function bufferOrigin(b: SizedBuffer, kernels: readonly Kernel[]): string {
  const writer = kernels.find((k) => k.params.some((p) => p.name === b.name && p.access === "readWrite"));
  const shape = `[${dimToString(b.size)}]`;
  return `${b.role}, ${shape}${writer ? `, written by ${kernelOps(writer)}` : ""}`;
}

/** A buffer the limits look at. */
export interface SizedBuffer {
  readonly name: string;
  readonly size: SizeExpr;
  readonly role: string;
}

/**
 * The size limits of a bundle for `target`: throws a CompileError naming the op,
 * the size and the limit for static sizes over it; returns the checks of sizes
 * that depend on named dims.
 */
export function sizeLimits(
  target: Target,
  kernels: readonly Kernel[],
  buffers: Iterable<SizedBuffer>,
  dims: readonly string[],
): SizeLimit[] {
  const spec = targetCapabilities(target).sizeLimits;
  const out: SizeLimit[] = [];
  const add = (unfolded: SizeExpr, limit: number, what: string, why: string): void => {
    const size = foldSize(unfolded);
    if (typeof size === "number") {
      if (size > limit)
        throw new CompileError(
          `cannot compile for target "${target}": ${what} is ${size}, more than the ${limitText(limit)} it allows (${why}); ` +
            "split the computation into smaller pieces",
        );
      return;
    }
    out.push({ size, limit, what, why });
  };
  for (const b of buffers)
    add(b.size, spec.elements, `the element count of buffer ${b.name} (${bufferOrigin(b, kernels)})`, spec.elementsWhy);
  for (const k of kernels) {
    const what = kernelOps(k);
    if (spec.threads !== undefined && k.grid !== undefined)
      add(sMul(k.grid, k.workgroupSize), spec.threads, `the thread count of ${what}`, spec.elementsWhy);
    const ranges = analyzeRanges(k);
    const wide = spec.staticWide && staticIndexPastI32(ranges) ? spec.staticWide : undefined;
    const index = wide ? wide.index : spec.index;
    const indexWhy = wide ? wide.why : spec.indexWhy;
    if (index === undefined) continue;
    const unproven = ranges.unproven;
    const fixed = unproven.filter((u) => typeof u.bound === "number");
    const worst = fixed.sort((a, b) => (b.bound as number) - (a.bound as number))[0];
    if (worst) add(worst.bound, index, `the largest index value (${worst.what}) of ${what}`, indexWhy);
    const symbolic = unproven.filter((u) => typeof u.bound !== "number").map((u) => u.bound);
    if (symbolic.length) add(sMax(...symbolic), index, `the largest index value of ${what}`, indexWhy);
  }
  if (spec.dims !== undefined) for (const d of dims) add(d, spec.dims, `dim ${d}`, spec.dimsWhy);
  return out;
}

/**
 * Fails with a RangeError naming the size, the dims and the limit when a
 * bundle's size limit is exceeded for these dims. Every runtime calls it when
 * it binds dims (`who` names the runtime in the message).
 * @example checkSizeLimits(bundle.limits, new Map([["T", 32769]]), "cpu backend");
 */
export function checkSizeLimits(
  limits: readonly SizeLimit[] | undefined,
  dims: ReadonlyMap<string, number>,
  who: string,
): void {
  for (const l of limits ?? []) {
    const n = evalSize(l.size, dims);
    if (n > l.limit) {
      // the dims this size reads (all of them when it reads none: a constant folded late)
      const read = dimNames(l.size).filter((d) => dims.has(d));
      const bound = (read.length ? read.map((d) => [d, dims.get(d)!] as const) : [...dims])
        .map(([k, v]) => `${k} = ${v}`)
        .join(", ");
      throw new RangeError(
        `${who}: with ${bound}, ${l.what} is ${n}, more than the ${limitText(l.limit)} it allows (${l.why}); ` +
          "use smaller dims or split the computation",
      );
    }
  }
}
