/**
 * One domain's packed entries (packed-format.ts), written as each top-level item is packed, into typed arrays that
 * grow by doubling. So a packed item leaves nothing behind in the parse worker's heap: kept as a string and an object
 * per item until the end of the load, 50,000 items outlived the young collections and were copied and promoted for
 * nothing (issue 12). Entries written since a mark can be taken back, for a file given up halfway (rules/pack.ts).
 */
import { hashOf, META, META_FIELDS, type PackedDomain, tableSize } from "./packed-format.js";
import { type EncodedItem, encodedLength, writeEncoded } from "./packed-item.js";

type Storage = Int32Array | Uint16Array | Buffer;

/** A typed array that grows: `array` holds `length` values, then spare room. */
class Growing<T extends Storage> {
  length = 0;
  array: T;

  constructor(private readonly make: (size: number) => T) {
    this.array = make(256);
  }

  /** Makes room for `count` more values and returns the array to write them into, from `length`. */
  room(count: number): T {
    const needed = this.length + count;
    if (needed > this.array.length) {
      let size = this.array.length * 2;
      while (size < needed) size *= 2;
      const next = this.make(size);
      next.set(this.array.subarray(0, this.length));
      this.array = next;
    }
    return this.array;
  }

  push(value: number): void {
    this.room(1)[this.length++] = value;
  }

  /** A copy of the values, in an array of their exact size with a buffer of its own (to transfer). */
  done(): T {
    const out = this.make(this.length);
    out.set(this.array.subarray(0, this.length));
    return out;
  }
}

/** Where a domain's arrays ended, to take back what was written after. */
export interface Mark {
  readonly entries: number;
  readonly chars: number;
  readonly items: number;
  readonly patterns: number;
}

export class DomainBuilder {
  /** Files the entries come from, in load order. */
  readonly files: string[] = [];
  private entries = 0;
  private readonly meta = new Growing((n) => new Int32Array(n));
  private readonly chars = new Growing((n) => new Uint16Array(n));
  private readonly items = new Growing((n) => Buffer.allocUnsafeSlow(n));
  /** Each entry's composite hash, for the table built at the end. */
  private readonly hashes = new Growing((n) => new Int32Array(n));
  private readonly patterns = new Growing((n) => new Int32Array(n));

  constructor(readonly name: string) {}

  /** Adds an entry: a top-level item of file `file` (an index into `files`), `pattern` if its value is a wildcard. */
  add(composite: string, keyLength: number, item: EncodedItem, file: number, pattern: boolean): void {
    const itemLength = encodedLength(item);
    const meta = this.meta.room(META_FIELDS);
    const at = this.meta.length;
    meta[at + META.compositeStart] = this.chars.length;
    meta[at + META.compositeLength] = composite.length;
    meta[at + META.keyLength] = keyLength;
    meta[at + META.itemStart] = this.items.length;
    meta[at + META.itemLength] = itemLength;
    meta[at + META.file] = file;
    meta[at + META.encoding] = item.encoding;
    this.meta.length += META_FIELDS;
    const chars = this.chars.room(composite.length);
    for (let c = 0; c < composite.length; c++) chars[this.chars.length + c] = composite.charCodeAt(c);
    this.chars.length += composite.length;
    writeEncoded(item, this.items.room(itemLength), this.items.length);
    this.items.length += itemLength;
    this.hashes.push(hashOf(composite));
    if (pattern) this.patterns.push(this.entries);
    this.entries++;
  }

  mark(): Mark {
    return {
      entries: this.entries,
      chars: this.chars.length,
      items: this.items.length,
      patterns: this.patterns.length,
    };
  }

  /** Takes back every entry added since `mark`. */
  rollback(mark: Mark): void {
    this.entries = mark.entries;
    this.meta.length = mark.entries * META_FIELDS;
    this.hashes.length = mark.entries;
    this.chars.length = mark.chars;
    this.items.length = mark.items;
    this.patterns.length = mark.patterns;
  }

  finish(): PackedDomain {
    const entries = this.entries;
    const table = new Int32Array(tableSize(entries));
    const mask = table.length - 1;
    const hashes = this.hashes.array;
    for (let i = 0; i < entries; i++) {
      // The compile has rejected duplicate composites, so each entry takes a slot of its own.
      let slot = (hashes[i] as number) & mask;
      while (table[slot] !== 0) slot = (slot + 1) & mask;
      table[slot] = i + 1;
    }
    return {
      name: this.name,
      files: this.files,
      entries,
      meta: this.meta.done(),
      chars: this.chars.done(),
      // A plain Uint8Array over the Buffer's own memory: what crosses threads and what the serving thread reads.
      items: ((b) => new Uint8Array(b.buffer, b.byteOffset, b.length))(this.items.done()),
      table,
      patterns: this.patterns.done(),
    };
  }
}
