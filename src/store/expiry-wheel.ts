/**
 * The memory store's expiry index: keys registered under the Unix second they expire, each second's keys in
 * insertion order, with a min-heap of those seconds. Taking the next key of the soonest second is O(1) (a cursor
 * into an array, never a scan over deleted entries) and finding the soonest second O(log seconds), so eviction and
 * reclaiming cost the same per key however many keys have gone before.
 */

interface Slot {
  readonly keys: string[];
  cursor: number;
}

export interface ExpiryWheel {
  /** Registers `key` under `endSec`. A key may be registered more than once; `take` callers check liveness. */
  add(key: string, endSec: number): void;
  /** The soonest second still holding keys, or +Infinity. */
  soonest(): number;
  /** Removes and returns the next key of the soonest second, or undefined when the wheel is empty. */
  take(): { key: string; endSec: number } | undefined;
  /** Removes and returns the next key of the soonest second if that second is <= `nowSec`. */
  takeExpired(nowSec: number): { key: string; endSec: number } | undefined;
  clear(): void;
}

export function createExpiryWheel(): ExpiryWheel {
  const slots = new Map<number, Slot>();
  const heap: number[] = [];
  let lastEnd = -1;
  let lastSlot: Slot | undefined;
  // One reused result object: callers read it before the next call.
  const result = { key: "", endSec: 0 };

  function push(sec: number): void {
    heap.push(sec);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if ((heap[parent] as number) <= sec) break;
      heap[i] = heap[parent] as number;
      i = parent;
    }
    heap[i] = sec;
  }

  function pop(): void {
    const last = heap.pop() as number;
    if (heap.length === 0) return;
    let i = 0;
    const n = heap.length;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && (heap[r] as number) < (heap[l] as number) ? r : l;
      if ((heap[c] as number) >= last) break;
      heap[i] = heap[c] as number;
      i = c;
    }
    heap[i] = last;
  }

  function next(limitSec: number): { key: string; endSec: number } | undefined {
    while (heap.length > 0) {
      const end = heap[0] as number;
      if (end > limitSec) return undefined;
      const slot = slots.get(end) as Slot;
      if (slot.cursor < slot.keys.length) {
        result.key = slot.keys[slot.cursor] as string;
        slot.keys[slot.cursor++] = ""; // release the string for the collector
        result.endSec = end;
        return result;
      }
      slots.delete(end);
      if (lastSlot === slot) {
        lastEnd = -1;
        lastSlot = undefined;
      }
      pop();
    }
    return undefined;
  }

  return {
    add(key: string, endSec: number): void {
      let slot = endSec === lastEnd ? lastSlot : slots.get(endSec);
      if (slot === undefined) {
        slot = { keys: [], cursor: 0 };
        slots.set(endSec, slot);
        push(endSec);
      }
      lastEnd = endSec;
      lastSlot = slot;
      slot.keys.push(key);
    },
    soonest: () => (heap.length === 0 ? Number.POSITIVE_INFINITY : (heap[0] as number)),
    take: () => next(Number.POSITIVE_INFINITY),
    takeExpired: (nowSec: number) => next(nowSec),
    clear(): void {
      slots.clear();
      heap.length = 0;
      lastEnd = -1;
      lastSlot = undefined;
    },
  };
}
