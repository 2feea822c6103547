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
