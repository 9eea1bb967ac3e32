// Runs every user-visible emission of one ingest in order, and keeps going
// when a user's handler throws.
//
// The addon's callback hands over a batch of events; each becomes a Job in
// one FIFO. A job that runs user code (an emit) must advance its own state
// before calling it, so that running it again continues after the point
// where the handler threw. When a job throws:
//   1. the error is rethrown from process.nextTick, so it surfaces exactly
//      like an exception in any Node event handler: an 'uncaughtException',
//      and a crash when nothing handles it. It is never thrown back into the
//      addon: Node-API swallows exceptions thrown out of a thread-safe
//      function callback (only DEP0168 is printed) unless node runs with
//      --force-node-api-uncaught-exceptions-policy.
//   2. the rest of the work (the same job first, then the queue) resumes on
//      a later tick. Until then the addon's next batches queue up behind it,
//      so delivery order is preserved whatever the timing.

import { Deque } from './async-queue';

export interface Job {
  run(): void;
}

/** A job that runs `fn` at most once, even if `fn` throws. */
export function once(fn: () => void): Job {
  let done = false;
  return {
    run() {
      if (done) return;
      done = true;
      fn();
    },
  };
}

/** Rethrows `err` outside of the current call stack, as an uncaught exception. */
export function surface(err: unknown): void {
  process.nextTick(() => {
    throw err;
  });
}

export class Dispatcher {
  readonly #queue = new Deque<Job>();
  #current: Job | undefined;
  #running = false;
  #resumePending = false;
  #tickPending = false;

  /** Queues a job after everything already queued. */
  push(job: Job): void {
    this.#queue.push(job);
  }

  /** Queues a job to run before everything already queued (after the job running now). */
  pushNext(job: Job): void {
    this.#queue.unshift(job);
  }

  /** Runs the queue now (from the addon's callback), unless it is already running or waiting to resume after a throw. */
  runNow(): void {
    if (this.#resumePending) return;
    this.#run();
  }

  /** Runs the queue on the next tick (from user calls: no events are emitted synchronously inside them). */
  schedule(): void {
    if (this.#tickPending || this.#resumePending || this.#running) return;
    this.#tickPending = true;
    process.nextTick(() => {
      this.#tickPending = false;
      if (!this.#resumePending) this.#run();
    });
  }

  #run(): void {
    if (this.#running) return;
    this.#running = true;
    try {
      for (;;) {
        const job = this.#current ?? this.#queue.shift();
        if (job === undefined) return;
        this.#current = job;
        try {
          job.run();
        } catch (err) {
          surface(err);
          this.#resumePending = true;
          process.nextTick(() => {
            this.#resumePending = false;
            this.#run();
          });
          return;
        }
        this.#current = undefined;
      }
    } finally {
      this.#running = false;
    }
  }
}
