import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { createRandom } from '@drone-pipeline/shared/random.ts'
import {
  anomalyScore,
  averagePathLength,
  compileForest,
  forestProblem,
  pathLength,
  trainIsolationForest,
  type IsolationForest,
  type IsolationTree,
} from '../src/isolation-forest.ts'

function gaussianCluster(n: number, seed: string): number[][] {
  const random = createRandom(seed)
  return Array.from({ length: n }, () => [random.normal(0, 1), random.normal(0, 1)])
}

/** The paper's path length h(x): follow the splits to an external node, add c(its size). No ranges. */
function paperPathLength(tree: IsolationTree, x: ArrayLike<number>): number {
  let node = 0
  let depth = 0
  while (tree.feature[node]! >= 0) {
    node = x[tree.feature[node]!]! < tree.value[node]! ? node + 1 : tree.right[node]!
    depth++
  }
  return depth + averagePathLength(tree.value[node]!)
}

function meanPathLength(forest: IsolationForest, x: ArrayLike<number>, path = pathLength): number {
  return forest.trees.reduce((sum, tree) => sum + path(tree, x), 0) / forest.trees.length
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]!
}

describe('averagePathLength c(n)', () => {
  it('follows the conventions for tiny n and the formula beyond', () => {
    assert.equal(averagePathLength(0), 0)
    assert.equal(averagePathLength(1), 0)
    assert.equal(averagePathLength(2), 1)
    // 2H(2) - 2*2/3 with H(2) ~ ln 2 + gamma
    assert.ok(Math.abs(averagePathLength(3) - (2 * (Math.log(2) + 0.5772156649) - 4 / 3)) < 1e-12)
    assert.ok(Math.abs(averagePathLength(256) - 10.2448) < 1e-3)
  })

  it('makes a path of exactly c(psi) score 0.5', () => {
    assert.equal(anomalyScore(averagePathLength(256), 256), 0.5)
  })
})

describe('trainIsolationForest', () => {
  const cluster = gaussianCluster(1000, 'cluster')
  const far = [8, 8]
  const forest = trainIsolationForest([...cluster, far], { seed: 7 })
  const score = compileForest(forest)

  it('scores an isolated point far above clustered ones', () => {
    const clusterScores = cluster.map(score)
    const farScore = score(far)
    assert.ok(farScore > 0.6, `far point scored ${farScore}`)
    assert.ok(median(clusterScores) < 0.5, `cluster median ${median(clusterScores)}`)
    assert.ok(farScore > Math.max(...clusterScores), 'the far point outscores every cluster point')
    assert.ok(score([0, 0]) < score([3, 3]), 'the centre is more normal than the fringe')
  })

  it('builds trees per the paper: psi-point subsamples, height limit ceil(log2 psi), 100 trees by default', () => {
    assert.equal(forest.trees.length, 100)
    assert.equal(forest.sampleSize, 256)
    assert.equal(forest.heightLimit, 8)
    for (const tree of forest.trees) {
      const leafSizes = tree.value.filter((_, i) => tree.feature[i] === -1)
      assert.equal(
        leafSizes.reduce((a, b) => a + b, 0),
        256,
        'every sampled point ends in exactly one leaf',
      )
      const depth = new Array<number>(tree.feature.length).fill(0)
      tree.feature.forEach((f, i) => {
        if (f >= 0) depth[i + 1] = depth[tree.right[i]!] = depth[i]! + 1
      })
      assert.ok(Math.max(...depth) <= forest.heightLimit)
    }
  })

  it('caps the subsample at the number of rows', () => {
    const small = trainIsolationForest(cluster.slice(0, 50), { seed: 1, trees: 3 })
    assert.equal(small.sampleSize, 50)
    assert.equal(small.heightLimit, 6)
  })

  it('compiled scoring equals the reference path-length definition, inside and outside the training ranges', () => {
    const points = [
      [1.5, -0.5],
      [0, 0],
      [8, 8],
      [3.9, -4.2],
      [40, 0],
      [0, -1e6],
      [-25, 60],
      [1e9, 1e9],
    ]
    for (const point of points) {
      const expected = anomalyScore(meanPathLength(forest, point), forest.sampleSize)
      assert.ok(Math.abs(score(point) - expected) < 1e-12, `${point}: ${score(point)} vs ${expected}`)
    }
  })

  it('keeps each internal node’s training range of its split attribute', () => {
    // With ψ >= the rows, every tree is grown on all of them, so the ranges can be recomputed.
    const rows = cluster.slice(0, 200)
    const all = trainIsolationForest(rows, { seed: 9, trees: 10, sampleSize: 256 })
    assert.equal(all.sampleSize, 200)
    for (const tree of all.trees) {
      const reaching: number[][][] = tree.feature.map(() => [])
      reaching[0] = rows
      for (let i = 0; i < tree.feature.length; i++) {
        const here = reaching[i]!
        const q = tree.feature[i]!
        if (q < 0) {
          assert.equal(tree.value[i], here.length, 'an external node counts the points that reached it')
          assert.equal(tree.low[i], 0)
          assert.equal(tree.high[i], 0)
          continue
        }
        const values = here.map((row) => row[q]!)
        assert.equal(tree.low[i], Math.min(...values))
        assert.equal(tree.high[i], Math.max(...values))
        assert.ok(
          tree.low[i]! <= tree.value[i]! && tree.value[i]! < tree.high[i]!,
          'the split lies in the range',
        )
        reaching[i + 1] = here.filter((row) => row[q]! < tree.value[i]!)
        reaching[tree.right[i]!] = here.filter((row) => row[q]! >= tree.value[i]!)
      }
    }
  })

  it('is reproducible for a seed and differs across seeds', () => {
    const rows = cluster.slice(0, 300)
    const a = trainIsolationForest(rows, { seed: 42, trees: 10 })
    const b = trainIsolationForest(rows, { seed: 42, trees: 10 })
    const c = trainIsolationForest(rows, { seed: 43, trees: 10 })
    assert.deepEqual(JSON.parse(JSON.stringify(a)), JSON.parse(JSON.stringify(b)))
    assert.notDeepEqual(JSON.parse(JSON.stringify(a)), JSON.parse(JSON.stringify(c)))
  })

  it('scores identically after a JSON round trip', () => {
    const reloaded = compileForest(JSON.parse(JSON.stringify(forest)) as IsolationForest)
    for (const point of [...cluster.slice(0, 100), far, [-4, 2.5], [100, -100]])
      assert.equal(reloaded(point), score(point))
  })

  it('accepts typed-array rows and constant data', () => {
    const rows = Array.from({ length: 20 }, () => Float64Array.of(1, 2, 3))
    const constant = trainIsolationForest(rows, { seed: 1, trees: 5 })
    assert.ok(
      constant.trees.every((tree) => tree.feature.length === 1),
      'nothing to split: each tree is one leaf',
    )
    const s = compileForest(constant)(Float64Array.of(1, 2, 3))
    assert.ok(Number.isFinite(s))
  })

  it('rejects options and data it cannot work with', () => {
    assert.throws(() => trainIsolationForest([[1]], { seed: 1 }), /at least 2 rows/)
    assert.throws(() => trainIsolationForest([[1], [2]], { seed: 1, trees: 0 }), /trees/)
    assert.throws(() => trainIsolationForest([[1], [2]], { seed: 1, sampleSize: 1 }), /sampleSize/)
    assert.throws(() => trainIsolationForest([[1, 2], [2]], { seed: 1 }), /row 1 has 1 attributes/)
  })
})

describe('scoring beyond the training ranges', () => {
  // One attribute, uniform on [0, 1); ψ >= the rows, so every tree holds every row.
  const random = createRandom('uniform')
  const rows = Array.from({ length: 200 }, () => [random.next()])
  const forest = trainIsolationForest(rows, { seed: 5, trees: 50 })
  const score = compileForest(forest)
  const edge = [Math.max(...rows.map((r) => r[0]!))]
  const paperScore = (x: number[]) =>
    anomalyScore(meanPathLength(forest, x, paperPathLength), forest.sampleSize)

  it('scores a point far outside the range clearly above one at its edge', () => {
    const far = [100]
    assert.equal(
      paperScore(far),
      paperScore(edge),
      'the paper cannot tell them apart: they take the same path',
    )
    assert.ok(score(far) > score(edge) + 0.2, `far ${score(far)}, edge ${score(edge)}`)
    assert.ok(
      score([1.5]) > score(edge) && score([1.5]) < score([3]) && score([3]) < score(far),
      'further is more anomalous',
    )
    // So far out that a split in the gap is all but certain: isolated right below the root.
    for (const tree of forest.trees) assert.ok(Math.abs(pathLength(tree, [1e12]) - 1) < 1e-9)
  })

  it('scores points inside every range they meet exactly as the paper does', () => {
    for (const row of rows) {
      for (const tree of forest.trees) assert.equal(pathLength(tree, row), paperPathLength(tree, row))
    }
    assert.equal(score(edge), paperScore(edge))
  })

  it('never scores a point lower than the paper would', () => {
    for (const x of [[-3], [-0.01], [0.5], [1.2], [7]]) {
      for (const tree of forest.trees)
        assert.ok(pathLength(tree, x) <= paperPathLength(tree, x) + 1e-12, `${x}`)
      assert.ok(score(x) >= paperScore(x) - 1e-12)
    }
  })

  it('weighs each node’s isolation chance by the chance of reaching it (hand-built tree)', () => {
    // Root: attribute 0 in [0, 10], split at 5. Left: attribute 1 in [-1, 1], split at 0, external
    // nodes of 2 and 1 points. Right: an external node of 1 point.
    const tree: IsolationTree = {
      feature: [0, 1, -1, -1, -1],
      value: [5, 0, 2, 1, 1],
      right: [4, 3, -1, -1, -1],
      low: [0, -1, 0, 0, 0],
      high: [10, 1, 0, 0, 0],
    }
    const c2 = averagePathLength(2)
    const cases: [number[], number][] = [
      [[2, -0.5], 2 + c2], // inside both ranges: the paper's depth + c(2)
      [[7, 0.5], 1], // inside, right at the root: depth 1, one point
      // Gap 10 at the root: chance 10 / (10 + 10); otherwise on to the left child, inside its range.
      [[-10, -0.5], 0.5 * 1 + 0.5 * (2 + c2)],
      // Gap 30 at the root: chance 30 / (10 + 30); otherwise on to the right child, a 1-point leaf.
      [[40, 0], 0.75 * 1 + 0.25 * 1],
      // Gap 10 at the root (0.5), then gap 2 at the left child (2 / (2 + 2)), then the 1-point leaf.
      [[-10, 3], 0.5 * 1 + 0.5 * 0.5 * 2 + 0.25 * 2],
    ]
    const forest: IsolationForest = { dimensions: 2, sampleSize: 4, heightLimit: 2, trees: [tree] }
    assert.equal(forestProblem(forest), undefined)
    const compiled = compileForest(forest)
    for (const [x, expected] of cases) {
      assert.ok(
        Math.abs(pathLength(tree, x) - expected) < 1e-12,
        `${x}: ${pathLength(tree, x)} vs ${expected}`,
      )
      assert.ok(Math.abs(compiled(x) - anomalyScore(expected, 4)) < 1e-12, `${x} compiled`)
    }
  })
})

describe('forestProblem', () => {
  const forest = trainIsolationForest(gaussianCluster(64, 'small'), { seed: 3, trees: 2 })

  it('accepts a trained forest', () => {
    assert.equal(forestProblem(JSON.parse(JSON.stringify(forest))), undefined)
  })

  it('finds pointers that could loop or escape the arrays', () => {
    const broken = JSON.parse(JSON.stringify(forest)) as IsolationForest
    broken.trees[1]!.right[0] = 0
    assert.match(forestProblem(broken) ?? '', /trees\[1\]: right\[0\] must point to a later node/)
    const wide = JSON.parse(JSON.stringify(forest)) as IsolationForest
    wide.trees[0]!.feature[0] = 5
    assert.match(forestProblem(wide) ?? '', /feature\[0\]/)
    assert.match(forestProblem({ ...forest, trees: [] }) ?? '', /non-empty/)
  })

  it('requires every node’s low and high, as numbers with low <= high', () => {
    const copy = () => JSON.parse(JSON.stringify(forest)) as IsolationForest
    const withoutLow = copy() as unknown as { trees: Record<string, unknown>[] }
    delete withoutLow.trees[0]!.low
    assert.match(
      forestProblem(withoutLow) ?? '',
      /trees\[0\]: feature, value, right, low and high must be arrays/,
    )
    const shortHigh = copy()
    shortHigh.trees[1]!.high.pop()
    assert.match(forestProblem(shortHigh) ?? '', /trees\[1\]: .* must have equal length/)
    const inverted = copy()
    inverted.trees[0]!.low[0] = inverted.trees[0]!.high[0]! + 1
    assert.match(
      forestProblem(inverted) ?? '',
      /trees\[0\]: low\[0\] and high\[0\] must be numbers with low <= high/,
    )
    const text = copy() as unknown as { trees: { high: unknown[] }[] }
    text.trees[1]!.high[2] = '3'
    assert.match(forestProblem(text) ?? '', /trees\[1\]: low\[2\] and high\[2\]/)
    const empty = copy() as unknown as { trees: { low: unknown[] }[] }
    empty.trees[0]!.low[1] = null
    assert.match(forestProblem(empty) ?? '', /trees\[0\]: low\[1\] and high\[1\]/)
  })
})
