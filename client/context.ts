/** What a Flotilla instance shares with the admin clients, producers and fetches it creates. */
import type { SharedConnection } from "./connection.js";
import type { RetryEnv, RetryOptions } from "./retry.js";

export interface ClientContext {
  readonly cluster: string;
  readonly clientId: string;
  readonly connection: SharedConnection;
  readonly retry: RetryOptions;
  /** Timeout of admin and metadata requests. */
  readonly requestTimeoutMs: number;
  readonly env: RetryEnv;
}
