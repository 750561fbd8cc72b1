/**
 * The workloads of issue 4 (W1-W3) and issue 7 (W4-W6), as pre-encoded request frames plus the decision each frame
 * must get.
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

export const WORKLOAD_NAMES = Object.freeze(["W1", "W2", "W3", "W4", "W5", "W6"]);

/** Builds one workload's frames. `w2Keys` sizes W2 (default 100,000). */
export function buildWorkload(gen, name, w2Keys = 100_000) {
  if (name === "W1") return w1(gen);
  if (name === "W2") return w2(gen, w2Keys);
  if (name === "W3") return w3(gen);
  if (name === "W4") return hotKeys(gen, "W4", "w4", "W1's keys with a token bucket, 1% over limit");
  if (name === "W5")
    return hotKeys(gen, "W5", "w5", "W1's keys with 3 limits each (second, minute, day; mixed algorithms)");
  if (name === "W6") return w6(gen);
  throw new Error(`unknown workload ${name}`);
}

/** W1's shape (100 hot keys, the last one over its limit) on another rule key. */
function hotKeys(gen, name, key, title) {
  const w = w1(gen);
  const frames = [];
  for (let i = 0; i < 100; i++) frames.push(encodeRequestFrame(gen, DOMAIN, [[[key, `k${i}`]]]));
  return { ...w, name, title, frames };
}

/** W6: peek (hits_addend 0) then charge (hits_addend 7) on 1,000 budget keys; every answer OK. */
function w6(gen) {
  const frames = [];
  for (let i = 0; i < 1000; i++) {
    frames.push(encodeRequestFrame(gen, DOMAIN, [[["w6", `session-${i}`]]], [0]));
    frames.push(encodeRequestFrame(gen, DOMAIN, [[["w6", `session-${i}`]]], [7]));
  }
  return {
    name: "W6",
    title: "peek then charge on 1,000 budget keys",
    frames,
    expect: new Uint8Array(frames.length),
    descriptors: 1,
    allowOk: 0,
  };
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
