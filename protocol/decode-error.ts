/** Bytes from the wire or disk that do not decode. Always a clear message, never a crash. */
export class DecodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DecodeError";
  }
}
