/**
 * Isolation Forest (Liu, Ting & Zhou, "Isolation Forest", ICDM 2008).
 *
 * Anomalies are few and different, so random axis-parallel splits isolate them in fewer steps than
 * normal points: the expected path length E[h(x)] over many random trees is short for anomalies,
 * and s(x, ψ) = 2^(-E[h(x)] / c(ψ)) maps it to a score in (0, 1] where values near 1 are anomalous
 * and values well below 0.5 are normal.
 *
 * One deliberate reading of the paper: the split attribute is drawn uniformly among the attributes
 * that are not constant in the node (as scikit-learn does). The paper draws among all attributes,
 * and a draw on a constant attribute yields a "split" that sends every point to one side, which only
 * adds depth. A node where every attribute is constant is external, which is the paper's condition
 * "all data in X have the same values".
 *
 * One extension, for points beyond the training data (what a sensor fault produces). In the paper
 * a node's split value is drawn uniformly between the smallest and largest value of the split
 * attribute among the node's training points, so a point far beyond that range follows the most
 * extreme training point down the tree and scores no higher than it: "far outside" and "just at the
 * edge" look the same. Here each internal node also keeps that range [low, high], and a point
 * scored against it is treated as if it had taken part in the draw: a split falling in the gap
 * between the range and the point, probability gap / (high - low + gap), would isolate it one edge
 * below the node. The path length is the expectation over those chances. A point inside every
 * range it meets (every training point, and most normal ones) scores exactly as in the paper.
 *
 * Trees are stored in pre-order as parallel arrays, so a forest is plain JSON and small. In
 * pre-order the left child of internal node i is node i + 1, so only the right child is stored.
 */
import { createRandom, type Random } from '@drone-pipeline/shared/random.ts'

/** One isolation tree in pre-order. */
export interface IsolationTree {
  /** Split attribute of an internal node; -1 marks an external (leaf) node. */
  feature: number[]
  /** Internal node: split value (x < value goes left). External node: training points that reached it. */
  value: number[]
  /** Internal node: index of the right child. External node: -1. */
  right: number[]
  /** Internal node: the smallest and largest value of its split attribute among its training points. External node: 0. */
  low: number[]
  high: number[]
}

/** A trained forest, serializable as JSON. */
export interface IsolationForest {
  /** Number of attributes each row has. */
  dimensions: number
  /** ψ actually used: min(requested sample size, number of rows); c(ψ) normalizes the score. */
  sampleSize: number
  /** ceil(log2 ψ): trees stop growing at this depth, since only short paths separate anomalies. */
  heightLimit: number
  trees: IsolationTree[]
}

export interface IsolationForestOptions {
  /** Number of trees t (the paper finds path lengths converge well before 100). Default 100. */
  trees?: number
  /** Subsample size ψ per tree (the paper's default). Default 256. */
  sampleSize?: number
  seed: string | number
}

const EULER_GAMMA = 0.5772156649

/**
 * c(n): the average path length of an unsuccessful search in a binary search tree of n points,
 * which is the expected depth still missing below an external node that holds n points.
 */
export function averagePathLength(n: number): number {
  if (n <= 1) return 0
  if (n === 2) return 1
  return 2 * (Math.log(n - 1) + EULER_GAMMA) - (2 * (n - 1)) / n
}

/** s(x, ψ) from an average path length. */
export function anomalyScore(meanPathLength: number, sampleSize: number): number {
  return Math.pow(2, -meanPathLength / averagePathLength(sampleSize))
}

export function trainIsolationForest(
  rows: readonly ArrayLike<number>[],
  options: IsolationForestOptions,
): IsolationForest {
  const treeCount = options.trees ?? 100
  const requestedSampleSize = options.sampleSize ?? 256
  if (!Number.isInteger(treeCount) || treeCount < 1) throw new RangeError('trees must be a whole number >= 1')
  if (!Number.isInteger(requestedSampleSize) || requestedSampleSize < 2) {
    throw new RangeError('sampleSize must be a whole number >= 2')
  }
  if (rows.length < 2) throw new RangeError(`an isolation forest needs at least 2 rows, got ${rows.length}`)
  const dimensions = rows[0]!.length
  if (dimensions < 1) throw new RangeError('rows must have at least one attribute')
  for (const [i, row] of rows.entries()) {
    if (row.length !== dimensions)
      throw new RangeError(`row ${i} has ${row.length} attributes, expected ${dimensions}`)
  }

  const sampleSize = Math.min(requestedSampleSize, rows.length)
  const heightLimit = Math.ceil(Math.log2(sampleSize))
  const random = createRandom(options.seed)
  // A permutation of row indices; a partial Fisher-Yates shuffle of its first ψ slots draws each
  // subsample without replacement, and leaves a permutation behind for the next tree.
  const pool = Int32Array.from({ length: rows.length }, (_, i) => i)
  const trees: IsolationTree[] = []
  for (let t = 0; t < treeCount; t++) {
    for (let i = 0; i < sampleSize; i++) {
      const j = i + random.int(rows.length - i)
      const swap = pool[i]!
      pool[i] = pool[j]!
      pool[j] = swap
    }
    trees.push(buildTree(rows, pool.slice(0, sampleSize), dimensions, heightLimit, random))
  }
  return { dimensions, sampleSize, heightLimit, trees }
}

function buildTree(
  rows: readonly ArrayLike<number>[],
  sample: Int32Array,
  dimensions: number,
  heightLimit: number,
  random: Random,
): IsolationTree {
  const tree: IsolationTree = { feature: [], value: [], right: [], low: [], high: [] }
  const candidates: number[] = []
  const min = new Float64Array(dimensions)
  const max = new Float64Array(dimensions)

  const leaf = (size: number): void => {
    tree.feature.push(-1)
    tree.value.push(size)
    tree.right.push(-1)
    tree.low.push(0)
    tree.high.push(0)
  }

  // Grows the subtree over sample[start, end); partitions that range in place.
  const grow = (start: number, end: number, depth: number): void => {
    const size = end - start
    if (depth >= heightLimit || size <= 1) return leaf(size)
    min.fill(Infinity)
    max.fill(-Infinity)
    for (let i = start; i < end; i++) {
      const row = rows[sample[i]!]!
      for (let q = 0; q < dimensions; q++) {
        const v = row[q]!
        if (v < min[q]!) min[q] = v
        if (v > max[q]!) max[q] = v
      }
    }
    candidates.length = 0
    for (let q = 0; q < dimensions; q++) if (max[q]! > min[q]!) candidates.push(q)
    if (candidates.length === 0) return leaf(size)

    const q = candidates[random.int(candidates.length)]!
    const split = random.uniform(min[q]!, max[q]!)
    let mid = start
    for (let i = start; i < end; i++) {
      const index = sample[i]!
      if (rows[index]![q]! < split) {
        sample[i] = sample[mid]!
        sample[mid++] = index
      }
    }
    const node = tree.feature.length
    tree.feature.push(q)
    tree.value.push(split)
    tree.right.push(-1)
    tree.low.push(min[q]!)
    tree.high.push(max[q]!)
    grow(start, mid, depth + 1)
    tree.right[node] = tree.feature.length
    grow(mid, end, depth + 1)
  }

  grow(0, sample.length, 0)
  return tree
}

/**
 * The chance that a split drawn over the node's range widened to include `v` falls between the
 * range and `v`, which would isolate `v` right below the node; 0 inside the range.
 */
function isolationChance(v: number, low: number, high: number): number {
  const gap = v < low ? low - v : v > high ? v - high : 0
  return gap > 0 ? gap / (high - low + gap) : 0
}

/**
 * E[h(x)]: the expected number of edges from the root until x is isolated, either by the gap
 * between x and a node's range (one edge below that node) or at the external node it reaches
 * (its depth plus c(size)).
 */
export function pathLength(tree: IsolationTree, x: ArrayLike<number>): number {
  let node = 0
  let depth = 0
  let reach = 1
  let expected = 0
  let feature = tree.feature[0]!
  while (feature >= 0) {
    const v = x[feature]!
    const p = isolationChance(v, tree.low[node]!, tree.high[node]!)
    expected += reach * p * (depth + 1)
    reach *= 1 - p
    node = v < tree.value[node]! ? node + 1 : tree.right[node]!
    feature = tree.feature[node]!
    depth++
  }
  return expected + reach * (depth + averagePathLength(tree.value[node]!))
}

/** Scores one row; reuses the compiled arrays and allocates nothing. */
export type ForestScorer = (x: ArrayLike<number>) => number

/**
 * Compiles a forest for the hot path: all trees concatenated into typed arrays, and each external
 * node's value replaced by its full path length (depth + c(size)), so scoring is one loop per tree
 * with no recursion and no allocation. (Parallel arrays measured faster than one interleaved array
 * of nodes.)
 */
export function compileForest(forest: IsolationForest): ForestScorer {
  const nodeCount = forest.trees.reduce((n, tree) => n + tree.feature.length, 0)
  const roots = new Int32Array(forest.trees.length)
  const feature = new Int32Array(nodeCount)
  const value = new Float64Array(nodeCount)
  const right = new Int32Array(nodeCount)
  const low = new Float64Array(nodeCount)
  const high = new Float64Array(nodeCount)
  let offset = 0
  for (const [t, tree] of forest.trees.entries()) {
    roots[t] = offset
    const depth = new Int32Array(tree.feature.length)
    for (let i = 0; i < tree.feature.length; i++) {
      const at = offset + i
      feature[at] = tree.feature[i]!
      if (tree.feature[i]! >= 0) {
        value[at] = tree.value[i]!
        right[at] = offset + tree.right[i]!
        low[at] = tree.low[i]!
        high[at] = tree.high[i]!
        depth[i + 1] = depth[tree.right[i]!] = depth[i]! + 1
      } else {
        value[at] = depth[i]! + averagePathLength(tree.value[i]!)
      }
    }
    offset += tree.feature.length
  }
  const norm = forest.trees.length * averagePathLength(forest.sampleSize)

  return (x) => {
    let total = 0
    for (let t = 0; t < roots.length; t++) {
      let node = roots[t]!
      let depth = 0
      let reach = 1
      let f = feature[node]!
      while (f >= 0) {
        const v = x[f]!
        const p = isolationChance(v, low[node]!, high[node]!)
        total += reach * p * (depth + 1)
        reach *= 1 - p
        node = v < value[node]! ? node + 1 : right[node]!
        f = feature[node]!
        depth++
      }
      total += reach * value[node]!
    }
    return Math.pow(2, -total / norm)
  }
}

/**
 * Checks that parsed JSON is a well-formed forest, so a corrupt file fails at load time with a
 * reason instead of scoring garbage or reading past an array. Returns the problem, or undefined.
 */
export function forestProblem(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null) return 'forest is not an object'
  const f = value as Partial<Record<keyof IsolationForest, unknown>>
  if (!isWhole(f.dimensions) || f.dimensions < 1) return 'forest.dimensions must be a whole number >= 1'
  if (!isWhole(f.sampleSize) || f.sampleSize < 2) return 'forest.sampleSize must be a whole number >= 2'
  if (!isWhole(f.heightLimit)) return 'forest.heightLimit must be a whole number'
  if (!Array.isArray(f.trees) || f.trees.length === 0) return 'forest.trees must be a non-empty array'
  for (const [t, tree] of (f.trees as unknown[]).entries()) {
    const problem = treeProblem(tree, f.dimensions)
    if (problem) return `forest.trees[${t}]: ${problem}`
  }
  return undefined
}

function treeProblem(value: unknown, dimensions: number): string | undefined {
  if (typeof value !== 'object' || value === null) return 'not an object'
  const { feature, value: values, right, low, high } = value as Partial<Record<keyof IsolationTree, unknown>>
  if (![feature, values, right, low, high].every(Array.isArray)) {
    return 'feature, value, right, low and high must be arrays'
  }
  const n = (feature as unknown[]).length
  if (n === 0 || [values, right, low, high].some((a) => (a as unknown[]).length !== n))
    return 'feature, value, right, low and high must have equal length > 0'
  for (let i = 0; i < n; i++) {
    const q: unknown = (feature as unknown[])[i]
    const v: unknown = (values as unknown[])[i]
    const r: unknown = (right as unknown[])[i]
    const lo: unknown = (low as unknown[])[i]
    const hi: unknown = (high as unknown[])[i]
    if (typeof v !== 'number' || !Number.isFinite(v)) return `value[${i}] is not a finite number`
    if (typeof lo !== 'number' || typeof hi !== 'number' || !(lo <= hi))
      return `low[${i}] and high[${i}] must be numbers with low <= high`
    // Children after their parent, as pre-order has it, is what guarantees that scoring terminates.
    if (q === -1) {
      if (!isWhole(v) || v < 0) return `value[${i}] of an external node must be a count`
    } else if (!isWhole(q) || q < 0 || q >= dimensions) {
      return `feature[${i}] must be -1 or an attribute index below ${dimensions}`
    } else if (!isWhole(r) || r <= i + 1 || r >= n) {
      return `right[${i}] must point to a later node`
    }
  }
  return undefined
}

function isWhole(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value)
}
