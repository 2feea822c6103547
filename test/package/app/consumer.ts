// Type-checked by the packaging test under nodenext and bundler, "types": [] (no @types/node)
// and no skipLibCheck: moeforge's shipped declarations must stand on their own.
import { compile, grad, jit, ops, spec, trace, zeros, type Tensor } from "moeforge";
import { cudaBundleSource } from "moeforge/cuda";

const x = zeros([2, 3]);
const w = zeros([3, 4]);
const y: Tensor<[2, 4], "f32"> = x.matmul(w);
// @ts-expect-error inner dims 3 and 2 differ: the shape types survive packaging
x.matmul(zeros([2, 4]));

const loss = (a: Tensor, b: Tensor) => ops.sum(a.matmul(b));
const g = grad(loss)(x, w);
const f = jit(loss, { backend: "cpu" });
const program = trace(loss, spec(["T", 3]), spec([3, 4]));
const cu: string = cudaBundleSource(compile(program, { target: "cuda" }), { prefix: "consumer" }).cu;

export const results = [y, g, f, program, cu];
