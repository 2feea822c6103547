/**
 * The page side of the headless-Chromium test: bundled by esbuild for the
 * browser, it runs WGSL bundles (compiled in Node) on `navigator.gpu` with
 * the same runtime the Node backend uses.
 */
import type { KernelBundle } from "../../codegen/kernel_ir";
import { initWebGPU } from "../../backends/webgpu/device";
import { runWgslBundle, type HostArray } from "../../backends/webgpu/runtime";

/** What the test passes to the page: a bundle and its inputs, as JSON. */
export interface BrowserJob {
  readonly bundle: KernelBundle;
  readonly inputs: readonly HostArray[];
  readonly dims: readonly (readonly [string, number])[];
}

async function runJob(job: BrowserJob): Promise<{ adapter: string; outputs: number[][] }> {
  const ctx = await initWebGPU();
  const outs = await runWgslBundle(ctx, job.bundle, job.inputs, new Map(job.dims));
  return { adapter: ctx.adapterName, outputs: outs.map((o) => Array.from(o)) };
}

(globalThis as { moeforgeRunJob?: typeof runJob }).moeforgeRunJob = runJob;
