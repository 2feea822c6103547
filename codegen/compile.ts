/**
 * `compile(program, { target })`: Program -> KernelBundle.
 *
 *   graph passes (inline calls, simplify, fold, CSE, DCE)
 *   -> fusion (equations grouped into kernels)
 *   -> lowering (kernel IR, per the lowering table and the target's schedule)
 *   -> buffer reuse (temporaries with disjoint lives share buffers)
 *   -> emission (each kernel rendered by the target's emitter).
 */
import type { Program } from "../dsl/program";
import "./emit/js";
import { getEmitter } from "./emit/emitter";
import { shapeToString } from "../dsl/shape";
import { sizeLimits } from "./analysis/limits";
import { I32_MAX } from "./analysis/ranges";
import type { KernelBundle, Launch, Target } from "./kernel_ir";
import { LOWERINGS } from "./lower/table";
import { lowerPlan, type LoweredProgram } from "./lower/lower";
import { checkFlagBinder } from "./lower/check_flag";
import { assignBuffers } from "./passes/buffer_reuse";
import { FUSION_BUFFER_BUDGET, fuse } from "./passes/fusion";
import { fuseRouters } from "./passes/router_fusion";
import { inlineCalls } from "./passes/inline_calls";
import { optimize } from "./passes/pipeline";
import { scheduleFor, type Schedule, type ScheduleOptions } from "./schedule";
import { deviceProfile, type DeviceSpec } from "./device";
import { targetCapabilities } from "./targets";
import { CompileError, checkTargetTypes } from "./types";
import { microKernelTarget } from "./lower/kernels/contraction";

export interface CompileOptions extends ScheduleOptions {
  readonly target: Target;
  /** Run the graph passes (default true; false still inlines custom-VJP calls). */
  readonly optimize?: boolean;
  /** Fuse equations into kernels (default true; false gives one kernel per equation). */
  readonly fuse?: boolean;
  /**
   * Check data-dependent indices (take, scatterAdd, bincount, ...) and group
   * sizes (raggedMatmul) at run time and report the first failure
   * (bundle.checks). Default: the target's `runtimeChecksByDefault` (codegen/targets.ts: on for every target); `false` drops the checks
   * (out-of-range indices are then clamped or skipped, never read out of bounds).
   */
  readonly checks?: boolean;
  /**
   * Fuse grouped GEMMs with their token gather, sibling GEMM and elementwise epilogue (docs/ARCHITECTURE.md,
   * "Contraction fusion"). Default: on, except on targets with contraction micro-kernels (wasm), whose fused
   * forms (lower/kernels/fused_contraction.ts) run the epilogue per element with imported transcendentals, and
   * where the plan recomputes sigmoid in the backward instead of reading it: measured single-threaded on the
   * benchmark layer, fused fwd ~83 ms of kernels vs 81 unfused, fwd+bwd ~225 vs 183 (docs/NUMERICS.md).
   */
  readonly groupedGemmFusion?: boolean;
}

/**
 * Compiles a Program to kernels for a target: kernel sources, buffers (with
 * sizes as expressions of the program's named dims), and the launch schedule.
 * Fails with a CompileError naming the op when the target cannot run it (a
 * dtype it lacks, an op without a lowering).
 * @example
 * const p = trace((x) => x.mul(2).exp(), spec(["N"]));
 * const bundle = compile(p, { target: "wgsl" });
 * bundle.kernels.length; // 1 (the mul and exp are fused)
 */
export function compile(program: Program, options: CompileOptions): KernelBundle {
  const emitter = getEmitter(options.target);
  checkTargetTypes(program, emitter);
  const prepared = options.optimize === false ? inlineCalls(program) : optimize(program);
  for (const e of prepared.eqns) {
    const rule = LOWERINGS[e.prim];
    if (rule.kind === "unsupported") {
      throw new CompileError(
        `cannot compile op "${e.prim}" (${e.out} = ${e.prim} ${e.inputs.join(" ")}) for target "${options.target}": ${rule.reason}`,
      );
    }
  }
  const schedule = scheduleFor(options.target, options);
  const caps = targetCapabilities(options.target);
  const checks = options.checks ?? caps.runtimeChecksByDefault;
  const lowered = lowerWithinBindings(prepared, options, schedule, checks);
  if (caps.wideIndices) checkIndexTensorAxes(prepared, options.target);
  const limits = sizeLimits(options.target, lowered.kernels, lowered.slots.values(), lowered.dims);
  const { buffers, bufferOf } = assignBuffers(
    lowered.slots,
    lowered.launches,
    lowered.inputs,
    lowered.outputs,
    lowered.checks ? [lowered.checks.slot] : [],
    lowered.kept,
  );
  const schedule_: Launch[] = lowered.launches.map((l) => ({
    kernel: l.kernel,
    grid: l.grid,
    bindings: Object.fromEntries(Object.entries(l.bindings).map(([p, slot]) => [p, bufferOf.get(slot)!])),
    ...(l.reusable ? { reusable: { inputs: l.reusable.inputs.map((s) => bufferOf.get(s)!) } } : {}),
  }));
  for (const k of lowered.kernels) {
    for (const t of [...k.params.map((p) => p.type), ...k.shared.map((s) => s.type)]) {
      const ok = emitter.supports(t);
      if (ok !== true)
        throw new CompileError(
          `cannot compile kernel ${k.name} for target "${options.target}": it needs type ${t}: ${ok}\n${k.comment ?? ""}`,
        );
    }
  }
  return {
    target: options.target,
    dims: lowered.dims,
    kernels: lowered.kernels.map((k) => ({ ...k, source: emitter.render(k) })),
    buffers,
    schedule: schedule_,
    inputs: lowered.inputs.map((s) => bufferOf.get(s)!),
    outputs: lowered.outputs.map((s) => bufferOf.get(s)!),
    ...(lowered.checks
      ? { checks: { buffer: bufferOf.get(lowered.checks.slot)!, messages: lowered.checks.messages } }
      : {}),
    ...(limits.length ? { limits } : {}),
  };
}

/**
 * Fusion and lowering within the storage buffers a kernel may bind (`storageBufferLimit`).
 * Fusion counts every binding it can foresee, the check flag included; a lowered kernel
 * that still binds more (an op's scratch buffers, a check the fusion pass did not predict)
 * makes fusion plan again with that much less room, down to kernels of single equations.
 */
function lowerWithinBindings(
  prepared: Program,
  options: CompileOptions,
  schedule: Schedule,
  checks: boolean,
): LoweredProgram {
  const limit = storageBufferLimit(options.target, options.device);
  const bindsCheckFlag = checkFlagBinder(prepared, checks);
  const groupedGemms = options.groupedGemmFusion ?? !microKernelTarget(options.target, schedule);
  for (let maxBuffers = Math.min(limit ?? FUSION_BUFFER_BUDGET, FUSION_BUFFER_BUDGET); ;) {
    const fuseOn = (options.fuse ?? true) && maxBuffers > 1;
    const fused = fuse(prepared, LOWERINGS, { fuse: fuseOn, groupedGemms, maxBuffers, bindsCheckFlag });
    const plan = fuseOn ? fuseRouters(fused, schedule, LOWERINGS, maxBuffers) : fused;
    const lowered = lowerPlan(plan, schedule, LOWERINGS, checks);
    // A program with no equations (outputs are inputs or constants) lowers to no kernels.
    if (limit === null || lowered.kernels.length === 0) return lowered;
    const widest = lowered.kernels.reduce((w, k) => (k.params.length > w.params.length ? k : w));
    const excess = widest.params.length - limit;
    if (excess <= 0) return lowered;
    if (!fuseOn)
      throw new CompileError(
        `cannot compile kernel ${widest.name} for target "${options.target}": ` +
          `it binds ${widest.params.length} storage buffers (${widest.params.map((p) => p.name).join(", ")}); ` +
          `the device allows ${limit} per kernel\n${widest.comment ?? ""}`,
      );
    maxBuffers = Math.max(1, maxBuffers - excess);
  }
}

/**
 * Storage buffers one kernel may bind on `target` (on `device`, when its profile says), or null for none.
 * @example storageBufferLimit("wgsl") // 8: WebGPU's default maxStorageBuffersPerShaderStage
 */
export function storageBufferLimit(target: Target, device?: DeviceSpec): number | null {
  const limit = targetCapabilities(target).maxStorageBuffers;
  const own = device === undefined ? undefined : deviceProfile(device).maxStorageBuffersPerShaderStage;
  return limit === null ? null : (own ?? limit);
}

/**
 * Targets with wide index math (CUDA): index tensors and positions computed as values (argsort, topK, iota,
 * take, scatterAdd, ...) are i32, so an op with i32 operands or results can
 * only address axes below 2^31; everything else is computed in 64 bits.
 */
function checkIndexTensorAxes(program: Program, target: Target): void {
  for (const e of program.eqns) {
    const vars = [e.out, ...e.inputs];
    if (!vars.some((x) => x.dtype === "i32")) continue;
    for (const x of vars) {
      const big = x.shape.find((d) => typeof d === "number" && d > I32_MAX);
      if (big !== undefined)
        throw new CompileError(
          `cannot compile op "${e.prim}" (${e.out}:${e.out.dtype}${shapeToString(e.out.shape)} = ${e.prim} ${e.inputs.join(" ")}) ` +
            `for target "${target}": its operand ${x}:${x.dtype}${shapeToString(x.shape)} has an axis of ${big} elements, ` +
            "more than the 2^31 - 1 that i32 indices address",
        );
    }
  }
}

export { CompileError };
export type { KernelBundle, Target };
