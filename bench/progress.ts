/** One status line on stderr while a benchmark runs, only when stderr is a terminal. */
export class Progress {
  private readonly tty = process.stderr.isTTY === true;
  private shown = false;

  constructor(private readonly workload: string) {}

  update(text: string): void {
    if (!this.tty) return;
    process.stderr.write(`\r\x1b[2K[${this.workload}] ${text}`);
    this.shown = true;
  }

  /** A line worth keeping (printed on stderr whether or not it is a terminal). */
  note(text: string): void {
    this.done();
    process.stderr.write(`[${this.workload}] ${text}\n`);
  }

  done(): void {
    if (this.shown) process.stderr.write("\r\x1b[2K");
    this.shown = false;
  }
}
