/**
 * Runs a WGSL `KernelBundle` on a GPUDevice: allocates its buffers (pooled),
 * writes the size uniforms, encodes every launch of the schedule into one
 * compute pass (WebGPU orders dispatches in a pass and makes each one's writes
 * visible to the next), and submits. Nothing here waits: errors of a
 * submission arrive asynchronously and are attached to its outputs.
 *
 * Large buffers: an array over the binding limit is stored as chunks and the
 * kernels that touch it are re-emitted with a split layout (`WgslSplit`).
 */
import { MAX_I32_ELEMENTS, bindBufferSizes } from "../../codegen/bind_sizes";
import { evalSize, type BufferDecl, type Kernel, type KernelBundle } from "../../codegen/kernel_ir";
import { emitWgsl, wgslLayout, type WgslEmitOptions, type WgslLayout, type WgslSplit } from "../../codegen/emit/wgsl";
import {
  USAGE,
  acquireStaging,
  allocArray,
  releaseArray,
  releaseStaging,
  uploadArray,
  type BufferPool,
  type DeviceArray,
} from "./buffers";
import type { WebGPUContext } from "./device";
import { checkIndexRange, foldGrid } from "./launch";
import { RunTimeEstimate, SubmissionPace } from "./pacing";
import type { PipelineCache } from "./pipelines";

export interface RunOptions {
  /** Time every launch with timestamp queries (needs the device's `timestamp-query` feature). */
  readonly timeLaunches?: boolean;
}

/** GPU time of one launch. */
export interface LaunchTime {
  readonly kernel: string;
  readonly comment?: string;
  readonly ms: number;
}

/** The outputs of one submission. */
export interface Submission {
  /** One array per bundle output; `owned[i]` false when it is an input or constant the caller must not release. */
  readonly outputs: readonly DeviceArray[];
  readonly owned: readonly boolean[];
  /** Resolves when the device accepted the work; rejects with the validation/compile/out-of-memory error otherwise. */
  readonly done: Promise<void>;
  /** Waits on the submission's work through this (sleeping first, see pacing.ts). */
  readonly pace: SubmissionPace;
  /** Per-launch GPU times, when `timeLaunches` was asked for. */
  readonly launchTimes?: Promise<LaunchTime[]>;
}

type BundleKernel = Kernel & { readonly source: string };

/** Device memory an executable keeps across runs; freed by `dispose()` or when the executable is garbage-collected. */
interface Resident {
  readonly pool: BufferPool;
  readonly consts: Map<string, DeviceArray>;
  uniform?: { buffer: GPUBuffer; last: Int32Array<ArrayBuffer> };
  /**
   * Intermediate buffers (neither inputs nor outputs) for the dims of the last run: reused by the next run
   * (the queue runs submissions in order, so its writes follow this run's reads), which keeps the bind
   * groups of launches over them and the weights valid across calls.
   */
  temps?: { key: string; arrays: Map<string, DeviceArray> };
  /** Bind groups by launch and bound buffers, least recently used first. */
  readonly bindGroups: Map<string, GPUBindGroup>;
}

function freeTemps(r: Resident): void {
  for (const a of r.temps?.arrays.values() ?? []) releaseArray(r.pool, a);
  r.temps = undefined;
}

function freeResident(r: Resident): void {
  for (const a of r.consts.values()) releaseArray(r.pool, a);
  r.consts.clear();
  freeTemps(r);
  r.bindGroups.clear();
  r.uniform?.buffer.destroy();
  r.uniform = undefined;
}

/** Identities of GPUBuffers, for bind-group cache keys. */
const bufferIds = new WeakMap<GPUBuffer, number>();
let nextBufferId = 0;
function bufferId(b: GPUBuffer): number {
  let id = bufferIds.get(b);
  if (id === undefined) bufferIds.set(b, (id = nextBufferId++));
  return id;
}

/** Counts of what runs created, for tests and the benchmark (a steady-state call creates no bind groups). */
export const executorCounters = { bindGroups: 0, bindGroupHits: 0 };

const executableGone = new FinalizationRegistry<Resident>(freeResident);

/** A compiled bundle bound to a device: run it as often as needed with different inputs and dims. */
export class WebGPUExecutable {
  private readonly kernels = new Map<string, BundleKernel>();
  private readonly resident: Resident;
  /** Each kernel's source and layout per chunk layout of its arrays (`sourceFor`). */
  private readonly sources = new Map<string, { source: string; layout: WgslLayout }>();
  /** How long a run of this bundle takes on the device (reads sleep for most of it before polling). */
  private readonly runTime = new RunTimeEstimate();

  constructor(
    private readonly ctx: WebGPUContext,
    private readonly pool: BufferPool,
    private readonly pipelines: PipelineCache,
    readonly bundle: KernelBundle,
  ) {
    if (bundle.target !== "wgsl")
      throw new Error(
        `webgpu backend: a bundle compiled for "${bundle.target}" cannot run on WebGPU; compile with target "wgsl"`,
      );
    this.resident = { pool, consts: new Map(), bindGroups: new Map() };
    executableGone.register(this, this.resident, this);
    for (const k of bundle.kernels) this.kernels.set(k.name, k);
    for (const l of bundle.schedule) {
      if (!this.kernels.has(l.kernel))
        throw new Error(`webgpu backend: the schedule launches "${l.kernel}", which is not a kernel of the bundle`);
    }
  }

  private decl(name: string): BufferDecl {
    const d = this.bundle.buffers.find((b) => b.name === name);
    if (!d) throw new Error(`webgpu backend: the bundle uses buffer "${name}", which it does not declare`);
    return d;
  }

  private constArray(d: BufferDecl, length: number): DeviceArray {
    const hit = this.resident.consts.get(d.name);
    if (hit && hit.length === length) return hit;
    const a = allocArray(this.ctx, this.pool, d.type, length);
    const init = d.init ?? [];
    if (init.length !== length)
      throw new Error(
        `webgpu backend: constant buffer "${d.name}" has ${init.length} initial values for ${length} elements`,
      );
    uploadArray(this.ctx, a, init);
    if (hit) releaseArray(this.pool, hit);
    this.resident.consts.set(d.name, a);
    return a;
  }

  /** The WGSL of `kernel` and its bind-group layout for the chunk layout of the arrays bound to it (made once each). */
  private sourceFor(kernel: BundleKernel, splits: Record<string, WgslSplit>): { source: string; layout: WgslLayout } {
    const names = Object.keys(splits);
    const key = `${kernel.name}|${names.map((n) => `${n}:${splits[n]!.chunks}x${splits[n]!.chunkElements}`).join(",")}`;
    let hit = this.sources.get(key);
    if (!hit) {
      const options: WgslEmitOptions = names.length === 0 ? {} : { splits };
      const source = names.length === 0 ? kernel.source : emitWgsl(kernel, options);
      hit = { source, layout: wgslLayout(kernel, options) };
      this.sources.set(key, hit);
    }
    return hit;
  }

  /**
   * Encodes and submits the bundle's schedule.
   * @param dims sizes of the named dims (empty for programs with concrete shapes)
   * @param inputs one device array per `bundle.inputs`, of the declared type and size
   */
  run(dims: ReadonlyMap<string, number>, inputs: readonly DeviceArray[], options: RunOptions = {}): Submission {
    const { ctx, bundle } = this;
    if (ctx.lostReason)
      throw new Error(`webgpu backend: the device was lost (${ctx.lostReason}); call \`await initWebGPU()\` again`);
    if (inputs.length !== bundle.inputs.length)
      throw new Error(`webgpu backend: the bundle takes ${bundle.inputs.length} inputs, got ${inputs.length}`);
    const lengths = bindBufferSizes(bundle, dims, MAX_I32_ELEMENTS, "webgpu backend");
    const arrays = new Map<string, DeviceArray>();
    const outputNames = new Set(bundle.outputs);
    const dimsKey = [...dims].map(([k, v]) => `${k}=${v}`).join(",");
    const fresh: DeviceArray[] = [];
    const external = new Set<DeviceArray>();
    bundle.inputs.forEach((name, i) => {
      const d = this.decl(name);
      const a = inputs[i]!;
      const length = lengths.get(name)!;
      if (a.type !== d.type || a.length !== length) {
        throw new Error(
          `webgpu backend: input ${i} ("${name}") is ${a.type}[${a.length}], the bundle expects ${d.type}[${length}]`,
        );
      }
      arrays.set(name, a);
      external.add(a);
    });
    const arrayOf = (name: string): DeviceArray => {
      let a = arrays.get(name);
      if (a) return a;
      const d = this.decl(name);
      const length = lengths.get(name)!;
      if (d.role === "const") {
        a = this.constArray(d, length);
        external.add(a);
      } else if (d.role === "input") {
        throw new Error(`webgpu backend: input buffer "${name}" is not among the bundle's inputs`);
      } else if (!outputNames.has(name) && !d.init) {
        a = this.temporary(d, length, dimsKey);
        external.add(a);
      } else {
        a = allocArray(ctx, this.pool, d.type, length);
        if (d.init) uploadArray(ctx, a, d.init); // e.g. outputs the compiler folded to constants
        fresh.push(a);
      }
      arrays.set(name, a);
      return a;
    };

    const checks: Promise<string | undefined>[] = [];
    const plan = () =>
      bundle.schedule.map((launch, li) => {
        const kernel = this.kernels.get(launch.kernel)!;
        const bound = kernel.params.map((p) => {
          const name = launch.bindings[p.name];
          if (name === undefined)
            throw new Error(
              `webgpu backend: launch ${li} of kernel "${kernel.name}" does not bind its param "${p.name}"`,
            );
          const a = arrayOf(name);
          if (a.type !== p.type)
            throw new Error(
              `webgpu backend: kernel "${kernel.name}" param "${p.name}" is ${p.type}, but buffer "${name}" is ${a.type}`,
            );
          return a;
        });
        checkAliasing(kernel, bound);
        const splits: Record<string, WgslSplit> = {};
        kernel.params.forEach((p, i) => {
          const a = bound[i]!;
          if (a.chunks.length > 1) splits[p.name] = { chunks: a.chunks.length, chunkElements: a.chunkElements };
        });
        const { source, layout } = this.sourceFor(kernel, splits);
        const pipe = this.pipelines.get(kernel, source, layout);
        checks.push(pipe.check);
        const groups = evalSize(launch.grid, dims);
        checkIndexRange(kernel.name, groups, kernel.workgroupSize);
        const uniforms = [groups, ...kernel.sizes.map((s) => evalSize(s, dims))];
        return { kernel, bound, layout, pipe, groups, uniforms };
      });

    let planned: ReturnType<typeof plan>;
    try {
      planned = plan(); // buffers, limits and pipelines: everything that can fail before encoding
    } catch (e) {
      for (const a of fresh) releaseArray(this.pool, a);
      throw e;
    }

    // One uniform buffer for the whole schedule, one aligned slot per launch.
    const slotInts = Math.max(...planned.map((p) => p.uniforms.length), 1);
    const stride = Math.ceil((slotInts * 4) / ctx.minUniformOffsetAlignment) * ctx.minUniformOffsetAlignment;
    const uniformData = new Int32Array((stride / 4) * Math.max(planned.length, 1));
    planned.forEach((p, i) => uniformData.set(p.uniforms, (i * stride) / 4));
    const uniform = this.uniformBuffer(uniformData);

    const device = ctx.device;
    device.pushErrorScope("validation");
    device.pushErrorScope("out-of-memory");
    const encoder = device.createCommandEncoder({ label: "moeforge schedule" });
    const timer = options.timeLaunches ? new LaunchTimer(ctx, planned.length) : undefined;
    // One pass for the whole schedule, or one timed pass per launch when profiling.
    let pass = timer ? undefined : encoder.beginComputePass();
    planned.forEach((p, i) => {
      if (p.groups === 0) return;
      if (timer) {
        pass?.end();
        pass = encoder.beginComputePass({ timestampWrites: timer.writes(i) });
      }
      const entries: GPUBindGroupEntry[] = [];
      p.bound.forEach((a, pi) =>
        p.layout.params[pi]!.bindings.forEach((binding, c) =>
          entries.push({ binding, resource: { buffer: a.chunks[c]! } }),
        ),
      );
      entries.push({
        binding: p.layout.uniformBinding,
        resource: { buffer: uniform, offset: i * stride, size: Math.ceil((p.uniforms.length * 4) / 16) * 16 },
      });
      pass!.setPipeline(p.pipe.pipeline);
      pass!.setBindGroup(0, this.bindGroup(i, p.pipe.bindGroupLayout, entries));
      const [x, y, z] = foldGrid(p.groups, ctx.maxWorkgroupsPerDimension);
      pass!.dispatchWorkgroups(x, y, z);
    });
    pass?.end();
    timer?.resolve(encoder);
    const checkFlag = bundle.checks ? copyCheckFlag(device, encoder, arrayOf(bundle.checks.buffer)) : undefined;
    device.queue.submit([encoder.finish()]);
    const pace = new SubmissionPace(this.runTime);
    const oom = device.popErrorScope();
    const validation = device.popErrorScope();

    const outputs = bundle.outputs.map((name) => arrayOf(name));
    const outSet = new Set(outputs);
    for (const a of fresh) if (!outSet.has(a)) releaseArray(this.pool, a);
    const done = Promise.all([validation, oom, ...checks]).then(([v, o, ...compile]) => {
      const problems = [
        ...compile.filter((m): m is string => !!m),
        ...(v ? [`validation error: ${v.message}`] : []),
        ...(o ? [`out of memory: ${o.message}`] : []),
      ];
      if (problems.length) throw new Error(`webgpu backend: the device rejected the program:\n${problems.join("\n")}`);
      if (checkFlag) return pace.poll(() => throwOnFailedCheck(device, checkFlag, bundle.checks!.messages));
    });
    done.catch(() => undefined); // reported to whoever reads an output; never an unhandled rejection
    const launchTimes = timer?.read(planned.map((p) => (p.groups === 0 ? undefined : p.kernel)));
    return {
      outputs,
      owned: outputs.map((a) => !external.has(a)),
      done,
      pace,
      ...(launchTimes ? { launchTimes } : {}),
    };
  }

  /** The intermediate buffer `d` for the dims `key`: the last run's when the dims are the same. */
  private temporary(d: BufferDecl, length: number, key: string): DeviceArray {
    const r = this.resident;
    if (r.temps?.key !== key) {
      freeTemps(r); // queue order: work already submitted with them runs first
      r.temps = { key, arrays: new Map() };
    }
    let a = r.temps.arrays.get(d.name);
    if (!a) r.temps.arrays.set(d.name, (a = allocArray(this.ctx, this.pool, d.type, length)));
    return a;
  }

  /** The bind group of launch `launch` over `entries`, made once per distinct set of buffers. */
  private bindGroup(launch: number, layout: GPUBindGroupLayout, entries: readonly GPUBindGroupEntry[]): GPUBindGroup {
    const cache = this.resident.bindGroups;
    const key = `${launch}|${entries.map((e) => bufferId((e.resource as GPUBufferBinding).buffer)).join(",")}`;
    let group = cache.get(key);
    if (group) {
      cache.delete(key); // refresh its place: the cache drops the least recently used
      executorCounters.bindGroupHits++;
    } else {
      group = this.ctx.device.createBindGroup({ layout, entries });
      executorCounters.bindGroups++;
      if (cache.size >= Math.max(64, 4 * this.bundle.schedule.length)) cache.delete(cache.keys().next().value!);
    }
    cache.set(key, group);
    return group;
  }

  private uniformBuffer(data: Int32Array<ArrayBuffer>): GPUBuffer {
    const u = this.resident.uniform;
    if (u && u.last.length === data.length) {
      if (!u.last.every((x, i) => x === data[i])) {
        this.ctx.device.queue.writeBuffer(u.buffer, 0, data);
        u.last.set(data);
      }
      return u.buffer;
    }
    const buffer = this.ctx.device.createBuffer({
      size: data.byteLength,
      usage: USAGE.UNIFORM | USAGE.COPY_DST,
      label: "moeforge sizes",
    });
    this.ctx.device.queue.writeBuffer(buffer, 0, data);
    u?.buffer.destroy();
    this.resident.uniform = { buffer, last: data.slice() };
    return buffer;
  }

  /**
   * Creates every kernel's pipeline now (in the unsplit layout) and waits until
   * the device has compiled and validated them; rejects with the compiler's
   * messages otherwise. Optional: `run` creates pipelines on first use.
   */
  async warm(): Promise<void> {
    const checks = this.bundle.kernels.map((k) => this.pipelines.get(k, k.source, wgslLayout(k)).check);
    const problems = (await Promise.all(checks)).filter((m): m is string => !!m);
    if (problems.length) throw new Error(problems.join("\n"));
  }

  /** Frees the constants this executable uploaded (done by itself when the executable is garbage-collected). */
  dispose(): void {
    executableGone.unregister(this);
    freeResident(this.resident);
  }
}

/** Copies the index-check flag (i32[3], see `IndexChecks`) into a readable buffer, in the schedule's submission. */
function copyCheckFlag(device: GPUDevice, encoder: GPUCommandEncoder, flag: DeviceArray): GPUBuffer {
  const staging = acquireStaging(device, 16);
  encoder.copyBufferToBuffer(flag.chunks[0]!, 0, staging, 0, 12);
  return staging;
}

/** Fails like the interpreter when a kernel reported an out-of-range index. */
async function throwOnFailedCheck(device: GPUDevice, staging: GPUBuffer, messages: readonly string[]): Promise<void> {
  try {
    await staging.mapAsync(1 /* GPUMapMode.READ */);
  } catch (e) {
    staging.destroy();
    throw e;
  }
  const [n, index, size] = new Int32Array(staging.getMappedRange().slice(0, 12));
  staging.unmap();
  releaseStaging(device, staging);
  if (!n) return;
  const message = messages[n - 1] ?? "an index is out of range";
  throw new RangeError(message.replaceAll("{index}", String(index)).replaceAll("{size}", String(size)));
}

/** WebGPU rejects a buffer bound writable together with another binding of it in one dispatch; say so clearly. */
function checkAliasing(kernel: Kernel, bound: readonly DeviceArray[]): void {
  kernel.params.forEach((p, i) => {
    if (p.access !== "readWrite") return;
    bound.forEach((a, j) => {
      if (j !== i && a === bound[i]) {
        throw new Error(
          `webgpu backend: kernel "${kernel.name}" binds one buffer to "${p.name}" (written) and "${kernel.params[j]!.name}"; ` +
            "WebGPU forbids aliasing a written binding",
        );
      }
    });
  });
}

/** Timestamp queries around each launch's pass, resolved into a readable buffer. */
class LaunchTimer {
  private readonly querySet: GPUQuerySet;
  private readonly resolved: GPUBuffer;
  private readonly readback: GPUBuffer;

  constructor(
    private readonly ctx: WebGPUContext,
    private readonly launches: number,
  ) {
    if (!ctx.hasTimestamps)
      throw new Error(
        `webgpu backend: timing launches needs the "timestamp-query" feature, which this device (${ctx.adapterName}) lacks`,
      );
    const count = Math.max(2, 2 * launches);
    this.querySet = ctx.device.createQuerySet({ type: "timestamp", count });
    this.resolved = ctx.device.createBuffer({ size: count * 8, usage: 0x200 /* QUERY_RESOLVE */ | USAGE.COPY_SRC });
    this.readback = ctx.device.createBuffer({ size: count * 8, usage: USAGE.MAP_READ | USAGE.COPY_DST });
  }

  writes(launch: number): GPUComputePassTimestampWrites {
    return { querySet: this.querySet, beginningOfPassWriteIndex: 2 * launch, endOfPassWriteIndex: 2 * launch + 1 };
  }

  resolve(encoder: GPUCommandEncoder): void {
    encoder.resolveQuerySet(this.querySet, 0, Math.max(2, 2 * this.launches), this.resolved, 0);
    encoder.copyBufferToBuffer(this.resolved, 0, this.readback, 0, this.resolved.size);
  }

  /** Times of the launches that ran (`undefined` entries were skipped: zero workgroups). */
  async read(kernels: readonly (Kernel | undefined)[]): Promise<LaunchTime[]> {
    await this.readback.mapAsync(1 /* GPUMapMode.READ */);
    const ns = new BigInt64Array(this.readback.getMappedRange().slice(0));
    this.readback.destroy();
    this.resolved.destroy();
    this.querySet.destroy();
    const out: LaunchTime[] = [];
    kernels.forEach((k, i) => {
      if (k)
        out.push({
          kernel: k.name,
          ...(k.comment ? { comment: k.comment } : {}),
          ms: Number(ns[2 * i + 1]! - ns[2 * i]!) / 1e6,
        });
    });
    return out;
  }
}
