/**
 * The peers' implementations of the benchmark layer (bench/peer_layer.ts):
 * jax-js (eager or jit) and TensorFlow.js, each on its wasm or its webgpu
 * device, from bench/node_modules (bench/package.json). Dense: every expert runs
 * on every token, gates masked to the top K (the same function). The top-K
 * mask is piecewise constant in the parameters, so its gradient is zero: it
 * is computed inside the timed region and held constant for differentiation
 * (TensorFlow.js has no TopK gradient).
 */
import type { PeerImpl, PeerInputs, PeerLayerConfig } from "./peer_layer";

/** Where a peer runs: its WebAssembly device, or WebGPU (navigator.gpu; in Node see bench/webgpu_peers.ts). */
export type PeerDevice = "wasm" | "webgpu";

/** Records the synchronous (host) part of each call, up to the first await: what a caller waits for before the device works. */
function hostTimes(): { forward: number[]; forwardBackward: number[] } {
  return { forward: [], forwardBackward: [] };
}

/* eslint-disable @typescript-eslint/no-explicit-any -- the peers' own types come from bench/node_modules */

/** Imports a peer from bench/node_modules at run time (a variable specifier: tsc does not resolve it, CI lacks it). */
const peer = (name: string): Promise<any> => import(name);

/**
 * jax-js 0.1.x on its wasm or webgpu device, eager or under `jax.jit` (which fuses its
 * kernels; on the 2-core dev VM it ran fwd+bwd about 3x faster than eager).
 * Both are measured so the ratios are against jax-js at its best. Arrays are
 * reference counted: `.ref` keeps one for another use.
 */
export async function jaxJsImpl(
  cfg: PeerLayerConfig,
  inputs: PeerInputs,
  options: { readonly jit: boolean; readonly device?: PeerDevice },
): Promise<PeerImpl> {
  const jax: any = await peer("@jax-js/jax");
  const { numpy: np, nn, lax } = jax;
  const device = options.device ?? "wasm";
  const available: string[] = await jax.init(device);
  if (!available.includes(device))
    throw new Error(`jax-js: jax.init("${device}") did not initialise ${device} (it has ${available.join(", ")})`);
  jax.defaultDevice(device);
  const { T, D, H, E, K } = cfg;
  const params = {
    x: np.array(inputs.x).reshape([T, D]),
    router: np.array(inputs.router).reshape([D, E]),
    w1: np.array(inputs.w1).reshape([E, D, H]),
    w2: np.array(inputs.w2).reshape([E, H, D]),
  };
  const topMask = (probs: any) => {
    const [values, indices] = lax.topK(probs.ref, K, -1);
    indices.dispose();
    return lax.stopGradient(probs.greaterEqual(values.min(-1, { keepdims: true })).astype(np.float32));
  };
  const loss = (p: any) => {
    const probs = nn.softmax(np.matmul(p.x.ref, p.router), -1); // [T, E]
    const mask = topMask(probs.ref);
    const gates = probs.ref.mul(mask.ref).transpose().reshape([E, T, 1]);
    const y = np.matmul(nn.relu(np.matmul(p.x.reshape([1, T, D]), p.w1)), p.w2); // [E, T, D]
    const out = y.mul(gates).sum(0);
    const aux = mask
      .sum(0)
      .div(T * K)
      .mul(probs.mean(0))
      .sum()
      .mul(E);
    return np.square(out).mean().add(aux.mul(0.01));
  };
  const refs = () => ({ x: params.x.ref, router: params.router.ref, w1: params.w1.ref, w2: params.w2.ref });
  const valueAndGrad = options.jit ? jax.jit(jax.valueAndGrad(loss)) : jax.valueAndGrad(loss);
  const forward = options.jit ? jax.jit(loss) : loss;
  const hostMs = hostTimes();
  return {
    name: `jax-js ${device} (${options.jit ? "jit" : "eager"})`,
    hostMs,
    forward: async () => {
      jax.defaultDevice(device); // global state: another jax-js device may have been made the default since
      const t = performance.now();
      const l = forward(refs());
      hostMs.forward.push(performance.now() - t);
      return { loss: (await l.data())[0] };
    },
    forwardBackward: async () => {
      jax.defaultDevice(device);
      const t = performance.now();
      const [l, g] = valueAndGrad(refs());
      hostMs.forwardBackward.push(performance.now() - t);
      const grads = [];
      for (const k of ["x", "router", "w1", "w2"]) grads.push(new Float32Array(await g[k].data()));
      return { loss: (await l.data())[0], grads };
    },
    dispose: () => {
      for (const a of Object.values(params)) (a as any).dispose();
    },
  };
}

/** TensorFlow.js 4.x on its wasm or webgpu backend (`@tensorflow/tfjs-backend-<device>`). */
export async function tfjsImpl(
  cfg: PeerLayerConfig,
  inputs: PeerInputs,
  device: PeerDevice = "wasm",
): Promise<PeerImpl> {
  const tf: any = await peer("@tensorflow/tfjs");
  await peer(`@tensorflow/tfjs-backend-${device}`);
  if (!(await tf.setBackend(device))) throw new Error(`TensorFlow.js: setBackend("${device}") failed`);
  await tf.ready();
  // The backend is global state: tensors below live on this one, and each call checks it is still current.
  const current = async () => {
    if (tf.getBackend() !== device) await tf.setBackend(device);
  };
  const { T, D, H, E, K } = cfg;
  const x = tf.tensor(inputs.x, [T, D]);
  const router = tf.tensor(inputs.router, [D, E]);
  const w1 = tf.tensor(inputs.w1, [E, D, H]);
  const w2 = tf.tensor(inputs.w2, [E, H, D]);
  const topMask = (x: any, router: any) =>
    tf.tidy(() => {
      const probs = tf.softmax(tf.matMul(x, router));
      const { values } = tf.topk(probs, K);
      return tf.cast(tf.greaterEqual(probs, tf.min(values, -1, true)), "float32");
    });
  const lossWith = (mask: any) => (x: any, router: any, w1: any, w2: any) => {
    const probs = tf.softmax(tf.matMul(x, router));
    const gates = tf.reshape(tf.transpose(tf.mul(probs, mask)), [E, T, 1]);
    const xs = tf.broadcastTo(tf.expandDims(x, 0), [E, T, D]);
    const y = tf.matMul(tf.relu(tf.matMul(xs, w1)), w2); // [E, T, D]
    const out = tf.sum(tf.mul(y, gates), 0);
    const aux = tf.mul(tf.sum(tf.mul(tf.div(tf.sum(mask, 0), T * K), tf.mean(probs, 0))), E);
    return tf.add(tf.mean(tf.square(out)), tf.mul(aux, 0.01));
  };
  const hostMs = hostTimes();
  return {
    name: `tfjs ${device}`,
    hostMs,
    forward: async () => {
      await current();
      const t = performance.now();
      const l = tf.tidy(() => lossWith(topMask(x, router))(x, router, w1, w2));
      hostMs.forward.push(performance.now() - t);
      const v = (await l.data())[0];
      l.dispose();
      return { loss: v };
    },
    forwardBackward: async () => {
      await current();
      const t = performance.now();
      const mask = topMask(x, router);
      const { value, grads } = tf.valueAndGrads(lossWith(mask))([x, router, w1, w2]);
      hostMs.forwardBackward.push(performance.now() - t);
      const out = [];
      for (const g of grads) out.push(new Float32Array(await g.data()));
      const v = (await value.data())[0];
      tf.dispose([mask, value, ...grads]);
      return { loss: v, grads: out };
    },
    dispose: () => tf.dispose([x, router, w1, w2]),
  };
}
