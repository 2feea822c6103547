/**
 * The README's main job: trace a top-2 MoE layer into a Program, print it and
 * its gradient Program, then train it for a few steps on the interpreter.
 */
import {
  arange,
  argsort,
  bincount,
  broadcastTo,
  matmul,
  mean,
  random,
  raggedMatmul,
  reshape,
  scatterAdd,
  softmax,
  spec,
  square,
  take,
  topK,
  trace,
  tree,
  valueAndGrad,
  vjpProgram,
  zeros,
  type Tensor,
} from "../index";

interface Params {
  router: Tensor; // [D, E]
  w1: Tensor; // [E, D, H]
  w2: Tensor; // [E, H, D]
}

const T = 16;
const D = 8;
const H = 16;
const E = 4;
const K = 2;

/**
 * A dropless top-k MoE FFN: route (softmax, top-k), dispatch (sort token slots by
 * expert, count per expert), experts (two grouped GEMMs with ReLU), combine
 * (weighted scatter-add back to tokens; deterministic).
 */
function moeLayer(p: Params, x: Tensor): Tensor {
  const [t, d] = x.shape as [number, number];
  const [weights, experts] = topK(softmax(matmul(x, p.router)), K); // [T, K]
  const slotExpert = reshape(experts, [t * K]);
  const order = argsort(slotExpert); // slots in expert order (stable)
  const slotToken = reshape(broadcastTo(reshape(arange(t), [t, 1]), [t, K]), [t * K]);
  const tokenOf = take(slotToken, order);
  const groupSizes = bincount(slotExpert, E);
  const hidden = raggedMatmul(take(x, tokenOf), p.w1, groupSizes).relu();
  const out = raggedMatmul(hidden, p.w2, groupSizes);
  const gate = reshape(take(reshape(weights, [t * K]), order), [t * K, 1]);
  return scatterAdd(zeros([t, d]), tokenOf, out.mul(gate));
}

function loss(p: Params, x: Tensor, y: Tensor): Tensor {
  return mean(square(moeLayer(p, x).sub(y)));
}

function init(seed: number): Params {
  const [k1, k2, k3] = random.split(random.key(seed), 3);
  return {
    router: random.normal(k1!, [D, E]).mul(0.5),
    w1: random.normal(k2!, [E, D, H]).mul(1 / Math.sqrt(D)),
    w2: random.normal(k3!, [E, H, D]).mul(1 / Math.sqrt(H)),
  };
}

const params0 = init(0);
const [kx, ky] = random.split(random.key(1), 2);
const x = random.normal(kx!, [T, D]);
const target = random.normal(ky!, [T, D]).mul(0.1).add(x.mul(0.5));

const program = trace(loss, params0, spec([T, D]), spec([T, D]));
console.log(`== MoE layer loss (T=${T}, D=${D}, H=${H}, E=${E}, top-${K}): ${program.eqns.length} equations`);
console.log(program.toString());
const gradProgram = vjpProgram(
  program,
  program.inputs.map((_, i) => i < 3),
);
console.log(`\n== its gradient program (w.r.t. router, w1, w2): ${gradProgram.eqns.length} equations`);
console.log(gradProgram.toString());

console.log("\n== training on the interpreter (SGD, lr 0.5)");
let params = params0;
const step = valueAndGrad(loss);
for (let i = 0; i <= 20; i++) {
  const [value, g] = step(params, x, target);
  if (i % 5 === 0) console.log(`step ${String(i).padStart(2)}  loss ${(value as Tensor).item().toFixed(5)}`);
  params = tree.map((p, gi) => p.sub(gi.mul(0.5)), params, g);
}
