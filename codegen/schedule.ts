/**
 * Scheduling heuristics, in one place: workgroup sizes, whether a reduction or
 * a scan uses a workgroup (tree reduce / block scan in shared memory) or one
 * thread per row, matmul tiling, accumulator types, and how scatters stay
 * deterministic. Lowering asks the schedule; emitters never decide any of it.
 *
 * The schedule reads the target's capabilities (codegen/targets.ts), never its
 * name: targets whose workgroups run `parallel` threads (GPUs) use shared memory
 * and barriers; `serial` targets (one CPU thread per workgroup) use neither:
 * rows are reduced in a loop, matmuls use register micro-tiles, scatters run in
 * index order.
 */
import type { Dim } from "../dsl/shape";
import type { ScalarType, Target } from "./kernel_ir";
import { targetCapabilities } from "./targets";

/** Numbers that tune a schedule (tests shrink them to exercise tails and barriers on small inputs). */
export interface ScheduleKnobs {
  /** Threads per workgroup of elementwise kernels. */
  readonly elementwiseWorkgroup: number;
  /** Threads per workgroup of tree reductions and block scans (a power of two). */
  readonly reduceWorkgroup: number;
  /** Rows at least this long (or of symbolic length) are reduced by a whole workgroup. */
  readonly workgroupReduceMinLength: number;
  /** Matmul output tile per workgroup (GPU) and K step staged in shared memory. */
  readonly tileM: number;
  readonly tileN: number;
  readonly tileK: number;
  /** Outputs per thread (register micro-tile). */
  readonly microM: number;
  readonly microN: number;
  /**
   * Shared-memory matmul tiles: a thread's outputs are every threadsM-th row and
   * threadsN-th column of the tile (true) or one contiguous block (false).
   */
  readonly stridedMicroTile: boolean;
}

export interface ReduceSchedule {
  /** `workgroup`: one workgroup per row with a shared-memory tree reduce; `thread`: one thread per row. */
  readonly mode: "thread" | "workgroup";
  readonly workgroupSize: number;
}

export interface MatmulSchedule {
  /** Stage operand tiles in workgroup shared memory. */
  readonly shared: boolean;
  readonly tileM: number;
  readonly tileN: number;
  readonly tileK: number;
  readonly microM: number;
  readonly microN: number;
  /** Shared tiles: strided (interleaved) micro-tiles instead of contiguous blocks. */
  readonly strided: boolean;
  readonly workgroupSize: number;
}

export interface Schedule {
  readonly target: Target;
  /** Whether kernels may use workgroup shared memory and barriers. */
  readonly sharedMemory: boolean;
  readonly knobs: ScheduleKnobs;
  reduce(rowLength: Dim): ReduceSchedule;
  /** Prefix scans: a workgroup block scan per line, or one thread per line. */
  scan(lineLength: Dim): ReduceSchedule;
  matmul(): MatmulSchedule;
  /** Type sums of `type` accumulate in (the JS target sums floats in f64, like the interpreter). */
  accumulator(type: ScalarType): ScalarType;
  /**
   * scatter-add: `serial` (one thread per line, in index order: JS), `segment`
   * (sort by index, then each output sums its segment in index order: GPU,
   * deterministic), or `atomic` (integer atomics; only when asked for).
   */
  readonly scatter: "serial" | "segment" | "atomic";
}

export interface ScheduleOptions {
  /** Schedule as for another target's capabilities (e.g. run GPU-shaped kernels on the JS target in tests). */
  readonly like?: Target;
  /** `atomic` allows atomics for integer scatter-adds (float scatters stay deterministic). Default `deterministic`. */
  readonly scatter?: "deterministic" | "atomic";
  readonly knobs?: Partial<ScheduleKnobs>;
}

const GPU_KNOBS: ScheduleKnobs = {
  elementwiseWorkgroup: 256,
  reduceWorkgroup: 256,
  workgroupReduceMinLength: 64,
  tileM: 64,
  tileN: 64,
  tileK: 16,
  microM: 4,
  microN: 4,
  stridedMicroTile: true,
};

// Serial (CPU) targets: 4x4 register tiles (16 accumulators, 8 loads per 16 multiply-adds); 4x8 measured no faster in V8.
const SERIAL_KNOBS: ScheduleKnobs = {
  elementwiseWorkgroup: 64,
  reduceWorkgroup: 1,
  workgroupReduceMinLength: Infinity,
  tileM: 4,
  tileN: 4,
  tileK: 1,
  microM: 4,
  microN: 4,
  stridedMicroTile: false,
};

function isPowerOfTwo(n: number): boolean {
  return Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;
}

/**
 * The schedule for a target.
 * @example scheduleFor("wgsl").reduce(1024) // { mode: "workgroup", workgroupSize: 256 }
 */
export function scheduleFor(target: Target, options: ScheduleOptions = {}): Schedule {
  const caps = targetCapabilities(options.like ?? target);
  const gpu = caps.threads === "parallel";
  // A target with contraction micro-kernels of its own gets their tile as its register tile.
  const tile = !gpu && caps.contractionTile;
  const knobs: ScheduleKnobs = {
    ...(gpu ? GPU_KNOBS : SERIAL_KNOBS),
    ...(tile ? { tileM: tile.rows, microM: tile.rows, tileN: tile.cols, microN: tile.cols } : {}),
    ...options.knobs,
  };
  if (gpu && !isPowerOfTwo(knobs.reduceWorkgroup))
    throw new Error(`schedule: reduceWorkgroup ${knobs.reduceWorkgroup} must be a power of two`);
  if (knobs.tileM % knobs.microM || knobs.tileN % knobs.microN)
    throw new Error("schedule: matmul tiles must be multiples of the micro-tile");
  const wide = (len: Dim) => typeof len !== "number" || len >= knobs.workgroupReduceMinLength;
  return {
    target,
    sharedMemory: caps.sharedMemory,
    knobs,
    reduce: (len) =>
      gpu && wide(len)
        ? { mode: "workgroup", workgroupSize: knobs.reduceWorkgroup }
        : { mode: "thread", workgroupSize: gpu ? knobs.elementwiseWorkgroup : 1 },
    scan: (len) =>
      gpu && wide(len)
        ? { mode: "workgroup", workgroupSize: knobs.reduceWorkgroup }
        : { mode: "thread", workgroupSize: gpu ? knobs.elementwiseWorkgroup : 1 },
    matmul: () => ({
      shared: caps.sharedMemory,
      tileM: gpu ? knobs.tileM : knobs.microM,
      tileN: gpu ? knobs.tileN : knobs.microN,
      tileK: knobs.tileK,
      microM: knobs.microM,
      microN: knobs.microN,
      strided: gpu && knobs.stridedMicroTile,
      workgroupSize: gpu ? (knobs.tileM / knobs.microM) * (knobs.tileN / knobs.microN) : 1,
    }),
    accumulator: (type) => (caps.floatAccumulator === "f64" && (type === "f32" || type === "f16") ? "f64" : type),
    scatter: options.scatter === "atomic" && gpu && caps.integerAtomics ? "atomic" : gpu ? "segment" : "serial",
  };
}
