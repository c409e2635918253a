/**
 * Seeded pseudo-random numbers, so simulations and models repeat exactly for a given seed.
 * sfc32 (Chris Doty-Humphrey's Small Fast Counting generator): 128 bits of state, passes PractRand,
 * and is a few lines of 32-bit integer arithmetic.
 */
export interface Random {
  /** Uniform in [0, 1). */
  next(): number
  /** Uniform in [min, max). */
  uniform(min: number, max: number): number
  /** Integer uniform in [0, n). */
  int(n: number): number
  /** Standard normal N(0, 1) scaled: mean + sd * z. */
  normal(mean?: number, sd?: number): number
  /** A new independent generator derived from this one and a label (for per-drone streams). */
  fork(label: string): Random
}

/** Hashes a string seed into four 32-bit words (a variant of cyrb128; kept as is so seeds repeat). */
function seedWords(seed: string): [number, number, number, number] {
  let h1 = 1779033703,
    h2 = 3144134277,
    h3 = 1013904242,
    h4 = 2773480762
  for (let i = 0; i < seed.length; i++) {
    const k = seed.charCodeAt(i)
    h1 = h2 ^ Math.imul(h1 ^ k, 597399067)
    h2 = h3 ^ Math.imul(h2 ^ k, 2869860233)
    h3 = h4 ^ Math.imul(h3 ^ k, 951274213)
    h4 = h1 ^ Math.imul(h4 ^ k, 2716044179)
  }
  h1 = Math.imul(h3 ^ (h1 >>> 18), 597399067)
  h2 = Math.imul(h4 ^ (h2 >>> 22), 2869860233)
  h3 = Math.imul(h1 ^ (h3 >>> 17), 951274213)
  h4 = Math.imul(h2 ^ (h4 >>> 19), 2716044179)
  return [(h1 ^ h2 ^ h3 ^ h4) >>> 0, (h2 ^ h1) >>> 0, (h3 ^ h1) >>> 0, (h4 ^ h1) >>> 0]
}

export function createRandom(seed: string | number): Random {
  const seedText = String(seed)
  let [a, b, c, d] = seedWords(seedText)
  let spare: number | undefined

  const nextUint32 = (): number => {
    a >>>= 0
    b >>>= 0
    c >>>= 0
    d >>>= 0
    const t = (a + b + d) | 0
    d = (d + 1) | 0
    a = b ^ (b >>> 9)
    b = (c + (c << 3)) | 0
    c = (c << 21) | (c >>> 11)
    c = (c + t) | 0
    return t >>> 0
  }
  // Discard the first outputs, as the generator's author recommends after seeding.
  for (let i = 0; i < 15; i++) nextUint32()

  const random: Random = {
    next: () => nextUint32() / 4294967296,
    uniform: (min, max) => min + (max - min) * random.next(),
    int: (n) => Math.floor(random.next() * n),
    normal(mean = 0, sd = 1) {
      if (spare !== undefined) {
        const z = spare
        spare = undefined
        return mean + sd * z
      }
      // Box-Muller; u1 is kept away from 0 so log() stays finite.
      const u1 = 1 - random.next()
      const u2 = random.next()
      const r = Math.sqrt(-2 * Math.log(u1))
      spare = r * Math.sin(2 * Math.PI * u2)
      return mean + sd * r * Math.cos(2 * Math.PI * u2)
    },
    fork: (label) => createRandom(`${seedText}/${label}`),
  }
  return random
}
