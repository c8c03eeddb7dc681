/** Resolves after `ms`: the pause between rounds of the broker's background loops. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
