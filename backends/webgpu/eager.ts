/**
 * Eager ops on webgpu tensors: `a.add(b)` outside any trace, with `a` on the
 * device, compiles a one-equation program (cached per primitive, params and
 * input signature) and launches it; the result stays on the device.
 */
import type { Aval, Program } from "../../dsl/program";
import { shapeToString } from "../../dsl/shape";
import type { Tensor } from "../../dsl/tensor";
import { bind, traceFlat, type DeviceEagerHandler } from "../../dsl/trace";
import { webgpuBackend } from "./backend";

const MAX_CACHED = 512;
const programs = new Map<string, Program>();

/** A cache key for params made of numbers, strings, booleans and arrays of them; undefined otherwise (e.g. custom-VJP programs). */
function paramsKey(params: unknown): string | undefined {
  let plain = true;
  const text = JSON.stringify(params, (_k, v: unknown) => {
    if (
      typeof v === "function" ||
      (v !== null && typeof v === "object" && !Array.isArray(v) && Object.getPrototypeOf(v) !== Object.prototype)
    )
      plain = false;
    return v;
  });
  return plain ? text : undefined;
}

/** The one-equation program `out = prim(inputs; params)` for these input signatures. */
export function eagerProgram(
  prim: Parameters<DeviceEagerHandler>[0],
  inputs: readonly Aval[],
  params: unknown,
): Program {
  const pk = paramsKey(params);
  const key =
    pk === undefined ? undefined : `${prim}|${pk}|${inputs.map((t) => t.dtype + shapeToString(t.shape)).join(";")}`;
  const hit = key === undefined ? undefined : programs.get(key);
  if (hit) {
    programs.delete(key!); // refresh its place: the cache evicts the least recently used
    programs.set(key!, hit);
    return hit;
  }
  const avals = inputs.map((t) => ({ shape: t.shape, dtype: t.dtype }));
  const { program } = traceFlat((...xs) => [bind(prim, xs, params as never)], avals);
  if (key !== undefined) {
    programs.set(key, program);
    if (programs.size > MAX_CACHED) programs.delete(programs.keys().next().value!);
  }
  return program;
}

/** Runs one primitive on webgpu tensors (and host tensors mixed in, which are uploaded). */
export const webgpuEager: DeviceEagerHandler = (prim, inputs: readonly Tensor[], params) => {
  return webgpuBackend.run(eagerProgram(prim, inputs, params), inputs)[0]!;
};
