/** A broker's requests to the controller leader over NATS (the `controller` subject). */
import type { Msg, NatsConnection } from "nats";
import { subjects } from "../../protocol/subjects.js";
import { decodeControllerReply, encodeControllerMessage, type ControllerRequest } from "./controller-messages.js";
import { natsRequestError } from "./request-errors.js";

export class ControllerClient {
  constructor(
    private readonly nc: NatsConnection,
    private readonly cluster: string,
  ) {}

  /** A request to the controller leader; `check` validates the reply's fields (controller-messages.ts `replyChecks`). */
  async call<T>(message: ControllerRequest, check: (o: Record<string, unknown>) => T, timeoutMs = 5000): Promise<T> {
    let reply: Msg;
    try {
      reply = await this.nc.request(subjects.controller(this.cluster), encodeControllerMessage(message), { timeout: timeoutMs });
    } catch (e) {
      throw natsRequestError(e, `controller ${message.type}`);
    }
    return decodeControllerReply(reply.data, check);
  }
}
