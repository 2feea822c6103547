/**
 * The WebGPU device for tests. In CI (CI=true) a missing adapter is a failure;
 * locally the suites that need it are skipped with a loud warning.
 */
import {
  createWebGPUContext,
  initWebGPU,
  type WebGPUContext,
  type WebGPUInitOptions,
} from "../../backends/webgpu/device";

async function acquire(make: () => Promise<WebGPUContext>): Promise<WebGPUContext | undefined> {
  try {
    return await make();
  } catch (e) {
    if (process.env.CI) throw e;
    console.warn(`\n*** SKIPPING WebGPU tests: ${(e as Error).message}\n`);
    return undefined;
  }
}

/** The backend's default context (what `jit(fn, { backend: "webgpu" })` uses), or undefined when skipping. */
export function webgpuForTests(): Promise<WebGPUContext | undefined> {
  return acquire(() => initWebGPU());
}

/** An independent context with its own options (e.g. a tiny binding limit), or undefined when skipping. */
export function separateWebGPUForTests(options: WebGPUInitOptions): Promise<WebGPUContext | undefined> {
  return acquire(() => createWebGPUContext(options));
}

/** What a device was asked to create, counted by `countDeviceCalls`. */
export interface DeviceCounts {
  /** Bytes of buffers created and not destroyed, and the most there were. */
  live: number;
  peak: number;
  buffers: number;
  bindGroups: number;
  pipelines: number;
  encoders: number;
}

/**
 * Counts what `device` creates (buffers with their live bytes, bind groups, pipelines, command encoders)
 * by wrapping its methods; `restore()` unwraps them.
 */
export function countDeviceCalls(device: GPUDevice): { counts: DeviceCounts; restore: () => void } {
  const counts: DeviceCounts = { live: 0, peak: 0, buffers: 0, bindGroups: 0, pipelines: 0, encoders: 0 };
  const own = device as unknown as Record<string, unknown>;
  const wrap = <A extends unknown[], R>(name: string, after: (r: R) => void) => {
    const original = (own[name] as (...a: A) => R).bind(device);
    own[name] = (...args: A) => {
      const r = original(...args);
      after(r);
      return r;
    };
  };
  wrap<[GPUBufferDescriptor], GPUBuffer>("createBuffer", (b) => {
    counts.buffers++;
    counts.live += b.size;
    counts.peak = Math.max(counts.peak, counts.live);
    const destroy = b.destroy.bind(b);
    let destroyed = false;
    b.destroy = () => {
      if (!destroyed) counts.live -= b.size;
      destroyed = true;
      destroy();
    };
  });
  wrap("createBindGroup", () => counts.bindGroups++);
  wrap("createComputePipeline", () => counts.pipelines++);
  wrap("createCommandEncoder", () => counts.encoders++);
  const restore = () => {
    for (const name of ["createBuffer", "createBindGroup", "createComputePipeline", "createCommandEncoder"])
      delete own[name];
  };
  return { counts, restore };
}
