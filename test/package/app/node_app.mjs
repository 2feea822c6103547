// Plain Node ESM, no tsx: the installed package's grad, jit on the cpu backend and
// compile to WGSL. Prints one JSON line (inputs and results) the test compares with the source build.
import { compile, grad, jit, ops, spec, tensor, trace } from "moeforge";

const loss = (x, w) => ops.sum(ops.square(ops.tanh(ops.matmul(x, w))));
const x = tensor(
  Array.from({ length: 6 }, (_, i) => Math.sin(i + 1)),
  [2, 3],
);
const w = tensor(
  Array.from({ length: 12 }, (_, i) => Math.cos(i + 1)),
  [3, 4],
);

const dw = grad(loss, { argnums: 1 })(x, w);
const cpu = jit(grad(loss, { argnums: 1 }), { backend: "cpu" })(x, w);
const bundle = compile(trace(loss, spec([2, 3]), spec([3, 4])), { target: "wgsl" });

console.log(
  JSON.stringify({
    x: Array.from(x.dataSync()),
    w: Array.from(w.dataSync()),
    grad: Array.from(dw.dataSync()),
    cpu: Array.from(cpu.dataSync()),
    wgsl: bundle.kernels.map((k) => k.source),
  }),
);
