/**
 * Type tests for transform results (compiled by `tsc --noEmit -p .`): grad and
 * valueAndGrad return the differentiated argument's own pytree type, random
 * draws keep their literal shape. An `@ts-expect-error` line that stopped
 * failing would itself be an error.
 */
import { grad, ops, random, valueAndGrad, zeros, type Tensor } from "../../index";

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function assertType<T extends true>(_ok?: T): void {}

interface Params {
  w: Tensor<readonly [3, 4], "f32">;
  layers: { b: Tensor<readonly [4], "f32"> }[];
}
const params: Params = { w: zeros([3, 4]), layers: [{ b: zeros([4]) }] };
const x = zeros([2, 3]);
const loss = (p: Params, xx: Tensor<readonly [2, 3], "f32">) => ops.sum(xx.matmul(p.w).add(p.layers[0]!.b));

// grad: the argument's type, for argnums 0 (default), a literal number and a tuple
const g0 = grad(loss)(params, x);
assertType<Equal<typeof g0, Params>>();
const g1 = grad(loss, { argnums: 1 })(params, x);
assertType<Equal<typeof g1, Tensor<readonly [2, 3], "f32">>>();
const g01 = grad(loss, { argnums: [1, 0] })(params, x);
assertType<Equal<typeof g01, [Tensor<readonly [2, 3], "f32">, Params]>>();
// @ts-expect-error the gradient of params has no field "v"
void g0.v;

// valueAndGrad: [value, grad]; with hasAux: [[loss, aux], grad]
const [value, gv] = valueAndGrad(loss)(params, x);
assertType<Equal<typeof value, Tensor>>();
assertType<Equal<typeof gv, Params>>();
const withAux = (p: Params, xx: Tensor<readonly [2, 3], "f32">) => [loss(p, xx), { pred: xx.matmul(p.w) }] as const;
const [[l, aux], ga] = valueAndGrad(withAux, { hasAux: true })(params, x);
assertType<Equal<typeof l, Tensor>>();
assertType<Equal<typeof aux.pred, Tensor<[2, 4], "f32">>>();
assertType<Equal<typeof ga, Params>>();
const [gg, aux2] = grad(withAux, { hasAux: true })(params, x);
assertType<Equal<typeof gg, Params>>();
assertType<Equal<typeof aux2, { readonly pred: Tensor<[2, 4], "f32"> }>>();

// random draws keep the literal shape (and a named dim)
const k = random.key(0);
const n = random.normal(k, [2, 3]);
assertType<Equal<typeof n, Tensor<readonly [2, 3], "f32">>>();
const u = random.uniform(k, ["T", 8], { dtype: "f64" });
assertType<Equal<typeof u, Tensor<readonly ["T", 8], "f64">>>();
// @ts-expect-error a [2, 3] draw does not matmul a [2, 3] matrix (inner dims 3 vs 2)
n.matmul(zeros([2, 3]));
