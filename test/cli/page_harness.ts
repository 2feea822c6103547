/**
 * Runs a generated host module on a device and returns its outputs and
 * gradients as plain arrays: the same code in Node (Dawn) and in the browser
 * page (navigator.gpu), so the two runs can be compared value for value.
 */
export interface HarnessJob {
  readonly T: number;
  /** Input paths and values, in the manifest's order. */
  readonly inputs: readonly (readonly [string, number[]])[];
  readonly cotangents: readonly (readonly [string, number[]])[];
  readonly outputs: readonly (readonly [string, number])[];
  readonly gradients: readonly (readonly [string, number])[];
}

interface HostModel {
  forward(inputs: unknown, dims: Record<string, number>): { outputs: unknown; saved: unknown };
  backward(inputs: unknown, saved: unknown, cotangent: unknown): unknown;
}

export interface HostModule {
  create(device: GPUDevice): HostModel | Promise<HostModel>;
  readBuffer(device: GPUDevice, buffer: GPUBuffer, type: "f32", length: number): Promise<ArrayLike<number>>;
}

function nest(entries: readonly (readonly [string, unknown])[]): Record<string, unknown> {
  const root: Record<string, unknown> = {};
  for (const [path, value] of entries) {
    const segs = path.split(".");
    let node = root;
    segs.slice(0, -1).forEach((s) => (node = (node[s] ??= {}) as Record<string, unknown>));
    node[segs[segs.length - 1]!] = value;
  }
  return root;
}
const at = (tree: unknown, path: string) =>
  path.split(".").reduce<unknown>((n, s) => (n as Record<string, unknown>)[s], tree);

export async function runHarness(
  mod: HostModule,
  device: GPUDevice,
  job: HarnessJob,
): Promise<Record<string, number[]>> {
  const model = await mod.create(device);
  const inputs = nest(job.inputs.map(([p, v]) => [p, Float32Array.from(v)] as const));
  const { outputs, saved } = model.forward(inputs, { T: job.T });
  const grads = model.backward(inputs, saved, nest(job.cotangents.map(([p, v]) => [p, Float32Array.from(v)] as const)));
  const result: Record<string, number[]> = {};
  for (const [p, n] of job.outputs)
    result[`output ${p}`] = Array.from(await mod.readBuffer(device, at(outputs, p) as GPUBuffer, "f32", n));
  for (const [p, n] of job.gradients)
    result[`gradient ${p}`] = Array.from(await mod.readBuffer(device, at(grads, p) as GPUBuffer, "f32", n));
  return result;
}
