import type { Logger } from "pino";

/**
 * A warning that may fire thousands of times a second (garbage flooding a subject, a peer gone
 * while Raft keeps sending) is logged at most once per interval, with how many were held back.
 */
export class ThrottledWarning {
  private lastLoggedAt = -Infinity;
  private suppressed = 0;

  constructor(
    private readonly logger: Logger,
    private readonly message: string,
    private readonly intervalMs = 1000,
  ) {}

  warn(details: Record<string, unknown>): void {
    const now = performance.now();
    if (now - this.lastLoggedAt < this.intervalMs) {
      this.suppressed++;
      return;
    }
    this.logger.warn({ ...details, suppressed: this.suppressed }, this.message);
    this.lastLoggedAt = now;
    this.suppressed = 0;
  }
}
