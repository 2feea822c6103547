/**
 * Times schedule candidates on the present WebGPU adapter (what
 * `npm run webgpu:tune` runs): each candidate's knobs compile every program
 * for the adapter's device profile (`compile(p, { target: "wgsl", device, knobs })`),
 * its outputs are checked against the reference, and its wall time per call
 * (submit to completion, inputs on the device) is the median of `repeats`
 * calls after a warm-up. The best row is the correct candidate with the least
 * total time over the programs. The choice to keep: candidates of a kind
 * (`SCHEDULE_CANDIDATES` declares matmul, skinny-matmul and reduce candidates,
 * each over the class's defaults, setting disjoint knobs) compete within their
 * kind, and the winners' knobs are merged; a list without kinds gives its best
 * row. The candidates are data (backends/webgpu/tune_candidates.ts, or a JSON list).
 *
 * @example
 * const { rows, best } = await tuneWebGPU(ctx, [{ name: "mm", program, inputs, want }], candidates, { error: relativeError });
 * console.log(best?.candidate.name, best?.totalMs);
 */
import { compile } from "../../codegen/compile";
import "../../codegen/emit/wgsl";
import type { ScheduleKnobs } from "../../codegen/schedule";
import type { Program } from "../../dsl/program";
import type { Tensor } from "../../dsl/tensor";
import { bindDims } from "../../dsl/trace";
import { allocArray, downloadArray, releaseArray, uploadArray, type DeviceArray } from "./buffers";
import type { WebGPUContext } from "./device";
import { WebGPUExecutable } from "./executor";
import { runtimeFor } from "./runtime";
import { checkKnobs } from "./tuning";

/** One schedule to try: a name and the knobs it overrides (the rest are the target's defaults). */
export interface TuneCandidate {
  readonly name: string;
  /** The kernel kind it schedules (`ScheduleCandidate.kind`); candidates compete within their kind. */
  readonly kind?: string;
  readonly knobs: Partial<ScheduleKnobs>;
}

/** A program to time, its inputs, and the outputs it must give (e.g. the interpreter's). */
export interface TuneProgram {
  readonly name: string;
  readonly program: Program;
  readonly inputs: readonly Tensor[];
  readonly want: readonly ArrayLike<number>[];
}

/** One candidate's result. */
export interface TuneRow {
  readonly candidate: TuneCandidate;
  /** Median wall ms per call, one per program (empty when `error`). */
  readonly ms: readonly number[];
  /** Sum of `ms`. */
  readonly totalMs: number;
  /** Largest error (`options.error`) of any output against `want`. */
  readonly maxError: number;
  /** Why the candidate could not run (it does not compile for this device, ...). */
  readonly error?: string;
}

export interface TuneOptions {
  /** The error of an output against the wanted one (e.g. testing's `relativeError`). */
  readonly error: (got: ArrayLike<number>, want: ArrayLike<number>) => number;
  /** Timed calls per program and candidate, after one warm-up (default 3). */
  readonly repeats?: number;
  /** Outputs further than this from `want` disqualify a candidate (default 1e-4). */
  readonly tolerance?: number;
  /** Called with each row as it is measured. */
  readonly onRow?: (row: TuneRow) => void;
}

const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Checks a candidate list (names, knobs); throws naming `where` and the bad entry. */
export function checkCandidates(candidates: unknown, where: string): TuneCandidate[] {
  if (!Array.isArray(candidates) || candidates.length === 0)
    throw new Error(`${where}: expected a non-empty array of { "name": string, "knobs": {...} }`);
  return candidates.map((c: Partial<TuneCandidate>, i) => {
    if (typeof c?.name !== "string") throw new Error(`${where}: candidate ${i} has no "name"`);
    if (c.kind !== undefined && typeof c.kind !== "string")
      throw new Error(`${where}: candidate "${c.name}": "kind" must be a string`);
    const knobs = checkKnobs(c.knobs, `${where}, candidate "${c.name}"`);
    return c.kind === undefined ? { name: c.name, knobs } : { name: c.name, kind: c.kind, knobs };
  });
}

/** Times one candidate on every program. */
async function timeCandidate(
  ctx: WebGPUContext,
  programs: readonly TuneProgram[],
  uploaded: readonly DeviceArray[][],
  candidate: TuneCandidate,
  repeats: number,
  error: TuneOptions["error"],
): Promise<TuneRow> {
  const rt = runtimeFor(ctx);
  const ms: number[] = [];
  let maxError = 0;
  for (const [pi, p] of programs.entries()) {
    const bundle = compile(p.program, { target: "wgsl", device: ctx.deviceProfile, knobs: candidate.knobs });
    const exe = new WebGPUExecutable(ctx, rt.pool, rt.pipelines, bundle);
    try {
      await exe.warm();
      const dims = bindDims(p.program, p.inputs, "webgpu:tune");
      const call = async (read: boolean) => {
        const t = performance.now();
        const sub = exe.run(dims, uploaded[pi]!);
        await sub.done;
        await ctx.device.queue.onSubmittedWorkDone();
        const took = performance.now() - t;
        const outs = read ? await Promise.all(sub.outputs.map((a) => downloadArray(ctx, a))) : [];
        new Set(sub.outputs.filter((_, i) => sub.owned[i])).forEach((a) => releaseArray(rt.pool, a));
        return { took, outs };
      };
      const { outs } = await call(true); // warm-up, and the values to check
      outs.forEach((o, i) => (maxError = Math.max(maxError, error(o, p.want[i]!))));
      const times: number[] = [];
      for (let r = 0; r < repeats; r++) times.push((await call(false)).took);
      ms.push(median(times));
    } finally {
      exe.dispose();
    }
  }
  return { candidate, ms, totalMs: ms.reduce((s, x) => s + x, 0), maxError };
}

/**
 * Times every candidate on every program (see the file comment); candidates
 * that fail get a row with `error`, those further than `tolerance` from
 * `want` are never the best.
 */
export async function tuneWebGPU(
  ctx: WebGPUContext,
  programs: readonly TuneProgram[],
  candidates: readonly TuneCandidate[],
  options: TuneOptions,
): Promise<{ rows: TuneRow[]; best?: TuneRow; choice?: TuneCandidate }> {
  const repeats = options.repeats ?? 3;
  const tolerance = options.tolerance ?? 1e-4;
  if (!Number.isInteger(repeats) || repeats < 1)
    throw new Error(`tuneWebGPU: repeats ${repeats}: expected an integer >= 1`);
  const rt = runtimeFor(ctx);
  const uploaded = programs.map((p) =>
    p.inputs.map((t) => {
      const host = t._value();
      const a = allocArray(ctx, rt.pool, host.dtype, host.size);
      uploadArray(ctx, a, host.data);
      return a;
    }),
  );
  const rows: TuneRow[] = [];
  try {
    for (const candidate of candidates) {
      let row: TuneRow;
      try {
        row = await timeCandidate(ctx, programs, uploaded, candidate, repeats, options.error);
      } catch (e) {
        const why = (e instanceof Error ? e.message : String(e)).split("\n")[0]!;
        row = { candidate, ms: [], totalMs: Infinity, maxError: Infinity, error: why };
      }
      rows.push(row);
      options.onRow?.(row);
    }
  } finally {
    uploaded.flat().forEach((a) => releaseArray(rt.pool, a));
  }
  const ok = rows.filter((r) => !r.error && r.maxError <= tolerance);
  const best = fastest(ok);
  const choice = best && chooseSchedule(ok);
  return { rows, ...(best ? { best, choice } : {}) };
}

const fastest = (rows: readonly TuneRow[]): TuneRow | undefined =>
  rows.reduce<TuneRow | undefined>((b, r) => (!b || r.totalMs < b.totalMs ? r : b), undefined);

/**
 * The schedule to keep from the correct rows: the fastest of each kind, knobs merged in the order the kinds
 * first appear (kinds set disjoint knobs); rows without a kind compete as one kind of their own.
 */
export function chooseSchedule(ok: readonly TuneRow[]): TuneCandidate | undefined {
  const kinds = [...new Set(ok.map((r) => r.candidate.kind))];
  const winners = kinds.map((k) => fastest(ok.filter((r) => r.candidate.kind === k))!.candidate);
  if (winners.length === 0) return undefined;
  if (winners.length === 1) return winners[0]!;
  return {
    name: winners.map((c) => c.name).join(" + "),
    knobs: Object.assign({}, ...winners.map((c) => c.knobs)) as Partial<ScheduleKnobs>,
  };
}
