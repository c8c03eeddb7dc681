/** A broker's requests to the controller leader over the bus (the `controller` subject). */
import { subjects } from "../../protocol/subjects.js";
import type { MessageBus } from "../transport/index.js";
import { decodeControllerReply, encodeControllerMessage, type ControllerRequest } from "./controller-messages.js";
import { natsRequestError } from "./request-errors.js";

export class ControllerClient {
  constructor(
    private readonly bus: MessageBus,
    private readonly cluster: string,
  ) {}

  /** A request to the controller leader; `check` validates the reply's fields (controller-messages.ts `replyChecks`). */
  async call<T>(message: ControllerRequest, check: (o: Record<string, unknown>) => T, timeoutMs = 5000): Promise<T> {
    let reply: Uint8Array;
    try {
      reply = await this.bus.request(subjects.controller(this.cluster), encodeControllerMessage(message), timeoutMs);
    } catch (e) {
      throw natsRequestError(e, `controller ${message.type}`);
    }
    return decodeControllerReply(reply, check);
  }
}
