// Bundled by esbuild --platform=browser from the installed package and run in headless
// Chromium: a jit on webgpu (navigator.gpu) and on cpu (one thread: no worker_threads here)
// must equal the interpreter. The page publishes its results on globalThis.
import { grad, initWebGPU, jit, loadSafetensors, ops, saveSafetensors, tensor, type Tensor } from "moeforge";

interface PageResult {
  readonly adapter: string;
  readonly interp: number[][];
  readonly webgpu: number[][];
  readonly cpu: number[][];
  /** Params saved to safetensors bytes and loaded back from an ArrayBuffer: [dtype, shape, values] per leaf. */
  readonly safetensors: { readonly saved: unknown[]; readonly loaded: unknown[] };
}

function safetensorsRoundTrip(): PageResult["safetensors"] {
  const params: { w: Tensor; experts: [{ h: Tensor }, { ids: Tensor }] } = {
    w: tensor([0.5, -1.25, 3, 4.5], [2, 2]),
    experts: [{ h: tensor([1.5, -2, 0.099975586], [3], "f16") }, { ids: tensor([7, -9], [2], "i32") }],
  };
  const leaves = (p: typeof params) =>
    [p.w, p.experts[0].h, p.experts[1].ids].map((t) => [t.dtype, t.shape, Array.from(t.dataSync())]);
  const bytes = saveSafetensors(params);
  const loaded = loadSafetensors<typeof params>(bytes.slice().buffer);
  return { saved: leaves(params), loaded: leaves(loaded) };
}

async function run(): Promise<PageResult> {
  const ctx = await initWebGPU();
  const model = (x: Tensor, w: Tensor) => ops.softmax(ops.tanh(ops.matmul(x, w)), -1);
  const loss = (x: Tensor, w: Tensor) => ops.sum(ops.square(model(x, w)));
  const x = tensor(
    Array.from({ length: 15 }, (_, i) => Math.sin(i + 0.5)),
    [3, 5],
  );
  const w = tensor(
    Array.from({ length: 35 }, (_, i) => Math.cos(i * 0.7)),
    [5, 7],
  );
  const fns: ((x: Tensor, w: Tensor) => Tensor)[] = [model, grad(loss, { argnums: 1 })];
  const on = async (backend: "interp" | "webgpu" | "cpu") =>
    Promise.all(fns.map(async (f) => Array.from(await jit(f, { backend })(x, w).data())));
  return {
    adapter: ctx.adapterName,
    interp: await on("interp"),
    webgpu: await on("webgpu"),
    cpu: await on("cpu"),
    safetensors: safetensorsRoundTrip(),
  };
}

(globalThis as { moeforgeResult?: Promise<PageResult> }).moeforgeResult = run();
