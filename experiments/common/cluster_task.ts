/**
 * The synthetic token task of the sparse-routing experiments (3 and 4):
 * tokens come from K clusters, each with its own linear target map, so the
 * ideal MoE gives each cluster its own expert. All tokens share a large common
 * offset (as token representations in trained models share a dominant
 * direction), so an untrained router sends most tokens to a few experts:
 * load balance has to be learned.
 */
import { tensor, type Tensor } from "../../index";
import { gaussianMatrix, matVec, seededNormal } from "./data";

/** Sizes and seed of the clustered token task. */
export interface ClusterTaskOptions {
  readonly clusters: number;
  readonly perCluster: number;
  readonly dim: number;
  /** Length of the offset shared by all tokens. */
  readonly offset: number;
  /** Std of the within-cluster noise (cluster centres are N(0, I)). */
  readonly spread: number;
  readonly seed: number;
  /** Targets `x + A_k x` instead of `A_k x` (for layers with a residual path). */
  readonly residualTarget?: boolean;
}

/** The drawn task: inputs, targets and each token's cluster. */
export interface ClusterTask {
  /** Inputs [N, dim] (f32). */
  readonly x: Tensor;
  /** Targets [N, dim] (f32). */
  readonly y: Tensor;
  /** The cluster of each token. */
  readonly cluster: number[];
}

/**
 * Draws the task: `x = offset·u + c_k + spread·ε`, `y = A_k x` (or `x + A_k x`),
 * with u a random unit vector, c_k ~ N(0, I), A_k ~ N(0, 1/dim).
 * @example const task = clusterTask({ clusters: 8, perCluster: 32, dim: 4, offset: 3, spread: 0.3, seed: 1 });
 */
export function clusterTask(o: ClusterTaskOptions): ClusterTask {
  const normal = seededNormal(o.seed);
  const dir = Array.from({ length: o.dim }, normal);
  const norm = Math.hypot(...dir);
  const shared = dir.map((v) => (v / norm) * o.offset);
  const centres = gaussianMatrix(normal, o.clusters, o.dim);
  const maps = centres.map(() => gaussianMatrix(normal, o.dim, o.dim, 1 / Math.sqrt(o.dim)));
  const xs: number[][] = [];
  const ys: number[][] = [];
  const cluster: number[] = [];
  // Interleave clusters so any prefix of the tokens is a fair sample.
  for (let i = 0; i < o.perCluster; i++) {
    for (let k = 0; k < o.clusters; k++) {
      const x = shared.map((s, j) => s + centres[k]![j]! + o.spread * normal());
      const ax = matVec(maps[k]!, x);
      xs.push(x);
      ys.push(o.residualTarget ? ax.map((v, j) => v + x[j]!) : ax);
      cluster.push(k);
    }
  }
  return { x: tensor(xs), y: tensor(ys), cluster };
}
