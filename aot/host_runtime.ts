/**
 * The runtime every generated host module carries (its text is copied into
 * the module, so the module imports nothing). It runs a program description
 * (kernels, buffers with size expressions, launch schedule) on a GPUDevice:
 * pipelines with explicit bind group layouts are created once, temporaries
 * and the size uniforms are kept per set of dims, each call encodes every
 * launch into one compute pass of the caller's command encoder (or its own,
 * submitted), and nothing is ever read back.
 */

/** A size known at launch time: a literal, a dim name, or arithmetic on those (floor division). */
export type SizeExpr =
  | number
  | string
  | {
      readonly op: "add" | "mul" | "floorDiv" | "ceilDiv" | "mod" | "max" | "min";
      readonly args: readonly SizeExpr[];
    };

export type ElementType = "f32" | "f16" | "i32" | "u32" | "bool";

export interface KernelSpec {
  readonly name: string;
  readonly source: string;
  readonly workgroupSize: number;
  readonly bindings: readonly { readonly binding: number; readonly access: "read-only" | "read-write" }[];
  readonly uniformBinding: number;
  readonly uniformFields: readonly string[];
  readonly sharedBytes: number;
  readonly features: readonly string[];
}

export interface BufferSpec {
  readonly name: string;
  readonly type: ElementType;
  readonly size: SizeExpr;
  readonly role: "input" | "output" | "temp" | "const";
  readonly init?: readonly number[];
}

export interface LaunchSpec {
  /** Index into `kernels`. */
  readonly kernel: number;
  readonly grid: SizeExpr;
  /** Buffer index of each kernel binding, in binding order. */
  readonly buffers: readonly number[];
}

export interface ProgramSpec {
  readonly kernels: readonly KernelSpec[];
  readonly buffers: readonly BufferSpec[];
  readonly schedule: readonly LaunchSpec[];
  /** Buffer indices of the program's inputs and outputs, in order. */
  readonly inputs: readonly number[];
  readonly outputs: readonly number[];
  /** Sizes that must stay within a limit (i32 index math): checked once per set of dims. */
  readonly limits?: readonly {
    readonly size: SizeExpr;
    readonly limit: number;
    readonly what: string;
    readonly why: string;
  }[];
}

/** Host arrays accepted for convenience (bool as 0/1 in a Uint32Array, f16 as bits in a Uint16Array). */
export type HostArray = Float32Array | Int32Array | Uint32Array | Uint16Array;

/** A tensor passed in: a GPUBuffer the caller owns (STORAGE usage), or a host array copied in. */
export type TensorInput = GPUBuffer | HostArray;

/** What every error of the module is: says what was wrong and what was expected. */
export class HostModuleError extends Error {
  override name = "HostModuleError";
}

// GPUBufferUsage values from the WebGPU spec (Node's Dawn package defines no globals).
const USAGE = { MAP_READ: 1, COPY_SRC: 4, COPY_DST: 8, UNIFORM: 64, STORAGE: 128 } as const;
const STORAGE_USAGE = USAGE.STORAGE | USAGE.COPY_SRC | USAGE.COPY_DST;
const I32_MAX = 2147483647;

export function evalSize(e: SizeExpr, dims: Readonly<Record<string, number>>): number {
  if (typeof e === "number") return e;
  if (typeof e === "string") {
    const d = dims[e];
    if (d === undefined) throw new HostModuleError(`size expression uses dim ${e}, which was not given`);
    return d;
  }
  const xs = e.args.map((a) => evalSize(a, dims));
  switch (e.op) {
    case "add":
      return xs.reduce((a, b) => a + b, 0);
    case "mul":
      return xs.reduce((a, b) => a * b, 1);
    case "floorDiv":
      return Math.floor(xs[0]! / xs[1]!);
    case "mod":
      return ((xs[0]! % xs[1]!) + xs[1]!) % xs[1]!;
    case "ceilDiv":
      return Math.ceil(xs[0]! / xs[1]!);
    case "max":
      return Math.max(...xs);
    case "min":
      return Math.min(...xs);
  }
}

export function elementBytes(type: ElementType): number {
  return type === "f16" ? 2 : 4;
}

/** Bytes bound for `n` elements: a multiple of 4, at least 4 (empty bindings are invalid). */
function boundBytes(type: ElementType, n: number): number {
  return Math.max(4, Math.ceil((n * elementBytes(type)) / 4) * 4);
}

/** Bytes allocated: the bound size rounded to 16. */
function allocBytes(type: ElementType, n: number): number {
  return Math.ceil(boundBytes(type, n) / 16) * 16;
}

const HOST_ARRAY: Record<ElementType, string> = {
  f32: "Float32Array",
  f16: "Uint16Array",
  i32: "Int32Array",
  u32: "Uint32Array",
  bool: "Uint32Array",
};

/** Encodes host values of `type` as the bytes its buffer holds. */
function hostBytes(type: ElementType, values: readonly number[]): Uint8Array<ArrayBuffer> {
  const n = values.length;
  const padded = Math.ceil((n * elementBytes(type)) / 4) * 4;
  const out = new Uint8Array(Math.max(4, padded));
  if (type === "f32") new Float32Array(out.buffer, 0, n).set(values);
  else if (type === "i32") new Int32Array(out.buffer, 0, n).set(values);
  else if (type === "u32" || type === "bool") new Uint32Array(out.buffer, 0, n).set(values);
  else throw new HostModuleError(`constant f16 buffers are not supported by this host module`);
  return out;
}

/** Folds a 1-D workgroup count into (x, y, z), each at most `maxPerDim` (the kernels unfold it). */
export function foldGrid(groups: number, maxPerDim: number): [number, number, number] {
  if (groups <= maxPerDim) return [groups, 1, 1];
  const z = Math.ceil(groups / (maxPerDim * maxPerDim));
  if (z > maxPerDim) throw new HostModuleError(`${groups} workgroups exceed the device's ${maxPerDim}^3 grid`);
  const plane = Math.ceil(groups / z);
  const y = Math.ceil(plane / maxPerDim);
  return [Math.ceil(plane / y), y, z];
}

/** What to do when the device is of another kind than the kernels were scheduled for. */
export type DeviceClassMismatch = "warn" | "error" | "ignore";

/** WebGPU implementations that run on CPU cores (the same rule as the schedule's device profile). */
const CPU_ADAPTERS = /swiftshader|llvmpipe|lavapipe|softpipe|\bwarp\b|microsoft basic render/i;

/**
 * Whether the device runs on CPU cores, from `device.adapterInfo` (undefined when the device does not say).
 * @example deviceRunsOnCpu({ adapterInfo: { vendor: "google", architecture: "swiftshader" } }) // true
 */
export function deviceRunsOnCpu(device: { readonly adapterInfo?: Partial<GPUAdapterInfo> }): boolean | undefined {
  const info = device.adapterInfo as (Partial<GPUAdapterInfo> & { isFallbackAdapter?: boolean }) | undefined;
  if (!info) return undefined;
  if (info.isFallbackAdapter === true) return true;
  const names = [info.vendor, info.architecture, info.device, info.description].filter((n) => !!n) as string[];
  if (names.length === 0) return undefined;
  return names.some((n) => CPU_ADAPTERS.test(n));
}

/**
 * Compares the device with the class the kernels were scheduled for (`cpu`: register tiles for CPU
 * adapters; any other: shared-memory tiles for GPUs). Integrated and discrete GPUs get the same
 * schedule, so only CPU vs GPU counts; a device that does not describe itself is not judged. The
 * kernels are correct either way: a mismatch costs speed, so it warns unless `mode` says otherwise.
 * Returns the message when there is a mismatch.
 */
export function checkDeviceClass(
  device: { readonly adapterInfo?: Partial<GPUAdapterInfo> },
  scheduledFor: string,
  module: string,
  mode: DeviceClassMismatch = "warn",
): string | undefined {
  const onCpu = deviceRunsOnCpu(device);
  if (onCpu === undefined || onCpu === (scheduledFor === "cpu")) return undefined;
  const info = device.adapterInfo!;
  const found = onCpu ? "a CPU adapter" : "a GPU";
  const message =
    `${module}: the kernels were scheduled for device class "${scheduledFor}", but this device is ${found} ` +
    `(${[info.vendor, info.architecture].filter(Boolean).join(" ")}); they run correctly but slower than they could: ` +
    `export again with --device ${onCpu ? "cpu" : "discrete (or no --device)"}`;
  if (mode === "error") throw new HostModuleError(message);
  if (mode === "warn") console.warn(message);
  return message;
}

/** Throws naming the first kernel whose needs exceed the device's limits or features. */
export function checkDevice(device: GPUDevice, programs: readonly ProgramSpec[], module: string): void {
  const limits = device.limits;
  for (const p of programs) {
    for (const k of p.kernels) {
      const where = `${module}: kernel ${k.name}`;
      for (const f of k.features) {
        if (!device.features.has(f))
          throw new HostModuleError(`${where} needs the device feature "${f}"; request it when creating the device`);
      }
      const need: [string, number, number][] = [
        ["maxComputeInvocationsPerWorkgroup", k.workgroupSize, limits.maxComputeInvocationsPerWorkgroup],
        ["maxComputeWorkgroupSizeX", k.workgroupSize, limits.maxComputeWorkgroupSizeX],
        ["maxComputeWorkgroupStorageSize", k.sharedBytes, limits.maxComputeWorkgroupStorageSize],
        ["maxStorageBuffersPerShaderStage", k.bindings.length, limits.maxStorageBuffersPerShaderStage],
      ];
      for (const [name, needed, has] of need) {
        if (needed > has)
          throw new HostModuleError(
            `${where} needs ${name} >= ${needed}, this device has ${has}; request a higher limit when creating the device`,
          );
      }
    }
  }
}

/** A storage buffer for `n` elements of `type`; throws naming `label` when the device cannot bind it. */
function createStorageBuffer(device: GPUDevice, type: ElementType, n: number, label: string): GPUBuffer {
  const bytes = allocBytes(type, n);
  const max = Math.min(device.limits.maxStorageBufferBindingSize, device.limits.maxBufferSize);
  if (bytes > max)
    throw new HostModuleError(
      `${label} needs ${bytes} bytes, more than this device's storage binding limit (${max}); use smaller dims or raise maxStorageBufferBindingSize`,
    );
  return device.createBuffer({ size: bytes, usage: STORAGE_USAGE, label });
}

interface DimsState {
  readonly sizes: readonly number[];
  readonly temps: readonly (GPUBuffer | undefined)[];
  readonly staging: (GPUBuffer | undefined)[];
  readonly uniform: GPUBuffer;
  readonly stride: number;
  readonly groups: readonly number[];
}

interface BoundPipeline {
  readonly pipeline: GPUComputePipeline;
  readonly layout: GPUBindGroupLayout;
}

/** Each kernel's bind group layout and pipeline descriptor (explicit layouts: one bind group per launch). */
function pipelineDescriptors(
  device: GPUDevice,
  spec: ProgramSpec,
  label: string,
): { layout: GPUBindGroupLayout; descriptor: GPUComputePipelineDescriptor }[] {
  return spec.kernels.map((k) => {
    const entries: GPUBindGroupLayoutEntry[] = k.bindings.map((b) => ({
      binding: b.binding,
      visibility: 4 /* COMPUTE */,
      buffer: { type: b.access === "read-only" ? "read-only-storage" : "storage" },
    }));
    entries.push({ binding: k.uniformBinding, visibility: 4, buffer: { type: "uniform" } });
    const layout = device.createBindGroupLayout({ entries, label: k.name });
    const descriptor: GPUComputePipelineDescriptor = {
      label: `${label} ${k.name}`,
      layout: device.createPipelineLayout({ bindGroupLayouts: [layout] }),
      compute: { module: device.createShaderModule({ code: k.source, label: k.name }), entryPoint: "main" },
    };
    return { layout, descriptor };
  });
}

/** One program bound to a device. */
export class ProgramRunner {
  private readonly consts = new Map<number, GPUBuffer>();
  private readonly perDims = new Map<string, DimsState>();

  /** Creates the pipelines one after another (the device compiles each before returning). */
  static create(device: GPUDevice, spec: ProgramSpec, label: string): ProgramRunner {
    const pipelines = pipelineDescriptors(device, spec, label).map(({ layout, descriptor }) => ({
      layout,
      pipeline: device.createComputePipeline(descriptor),
    }));
    return new ProgramRunner(device, spec, label, pipelines);
  }

  /**
   * Creates the pipelines concurrently (`createComputePipelineAsync`): a device that compiles in parallel
   * may finish sooner, and the caller's thread (a browser's main thread) stays free meanwhile.
   */
  static async createAsync(device: GPUDevice, spec: ProgramSpec, label: string): Promise<ProgramRunner> {
    const pipelines = await Promise.all(
      pipelineDescriptors(device, spec, label).map(async ({ layout, descriptor }) => ({
        layout,
        pipeline: await device.createComputePipelineAsync(descriptor),
      })),
    );
    return new ProgramRunner(device, spec, label, pipelines);
  }

  private constructor(
    private readonly device: GPUDevice,
    private readonly spec: ProgramSpec,
    private readonly label: string,
    private readonly pipelines: readonly BoundPipeline[],
  ) {
    spec.buffers.forEach((b, i) => {
      if (b.role !== "const") return;
      const n = evalSize(b.size, {});
      const buffer = this.create(b.type, n, `${label} const ${b.name}`);
      device.queue.writeBuffer(buffer, 0, hostBytes(b.type, b.init ?? []));
      this.consts.set(i, buffer);
    });
  }

  private create(type: ElementType, n: number, label: string): GPUBuffer {
    return createStorageBuffer(this.device, type, n, label);
  }

  private state(dims: Readonly<Record<string, number>>): DimsState {
    const key = JSON.stringify(dims);
    const hit = this.perDims.get(key);
    if (hit) return hit;
    const { spec, device } = this;
    for (const l of spec.limits ?? []) {
      const n = evalSize(l.size, dims);
      if (n > l.limit)
        throw new HostModuleError(
          `${this.label}: for dims ${JSON.stringify(dims)}, ${l.what} is ${n}, more than ${l.limit} (${l.why}); use smaller dims`,
        );
    }
    const sizes = spec.buffers.map((b) => evalSize(b.size, dims));
    const temps = spec.buffers.map((b, i) =>
      b.role === "temp" ? this.create(b.type, sizes[i]!, `${this.label} ${b.name}`) : undefined,
    );
    const groups = spec.schedule.map((l) => evalSize(l.grid, dims));
    const slotInts = Math.max(1, ...spec.kernels.map((k) => k.uniformFields.length));
    const align = device.limits.minUniformBufferOffsetAlignment;
    const stride = Math.ceil((slotInts * 4) / align) * align;
    const data = new Int32Array((stride / 4) * Math.max(1, spec.schedule.length));
    spec.schedule.forEach((l, i) => {
      const k = spec.kernels[l.kernel]!;
      const fields = k.uniformFields.map((f, j) => (j === 0 ? groups[i]! : evalSize(f, dims)));
      data.set(fields, (i * stride) / 4);
    });
    const uniform = device.createBuffer({
      size: data.byteLength,
      usage: USAGE.UNIFORM | USAGE.COPY_DST,
      label: `${this.label} sizes`,
    });
    device.queue.writeBuffer(uniform, 0, data);
    const state = { sizes, temps, staging: [], uniform, stride, groups };
    this.perDims.set(key, state);
    return state;
  }

  /**
   * Encodes the program for `dims` (validated by the caller) and returns its
   * outputs as new buffers the caller owns. `inputs` are in program order with
   * their paths for messages.
   */
  run(
    dims: Readonly<Record<string, number>>,
    inputs: readonly { readonly path: string; readonly value: TensorInput }[],
    encoder?: GPUCommandEncoder,
  ): GPUBuffer[] {
    const { spec, device } = this;
    const st = this.state(dims);
    const bound: (GPUBuffer | undefined)[] = spec.buffers.map((b, i) =>
      b.role === "const" ? this.consts.get(i) : st.temps[i],
    );
    spec.inputs.forEach((bi, i) => {
      const b = spec.buffers[bi]!;
      const { path, value } = inputs[i]!;
      bound[bi] = this.bindInput(b, st, bi, path, value, st.sizes[bi]!);
    });
    // Outputs: fresh buffers; an output that is not its own buffer (an input, a duplicate) is copied after the pass.
    const copies: [GPUBuffer, GPUBuffer, number][] = [];
    const claimed = new Set<number>();
    const outputs = spec.outputs.map((bi, i) => {
      const b = spec.buffers[bi]!;
      const out = this.create(b.type, st.sizes[bi]!, `${this.label} output ${i} (${b.name})`);
      if (b.role === "output" && !claimed.has(bi)) {
        claimed.add(bi);
        bound[bi] = out;
        if (b.init) device.queue.writeBuffer(out, 0, hostBytes(b.type, b.init));
      } else {
        copies.push([bound[bi]!, out, boundBytes(b.type, st.sizes[bi]!)]);
      }
      return out;
    });
    const own = encoder ?? device.createCommandEncoder({ label: this.label });
    const pass = own.beginComputePass({ label: this.label });
    spec.schedule.forEach((l, li) => {
      const groups = st.groups[li]!;
      if (groups === 0) return;
      const k = spec.kernels[l.kernel]!;
      if (groups * k.workgroupSize > I32_MAX)
        throw new HostModuleError(`${this.label}: kernel ${k.name} would launch more than 2^31 - 1 threads`);
      const entries: GPUBindGroupEntry[] = k.bindings.map((b, j) => {
        const bi = l.buffers[j]!;
        const buffer = bound[bi];
        if (!buffer) throw new HostModuleError(`internal: buffer ${spec.buffers[bi]!.name} is not bound`);
        return { binding: b.binding, resource: { buffer, size: boundBytes(spec.buffers[bi]!.type, st.sizes[bi]!) } };
      });
      const uniformBytes = Math.ceil((k.uniformFields.length * 4) / 16) * 16;
      entries.push({
        binding: k.uniformBinding,
        resource: { buffer: st.uniform, offset: li * st.stride, size: uniformBytes },
      });
      pass.setPipeline(this.pipelines[l.kernel]!.pipeline);
      pass.setBindGroup(0, device.createBindGroup({ layout: this.pipelines[l.kernel]!.layout, entries }));
      const [x, y, z] = foldGrid(groups, device.limits.maxComputeWorkgroupsPerDimension);
      pass.dispatchWorkgroups(x, y, z);
    });
    pass.end();
    for (const [from, to, bytes] of copies) own.copyBufferToBuffer(from, 0, to, 0, bytes);
    if (!encoder) device.queue.submit([own.finish()]);
    return outputs;
  }

  private bindInput(b: BufferSpec, st: DimsState, bi: number, path: string, value: TensorInput, n: number): GPUBuffer {
    const bytes = boundBytes(b.type, n);
    if (isHostArray(value)) {
      const expected = HOST_ARRAY[b.type];
      if (value.constructor.name !== expected || value.length !== n)
        throw new HostModuleError(
          `${this.label}: input ${path} is a ${value.constructor.name} of ${value.length} elements; ` +
            `expected a ${expected} of ${n} (${b.type}) or a GPUBuffer`,
        );
      let staging = st.staging[bi];
      if (!staging) {
        staging = this.create(b.type, n, `${this.label} input ${path}`);
        st.staging[bi] = staging;
      }
      const data = new Uint8Array(Math.max(4, Math.ceil(value.byteLength / 4) * 4));
      data.set(new Uint8Array(value.buffer, value.byteOffset, value.byteLength));
      this.device.queue.writeBuffer(staging, 0, data);
      return staging;
    }
    if (typeof value !== "object" || value === null || typeof (value as GPUBuffer).size !== "number")
      throw new HostModuleError(`${this.label}: input ${path} must be a GPUBuffer or a ${HOST_ARRAY[b.type]}`);
    if ((value.usage & USAGE.STORAGE) === 0)
      throw new HostModuleError(`${this.label}: input ${path} is a GPUBuffer without STORAGE usage`);
    if (value.size < bytes)
      throw new HostModuleError(
        `${this.label}: input ${path} is a GPUBuffer of ${value.size} bytes; it needs ${bytes} (${n} ${b.type} elements)`,
      );
    return value;
  }

  /** Destroys the buffers this runner created (not the outputs it returned). */
  destroy(): void {
    for (const b of this.consts.values()) b.destroy();
    for (const st of this.perDims.values()) {
      st.uniform.destroy();
      for (const b of [...st.temps, ...st.staging]) b?.destroy();
    }
    this.perDims.clear();
  }
}

function isHostArray(x: unknown): x is HostArray {
  return x instanceof Float32Array || x instanceof Int32Array || x instanceof Uint32Array || x instanceof Uint16Array;
}

/**
 * Throws unless every dynamic dim is given as an integer in its range (and a
 * multiple of its divisor); returns the sizes the programs use: the dims and
 * the dims derived from them (`T_div8 = floorDiv(T, 8)`).
 * @param ranges the module's dims and their constraints
 * @param derived the derived dims and their expressions
 */
export function checkDims(
  dims: Readonly<Record<string, number>> | undefined,
  ranges: Readonly<Record<string, { readonly min: number; readonly max: number; readonly multipleOf?: number }>>,
  derived: Readonly<Record<string, SizeExpr>>,
  module: string,
): Readonly<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const [name, { min, max, multipleOf }] of Object.entries(ranges)) {
    const v = dims?.[name];
    if (v === undefined) throw new HostModuleError(`${module}: dim ${name} is not given; pass { ${name}: <size> }`);
    if (!Number.isInteger(v) || v < min || v > max)
      throw new HostModuleError(`${module}: dim ${name} = ${v}; it must be an integer in ${min}..${max}`);
    if (multipleOf !== undefined && v % multipleOf !== 0)
      throw new HostModuleError(
        `${module}: dim ${name} = ${v}; it must be a multiple of ${multipleOf} ` +
          `(the model was exported for ${name} in steps of ${multipleOf}; pad to ${Math.ceil(v / multipleOf) * multipleOf})`,
      );
    out[name] = v;
  }
  for (const name of Object.keys(dims ?? {})) {
    if (!(name in ranges))
      throw new HostModuleError(
        `${module}: dim ${name} is not a dynamic dim of this module (it has: ${Object.keys(ranges).join(", ") || "none"})`,
      );
  }
  for (const [name, e] of Object.entries(derived)) out[name] = evalSize(e, out);
  return out;
}

/** Reads a buffer back to the host (a convenience for applications and tests; forward and backward never call it). */
export async function readBuffer(
  device: GPUDevice,
  buffer: GPUBuffer,
  type: ElementType,
  length: number,
): Promise<HostArray> {
  const bytes = Math.max(4, Math.ceil((length * elementBytes(type)) / 4) * 4);
  const staging = device.createBuffer({ size: bytes, usage: USAGE.MAP_READ | USAGE.COPY_DST });
  const encoder = device.createCommandEncoder();
  encoder.copyBufferToBuffer(buffer, 0, staging, 0, bytes);
  device.queue.submit([encoder.finish()]);
  await staging.mapAsync(1 /* READ */);
  const copy = staging.getMappedRange().slice(0);
  staging.destroy();
  if (type === "f32") return new Float32Array(copy, 0, length);
  if (type === "i32") return new Int32Array(copy, 0, length);
  if (type === "f16") return new Uint16Array(copy, 0, length);
  return new Uint32Array(copy, 0, length);
}

/** One tensor of a safetensors buffer: its dtype name (`F32`, `F16`, `I32`, `BOOL`, ...), shape and data bytes. */
export interface SafetensorsTensor {
  readonly dtype: string;
  readonly shape: readonly number[];
  readonly bytes: Uint8Array;
}

/** Bytes per element of the safetensors dtypes (the format's names). */
const SAFETENSORS_ELEMENT_BYTES: Readonly<Record<string, number>> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  U32: 4,
  I16: 2,
  U16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
};

/** The safetensors dtype a buffer of each element type is loaded from (bool: one byte per element, widened). */
export const SAFETENSORS_DTYPE: Readonly<Record<ElementType, string>> = {
  f32: "F32",
  f16: "F16",
  i32: "I32",
  u32: "U32",
  bool: "BOOL",
};

/**
 * Reads the tensors of a safetensors buffer (8-byte little-endian header
 * length, a JSON header of `{ name: { dtype, shape, data_offsets } }`, the
 * data). The bytes are views into `data`, not copies. Throws a
 * HostModuleError naming `what` and the first thing that is wrong.
 */
export function readSafetensors(data: ArrayBuffer | ArrayBufferView, what: string): Map<string, SafetensorsTensor> {
  const u8 =
    data instanceof ArrayBuffer ? new Uint8Array(data) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (u8.length < 8)
    throw new HostModuleError(
      `${what}: ${u8.length} bytes is too short for safetensors (an 8-byte header length first)`,
    );
  const view = new DataView(u8.buffer, u8.byteOffset, u8.byteLength);
  const headerBytes = view.getUint32(0, true) + view.getUint32(4, true) * 2 ** 32;
  if (headerBytes > u8.length - 8)
    throw new HostModuleError(
      `${what}: header length ${headerBytes} does not fit the ${u8.length}-byte buffer (not a safetensors file?)`,
    );
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(u8.subarray(8, 8 + headerBytes)));
  } catch (e) {
    throw new HostModuleError(
      `${what}: the header is not UTF-8 JSON (${(e as Error).message}); not a safetensors file?`,
    );
  }
  if (typeof header !== "object" || header === null || Array.isArray(header))
    throw new HostModuleError(`${what}: the header is not a JSON object of tensors`);
  const dataStart = 8 + headerBytes;
  const dataBytes = u8.length - dataStart;
  const out = new Map<string, SafetensorsTensor>();
  for (const [name, entry] of Object.entries(header as Record<string, unknown>)) {
    if (name === "__metadata__") continue;
    const bad = (why: string) => new HostModuleError(`${what}: tensor "${name}" ${why}`);
    const { dtype, shape, data_offsets: offsets } = (entry ?? {}) as Record<string, unknown>;
    const size = typeof dtype === "string" ? SAFETENSORS_ELEMENT_BYTES[dtype] : undefined;
    if (size === undefined)
      throw bad(
        `has dtype ${JSON.stringify(dtype)}; expected one of ${Object.keys(SAFETENSORS_ELEMENT_BYTES).join(", ")}`,
      );
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0))
      throw bad(`has shape ${JSON.stringify(shape)}; expected an array of non-negative integers`);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0))
      throw bad(`has data_offsets ${JSON.stringify(offsets)}; expected [begin, end]`);
    const [begin, end] = offsets as [number, number];
    const want = (shape as number[]).reduce((a, b) => a * b, 1) * size;
    if (end - begin !== want)
      throw bad(
        `holds ${end - begin} bytes (data_offsets [${begin}, ${end}]); ${dtype}[${shape.join(", ")}] needs ${want}`,
      );
    if (end > dataBytes) throw bad(`ends at byte ${end}, past the data (${dataBytes} bytes): a truncated file?`);
    out.set(name, {
      dtype: dtype as string,
      shape: shape as number[],
      bytes: u8.subarray(dataStart + begin, dataStart + end),
    });
  }
  return out;
}

/** A weight the module binds from safetensors: the tensor's name, the input it feeds, its element type and shape. */
export interface WeightSpec {
  readonly name: string;
  readonly path: string;
  readonly type: ElementType;
  readonly shape: readonly number[];
}

/**
 * Uploads the weights `specs` name from safetensors `data` into new storage
 * buffers (in `specs` order). Every tensor is checked (present, dtype, shape)
 * before any buffer is created; tensors the module does not use are ignored.
 */
export function uploadWeights(
  device: GPUDevice,
  data: ArrayBuffer | ArrayBufferView,
  specs: readonly WeightSpec[],
  module: string,
): GPUBuffer[] {
  const tensors = readSafetensors(data, `${module}: weights`);
  const chosen = specs.map((s) => {
    const t = tensors.get(s.name);
    const want = `${SAFETENSORS_DTYPE[s.type]}[${s.shape.join(", ")}]`;
    if (!t)
      throw new HostModuleError(
        `${module}: the weights have no tensor "${s.name}" (input ${s.path}, ${want}); they have ${[...tensors.keys()].join(", ") || "none"}`,
      );
    const got = `${t.dtype}[${t.shape.join(", ")}]`;
    if (
      t.dtype !== SAFETENSORS_DTYPE[s.type] ||
      t.shape.length !== s.shape.length ||
      t.shape.some((d, i) => d !== s.shape[i])
    )
      throw new HostModuleError(`${module}: weight "${s.name}" is ${got}; input ${s.path} needs ${want}`);
    return t;
  });
  return chosen.map((t, i) => {
    const s = specs[i]!;
    const n = s.shape.reduce((a, b) => a * b, 1);
    const buffer = createStorageBuffer(device, s.type, n, `${module} weight ${s.name}`);
    const padded = new Uint8Array(boundBytes(s.type, n));
    if (s.type === "bool") new Uint32Array(padded.buffer, 0, n).set(t.bytes.map((b) => (b ? 1 : 0)));
    else padded.set(t.bytes);
    device.queue.writeBuffer(buffer, 0, padded);
    return buffer;
  });
}
