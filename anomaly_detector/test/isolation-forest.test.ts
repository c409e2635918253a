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
} from '../src/isolation-forest.ts'

function gaussianCluster(n: number, seed: string): number[][] {
  const random = createRandom(seed)
  return Array.from({ length: n }, () => [random.normal(0, 1), random.normal(0, 1)])
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

  it('compiled scoring equals the reference path-length definition', () => {
    const point = [1.5, -0.5]
    const mean = forest.trees.reduce((sum, tree) => sum + pathLength(tree, point), 0) / forest.trees.length
    assert.ok(Math.abs(score(point) - anomalyScore(mean, forest.sampleSize)) < 1e-12)
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
    for (const point of [...cluster.slice(0, 100), far, [-4, 2.5]])
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
})
