import { Logger } from "@aws-lambda-powertools/logger";
import type { LogLevel } from "@aws-lambda-powertools/logger/types";
import { Metrics } from "@aws-lambda-powertools/metrics";
import type { EmfOutput } from "@aws-lambda-powertools/metrics/types";

/** Service name on every log line and the `service` dimension of every metric. */
export const SERVICE_NAME = "agentforge";
/** CloudWatch namespace of every metric this service emits. */
export const METRICS_NAMESPACE = "AgentForge";

export interface ObservabilityOptions {
  /** Defaults to `POWERTOOLS_LOG_LEVEL` (read by Powertools), else INFO. Tests pass "SILENT". */
  logLevel?: LogLevel;
  /**
   * Receives each flushed EMF document instead of stdout. Tests use it to read metrics back without
   * printing them; on Lambda it is left out so CloudWatch picks the documents up from stdout.
   */
  metricsSink?: (emf: EmfOutput) => void;
  /** Log keys on every line, e.g. the function's role. */
  persistentKeys?: Record<string, string>;
}

/** Structured JSON logger and EMF metrics for one Lambda container. */
export interface Observability {
  logger: Logger;
  metrics: Metrics;
}

/** Metrics whose flushed EMF documents go to a function instead of stdout. */
class SinkMetrics extends Metrics {
  readonly #sink: (emf: EmfOutput) => void;

  constructor(sink: (emf: EmfOutput) => void) {
    super({ namespace: METRICS_NAMESPACE, serviceName: SERVICE_NAME });
    this.#sink = sink;
  }

  override publishStoredMetrics(): this {
    try {
      if (this.hasStoredMetrics()) this.#sink(this.serializeMetrics());
    } finally {
      this.clearMetrics();
      this.clearDimensions();
      this.clearMetadata();
    }
    return this;
  }
}

/** Builds the Powertools logger and metrics with the service's name and namespace. */
export function createObservability(options: ObservabilityOptions = {}): Observability {
  const logger = new Logger({
    serviceName: SERVICE_NAME,
    ...(options.logLevel ? { logLevel: options.logLevel } : {}),
    ...(options.persistentKeys ? { persistentKeys: options.persistentKeys } : {}),
  });
  const metrics = options.metricsSink
    ? new SinkMetrics(options.metricsSink)
    : new Metrics({ namespace: METRICS_NAMESPACE, serviceName: SERVICE_NAME });
  return { logger, metrics };
}
