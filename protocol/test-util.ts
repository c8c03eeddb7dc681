/**
 * Helpers shared by the protocol tests: a seeded PRNG (a failing fuzz case replays from its seed)
 * and a check that a decoder only ever fails with DecodeError.
 */
import { DecodeError } from "./decode-error.js";

/** mulberry32: small, fast, good enough to pick mutations. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randInt(rand: () => number, n: number): number {
  return Math.floor(rand() * n);
}

export function randomBytes(rand: () => number, n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = randInt(rand, 256);
  return b;
}

/** One random damage: bit flips, a truncation, a tampered byte, or a tampered 32-bit length. */
export function mutate(rand: () => number, input: Uint8Array): Uint8Array {
  const b = Uint8Array.from(input);
  if (b.length === 0) return b;
  switch (randInt(rand, 5)) {
    case 0: {
      const flips = 1 + randInt(rand, 4);
      for (let i = 0; i < flips; i++) b[randInt(rand, b.length)] ^= 1 << randInt(rand, 8);
      return b;
    }
    case 1:
      return b.subarray(0, randInt(rand, b.length));
    case 2:
      b[randInt(rand, b.length)] = [0x00, 0x7f, 0x80, 0xff, 0xc1, 0xdd, 0xdf][randInt(rand, 7)];
      return b;
    case 3: {
      if (b.length < 4) return b;
      const at = randInt(rand, b.length - 3);
      const values = [0, 1, 0x7fffffff, 0x80000000, 0xffffffff, randInt(rand, 1 << 20)];
      new DataView(b.buffer, b.byteOffset).setUint32(at, values[randInt(rand, values.length)]);
      return b;
    }
    default: {
      const extra = randomBytes(rand, 1 + randInt(rand, 16));
      const out = new Uint8Array(b.length + extra.length);
      out.set(b);
      out.set(extra, b.length);
      return out;
    }
  }
}

/** Runs `fn`; any throw other than DecodeError is rethrown with the input that caused it. */
export function onlyDecodeErrors(fn: () => unknown, input: Uint8Array, seed: number): void {
  try {
    fn();
  } catch (e) {
    if (e instanceof DecodeError) return;
    const hex = Buffer.from(input).toString("hex");
    throw new Error(`seed ${seed}: ${(e as Error).name}: ${(e as Error).message} on input ${hex}`, { cause: e });
  }
}
