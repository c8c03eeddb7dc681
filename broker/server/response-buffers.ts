/**
 * Fetch response buffers, reused. A fetch of many MiB allocated one buffer per response, and each
 * allocation counts towards V8's external memory limit: every few responses a full GC ran for
 * memory that was already free (the leader's largest cost when consumers read fast). A buffer
 * goes back to the pool only once the bus has sent it (`MessageBus.flush` resolved after the
 * response: NATS has written it out, the in-process bus copies at once); one whose flush fails is
 * left to the GC, so a response waiting in a reconnecting connection is never overwritten.
 */
export class ResponseBuffers {
  private readonly free: Buffer[] = [];

  constructor(
    /** Every pooled buffer has this size: requests up to it are served from the pool. */
    private readonly size: number,
    /** Buffers kept free at most. */
    private readonly keep: number,
    /** Smaller requests get a buffer of their own, so a tail read of a few KiB never holds a whole pooled one. */
    private readonly min: number,
  ) {}

  /** A lease for one response: `alloc` hands out buffers, `release` returns them once sent. */
  lease(): ResponseLease {
    return new ResponseLease(this);
  }

  /** A pooled buffer (all of it), or undefined when `size` is outside [min, size]. */
  take(size: number): Buffer | undefined {
    return size > this.size || size < this.min ? undefined : (this.free.pop() ?? Buffer.allocUnsafeSlow(this.size));
  }

  give(buf: Buffer): void {
    if (this.free.length < this.keep) this.free.push(buf);
  }
}

export class ResponseLease {
  private readonly taken: Buffer[] = [];

  constructor(private readonly pool: ResponseBuffers) {}

  /** `size` bytes, from the pool when they fit. */
  readonly alloc = (size: number): Buffer => {
    const pooled = this.pool.take(size);
    if (!pooled) return Buffer.allocUnsafe(size);
    this.taken.push(pooled);
    return pooled.subarray(0, size);
  };

  /** Whether any buffer is pooled (else there is nothing to wait for before `release`). */
  get pooled(): boolean {
    return this.taken.length > 0;
  }

  /** Once the response is sent: its buffers go back to the pool. */
  readonly release = (): void => {
    for (const buf of this.taken.splice(0)) this.pool.give(buf);
  };
}
