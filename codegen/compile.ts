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
import { evalSize, type KernelBundle, type Launch, type SizeExpr, type Target } from "./kernel_ir";
import { LOWERINGS } from "./lower/table";
import { lowerPlan } from "./lower/lower";
import { assignBuffers } from "./passes/buffer_reuse";
import { fuse } from "./passes/fusion";
import { inlineCalls } from "./passes/inline_calls";
import { optimize } from "./passes/pipeline";
import { scheduleFor, type ScheduleOptions } from "./schedule";
import { targetCapabilities } from "./targets";
import { CompileError, checkTargetTypes } from "./types";

export interface CompileOptions extends ScheduleOptions {
  readonly target: Target;
  /** Run the graph passes (default true; false still inlines custom-VJP calls). */
  readonly optimize?: boolean;
  /** Fuse equations into kernels (default true; false gives one kernel per equation). */
  readonly fuse?: boolean;
  /**
   * Check data-dependent indices at run time and report the first bad one
   * (bundle.checks). Default: the target's `runtimeChecksByDefault` (codegen/targets.ts).
   */
  readonly checks?: boolean;
}

/** The largest element count a 32-bit-indexed target can address. */
const MAX_I32_ELEMENTS = 2 ** 31 - 1;

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
  const plan = fuse(prepared, LOWERINGS, { fuse: options.fuse ?? true });
  const caps = targetCapabilities(options.target);
  const lowered = lowerPlan(plan, schedule, LOWERINGS, options.checks ?? caps.runtimeChecksByDefault);
  if (!caps.wideIndices) checkIndexRange(lowered.slots.values(), options.target);
  const { buffers, bufferOf } = assignBuffers(
    lowered.slots,
    lowered.launches,
    lowered.inputs,
    lowered.outputs,
    lowered.checks ? [lowered.checks.slot] : [],
  );
  const schedule_: Launch[] = lowered.launches.map((l) => ({
    kernel: l.kernel,
    grid: l.grid,
    bindings: Object.fromEntries(Object.entries(l.bindings).map(([p, slot]) => [p, bufferOf.get(slot)!])),
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
  };
}

/** 32-bit-indexed targets: every concretely sized buffer must have fewer than 2^31 elements. */
function checkIndexRange(slots: Iterable<{ name: string; size: SizeExpr }>, target: Target): void {
  for (const s of slots) {
    let n: number;
    try {
      n = evalSize(s.size, new Map());
    } catch {
      continue; // symbolic: checked by the runtime when the dims are bound
    }
    if (n > MAX_I32_ELEMENTS) {
      throw new CompileError(
        `cannot compile for target "${target}": buffer ${s.name} has ${n} elements, more than the 2^31 - 1 that 32-bit index math addresses`,
      );
    }
  }
}

export { CompileError };
export type { KernelBundle, Target };
