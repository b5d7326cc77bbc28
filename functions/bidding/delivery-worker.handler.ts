import type { SQSHandler } from "aws-lambda";
import { getDeliveryWorker } from "./delivery-worker.container.js";

/** Delivery queue consumer: one message to one agent per record; a failed notice fails only itself. */
export const handler: SQSHandler = async (event, context) => {
  const worker = await getDeliveryWorker();
  worker.logger.addContext(context);
  return worker.handle(event, context);
};

/** Builds this function's container (no network call): Lambda's init phase, and the cold-start bench. */
export const init = getDeliveryWorker;
