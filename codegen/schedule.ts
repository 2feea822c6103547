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
 *
 * On parallel targets the schedule also reads the device (`DeviceProfile`,
 * codegen/device.ts): where workgroup memory is slow (GPU APIs on CPU cores:
 * SwiftShader, llvmpipe) GEMMs are barrier-free register tiles (each thread an
 * 8x8 block of outputs), skinny GEMMs (N <= 16) give each thread whole output
 * rows, and rows are reduced by one thread each unless they are few and long.
 * The knob sets per device class are data (`SCHEDULE_CANDIDATES`) so a tuner
 * can time them on the present device.
 */
import type { Dim } from "../dsl/shape";
import type { ScalarType, Target } from "./kernel_ir";
import { targetCapabilities } from "./targets";
import { deviceProfile, type DeviceClass, type DeviceProfile, type DeviceSpec } from "./device";

/** Numbers that tune a schedule (tests shrink them to exercise tails and barriers on small inputs). */
export interface ScheduleKnobs {
  /** Threads per workgroup of elementwise kernels. */
  readonly elementwiseWorkgroup: number;
  /** Threads per workgroup of tree reductions and block scans (a power of two). */
  readonly reduceWorkgroup: number;
  /** Rows at least this long (or of symbolic length) are reduced by a whole workgroup. */
  readonly workgroupReduceMinLength: number;
  /**
   * ...and only when there are at most this many rows (or the count is unknown):
   * where barriers are slow, many rows keep every thread busy one row each.
   */
  readonly workgroupReduceMaxRows: number;
  /**
   * GPU matmuls stage tiles in workgroup shared memory (true) or are barrier-free
   * register tiles, one microM x microN block of outputs per thread (false).
   */
  readonly sharedMatmul: boolean;
  /** Threads per workgroup of register-tiled GPU matmuls. */
  readonly matmulWorkgroup: number;
  /**
   * GPU matmuls with a static N of at most this many columns give each thread
   * `skinnyRows` whole output rows (all N columns in registers); 0: never.
   */
  readonly skinnyN: number;
  readonly skinnyRows: number;
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
  /**
   * Shared-memory schedules: static key counts of at least this many run the dispatch's counting sort over
   * many workgroups (a block-count kernel, then the sort), smaller and symbolic ones in one workgroup.
   */
  readonly dispatchSortManyFrom: number;
  /**
   * GEMM kernels (dense 2-D matmuls, grouped GEMMs and their weight gradient) as warp-level
   * tensor-core tiles where the target has them and the device's compute capability is enough
   * (CUDA: TF32 `mma.sync.m16n8k8` on sm_80+, `Schedule.tensorCores`). TF32 rounds the inputs to
   * 10 mantissa bits (relative error ~1e-3, sums in f32), so it is off by default; not yet
   * verified on hardware (docs/ARCHITECTURE.md, "Tensor-core GEMMs").
   */
  readonly tensorCoreMatmul: boolean;
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
  /**
   * GEMM kernels carry a `Contraction` that the renderer emits as tensor-core tiles (the
   * `tensorCoreMatmul` knob on a target and device that have them); their operands are plain
   * buffers (materialised when computed in place, B packed in column panels), and the kernel
   * body is the FMA tile computing the same outputs on the same launch (`TENSOR_CORE_TILE`).
   */
  readonly tensorCores: boolean;
  /** How rows of `rowLength` are reduced (`rows`: how many, when known). */
  reduce(rowLength: Dim, rows?: Dim): ReduceSchedule;
  /** Prefix scans: a workgroup block scan per line, or one thread per line. */
  scan(lineLength: Dim, lines?: Dim): ReduceSchedule;
  /** The matmul schedule (for an output of N columns, when the lowering knows it: skinny GEMMs). */
  matmul(shape?: { readonly N: Dim }): MatmulSchedule;
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
  /**
   * The device the kernels will run on (parallel targets): its class or profile
   * picks the knobs (`knobsForDevice`); unknown (the default): the target's
   * usual schedule, shared-memory tiles and tree reductions.
   * @example compile(p, { target: "wgsl", device: "cpu" }) // SwiftShader-class schedule
   */
  readonly device?: DeviceSpec;
  readonly knobs?: Partial<ScheduleKnobs>;
}

const GPU_KNOBS: ScheduleKnobs = {
  elementwiseWorkgroup: 256,
  reduceWorkgroup: 256,
  workgroupReduceMinLength: 64,
  workgroupReduceMaxRows: Infinity,
  sharedMatmul: true,
  matmulWorkgroup: 64,
  skinnyN: 0,
  skinnyRows: 1,
  tileM: 64,
  tileN: 64,
  tileK: 16,
  microM: 4,
  microN: 4,
  stridedMicroTile: true,
  // One workgroup's serial passes (n / 256 keys per thread, twice) against one more launch: see counting_sort.ts.
  dispatchSortManyFrom: 2 ** 16,
  tensorCoreMatmul: false,
};

/**
 * The GEMM tile of the tensor-core schedule: a 64 x 64 block of outputs per workgroup of 128
 * threads (4 warps of 32 x 32), K staged 16 deep. The kernel body (the FMA definition on the same
 * launch) uses it as its shared tile with 8 x 4 outputs per thread; the CUDA renderer checks it.
 */
export const TENSOR_CORE_TILE = { tileM: 64, tileN: 64, tileK: 16, microM: 8, microN: 4, workgroupSize: 128 } as const;

/**
 * Slow workgroup memory (a GPU API on CPU cores): barrier-free 8x8 register
 * tiles (64 accumulators, 16 loads per 64 multiply-adds; measured on
 * SwiftShader, see docs/ARCHITECTURE.md), thread-per-row reductions unless a
 * handful of long rows, whole output rows per thread for N <= 16.
 */
const SLOW_WORKGROUP_MEMORY_KNOBS: Partial<ScheduleKnobs> = {
  workgroupReduceMinLength: 4096,
  workgroupReduceMaxRows: 16,
  sharedMatmul: false,
  matmulWorkgroup: 64,
  skinnyN: 16,
  skinnyRows: 1,
  tileM: 8,
  tileN: 8,
  microM: 8,
  microN: 8,
  stridedMicroTile: false,
};

// Serial (CPU) targets: 4x4 register tiles (16 accumulators, 8 loads per 16 multiply-adds); 4x8 measured no faster in V8.
const SERIAL_KNOBS: ScheduleKnobs = {
  elementwiseWorkgroup: 64,
  reduceWorkgroup: 1,
  workgroupReduceMinLength: Infinity,
  workgroupReduceMaxRows: Infinity,
  sharedMatmul: false,
  matmulWorkgroup: 1,
  skinnyN: 0,
  skinnyRows: 1,
  tileM: 4,
  tileN: 4,
  tileK: 1,
  microM: 4,
  microN: 4,
  stridedMicroTile: false,
  dispatchSortManyFrom: Infinity,
  tensorCoreMatmul: false,
};

function isPowerOfTwo(n: number): boolean {
  return Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;
}

/**
 * The knobs a parallel target starts from on a device (before `options.knobs`):
 * the profile's fields decide, never its class name.
 * @example knobsForDevice(deviceProfile("cpu")).sharedMatmul // false
 */
export function knobsForDevice(device: DeviceProfile | undefined): ScheduleKnobs {
  if (!device || device.workgroupMemory === "fast") return GPU_KNOBS;
  return { ...GPU_KNOBS, ...SLOW_WORKGROUP_MEMORY_KNOBS };
}

/** A named knob set a tuner can time (`SCHEDULE_CANDIDATES`). */
export interface ScheduleCandidate {
  /** Stable id, e.g. "matmul.registers8x8". */
  readonly id: string;
  /** What the candidate schedules: GEMMs (dense and grouped), skinny GEMMs, or row reductions. */
  readonly kind: "matmul" | "skinnyMatmul" | "reduce";
  /** The knobs it sets over the device's defaults (`compile(p, { target, device, knobs })`). */
  readonly knobs: Partial<ScheduleKnobs>;
}

/**
 * Candidate schedules per kernel kind, as data: `webgpu:tune` compiles a
 * benchmark kernel with each candidate's knobs on the present device and keeps
 * the fastest. The first candidate of a kind on each class is that class's default.
 * @example SCHEDULE_CANDIDATES.cpu.filter((c) => c.kind === "matmul").map((c) => c.id)
 */
export const SCHEDULE_CANDIDATES: { readonly [C in DeviceClass]: readonly ScheduleCandidate[] } = (() => {
  // "No limit" as a finite number, so candidates survive JSON (tuning files).
  const ANY = 2 ** 30;
  const shared = (tm: number, tn: number, tk: number, mm: number, mn: number): ScheduleCandidate => ({
    id: `matmul.shared${tm}x${tn}k${tk}.micro${mm}x${mn}`,
    kind: "matmul",
    knobs: { sharedMatmul: true, tileM: tm, tileN: tn, tileK: tk, microM: mm, microN: mn, stridedMicroTile: true },
  });
  const registers = (m: number, n: number, wg: number): ScheduleCandidate => ({
    id: `matmul.registers${m}x${n}.wg${wg}`,
    kind: "matmul",
    knobs: { sharedMatmul: false, tileM: m, tileN: n, microM: m, microN: n, matmulWorkgroup: wg },
  });
  const skinny = (rows: number): ScheduleCandidate => ({
    id: `skinnyMatmul.rows${rows}`,
    kind: "skinnyMatmul",
    knobs: { skinnyN: 16, skinnyRows: rows },
  });
  // Tensor cores where the target and device have them (CUDA sm_80+; elsewhere the FMA tiles).
  const tensorCores: ScheduleCandidate = {
    id: "matmul.tensorCoresTf32",
    kind: "matmul",
    knobs: { tensorCoreMatmul: true },
  };
  const noSkinny: ScheduleCandidate = { id: "skinnyMatmul.off", kind: "skinnyMatmul", knobs: { skinnyN: 0 } };
  const reduce = (minLength: number, maxRows: number): ScheduleCandidate => ({
    id: `reduce.workgroupFrom${minLength >= ANY ? "never" : minLength}.upTo${maxRows >= ANY ? "Any" : maxRows}Rows`,
    kind: "reduce",
    knobs: { workgroupReduceMinLength: minLength, workgroupReduceMaxRows: maxRows },
  });
  const gpu: readonly ScheduleCandidate[] = [
    shared(64, 64, 16, 4, 4),
    shared(32, 32, 16, 4, 4),
    shared(64, 64, 8, 4, 4),
    registers(8, 8, 64),
    tensorCores,
    noSkinny,
    skinny(1),
    skinny(4),
    reduce(64, ANY),
    reduce(4096, 16),
  ];
  return {
    cpu: [
      registers(8, 8, 64),
      registers(4, 8, 64),
      registers(8, 4, 64),
      registers(4, 4, 64),
      registers(8, 8, 16),
      shared(64, 64, 16, 4, 4),
      skinny(1),
      skinny(4),
      noSkinny,
      reduce(4096, 16),
      reduce(64, ANY),
      reduce(ANY, ANY),
    ],
    discrete: gpu,
    integrated: gpu,
  };
})();

/**
 * Whether tensor-core GEMMs apply: the target has them (`caps`) and the device's compute capability
 * is known and enough. Asked for where the device is unknown or too old, it fails naming what is
 * needed (a silent fallback would time the FMA path under the tensor-core name).
 */
function tensorCoresOn(caps: { readonly minComputeCapability: number } | null, device: DeviceProfile | undefined) {
  if (!caps) return false;
  const cc = device?.computeCapability;
  if (cc === undefined || cc < caps.minComputeCapability)
    throw new Error(
      `schedule: tensorCoreMatmul needs a device of compute capability >= ${caps.minComputeCapability / 10} ` +
        `(got ${cc === undefined ? "no compute capability" : cc / 10}); pass device: cudaDeviceProfile(8, 0) or the GPU's own`,
    );
  return true;
}

/**
 * The schedule for a target.
 * @example scheduleFor("wgsl").reduce(1024) // { mode: "workgroup", workgroupSize: 256 }
 * @example scheduleFor("wgsl", { device: "cpu" }).matmul().shared // false: register tiles
 */
export function scheduleFor(target: Target, options: ScheduleOptions = {}): Schedule {
  const caps = targetCapabilities(options.like ?? target);
  const gpu = caps.threads === "parallel";
  const device = options.device === undefined ? undefined : deviceProfile(options.device);
  // A target with contraction micro-kernels of its own gets their tile as its register tile.
  const tile = !gpu && caps.contractionTile;
  const knobs: ScheduleKnobs = {
    ...(gpu ? knobsForDevice(device) : SERIAL_KNOBS),
    ...(tile ? { tileM: tile.rows, microM: tile.rows, tileN: tile.cols, microN: tile.cols } : {}),
    ...options.knobs,
  };
  if (gpu && !isPowerOfTwo(knobs.reduceWorkgroup))
    throw new Error(`schedule: reduceWorkgroup ${knobs.reduceWorkgroup} must be a power of two`);
  if (knobs.tileM % knobs.microM || knobs.tileN % knobs.microN)
    throw new Error("schedule: matmul tiles must be multiples of the micro-tile");
  for (const k of ["matmulWorkgroup", "skinnyRows", "microM", "microN"] as const)
    if (!Number.isInteger(knobs[k]) || knobs[k] < 1)
      throw new Error(`schedule: ${k} = ${knobs[k]} must be a positive integer`);
  const limit = device?.maxInvocationsPerWorkgroup;
  if (gpu && limit !== undefined && knobs.matmulWorkgroup > limit)
    throw new Error(`schedule: matmulWorkgroup ${knobs.matmulWorkgroup} exceeds the device's ${limit} invocations`);
  const sharedMatmul = gpu && caps.sharedMemory && knobs.sharedMatmul;
  const tensorCores = gpu && knobs.tensorCoreMatmul && tensorCoresOn(caps.tensorCores, device);
  const known = (d: Dim | undefined): d is number => typeof d === "number";
  // A workgroup per row for long (or symbolic) rows, unless there are many of them.
  const wide = (len: Dim, rows: Dim | undefined) =>
    (!known(len) || len >= knobs.workgroupReduceMinLength) && (!known(rows) || rows <= knobs.workgroupReduceMaxRows);
  const rowSchedule = (len: Dim, rows: Dim | undefined): ReduceSchedule =>
    gpu && wide(len, rows)
      ? { mode: "workgroup", workgroupSize: knobs.reduceWorkgroup }
      : { mode: "thread", workgroupSize: gpu ? knobs.elementwiseWorkgroup : 1 };
  const registerMatmul = (microM: number, microN: number): MatmulSchedule => ({
    shared: false,
    tileM: microM,
    tileN: microN,
    tileK: knobs.tileK,
    microM,
    microN,
    strided: false,
    workgroupSize: gpu ? knobs.matmulWorkgroup : 1,
  });
  return {
    target,
    sharedMemory: caps.sharedMemory,
    knobs,
    tensorCores,
    reduce: rowSchedule,
    scan: rowSchedule,
    matmul: (shape) => {
      const N = shape?.N;
      if (gpu && known(N) && N <= knobs.skinnyN) return registerMatmul(knobs.skinnyRows, N);
      if (tensorCores) return { shared: true, strided: true, ...TENSOR_CORE_TILE };
      if (!sharedMatmul) return registerMatmul(knobs.microM, knobs.microN);
      return {
        shared: true,
        tileM: knobs.tileM,
        tileN: knobs.tileN,
        tileK: knobs.tileK,
        microM: knobs.microM,
        microN: knobs.microN,
        strided: knobs.stridedMicroTile,
        workgroupSize: (knobs.tileM / knobs.microM) * (knobs.tileN / knobs.microN),
      };
    },
    accumulator: (type) => (caps.floatAccumulator === "f64" && (type === "f32" || type === "f16") ? "f64" : type),
    scatter: options.scatter === "atomic" && gpu && caps.integerAtomics ? "atomic" : gpu ? "segment" : "serial",
  };
}
