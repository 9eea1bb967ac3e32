// A single-consumer async iterator over pushed items. Backpressure is the
// producer's business: `onTake` runs when an item is handed to the consumer
// (which is when the session releases its bytes to the native reader), and
// `onReturn` gets whatever was still queued when the consumer stopped early.

/** A FIFO with O(1) push/shift and unshift. */
export class Deque<T> {
  #items: (T | undefined)[] = [];
  #head = 0;

  get length(): number {
    return this.#items.length - this.#head;
  }

  push(item: T): void {
    this.#items.push(item);
  }

  unshift(item: T): void {
    if (this.#head > 0) this.#items[--this.#head] = item;
    else this.#items.unshift(item);
  }

  shift(): T | undefined {
    if (this.#head >= this.#items.length) return undefined;
    const item = this.#items[this.#head];
    this.#items[this.#head++] = undefined;
    if (this.#head === this.#items.length) {
      this.#items.length = 0;
      this.#head = 0;
    } else if (this.#head >= 1024 && this.#head * 2 >= this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return item;
  }

  /** Removes and returns everything, in order. */
  drain(): T[] {
    const out = this.#items.slice(this.#head) as T[];
    this.#items = [];
    this.#head = 0;
    return out;
  }
}

export interface AsyncQueueHooks<T> {
  /** An item was handed to the consumer (by next(), or by push() to a waiting next()). */
  onTake?: (item: T) => void;
  /** The consumer called return() (break out of for await); these items were never taken. */
  onReturn?: (untaken: T[]) => void;
}

export class AsyncQueue<T> implements AsyncIterableIterator<T> {
  readonly #items = new Deque<T>();
  readonly #waiters = new Deque<(result: IteratorResult<T, undefined>) => void>();
  readonly #hooks: AsyncQueueHooks<T>;
  #ended = false;
  #returned = false;

  constructor(hooks: AsyncQueueHooks<T> = {}, initial: Iterable<T> = []) {
    this.#hooks = hooks;
    for (const item of initial) this.#items.push(item);
  }

  /** Items queued and not yet taken. */
  get length(): number {
    return this.#items.length;
  }

  /** True once the consumer returned early or the queue ended and was drained. */
  get done(): boolean {
    return this.#returned || (this.#ended && this.#items.length === 0);
  }

  /** Whether the consumer stopped early (return()). */
  get returned(): boolean {
    return this.#returned;
  }

  /** Queues an item; false (item not taken) when the consumer is gone or the queue ended. */
  push(item: T): boolean {
    if (this.#returned || this.#ended) return false;
    const waiter = this.#waiters.shift();
    if (waiter !== undefined) {
      this.#hooks.onTake?.(item);
      waiter({ done: false, value: item });
    } else {
      this.#items.push(item);
    }
    return true;
  }

  /** No more items: the consumer gets what is queued, then done. */
  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    if (this.#items.length === 0) this.#finishWaiters();
  }

  next(): Promise<IteratorResult<T, undefined>> {
    if (this.#items.length > 0) {
      const item = this.#items.shift() as T;
      this.#hooks.onTake?.(item);
      return Promise.resolve({ done: false, value: item });
    }
    if (this.#ended || this.#returned) return Promise.resolve({ done: true, value: undefined });
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  return(): Promise<IteratorResult<T, undefined>> {
    if (!this.#returned) {
      this.#returned = true;
      const untaken = this.#items.drain();
      this.#finishWaiters();
      this.#hooks.onReturn?.(untaken);
    }
    return Promise.resolve({ done: true, value: undefined });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  #finishWaiters(): void {
    for (let w = this.#waiters.shift(); w !== undefined; w = this.#waiters.shift()) w({ done: true, value: undefined });
  }
}
