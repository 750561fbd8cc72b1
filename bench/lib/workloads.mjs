/**
 * The three workloads of issue 4, as pre-encoded request frames plus the decision each frame must get.
 * Keys and limits match bench/config/ratelimit/config/bench.yaml.
 */
import { encodeRequestFrame } from "./grpc-wire.mjs";
import { EXPECT } from "./load-generator.mjs";

export const DOMAIN = "bench";
/** requests_per_unit of the "over" rules (per hour); twice that is tolerated in case a run spans an hour boundary. */
const OVER_RULE_LIMIT = 10;

/**
 * @typedef {object} Workload
 * @property {string} name
 * @property {string} title
 * @property {Buffer[]} frames
 * @property {Uint8Array} expect EXPECT per frame when the rules apply
 * @property {number} descriptors descriptors per request
 * @property {number} allowOk
 */

export const WORKLOAD_NAMES = Object.freeze(["W1", "W2", "W3"]);

/** Builds one workload's frames. `w2Keys` sizes W2 (default 100,000). */
export function buildWorkload(gen, name, w2Keys = 100_000) {
  if (name === "W1") return w1(gen);
  if (name === "W2") return w2(gen, w2Keys);
  if (name === "W3") return w3(gen);
  throw new Error(`unknown workload ${name}`);
}

function w1(gen) {
  const frames = [];
  const expect = new Uint8Array(100);
  for (let i = 0; i < 100; i++) {
    frames.push(encodeRequestFrame(gen, DOMAIN, [[["w1", `k${i}`]]]));
    if (i === 99) expect[i] = EXPECT.OVER;
  }
  return {
    name: "W1",
    title: "1 descriptor, 100 hot keys, 1% over limit",
    frames,
    expect,
    descriptors: 1,
    allowOk: 2 * OVER_RULE_LIMIT,
  };
}

function w2(gen, keys) {
  const order = shuffled(keys, 0x5eed);
  const frames = order.map((i) =>
    encodeRequestFrame(gen, DOMAIN, [
      [["ip", `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`]],
      [["user", `user-${i % 10_000}`]],
      [["endpoint", `/api/v1/endpoint-${i % 50}`]],
    ]),
  );
  return {
    name: "W2",
    title: `3 descriptors (ip, user, endpoint), ${keys.toLocaleString("en")} keys, all allowed`,
    frames,
    expect: new Uint8Array(keys),
    descriptors: 3,
    allowOk: 0,
  };
}

function w3(gen) {
  return {
    name: "W3",
    title: "1 hot key far over its limit",
    frames: [encodeRequestFrame(gen, DOMAIN, [[["w3", "hot"]]])],
    expect: Uint8Array.of(EXPECT.OVER),
    descriptors: 1,
    allowOk: 2 * OVER_RULE_LIMIT,
  };
}

/** Deterministic Fisher-Yates (mulberry32), so every run sends the same key order. */
function shuffled(n, seed) {
  const out = Array.from({ length: n }, (_, i) => i);
  let s = seed >>> 0;
  const rand = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}
