/**
 * Hierarchical mixtures of experts (Jordan & Jacobs, "Hierarchical mixtures of
 * experts and the EM algorithm", Neural Computation 6(2), 1994): a tree whose
 * internal nodes are softmax gates over their children and whose leaves are
 * linear-Gaussian experts. The tree is a recursive parameter pytree, so it can
 * have any depth and any branching (also unbalanced):
 *
 *   node = { gate: { w [D, B], b [B] }, children: [B nodes] }   (a gate)
 *   leaf = { w [D, O], b [O] }                                   (an expert μ = x w + b)
 *
 * The model's density is P(y|x) = Σ_i g_i Σ_j g_{j|i} ... N(y; μ_leaf, I).
 */
import {
  logSoftmax,
  logsumexp,
  mean,
  random,
  softmax,
  stack,
  sum,
  zeros,
  type Dim,
  type DType,
  type Tensor,
} from "../../core";
import { affine, checkAffine, type AffineParams } from "./params";
import { expectShape } from "./validate";

/** An internal node: a gate with one output per child. */
export interface HmeGateNode {
  gate: AffineParams;
  children: readonly HmeNode[];
}

/** A node of a hierarchical mixture: a gate over children, or a linear expert leaf `{ w [D, O], b [O] }`. */
export type HmeNode = HmeGateNode | AffineParams;

/** What `validateHierarchy` found. */
export interface HmeStructure {
  inputDim: Dim;
  outputDim: Dim;
  /** Longest root-to-leaf path, in gates (a lone expert has depth 0). */
  depth: number;
  /** Number of expert leaves. */
  experts: number;
}

const isGateNode = (n: HmeNode): n is HmeGateNode => n !== null && typeof n === "object" && "children" in n;

/**
 * Checks a hierarchical mixture's structure: every gate has as many outputs as
 * its node has children (at least one), every gate and expert reads the same
 * input size, and every expert has the same output size. Throws an error
 * naming the offending node's path (e.g. `tree.children[1].children[0]`).
 * @example const { depth, experts } = validateHierarchy(tree);
 */
export function validateHierarchy(tree: HmeNode, fn = "validateHierarchy"): HmeStructure {
  let inputDim: Dim | undefined;
  let outputDim: { size: Dim; path: string } | undefined;
  let experts = 0;
  const sameInput = (size: Dim, path: string, what: string) => {
    if (inputDim === undefined) inputDim = size;
    else if (size !== inputDim)
      throw new Error(
        `${fn}: ${path}: ${what} reads ${size} features, but the tree's other nodes read ${inputDim}; every gate and expert must read the same input`,
      );
  };
  const walk = (node: HmeNode, path: string): number => {
    if (node === null || typeof node !== "object")
      throw new TypeError(
        `${fn}: ${path} must be a gate node {gate, children} or an expert {w, b}, got ${node === null ? "null" : typeof node}`,
      );
    if (!isGateNode(node)) {
      if (!("w" in node) || !("b" in node))
        throw new TypeError(
          `${fn}: ${path} has keys {${Object.keys(node).join(", ")}}; expected a gate node {gate, children} or an expert {w, b}`,
        );
      const [i, o] = checkAffine(`${path} (expert)`, node, fn);
      sameInput(i, path, "the expert");
      if (outputDim === undefined) outputDim = { size: o, path };
      else if (o !== outputDim.size)
        throw new Error(
          `${fn}: ${path}: the expert has ${o} outputs, but ${outputDim.path} has ${outputDim.size}; every expert must have the same output size`,
        );
      experts++;
      return 0;
    }
    if (!Array.isArray(node.children) || node.children.length === 0)
      throw new Error(`${fn}: ${path}.children must be a non-empty array of nodes`);
    const [i, b] = checkAffine(`${path}.gate`, node.gate, fn);
    sameInput(i, `${path}.gate`, "the gate");
    if (b !== node.children.length) {
      throw new Error(
        `${fn}: ${path}: the gate has ${b} outputs but the node has ${node.children.length} children; a gate needs exactly one output per child`,
      );
    }
    return 1 + Math.max(...node.children.map((c, k) => walk(c, `${path}.children[${k}]`)));
  };
  const depth = walk(tree, "tree");
  return { inputDim: inputDim!, outputDim: outputDim!.size, depth, experts };
}

/** The mean prediction of a subtree, [N, O]. */
function meanOf(node: HmeNode, x: Tensor): Tensor {
  if (!isGateNode(node)) return affine(node, x);
  const g = softmax(affine(node.gate, x), -1); // [N, B]
  const children = stack(
    node.children.map((c) => meanOf(c, x)),
    1,
  ); // [N, B, O]
  return sum(children.mul(g.expandDims(-1)), 1);
}

/** log P(y | x, subtree) per case, [N], up to the Gaussian normaliser. */
function logLikelihoodOf(node: HmeNode, x: Tensor, y: Tensor): Tensor {
  if (!isGateNode(node)) return sum(y.sub(affine(node, x)).square(), -1).mul(-0.5);
  const logGate = logSoftmax(affine(node.gate, x), -1); // [N, B]
  const children = stack(
    node.children.map((c) => logLikelihoodOf(c, x, y)),
    1,
  ); // [N, B]
  return logsumexp(logGate.add(children), -1);
}

/**
 * The hierarchical mixture's mean prediction, recursively
 * μ(node) = Σ_i g_i(x) μ(child_i), μ(leaf) = x w + b.
 * @param x [N, D]  @returns [N, O]
 * @example const yHat = hierarchicalMoe(initHierarchicalMoe(random.key(0), { inputDim: 3, outputDim: 1, branching: [2, 2] }), x);
 */
export function hierarchicalMoe(tree: HmeNode, x: Tensor): Tensor {
  const { inputDim } = validateHierarchy(tree, "hierarchicalMoe");
  expectShape("hierarchicalMoe", "x", x, [null, inputDim]);
  return meanOf(tree, x);
}

/**
 * Negative log-likelihood of the hierarchical mixture with unit-variance
 * Gaussian experts, averaged over cases:
 * mean_n -log Σ_paths (Π gates on the path) exp(-½ ||y_n - μ_leaf(x_n)||²),
 * computed level by level with logsumexp (the constant (O/2) log 2π is left out).
 * A depth-1 tree is exactly the mixture of local experts.
 * @example const [loss, g] = valueAndGrad(hierarchicalMoeLoss)(tree, x, y);
 */
export function hierarchicalMoeLoss(tree: HmeNode, x: Tensor, y: Tensor): Tensor {
  const { inputDim, outputDim } = validateHierarchy(tree, "hierarchicalMoeLoss");
  const [n] = expectShape("hierarchicalMoeLoss", "x", x, [null, inputDim]);
  expectShape("hierarchicalMoeLoss", "y", y, [n!, outputDim]);
  return mean(logLikelihoodOf(tree, x, y)).neg();
}

/**
 * A random balanced tree: `branching[l]` children per gate at level l, so
 * `branching.length` levels of gates and Π branching experts.
 * Gate weights ~ N(0, 1/D), expert weights and biases ~ N(0, 1/D).
 * @example initHierarchicalMoe(random.key(0), { inputDim: 4, outputDim: 2, branching: [2, 3] }) // 6 experts
 */
export function initHierarchicalMoe(
  key: Tensor,
  sizes: { inputDim: number; outputDim: number; branching: readonly number[] },
  dtype: DType = "f32",
): HmeNode {
  const { inputDim: d, outputDim: o, branching } = sizes;
  for (const [name, v] of [
    ["inputDim", d],
    ["outputDim", o],
    ...branching.map((b, i) => [`branching[${i}]`, b] as const),
  ] as const) {
    if (!Number.isInteger(v) || (v as number) < 1)
      throw new RangeError(`initHierarchicalMoe: ${name} = ${v}; expected a positive integer`);
  }
  const s = 1 / Math.sqrt(d);
  const build = (k: Tensor, level: number): HmeNode => {
    if (level === branching.length) {
      const [kw, kb] = random.split(k, 2);
      return { w: random.normal(kw!, [d, o], dtype).mul(s), b: random.normal(kb!, [o], dtype).mul(s) };
    }
    const b = branching[level]!;
    const keys = random.split(k, b + 1);
    return {
      gate: { w: random.normal(keys[b]!, [d, b], dtype).mul(s), b: zeros([b], dtype) },
      children: keys.slice(0, b).map((kc) => build(kc, level + 1)),
    };
  };
  return build(key, 0);
}
