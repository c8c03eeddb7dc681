/**
 * A buffer for an encoder that writes every byte of it: not zero-filled first (a 1 MiB payload
 * would otherwise be written twice) and not taken from Node's shared pool, so it can be
 * transferred to a worker. A plain Uint8Array, not a Buffer, so callers see one type.
 * The caller must write all `size` bytes before handing the buffer out.
 */
export function allocUninitialized(size: number): Uint8Array {
  return new Uint8Array(Buffer.allocUnsafeSlow(size).buffer, 0, size);
}
